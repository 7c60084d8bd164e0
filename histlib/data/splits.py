"""Subsets of a dataset: class-disjoint parts (e.g. validation classes) and per-class caps.

The published splits (CUB, Cars, SOP) are already class-disjoint; honest model selection needs a
third, validation, part that is carved out of the training classes, never out of the test split.
:func:`split_classes` does that with an explicit seed; the result depends only on the number of
classes and the seed, so loading the training split twice (train and eval transforms) and
splitting both with the same seed gives the same classes.

:func:`cap_images_per_class` keeps at most k seeded-random images of each class (labels
unchanged), e.g. SOP's ~5 images per class on a dataset that has more.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from PIL import Image

from .base import LabelledImages, relabel

__all__ = ["ClassSubset", "IndexSubset", "split_classes", "check_fraction", "capped_indices", "cap_images_per_class"]


class ClassSubset(LabelledImages):
    """The items of ``dataset`` whose label is in ``class_indices``, relabelled 0..k-1.

    Labels follow the order of ``class_indices`` sorted ascending, so class names keep their
    relative order. Images are read through ``dataset.load_image`` (untransformed) and then
    ``transform`` is applied; by default the parent's transform.
    """

    def __init__(self, dataset: LabelledImages, class_indices: Sequence[int], transform: Callable | None = ...):
        kept = np.unique(np.asarray(class_indices, dtype=np.int64))
        if len(kept) and (kept[0] < 0 or kept[-1] >= dataset.num_classes):
            raise ValueError(f"class indices must lie in 0..{dataset.num_classes - 1}")
        self.indices, labels = relabel(dataset.labels, kept)
        self.dataset = dataset
        self.parent_classes = kept
        super().__init__(
            paths=[dataset.paths[i] for i in self.indices],
            labels=labels,
            classes=[dataset.classes[c] for c in kept],
            transform=dataset.transform if transform is ... else transform,
            name=dataset.name,
            split=dataset.split,
            root=dataset.root,
        )

    def load_image(self, index: int) -> Image.Image:
        return self.dataset.load_image(int(self.indices[index]))


def check_fraction(name: str, value: float) -> None:
    """A ValueError unless ``value`` (a share of the classes, e.g. ``test_fraction``) lies strictly in (0, 1).

    >>> check_fraction("test_fraction", 1.0)
    Traceback (most recent call last):
    ValueError: test_fraction must lie strictly between 0 and 1, got 1.0
    """
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value}")


def split_classes(
    dataset: LabelledImages, fraction: float, seed: int = 0
) -> tuple[ClassSubset, ClassSubset]:
    """Split ``dataset``'s classes into two class-disjoint subsets.

    The first subset gets ``round(fraction * C)`` classes drawn by a permutation seeded with
    ``seed`` (numpy ``default_rng``), the second the others; each is relabelled 0..k-1.

    >>> import numpy as np
    >>> from histlib.data.base import ArrayImageDataset
    >>> data = ArrayImageDataset(np.zeros((6, 4, 4), np.uint8), [0, 0, 1, 1, 2, 2], ["a", "b", "c"])
    >>> train, val = split_classes(data, fraction=2 / 3, seed=0)
    >>> sorted(train.classes + val.classes), set(train.classes) & set(val.classes)
    (['a', 'b', 'c'], set())
    >>> len(train), train.labels.tolist()
    (4, [0, 0, 1, 1])
    """
    check_fraction("fraction", fraction)
    order = np.random.default_rng(seed).permutation(dataset.num_classes)
    first = int(round(fraction * dataset.num_classes))
    if not 0 < first < dataset.num_classes:
        raise ValueError(f"fraction {fraction} of {dataset.num_classes} classes leaves one side empty")
    return ClassSubset(dataset, order[:first]), ClassSubset(dataset, order[first:])


class IndexSubset(LabelledImages):
    """The items ``indices`` of ``dataset`` (ascending), labels and classes unchanged.

    Images are read through ``dataset.load_image`` (untransformed), then the parent's transform
    is applied.
    """

    def __init__(self, dataset: LabelledImages, indices: Sequence[int]):
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(self.indices) and (self.indices.min() < 0 or self.indices.max() >= len(dataset)):
            raise ValueError(f"indices must lie in 0..{len(dataset) - 1}")
        self.dataset = dataset
        super().__init__(
            paths=[dataset.paths[i] for i in self.indices], labels=dataset.labels[self.indices],
            classes=dataset.classes, transform=dataset.transform, name=dataset.name,
            split=dataset.split, root=dataset.root,
        )

    def load_image(self, index: int) -> Image.Image:
        return self.dataset.load_image(int(self.indices[index]))


def capped_indices(
    labels: Sequence[int] | np.ndarray, max_per_class: int, seed: int = 0, num_classes: int | None = None
) -> np.ndarray:
    """Ascending indices of at most ``max_per_class`` items of each class, drawn with ``seed``.

    ``labels``: (N,) ints in 0..num_classes-1 (default: up to the largest label). Each class in
    turn, 0 first, keeps the first ``max_per_class`` items of a seeded permutation of its items;
    classes with fewer keep them all.

    >>> capped_indices([0, 0, 0, 1, 2, 2, 2, 2], max_per_class=2, seed=0).tolist()
    [0, 2, 3, 6, 7]
    """
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if max_per_class < 1:
        raise ValueError(f"max_per_class must be >= 1, got {max_per_class}")
    rng = np.random.default_rng(seed)
    count = int(labels.max(initial=-1)) + 1 if num_classes is None else num_classes
    kept = [rng.permutation(np.flatnonzero(labels == c))[:max_per_class] for c in range(count)]
    return np.sort(np.concatenate(kept)) if kept else np.zeros(0, np.int64)


def cap_images_per_class(dataset: LabelledImages, max_per_class: int, seed: int = 0) -> IndexSubset:
    """At most ``max_per_class`` images of each class, drawn with ``seed``; labels unchanged
    (:func:`capped_indices`).

    >>> import numpy as np
    >>> from histlib.data.base import ArrayImageDataset
    >>> data = ArrayImageDataset(np.zeros((5, 4, 4), np.uint8), [0, 0, 0, 1, 1], ["a", "b"])
    >>> cap_images_per_class(data, 2).labels.tolist()
    [0, 0, 1, 1]
    """
    return IndexSubset(dataset, capped_indices(dataset.labels, max_per_class, seed, dataset.num_classes))
