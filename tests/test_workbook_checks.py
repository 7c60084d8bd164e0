"""histlib.workbook.checks: the live-run check holds for every committed seed of every training
notebook's run (each judged against the band of the other seeds), fails with what it measured, and
under scripts/main.sh records a failure instead of stopping the notebook."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import nbformat
import numpy as np
import pytest

from histlib.training import get_config
from histlib.workbook import RESULTS
from histlib.workbook.checks import (CHECK_LOG, LIVE_RUN_CHECKS, OWN_LIVE_RUN_CHECK, CheckFailed, LiveRunCheck,
                                     RunSummary, SeedRuns, check_live_run, fail, require, seed_count)

REPO = Path(__file__).resolve().parents[1]
STAND_INS = sorted(LIVE_RUN_CHECKS)


@pytest.fixture(autouse=True)
def no_check_log(monkeypatch):
    monkeypatch.delenv(CHECK_LOG, raising=False)


@pytest.mark.parametrize("stand_in", STAND_INS)
def test_every_notebook_run_is_committed_for_five_seeds_with_full_curves(stand_in):
    seeds = SeedRuns.read(f"notebook_{stand_in}")
    config = get_config(stand_in)
    assert seeds.seeds == [1, 2, 3, 4, 5]
    assert all(row["epochs"] == config.epochs for row in seeds.rows)
    for seed in seeds.seeds:
        run = seeds.run(seed)
        assert [row["epoch"] for row in run.history] == list(range(1, config.epochs + 1))
        assert {"val_map@r", "val_recall@1", "test_map@r", "test_recall@1"} <= set(run.initial)
        # the table's selected model is the curve's selected epoch (one run, two tables)
        assert run.history[run.selected_epoch]["test_map@r"] == pytest.approx(run.test_metrics["map@r"])
    assert all(machine and machine != "unknown" for machine in seeds.machines)


@pytest.mark.parametrize("stand_in", STAND_INS)
def test_each_committed_seed_passes_the_live_run_check_against_the_other_seeds(stand_in):
    """Leave one seed out: the band of the other four, widened by the stated margin, must hold it, and it
    must beat its untrained network by the stated factor. A check that only one seed passes fails here."""
    seeds, config = SeedRuns.read(f"notebook_{stand_in}"), get_config(stand_in)
    for seed in seeds.seeds:
        verdict = check_live_run(seeds.run(seed), seeds.without(seed), LIVE_RUN_CHECKS[stand_in], config.epochs,
                                 config.selection_metric)
        assert verdict.startswith("OK: the run finished"), (seed, verdict)


def test_notebook_8s_fixed_budget_runs_are_committed_for_ten_seeds_and_each_passes_its_live_run_check():
    """The own-data example keeps its last epoch (no validation split): 10 seeds with test curves from the
    untrained network on, each inside the band of the other nine and 1.1x its untrained network's MAP@R."""
    from histlib.training.grids import GRIDS, OWN_EXAMPLE

    seeds = SeedRuns.read("notebook_own")
    assert seeds.seeds == list(range(1, 11)) == list(GRIDS["notebook_own"].seeds)
    for seed in seeds.seeds:
        run = seeds.run(seed)
        assert run.selected_epoch == OWN_EXAMPLE["epochs"] - 1 and len(run.history) == OWN_EXAMPLE["epochs"]
        assert "val_map@r" not in {k for row in run.history for k, v in row.items() if v is not None}
        verdict = check_live_run(run, seeds.without(seed), OWN_LIVE_RUN_CHECK, OWN_EXAMPLE["epochs"], None)
        assert verdict.startswith("OK: the run finished and kept its last epoch"), (seed, verdict)
    assert set(seeds.bands()) == {"test_recall@1", "test_map@r"}  # no validation curves to shade
    held_out = SeedRuns.read("own_validation")  # its paired comparison: the same seeds
    assert held_out.seeds == seeds.seeds and all(held_out.run(s).history[0]["val_map@r"] is not None for s in seeds.seeds)


def test_a_fixed_budget_run_that_does_not_keep_its_last_epoch_fails():
    seeds = SeedRuns.read("notebook_own")
    run = seeds.run(1)
    with pytest.raises(CheckFailed, match="kept epoch is 9, not the last \\(10\\) of a fixed budget"):
        check_live_run(replace(run, selected_epoch=8), seeds, OWN_LIVE_RUN_CHECK, 10, None)
    assert "keep its last epoch (a fixed budget)" in OWN_LIVE_RUN_CHECK.describe(seeds)


@pytest.fixture
def glyphs():
    return SeedRuns.read("notebook_glyphs"), get_config("glyphs")


def test_a_run_outside_the_band_fails_with_its_value_the_band_and_what_it_means(glyphs):
    seeds, config = glyphs
    run = seeds.run(1)
    low, high, _ = LIVE_RUN_CHECKS["glyphs"].band(seeds, "map@r")
    moved = replace(run, test_metrics={**run.test_metrics, "map@r": high + 0.02})
    with pytest.raises(CheckFailed) as failed:
        check_live_run(moved, seeds, LIVE_RUN_CHECKS["glyphs"], config.epochs, config.selection_metric)
    message = str(failed.value)
    assert f"MAP@R = {100 * (high + 0.02):.1f} lies outside [{100 * low:.1f}, {100 * high:.1f}]" in message
    assert "99 % prediction interval of one more seed from the 5 committed seeds" in message
    assert "numbers are still valid" in message and "revise" not in message


def test_an_unfinished_run_a_wrong_selection_and_no_learning_each_fail(glyphs):
    seeds, config = glyphs
    run, check = seeds.run(2), LIVE_RUN_CHECKS["glyphs"]
    with pytest.raises(CheckFailed, match="3 epochs, not the recipe's 4: it did not finish"):
        check_live_run(replace(run, history=run.history[:3]), seeds, check, config.epochs, config.selection_metric)
    worst = min(range(len(run.history)), key=lambda i: run.history[i]["val_map@r"])
    with pytest.raises(CheckFailed, match="does not have the best validation MAP@R"):
        check_live_run(replace(run, selected_epoch=worst), seeds, check, config.epochs, config.selection_metric)
    untrained = run.test_metrics["map@r"] / 2  # the run only doubles an untrained network: below the stated 5x
    with pytest.raises(CheckFailed, match=r"less than 5x the untrained network's .* did not learn"):
        check_live_run(replace(run, initial={**run.initial, "test_map@r": untrained}), seeds, check, config.epochs,
                       config.selection_metric)


def test_the_band_is_the_prediction_interval_of_one_more_seed(glyphs):
    """mean +/- t(0.995, n - 1) * s * sqrt(1 + 1/n), against scipy's own t interval of a new observation."""
    from scipy import stats

    seeds, _ = glyphs
    values = seeds.values("map@r")
    n, s = len(values), values.std(ddof=1)
    low, high, half = LiveRunCheck(level=0.99, min_margin=0.0).band(seeds, "map@r")
    expected = stats.t.interval(0.99, n - 1, loc=values.mean(), scale=s * np.sqrt(1 + 1 / n))
    assert (low, high) == pytest.approx(expected) and half == pytest.approx((high - low) / 2)
    assert (high - low) / 2 == pytest.approx(4.604 * s * np.sqrt(1.2), rel=1e-3)  # t(0.995, 4), by hand
    assert LiveRunCheck(level=0.99, min_margin=0.5).band(seeds, "map@r")[2] == 0.5  # the floor either side
    assert LiveRunCheck(level=0.99, min_margin=0.9).band(seeds, "map@r")[:2] == (0.0, 1.0)  # clipped to [0, 1]
    text = LIVE_RUN_CHECKS["glyphs"].describe(seeds)
    low, high, _ = LIVE_RUN_CHECKS["glyphs"].band(seeds, "map@r")
    assert f"MAP@R in [{100 * low:.1f}, {100 * high:.1f}]" in text and "99 % prediction interval" in text


def test_curve_bands_span_the_seeds_at_every_epoch(glyphs):
    seeds, config = glyphs
    low, high = seeds.curve_band("val_map@r")
    curves = [seeds.run(s).curve("val_map@r") for s in seeds.seeds]
    assert low.shape == (config.epochs + 1,)
    assert all((low <= c).all() and (c <= high).all() for c in curves)
    assert any((c == low).all() for c in curves) or (low < high).any()
    hits, n = seeds.claims({"rises": lambda run: run.curve("val_map@r")[-1] > run.curve("val_map@r")[0]})["rises"]
    assert (hits, n) == (5, 5) and seed_count(hits, n) == "in 5 of 5 seeds"


def test_a_missing_seed_table_names_the_command_that_makes_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m histlib.sweep notebook_glyphs"):
        SeedRuns.read("notebook_glyphs", tmp_path)


def test_a_table_without_full_curves_is_refused(tmp_path):
    for name in ("notebook_glyphs.csv", "notebook_glyphs_curves.csv"):
        (tmp_path / name).write_text((RESULTS / name).read_text())
    curves = (tmp_path / "notebook_glyphs_curves.csv").read_text().splitlines()
    header = curves[0].split(",")
    epoch = header.index("epoch")
    kept = [curves[0]] + [line for line in curves[1:] if line.split(",")[epoch] != "0"]
    (tmp_path / "notebook_glyphs_curves.csv").write_text("\n".join(kept) + "\n")
    with pytest.raises(ValueError, match="no full curve .* seed 1"):
        SeedRuns.read("notebook_glyphs", tmp_path)


def test_fail_raises_or_records_and_returns_a_printable_line(tmp_path, monkeypatch, capsys):
    with pytest.raises(CheckFailed, match="x = 3 outside"):
        fail("x = 3 outside [0, 1]")
    assert require(True, "OK: fine", "never") == "OK: fine"
    log = tmp_path / "checks.jsonl"
    monkeypatch.setenv(CHECK_LOG, str(log))
    assert fail("x = 3 outside [0, 1]") == "CHECK FAILED: x = 3 outside [0, 1]"
    assert require(False, "OK", "y = 2 outside [0, 1]").startswith("CHECK FAILED")
    assert [json.loads(line)["message"] for line in log.read_text().splitlines()] == [
        "x = 3 outside [0, 1]", "y = 2 outside [0, 1]"]
    assert "CHECK FAILED: x = 3" in capsys.readouterr().out


def test_a_live_run_summary_reads_a_fit_result(glyphs):
    seeds, _ = glyphs
    run = seeds.run(3)

    class Result:  # the attributes of a FitResult the summary reads
        history, selected_epoch, test_metrics = run.history, run.selected_epoch, run.test_metrics

    summary = RunSummary.from_result(Result, run.initial)
    assert summary == run and summary.curve("test_map@r").shape == (len(run.history) + 1,)
    assert summary.curve("test_map@r", untrained=False).shape == (len(run.history),)


@pytest.mark.slow
def test_main_goes_on_after_a_failed_check_and_lists_it_at_the_end(tmp_path):
    """run_notebooks.py (scripts/main.sh): a failed check is printed, the notebook runs to its end, the
    next notebook runs, and the exit status is 1 with the failures listed."""
    first, second = tmp_path / "01_first.ipynb", tmp_path / "02_second.ipynb"
    cells = [nbformat.v4.new_code_cell("from histlib.workbook.checks import fail\n"
                                       "print(fail('test MAP@R = 3.1 lies outside [3.3, 4.9]'))"),
             nbformat.v4.new_code_cell("open('first_ran_to_the_end.txt', 'w').write('yes')")]
    python = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
              "language_info": {"name": "python"}}  # what papermill reads to pick the kernel's language
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata=python), first)
    nbformat.write(nbformat.v4.new_notebook(metadata=python, cells=[nbformat.v4.new_code_cell(
        "open('second_ran.txt', 'w').write('yes')\nraise ValueError('a broken cell')")]), second)
    env = {k: v for k, v in os.environ.items() if k != CHECK_LOG}
    completed = subprocess.run([sys.executable, str(REPO / "scripts" / "run_notebooks.py"), "--out",
                                str(tmp_path / "out"), str(first), str(second)], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert (tmp_path / "first_ran_to_the_end.txt").is_file() and (tmp_path / "second_ran.txt").is_file()
    assert "01_first.ipynb: check failed: test MAP@R = 3.1 lies outside [3.3, 4.9]" in completed.stderr
    # the cell's number in the executed copy, which holds papermill's injected parameters cell first
    assert "02_second.ipynb stopped in cell 2: ValueError: a broken cell" in completed.stderr
    assert "1 check(s) FAILED" in completed.stdout and "STOPPED" in completed.stdout
    assert "CHECK FAILED: test MAP@R = 3.1" in (tmp_path / "out" / "01_first.ipynb").read_text()


def test_an_early_stopped_run_passes_only_when_it_stopped_where_its_patience_says(glyphs):
    """Scores [a, b, c, d] with the best at epoch 2: patience 2 stops after epoch 4 (the run is whole);
    patience 1 would have stopped after epoch 3, so 4 epochs is a broken stop; patience 3 would go on."""
    seeds, config = glyphs
    run = seeds.run(1)
    scores = [0.30, 0.40, 0.35, 0.38]
    history = [{**row, "val_map@r": s} for row, s in zip(run.history, scores)]
    stopped = replace(run, history=history, selected_epoch=1,
                      test_metrics={**run.test_metrics, **{k[5:]: v for k, v in history[1].items()
                                                           if k.startswith("test_")}})
    check = replace(LIVE_RUN_CHECKS["glyphs"], metrics=(), gain=0.0)  # the stopping rule alone
    verdict = check_live_run(stopped, seeds, check, 10, "map@r", patience=2)
    assert "kept its best validation epoch (it stopped after epoch 4 of at most 10)" in verdict
    for patience in (1, 3):
        with pytest.raises(CheckFailed, match="4 epochs, not the recipe's 10 nor an early stop after "
                                              f"{patience} epochs without a better validation score"):
            check_live_run(stopped, seeds, check, 10, "map@r", patience=patience)
