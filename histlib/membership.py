"""The membership condition as a prediction: does an early measurement say whether the HGNN will learn?

Notebook 7 found, at the end of training, that the HGNN learns (``L_CE / log C`` falls) where a
sample's soft memberships in the other classes' hyperedges sum to less than about 1, and not where
they sum to several. Measured at the end, that is a description; here it is tested as a prediction:

1. **screen**: for candidate settings (alpha, tau, batch size) never run before, train the first
   epoch only and take the *predictor*, the epoch's mean of that sum (``train_other_membership``),
   over :data:`SCREEN_SEEDS` (the first epoch of a run does not depend on its budget, so it is the
   first epoch of the full runs too);
2. **predict**: of the settings whose predictor lies in :data:`PREDICTOR_RANGE` (the gap where no
   earlier run ended), keep :data:`TESTED_SETTINGS` at evenly spaced ranks of the predictor, and write
   down, for each, what two rules predict: the notebook's
   (learns when the predictor is below :data:`CLAIM_THRESHOLD`) and a threshold fitted to the
   committed runs' first epochs (:func:`fitted_threshold`); ``results/membership_predictions.csv``
   is committed before any full run of these settings;
3. **observe**: train them to their plateau (grid ``membership_outcomes``), fill in the ``observed``
   column, and score each rule: how many of its predictions held.

A setting's outcome is *learns* when the median over its seeds of ``L_CE / log C`` in the selected
epoch is below :data:`LEARNED_BELOW` (notebook 7's line between the runs whose HGNN learned and the rest).

    python -m histlib.membership screen     # 1 epoch per candidate and seed -> results/membership_screen.csv
    python -m histlib.membership predict    # -> results/membership_predictions.csv (commit it, then run:)
    python -m histlib.sweep membership_outcomes
    python -m histlib.membership observe    # fills in observed, prints each rule's score

    >>> learns(0.2), learns(0.9)
    (True, False)
    >>> fitted_threshold([(0.3, 0.1), (2.0, 0.2), (6.0, 0.95), (9.0, 1.0)])
    4.0
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from .paths import ROOT
from .tables import TableError, metric_value, read_table, write_table

__all__ = ["PREDICTOR", "LEARNED_BELOW", "CLAIM_THRESHOLD", "PREDICTOR_RANGE", "CANDIDATES", "SCREEN_SEEDS",
           "learns", "fitted_threshold", "committed_first_epochs", "first_epoch_predictor", "prediction_points", "first_epoch_agreement", "screen", "predict", "observe", "score"]

#: The predictor: the first epoch's mean over its steps of each sample's summed soft membership in the
#: hyperedges of other classes (HISTLoss's ``other_membership`` statistic).
PREDICTOR = "train_other_membership"
#: The outcome: the HGNN learned when ``L_CE / log C`` in the selected epoch is below this.
LEARNED_BELOW = 0.5
#: Notebook 7's rule, from end-of-training memberships: the HGNN learns below a summed membership of 1.
CLAIM_THRESHOLD = 1.0
#: Settings enter the test when their predictor lies in this range: no earlier run ended there.
PREDICTOR_RANGE = (0.4, 4.6)
#: The screened settings: none of them in any earlier table; around the values where the predictor is 0.4-4.6.
CANDIDATES = tuple({"alpha": a, "tau": t, "batch_size": b} for a, t, b in (
    (1.5, 4.0, 64), (2.5, 4.0, 64), (2.5, 8.0, 64), (3.0, 8.0, 64), (3.0, 16.0, 64), (4.0, 16.0, 64),
    (5.0, 32.0, 64), (6.0, 32.0, 64), (8.0, 32.0, 64),
    (1.5, 8.0, 32), (2.0, 8.0, 32), (2.5, 16.0, 32), (3.0, 32.0, 32),
    (1.5, 4.0, 16), (2.0, 16.0, 16), (2.0, 32.0, 16),
    (3.0, 8.0, 128), (4.0, 8.0, 128), (5.0, 16.0, 128), (6.0, 32.0, 128),
))
#: How many settings enter the test: of those in PREDICTOR_RANGE, this many at evenly spaced ranks of their
#: predictor (the lowest and the highest included), so that the test covers the range, not one end of it.
TESTED_SETTINGS = 12
#: The seeds of the screen and of the full runs.
SCREEN_SEEDS = (1, 2, 3)
#: The committed from-scratch tables whose first epochs and outcomes fit the second rule's threshold.
FIT_TABLES = ("alpha_tau", "alpha", "tau", "batch", "depth", "lambda_s")

_SETTING = ("alpha", "tau", "batch_size")


def learns(ratio: float) -> bool:
    """Whether an ``L_CE / log C`` means the HGNN learned (below :data:`LEARNED_BELOW`)."""
    return ratio < LEARNED_BELOW


def fitted_threshold(runs: Iterable[tuple[float, float]]) -> float:
    """The predictor threshold that classifies ``runs`` ((predictor, final L_CE / log C) pairs) best as
    learning below it: the midpoint of the best split between sorted predictors (the lowest such on ties)."""
    runs = sorted(runs)
    if not runs:
        raise ValueError("fitted_threshold needs at least one run")
    best, best_errors = None, math.inf
    for i in range(len(runs) + 1):
        low = runs[i - 1][0] if i else runs[0][0] - 1.0
        high = runs[i][0] if i < len(runs) else runs[-1][0] + 1.0
        if i and i < len(runs) and low == high:
            continue
        errors = sum(not learns(r) for _, r in runs[:i]) + sum(learns(r) for _, r in runs[i:])
        if errors < best_errors:
            best, best_errors = (low + high) / 2, errors
    return best


def committed_first_epochs(results: Path, tables: Sequence[str] = FIT_TABLES) -> list[tuple[float, float]]:
    """(first-epoch predictor, selected epoch's L_CE / log C) of every HIST run with L_CE (lambda_s > 0)
    in the committed ``tables`` (each run once, by fingerprint)."""
    pairs = {}
    for name in tables:
        outcomes = {row["fingerprint"]: row for row in read_table(Path(results) / f"{name}.csv")}
        for row in read_table(Path(results) / f"{name}_curves.csv"):
            outcome = outcomes.get(row["fingerprint"])
            if row["epoch"] != 1 or outcome is None or outcome.get("lambda_s") == 0.0:
                continue
            pairs[row["fingerprint"]] = (metric_value(row, PREDICTOR), metric_value(outcome, "train_hgnn_loss_ratio"))
    return list(pairs.values())


def first_epoch_predictor(config, runs_root: Path) -> float:
    """The predictor of ``config``: the first epoch of its run, trained alone (or read back)."""
    from .training import load_or_train
    from .training.runs import config_fingerprint

    first = replace(config, epochs=1, patience=None, test_every_epoch=False)
    first = replace(first, output_dir=str(Path(runs_root) / config_fingerprint(first)))
    return float(load_or_train(first, replace=True).history[0][PREDICTOR])


def screen(candidates: Sequence[dict], seeds: Sequence[int], runs_root: Path, base: str = "glyphs",
           report=print) -> list[dict]:
    """One row per (candidate, seed): its settings, the seed and its first-epoch predictor."""
    from .training import get_config

    rows = []
    for setting in candidates:
        for seed in seeds:
            value = first_epoch_predictor(get_config(base, **setting, seed=seed), runs_root)
            rows.append({**setting, "seed": seed, "predictor": value})
            report(f"screen: alpha={setting['alpha']:g} tau={setting['tau']:g} batch={setting['batch_size']} "
                   f"seed {seed}: {PREDICTOR} after epoch 1 = {value:.3f}")
    return rows


def predict(screen_rows: Sequence[dict], threshold_fitted: float, predictor_range=PREDICTOR_RANGE,
            count: int | None = TESTED_SETTINGS) -> list[dict]:
    """One row per tested setting: of the settings whose mean predictor lies in ``predictor_range``, ``count``
    at evenly spaced ranks of the predictor (all of them when ``count`` is None or larger), with the
    predictor's mean and range over seeds and each rule's prediction (``learns`` / ``does not learn``);
    ``observed`` empty. Rows in order of the predictor."""
    by_setting = {}
    for row in screen_rows:
        by_setting.setdefault(tuple(row[k] for k in _SETTING), []).append(float(row["predictor"]))
    rows = []
    for setting, values in by_setting.items():
        mean = statistics.fmean(values)
        if not predictor_range[0] <= mean <= predictor_range[1]:
            continue
        rows.append({**dict(zip(_SETTING, setting)), "seeds": len(values), "predictor": round(mean, 4),
                     "screened_in_range": None,
                     "predictor_min": round(min(values), 4), "predictor_max": round(max(values), 4),
                     "predicted": _words(mean < CLAIM_THRESHOLD), "threshold": CLAIM_THRESHOLD,
                     "predicted_fitted": _words(mean < threshold_fitted), "threshold_fitted": round(threshold_fitted, 3),
                     "observed": "", "observed_ratio": ""})
    rows.sort(key=lambda row: row["predictor"])
    for row in rows:
        row["screened_in_range"] = len(rows)
    if count is not None and count < len(rows):
        ranks = sorted({round(i * (len(rows) - 1) / (count - 1)) for i in range(count)}) if count > 1 else [0]
        rows = [rows[rank] for rank in ranks]
    return rows


def _words(learn: bool) -> str:
    return "learns" if learn else "does not learn"


def observe(predictions: Sequence[dict], outcomes: Sequence[dict]) -> list[dict]:
    """``predictions`` with ``observed`` (and ``observed_ratio``, the median over seeds of the selected
    epoch's L_CE / log C) from the rows of the full runs (grid ``membership_outcomes``)."""
    ratios = {}
    for row in outcomes:
        ratios.setdefault(tuple(row[k] for k in _SETTING), []).append(metric_value(row, "train_hgnn_loss_ratio"))
    out = []
    for row in predictions:
        key = tuple(row[k] for k in _SETTING)
        if key not in ratios:
            raise TableError(f"no full run of alpha={key[0]} tau={key[1]} batch_size={key[2]}: run "
                             "`python -m histlib.sweep membership_outcomes` first")
        median = statistics.median(ratios[key])
        out.append({**row, "observed": _words(learns(median)), "observed_ratio": round(median, 4),
                    "observed_seeds": len(ratios[key])})
    return out


def prediction_points(results: Path) -> tuple[dict, ...]:
    """The predicted settings of ``results/membership_predictions.csv`` as grid points (alpha, tau, batch size)."""
    path = Path(results) / "membership_predictions.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the grid trains the settings whose outcome was predicted; run "
                                "`python -m histlib.membership screen` and `... predict` first (and commit the table)")
    return tuple({"alpha": float(r["alpha"]), "tau": float(r["tau"]), "batch_size": int(r["batch_size"])}
                 for r in read_table(path))


def first_epoch_agreement(screen_rows: Sequence[dict], outcome_rows: Sequence[dict], outcome_curves: Sequence[dict],
                          tolerance: float = 0.05) -> list[str]:
    """What the test rests on: a full run's first epoch is the screened one (the budget does not change
    it). Per (setting, seed) of the full runs, its epoch-1 predictor against the screen's; returns a line
    for each that differs by more than ``tolerance`` (relative; on one machine they are equal, across CPUs
    training noise moves them), empty when all agree."""
    screened = {(*(r[k] for k in _SETTING), r["seed"]): float(r["predictor"]) for r in screen_rows}
    by_fingerprint = {r["fingerprint"]: r for r in outcome_rows}
    problems = []
    for row in outcome_curves:
        if row["epoch"] != 1 or row["fingerprint"] not in by_fingerprint:
            continue
        run = by_fingerprint[row["fingerprint"]]
        key = (*(run[k] for k in _SETTING), run["seed"])
        if key not in screened:
            problems.append(f"alpha={key[0]} tau={key[1]} batch_size={key[2]} seed {key[3]} was not screened")
            continue
        value, expected = metric_value(row, PREDICTOR), screened[key]
        if abs(value - expected) > tolerance * max(abs(expected), 1e-6):
            problems.append(f"alpha={key[0]} tau={key[1]} batch_size={key[2]} seed {key[3]}: epoch 1 of the full run "
                            f"gives {value:.4f}, the screen {expected:.4f}")
    return problems


def score(rows: Sequence[dict], column: str = "predicted") -> tuple[int, int]:
    """(predictions that held, predictions) of the rule in ``column``, over rows with an observation."""
    observed = [row for row in rows if row.get("observed")]
    return sum(row[column] == row["observed"] for row in observed), len(observed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m histlib.membership", description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("screen", "predict", "observe"))
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "membership_screen")
    args = parser.parse_args(argv)
    results = args.results
    if args.step == "screen":
        write_table(results / "membership_screen.csv", screen(CANDIDATES, SCREEN_SEEDS, args.runs))
        print(f"wrote {results / 'membership_screen.csv'}")
    elif args.step == "predict":
        threshold = fitted_threshold(committed_first_epochs(results))
        rows = predict(read_table(results / "membership_screen.csv"), threshold)
        write_table(results / "membership_predictions.csv", rows)
        in_range = rows[0]["screened_in_range"] if rows else 0
        print(f"fitted threshold {threshold:.3f} (from the first epochs of {', '.join(FIT_TABLES)}); {len(rows)} of the "
              f"{in_range} screened settings with a predictor in {PREDICTOR_RANGE} (evenly spaced ranks); "
              f"wrote {results / 'membership_predictions.csv'}")
    else:
        outcomes = read_table(results / "membership_outcomes.csv")
        for line in first_epoch_agreement(read_table(results / "membership_screen.csv"), outcomes,
                                          read_table(results / "membership_outcomes_curves.csv")):
            print(f"first epoch differs: {line}")
        rows = observe(read_table(results / "membership_predictions.csv"), outcomes)
        write_table(results / "membership_predictions.csv", rows)
        for column, rule in (("predicted", f"below {CLAIM_THRESHOLD:g} (notebook 7's rule)"),
                             ("predicted_fitted", f"below {rows[0]['threshold_fitted']:g} (fitted)")):
            held, total = score(rows, column)
            print(f"learns when the predictor is {rule}: {held}/{total} predictions held")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
