"""The errors a dataset loader raises: each names what was expected, where, and where to read more.

A user who points ``root`` at the wrong folder, unpacks half an archive or keeps a corrupt JPEG
must get one readable line, never a stack trace from deep inside a parser. Every exception takes
a single message argument (so that a DataLoader worker can re-raise it with its type intact) and
keeps the path it is about in ``.path``.
"""

from __future__ import annotations

import re
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
    """Base class of histlib's dataset errors; ``path`` is the file or folder concerned.

    Raised in a DataLoader worker, PyTorch re-raises it in the main process with the worker's whole
    traceback as its message; the message is cut back to the error's own, so that 4 workers and 0
    print the same line:

    >>> print(DatasetError("Caught DatasetError in DataLoader worker process 2.\\nOriginal Traceback (most recent "
    ...       "call last):\\n  File \\"x.py\\", line 1, in f\\n    g()\\nhistlib.data.errors.DatasetError: cannot read a.png"))
    cannot read a.png
    """

    def __init__(self, message: str, path: str | Path | None = None):
        super().__init__(_own_message(message))
        self.path = None if path is None else str(path)


def _own_message(message: str) -> str:
    """The error's own message inside a DataLoader worker's re-raised traceback (else ``message``)."""
    if not (isinstance(message, str) and message.startswith("Caught ") and "DataLoader worker" in message
            and "Original Traceback" in message):
        return message
    lines = message.rstrip().splitlines()
    for index in range(len(lines) - 1, -1, -1):  # the traceback's last line "module.ErrorType: message"
        match = re.match(r"^[A-Za-z_][\w.]*: ", lines[index])
        if match:
            return "\n".join([lines[index][match.end():], *lines[index + 1:]])
    return message


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
