"""The one interface every histlib dataset has, and its two storage kinds (files, arrays).

A dataset is a torch ``Dataset`` of ``(image, label)`` with

- ``paths``: list of str, one per item: a file path, or for in-memory data a synthetic
  identifier such as ``"glyph:DejaVuSans.ttf/U+0041"`` (never opened);
- ``labels``: (N,) int64 numpy array, 0-based and contiguous within the split;
- ``classes``: list of str, ``classes[label]`` is the name of class ``label``;
- ``transform``: applied to the RGB PIL image; without one, ``__getitem__`` returns the PIL image.

``with_transform`` returns a copy that shares the data but applies another transform, so the
same split can be read with train and eval transforms.
"""

from __future__ import annotations

import copy
import errno
import os
import stat
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from .errors import UnreadableImageError

__all__ = [
    "SPLITS", "LabelledImages", "ImageFileDataset", "ArrayImageDataset", "check_split", "relabel", "path_problem",
    "read_rgb_image",
]

SPLITS = ("train", "test")


def check_split(split: str) -> str:
    """Return ``split`` if it is "train" or "test"; raise a ValueError saying so otherwise."""
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split


def relabel(labels: Sequence[int] | np.ndarray, kept: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep the items whose label is in ``kept`` and number those classes 0..k-1.

    ``labels``: (N,) ints in 0..C-1; ``kept``: (k,) distinct class indices, in the order the new
    labels follow. Returns ``rows``: (M,) int64 ascending indices of the kept items, and
    ``new_labels``: (M,) int64, the position in ``kept`` of each kept item's class.

    >>> rows, new_labels = relabel([2, 0, 1, 2, 0], kept=[2, 1])
    >>> rows.tolist(), new_labels.tolist()
    ([0, 2, 3], [0, 1, 0])
    """
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    kept = np.asarray(kept, dtype=np.int64).reshape(-1)
    size = int(max(labels.max(initial=-1), kept.max(initial=-1))) + 1
    if (len(kept) and kept.min() < 0) or (len(labels) and labels.min() < 0):
        raise ValueError("labels and kept classes must be non-negative")
    if len(np.unique(kept)) != len(kept):
        raise ValueError("kept classes must be distinct")
    new_label = np.full(size, -1, dtype=np.int64)
    new_label[kept] = np.arange(len(kept))
    rows = np.flatnonzero(new_label[labels] >= 0)
    return rows, new_label[labels[rows]]


def path_problem(path: str | Path, kind: str = "file") -> str | None:
    """None if ``path`` is a ``kind`` ("file" or "folder") that can be reached; else what is wrong:
    "missing", "a broken symlink", "a symlink loop", "permission denied", "not a file", "not a folder".

    Unlike ``Path.is_file`` (which raises PermissionError on Python 3.11 and calls a symlink loop
    missing), every problem is an answer, never an exception.

    >>> path_problem(__file__), path_problem(__file__, "folder"), path_problem("/no/such/file")
    (None, 'not a folder', 'missing')
    """
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "a broken symlink" if os.path.islink(path) else "missing"
    except PermissionError:
        return "permission denied"
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "a symlink loop"
        return f"{type(error).__name__}: {error.strerror or error}"
    if kind == "folder":
        return None if stat.S_ISDIR(mode) else "not a folder"
    return None if stat.S_ISREG(mode) else "not a file"


def read_rgb_image(path: str, dataset: str = "", root: str = "") -> Image.Image:
    """Decode the image file ``path`` fully and return it as RGB (greyscale, CMYK, palette converted).

    Raises :class:`UnreadableImageError` naming the file for a missing, truncated or
    undecodable file (PIL raises several different types for those).
    """
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGB")
    except FileNotFoundError:
        raise UnreadableImageError.for_file(path, "the file does not exist", dataset, root) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        reason = f"{type(error).__name__}: {error}"
        raise UnreadableImageError.for_file(path, reason, dataset, root) from None


class LabelledImages(Dataset):
    """Base class: labels, class names, paths and an optional transform (see the module docstring).

    Subclasses implement :meth:`load_image` (index -> RGB PIL image).
    """

    def __init__(
        self,
        paths: Sequence[str],
        labels: Sequence[int] | np.ndarray,
        classes: Sequence[str],
        transform: Callable | None = None,
        name: str = "",
        split: str = "",
        root: str = "",
    ):
        self.paths = [str(p) for p in paths]
        self.labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        self.classes = [str(c) for c in classes]
        self.transform = transform
        self.name, self.split, self.root = name, split, str(root)
        if len(self.paths) != len(self.labels):
            raise ValueError(f"{len(self.paths)} paths but {len(self.labels)} labels")
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise ValueError(
                f"labels must lie in 0..{len(self.classes) - 1} (one per class name); "
                f"got {self.labels.min()}..{self.labels.max()}"
            )

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.labels)

    def load_image(self, index: int) -> Image.Image:
        raise NotImplementedError

    def __getitem__(self, index: int):
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        image = self.load_image(index)
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])

    def with_transform(self, transform: Callable | None) -> "LabelledImages":
        """A shallow copy (same paths, labels and data) that applies ``transform`` instead."""
        other = copy.copy(self)
        other.transform = transform
        return other

    def __repr__(self) -> str:
        what = " ".join(part for part in (self.name, self.split) if part)
        return f"<{type(self).__name__} {what}: {len(self):,} images, {self.num_classes:,} classes>"


class ImageFileDataset(LabelledImages):
    """Images read from files (the benchmarks); ``paths`` are real file paths."""

    def load_image(self, index: int) -> Image.Image:
        return read_rgb_image(self.paths[index], self.name, self.root)


class ArrayImageDataset(LabelledImages):
    """Images held in memory as ``images``: (N, H, W) uint8, white ink on black (glyphs, Fashion-MNIST).

    ``__getitem__`` returns RGB PIL images like the file datasets (the three channels are equal);
    ``images`` gives direct access for code that batches the whole array at once.

    >>> import numpy as np
    >>> data = ArrayImageDataset(np.zeros((2, 8, 8), np.uint8), [0, 1], ["a", "b"])
    >>> image, label = data[1]
    >>> image.mode, image.size, label, data.paths[1]
    ('RGB', (8, 8), 1, 'array:1')
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: Sequence[int] | np.ndarray,
        classes: Sequence[str],
        paths: Sequence[str] | None = None,
        transform: Callable | None = None,
        name: str = "",
        split: str = "",
        root: str = "",
    ):
        images = np.asarray(images)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(f"images must be (N, H, W) uint8, got {images.shape} {images.dtype}")
        if paths is None:
            paths = [f"array:{i}" for i in range(len(images))]
        super().__init__(paths, labels, classes, transform, name, split, root)
        if len(images) != len(self.labels):
            raise ValueError(f"{len(images)} images but {len(self.labels)} labels")
        self.images = images

    def load_image(self, index: int) -> Image.Image:
        return Image.fromarray(self.images[index]).convert("RGB")  # (H, W) uint8 is mode "L"
