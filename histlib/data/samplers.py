"""How training batches are drawn: plain random sampling, or m images per class.

The published HIST recipe samples batches uniformly at random (docs/hist.md, section "Training recipes"): with
many classes, a batch of 32 then holds mostly one image per class. pytorch-metric-learning's
``MPerClassSampler`` instead draws ``batch_size / m`` classes and ``m`` images of each, the usual
alternative for losses that need positives inside a batch.

Seeding: the random sampler takes a ``seed`` (a torch Generator). ``MPerClassSampler`` draws
from ``pytorch_metric_learning.utils.common_functions.NUMPY_RANDOM`` (numpy's global random
state unless replaced), so seed it with ``numpy.random.seed`` for a reproducible order.

Several processes (``torchrun``): ``make_sampler(..., rank=r, world_size=K)`` draws the same
global sequence on every rank (same seed) and gives rank r its contiguous slice of each global
batch (:class:`RankShardSampler`), so the ranks see disjoint samples and the global batch, read
in rank order, is exactly the batch one process would draw.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from pytorch_metric_learning.samplers import MPerClassSampler
from torch.utils.data import RandomSampler, Sampler

__all__ = ["make_sampler", "RankShardSampler"]


def make_sampler(
    labels: Sequence[int] | np.ndarray | torch.Tensor,
    batch_size: int,
    images_per_class: int | None = None,
    seed: int | None = None,
    *,
    rank: int = 0,
    world_size: int = 1,
) -> Sampler:
    """The sampler for ``DataLoader(dataset, batch_size, sampler=..., drop_last=True)``.

    ``images_per_class`` None: a ``RandomSampler`` over all items (each once per epoch, shuffled;
    seeded by ``seed`` when given). Otherwise PML's ``MPerClassSampler`` with ``m =
    images_per_class`` and one epoch of ``len(labels)`` items rounded down to whole batches;
    ``batch_size`` must be a multiple of ``m`` and the split must have at least
    ``batch_size / m`` classes (classes with fewer than ``m`` images are sampled with repeats).

    ``world_size`` K > 1: ``batch_size`` is the global batch (a multiple of K); the sampler of
    rank ``rank`` (a :class:`RankShardSampler`) yields its ``batch_size / K`` items of each global
    batch, for ``DataLoader(batch_size=batch_size // K, drop_last=True)``. Every rank must build
    it with the same ``seed`` (and, for m per class, the same ``NUMPY_RANDOM`` state).

    >>> sampler = make_sampler([0, 0, 1, 1, 2, 2, 3, 3], batch_size=4, images_per_class=2)
    >>> len(sampler), type(sampler).__name__
    (8, 'MPerClassSampler')
    >>> whole = list(make_sampler(range(8), batch_size=4, seed=0))
    >>> shards = [list(make_sampler(range(8), 4, seed=0, rank=r, world_size=2)) for r in (0, 1)]
    >>> shards[0] + shards[1] == whole[0:2] + whole[4:6] + whole[2:4] + whole[6:8]
    True
    """
    if world_size != 1:
        return RankShardSampler(make_sampler(labels, batch_size, images_per_class, seed), batch_size,
                                rank=rank, world_size=world_size)
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).reshape(-1)
    if batch_size < 1 or batch_size > len(labels):
        raise ValueError(f"batch_size must lie in 1..{len(labels)} (the number of items), got {batch_size}")
    if images_per_class is None:
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        return RandomSampler(range(len(labels)), generator=generator)
    m = int(images_per_class)
    num_classes = len(np.unique(labels))
    if m < 1 or batch_size % m:
        raise ValueError(f"batch_size ({batch_size}) must be a multiple of images_per_class ({m})")
    if m * num_classes < batch_size:
        raise ValueError(
            f"a batch of {batch_size} with {m} images per class needs {batch_size // m} classes; "
            f"the labels hold {num_classes}"
        )
    return MPerClassSampler(labels, m, batch_size=batch_size, length_before_new_iter=len(labels))


class RankShardSampler(Sampler[int]):
    """Rank ``rank``'s share of every global batch that ``sampler`` draws.

    ``sampler``'s sequence is cut into global batches of ``batch_size`` (an incomplete last one
    is dropped, as ``drop_last=True`` does); rank r gets items ``[r * b, (r + 1) * b)`` of each,
    ``b = batch_size / world_size``. Concatenating the ranks' k-th batches in rank order gives the
    k-th global batch. With m images per class (consecutive in PML's sampler) and ``b`` a
    multiple of m, each rank's share holds whole classes.
    """

    def __init__(self, sampler: Sampler, batch_size: int, rank: int, world_size: int):
        for name, value, low in (("world_size", world_size, 1), ("rank", rank, 0), ("batch_size", batch_size, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if rank >= world_size:
            raise ValueError(f"rank must lie in 0..{world_size - 1}, got {rank}")
        if batch_size % world_size:
            raise ValueError(f"batch_size ({batch_size}) is the global batch and must be a multiple of the "
                             f"number of processes ({world_size})")
        self.sampler, self.batch_size, self.rank, self.world_size = sampler, int(batch_size), int(rank), int(world_size)
        self.per_rank = self.batch_size // self.world_size

    def __iter__(self):
        start, batch = self.rank * self.per_rank, []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield from batch[start:start + self.per_rank]
                batch = []

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size * self.per_rank
