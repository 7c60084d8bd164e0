"""The errors a dataset loader raises: each names what was expected, where, and where to read more.

A user who points ``root`` at the wrong folder, unpacks half an archive or keeps a corrupt JPEG
must get one readable line, never a stack trace from deep inside a parser. Every exception takes
a single message argument (so that a DataLoader worker can re-raise it with its type intact) and
keeps the path it is about in ``.path``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "README_HINT",
    "DatasetError",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "DatasetAccessError",
    "EmptySplitError",
    "UnreadableImageError",
]

README_HINT = "see data/README.md for where to get each dataset and the tree it must form"


class DatasetError(Exception):
    """Base class of histlib's dataset errors; ``path`` is the file or folder concerned."""

    def __init__(self, message: str, path: str | Path | None = None):
        super().__init__(message)
        self.path = None if path is None else str(path)


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A dataset folder or one of its annotation files is missing.

    >>> error = DatasetNotFoundError.expected("cub", "data/CUB_200_2011", "the folder the archive unpacks to")
    >>> print(error)
    cub: expected data/CUB_200_2011 (the folder the archive unpacks to), which does not exist; see data/README.md for where to get each dataset and the tree it must form
    """

    @classmethod
    def expected(cls, dataset: str, path: str | Path, what: str, problem: str = "does not exist") -> "DatasetNotFoundError":
        return cls(f"{dataset}: expected {path} ({what}), which {problem}; {README_HINT}", path)


class DatasetAccessError(DatasetError, OSError):
    """A dataset file or folder exists but cannot be used: permission denied, a symlink loop.

    >>> print(DatasetAccessError.at("cub", "data/CUB_200_2011/images", "the class folders", "permission denied"))
    cub: cannot use data/CUB_200_2011/images (the class folders): permission denied; see data/README.md for where to get each dataset and the tree it must form
    """

    @classmethod
    def at(cls, dataset: str, path: str | Path, what: str, problem: str) -> "DatasetAccessError":
        return cls(f"{dataset}: cannot use {path} ({what}): {problem}; {README_HINT}", path)


class EmptySplitError(DatasetError, ValueError):
    """A split that holds no image: training or evaluating on it would fail later, less clearly."""

    @classmethod
    def of(cls, dataset: str, split: str, path: str | Path, why: str = "") -> "EmptySplitError":
        because = f" ({why})" if why else ""
        return cls(f"{dataset}: the {split} split under {path} has no images{because}; {README_HINT}", path)


class DatasetFormatError(DatasetError, ValueError):
    """An annotation file exists but does not hold what the published dataset holds."""

    @classmethod
    def in_file(cls, dataset: str, path: str | Path, problem: str) -> "DatasetFormatError":
        return cls(f"{dataset}: {path}: {problem}; {README_HINT}", path)


class UnreadableImageError(DatasetError, OSError):
    """An image file listed by a dataset is missing or cannot be decoded."""

    @classmethod
    def for_file(cls, path: str | Path, reason: str, dataset: str = "", root: str = "") -> "UnreadableImageError":
        hint = ""
        if dataset:
            hint = f"; `python -m histlib.data.verify {dataset} --root {root or 'data'}` lists every such file"
        return cls(f"cannot read image {path}: {reason}{hint}", path)
