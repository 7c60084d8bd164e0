"""Sweeps: a named grid of config overrides x seeds -> one tidy table under ``results/``.

    python -m histlib.sweep lambda_s                 # run (or finish) the grid, write results/lambda_s.csv
    python -m histlib.sweep --list                   # the grids, their questions and sizes
    python -m histlib.sweep all                      # every analysis grid, in the order of GRIDS

Grids are data (:data:`histlib.training.grids.GRIDS`). Each run is keyed by the fingerprint of its
full config: a run already in the table is skipped, an interrupted one resumes from its checkpoint
(load-or-train under ``runs/sweeps/<fingerprint>``, shared by the grids), and the table is rewritten after every
run, so an interruption loses at most the run in progress. Each table row holds every varied
setting, the seed, the metrics of the unseen test classes, the validation score and epoch that
selected the model, HIST's two loss terms and HGNN statistics in that epoch (``TRAIN_COLUMNS``), the
wall time, the histlib commit and the machine; ``<grid>_curves.csv`` holds each run's per-epoch
training statistics and validation curve, to show whether the runs converged.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from .losses import STATISTICS
from .training import (FitResult, RunFolder, RunFolderError, RunInUseError, TrainConfig, config_fingerprint,
                       get_config, load_or_train)
from .training.config import MAX_SEED
from .training.grids import GRIDS, Grid, point_label
from .tables import MetricError, TableError, metric_value, read_table, write_table

__all__ = ["SweepRun", "plan", "run_sweep", "read_table", "write_table", "current_commit", "machine", "main",
           "METRIC_COLUMNS", "TRAIN_COLUMNS", "TableError"]

#: The test metrics each row records (fractions), in this order.
METRIC_COLUMNS = ("recall@1", "recall@2", "recall@4", "recall@8", "recall@10", "recall@100", "recall@1000",
                  "map@r", "r_precision", "precision_at_1")


class SweepRun:
    """One (grid point, seed): its config, the settings that vary in the grid, its fingerprint."""

    def __init__(self, grid: Grid, point: dict, seed: int, runs_root: Path, data_root: Path | None = None):
        values = {**grid.fixed, **point, "seed": seed}
        if data_root is not None and "data_root" not in values:  # the project's data, from any working directory
            values["data_root"] = str(data_root)
        provisional = get_config(grid.base, **values)
        self.fingerprint = config_fingerprint(provisional)
        self.config = get_config(grid.base, **values, output_dir=str(Path(runs_root).resolve() / self.fingerprint))
        self.point, self.seed, self.grid = point, seed, grid

    @property
    def label(self) -> str:
        return point_label(self.point)


def plan(grid: Grid, results: Path, runs_root: Path, seeds: Iterable[int] | None = None,
         data_root: Path | None = None) -> list[SweepRun]:
    """Every run of ``grid`` (points x seeds, in order); derived grids read their source table.
    ``data_root``: where the datasets are (default: the recipe's, relative to the working directory)."""
    points = grid.points_for(results)
    if grid.data is not None:  # own data: its root, made under the project's data folder if missing
        data_root = grid.data(Path(data_root if data_root is not None else "data")).resolve()
    return [SweepRun(grid, point, seed, runs_root, data_root) for point in points for seed in (seeds or grid.seeds)]


#: HIST's training statistics (:data:`histlib.losses.STATISTICS`, the epoch's mean over its steps): the
#: table holds those of the selected epoch, the curves those of every epoch.
TRAIN_COLUMNS = tuple(f"train_{name}" for name in STATISTICS)


def folder_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot hold tables or runs (a file there or above it, no permission), or None;
    creates it when it can."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return "is a file, or lies under one; it must be a folder"
    except NotADirectoryError:
        return "lies under a file; it must be a folder"
    except OSError as error:
        return f"cannot be created ({error.strerror or error})"
    return None


def current_commit() -> str:
    """The histlib commit (short hash), "+changes" when histlib/ differs from it; "unknown" outside git."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "histlib"], cwd=root, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def machine() -> str:
    """The CPU (or GPU), its cores and torch's threads, e.g. "AMD EPYC, 2 cores, 2 threads"."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (CUDA)"
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores, {torch.get_num_threads()} threads"


def _result_columns(run: SweepRun, result: FitResult, commit: str) -> dict:
    """The columns that describe a run's outcome (the same whichever grid it belongs to)."""
    config = run.config
    selected = result.history[result.selected_epoch]
    row = {f"test_{m}": result.test_metrics.get(m) for m in METRIC_COLUMNS if m in result.test_metrics}
    row[f"val_{config.selection_metric}"] = selected.get(f"val_{config.selection_metric}")
    row.update({column: selected[column] for column in TRAIN_COLUMNS if column in selected})
    row.update(selected_epoch=result.selected_epoch + 1, epochs=config.epochs, epochs_run=len(result.history),
               patience=config.patience,
               seconds=round(result.seconds, 1),
               fingerprint=run.fingerprint, commit=commit, machine=machine())
    return row


def _row(run: SweepRun, outcome: dict) -> dict:
    return {"grid": run.grid.name, "point": run.label, **{k: _cell(v) for k, v in run.point.items()},
            "seed": run.seed, **outcome}


def _cell(value):
    return ",".join(map(str, value)) if isinstance(value, tuple) else value


def _curve_rows(run: SweepRun, result: FitResult) -> list[dict]:
    """One row per epoch: the training statistics and the validation score; for a ``full_curves`` grid
    every validation and test metric too, and the untrained network's metrics as epoch 0."""
    metric = f"val_{run.config.selection_metric}"
    key = {"fingerprint": run.fingerprint, "point": run.label, "seed": run.seed}
    if not run.grid.full_curves:
        return [{**key, "epoch": row["epoch"], "train_loss": row["train_loss"],
                 **{c: row[c] for c in TRAIN_COLUMNS if c in row}, metric: row.get(metric)} for row in result.history]
    from .training import build_run_data
    from .workbook import untrained_metrics

    initial = untrained_metrics(run.config, build_run_data(run.config))
    rows = [{**key, "epoch": 0, **initial}]
    for row in result.history:
        rows.append({**key, "epoch": row["epoch"], "lr": row.get("lr"), "train_loss": row["train_loss"],
                     **{c: row[c] for c in TRAIN_COLUMNS if c in row},
                     **{c: v for c, v in row.items() if c.startswith(("val_", "test_"))}})
    return rows


def _known_outcomes(results: Path) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    """Outcome columns and curve rows of every run in any table under ``results`` (by fingerprint):
    a run shared by two grids (the recipe's default point) is trained once."""
    outcomes, by_epoch = {}, {}
    for table in sorted(Path(results).glob("*.csv")):
        rows = read_table(table)
        if table.stem.endswith("_curves"):
            for row in rows:  # one row per (run, epoch), however many tables hold the run
                if row.get("fingerprint") and "point" in row:  # a sweep's curves (not a tuning study's)
                    by_epoch.setdefault(row["fingerprint"], {}).setdefault(row["epoch"], row)
            continue
        for row in rows:
            if "fingerprint" in row and "grid" in row:  # the outcome columns only, never a grid's settings
                outcomes.setdefault(row["fingerprint"], {k: v for k, v in row.items() if _is_outcome(k)})
    curves = {fingerprint: [epochs[e] for e in sorted(epochs)] for fingerprint, epochs in by_epoch.items()}
    return outcomes, curves


def _is_outcome(column: str) -> bool:
    """Whether a table column describes a run's outcome (what ``_result_columns`` writes)."""
    return column.startswith(("test_", "val_", "train_")) or column in (
        "selected_epoch", "epochs", "epochs_run", "patience", "seconds", "fingerprint", "commit", "machine")


def _score_columns(run: SweepRun) -> tuple[str, ...]:
    """The columns a finished row of ``run`` must hold numbers in: its validation score (none for a
    fixed budget, ``selection="last"``) and test MAP@R."""
    validation = (f"val_{run.config.selection_metric}",) if run.config.selection == "val" else ()
    return validation + ("test_map@r",)


def _finished(run: SweepRun, outcome: dict) -> bool:
    """Whether a row holds a finished run of ``run``: its validation score and test MAP@R are numbers
    (a NaN, empty or text cell is a diverged, interrupted or hand-edited run: it is trained again)."""
    try:
        for column in _score_columns(run):
            metric_value(outcome, column)
    except MetricError:
        return False
    return True


def _complete(run: SweepRun, outcome: dict) -> bool:
    """Whether a row from another table has every column a fresh run of ``run`` would write (a HIST
    row from before its training statistics were logged does not: the run is trained again)."""
    if not _finished(run, outcome):  # an incomplete row elsewhere
        return False
    return run.config.loss != "hist" or all(outcome.get(column) is not None for column in TRAIN_COLUMNS)


def _in_use(run: SweepRun) -> bool:
    return RunFolder(run.config.output_dir).holder() is not None


def run_sweep(grid: Grid, results: Path, runs_root: Path, seeds: Iterable[int] | None = None,
              data_root: Path | None = None,
              report: Callable[[str], None] = print, train: Callable[[TrainConfig], FitResult] | None = None) -> Path:
    """Run every missing run of ``grid``; returns the table's path (``results/<grid>.csv``)."""
    train = train or (lambda config: load_or_train(config, replace=True))
    table, curves = results / f"{grid.name}.csv", results / f"{grid.name}_curves.csv"
    runs = plan(grid, results, runs_root, seeds, data_root)
    labels = {run.label for run in runs}
    rows = read_table(table)
    missing_columns = [c for c in ("point", "seed", "fingerprint") if rows and c not in rows[0]]
    if missing_columns:
        raise TableError(f"{table} has no column {missing_columns}: it is not a sweep table of this histlib; restore "
                         "it from git or delete it to regenerate it")
    last = {(row["point"], row["seed"]): i for i, row in enumerate(rows)}  # the last row of each (point, seed)
    if len(last) < len(rows):
        report(f"{grid.name}: {table} held {len(rows) - len(last)} duplicate row(s) of a (point, seed); kept the last")
    unique = [row for i, row in enumerate(rows) if last[row["point"], row["seed"]] == i]
    stale = sorted({row["point"] for row in unique if row["point"] not in labels})
    if stale:  # a point the grid no longer has (a derived grid's best trial changed): its rows go
        report(f"{grid.name}: dropping {sum(row['point'] in stale for row in unique)} row(s) of points no longer in "
               f"the grid: {stale}")
        write_table(curves, [row for row in read_table(curves) if row["point"] in labels])
    kept = [row for row in unique if row["point"] in labels]
    if len(kept) < len(rows):
        write_table(table, kept)
        rows = kept
    order = {run.fingerprint: i for i, run in enumerate(runs)}
    by_fingerprint = {row["fingerprint"]: row for row in rows}
    unfinished = [run for run in runs if run.fingerprint in by_fingerprint
                  and not _finished(run, by_fingerprint[run.fingerprint])]
    if unfinished:
        report(f"{grid.name}: {len(unfinished)} row(s) of {table} hold no valid score (NaN, empty or text), so they are not done; run "
               f"again: " + ", ".join(f"{run.label} seed {run.seed}" for run in unfinished))
    done = set(by_fingerprint) - {run.fingerprint for run in unfinished}
    known, known_curves = _known_outcomes(results)
    missing = [run for run in runs if run.fingerprint not in done]
    report(f"{grid.name}: {grid.question}\n{grid.name}: {len(runs)} runs, {len(runs) - len(missing)} already "
           f"in {table}, {len(missing)} to run")
    commit, start, index = current_commit(), time.perf_counter(), 0
    queue = list(missing)
    while queue:
        run = queue.pop(0)
        if run.fingerprint in known and run.fingerprint in known_curves and _complete(run, known[run.fingerprint]) \
                and (not grid.full_curves or known_curves[run.fingerprint][0].get("epoch") == 0):
            outcome, curve = known[run.fingerprint], known_curves[run.fingerprint]
            how = "the same run is in another table"
        else:
            try:
                result = train(run.config)
            except RunInUseError:  # another sweep process trains this run (a point two grids share)
                queue.append(run)
                if all(_in_use(r) for r in queue):
                    time.sleep(5)
                continue
            outcome, curve = _result_columns(run, result, commit), _curve_rows(run, result)
            how = f"{result.seconds:.0f} s"
        index += 1
        # re-read: another sweep process may have added rows since (two processes share a grid's runs)
        # one row per (point, seed): a row of the same point and seed from an older run (another
        # recipe version, another machine's paths) is replaced, never kept beside the new one
        key = (run.label, run.seed)
        rows = [r for r in read_table(table) if r["fingerprint"] != run.fingerprint and (r["point"], r["seed"]) != key]
        rows = sorted(rows + [_row(run, outcome)], key=lambda r: order.get(r["fingerprint"], len(order)))
        curve_rows = [r for r in read_table(curves)
                      if r["fingerprint"] != run.fingerprint and (r["point"], r["seed"]) != key]
        curve_rows += [{**r, "point": run.label, "seed": run.seed} for r in curve]
        write_table(table, rows)
        write_table(curves, curve_rows)
        scores = ", ".join(f"{column} {outcome[column]:.3f}" for column in _score_columns(run))
        report(f"[{index}/{len(missing)}] {run.label} seed {run.seed}: {how}, {scores} "
               f"({time.perf_counter() - start:.0f} s so far)")
    return table


def main(argv: list[str] | None = None) -> int:
    from .paths import DATA, RESULTS, RUNS

    parser = argparse.ArgumentParser(prog="python -m histlib.sweep", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("grids", nargs="*", help=f"grid names ({', '.join(GRIDS)}) or 'all'")
    parser.add_argument("--list", action="store_true", help="list the grids and exit")
    parser.add_argument("--seeds", type=int, nargs="+", action="extend", help="seeds instead of the grid's")
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"table folder (default {RESULTS})")
    parser.add_argument("--runs", type=Path, default=RUNS / "sweeps", help="run folders (default runs/sweeps)")
    args = parser.parse_args(argv)
    if args.list or not args.grids:
        for grid in GRIDS.values():
            size = "derived" if grid.derive_from else f"{len(grid.points)} points"
            print(f"{grid.name:<14} {size} x {len(grid.seeds)} seeds  {grid.question}")
        return 0
    if "all" in args.grids and args.grids != ["all"]:
        parser.error("'all' runs every analysis grid: give it alone, or name the grids")
    names = [name for name, grid in GRIDS.items() if grid.analysis] if args.grids == ["all"] else args.grids
    unknown = [name for name in names if name not in GRIDS]
    if unknown:
        parser.error(f"unknown grid(s) {unknown}; choose from {', '.join(GRIDS)} or 'all'")
    if args.seeds is not None:
        bad = [seed for seed in args.seeds if not 0 <= seed <= MAX_SEED]
        if bad:
            parser.error(f"--seeds must be integers in [0, {MAX_SEED}], got {bad}")
        twice = sorted({seed for seed in args.seeds if args.seeds.count(seed) > 1})
        if twice:
            parser.error(f"--seeds lists {twice} more than once (each seed is one run per point)")
    for folder, flag in ((args.results, "--results"), (args.runs, "--runs")):
        problem = folder_problem(folder)
        if problem:
            parser.error(f"{flag} {folder}: {problem}")
    for name in names:
        try:
            run_sweep(GRIDS[name], args.results, args.runs, args.seeds, data_root=DATA)
        except (FileNotFoundError, TableError, ValueError, RunFolderError, FloatingPointError) as error:
            print(f"python -m histlib.sweep {name}: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
