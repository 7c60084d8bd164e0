"""Where and how reproducibly code runs: device choice and seeding, one place for both.

    >>> pick_device("cpu")
    device(type='cpu')
    >>> epoch_seed(1, 0), epoch_seed(1, 1), epoch_seed(2, 0)
    (100003, 100004, 200006)
"""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["pick_device", "check_device", "seed_everything", "epoch_seed"]


def check_device(name: str) -> str:
    """``name`` if it names a device this machine has ("auto", "cpu", "cuda", "cuda:N"), else a ValueError.

    >>> check_device("auto"), check_device("cpu")
    ('auto', 'cpu')
    >>> check_device("tpu")
    Traceback (most recent call last):
    ...
    ValueError: device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'tpu'
    """
    if not isinstance(name, str):
        raise ValueError(f"device must be a string ('auto', 'cpu', 'cuda' or 'cuda:N'), got {name!r}")
    if name in ("auto", "cpu"):
        return name
    kind, _, index = name.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {name!r}")
    if not torch.cuda.is_available():
        raise ValueError(f"device={name!r} but CUDA is not available on this machine; use device='auto' or 'cpu'")
    if index and int(index) >= torch.cuda.device_count():
        raise ValueError(f"device={name!r} but this machine has {torch.cuda.device_count()} CUDA device(s)")
    return name


def pick_device(name: str | torch.device | None = "auto") -> torch.device:
    """The torch device for ``name``: "auto" (or None) is CUDA when available, else the CPU."""
    if isinstance(name, torch.device):
        return name
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(check_device(name))


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch`` (0-based) of a run seeded ``seed``: shuffling and augmentation of
    each epoch depend on (seed, epoch) alone, so a resumed run repeats an uninterrupted one."""
    return seed * 100_003 + epoch


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's generators, and pytorch-metric-learning's sampler state."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    try:  # pytorch-metric-learning's samplers draw from their own numpy RandomState
        from pytorch_metric_learning.utils import common_functions as c_f

        c_f.NUMPY_RANDOM = np.random.RandomState(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass
