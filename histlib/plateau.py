"""Did a table's runs reach their plateau? The distribution of the epochs they selected.

A run that selects the last epoch it was allowed was still improving when it stopped: its score is
a point on a rising curve, and comparing it with another run compares two speeds, not two optima.
The rule of the analysis (issue "Experiments that can answer their questions"): at most
:data:`MAX_AT_LAST` of a table's runs may select their last allowed epoch.

    >>> rows = [{"selected_epoch": e, "epochs": 8} for e in (8, 8, 5, 3)]
    >>> selected = selected_epochs(rows)
    >>> selected.at_last, selected.runs, selected.plateaued
    (2, 4, False)
    >>> selected.describe()
    '2/4 runs (50 %) select their last allowed epoch (8); selected epochs: 3 x1, 5 x1, 8 x2'

A run trained with early stopping (``patience``, with its ``epochs_run``) counts as at its last allowed
epoch when it trained to the cap before its patience ran out (its kept epoch is within the last
``patience``), whichever epoch it kept; one that stopped early does not. ``python -m histlib.plateau`` prints the
distribution of every table under ``results/`` and writes ``results/selected_epochs.csv``.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .tables import TableError, read_table, write_table

__all__ = ["SelectedEpochs", "selected_epochs", "table_report", "replay", "MAX_AT_LAST"]

#: The largest share of a table's runs that may select their last allowed epoch.
MAX_AT_LAST = 0.2


@dataclass(frozen=True)
class SelectedEpochs:
    """The selected epochs of a set of runs. ``counts``: selected epoch -> runs; ``at_last``: runs
    whose selected epoch is their last allowed one; ``most``: the largest allowed epochs among them."""

    counts: dict[int, int]
    at_last: int
    most: int

    @property
    def runs(self) -> int:
        return sum(self.counts.values())

    @property
    def share_at_last(self) -> float:
        return self.at_last / self.runs if self.runs else float("nan")

    @property
    def plateaued(self) -> bool:
        """Whether at most :data:`MAX_AT_LAST` of the runs select their last allowed epoch."""
        return self.runs > 0 and self.share_at_last <= MAX_AT_LAST

    def describe(self) -> str:
        spread = ", ".join(f"{epoch} x{n}" for epoch, n in sorted(self.counts.items()))
        return (f"{self.at_last}/{self.runs} runs ({100 * self.share_at_last:.0f} %) select their last allowed "
                f"epoch ({self.most}); selected epochs: {spread}")


def selected_epochs(rows) -> SelectedEpochs:
    """The distribution over ``rows``, each with a ``selected_epoch`` and the most epochs it was allowed:
    ``epochs`` (a sweep's table) or ``epochs_allowed`` (a trials table; older ones record only
    ``epochs_trained``, which a completed trial without early stopping trained in full). Rows without
    a selected epoch, and trials that did not complete (pruned or failed), are left out."""
    counts, at_last, most = Counter(), 0, 0
    for row in rows:
        if row.get("state") not in (None, "", "COMPLETE"):
            continue
        selected = row.get("selected_epoch")
        allowed = next((row[c] for c in ("epochs", "epochs_allowed", "epochs_trained") if row.get(c) not in (None, "")),
                       None)
        if selected in (None, "") or allowed is None:
            continue
        selected, allowed = int(selected), int(allowed)
        if not 1 <= selected <= allowed:
            raise TableError(f"{getattr(row, 'source', 'a row')}, line {getattr(row, 'line', '?')}: selected epoch "
                             f"{selected} lies outside the {allowed} allowed epochs")
        counts[selected] += 1
        ran = row.get("epochs_run", row.get("epochs_trained"))
        if row.get("patience") not in (None, "") and ran not in (None, ""):
            # early stopping: at its last epoch when it trained to the cap before its patience ran out
            at_last += int(ran) == allowed and selected > allowed - int(row["patience"])
        else:
            at_last += selected == allowed
        most = max(most, allowed)
    return SelectedEpochs(dict(counts), at_last, most)


def replay(curves: dict, patience: int, min_delta: float, most: int) -> list[dict]:
    """The early-stopping rule replayed on recorded validation curves (``{run: [score per epoch]}``, each
    at least ``most`` epochs long): per run, the epochs it would train (``epochs_run``), the epoch it
    would keep (``kept``), whether that is its last allowed one, and the score it gives up against the
    best of its first ``most`` epochs (``given_up``, in the score's units).

    >>> replay({"a": [0.1, 0.5, 0.6, 0.6, 0.6, 0.61]}, patience=2, min_delta=0.02, most=6)
    [{'run': 'a', 'epochs_run': 5, 'kept': 3, 'at_last': False, 'given_up': 0.01}]
    """
    from .training.stopping import kept_epoch, stops

    out = []
    for run, scores in curves.items():
        scores = list(scores)[:most]
        if len(scores) < most:
            raise ValueError(f"run {run!r} has {len(scores)} recorded epochs: replaying {most} needs as many")
        ran = next((k for k in range(1, most + 1) if stops(scores[:k], patience, min_delta)), most)
        kept = kept_epoch(scores[:ran], min_delta)
        out.append({"run": run, "epochs_run": ran, "kept": kept, "at_last": kept == most,
                    "given_up": round(max(scores) - scores[kept - 1], 6)})
    return out


def table_report(results: Path) -> list[dict]:
    """One row per table under ``results`` that records selected epochs: its distribution and whether
    the runs plateaued (trials tables: their completed trials), and what its rows cost (``hours``: the sum of
    their ``seconds``, wall time of one run each; a run shared by two tables is counted in both)."""
    report = []
    for path in sorted(Path(results).glob("*.csv")):
        if path.stem.endswith("_curves") or path.stem == "selected_epochs":
            continue
        rows = read_table(path)
        if not rows or "selected_epoch" not in rows[0]:
            continue
        selected = selected_epochs(rows)
        if selected.runs == 0:
            continue
        fixed = _fixed_budget(rows)
        seconds = [row["seconds"] for row in rows if isinstance(row.get("seconds"), (int, float))]
        report.append({"table": path.name, "runs": selected.runs, "at_last": selected.at_last,
                       "share_at_last": round(selected.share_at_last, 3), "most_epochs": selected.most,
                       "plateaued": "fixed budget" if fixed else selected.plateaued,
                       "selected_epochs": " ".join(f"{e}:{n}" for e, n in sorted(selected.counts.items())),
                       "hours": round(sum(seconds) / 3600, 2) if seconds else None})
    return report


def _fixed_budget(rows) -> bool:
    """Whether a sweep table's grid keeps the last epoch by design (``selection="last"``): its runs
    select no epoch, so the rule does not apply to them."""
    from .training import get_config
    from .training.grids import GRIDS

    grid = GRIDS.get(rows[0].get("grid") or "")
    return grid is not None and get_config(grid.base, **{k: v for k, v in grid.fixed.items()
                                                         if k == "selection"}).selection == "last"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m histlib.plateau", description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--no-write", action="store_true", help="print only; do not write selected_epochs.csv")
    args = parser.parse_args(argv)
    report = table_report(args.results)
    width = max((len(r["table"]) for r in report), default=5)
    for row in report:
        flag = {True: "ok   ", False: "NOT  ", "fixed budget": "fixed"}[row["plateaued"]]
        print(f"{flag} {row['table']:<{width}}  {row['at_last']:>3}/{row['runs']:<3} at their last allowed epoch "
              f"({row['most_epochs']}); selected: {row['selected_epochs']}"
              + (f"; {row['hours']:.2f} h" if row["hours"] is not None else ""))
    if not args.no_write:
        write_table(args.results / "selected_epochs.csv", report)
        print(f"wrote {args.results / 'selected_epochs.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
