"""The sweep runner: a tiny real grid end to end, then skipping, resuming, sharing and deriving."""

import math
from pathlib import Path

import pytest

from histlib import sweep
from histlib.training import FitResult, RunInUseError
from histlib.training.grids import GRIDS, Grid


@pytest.mark.slow
def test_the_ci_grid_runs_end_to_end_and_a_second_call_trains_nothing(tmp_path, monkeypatch, capsys):
    results, runs = tmp_path / "results", tmp_path / "runs"
    assert sweep.main(["ci", "--results", str(results), "--runs", str(runs)]) == 0
    rows = sweep.read_table(results / "ci.csv")
    assert [(r["point"], r["lambda_s"], r["seed"]) for r in rows] == [
        ("lambda_s=0.0", 0.0, 1), ("lambda_s=0.0", 0.0, 2), ("lambda_s=1.0", 1.0, 1), ("lambda_s=1.0", 1.0, 2)]
    for row in rows:
        assert 0.0 < row["test_map@r"] < 1.0 and 0.0 < row["val_map@r"] < 1.0 and row["selected_epoch"] == 1
        assert row["epochs"] == 1 and row["seconds"] > 0 and row["commit"] and "cores" in row["machine"]
        # HIST's two terms and the HGNN's statistics in the selected epoch
        assert 3.5 < row["train_hgnn_loss"] < 5 and row["train_hgnn_loss_ratio"] == pytest.approx(
            row["train_hgnn_loss"] / math.log(63))
        assert all(row[c] is not None for c in sweep.TRAIN_COLUMNS)
    assert len({r["fingerprint"] for r in rows}) == 4
    curves = sweep.read_table(results / "ci_curves.csv")
    assert [c["epoch"] for c in curves] == [1, 1, 1, 1]
    assert all(c[column] is not None for c in curves for column in sweep.TRAIN_COLUMNS)
    assert "4 runs, 0 already" in capsys.readouterr().out

    monkeypatch.setattr(sweep, "load_or_train", lambda *a, **k: pytest.fail("retrained a finished run"))
    assert sweep.main(["ci", "--results", str(results), "--runs", str(runs)]) == 0
    assert "4 already in" in capsys.readouterr().out and sweep.read_table(results / "ci.csv") == rows


def fake_result(config, score=None) -> FitResult:
    """A finished run's result without training: MAP@R from the config (deterministic)."""
    value = score if score is not None else 0.1 + 0.1 * config.seed + (config.lambda_s or 0) / 100
    history = [{"epoch": 1, "train_loss": 1.0, "val_map@r": value,
                **({column: 0.5 for column in sweep.TRAIN_COLUMNS} if config.loss == "hist" else {})}]
    return FitResult(history=history, selected_epoch=0, test_metrics={"map@r": value, "recall@1": value},
                     seconds=1.0, config=config)


def test_an_interrupted_sweep_continues_where_it_stopped(tmp_path):
    grid = GRIDS["ci"]
    calls = []

    def train(config):
        calls.append(config.seed)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return fake_result(config)

    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(grid, tmp_path, tmp_path / "runs", train=train, report=lambda _: None)
    assert len(sweep.read_table(tmp_path / "ci.csv")) == 2  # written after each run
    calls.clear()
    sweep.run_sweep(grid, tmp_path, tmp_path / "runs", train=lambda c: (calls.append(c.seed), fake_result(c))[1],
                    report=lambda _: None)
    assert calls == [1, 2] and len(sweep.read_table(tmp_path / "ci.csv")) == 4


def test_a_run_shared_by_two_grids_is_trained_once(tmp_path):
    first = Grid("first", "q", "glyphs", ({"lambda_s": 1.0},), seeds=(1,), fixed={"epochs": 1})
    second = Grid("second", "q", "glyphs", ({"alpha": 1.1},), seeds=(1,), fixed={"epochs": 1})  # the recipe's alpha
    calls = []
    train = lambda c: (calls.append(c), fake_result(c))[1]  # noqa: E731
    sweep.run_sweep(first, tmp_path, tmp_path / "runs", train=train, report=lambda _: None)
    sweep.run_sweep(second, tmp_path, tmp_path / "runs", train=train, report=lambda _: None)
    assert len(calls) == 1
    a, b = sweep.read_table(tmp_path / "first.csv")[0], sweep.read_table(tmp_path / "second.csv")[0]
    assert a["fingerprint"] == b["fingerprint"] and a["test_map@r"] == b["test_map@r"] and b["alpha"] == 1.1


def test_a_run_another_process_trains_is_retried_after_the_others(tmp_path):
    grid = GRIDS["ci"]
    order, busy = [], {"first": True}

    def train(config):
        if busy.pop("first", False):
            raise RunInUseError("in use")
        order.append((config.lambda_s, config.seed))
        return fake_result(config)

    sweep.run_sweep(grid, tmp_path, tmp_path / "runs", train=train, report=lambda _: None)
    assert order == [(0.0, 2), (1.0, 1), (1.0, 2), (0.0, 1)]
    assert [r["seed"] for r in sweep.read_table(tmp_path / "ci.csv")] == [1, 2, 1, 2]  # the grid's order


def test_unknown_grids_are_refused_with_the_valid_names(capsys):
    with pytest.raises(SystemExit):
        sweep.main(["lamda_s"])
    assert "unknown grid(s) ['lamda_s']; choose from lambda_s" in capsys.readouterr().err


def test_rows_another_sweep_process_writes_meanwhile_are_kept(tmp_path):
    grid = GRIDS["ci"]
    table = tmp_path / "ci.csv"

    def train(config):  # while this process trains, "another process" finishes a run of the grid
        if config.seed == 1 and config.lambda_s == 0.0:
            other = sweep.plan(grid, tmp_path, tmp_path / "runs")[-1]
            sweep.write_table(table, [sweep._row(other, sweep._result_columns(other, fake_result(other.config), "c"))])
        return fake_result(config)

    sweep.run_sweep(grid, tmp_path, tmp_path / "runs", seeds=(1,), train=train, report=lambda _: None)
    rows = sweep.read_table(table)
    assert [(r["point"], r["seed"]) for r in rows] == [("lambda_s=0.0", 1), ("lambda_s=1.0", 1), ("lambda_s=1.0", 2)]


def test_a_hist_row_without_the_training_statistics_is_trained_again(tmp_path):
    old = Grid("old", "q", "glyphs", ({"lambda_s": 1.0},), seeds=(1,), fixed={"epochs": 1})
    new = Grid("new", "q", "glyphs", ({"alpha": 1.1},), seeds=(1,), fixed={"epochs": 1})  # the same run
    sweep.run_sweep(old, tmp_path, tmp_path / "runs", train=fake_result, report=lambda _: None)
    rows = sweep.read_table(tmp_path / "old.csv")
    for row in rows:  # as tables were written before the statistics were logged
        for column in sweep.TRAIN_COLUMNS:
            del row[column]
    sweep.write_table(tmp_path / "old.csv", rows)
    calls = []
    sweep.run_sweep(new, tmp_path, tmp_path / "runs", train=lambda c: (calls.append(c), fake_result(c))[1],
                    report=lambda _: None)
    assert len(calls) == 1 and sweep.read_table(tmp_path / "new.csv")[0]["train_hgnn_loss_ratio"] == 0.5


def test_a_row_taken_from_another_table_keeps_this_grids_settings(tmp_path):
    """Another table's columns may hold None for a setting this grid varies (its points did not set
    it): the reused row must keep this grid's value."""
    first = Grid("first", "q", "glyphs", ({"loss": "hist"}, {"lambda_s": 0.0}), seeds=(1,), fixed={"epochs": 1})
    second = Grid("second", "q", "glyphs", ({"lambda_s": 1.0},), seeds=(1,), fixed={"epochs": 1})  # = loss=hist
    sweep.run_sweep(first, tmp_path, tmp_path / "runs", train=fake_result, report=lambda _: None)
    sweep.run_sweep(second, tmp_path, tmp_path / "runs", train=lambda c: pytest.fail("retrained"), report=lambda _: None)
    (row,) = sweep.read_table(tmp_path / "second.csv")
    assert row["lambda_s"] == 1.0 and row["point"] == "lambda_s=1.0" and "loss" not in row


def test_rows_of_points_no_longer_in_the_grid_are_dropped_and_other_seeds_kept(tmp_path):
    grid = GRIDS["ci"]
    sweep.run_sweep(grid, tmp_path, tmp_path / "runs", train=fake_result, report=lambda _: None)
    narrower = Grid("ci", grid.question, grid.base, grid.points[1:], seeds=grid.seeds, fixed=grid.fixed)
    messages = []
    sweep.run_sweep(narrower, tmp_path, tmp_path / "runs", seeds=(1,), train=fake_result, report=messages.append)
    rows = sweep.read_table(tmp_path / "ci.csv")
    assert [(r["point"], r["seed"]) for r in rows] == [("lambda_s=1.0", 1), ("lambda_s=1.0", 2)]  # seed 2 kept
    assert {r["point"] for r in sweep.read_table(tmp_path / "ci_curves.csv")} == {"lambda_s=1.0"}
    assert "dropping 2 row(s) of points no longer in the grid: ['lambda_s=0.0']" in messages[0]


def test_a_results_table_of_random_bytes_is_a_clear_error(tmp_path):
    table = tmp_path / "ci.csv"
    table.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(sweep.TableError, match=f"{table} is not a readable results table"):
        sweep.read_table(table)
    table.write_text("a,b\n1,2,3\n")
    with pytest.raises(sweep.TableError, match="not a well-formed results table"):
        sweep.read_table(table)


@pytest.mark.parametrize("argv, message", [
    (["ci", "--seeds", "1", "1"], "--seeds lists [1] more than once"),
    (["ci", "--seeds", "-1"], "--seeds must be integers in [0, "),
    (["ci", "--results", "FILE"], "--results FILE: is a file, or lies under one; it must be a folder"),
    (["ci", "--results", "FILE/below"], "lies under a file"),
    (["all", "ci"], "'all' runs every analysis grid: give it alone"),
])
def test_sweep_arguments_that_would_corrupt_a_table_are_refused_before_any_run(tmp_path, monkeypatch, capsys,
                                                                             argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("not a folder")
    monkeypatch.setattr(sweep, "load_or_train", lambda *a, **k: pytest.fail("trained a run"))
    with pytest.raises(SystemExit):
        sweep.main(argv)
    assert message in capsys.readouterr().err


def test_a_head_to_head_before_its_tuning_study_is_one_clear_line(tmp_path, capsys):
    assert sweep.main(["head_to_head", "--results", str(tmp_path), "--runs", str(tmp_path / "runs")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("python -m histlib.sweep head_to_head: ") and "Traceback" not in err
    assert "run `python -m histlib.tuning tuning` first" in err


def test_a_table_keeps_one_row_per_point_and_seed_when_a_run_is_trained_again(tmp_path):
    grid = GRIDS["ci"]
    sweep.run_sweep(grid, tmp_path, tmp_path / "runs", train=fake_result, report=lambda _: None)
    table = tmp_path / "ci.csv"
    rows = sweep.read_table(table)
    rows[0]["fingerprint"] = "0123456789abcdef"  # the same point and seed, run elsewhere (another identity)
    sweep.write_table(table, rows)
    sweep.run_sweep(grid, tmp_path, tmp_path / "runs", train=fake_result, report=lambda _: None)
    rows = sweep.read_table(table)
    assert [(r["point"], r["seed"]) for r in rows] == [
        ("lambda_s=0.0", 1), ("lambda_s=0.0", 2), ("lambda_s=1.0", 1), ("lambda_s=1.0", 2)]  # n did not grow
    assert "0123456789abcdef" not in {r["fingerprint"] for r in rows}


def test_tuning_tables_beside_the_sweep_tables_are_not_mistaken_for_runs(tmp_path):
    (tmp_path / "tuning.csv").write_text("study,loss,trial,state,value,fingerprint\ntuning,hist,0,COMPLETE,0.5,abc\n")
    (tmp_path / "tuning_curves.csv").write_text("study,loss,trial,epoch,val_map@r\ntuning,hist,0,1,0.5\n")
    sweep.run_sweep(GRIDS["ci"], tmp_path, tmp_path / "runs", train=fake_result, report=lambda _: None)
    assert len(sweep.read_table(tmp_path / "ci.csv")) == 4


def test_a_run_shared_by_many_grids_has_one_curve_row_per_epoch_in_each(tmp_path):
    """Curves copied from the tables that already hold a run are copied once per epoch (they used
    to be copied from every such table, so that a shared run's rows multiplied grid after grid)."""
    ci = GRIDS["ci"]
    for name in ("ci", "ci_b", "ci_c", "ci_d"):
        grid = Grid(name, ci.question, ci.base, ci.points[:1], seeds=(1,), fixed=ci.fixed)
        sweep.run_sweep(grid, tmp_path, tmp_path / "runs", train=fake_result, report=lambda _: None)
        curves = sweep.read_table(tmp_path / f"{name}_curves.csv")
        assert len(curves) == len({(c["fingerprint"], c["epoch"]) for c in curves}) == 1, name


@pytest.mark.slow
def test_a_sweep_from_another_working_directory_finds_the_same_runs_and_data(tmp_path):
    """The issue's probe: the same grid run from the project and from elsewhere (relative --results
    and --runs) trains each run once, writes one row per (point, seed), and renders no second data cache."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    command = [sys.executable, "-m", "histlib.sweep", "ci", "--results", str(tmp_path / "results"),
               "--runs", str(tmp_path / "runs")]
    first = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    relative = [sys.executable, "-m", "histlib.sweep", "ci", "--results", "../results", "--runs", "../runs"]
    second = subprocess.run(relative, cwd=elsewhere, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    assert "4 already in" in second.stdout and "0 to run" in second.stdout
    rows = sweep.read_table(tmp_path / "results" / "ci.csv")
    assert sorted((r["point"], r["seed"]) for r in rows) == [("lambda_s=0.0", 1), ("lambda_s=0.0", 2),
                                                            ("lambda_s=1.0", 1), ("lambda_s=1.0", 2)]
    assert not (elsewhere / "data").exists()  # the project's data, not a new cache under the working directory


def test_duplicate_rows_in_a_table_are_dropped_before_they_are_counted(tmp_path):
    sweep.run_sweep(GRIDS["ci"], tmp_path, tmp_path / "runs", train=fake_result, report=lambda _: None)
    table = tmp_path / "ci.csv"
    rows = sweep.read_table(table)
    sweep.write_table(table, rows + rows[:1])  # a copied row: n of its point would read 3
    messages = []
    sweep.run_sweep(GRIDS["ci"], tmp_path, tmp_path / "runs", train=fake_result, report=messages.append)
    assert len(sweep.read_table(table)) == 4 and "1 duplicate row(s)" in messages[0]


def test_a_table_without_the_sweep_columns_or_with_a_repeated_column_is_a_clear_error(tmp_path):
    (tmp_path / "ci.csv").write_text("grid,seed\nci,1\n")
    with pytest.raises(sweep.TableError, match=r"has no column \['point', 'fingerprint'\]"):
        sweep.run_sweep(GRIDS["ci"], tmp_path, tmp_path / "runs", train=fake_result, report=lambda _: None)
    (tmp_path / "ci.csv").write_text("grid,point,point\nci,a,b\n")
    with pytest.raises(sweep.TableError, match=r"names the column\(s\) \['point'\] more than once"):
        sweep.read_table(tmp_path / "ci.csv")
    (tmp_path / "bom.csv").write_bytes("\ufeffgrid,point\nci,a\n".encode("utf-8"))
    assert list(sweep.read_table(tmp_path / "bom.csv")[0]) == ["grid", "point"]  # a spreadsheet's BOM is no column


def test_an_incomplete_row_in_another_table_is_trained_again_not_copied(tmp_path):
    sweep.run_sweep(GRIDS["ci"], tmp_path, tmp_path / "runs", train=fake_result, report=lambda _: None)
    other = [{**row, "grid": "other", "val_map@r": None} for row in sweep.read_table(tmp_path / "ci.csv")]
    (tmp_path / "ci.csv").unlink()
    sweep.write_table(tmp_path / "other.csv", other)
    trained = []
    sweep.run_sweep(GRIDS["ci"], tmp_path, tmp_path / "runs", report=lambda _: None,
                    train=lambda config: trained.append(config) or fake_result(config))
    assert len(trained) == 4 and all(r["val_map@r"] is not None for r in sweep.read_table(tmp_path / "ci.csv"))


def test_repeated_seed_flags_add_up(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(sweep, "run_sweep", lambda grid, results, runs, seeds, data_root=None: seen.append(seeds))
    sweep.main(["ci", "--seeds", "1", "--seeds", "2", "--results", str(tmp_path), "--runs", str(tmp_path / "r")])
    assert seen == [[1, 2]]


@pytest.mark.slow
def test_a_full_curves_grid_records_every_metric_per_epoch_and_the_untrained_network_as_epoch_0(tmp_path):
    """The notebooks' seed tables: each epoch's validation and test metrics, epoch 0 the run's own
    untrained network (the network fit starts from, so that a live run and a committed seed compare)."""
    from histlib.training import build_run_data
    from histlib.workbook import untrained_metrics

    grid = Grid("seeds", "q", "glyphs", ({},), seeds=(2,), full_curves=True,
                fixed={"epochs": 2, "max_steps_per_epoch": 2})
    sweep.run_sweep(grid, tmp_path, tmp_path / "runs", report=lambda _: None)
    (row,) = sweep.read_table(tmp_path / "seeds.csv")
    curves = sweep.read_table(tmp_path / "seeds_curves.csv")
    assert [c["epoch"] for c in curves] == [0, 1, 2] and row["point"] == "recipe"
    (run,) = sweep.plan(grid, tmp_path, tmp_path / "runs")
    initial = untrained_metrics(run.config, build_run_data(run.config))
    assert curves[0]["test_map@r"] == pytest.approx(initial["test_map@r"]) and curves[0]["train_loss"] is None
    for epoch in curves[1:]:
        assert {"val_recall@1", "val_map@r", "test_recall@1", "test_map@r", "lr"} <= {k for k, v in epoch.items() if v is not None}
    assert curves[row["selected_epoch"]]["test_map@r"] == pytest.approx(row["test_map@r"])


def test_a_row_with_a_nan_or_text_score_is_not_a_finished_run_and_is_trained_again(tmp_path):
    sweep.run_sweep(GRIDS["ci"], tmp_path, tmp_path / "runs", train=fake_result, report=lambda _: None)
    table = tmp_path / "ci.csv"
    rows = sweep.read_table(table)
    rows[0]["val_map@r"], rows[3]["test_map@r"] = math.nan, "oops"
    sweep.write_table(table, rows)
    trained, messages = [], []
    sweep.run_sweep(GRIDS["ci"], tmp_path, tmp_path / "runs", report=messages.append,
                    train=lambda config: trained.append((config.lambda_s, config.seed)) or fake_result(config))
    assert trained == [(0.0, 1), (1.0, 2)]
    assert any("2 row(s)" in m and "lambda_s=0.0 seed 1, lambda_s=1.0 seed 2" in m for m in messages)
    after = sweep.read_table(table)
    assert len(after) == 4 and all(math.isfinite(r["val_map@r"]) and math.isfinite(r["test_map@r"]) for r in after)


def test_an_own_data_grid_with_a_fixed_budget_makes_its_data_and_runs_without_a_validation_split(tmp_path):
    """A grid on one's own data (``Grid.data``) gets its folder made under the project's data root, and a
    fixed budget (``selection="last"``) is finished by its test score alone (it has no validation score)."""
    from histlib.data.fashion_mnist import export_folder
    from histlib.data.own import scan

    from .data import fixtures as fx

    source = fx.make_fashion_mnist(tmp_path / "data" / "fashion-mnist", per_class=4)
    made = []

    def data(root):
        made.append(root)
        return export_folder(root / "own" / "mini", per_class=4, root=source.parent)

    grid = Grid("own_mini", "q", "glyphs", ({},), seeds=(1, 2), data=data, full_curves=True,
                fixed={"dataset": "folder", "max_images_per_class": None, "selection": "last", "epochs": 2, "batch_size": 8,
                       "max_steps_per_epoch": 2})
    messages = []
    sweep.run_sweep(grid, tmp_path / "results", tmp_path / "runs", data_root=tmp_path / "data", report=messages.append)
    assert made and made[0] == tmp_path / "data"
    assert len(scan("folder", tmp_path / "data" / "own" / "mini").paths) == 40
    rows = sweep.read_table(tmp_path / "results" / "own_mini.csv")
    assert [r["seed"] for r in rows] == [1, 2] and all(r["selected_epoch"] == 2 and r["val_map@r"] is None for r in rows)
    assert all(0 < r["test_map@r"] <= 1 for r in rows)
    assert any("test_map@r" in m and "val_map@r" not in m for m in messages if m.startswith("[1/2]"))
    curves = sweep.read_table(tmp_path / "results" / "own_mini_curves.csv")
    assert [c["epoch"] for c in curves if c["seed"] == 1] == [0, 1, 2] and curves[0]["test_map@r"] is not None

    trained = []  # a second call: both rows are finished without a validation score
    sweep.run_sweep(grid, tmp_path / "results", tmp_path / "runs", data_root=tmp_path / "data",
                    report=lambda _: None, train=lambda config: trained.append(config) or fake_result(config))
    assert trained == []
