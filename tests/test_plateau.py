"""histlib.plateau: the selected-epoch distribution of a table and the one-fifth rule."""

import pytest

from histlib.plateau import MAX_AT_LAST, selected_epochs, table_report
from histlib.tables import TableError, write_table


def test_runs_at_their_last_allowed_epoch_are_counted_against_each_runs_own_budget():
    rows = [{"selected_epoch": 8, "epochs": 8}, {"selected_epoch": 8, "epochs": 20},  # the second stopped early
            {"selected_epoch": 20, "epochs": 20}, {"selected_epoch": 3, "epochs": 20}, {"selected_epoch": 5, "epochs": 20}]
    selected = selected_epochs(rows)
    assert (selected.at_last, selected.runs, selected.most) == (2, 5, 20)
    assert selected.counts == {8: 2, 20: 1, 3: 1, 5: 1}
    assert selected.share_at_last == pytest.approx(0.4) and not selected.plateaued
    assert selected_epochs(rows[1:2] + rows[3:]).plateaued  # 0 of 3
    assert MAX_AT_LAST == 0.2


def test_one_run_in_five_at_its_last_epoch_is_still_a_plateau_two_are_not():
    plateau = [{"selected_epoch": 20, "epochs": 20}] + [{"selected_epoch": 9, "epochs": 20}] * 4
    assert selected_epochs(plateau).plateaued
    assert not selected_epochs(plateau + [{"selected_epoch": 20, "epochs": 20}]).plateaued


def test_trials_that_did_not_complete_and_rows_without_a_selection_are_left_out():
    rows = [{"state": "PRUNED", "selected_epoch": 2, "epochs_trained": 2},
            {"state": "COMPLETE", "selected_epoch": 8, "epochs_trained": 8},
            {"state": "COMPLETE", "selected_epoch": 4, "epochs_allowed": 20, "epochs_trained": 7},
            {"selected_epoch": "", "epochs": 8}]
    selected = selected_epochs(rows)
    assert (selected.runs, selected.at_last, selected.counts) == (2, 1, {8: 1, 4: 1})


def test_a_selected_epoch_outside_the_budget_is_a_damaged_table():
    with pytest.raises(TableError, match="selected epoch 9 lies outside the 8 allowed epochs"):
        selected_epochs([{"selected_epoch": 9, "epochs": 8}])


def test_the_report_covers_every_table_with_selected_epochs_and_marks_a_fixed_budget(tmp_path):
    write_table(tmp_path / "tau.csv", [{"grid": "tau", "point": "tau=4.0", "seed": s, "selected_epoch": e, "epochs": 8}
                                       for s, e in ((1, 8), (2, 8), (3, 6))])
    write_table(tmp_path / "tau_curves.csv", [{"point": "tau=4.0", "epoch": 1}])
    write_table(tmp_path / "notebook_own.csv", [{"grid": "notebook_own", "point": "recipe", "seed": 1,
                                                "selected_epoch": 10, "epochs": 10}])
    report = {row["table"]: row for row in table_report(tmp_path)}
    assert set(report) == {"tau.csv", "notebook_own.csv"}
    assert report["tau.csv"]["at_last"] == 2 and report["tau.csv"]["plateaued"] is False
    assert report["tau.csv"]["selected_epochs"] == "6:1 8:2"
    assert report["notebook_own.csv"]["plateaued"] == "fixed budget"  # selection="last": nothing is selected


def test_an_early_stopped_run_counts_at_its_last_epoch_when_it_reached_the_cap_still_improving():
    rows = [{"selected_epoch": 23, "epochs": 24, "epochs_run": 24, "patience": 3},  # still within its patience
            {"selected_epoch": 21, "epochs": 24, "epochs_run": 24, "patience": 3},  # patience ran out at the cap
            {"selected_epoch": 12, "epochs": 24, "epochs_run": 15, "patience": 3},  # stopped early
            {"selected_epoch": 8, "epochs": 8, "epochs_run": 8, "patience": None}]  # no early stopping: kept the last
    assert selected_epochs(rows).at_last == 2
    trials = [{"state": "COMPLETE", "selected_epoch": 22, "epochs_allowed": 24, "epochs_trained": 24, "patience": 3}]
    assert selected_epochs(trials).at_last == 1
