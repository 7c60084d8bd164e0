"""The training notebooks' checks: what holds for a live run of any seed on any CPU, and what the
committed seeds of the notebook's recipe say.

Training is deterministic on one machine but not bit-identical across CPUs, and a seed changes it
far more than a CPU does. So a notebook's sentences about trained numbers and curve shapes are made
about its recipe's committed seeds (``results/notebook_<stand-in>.csv`` and its ``_curves`` table,
``python -m histlib.sweep notebook_glyphs notebook_typefaces notebook_kanji``), read with
:class:`SeedRuns`, and its live run is checked only for what holds for any seed and CPU
(:func:`check_live_run`): it finished, it kept the best epoch on the validation classes, it beats
the untrained network by a stated factor, and its test metrics lie in the committed seeds' 99 %
prediction interval for one more seed.

A check returns a one-line verdict that is the same on every machine (safe under nbval) or fails
with :class:`CheckFailed`, whose message names what was measured, the band and what failing
means. Under ``scripts/main.sh`` (``HISTLIB_CHECK_LOG`` names a file) a failed check is printed and
recorded there instead of raised, so that the notebook goes on and regenerates its figures;
``scripts/run_notebooks.py`` lists the failed checks at the end and exits non-zero.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..evaluation import column_name, mean_and_std, metric_name
from ..paths import RESULTS

__all__ = ["CheckFailed", "CHECK_LOG", "fail", "require", "RunSummary", "SeedRuns", "LiveRunCheck", "LIVE_RUN_CHECKS",
           "OWN_LIVE_RUN_CHECK", "check_live_run", "seed_count", "claims_report"]

#: The environment variable that, when set to a file, records failed checks there instead of raising.
CHECK_LOG = "HISTLIB_CHECK_LOG"


class CheckFailed(AssertionError):
    """A notebook check that does not hold: the message says what was measured, the band, and what it means."""


def fail(message: str) -> str:
    """Report a failed check: raise :class:`CheckFailed`, or, with ``HISTLIB_CHECK_LOG`` set, append the
    message to that file (one JSON line) and return it as a printable line so that the notebook goes on."""
    log = os.environ.get(CHECK_LOG)
    if not log:
        raise CheckFailed(message)
    with open(log, "a", encoding="utf-8") as f:
        f.write(json.dumps({"message": message}) + "\n")
    line = f"CHECK FAILED: {message}"
    print(line)
    return line


def require(condition: bool, ok: str, failed: str) -> str:
    """``ok`` if ``condition`` holds, else :func:`fail` with ``failed`` (what was measured and what it means).

    >>> require(2 > 1, "OK: two exceeds one", "two does not exceed one")
    'OK: two exceeds one'
    """
    return ok if condition else fail(failed)


def _percent(value: float) -> str:
    return f"{100 * value:.1f}"


@dataclass(frozen=True)
class RunSummary:
    """What the checks read of one run: its per-epoch ``history`` (rows with ``"epoch"`` from 1 and the
    ``val_*`` / ``test_*`` metrics), the 0-based ``selected_epoch``, the selected model's ``test_metrics``
    (fractions, keyed ``"map@r"``, ...) and the untrained network's metrics ``initial`` (keyed ``"test_map@r"``, ...)."""

    history: list[dict]
    selected_epoch: int
    test_metrics: dict
    initial: dict

    @classmethod
    def from_result(cls, result, initial: dict) -> "RunSummary":
        """From a :class:`~histlib.training.FitResult` and :func:`histlib.workbook.untrained_metrics`."""
        return cls(list(result.history), result.selected_epoch, dict(result.test_metrics), dict(initial))

    def curve(self, column: str, untrained: bool = True) -> np.ndarray:
        """``column`` per epoch, shape (E + 1,) from the untrained network (epoch 0) on, or (E,) without it."""
        values = [row[column] for row in self.history]
        return np.array(([self.initial[column]] if untrained else []) + values, dtype=float)

    def over_untrained(self, metric: str) -> tuple[float, float]:
        """(gain, factor) of the selected model's test ``metric`` over the untrained network's:
        the difference and the ratio."""
        trained, untrained = self.test_metrics[metric], self.initial[f"test_{metric}"]
        return trained - untrained, trained / untrained

    def gains(self, column: str) -> np.ndarray:
        """Each epoch's change of a metric ``column``, shape (E,): epoch 1's from the untrained network."""
        return np.diff(self.curve(column))


def _has_validation(row: dict) -> bool:
    """Whether a seed table's row was selected on a validation split (its val_map@r is filled)."""
    return row.get("val_map@r") not in (None, "")


@dataclass(frozen=True)
class SeedRuns:
    """The committed runs of one notebook's recipe, one per seed (a ``full_curves`` sweep grid)."""

    grid: str
    rows: tuple[dict, ...]
    curves: dict = field(default_factory=dict)  # seed -> its curve rows, epoch 0 (untrained) first

    @classmethod
    def read(cls, grid: str, results: Path | str = RESULTS) -> "SeedRuns":
        """``results/<grid>.csv`` and ``<grid>_curves.csv``; a clear error when either is missing or incomplete."""
        from ..tables import metric_value, read_table

        results = Path(results)
        table, curves_table = results / f"{grid}.csv", results / f"{grid}_curves.csv"
        for path in (table, curves_table):
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing: the committed seeds of this notebook's run come from "
                                        f"`python -m histlib.sweep {grid}` (or restore it from git)")
        rows = tuple(read_table(table))
        curves: dict[int, list[dict]] = {}
        for row in read_table(curves_table):
            curves.setdefault(row["seed"], []).append(row)
        for seed in curves:
            curves[seed].sort(key=lambda r: r["epoch"])
        for row in rows:
            seed = row["seed"]
            if seed not in curves or curves[seed][0]["epoch"] != 0 or "test_map@r" not in curves[seed][0]:
                raise ValueError(f"{curves_table} has no full curve (epoch 0 to the last, validation and test metrics) "
                                 f"for seed {seed}: regenerate it with `python -m histlib.sweep {grid}`")
            for column in ("test_map@r", "test_recall@1", "selected_epoch"):
                metric_value(row, column)  # a MetricError names the file, row and column
            columns = ("test_map@r", "test_recall@1") + (("val_map@r", "val_recall@1") if _has_validation(row) else ())
            for curve_row in curves[seed]:
                for column in columns:
                    metric_value(curve_row, column)
        if len(rows) < 2:
            raise ValueError(f"{table} holds {len(rows)} seed(s); a band needs at least 2")
        return cls(grid, rows, curves)

    @property
    def validated(self) -> bool:
        """Whether the runs chose their epoch on a validation split (a fixed budget, selection="last", has none)."""
        return _has_validation(self.rows[0])

    @property
    def seeds(self) -> list[int]:
        return [row["seed"] for row in self.rows]

    @property
    def machines(self) -> list[str]:
        """The machines the seeds were trained on, each once."""
        return list(dict.fromkeys(row.get("machine", "unknown") for row in self.rows))

    def run(self, seed: int) -> RunSummary:
        """One committed seed's run, as the checks read a live one."""
        (row,) = [r for r in self.rows if r["seed"] == seed]
        curve = self.curves[seed]
        test = {c.removeprefix("test_"): v for c, v in row.items() if c.startswith("test_") and v is not None}
        return RunSummary([dict(r) for r in curve[1:]], row["selected_epoch"] - 1, test, dict(curve[0]))

    def without(self, seed: int) -> "SeedRuns":
        """The other seeds (leave-one-out: is a committed seed inside the band of the others?)."""
        return SeedRuns(self.grid, tuple(r for r in self.rows if r["seed"] != seed),
                        {s: c for s, c in self.curves.items() if s != seed})

    def values(self, metric: str) -> np.ndarray:
        """The selected models' test ``metric`` (e.g. ``"map@r"``), one per seed, shape (S,)."""
        return np.array([row[f"test_{metric}"] for row in self.rows], dtype=float)

    def curve_band(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """The lowest and highest ``column`` (e.g. ``"val_map@r"``) over the seeds at each epoch from 0,
        each of shape (E + 1,): the band :func:`histlib.plots.training_curves` shades."""
        values = np.array([[row[column] for row in self.curves[seed]] for seed in self.seeds], dtype=float)
        return values.min(axis=0), values.max(axis=0)

    def bands(self, metrics=("recall@1", "map@r")) -> dict:
        """:meth:`curve_band` of the validation and test curves of ``metrics``, keyed as a history's rows
        (test only for runs without a validation split, ``selection="last"``)."""
        splits = ("val", "test") if self.validated else ("test",)
        return {f"{split}_{m}": self.curve_band(f"{split}_{m}") for m in metrics for split in splits}

    def table(self, columns: tuple[str, ...] = ("val_map@r",)) -> str:
        """Per column, one line per seed: its value at every epoch from 0 (the untrained network; metrics in
        percent) and the kept epoch. The same on every machine (read from the committed tables).

        >>> print(SeedRuns.read("notebook_glyphs").table(("val_map@r",)).splitlines()[:2])
        ['val MAP@R per epoch (0: the untrained network), results/notebook_glyphs_curves.csv', 'seed     0     1     2     3     4  kept']
        """
        epochs = len(self.curves[self.seeds[0]])
        blocks = []
        for column in columns:
            metric = column.startswith(("val_", "test_"))
            lines = [["seed"] + [str(e) for e in range(epochs)] + ["kept"]]
            for row in self.rows:
                values = [r.get(column) for r in self.curves[row["seed"]]]
                lines.append([str(row["seed"])] + ["-" if v is None else f"{100 * v:.1f}" if metric else f"{v:.3f}"
                                                   for v in values] + [str(row["selected_epoch"])])
            widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
            title = f"{column_name(column)} per epoch (0: the untrained network), results/{self.grid}_curves.csv"
            blocks.append("\n".join([title] + ["  ".join(t.rjust(w if i else 4) for i, (t, w) in
                                                          enumerate(zip(line, widths))) for line in lines]))
        return "\n".join(blocks)

    def claims(self, claims: dict) -> dict[str, tuple[int, int]]:
        """``{sentence: (seeds for which predicate(run) holds, seeds)}`` for ``{sentence: predicate}``."""
        runs = [self.run(seed) for seed in self.seeds]
        return {sentence: (sum(bool(predicate(run)) for run in runs), len(runs)) for sentence, predicate in claims.items()}

    def summary(self, metric: str) -> str:
        """``"MAP@R 34.0 +/- 1.2 (range 32.1-35.6, 5 seeds)"``, in percent."""
        v = self.values(metric)
        mean, std = mean_and_std(v)
        return (f"{metric_name(metric)} {_percent(mean)} +/- {_percent(std)} "
                f"(range {_percent(v.min())}-{_percent(v.max())}, {len(v)} seeds)")


def claims_report(counts: dict[str, tuple[int, int]]) -> str:
    """One line per claim: ``"in 5 of 5 seeds: <sentence>"``.

    >>> print(claims_report({"L_D falls in every epoch": (5, 5), "R@1 flattens": (4, 5)}))
    in 5 of 5 seeds: L_D falls in every epoch
    in 4 of 5 seeds: R@1 flattens
    """
    return "\n".join(f"{seed_count(*count)}: {sentence}" for sentence, count in counts.items())


def seed_count(hits: int, seeds: int) -> str:
    """``"in 5 of 5 seeds"`` / ``"in 4 of 5 seeds"``.

    >>> seed_count(5, 5), seed_count(3, 5)
    ('in 5 of 5 seeds', 'in 3 of 5 seeds')
    """
    return f"in {hits} of {seeds} seeds"


@dataclass(frozen=True)
class LiveRunCheck:
    """What a training notebook's live run must show, for any seed on any CPU.

    ``gain``: its test ``gain_metric`` is at least ``gain`` times the untrained network's. ``metrics``:
    each lies in the ``level`` prediction interval of one more seed from the committed seeds (their mean
    +/- Student's t quantile x their standard deviation x sqrt(1 + 1/n)), at least ``min_margin`` either
    side of the mean (a fraction: 0.01 is one point), clipped to [0, 1].
    """

    gain_metric: str = "map@r"
    gain: float = 2.0
    metrics: tuple[str, ...] = ("map@r", "recall@1")
    level: float = 0.99
    min_margin: float = 0.015
    kept: str = "its best validation epoch"  # what the run keeps, in words

    def band(self, seeds: SeedRuns, metric: str) -> tuple[float, float, float]:
        """(low, high, half-width) of ``metric``'s prediction interval for one more seed."""
        from scipy import stats

        values = seeds.values(metric)
        n, (mean, std) = len(values), mean_and_std(values)
        half = max(self.min_margin, float(stats.t.ppf(0.5 + self.level / 2, n - 1) * std * math.sqrt(1 + 1 / n)))
        return max(0.0, mean - half), min(1.0, mean + half), half

    def bands_text(self, seeds: SeedRuns, separator: str = "; ") -> str:
        """``"MAP@R in [low, high]; R@1 in [low, high]"``, in percent."""
        return separator.join(f"{metric_name(m)} in [{_percent(lo)}, {_percent(hi)}]"
                              for m in self.metrics for lo, hi, _ in [self.band(seeds, m)])

    def describe(self, seeds: SeedRuns) -> str:
        """The check in words, with its numbers (the same on every machine)."""
        bands = self.bands_text(seeds)
        return (f"the live run must finish, keep {self.kept}, reach test {metric_name(self.gain_metric)} "
                f">= {self.gain:g}x the untrained network's, and lie in the {100 * self.level:g} % prediction interval "
                f"of one more seed from the {len(seeds.rows)} committed seeds (at least {_percent(self.min_margin)} "
                f"points either side of their mean): {bands}")


#: Each training notebook's live-run check, by stand-in (the notebooks state these numbers): every
#: committed seed reaches at least 8.3x (glyphs), 2.9x (typefaces) and 2.2x (kanji) its untrained network.
LIVE_RUN_CHECKS = {
    "glyphs": LiveRunCheck(gain=5.0),
    "typefaces": LiveRunCheck(gain=2.0),
    "kanji": LiveRunCheck(gain=1.5),
}

#: Notebook 8's live run (the own-data example, a fixed budget): every committed seed reaches at least 1.16x.
OWN_LIVE_RUN_CHECK = LiveRunCheck(gain=1.1, kept="its last epoch (a fixed budget)")


def check_live_run(run: RunSummary, seeds: SeedRuns, check: LiveRunCheck, epochs: int,
                   selection_metric: str | None, *, patience: int | None = None, min_delta: float = 0.0) -> str:
    """Check a live run for what holds for any seed on any CPU (see :class:`LiveRunCheck`).
    ``selection_metric``: the validation metric that chose the kept epoch, or None for a fixed budget
    (``selection="last"``: the last epoch is kept). ``patience`` / ``min_delta``: the run's early
    stopping (:mod:`histlib.training.stopping`); ``epochs`` is then its most epochs.

    Returns one line naming what held (deterministic); on failure, :func:`fail` with the first
    measurement that does not hold, its band and what it means.
    """
    from ..training.stopping import kept_epoch, stops

    if selection_metric is None:
        if len(run.history) != epochs:
            return fail(f"the run has {len(run.history)} epochs, not the recipe's {epochs}: it did not finish")
        if run.selected_epoch != epochs - 1:
            return fail(f"the kept epoch is {run.selected_epoch + 1}, not the last ({epochs}) of a fixed budget: "
                        "the selection is broken")
        kept = "kept its last epoch"
    else:
        scores = [row[f"val_{selection_metric}"] for row in run.history]
        if not scores or not all(math.isfinite(s) for s in scores):
            return fail(f"the run's validation {metric_name(selection_metric)} is not a number in every epoch "
                        f"({scores}): it did not train to its end")
        ended = len(scores) == epochs or (len(scores) < epochs and stops(scores, patience, min_delta))
        early = [k for k in range(1, len(scores)) if stops(scores[:k], patience, min_delta)]
        if not ended or early:
            return fail(f"the run has {len(run.history)} epochs, not the recipe's {epochs}"
                        + (f" nor an early stop after {patience} epochs without a better validation score"
                           if patience is not None else "") + ": it did not finish")
        if run.selected_epoch + 1 != kept_epoch(scores, min_delta):
            return fail(f"the kept epoch ({run.selected_epoch + 1}) does not have the best validation "
                        f"{metric_name(selection_metric)} ({[round(100 * s, 1) for s in scores]}): the selection "
                        "is broken")
        kept = "kept its best validation epoch"
        if len(scores) < epochs:
            kept += f" (it stopped after epoch {len(scores)} of at most {epochs})"
    value, untrained = run.test_metrics[check.gain_metric], run.initial[f"test_{check.gain_metric}"]
    factor = run.over_untrained(check.gain_metric)[1]
    if not factor >= check.gain:
        return fail(f"test {metric_name(check.gain_metric)} = {_percent(value)} is less than {check.gain:g}x the "
                    f"untrained network's {_percent(untrained)} ({factor:.2f}x): this run did not learn "
                    "what every committed seed learns; the loss, the data or the recipe has changed")
    for metric in check.metrics:
        low, high, _ = check.band(seeds, metric)
        value = run.test_metrics[metric]
        if not (math.isfinite(value) and low <= value <= high):
            return fail(f"test {metric_name(metric)} = {_percent(value)} lies outside [{_percent(low)}, "
                        f"{_percent(high)}], the {100 * check.level:g} % prediction interval of one more seed from the "
                        f"{len(seeds.rows)} committed seeds ({seeds.summary(metric)}): this run differs from the "
                        "committed seeds by more than seed-to-seed noise. Its numbers are still valid, but the "
                        "notebook's sentences describe the committed seeds, not this run")
    return (f"OK: the run finished and {kept}; test {metric_name(check.gain_metric)} >= "
            f"{check.gain:g}x the untrained network's; {check.bands_text(seeds, ', ')} (the "
            f"{100 * check.level:g} % prediction interval of the {len(seeds.rows)} committed seeds)")
