"""histlib.membership: the membership condition as a prediction, scored against the observed outcomes."""

import pytest

from histlib.membership import (CANDIDATES, CLAIM_THRESHOLD, LEARNED_BELOW, PREDICTOR_RANGE, committed_first_epochs,
                                fitted_threshold, observe, predict, score)
from histlib.tables import TableError
from histlib.workbook import RESULTS


def test_the_fitted_threshold_is_the_midpoint_of_the_split_with_fewest_errors():
    runs = [(0.2, 0.1), (1.5, 0.3), (3.0, 0.9), (5.0, 0.2), (8.0, 1.0), (12.0, 1.0)]
    # below 1.5|3.0 -> 1 error (5.0 learns); below 5.0|8.0 -> 1 error (3.0 does not): the lower split wins the tie
    assert fitted_threshold(runs) == pytest.approx(2.25)
    assert fitted_threshold([(1.0, 1.0), (2.0, 1.0)]) == pytest.approx(0.5)  # nothing learns: below every run
    with pytest.raises(ValueError):
        fitted_threshold([])


def test_the_committed_first_epochs_hold_runs_that_learn_and_runs_that_do_not():
    pairs = committed_first_epochs(RESULTS)
    assert len(pairs) >= 40
    assert any(r < LEARNED_BELOW for _, r in pairs) and any(r >= LEARNED_BELOW for _, r in pairs)
    assert all(p >= 0 for p, _ in pairs)


def test_predictions_keep_only_settings_in_the_range_and_apply_both_rules():
    screen = [{"alpha": 2.0, "tau": 4.0, "batch_size": 64, "seed": s, "predictor": v} for s, v in ((1, 0.6), (2, 0.8))]
    screen += [{"alpha": 3.0, "tau": 8.0, "batch_size": 64, "seed": s, "predictor": v} for s, v in ((1, 2.0), (2, 4.0))]
    screen += [{"alpha": 1.0, "tau": 32.0, "batch_size": 64, "seed": 1, "predictor": 14.0}]  # outside the range
    rows = predict(screen, threshold_fitted=3.5, count=None)
    assert [(r["alpha"], r["predictor"], r["predicted"], r["predicted_fitted"]) for r in rows] == [
        (2.0, 0.7, "learns", "learns"), (3.0, 3.0, "does not learn", "learns")]
    assert rows[1]["predictor_min"] == 2.0 and rows[1]["observed"] == ""
    outcomes = [{"alpha": 2.0, "tau": 4.0, "batch_size": 64, "train_hgnn_loss_ratio": v} for v in (0.2, 0.3, 0.9)]
    outcomes += [{"alpha": 3.0, "tau": 8.0, "batch_size": 64, "train_hgnn_loss_ratio": v} for v in (0.95, 0.4, 0.6)]
    observed = observe(rows, outcomes)
    assert [(r["observed"], r["observed_ratio"]) for r in observed] == [("learns", 0.3), ("does not learn", 0.6)]
    assert score(observed) == (2, 2) and score(observed, "predicted_fitted") == (1, 2)
    with pytest.raises(TableError, match="no full run of alpha=2.0 tau=4.0 batch_size=64"):
        observe(rows, outcomes[3:])


def test_the_tested_settings_are_evenly_spaced_ranks_of_the_predictor_ends_included():
    screen = [{"alpha": float(a), "tau": 4.0, "batch_size": 64, "seed": 1, "predictor": 0.5 + 0.2 * a}
              for a in range(19)]  # predictors 0.5 ... 4.1, all in range
    rows = predict(screen, threshold_fitted=2.0, count=12)
    assert len(rows) == 12 and rows[0]["alpha"] == 0.0 and rows[-1]["alpha"] == 18.0
    assert [r["predictor"] for r in rows] == sorted(r["predictor"] for r in rows)
    assert all(r["screened_in_range"] == 19 for r in rows)
    assert len(predict(screen, threshold_fitted=2.0, count=30)) == 19


def test_the_candidates_were_never_run_in_an_earlier_table():
    from histlib.tables import read_table

    for name in ("alpha_tau", "alpha", "tau", "batch", "controls"):
        for row in read_table(RESULTS / f"{name}.csv"):
            setting = {k: row.get(k, d) for k, d in (("alpha", 1.1), ("tau", 32.0), ("batch_size", 64))}
            assert setting not in CANDIDATES, (name, setting)
    assert PREDICTOR_RANGE == (0.4, 4.6) and CLAIM_THRESHOLD == 1.0


def test_the_outcome_grid_trains_exactly_the_predicted_settings_and_needs_the_predictions_first(tmp_path):
    from histlib.tables import write_table
    from histlib.training import get_config
    from histlib.training.grids import GRIDS, PLATEAU_BUDGET

    grid = GRIDS["membership_outcomes"]
    with pytest.raises(FileNotFoundError, match="membership_predictions.csv is missing"):
        grid.points_for(tmp_path)
    write_table(tmp_path / "membership_predictions.csv", [
        {"alpha": 2.5, "tau": 8.0, "batch_size": 64, "predictor": 1.2, "predicted": "does not learn"},
        {"alpha": 3.0, "tau": 16.0, "batch_size": 32, "predictor": 0.5, "predicted": "learns"}])
    assert grid.points_for(tmp_path) == ({"alpha": 2.5, "tau": 8.0, "batch_size": 64},
                                         {"alpha": 3.0, "tau": 16.0, "batch_size": 32})
    assert list(grid.named_points(tmp_path)) == ["alpha=2.5 tau=8.0 batch_size=64", "alpha=3.0 tau=16.0 batch_size=32"]
    assert grid.fixed == PLATEAU_BUDGET and get_config(grid.base, **grid.fixed).patience == 3


def test_a_full_runs_first_epoch_is_checked_against_the_screened_one():
    from histlib.membership import first_epoch_agreement

    screen = [{"alpha": 2.0, "tau": 4.0, "batch_size": 64, "seed": s, "predictor": v} for s, v in ((1, 0.8), (2, 1.2))]
    outcomes = [{"alpha": 2.0, "tau": 4.0, "batch_size": 64, "seed": s, "fingerprint": f} for s, f in ((1, "a"), (2, "b"))]
    curves = [{"fingerprint": "a", "epoch": 1, "train_other_membership": 0.8},
              {"fingerprint": "a", "epoch": 2, "train_other_membership": 0.1},
              {"fingerprint": "b", "epoch": 1, "train_other_membership": 1.5}]
    assert first_epoch_agreement(screen, outcomes, curves) == [
        "alpha=2.0 tau=4.0 batch_size=64 seed 2: epoch 1 of the full run gives 1.5000, the screen 1.2000"]
    assert first_epoch_agreement(screen, outcomes, curves[:2]) == []
