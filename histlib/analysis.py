"""Small measurements the workbook makes of batches, hypergraphs and sweep tables.

- :func:`draw_batch`: a training batch exactly as the loop draws it (sampler, seed, augmentation).
- :func:`batch_composition`, :func:`expected_distinct_classes`: how many hyperedges a batch has and
  how many of them are singletons, measured and expected under random sampling.
- :func:`chance_recall_at_k`: the Recall@K a random ranking scores on a split with these class sizes.
- :func:`within_class_share`, :func:`uniform_within_class_share`: how much of G's weight stays
  within a class, and the value a uniform G (no structure) would give.
- :func:`term_gradients`: the gradient each loss term sends to each embedding.
- :func:`summarize`: mean, standard deviation and count of a metric per group of sweep rows.
- :func:`hgnn_learning_split`: sweep runs split by whether their HGNN learned, with the range of
  their soft memberships in other classes' hyperedges (the condition for G to carry class structure).
- :func:`seed_band` (a :class:`SeedBand`): the seed-to-seed spread of one point of a committed sweep
  table, the scale on which a single run's difference is judged; :func:`same_setting` matches a
  table's value of a setting with a config's.

A NaN, empty or text metric in a table is never averaged: these functions raise (or, for
:func:`seed_band`, return) a :class:`histlib.tables.MetricError`'s message naming the file, row and column.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import functional as HF
from .evaluation import mean_and_std
from .tables import MetricError, grouped_values, has_metric, metric_value, read_table, where

__all__ = [
    "draw_batch", "batch_composition", "expected_distinct_classes", "chance_recall_at_k", "within_class_share",
    "uniform_within_class_share", "term_gradients", "summarize", "compare_to_reference", "hgnn_learning_split",
    "SeedBand", "seed_band", "same_setting",
]


def draw_batch(dataset, config, epoch: int = 0, index: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch ``index`` of epoch ``epoch`` as :func:`histlib.training.fit` draws it from ``dataset``
    (the recipe's sampler, seeded by (seed, epoch), with the dataset's transform).

    Returns ``(images, labels)``: (B, 3, H, W) float and (B,) int64.
    """
    from .training import epoch_loader

    for i, (images, labels) in enumerate(epoch_loader(dataset, config, epoch)):
        if i == index:
            return images, labels.long()
    raise ValueError(f"epoch {epoch} has fewer than {index + 1} batches")


def batch_composition(labels: torch.Tensor | Sequence[int]) -> dict:
    """Hyperedges of a batch: one per class present.

    Returns ``classes`` (E), ``sizes`` (members per hyperedge, descending), ``singletons`` (hyperedges
    with one member) and ``samples`` (N).

    >>> batch_composition([3, 3, 5, 7])
    {'samples': 4, 'classes': 3, 'singletons': 2, 'sizes': [2, 1, 1]}
    """
    counts = Counter(int(y) for y in (labels.tolist() if torch.is_tensor(labels) else labels))
    sizes = sorted(counts.values(), reverse=True)
    return {"samples": sum(sizes), "classes": len(sizes), "singletons": sizes.count(1), "sizes": sizes}


def expected_distinct_classes(class_sizes: Iterable[int], batch_size: int) -> tuple[float, float]:
    """Expected number of classes and of singleton classes in a uniformly random batch (drawn
    without replacement) from a split with these class sizes.

    A class of n items out of N is absent with probability C(N-n, B) / C(N, B) and a singleton
    with probability n C(N-n, B-1) / C(N, B).

    >>> round(expected_distinct_classes([59] * 100, 32)[0], 1)   # CUB: a batch of 32 from 100 classes
    27.6
    """
    sizes = np.asarray(list(class_sizes), dtype=np.int64)
    total, b = int(sizes.sum()), int(batch_size)
    log_all = _log_comb(total, b)
    absent = np.exp([_log_comb(total - n, b) - log_all for n in sizes])
    single = np.array([n * math.exp(_log_comb(total - n, b - 1) - log_all) for n in sizes])
    return float(len(sizes) - absent.sum()), float(single.sum())


def chance_recall_at_k(class_sizes: Iterable[int], k: int) -> float:
    """Expected Recall@K of a random ranking: every image of a split of ``T`` images is a query
    against the ``T - 1`` others, and a query whose class has ``n`` images (``n - 1`` class-mates)
    misses them all in a random top K with probability C(T - n, K) / C(T - 1, K). A query without
    a class-mate always misses, as in :func:`histlib.evaluation.retrieval_metrics`.

    >>> round(chance_recall_at_k([2, 2], 1), 3)   # 4 images: one class-mate among 3 candidates
    0.333
    >>> chance_recall_at_k([2, 2], 3)             # K covers every candidate
    1.0
    >>> chance_recall_at_k([2, 2, 1], 4)          # the singleton's query never hits
    0.8
    """
    sizes = np.asarray(list(class_sizes), dtype=np.int64)
    total, k = int(sizes.sum()), int(k)
    if total < 2 or k < 1:
        raise ValueError(f"need at least 2 images and K >= 1, got {total} images and K = {k}")
    k = min(k, total - 1)  # a longer list than the candidates holds them all
    log_all = _log_comb(total - 1, k)
    hits = {int(n): 1.0 - math.exp(_log_comb(total - int(n), k) - log_all) for n in np.unique(sizes)}
    return float(sum(int(n) * hits[int(n)] for n in sizes) / total)


def _log_comb(n: int, k: int) -> float:
    if k < 0 or k > n:
        return -math.inf
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def within_class_share(propagation: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of the propagation matrix's total weight between samples of the same class.

    Args: propagation (N, N) G, labels (N,).
    """
    return float(HF.within_class_share(propagation, labels))


def uniform_within_class_share(labels: torch.Tensor) -> float:
    """:func:`within_class_share` of a uniform G (every entry equal): sum_c n_c^2 / N^2, the value
    that says "no structure".

    >>> uniform_within_class_share(torch.tensor([0, 0, 0, 0, 1, 1, 1, 1]))
    0.5
    """
    return float(HF.uniform_within_class_share(labels))


def term_gradients(loss, embeddings: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """The gradient of each loss term with respect to each embedding, as per-sample norms.

    ``loss`` is a :class:`histlib.HISTLoss`; its terms are the batch means, so the numbers are the
    size of the push each sample gets from ``L_D`` and from ``lambda_s * L_CE`` in one step.

    Returns ``{"distribution_loss": (N,), "hgnn_loss": (N,)}`` float tensors.
    """
    x = embeddings.detach().clone().requires_grad_(True)
    terms = loss.compute_terms(x, labels)
    grads = {}
    for name, value in (("distribution_loss", terms.distribution_loss), ("hgnn_loss", terms.weighted_hgnn_loss)):
        (grad,) = torch.autograd.grad(value, x, retain_graph=True, allow_unused=True)
        grads[name] = torch.zeros(len(x)) if grad is None else grad.norm(dim=1).detach()
    return grads


def summarize(rows: Iterable[dict], by: str | Sequence[str], metric: str) -> list[dict]:
    """Mean, sample standard deviation and count of ``metric`` per group of rows (sweep tables).

    Groups keep the order in which they first appear; a group where the metric does not apply (no
    row has it) is left out. A NaN, empty or text value in a group that has the metric raises
    :class:`histlib.tables.MetricError` naming the file, row and column: it is never averaged.

    >>> rows = [{"point": "a", "m": 0.5}, {"point": "a", "m": 0.7}, {"point": "b", "m": 0.1}]
    >>> [(s["point"], round(s["mean"], 2), round(s["std"], 3), s["n"]) for s in summarize(rows, "point", "m")]
    [('a', 0.6, 0.141, 2), ('b', 0.1, nan, 1)]
    """
    keys = (by,) if isinstance(by, str) else tuple(by)
    groups = grouped_values(_check_columns(rows, (*keys, metric)), keys, metric)
    out = []
    for key, members in groups.items():
        values = [value for _, value in members]
        out.append({**dict(zip(keys, key)), **dict(zip(("mean", "std"), mean_and_std(values))), "n": len(values)})
    return out


def _check_columns(rows: Iterable[dict], columns: Sequence[str]) -> list[dict]:
    """``rows`` as a list; a ValueError naming any column that no row has (a typo would otherwise pool
    every row into one group, or give nothing)."""
    rows = list(rows)
    present = {column for row in rows for column in row}
    missing = [column for column in dict.fromkeys(columns) if column not in present]
    if rows and missing:
        raise ValueError(f"no row has the column(s) {missing}; the rows have {sorted(present)}")
    return rows


def compare_to_reference(rows: Iterable[dict], key: str, reference, metric: str) -> list[dict]:
    """Each point of a sweep against the reference point (the recipe's setting), seed by seed.

    Runs of one seed share their initialisation and validation classes, so each point is compared
    with the reference over the seeds both have (:func:`histlib.statistics.paired_comparison`); a
    point whose seeds differ from the reference's is refused (``UnpairedError``). Returns, per point
    (in order of appearance): ``mean``, ``std``, ``n``, ``difference`` (mean of the per-seed
    differences, point minus reference), ``ci_low`` / ``ci_high`` (its 95 % interval), ``p_value``
    (paired t-test, uncorrected; NaN with fewer than 2 seeds or identical differences), ``wins``
    (seeds where the point is above the reference). A NaN, empty or text score raises
    :class:`histlib.tables.MetricError` naming its row. These are exploratory: no verdict without a
    declared comparison (``histlib.verdicts``), and a large p means "no difference shown", never "equal".

    >>> rows = [{"k": 0, "seed": s, "m": v} for s, v in zip((1, 2, 3), (0.50, 0.52, 0.51))]
    >>> rows += [{"k": 1, "seed": s, "m": v} for s, v in zip((1, 2, 3), (0.30, 0.31, 0.29))]
    >>> out = compare_to_reference(rows, "k", 0, "m")
    >>> [(r["k"], round(r["difference"], 2), r["p_value"] < 0.01, r["wins"]) for r in out]
    [(0, 0.0, False, 0), (1, -0.21, True, 0)]
    """
    from .statistics import UnpairedError, paired_comparison

    rows = _check_columns(rows, (key, metric, "seed"))
    by_point: dict = {}
    for (point,), members in grouped_values(rows, (key,), metric).items():
        seeds = by_point[point] = {}
        for row, value in members:
            if row["seed"] in seeds:
                raise ValueError(f"{where(row)}: {key} = {point!r} has seed {row['seed']} twice; one row per "
                                 "(point, seed)")
            seeds[row["seed"]] = value
    if reference not in by_point:
        raise ValueError(f"no row has {key} = {reference!r}; points: {list(by_point)}")
    base = by_point[reference]
    out = []
    for point, scores in by_point.items():
        mean, std = mean_and_std(list(scores.values()))
        row = {key: point, "mean": mean, "std": std, "n": len(scores)}
        if point == reference:
            row.update(difference=0.0, ci_low=0.0, ci_high=0.0, p_value=1.0, wins=0)
        elif set(scores) != set(base):
            raise UnpairedError(f"{key} = {point!r} has seeds {sorted(scores)}, the reference {reference!r} "
                                f"{sorted(base)}: run both with the same seeds to compare them")
        elif len(scores) < 2:  # one seed: its difference, no interval
            (seed,) = scores
            row.update(difference=scores[seed] - base[seed], ci_low=math.nan, ci_high=math.nan, p_value=math.nan,
                       wins=int(scores[seed] > base[seed]))
        else:
            c = paired_comparison(scores, base)
            row.update(difference=c.difference, ci_low=c.ci_low, ci_high=c.ci_high, p_value=c.p, wins=c.wins)
        out.append(row)
    return out


def hgnn_learning_split(rows: Iterable[dict], learned_below: float = 0.5) -> dict:
    """HIST runs (sweep rows with HIST's training statistics, each run once by ``fingerprint``) split
    into those whose HGNN learned (``L_CE / log C`` below ``learned_below`` in the selected epoch)
    and the rest, with the range of each group's statistics.

    Returns a dict with ``learned`` and ``not_learned`` (run counts) and, per group, the (min, max)
    of ``membership`` (mean soft membership in other classes' hyperedges), ``ratio``
    (``L_CE / log C``) and ``accuracy`` (the HGNN's, on training batches): e.g.
    ``split["learned"]["membership"]``. A group without runs has (nan, nan).

    >>> rows = [{"fingerprint": "a", "train_hgnn_loss_ratio": 0.1, "train_other_membership": 0.2, "train_hgnn_accuracy": 0.9},
    ...         {"fingerprint": "b", "train_hgnn_loss_ratio": 1.0, "train_other_membership": 14.0, "train_hgnn_accuracy": 0.0}]
    >>> split = hgnn_learning_split(rows)
    >>> split["learned"]["runs"], split["not_learned"]["membership"]
    (1, (14.0, 14.0))
    """
    runs = {row["fingerprint"]: row for row in rows if row.get("train_hgnn_loss_ratio") is not None}
    columns = {"membership": "train_other_membership", "ratio": "train_hgnn_loss_ratio",
               "accuracy": "train_hgnn_accuracy"}
    values = [{name: metric_value(r, column) for name, column in columns.items()} for r in runs.values()]
    out = {}
    for group, member in (("learned", True), ("not_learned", False)):
        chosen = [v for v in values if (v["ratio"] < learned_below) == member]
        out[group] = {"runs": len(chosen), **{
            name: (min(v[name] for v in chosen), max(v[name] for v in chosen)) if chosen else (math.nan, math.nan)
            for name in columns}}
    return out


def same_setting(a, b) -> bool:
    """Whether two values of a setting are the same; numbers compare with a tolerance (a table's 1.1
    and a config's 1.1 after a round trip through text or a slider).

    >>> same_setting(1.1, 1.1000000000000001), same_setting(1, 1.0), same_setting("hist", "hist"), same_setting(0.5, 1)
    (True, True, True, False)
    """
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b))
    return a == b


@dataclass(frozen=True)
class SeedBand:
    """The seed-to-seed spread of one setting in a committed sweep table.

    ``values`` are the seeds' scores (fractions); ``mean`` and ``std`` (sample standard deviation)
    summarise them; ``description`` says what was trained; ``source`` is the table's path.
    """

    metric: str
    values: tuple[float, ...]
    mean: float
    std: float
    description: str
    source: str


def seed_band(table: str | Path, key: str, value, metric: str = "val_map@r") -> SeedBand | str:
    """The band of the point ``key == value`` of a sweep table (e.g. ``results/lambda_s.csv``,
    ``lambda_s``, 1.0), or a sentence saying why there is none (no table, no such point, one seed).
    """
    table = Path(table)
    rows = read_table(table)
    if not rows:
        return f"No committed sweep table at {table}: run `python -m histlib.sweep {table.stem}` to draw the band."
    rows = [r for r in rows if same_setting(r.get(key), value)]
    if not any(has_metric(r, metric) for r in rows):
        return f"{table.name} has no run with {key} = {value} and a {metric} column: no band to draw."
    try:
        values = [metric_value(r, metric) for r in rows]
    except MetricError as error:
        return f"No band: {error}"
    summary = summarize(rows, key, metric)[0]
    if summary["n"] < 2:
        return f"{table.name} has only one seed of {key} = {value}: no spread to draw."
    epochs = sorted({r["epochs"] for r in rows if r.get("epochs") is not None})
    trained = f"{'/'.join(map(str, epochs))} epochs" if epochs else "the sweep's budget"
    description = (f"the recipe trained from scratch for {trained}, {summary['n']} seeds (each with its own "
                   f"validation classes): mean +/- std")
    return SeedBand(metric, tuple(values), summary["mean"], summary["std"], description, str(table))
