"""How training batches are drawn: plain random sampling, or m images per class.

The published HIST recipe samples batches uniformly at random (specification section 2): with
many classes, a batch of 32 then holds mostly one image per class. pytorch-metric-learning's
``MPerClassSampler`` instead draws ``batch_size / m`` classes and ``m`` images of each, the usual
alternative for losses that need positives inside a batch.

Seeding: the random sampler takes a ``seed`` (a torch Generator). ``MPerClassSampler`` draws
from ``pytorch_metric_learning.utils.common_functions.NUMPY_RANDOM`` (numpy's global random
state unless replaced), so seed it with ``numpy.random.seed`` for a reproducible order.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from pytorch_metric_learning.samplers import MPerClassSampler
from torch.utils.data import RandomSampler, Sampler

__all__ = ["make_sampler"]


def make_sampler(
    labels: Sequence[int] | np.ndarray | torch.Tensor,
    batch_size: int,
    images_per_class: int | None = None,
    seed: int | None = None,
) -> Sampler:
    """The sampler for ``DataLoader(dataset, batch_size, sampler=..., drop_last=True)``.

    ``images_per_class`` None: a ``RandomSampler`` over all items (each once per epoch, shuffled;
    seeded by ``seed`` when given). Otherwise PML's ``MPerClassSampler`` with ``m =
    images_per_class`` and one epoch of ``len(labels)`` items rounded down to whole batches;
    ``batch_size`` must be a multiple of ``m`` and the split must have at least
    ``batch_size / m`` classes (classes with fewer than ``m`` images are sampled with repeats).

    >>> sampler = make_sampler([0, 0, 1, 1, 2, 2, 3, 3], batch_size=4, images_per_class=2)
    >>> len(sampler), type(sampler).__name__
    (8, 'MPerClassSampler')
    """
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
