"""The workbook's colours and figure files: one colour per loss and per class (distinct in OKLab),
and :func:`save_figure`."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

#: One colour and one display name per loss, in every figure.
LOSS_COLOURS = {"hist": "tab:orange", "proxy_anchor": "tab:blue", "multi_similarity": "tab:green"}
LOSS_NAMES = {"hist": "HIST", "proxy_anchor": "Proxy-Anchor", "multi_similarity": "Multi-Similarity"}

def as_numpy(x) -> np.ndarray:
    """A tensor (any device, detached) or array-like as a numpy array."""
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


def _oklab(rgb) -> np.ndarray:
    """sRGB in [0, 1], (..., 3), to OKLab (Ottosson 2020) scaled by 100: Euclidean distances
    approximate perceived colour differences (about 2 is just noticeable)."""
    rgb = np.asarray(rgb, dtype=float)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    lms = linear @ np.array([[0.4122214708, 0.5363325363, 0.0514459929],
                             [0.2119034982, 0.6806995451, 0.1073969566],
                             [0.0883024619, 0.2817188376, 0.6299787005]]).T
    return 100 * np.cbrt(lms) @ np.array([[0.2104542553, 0.7936177850, -0.0040720468],
                                          [1.9779984951, -2.4285922050, 0.4505937099],
                                          [0.0259040371, 0.7827717662, -0.8086757660]]).T


def colour_differences(colours) -> np.ndarray:
    """(n, n) perceptual differences (OKLab distance x 100) between n RGB colours; the diagonal is 0.

    >>> float(colour_differences([[0, 0, 0], [1, 1, 1]])[0, 1]).__round__()
    100
    """
    lab = _oklab(colours)
    return np.linalg.norm(lab[:, None] - lab[None], axis=-1)


@functools.lru_cache(maxsize=1)
def _distinct_sequence(length: int) -> np.ndarray:
    """The first ``length`` colours of one fixed sequence, each as far (OKLab) as possible from all
    before it and from white, light grey, grey and black (the background and the context points):
    a greedy farthest-point (Glasbey-style) choice among the sRGB colours of a 20-level grid with
    OKLab lightness 45-85 and some chroma, starting from matplotlib's tab:blue."""
    levels = np.linspace(0.0, 1.0, 20)
    candidates = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)
    lab = _oklab(candidates)
    keep = (lab[:, 0] >= 45) & (lab[:, 0] <= 85) & (np.hypot(lab[:, 1], lab[:, 2]) >= 8)
    candidates, lab = candidates[keep], lab[keep]
    reserved = _oklab([[1.0, 1.0, 1.0], [0.83, 0.83, 0.83], [0.5, 0.5, 0.5], [0.0, 0.0, 0.0]])
    nearest = np.linalg.norm(lab[:, None] - reserved[None], axis=-1).min(1)
    index = int(np.argmin(np.abs(candidates - np.array([31, 119, 180]) / 255).sum(1)))
    chosen = []
    for _ in range(length):
        chosen.append(index)
        nearest = np.minimum(nearest, np.linalg.norm(lab - lab[index], axis=1))
        index = int(np.argmax(nearest))
    return candidates[chosen]


def class_colours(num_classes: int, first: Sequence[int] = ()) -> np.ndarray:
    """One fixed colour per class label, (num_classes, 3) RGB in [0, 1]: label ``c`` is
    ``class_colours(C, first)[c]`` in every figure that uses the same call, so a class keeps its
    colour across the figures of a split.

    The colours are a Glasbey-style sequence: each is the one farthest, in a perceptual colour space
    (:func:`colour_differences`), from every earlier colour and from white and greys, which mark the
    background and unselected points. The labels in ``first`` (e.g. the classes a figure shows
    together) take the sequence's first, most distinct colours, in that order; the other labels
    follow in label order. Any two of the first 12 colours differ by more than 15 (2 is just
    noticeable), of the first 40 by more than 9 and of the first 80 by more than 7; figures with
    many classes also write the class names.

    >>> class_colours(5).shape, bool((class_colours(12)[:5] == class_colours(5)).all())
    ((5, 3), True)
    >>> bool((class_colours(80, first=[42, 7])[[42, 7]] == class_colours(2)).all())
    True
    """
    first = [int(c) for c in first]
    if len(set(first)) != len(first) or any(not 0 <= c < num_classes for c in first):
        raise ValueError(f"first must name distinct labels in [0, {num_classes}), got {first}")
    order = first + [c for c in range(num_classes) if c not in set(first)]
    colours = np.empty((num_classes, 3))
    colours[order] = _distinct_sequence(max(num_classes, 256))[:num_classes]
    return colours


def save_figure(fig: plt.Figure, name: str, folder: str | Path = "figures") -> str:
    """Write ``fig`` to ``folder/name.png`` (stable names; the main command regenerates them)."""
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return str(path)
