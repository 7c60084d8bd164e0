"""The primary comparisons computed from the committed tables: ``results/verdicts.csv``.

    python -m histlib.verdicts              # recompute results/verdicts.csv from the tables
    python -m histlib.verdicts --markdown   # print them as the table notebook 7 and the README show

Each row is one :data:`~histlib.training.comparisons.PRIMARY` comparison: A against B over the seeds
both were run with (:func:`histlib.statistics.paired_comparison`), the two one-sided tests against
the regime's margin, Holm's correction within the comparison's family (once for the paired p-values,
once for the equivalence p-values), and the verdict phrase of :func:`histlib.statistics.verdict`.
Every number can be recomputed from the row's ``source`` table, its ``a`` and ``b`` (values of that
table's ``point`` column) and ``metric``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .plateau import selected_epochs
from .statistics import equivalence_p, holm, paired_comparison, verdict, verdict_word
from .tables import TableError, metric_value, read_table, where, write_table
from .training.comparisons import PRIMARY, Comparison
from .training.grids import GRIDS, PRIMARY_SEEDS, point_label

__all__ = ["seed_scores", "compute", "render_markdown", "read_verdicts", "MIN_PAIRS", "Exploratory", "EXPLORATORY",
           "render_exploratory", "main"]

#: The fewest paired seeds a primary comparison is computed from.
MIN_PAIRS = len(PRIMARY_SEEDS)


def seed_scores(rows: Iterable[dict], point: str, metric: str) -> dict[int, float]:
    """``{seed: metric}`` of the rows of one ``point`` (a value of the table's ``point`` column); a
    :class:`histlib.tables.MetricError` naming the table, row, point, seed and column where a value is
    missing or not a number."""
    scores = {}
    for row in rows:
        if row.get("point") != point:
            continue
        value = metric_value(row, metric)
        if row.get("seed") in scores:
            raise ValueError(f"{where(row)}: point {point!r} has seed {row.get('seed')} twice")
        scores[row["seed"]] = value
    return scores


def _source(name: str, results: Path) -> tuple[Path, list[dict], dict[str, dict]]:
    """A comparison source's table path, rows and named points (read once per :func:`compute`)."""
    table = Path(results) / f"{name}.csv"
    rows = read_table(table)
    if not rows:
        raise FileNotFoundError(f"{table} is missing or empty: run `python -m histlib.sweep {name}`")
    return table, rows, GRIDS[name].named_points(results)


def _comparison_row(comparison: Comparison, source: tuple[Path, list[dict], dict[str, dict]]) -> dict:
    table, rows, named = source
    labels = {}
    for side in (comparison.a, comparison.b):
        if side not in named:
            raise ValueError(f"comparison {comparison.claim!r}: grid {comparison.source!r} has no point {side!r} "
                             f"(it has {list(named)})")
        labels[side] = point_label(named[side])
    a = seed_scores(rows, labels[comparison.a], comparison.metric)
    b = seed_scores(rows, labels[comparison.b], comparison.metric)
    result = paired_comparison(a, b)
    epochs = selected_epochs([row for row in rows if row.get("point") in (labels[comparison.a], labels[comparison.b])])
    if result.n_pairs < MIN_PAIRS:
        raise ValueError(f"{table}: {comparison.a} vs {comparison.b} has {result.n_pairs} paired seeds, a primary "
                         f"comparison needs {MIN_PAIRS}: run `python -m histlib.sweep {comparison.source}`")
    return {"family": comparison.family, "claim": comparison.claim, "regime": comparison.regime,
            "source": f"results/{comparison.source}.csv", "a": labels[comparison.a], "b": labels[comparison.b],
            "a_name": comparison.a_name, "b_name": comparison.b_name, "metric": comparison.metric,
            "margin": comparison.margin, "margin_reason": comparison.margin_reason, "n_pairs": result.n_pairs,
            "difference": result.difference, "ci_low": result.ci_low, "ci_high": result.ci_high, "p": result.p,
            "wins": result.wins, "losses": result.losses,
            "p_equivalence": equivalence_p(result.differences, comparison.margin),
            "runs_at_last_epoch": epochs.at_last, "runs_compared": epochs.runs,
            "plateau": "plateau" if epochs.plateaued else
            f"not at a plateau: {epochs.at_last} of {epochs.runs} runs select their last allowed epoch"}


def compute(results: Path, comparisons: Sequence[Comparison] = PRIMARY) -> list[dict]:
    """One row per comparison (in order), Holm-corrected within each family, with its verdict."""
    sources = {name: _source(name, results) for name in dict.fromkeys(c.source for c in comparisons)}
    rows = [_comparison_row(c, sources[c.source]) for c in comparisons]
    for family in dict.fromkeys(row["family"] for row in rows):
        members = [row for row in rows if row["family"] == family]
        for column in ("p", "p_equivalence"):
            for row, adjusted in zip(members, holm([row[column] for row in members])):
                row[f"{column}_holm"] = adjusted
    for row in rows:
        row["verdict"] = verdict(row["a_name"], row["difference"], row["ci_low"], row["ci_high"], row["p_holm"],
                                 row["p_equivalence_holm"], row["margin"])
    order = ("family", "claim", "regime", "source", "a", "b", "a_name", "b_name", "metric", "margin", "n_pairs",
             "difference", "ci_low", "ci_high", "p", "p_holm", "p_equivalence", "p_equivalence_holm", "wins",
             "losses", "verdict", "runs_at_last_epoch", "runs_compared", "plateau", "margin_reason")
    return [{column: row[column] for column in order} for row in rows]


def read_verdicts(path: Path) -> list[dict]:
    """The committed ``verdicts.csv`` (typed rows); a clear error when it is missing."""
    rows = read_table(path)
    if not rows:
        raise FileNotFoundError(f"{path} is missing or empty: run `python -m histlib.verdicts`")
    for row in rows:
        verdict_word(row["verdict"], row["a_name"])  # a hand-edited verdict is refused
    return rows


def render_markdown(rows: Sequence[dict]) -> str:
    """The verdicts as a Markdown table (MAP@R points; the interval is the uncorrected 95 % one)."""
    lines = ["| family | claim | regime | A vs B | seeds (A ahead) | A - B [95 % CI] | p (Holm) | verdict | "
             "runs at their last epoch |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['family']} | {row['claim']} | {row['regime']} | {row['a_name']} vs {row['b_name']} | "
                     f"{row['n_pairs']} ({row['wins']}) | {100 * row['difference']:+.1f} "
                     f"[{100 * row['ci_low']:+.1f}, {100 * row['ci_high']:+.1f}] | {row['p_holm']:.3g} | "
                     f"**{row['verdict']}** | {row['runs_at_last_epoch']}/{row['runs_compared']}"
                     f"{'' if row['plateau'] == 'plateau' else ' (not at a plateau)'} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Exploratory:
    """A comparison shown with its interval and no verdict: points of a one-setting sweep (``key``)
    against its ``reference``, over the seeds they share. ``limit`` says what keeps it from answering;
    ``{hgnn}`` in it is replaced by the mean ``L_CE / log C`` of each point, reference first."""

    question: str
    source: str
    key: str
    reference: object
    points: tuple
    limit: str
    names: tuple = ()


_HGNN_AT_CHANCE = ("`L_CE / log C` {hgnn}: the HGNN never learned at the recipe's alpha, so the sweep cannot say "
                   "what this setting does where it learns")

#: What the README and notebook 7 show without a verdict (from-scratch glyphs unless the question says otherwise).
EXPLORATORY = (
    Exploratory("the hypergraph term at the recipe (lambda_s 0, 4 vs 1)", "lambda_s", "lambda_s", 1.0, (0.0, 4.0),
                _HGNN_AT_CHANCE),
    Exploratory("soft membership (alpha 4, 16 vs 1.1)", "alpha", "alpha", 1.1, (4.0, 16.0),
                "`L_CE / log C` {hgnn}: the HGNN learns only from alpha 4"),
    Exploratory("temperature of `L_D` (tau 4, 64 vs 32)", "tau", "tau", 32.0, (4.0, 64.0),
                "`L_CE / log C` {hgnn}: a small tau also lets the HGNN learn a little"),
    Exploratory("HGNN depth (1, 3, 4 layers vs 2)", "depth", "hgnn_layers", 2, (1, 3, 4), _HGNN_AT_CHANCE),
    Exploratory("HGNN width (32, 512 vs 128)", "width", "hgnn_hidden", 128, (32, 512), _HGNN_AT_CHANCE),
    Exploratory("batch size at a fixed number of epochs (16, 32, 128 vs 64)", "batch", "batch_size", 64,
                (16, 32, 128), "a smaller batch takes more optimiser steps in the same epochs; only HIST was run"),
    Exploratory("m-per-class sampling (m = 4 vs random)", "sampler", "images_per_class", None, (4,),
                "`L_CE / log C` {hgnn}; an m-per-class batch of 64 holds 16 classes"),
    Exploratory("where the HGNN learns (alpha 16, tau 32): `L_D` alone and G = I vs HIST", "controls", "point",
                "alpha=16.0 tau=32.0",
                ("alpha=16.0 tau=32.0 lambda_s=0.0", "alpha=16.0 tau=32.0 hgnn_propagation=identity"),
                "hand-picked setting, not the tuned HIST (the primary comparisons ask this there)",
                names=("L_D alone", "G = I")),
    Exploratory("where the HGNN learns (alpha 2, tau 4): `L_D` alone and G = I vs HIST", "controls", "point",
                "alpha=2.0 tau=4.0", ("alpha=2.0 tau=4.0 lambda_s=0.0", "alpha=2.0 tau=4.0 hgnn_propagation=identity"),
                "hand-picked setting, not the tuned HIST (the primary comparisons ask this there)",
                names=("L_D alone", "G = I")),
    Exploratory("SOP-shaped `kanji` (own recipe, 4 epochs, untuned): `L_D` alone and Proxy-Anchor vs HIST",
                "regime_kanji", "point", "lambda_s=1.0", ("lambda_s=0.0", "loss=proxy_anchor"),
                "`L_CE / log C` {hgnn}: the HGNN never learned; untuned and unconverged",
                names=("L_D alone", "Proxy-Anchor")),
    Exploratory("Cars-shaped `typefaces` (own recipe, 4 epochs, untuned): `L_D` alone and Proxy-Anchor vs HIST",
                "regime_typefaces", "point", "lambda_s=1.0", ("lambda_s=0.0", "loss=proxy_anchor"),
                "every loss below 4 % MAP@R; untuned and unconverged", names=("L_D alone", "Proxy-Anchor")),
)


def _interval(row: dict) -> str:
    return f"{100 * row['difference']:+.1f} [{100 * row['ci_low']:+.1f}, {100 * row['ci_high']:+.1f}]"


def render_exploratory(results: Path, comparisons: Sequence[Exploratory] = EXPLORATORY) -> str:
    """The rows of the README's exploratory table: per question, each point's paired difference from
    the reference with its 95 % interval (``compare_to_reference``), and what limits it."""
    from .analysis import compare_to_reference, summarize

    lines = []
    for c in comparisons:
        rows = read_table(Path(results) / f"{c.source}.csv")
        if not rows:
            raise FileNotFoundError(f"{Path(results) / c.source}.csv is missing: run "
                                    f"`python -m histlib.sweep {c.source}`")
        if c.key == "point":
            rows = [r for r in rows if r["point"] in (c.reference, *c.points)]
        by_point = {r[c.key]: r for r in compare_to_reference(rows, c.key, c.reference, "test_map@r")}
        names = c.names or tuple(f"{c.key} {point}" for point in c.points)
        measured = "; ".join(f"{name}: {_interval(by_point[point])}" for name, point in zip(names, c.points))
        seeds = {by_point[point]["n"] for point in (c.reference, *c.points)}
        hgnn = {s[c.key]: s["mean"] for s in summarize(rows, c.key, "train_hgnn_loss_ratio")}
        ratios = " / ".join(f"{hgnn[point]:.2f}" for point in (c.reference, *c.points) if point in hgnn)
        limit = c.limit.format(hgnn=ratios) + ("" if seeds == {3} else f" ({'/'.join(map(str, sorted(seeds)))} seeds)")
        lines.append(f"| {c.question} | {measured} | {limit} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from .paths import RESULTS

    parser = argparse.ArgumentParser(prog="python -m histlib.verdicts", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"table folder (default {RESULTS})")
    parser.add_argument("--markdown", action="store_true", help="print the committed verdicts as a Markdown table")
    parser.add_argument("--exploratory", action="store_true", help="print the exploratory comparisons' table rows")
    args = parser.parse_args(argv)
    path = args.results / "verdicts.csv"
    try:
        if args.markdown:
            print(render_markdown(read_verdicts(path)))
            return 0
        if args.exploratory:
            print(render_exploratory(args.results))
            return 0
        rows = compute(args.results)
    except (FileNotFoundError, ValueError, TableError) as error:
        print(f"python -m histlib.verdicts: {error}", file=sys.stderr)
        return 1
    write_table(path, rows)
    for row in rows:
        print(f"{row['family']:<11} {row['regime']:<12} {row['a_name']} vs {row['b_name']}: {row['verdict']} "
              f"(p = {row['p']:.3g}, Holm {row['p_holm']:.3g}; equivalence Holm {row['p_equivalence_holm']:.3g})")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
