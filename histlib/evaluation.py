"""Retrieval evaluation (docs/hist.md, section "Evaluation protocol"): embed a split, Recall@K, MAP@R, R-Precision, NMI.

Every item of the split is a query against all the others (the query itself excluded, by index,
so a duplicate embedding is still a valid neighbour); similarity is the cosine of L2-normalised
embeddings. Results are exact (no approximate search); similarities are computed in row chunks,
so memory stays O(chunk * N) and no N x N matrix is ever formed.

Names follow pytorch-metric-learning's ``AccuracyCalculator`` where the metric is the same
(``precision_at_1``, ``r_precision``, ``NMI``); its ``mean_average_precision_at_r`` is ``map@r``
here (see :data:`PML_NAMES`). ``AccuracyCalculator`` has no Recall@K: its ``precision_at_k`` is
the *fraction* of same-class items among the k nearest neighbours, whereas the deep-metric-
learning Recall@K is the fraction of queries with *at least one* same-class item among them.
The two agree only for k = 1 (on the queries that have a same-class item).

How it is built (as open-metric-learning builds its metrics): one similarity kernel
(``_similarity_chunks``: query rows against the gallery, chunk by chunk, each query's own entry
excluded) serves :func:`nearest_neighbours` and the ranking step, which keeps per query only what
the metrics read: its number of positives R, the rank of its nearest positive (Recall@K,
Precision@1) and which of its first R ranks hold a positive (MAP@R, R-Precision); never a
top-1000 per row. Each metric is a small function from those statistics to one value per query
(:func:`recall_at_k`, :func:`precision_at_1`, :func:`average_precision_at_r`,
:func:`r_precision`), averaged by :func:`retrieval_metrics`: a new metric is a new function, not
a change to the kernel.

Example:
    >>> import torch
    >>> x = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [-1.0, 0.2]])
    >>> y = torch.tensor([0, 0, 1, 1, 2])
    >>> m = retrieval_metrics(x, y, ks=(1, 2))
    >>> m["recall@1"], m["map@r"], m["precision_at_1"]   # item 4 is a singleton: a miss
    (0.8, 1.0, 1.0)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .runtime import pick_device

__all__ = [
    "column_name",
    "embed",
    "nearest_neighbours",
    "retrieval_metrics",
    "recall_at_k",
    "precision_at_1",
    "average_precision_at_r",
    "r_precision",
    "normalized_mutual_information",
    "chance_nmi",
    "aggregate_runs",
    "mean_and_std",
    "format_recall_table",
    "PAPER_KS",
    "PML_NAMES",
    "METRIC_NAMES",
    "metric_name",
]

#: Recall@K columns of the paper's tables per benchmark.
PAPER_KS = {"cub": (1, 2, 4, 8), "cars": (1, 2, 4, 8), "sop": (1, 10, 100, 1000)}

#: histlib metric name -> pytorch-metric-learning AccuracyCalculator name, where both exist.
PML_NAMES = {
    "precision_at_1": "precision_at_1",
    "map@r": "mean_average_precision_at_r",
    "r_precision": "r_precision",
    "NMI": "NMI",
}

#: Display name of each metric in tables, figures and check sentences (``recall@K`` is ``R@K``).
METRIC_NAMES = {"map@r": "MAP@R", "r_precision": "R-Precision", "precision_at_1": "Precision@1", "NMI": "NMI"}


def metric_name(metric: str) -> str:
    """Display name of a metric key.

    >>> metric_name("recall@4"), metric_name("map@r"), metric_name("r_precision")
    ('R@4', 'MAP@R', 'R-Precision')
    """
    return METRIC_NAMES.get(metric, metric.replace("recall@", "R@"))


def column_name(column: str) -> str:
    """Display name of a history / table column: a split's metric by its split and display name, any
    other column as it is.

    >>> column_name("val_map@r"), column_name("test_recall@1"), column_name("train_loss")
    ('val MAP@R', 'test R@1', 'train_loss')
    """
    split, _, metric = column.partition("_")
    return f"{split} {metric_name(metric)}" if split in ("val", "test") else column


_CHUNK_BYTES = 128 * 2**20  # similarity rows held at once


# -- embedding a split ---------------------------------------------------------------------


def embed(
    model: torch.nn.Module,
    dataset: torch.utils.data.Dataset,
    batch_size: int = 128,
    device: str | torch.device | None = None,
    num_workers: int = 0,
    progress: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings and labels of a whole split, in eval mode and dataset order.

    Runs on ``device`` (default: CUDA when available, else CPU); on CUDA under float16 autocast.
    The model's train/eval mode is restored afterwards.

    Args:
        model: maps an image batch (B, 3, H, W) to embeddings (B, D).
        dataset: yields ``(image tensor, int label)``; images must already be tensors (give
            the dataset an eval transform).
    Returns:
        ``(embeddings, labels)``: (N, D) float32 and (N,) int64, on the CPU.
    """
    if len(dataset) == 0:
        raise ValueError("embed() got an empty dataset")
    first = dataset[0]
    if not (isinstance(first, (tuple, list)) and len(first) == 2 and torch.is_tensor(first[0])):
        raise ValueError(
            "embed() needs a dataset of (image tensor, label) pairs; got items of type "
            f"{type(first[0] if isinstance(first, (tuple, list)) else first).__name__}. "
            "Build the dataset with an eval transform (e.g. histlib.data transforms)."
        )
    device = pick_device(device)
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
        pin_memory=device.type == "cuda",
    )
    was_training = model.training
    model.eval().to(device)
    chunks, labels = [], []
    try:
        with torch.inference_mode(), torch.autocast(
            device.type, dtype=torch.float16, enabled=device.type == "cuda"
        ):
            for images, batch_labels in tqdm(loader, desc="embed", disable=not progress, leave=False):
                chunks.append(model(images.to(device, non_blocking=True)).float().cpu())
                labels.append(torch.as_tensor(batch_labels))
    finally:
        model.train(was_training)
    return torch.cat(chunks), torch.cat(labels).long()


# -- metrics ---------------------------------------------------------------------------------


def nearest_neighbours(
    queries: torch.Tensor,
    k: int,
    reference: torch.Tensor | None = None,
    query_in_reference: torch.Tensor | None = None,
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest reference items of each query by cosine similarity, exact and chunked.

    Args:
        queries: (Q, D) float embeddings (normalised here).
        k: neighbours per query (at most the reference size, minus one when excluding).
        reference: (R, D) float; default the queries themselves (each query then excludes itself).
        query_in_reference: (Q,) int, the index of each query in ``reference`` (-1: not in it),
            excluded from its own neighbours; default ``arange(Q)`` when ``reference`` is None,
            else nothing excluded.
        chunk_size: query rows per similarity chunk (default: about 128 MB of similarities).
    Returns:
        ``(similarities, indices)``: (Q, k) each, nearest first (ties in arbitrary order).

    >>> x = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> nearest_neighbours(x, 1)[1].flatten().tolist()
    [1, 0, 1]
    """
    q, ref, exclude = _query_and_reference(queries, reference, query_in_reference)
    available = ref.shape[0] - bool((exclude >= 0).any())
    if q.shape[0] == 0 or available < 1:
        raise ValueError(f"nearest_neighbours needs at least one query and one reference item besides the query "
                         f"itself; got {q.shape[0]} queries and {ref.shape[0]} reference items")
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= available:
        raise ValueError(f"k must be an integer in 1..{available} (the reference items a query can retrieve), "
                         f"got {k!r}")
    values = torch.empty(q.shape[0], int(k), dtype=ref.dtype)
    indices = torch.empty(q.shape[0], int(k), dtype=torch.long)
    for start, stop, sims in _similarity_chunks(q, ref, exclude, chunk_size):
        torch.topk(sims, int(k), dim=1, out=(values[start:stop], indices[start:stop]))
    return values, indices


def _chunk_rows(chunk_size: int | None, ref: torch.Tensor, queries: int) -> int:
    """Query rows per similarity chunk: ``chunk_size`` (checked), else about ``_CHUNK_BYTES`` of similarities."""
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_BYTES // (max(ref.shape[0], 1) * ref.element_size()))
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer (query rows per chunk) or None, got {chunk_size!r}")
    return max(1, min(int(chunk_size), queries))


def _query_and_reference(queries, reference, query_in_reference):
    """Normalised float queries (Q, D) and reference (R, D), and the excluded column per query (Q,)."""
    q = _normalised(queries, "queries")
    if reference is None:
        ref = q
        exclude = torch.arange(q.shape[0]) if query_in_reference is None else torch.as_tensor(query_in_reference)
    else:
        ref = _normalised(reference, "reference")
        if ref.shape[1] != q.shape[1]:
            raise ValueError(f"reference embeddings have width {ref.shape[1]}, the queries {q.shape[1]}")
        if ref.dtype != q.dtype:
            q, ref = q.double(), ref.double()
        exclude = (torch.full((q.shape[0],), -1) if query_in_reference is None
                   else torch.as_tensor(query_in_reference))
    exclude = exclude.long().flatten()
    if exclude.shape[0] != q.shape[0] or bool(((exclude < -1) | (exclude >= ref.shape[0])).any()):
        raise ValueError(f"query_in_reference must hold one index in -1..{ref.shape[0] - 1} per query "
                         f"({q.shape[0]}), got {tuple(exclude.shape)}")
    return q, ref, exclude


def _normalised(embeddings, name: str) -> torch.Tensor:
    embeddings = torch.as_tensor(embeddings)
    if embeddings.ndim != 2 or not embeddings.is_floating_point() or embeddings.shape[1] == 0:
        raise ValueError(f"{name} must be a 2-D float tensor (N, D) with D >= 1, got {embeddings.dtype} "
                         f"{tuple(embeddings.shape)}")
    if not bool(torch.isfinite(embeddings).all()):
        raise ValueError(f"{name} contain NaN or infinite values")
    dtype = torch.float64 if embeddings.dtype == torch.float64 else torch.float32
    return F.normalize(embeddings.detach().cpu().to(dtype), dim=1)


def _exclude(sims: torch.Tensor, columns: torch.Tensor) -> None:
    """Set ``sims[i, columns[i]]`` to -inf where ``columns[i] >= 0`` (a query's own entry)."""
    rows = (columns >= 0).nonzero().flatten()
    sims[rows, columns[rows]] = -math.inf


def _similarity_chunks(queries: torch.Tensor, reference: torch.Tensor, exclude: torch.Tensor,
                       chunk_size: int | None) -> Iterator[tuple[int, int, torch.Tensor]]:
    """The similarity kernel of every search here: queries against the reference, in row chunks.

    Args:
        queries: (Q, D) and reference: (N, D) unit embeddings of one dtype.
        exclude: (Q,) the column of each query's own entry in ``reference`` (-1: none).
        chunk_size: query rows per chunk (checked now by :func:`_chunk_rows`, not at the first chunk).
    Returns:
        an iterator of ``(start, stop, sims)``, where ``sims`` (stop - start, N) is
        ``queries[start:stop] @ reference.T`` with each query's own column set to -inf. ``sims``
        is a view of one buffer that every chunk reuses: use it, or overwrite it, before the next.
    """
    rows = _chunk_rows(chunk_size, reference, queries.shape[0])
    buffer = torch.empty(rows, reference.shape[0], dtype=reference.dtype)

    def chunks():
        reference_t = reference.t()
        for start in range(0, queries.shape[0], rows):
            stop = min(start + rows, queries.shape[0])
            sims = torch.mm(queries[start:stop], reference_t, out=buffer[: stop - start])
            _exclude(sims, exclude[start:stop])
            yield start, stop, sims

    return chunks()


def retrieval_metrics(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    ks: Iterable[int] = (1, 2, 4, 8),
    nmi: bool = False,
    chunk_size: int | None = None,
    seed: int = 0,
    *,
    reference: torch.Tensor | None = None,
    reference_labels: torch.Tensor | None = None,
    query_in_reference: torch.Tensor | None = None,
) -> dict[str, float]:
    """Retrieval metrics of labelled query embeddings, as fractions in [0, 1].

    By default every item is a query against all the others (leave-one-out, itself excluded by
    index: the benchmarks' protocol). With ``reference`` and ``reference_labels`` the queries
    search a separate gallery instead (in-shop retrieval); ``query_in_reference`` then names, per
    query, its own index in the gallery to exclude (-1: none). pytorch-metric-learning's
    ``AccuracyCalculator.get_accuracy(query, ref, ..., ref_includes_query=True)`` with the query
    set as reference is the default here; ``ref_includes_query=False`` is ``reference=...``.

    Returns a dict with:

    - ``recall@K`` for each K (:func:`recall_at_k`): fraction of *all* queries with at least one
      same-class item among their K nearest neighbours. A query with no same-class item to find
      (a singleton) can never hit: it counts as a miss.
    - ``precision_at_1`` (:func:`precision_at_1`): fraction of non-singleton queries whose
      nearest neighbour is of their class (pytorch-metric-learning's definition; equals
      ``recall@1`` without singletons).
    - ``map@r`` (MAP@R, :func:`map_at_r`) and ``r_precision`` (:func:`r_precision`): Musgrave et
      al., "A Metric Learning Reality Check" (2020). For a query with R same-class items to find,
      R-Precision is the fraction of them among its R nearest neighbours, and
      AP@R = (1/R) sum_{i<=R} P(i) rel(i). Both are averaged over the non-singleton queries only
      (singletons have R = 0).
    - ``NMI`` when ``nmi=True``: normalised mutual information between the query labels and a
      k-means clustering (as many clusters as classes, seeded) of the normalised query embeddings.

    Ranking: neighbours are ordered by cosine similarity; an item tied in similarity with the
    query's same-class item is ranked before it when it is of another class (ties are scored
    pessimistically), so duplicated or collapsed embeddings cannot inflate any metric.

    Args:
        embeddings: (N, D) float query embeddings, not necessarily normalised. float64 is kept,
            anything else is computed in float32.
        labels: (N,) int class labels (any integers).
        ks: the K of Recall@K.
        nmi: also compute NMI (k-means; slow for many classes).
        chunk_size: query rows per similarity chunk (default: about 128 MB of similarities).
        seed: seed of the k-means clustering.
        reference, reference_labels: (R, D) float and (R,) int, a separate gallery.
        query_in_reference: (N,) int, each query's index in the gallery (-1: not in it).
    """
    x, labels, ks = _check_metric_inputs(embeddings, labels, ks)
    if (reference is None) != (reference_labels is None):
        raise ValueError("give reference and reference_labels together (a gallery), or neither (leave-one-out)")
    if reference is None:
        if query_in_reference is not None:
            raise ValueError("query_in_reference needs a reference gallery")
        ref, ref_labels = x, labels
        exclude = torch.arange(x.shape[0])
    else:
        ref, ref_labels, _ = _check_metric_inputs(reference, reference_labels, ks, minimum=1, name="reference")
        x, ref, exclude = _query_and_reference(x, ref, query_in_reference)
    per_query: dict[str, list[torch.Tensor]] = {name: [] for name in (*(f"recall@{k}" for k in ks), *_PER_QUERY)}
    for ranking in _rank_positives(x, labels, ref, ref_labels, exclude, chunk_size):
        for k in ks:
            per_query[f"recall@{k}"].append(recall_at_k(ranking.first_rank, k))
        for name, metric in _PER_QUERY.items():
            per_query[name].append(metric(ranking))
    metrics = {name: _mean_over_queries(torch.cat(values)) for name, values in per_query.items()}
    if nmi:
        metrics["NMI"] = normalized_mutual_information(x, labels, seed=seed)
    return metrics


# -- the metrics: one value per query, from its ranking statistics (see _Ranking) -----------------


def recall_at_k(first_rank: torch.Tensor, k: int) -> torch.Tensor:
    """Per query, 1 if a positive is among its ``k`` nearest neighbours, else 0: Recall@K is the mean.

    Args:
        first_rank: (Q,) int, the rank of each query's nearest positive (same-class item), 1 for
            the nearest neighbour. A query without positives (a singleton) has a rank above
            every ``k`` (:func:`retrieval_metrics` gives it the int64 maximum): a miss.
        k: the K.
    Returns:
        (Q,) float64.

    >>> recall_at_k(torch.tensor([1, 3, 2, 99]), 2).tolist()   # queries 0 and 2 hit within 2: R@2 = 0.5
    [1.0, 0.0, 1.0, 0.0]
    """
    return (first_rank <= k).double()


def precision_at_1(first_rank: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Per query, 1 if its nearest neighbour is a positive, else 0; NaN for a query without
    positives (R = 0), which pytorch-metric-learning's Precision@1 (the mean of the others) leaves out.

    Args:
        first_rank: (Q,) int, as for :func:`recall_at_k`. r: (Q,) int, each query's number of positives R.
    Returns:
        (Q,) float64.

    >>> precision_at_1(torch.tensor([1, 3, 1, 99]), torch.tensor([2, 1, 4, 0])).tolist()   # 2 of 3
    [1.0, 0.0, 1.0, nan]
    """
    return torch.where(r > 0, (first_rank == 1).double(), math.nan)


def average_precision_at_r(positive_at_rank: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Per query, AP@R = (1/R) sum_{j<=R} P(j) rel(j) (Musgrave et al. 2020), where rel(j) says
    whether the item at rank j is a positive and P(j) is the fraction of positives among ranks
    1..j; NaN for a query without positives. MAP@R is the mean over the queries with R > 0.

    Args:
        positive_at_rank: (Q, W) bool, ``[i, j]``: query i's item at rank j + 1 is a positive.
            Only ranks up to each query's R are read (W >= max R).
        r: (Q,) int, each query's number of positives R.
    Returns:
        (Q,) float64.

    >>> ranked = torch.tensor([[True, False, True], [False, False, False], [True, True, False]])
    >>> [round(v, 4) for v in average_precision_at_r(ranked, torch.tensor([3, 1, 2])).tolist()]  # (1 + 2/3) / 3
    [0.5556, 0.0, 1.0]
    """
    within_r = _within_r(positive_at_rank, r)
    ranks = torch.arange(1, within_r.shape[1] + 1)
    precision_sums = torch.where(within_r, within_r.cumsum(dim=1).double() / ranks, 0.0).sum(dim=1)
    return torch.where(r > 0, precision_sums / r.double(), math.nan)


def r_precision(positive_at_rank: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Per query, R-Precision: the fraction of positives among ranks 1..R; NaN for a query without
    positives. Its metric is the mean over the queries with R > 0.

    Args:
        positive_at_rank, r: as for :func:`average_precision_at_r`.
    Returns:
        (Q,) float64.

    >>> ranked = torch.tensor([[True, False, True], [False, False, False], [True, True, False]])
    >>> [round(v, 4) for v in r_precision(ranked, torch.tensor([3, 1, 2])).tolist()]   # 2/3, 0/1, 2/2
    [0.6667, 0.0, 1.0]
    """
    return torch.where(r > 0, _within_r(positive_at_rank, r).sum(dim=1) / r.double(), math.nan)


def _within_r(positive_at_rank: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """``positive_at_rank`` with the ranks beyond each query's R cleared."""
    if positive_at_rank.ndim != 2 or r.shape != positive_at_rank.shape[:1] or (
            r.numel() and int(r.max()) > positive_at_rank.shape[1]):
        raise ValueError(f"positive_at_rank must be (Q, W) with W >= max R and r (Q,); got "
                         f"{tuple(positive_at_rank.shape)} and {tuple(r.shape)}")
    ranks = torch.arange(1, positive_at_rank.shape[1] + 1)
    return positive_at_rank.bool() & (ranks <= r[:, None])


def _mean_over_queries(values: torch.Tensor) -> float:
    """The mean of the per-query values that are not NaN (the queries a metric is defined for);
    NaN when there is none."""
    defined = values[~torch.isnan(values)]
    return float(defined.mean()) if defined.numel() else math.nan


#: The metrics computed from every query's ranking besides Recall@K (one per K): name -> per-query values.
_PER_QUERY = {
    "precision_at_1": lambda ranking: precision_at_1(ranking.first_rank, ranking.r),
    "map@r": lambda ranking: average_precision_at_r(ranking.positive_at_rank, ranking.r),
    "r_precision": lambda ranking: r_precision(ranking.positive_at_rank, ranking.r),
}


# -- the ranking step -------------------------------------------------------------------------


class _Ranking(NamedTuple):
    """What the metrics read of each query's ranking of the gallery (q queries of a chunk, pessimistic ties)."""

    r: torch.Tensor  #: (q,) int64, the positives (same-class gallery items but the query itself)
    first_rank: torch.Tensor  #: (q,) int64, the rank of the nearest positive (_NO_RANK if R = 0)
    positive_at_rank: torch.Tensor  #: (q, the chunk's max R) bool, rank j + 1 <= R holds a positive


_NO_RANK = torch.iinfo(torch.long).max  # first_rank of a query without positives
_EXACT_FLOAT_COUNT = 2**24  # float32 sums of 0/1 are exact up to this many columns


def _rank_positives(queries, labels, reference, reference_labels, exclude, chunk_size) -> Iterator[_Ranking]:
    """Rank the gallery for each query by similarity, an other-class item tied with a positive
    before it; one :class:`_Ranking` per chunk of queries, in order (memory: one chunk's).

    Args:
        queries: (Q, D) unit embeddings, labels: (Q,) int64. reference: (N, D) unit embeddings of
            the queries' dtype, reference_labels: (N,) int64. exclude: (Q,) each query's own index
            in the reference (-1: none). chunk_size: query rows per similarity chunk.
    """
    n = reference.shape[0]
    # Work in the gallery's class order: each query's positives are one contiguous column range.
    classes, class_index, class_sizes = torch.unique(reference_labels, return_inverse=True, return_counts=True)
    order = torch.argsort(class_index, stable=True)
    position = torch.empty_like(order)
    position[order] = torch.arange(n)
    exclude = torch.where(exclude >= 0, position[exclude.clamp(min=0)], -1)
    class_start = torch.cumsum(class_sizes, 0) - class_sizes
    slot = torch.searchsorted(classes, labels).clamp(max=len(classes) - 1)
    found = classes[slot] == labels
    begin = torch.where(found, class_start[slot], 0)  # first column of each query's class, (Q,)
    end = torch.where(found, begin + class_sizes[slot], 0)  # one past its last column, (Q,)
    r = end - begin - ((exclude >= begin) & (exclude < end)).long()

    if int(r.max()) == 0:  # no query has a positive: nothing to rank
        yield _Ranking(r, torch.full(r.shape, _NO_RANK, dtype=torch.long), torch.zeros(r.shape[0], 0, dtype=torch.bool))
        return
    for start, stop, sims in _similarity_chunks(queries, reference[order], exclude, chunk_size):
        chunk = tuple(t[start:stop, None] for t in (begin, end, exclude, r))
        if int(chunk[3].max()) == 0:
            yield _Ranking(r[start:stop], torch.full((stop - start,), _NO_RANK, dtype=torch.long),
                           torch.zeros(stop - start, 0, dtype=torch.bool))
            continue
        within = _positives_within_r(sims, *chunk)
        yield _Ranking(r[start:stop], _first_positive_rank(sims, *chunk), within)  # the rank last: it overwrites sims


def _positives_within_r(sims, begin, end, exclude, r) -> torch.Tensor:
    """(q, max R) bool: is each query's item at rank j + 1 <= R a positive.

    Args:
        sims: (q, N) similarities to the class-ordered gallery, own column at -inf (read only).
        begin, end: (q, 1) each query's class columns [begin, end). exclude, r: (q, 1) its own
            column (-1: none) and its number of positives.
    Only the max R + 1 nearest of each row are sorted; the (rare) rows whose item max R + 1
    ties with item max R are ranked exactly over the whole row.
    """
    n, top = sims.shape[1], int(r.max())
    values, indices = sims.topk(min(top + 1, n), dim=1)  # sorted, ties in arbitrary order
    is_positive = (indices >= begin) & (indices < end) & (indices != exclude)
    if values.shape[1] > top:
        ambiguous = (values[:, top] == values[:, top - 1]).nonzero().flatten().tolist()
        columns = torch.arange(n)
        for row in ambiguous:
            positive_row = (columns >= begin[row]) & (columns < end[row]) & (columns != exclude[row])
            order = _pessimistic_order(sims[row], positive_row)[: top + 1]
            values[row], is_positive[row] = sims[row, order], positive_row[order]
        values, is_positive = values[:, :top], is_positive[:, :top]
    # Among tied items, put other-class ones first (pessimistic): sort by (-value, is_positive).
    order = torch.argsort(is_positive.to(torch.int8), dim=1, stable=True)
    values, is_positive = values.gather(1, order), is_positive.gather(1, order)
    is_positive = is_positive.gather(1, torch.argsort(-values, dim=1, stable=True))
    return is_positive & (torch.arange(1, is_positive.shape[1] + 1) <= r)


def _first_positive_rank(sims, begin, end, exclude, r) -> torch.Tensor:
    """(q,) int64: the rank of each query's nearest positive, 1 + the other-class items at or
    above it (_NO_RANK where R = 0). Arguments as for :func:`_positives_within_r`; this one
    overwrites ``sims``."""
    n = sims.shape[1]
    columns = begin + torch.arange(int((end - begin).max()))  # each query's class columns, padded
    positive = (columns < end) & (columns != exclude)
    positive_sims = torch.where(positive, sims.gather(1, columns.clamp(max=n - 1)), -math.inf)
    best = positive_sims.amax(dim=1, keepdim=True)
    positives_at_or_above = (positive_sims >= best).sum(dim=1)
    if n <= _EXACT_FLOAT_COUNT:  # one in-place pass: 0/1 floats summed, exact below 2**24
        at_or_above = sims.ge_(best).sum(dim=1).long()
    else:
        at_or_above = (sims >= best).sum(dim=1)
    return torch.where(r.squeeze(1) > 0, at_or_above - positives_at_or_above + 1, _NO_RANK)


def _pessimistic_order(sims_row: torch.Tensor, positive_row: torch.Tensor) -> torch.Tensor:
    """Indices of one row ranked by descending similarity, other-class items first on ties."""
    by_class = torch.argsort(positive_row.to(torch.int8), stable=True)
    by_value = torch.argsort(-sims_row[by_class], stable=True)
    return by_class[by_value]


def normalized_mutual_information(
    embeddings: torch.Tensor, labels: torch.Tensor, seed: int = 0
) -> float:
    """NMI between ``labels`` (N,) and k-means clusters (one per class) of ``embeddings`` (N, D).

    Uses faiss's k-means when faiss is installed, scikit-learn's otherwise. The inputs are checked as
    :func:`retrieval_metrics` checks them (NaN or infinite values, shapes, one label per row).
    """
    from sklearn.metrics import normalized_mutual_info_score

    x, labels = _checked_embeddings(embeddings, labels, 2, "embeddings", "NMI")
    x = x.float().numpy()
    k = int(torch.unique(labels).numel())
    try:
        import faiss

        # min_points_per_centroid=1: small classes are normal here (SOP: ~5 items), not a
        # reason for faiss to warn on stderr
        kmeans = faiss.Kmeans(x.shape[1], k, niter=20, seed=seed, min_points_per_centroid=1)
        kmeans.train(np.ascontiguousarray(x))
        clusters = kmeans.index.search(x, 1)[1][:, 0]
    except ImportError:
        from sklearn.cluster import KMeans

        clusters = KMeans(n_clusters=k, n_init=1, random_state=seed).fit_predict(x)
    return float(normalized_mutual_info_score(labels.numpy(), clusters))


def chance_nmi(labels: torch.Tensor, seed: int = 0, repeats: int = 3) -> float:
    """NMI's chance level for ``labels`` (N,): the NMI of a random assignment to as many clusters as
    there are classes, the mean over ``repeats`` seeded draws. It rises with the number of classes
    (many clusters of few items share information with the labels by chance), so an NMI means
    little without it.

    >>> round(chance_nmi(torch.arange(1000) % 10), 2), round(chance_nmi(torch.arange(1000) % 200), 2)
    (0.02, 0.69)
    """
    from sklearn.metrics import normalized_mutual_info_score

    labels = torch.as_tensor(labels).numpy()
    classes = len(np.unique(labels))
    g = np.random.default_rng(seed)
    return float(np.mean([normalized_mutual_info_score(labels, g.integers(0, classes, len(labels)))
                          for _ in range(repeats)]))


def _check_metric_inputs(embeddings, labels, ks, minimum: int = 2, name: str = "embeddings"):
    x, labels = _checked_embeddings(embeddings, labels, minimum, name, "retrieval")
    return x, labels, _ks(ks)


def _checked_embeddings(embeddings, labels, minimum: int, name: str, purpose: str):
    """``embeddings`` (N, D) L2-normalised and ``labels`` (N,) as long, or a ValueError saying what was
    expected (a 2-D float tensor without NaN / inf, one integer label per row, at least ``minimum`` rows)."""
    embeddings = torch.as_tensor(embeddings)
    labels = torch.as_tensor(labels)
    if embeddings.ndim != 2 or not embeddings.is_floating_point() or embeddings.shape[1] == 0:
        raise ValueError(
            f"{name} must be a 2-D float tensor (N, D) with D >= 1, got {embeddings.dtype} {tuple(embeddings.shape)}"
        )
    if labels.ndim != 1 or labels.is_floating_point() or labels.shape[0] != embeddings.shape[0]:
        raise ValueError(
            f"labels of the {name} must be a 1-D integer tensor with one label per embedding "
            f"({embeddings.shape[0]}), got {labels.dtype} {tuple(labels.shape)}"
        )
    if embeddings.shape[0] < minimum:
        raise ValueError(f"{purpose} needs at least {minimum} {name}")
    return _normalised(embeddings, name), labels.detach().cpu().long()


def _ks(ks) -> tuple[int, ...]:
    """Recall@K's ks as a tuple of positive ints (one int is one k; a string is refused, not split)."""
    if isinstance(ks, numbers.Integral) and not isinstance(ks, bool):
        ks = (ks,)
    if isinstance(ks, (str, bytes)) or not isinstance(ks, Iterable):
        raise ValueError(f"ks must be positive integers (a sequence, or one int), got {ks!r}")
    ks = tuple(ks)
    if not ks or any(isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1 for k in ks):
        raise ValueError(f"ks must be positive integers, got {ks}")
    return tuple(int(k) for k in ks)


# -- several runs ----------------------------------------------------------------------------


def aggregate_runs(runs: Sequence[Mapping[str, float]]) -> dict[str, tuple[float, float]]:
    """Mean and sample standard deviation (ddof=1) of each metric over runs (e.g. seeds).

    Args:
        runs: one metrics dict per run, as returned by :func:`retrieval_metrics`.
    Returns:
        ``{metric: (mean, std)}`` for the metrics present in every run; std is NaN for one run.

    >>> aggregate_runs([{"recall@1": 0.70}, {"recall@1": 0.72}])["recall@1"]
    (0.71, 0.014142135623730963)
    """
    if isinstance(runs, Mapping) or not runs:
        raise ValueError("aggregate_runs() needs a non-empty list of metrics dicts, one per run")
    if not all(isinstance(run, Mapping) for run in runs):
        raise ValueError("aggregate_runs() needs a list of metrics dicts, one per run")
    names = [name for name in runs[0] if all(name in run for run in runs)]
    out = {}
    for name in names:
        values = [run[name] for run in runs]
        if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
            raise ValueError(f"metric {name!r} must be a number in every run, got {values[0]!r}: give a (mean, std) "
                             "pair as a list of runs instead")
        out[name] = mean_and_std(values)
    return out


def mean_and_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1) of ``values`` (e.g. one metric over seeds); the
    std is NaN for a single value (one seed shows no spread).

    >>> mean_and_std([0.70, 0.72])
    (0.71, 0.014142135623730963)
    >>> mean_and_std([0.5])
    (0.5, nan)
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or len(array) == 0:
        raise ValueError(f"mean_and_std needs a non-empty list of numbers, got {values!r}")
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else math.nan


def format_recall_table(
    results: Mapping[str, Mapping[str, float] | Sequence[Mapping[str, float]]],
    ks: Sequence[int] = PAPER_KS["cub"],
    extra: Sequence[str] = ("map@r", "r_precision"),
) -> str:
    """A paper-style table in percent: one row per method, R@K columns then ``extra`` metrics.

    Args:
        results: method name -> one metrics dict, or a list of them (one per seed), shown as
            ``mean +/- std``. Metrics missing from a method are left blank.
        ks: Recall@K columns, e.g. ``PAPER_KS["sop"]``.
        extra: further metric columns.

    >>> print(format_recall_table({"A": {"recall@1": 0.5, "recall@2": 0.75}}, ks=(1, 2), extra=()))
    method | R@1  | R@2
    -------+------+-----
    A      | 50.0 | 75.0
    """
    if isinstance(extra, str):
        raise ValueError(f"extra must be a sequence of metric names, e.g. ({extra!r},), not a string")
    headers = {f"recall@{k}": metric_name(f"recall@{k}") for k in _ks(ks)}
    headers.update({name: metric_name(name) for name in extra})
    table = [["method", *headers.values()]]
    for method, runs in results.items():
        runs = [runs] if isinstance(runs, Mapping) else list(runs)
        summary = aggregate_runs(runs)
        row = [method]
        for name in headers:
            if name not in summary:
                row.append("")
                continue
            mean, std = summary[name]
            row.append(f"{100 * mean:.1f}" if math.isnan(std) else f"{100 * mean:.1f} +/- {100 * std:.1f}")
        table.append(row)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)
