"""``kanji``: CJK ideographs as classes, the fonts that draw them as instances; the stand-in for SOP.

Stanford Online Products has 11,318 training classes of ~5 images each: a random batch holds
nearly one image per class (every hyperedge a singleton) and C is huge. Here the classes are CJK
Unified Ideographs (U+4E00-U+9FFF) and the instances are the CJK fonts that really draw them, in
many styles (mincho/song, gothic/hei, kai, brush, handwriting, pixel, display). No download: the
fonts come from the packages listed for kanji in ``histlib/data/debian-packages.txt``
(``scripts/ensure_debian_packages.sh`` installs them).

Rendering (once, then cached)
    Each font is drawn at 3/4 of the canvas per em (ideographs are designed inside the em square)
    with its advance box centred horizontally; vertically, the baseline is placed so that the
    median centre of the ink of the reference ideographs 口日田目中, measured at 4x the size, sits
    at the middle of the canvas. A font that does not draw 3 of the references is not a CJK font.
    Images are cached in ``root/kanji/kanji-<size>px-v<version>.npz``.

Which images count
    A character is missing from a font when its image is blank, equals the font's .notdef image
    or does not fit (:func:`histlib.data.fonts.is_drawn`); within one font, characters drawn
    pixel-identically are all dropped (a placeholder glyph; compared among the characters drawn
    together, see :func:`render_kanji`); within a class, an image identical to an earlier font's
    is kept once.

Which fonts count (``NEAR_DUPLICATE``)
    Debian ships some designs twice: TakaoGothic is IPAGothic renamed, the proportional "P"
    variants draw the same ideographs, collections (.ttc) hold variants of one design.
    Fonts are taken in path order; each is first drawn on the ``PROBE`` characters (every 64th
    codepoint of the block) and dropped when its probe images differ from an earlier kept font's
    by less than ``NEAR_DUPLICATE`` = 0.015 (mean absolute pixel difference in [0, 1] over the
    probe characters both draw, at least 30; :func:`histlib.data.fonts.pairwise_mad`).
    Measured at 32 px on the 73 CJK faces of the listed packages: 0.0 for the pixel-identical
    copies (P variants, the faces of the UKai, UMing and WenQuanYi collections, Umefont's
    renamed variants, Konatu Tohaba, the three Misaki fonts), 0.0021-0.0046 for Umefont variants
    that differ in a few pixels, 0.0096 for IPAex Gothic against IPA Gothic (its revision); then
    a gap up to 0.0215 (Motoya L Cedar against its rounded Maruberi), 0.0253 (IPAex / IPA
    Mincho), 0.0274 (AR PL UKai / KaitiM Big5), which are kept as related but distinct designs,
    and 0.035 and more between different designs (VL Gothic and VL PGothic, one design hinted
    differently, also differ by 0.035 and are both kept). 49 faces remain.

Classes (``MIN_FONT_FRACTION``)
    The characters that at least ``MIN_FONT_FRACTION`` = 90 % of the kept fonts draw distinctly
    (after the rules above; 45 of the 49): the common ideographs that Japanese, simplified and
    traditional Chinese fonts share, 3,343 classes with 45-49 images each (158,648 images). For
    comparison, 47 of 49 would leave 1,943 classes and 41 of 49 5,290.

Split
    A permutation of the whole block seeded with ``seed`` (default 0) sends half of the
    codepoints to "test": each character's side is fixed by the seed alone, whatever fonts are
    installed; both sides keep their characters that meet ``MIN_FONT_FRACTION``: 1,682 / 1,661
    classes with seed 0. ``max_per_class`` keeps at most that many seeded-random images per
    class (SOP has ~5.3; the ``kanji`` recipe keeps 5).

Labels are 0..k-1 in codepoint order within the split; class names are the characters;
``paths`` are ``"kanji:<font>/U+XXXX"`` naming the font and the character.
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .base import ArrayImageDataset, check_split
from .splits import check_fraction
from .fonts import (
    RenderedSet, draw_char, drop_ambiguous, face_name, font_cache_path, font_faces, font_set,
    font_packages, is_drawn, missing_fonts_error, notdef_image, open_font, pairwise_mad,
)

__all__ = [
    "BLOCK", "EM", "REFERENCE", "PROBE", "NEAR_DUPLICATE", "MIN_FONT_FRACTION", "CACHE_VERSION",
    "KanjiFont", "KanjiSet", "open_kanji_font", "render_kanji", "kanji_set", "split_kanji", "load_kanji",
]

CACHE_VERSION = 1
BLOCK = (0x4E00, 0x9FFF)  # CJK Unified Ideographs: 20,992 codepoints
EM = 0.75  # em square, as a fraction of the canvas side
REFERENCE = "\u53e3\u65e5\u7530\u76ee\u4e2d"  # 口日田目中: in every CJK character set
PROBE = tuple(range(BLOCK[0], BLOCK[1] + 1, 64))  # 328 codepoints for the duplicate-font check
NEAR_DUPLICATE = 0.015  # mean absolute pixel difference on the probe below which a font is a duplicate (above)
MIN_DEFAULT_CLASSES = 2000  # fewer from the default packages: a partial install, warned about
MIN_FONT_FRACTION = 0.9  # a class is drawn distinctly by at least this fraction of the fonts
MIN_PROBE_COMMON = 30


class KanjiFont:
    """One face drawn at ``size``: ``draw(codepoints)`` -> (K, size, size) uint8 images and (K,)
    bool drawn (missing glyphs blank; pixel-identical characters within the font dropped)."""

    def __init__(self, path: Path, face: int, size: int, font, baseline: int):
        self.path, self.face, self.size, self.font, self.baseline = path, face, size, font, baseline
        self.name = face_name(path, face)
        self.notdef = notdef_image(font, size, baseline)
        self.coverage = 0.0  # fraction of the PROBE characters drawn

    def draw(self, codepoints: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        images = np.zeros((len(codepoints), self.size, self.size), np.uint8)
        drawn = np.zeros(len(codepoints), np.int32)
        for i, cp in enumerate(codepoints):
            try:
                image, fits = draw_char(self.font, chr(cp), self.size, self.baseline)
            except (OSError, ValueError):
                continue
            if is_drawn(image, fits, self.notdef):
                images[i], drawn[i] = image, cp
        drop_ambiguous(images, drawn)
        return images, drawn > 0


def open_kanji_font(path: str | Path, face: int = 0, size: int = 32) -> KanjiFont | None:
    """The face at ``size`` with its baseline placed (module docstring), or None when FreeType
    cannot open it or it draws fewer than 3 of the ``REFERENCE`` ideographs."""
    scale = 4
    big = open_font(path, face, round(EM * size * scale))
    font = open_font(path, face, round(EM * size))
    if big is None or font is None:
        return None
    canvas = 2 * size * scale
    centres = []
    try:  # a broken glyph program (FreeType "invalid opcode") can fail on any glyph
        notdef = notdef_image(big, canvas, canvas // 2)
        for char in REFERENCE:
            image, fits = draw_char(big, char, canvas, canvas // 2)
            if is_drawn(image, fits, notdef):
                rows = np.flatnonzero(image.max(axis=1) > 0)
                centres.append(((rows[0] + rows[-1]) / 2 - canvas // 2) / scale)
        if len(centres) < 3:
            return None
        return KanjiFont(Path(path), face, size, font, int(round(size / 2 - float(np.median(centres)))))
    except (OSError, ValueError):
        return None


class KanjiSet(RenderedSet):
    """Every kanji image (both splits), as cached: ``classes`` are the characters, ``codepoints``
    their codepoints per image; ``fonts`` the kept fonts."""

    version = CACHE_VERSION
    class_dtype = np.int32


def _kept_fonts(font_files: Sequence[str | Path], size: int, max_fonts: int | None):
    """The usable, non-duplicate CJK faces of ``font_files`` in path order (module docstring)."""
    kept, probes = [], []
    for path in sorted({Path(f) for f in font_files}):
        for face in font_faces(path):
            if max_fonts is not None and len(kept) >= max_fonts:
                return kept
            font = open_kanji_font(path, face, size)
            if font is None:
                continue
            probe = font.draw(PROBE)
            if not probe[1].any():
                continue
            font.coverage = float(probe[1].mean())
            if probes:
                images = np.stack([p[0] for p in probes] + [probe[0]])
                present = np.stack([p[1] for p in probes] + [probe[1]])
                distance = pairwise_mad(images, present, NEAR_DUPLICATE, MIN_PROBE_COMMON)[-1, :-1]
                if (distance < NEAR_DUPLICATE).any():
                    continue
            kept.append(font)
            probes.append(probe)
    return kept


def render_kanji(
    font_files: Sequence[str | Path], size: int = 32, max_fonts: int | None = None, block: tuple[int, int] = BLOCK,
    min_font_fraction: float = MIN_FONT_FRACTION,
) -> KanjiSet:
    """Render the ideographs of ``block`` (first, last codepoint) with the kept fonts of
    ``font_files`` and keep those that ``min_font_fraction`` of the fonts draw distinctly.

    Fonts are drawn from the smallest character set (on the probe) to the largest, and a
    character stops being drawn as soon as too many fonts have missed it to reach the fraction,
    so after the first few fonts only the few thousand candidates are drawn, not the whole block,
    and only their images are held in memory.
    """
    start = time.perf_counter()
    fonts = _kept_fonts(font_files, size, max_fonts)
    fonts.sort(key=lambda font: font.coverage)
    needed = max(2, math.ceil(min_font_fraction * len(fonts)))
    codepoints = np.arange(block[0], block[1] + 1)
    misses = np.zeros(len(codepoints), np.int64)
    viable = np.full(len(codepoints), len(fonts) >= needed)
    kept: dict[int, dict[bytes, tuple[int, np.ndarray]]] = {}  # codepoint index -> image -> (font, image)
    for f, font in enumerate(fonts):
        candidates = np.flatnonzero(viable)
        images, drawn = font.draw(codepoints[candidates])
        for j, i in enumerate(candidates):
            distinct = kept.setdefault(int(i), {})
            key = images[j].tobytes()
            if drawn[j] and key not in distinct:
                distinct[key] = (f, images[j].copy())  # a copy: a view would keep the font's whole array
                continue
            misses[i] += 1
            if misses[i] > len(fonts) - needed:
                viable[i] = False
                del kept[int(i)]
    classes = np.flatnonzero(viable)
    rows = [(k, f, image) for k, i in enumerate(classes) for f, image in kept[int(i)].values()]
    rows.sort(key=lambda row: (row[0], row[1]))
    return KanjiSet.from_lists(size, [image for _, _, image in rows], [k for k, _, _ in rows], [f for _, f, _ in rows],
                               [codepoints[classes[k]] for k, _, _ in rows], [chr(cp) for cp in codepoints[classes]],
                               [font.name for font in fonts], start)


def kanji_cache_path(
    root: str | Path, size: int, fonts: Sequence[str | Path] | None, max_fonts: int | None, block: tuple[int, int],
    min_font_fraction: float,
) -> Path:
    """``root/kanji/kanji-<size>px[-<key>]-v<version>.npz``; the key marks non-default settings."""
    default = max_fonts is None and tuple(block) == BLOCK and min_font_fraction == MIN_FONT_FRACTION
    return font_cache_path(root, "kanji", size, CACHE_VERSION, fonts, (max_fonts, tuple(block), min_font_fraction),
                           default=default)


def kanji_set(root: str | Path = "data", size: int = 32, fonts: Sequence[str | Path] | None = None,
              max_fonts: int | None = None, block: tuple[int, int] = BLOCK, min_font_fraction: float = MIN_FONT_FRACTION,
              rebuild: bool = False) -> KanjiSet:
    """The cached kanji set for these settings, rendering (and caching) it when needed."""
    if not BLOCK[0] <= block[0] <= block[1] <= BLOCK[1]:
        raise ValueError(f"block must lie within U+{BLOCK[0]:04X}-U+{BLOCK[1]:04X}, got {block}")

    def render(files: list[Path], source: str) -> KanjiSet:
        rendered = render_kanji(files, size, max_fonts, block, min_font_fraction)
        if not rendered.fonts:
            raise missing_fonts_error("kanji", source, len(files), "fonts that draw CJK ideographs")
        if not rendered.classes:
            raise missing_fonts_error(
                "kanji", source, len(files),
                f"CJK fonts that draw the same ideographs: none is drawn distinctly by {min_font_fraction:.0%} of the "
                f"{len(rendered.fonts)} fonts found (at least 2; a lower min_font_fraction accepts more)",
            )
        if fonts is None and len(rendered.classes) < MIN_DEFAULT_CLASSES:
            warnings.warn(
                f"kanji: only {len(rendered.classes):,} ideographs from {len(rendered.fonts)} fonts of {source}; the "
                f"SOP-shaped stand-in expects at least {MIN_DEFAULT_CLASSES:,} (3,343 from 49 fonts with every package "
                f"of histlib/data/debian-packages.txt). Install the missing packages ({' '.join(font_packages('kanji'))}), "
                "then render again: python -m histlib.data.verify kanji --rebuild",
                stacklevel=2,
            )
        return rendered

    path = kanji_cache_path(root, size, fonts, max_fonts, block, min_font_fraction)
    return font_set(KanjiSet, "kanji", path, size, fonts, render, rebuild)


def split_kanji(seed: int = 0, test_fraction: float = 0.5) -> np.ndarray:
    """(20992,) bool over the block's codepoints, True for "test"; fixed by ``seed`` alone.

    >>> test = split_kanji()
    >>> len(test), int(test.sum())
    (20992, 10496)
    """
    check_fraction("test_fraction", test_fraction)
    n = BLOCK[1] - BLOCK[0] + 1
    test = np.zeros(n, bool)
    test[np.random.default_rng(seed).permutation(n)[: int(round(test_fraction * n))]] = True
    return test


def load_kanji(root: str | Path = "data", split: str = "train", transform: Callable | None = None, *, size: int = 32,
               fonts: Sequence[str | Path] | None = None, max_fonts: int | None = None, block: tuple[int, int] = BLOCK,
               min_font_fraction: float = MIN_FONT_FRACTION, seed: int = 0, test_fraction: float = 0.5,
               max_per_class: int | None = None, rebuild: bool = False) -> ArrayImageDataset:
    """The kanji dataset's ``split`` (see the module docstring): (N, size, size) uint8 images."""
    check_split(split)
    kanji = kanji_set(root, size, fonts, max_fonts, block, min_font_fraction, rebuild)
    class_codepoints = np.array([ord(c) for c in kanji.classes], dtype=np.int64)
    test = split_kanji(seed, test_fraction)[class_codepoints - BLOCK[0]]
    kept = np.flatnonzero(test if split == "test" else ~test)
    return kanji.split_dataset(kept, [kanji.classes[k] for k in kept], name="kanji", prefix="kanji", split=split,
                               root=root, transform=transform, max_per_class=max_per_class, seed=seed)
