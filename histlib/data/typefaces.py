"""``typefaces``: the typeface is the class, the characters it draws are its images; the stand-in for Cars.

Cars-196 is fine-grained: every class is a car, and classes differ in subtle style. Here every
class is a typeface (font face) and its instances are the characters it draws, so two images of
one class usually show *different* characters and the network must recognise the style (stroke
weight, contrast, serifs, slant, proportions), not the character. No download: the fonts are those
of ``glyphs`` (the packages listed for ``glyphs typefaces`` in ``histlib/data/debian-packages.txt``).

Rendering (once, then cached)
    Exactly as ``glyphs`` renders (:func:`histlib.data.glyphs.render_font`: capital H half the
    canvas, baseline at 3/4, the same missing-glyph and ambiguity rules and the same font rules,
    :func:`histlib.data.glyphs.usable_fonts`), one image per glyph class (look-alikes such as
    A/Α/А give one image) at ``size`` pixels. Cached in ``root/typefaces/typefaces-<size>px-v2.npz``.

Merging near-identical typefaces (``MERGE_BELOW``)
    Some typefaces render (nearly) identically: the same design under two names (Tuffy_Italic and
    tuffy_italic, Verana Sans and DejaVu Sans, Fanwood and Fanwood Text), or neighbouring weights
    of one family that 32 pixels cannot tell apart (JetBrains Mono Regular / Medium). Two fonts are
    merged when the mean absolute difference of their images over the characters both draw (at
    least 30; pixels in [0, 1], :func:`histlib.data.fonts.pairwise_mad`) is below ``MERGE_BELOW``
    = 0.012, and a group forms only where *every* two of its fonts are that close (complete linkage,
    :func:`histlib.data.fonts.complete_linkage_groups`: a chain of neighbouring weights such as
    JetBrains Mono Thin / ExtraLight / ... / Bold, each close to the next, does not join Thin and Bold,
    which differ by 0.047). Measured at 32 px on the 509 packaged fonts: the 67 pairs below 0.012 are
    all one design under two names or adjacent weights of one family; the first pair of two different designs (Gillius ADF / Switzera ADF Light) lies at
    0.0132, and the bulk of nearest-neighbour distances at 0.015-0.035. For scale, shifting a
    font's own renders by half a pixel changes them by 0.0116 (10th percentile over 120 fonts;
    median 0.020): pairs below the threshold differ less than that jitter, which the training
    augmentation (shifts of up to 2 px) makes the network ignore anyway. 46 of the 509 fonts are
    merged into others: 463 classes.

Which images count
    A class's images are the distinct images of its fonts (pixel-identical ones kept once). An
    image that also occurs in another class (two typefaces sharing a glyph, such as digits) is
    ambiguous and dropped from both.

Split
    Class-disjoint, about half/half like Cars (98/98): a class goes to "test" when a hash of
    (``seed``, class name) falls below ``test_fraction`` (default 1/2), so the side of each class is
    fixed by the seed alone, whichever other fonts are installed. ``max_per_class`` keeps at most
    that many seeded-random images of each class (Cars has ~82).

Labels are 0..k-1 in class-table order within the split; a class is named by the alphabetically
first of its fonts ("JetBrainsMono-Medium.ttf +2" when 2 others were merged into it); ``paths`` are
``"typeface:<font>/U+XXXX"`` naming the font and character drawn.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .base import ArrayImageDataset, check_split
from .splits import check_fraction
from .fonts import (
    RenderedSet, complete_linkage_groups, face_name, font_cache_path, font_set, missing_fonts_error,
    pairwise_mad,
)
from .glyphs import usable_fonts

__all__ = ["CACHE_VERSION", "MERGE_BELOW", "MIN_COMMON", "TypefaceSet", "render_typefaces", "typeface_set",
           "split_by_name", "load_typefaces"]

CACHE_VERSION = 2  # 2: complete-linkage merging, classes named by their first font alphabetically
MERGE_BELOW = 0.012  # mean absolute pixel difference below which two typefaces are one (see above)
MIN_COMMON = 30  # characters two fonts must both draw to be compared


class TypefaceSet(RenderedSet):
    """Every typeface image (both splits), as cached: ``class_index`` is the typeface (merged
    group), ``font_index`` the font that drew the image, ``codepoints`` the character."""

    version = CACHE_VERSION


def render_typefaces(font_files: Sequence[str | Path], size: int = 32, max_fonts: int | None = None) -> TypefaceSet:
    """Render every usable face of ``font_files``, merge near-identical ones, keep the unambiguous images."""
    start = time.perf_counter()
    names, images, codepoints = [], [], []
    for path, face, font_images, font_codepoints in usable_fonts(font_files, size, max_fonts):
        names.append(face_name(path, face))
        images.append(font_images)
        codepoints.append(font_codepoints)
    if not names:
        return TypefaceSet.from_lists(size, [], [], [], [], (), (), start)
    images, codepoints = np.stack(images), np.stack(codepoints)  # (F, K, S, S), (F, K)
    distance = pairwise_mad(images, codepoints > 0, MERGE_BELOW, MIN_COMMON)
    group = complete_linkage_groups(distance, MERGE_BELOW)

    owners: dict[bytes, set[int]] = {}  # image -> the groups that draw it
    for f, k in zip(*np.nonzero(codepoints)):
        owners.setdefault(images[f, k].tobytes(), set()).add(int(group[f]))
    kept_images, class_index, font_index, kept_codepoints = [], [], [], []
    seen: set[bytes] = set()
    for f, k in zip(*np.nonzero(codepoints)):
        key = images[f, k].tobytes()
        if len(owners[key]) > 1 or key in seen:
            continue
        seen.add(key)
        kept_images.append(images[f, k])
        class_index.append(group[f])
        font_index.append(f)
        kept_codepoints.append(codepoints[f, k])
    sizes = np.bincount(group)
    # A class is named by the alphabetically first of its fonts (its split key, see split_by_name),
    # "+N" counting the others merged into it.
    classes = tuple(
        min(names[f] for f in np.flatnonzero(group == g)) + (f" +{sizes[g] - 1}" if sizes[g] > 1 else "")
        for g in range(len(sizes))
    )
    order = np.lexsort((font_index, class_index))  # images grouped by class, then font
    return TypefaceSet.from_lists(size, kept_images, class_index, font_index, kept_codepoints, classes, names, start,
                                  order=order)


def typeface_cache_path(root: str | Path, size: int, fonts: Sequence[str | Path] | None, max_fonts: int | None) -> Path:
    """``root/typefaces/typefaces-<size>px[-<key>]-v<version>.npz``; the key marks non-default fonts."""
    return font_cache_path(root, "typefaces", size, CACHE_VERSION, fonts, (max_fonts,))


def typeface_set(root: str | Path = "data", size: int = 32, fonts: Sequence[str | Path] | None = None,
                 max_fonts: int | None = None, rebuild: bool = False) -> TypefaceSet:
    """The cached typeface set for these settings, rendering (and caching) it when needed."""

    def render(files: list[Path], source: str) -> TypefaceSet:
        rendered = render_typefaces(files, size, max_fonts)
        if len(rendered.classes) < 2:
            raise missing_fonts_error(
                "typefaces", source, len(files), f"at least 2 usable fonts with Latin letters, {len(rendered.classes)} found"
            )
        return rendered

    return font_set(TypefaceSet, "typefaces", typeface_cache_path(root, size, fonts, max_fonts), size, fonts, render,
                    rebuild)


def split_by_name(names: Sequence[str], seed: int = 0, test_fraction: float = 0.5) -> np.ndarray:
    """(C,) bool, True for the classes that go to "test": sha1 of (seed, name) below test_fraction.

    Each class's side depends only on its name (without a trailing " +N", the number of fonts merged
    into it, which other installed fonts could change) and the seed.

    >>> int(split_by_name([f"font{i}.ttf" for i in range(1000)], seed=0).sum())
    492
    """
    check_fraction("test_fraction", test_fraction)
    keys = [re.sub(r" \+\d+$", "", name) for name in names]  # without the count of merged fonts
    draws = [int.from_bytes(hashlib.sha1(f"{seed}/{key}".encode()).digest()[:8], "big") / 2**64 for key in keys]
    return np.array(draws) < test_fraction


def load_typefaces(root: str | Path = "data", split: str = "train", transform: Callable | None = None, *,
                   size: int = 32, fonts: Sequence[str | Path] | None = None, max_fonts: int | None = None,
                   seed: int = 0, test_fraction: float = 0.5, max_per_class: int | None = None, rebuild: bool = False
                   ) -> ArrayImageDataset:
    """The typefaces dataset's ``split`` (see the module docstring): (N, size, size) uint8 images."""
    check_split(split)
    typefaces = typeface_set(root, size, fonts, max_fonts, rebuild)
    test = split_by_name(typefaces.classes, seed, test_fraction)
    kept = np.flatnonzero(test if split == "test" else ~test)
    return typefaces.split_dataset(kept, [typefaces.classes[k] for k in kept], name="typefaces", prefix="typeface",
                                   split=split, root=root, transform=transform, max_per_class=max_per_class, seed=seed)
