"""Early stopping on the validation score: which epoch is kept, and when training stops.

A run trains at most ``epochs`` epochs. With a ``patience`` p it stops after the first epoch that
ends p epochs without an improvement of more than ``min_delta`` over the kept epoch's score; the
kept (selected) epoch is the first one whose score beat every earlier kept score by more than
``min_delta``. Both rules read only the scores so far, so a resumed run stops where an
uninterrupted one does.

    >>> scores = [0.10, 0.20, 0.21, 0.19, 0.20, 0.18]
    >>> kept_epoch(scores), kept_epoch(scores, min_delta=0.02)
    (3, 2)
    >>> stops(scores[:4], patience=2), stops(scores[:5], patience=2)
    (False, True)
    >>> stops(scores, patience=None)
    False
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["kept_epoch", "stops", "epochs_since_kept"]


def kept_epoch(scores: Sequence[float], min_delta: float = 0.0) -> int:
    """The 1-based epoch a run keeps: the last score that beat the kept one by more than ``min_delta``
    (the first epoch is kept to begin with). ``scores``: one validation score per epoch, in order."""
    if not scores:
        raise ValueError("kept_epoch needs at least one epoch's score")
    best, kept = -math.inf, 0
    for epoch, score in enumerate(scores, start=1):
        if not math.isfinite(score):
            raise ValueError(f"epoch {epoch}'s score is {score}: a kept epoch needs finite scores")
        if kept == 0 or score > best + min_delta:
            best, kept = score, epoch
    return kept


def epochs_since_kept(scores: Sequence[float], min_delta: float = 0.0) -> int:
    """How many epochs after the kept one have been trained (0: the last epoch is the kept one)."""
    return len(scores) - kept_epoch(scores, min_delta) if scores else 0


def stops(scores: Sequence[float], patience: int | None, min_delta: float = 0.0) -> bool:
    """Whether a run with these epochs' scores stops now: ``patience`` epochs have passed without an
    improvement of more than ``min_delta`` (never, with ``patience=None``)."""
    return patience is not None and bool(scores) and epochs_since_kept(scores, min_delta) >= patience
