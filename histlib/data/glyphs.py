"""``glyphs``: printed characters rendered from installed fonts, the offline stand-in for CUB.

Classes are characters (Latin and Greek letters, the Russian alphabet plus the other Cyrillic
letters of Ukrainian, Belarusian, Serbian and Macedonian, and digits), instances are fonts: like
CUB, many classes, tens to hundreds of instances each, a class-disjoint split, random batches that
hold many classes at once. No download: the fonts come from the Debian ``fonts-*`` packages named
for glyphs in ``histlib/data/debian-packages.txt`` (``scripts/ensure_debian_packages.sh`` installs
them). The font machinery (finding fonts, drawing, missing glyphs, the cache) is in ``fonts``.

Rendering (once, then cached)
    Each font draws each character white on black into a ``size`` x ``size`` uint8 image, scaled
    so that its capital H is ``size / 2`` pixels tall, with the baseline at 3/4 of the height and
    the glyph centred horizontally. Size and position are kept, so "c" and "C" stay different.
    The images are cached in ``root/glyphs/glyphs-<size>px-v<version>.npz`` (git-ignored) and
    reused by later loads; ``rebuild=True`` renders again (e.g. after installing more fonts).

Which fonts count
    Fonts are the TrueType/OpenType files of the listed Debian packages when they are installed
    (``dpkg-query``), otherwise every font in the usual font folders; ``fonts=`` overrides both
    (:func:`histlib.data.fonts.default_font_files`).
    Dropped: file names matching ``EXCLUDED_FONTS`` (small-caps, unicase, math and keyboard-key
    fonts, whose lower case is not lower case); fonts that FreeType cannot open or that have no
    capital H (symbol-only fonts such as STIX's size variants); fonts that draw fewer than 90 %
    of the Latin letters and digits after the checks below (symbol and all-caps fonts); faint
    fonts (median glyph peak below 128, e.g. hairline weights); and fonts whose every image
    equals an earlier font's (the same font shipped twice).

Which glyph images count
    A character is missing from a font when its image is blank, equals the font's .notdef glyph
    (the box drawn for unmapped characters), or does not fit the canvas (``fonts.is_drawn``).
    Within one font, two classes whose images are pixel-identical are ambiguous there (an italic
    Cyrillic "и" that is exactly a "u") and both images are dropped. Within a class, an image
    identical to another font's image is kept once.

Look-alikes (``LOOKALIKES``)
    Characters that are the same shape in most fonts are one class, named by its members
    ("A/Α/А"); each font contributes one image per class, drawn from the first member it has.
    The groups are the Latin/Greek/Cyrillic homoglyphs (measured on the 519 packaged fonts:
    pixel-identical in 73-92 % of the fonts that have both), the near-identical pairs Φ/Ф, K/К,
    κ/к, v/ν (identical in 28-45 %), and the classic confusables O/0 and I/l. Every other pair
    is identical in at most 18 % of the fonts (italic Cyrillic и/u, т/m, п/n), which the
    per-font rule above handles.

Split (``split_glyph_classes``)
    The class table is fixed by this module; a permutation seeded with ``seed`` (default 0)
    sends ``test_fraction`` (default 1/2, as CUB splits its classes) of the classes to "test" (unseen in training) and the
    rest to "train". The split does not depend on the installed fonts; classes that fewer than
    ``min_font_fraction`` of the fonts (and fewer than 2) render are then left out.

Labels are 0..k-1 in class-table order within the split; ``paths`` are synthetic identifiers
``"glyph:<font file>/U+XXXX"`` naming the font and the character drawn.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from .base import ArrayImageDataset, check_split
from .splits import check_fraction
from .errors import EmptySplitError
from .fonts import (
    RenderedSet, digest, draw_char, drop_ambiguous, face_name, font_cache_path, font_set,
    font_faces, is_drawn, missing_fonts_error, notdef_image, open_font,
)

__all__ = [
    "ALPHABET", "LOOKALIKES", "CLASSES", "EXCLUDED_FONTS", "CACHE_VERSION",
    "GlyphSet", "render_font", "render_glyphs", "glyph_set", "split_glyph_classes", "load_glyphs",
]

CACHE_VERSION = 1
CAP_HEIGHT = 0.5  # height of a capital H, as a fraction of the canvas
BASELINE = 0.75  # baseline position from the top, as a fraction of the canvas
MIN_LATIN_COVERAGE = 0.9  # fraction of the Latin-letter and digit classes a font must draw
MIN_PEAK = 128  # median over a font's glyphs of the brightest pixel; below: too faint


def _chars(*ranges: tuple[int, int], skip: Iterable[int] = ()) -> str:
    skip = set(skip)
    return "".join(chr(c) for start, stop in ranges for c in range(start, stop + 1) if c not in skip)


DIGITS = "0123456789"
LATIN = _chars((0x41, 0x5A), (0x61, 0x7A))
GREEK = _chars((0x391, 0x3A9), (0x3B1, 0x3C9), skip=[0x3A2])  # 24 capitals, 25 small (with final sigma)
CYRILLIC = _chars(
    (0x410, 0x415), (0x401, 0x401), (0x416, 0x435), (0x451, 0x451), (0x436, 0x44F),  # Russian, Ё/ё in place
    (0x402, 0x40C), (0x40E, 0x40F), (0x490, 0x490),  # Ђ Ѓ Є Ѕ І Ї Ј Љ Њ Ћ Ќ Ў Џ Ґ
    (0x452, 0x45C), (0x45E, 0x45F), (0x491, 0x491),  # ђ ѓ є ѕ і ї ј љ њ ћ ќ ў џ ґ
)
ALPHABET = DIGITS + LATIN + GREEK + CYRILLIC

# One class each; the first member is drawn when the font has it. Written with escapes because
# the members look the same: that is the point.
LOOKALIKES = (
    "A\u0391\u0410",  # Latin A, Greek Alpha, Cyrillic A
    "B\u0392\u0412",  # B, Beta, Ve
    "C\u0421",  # C, Es
    "E\u0395\u0415",  # E, Epsilon, Ie
    "H\u0397\u041d",  # H, Eta, En
    "I\u0399\u0406l",  # I, Iota, Ukrainian I, small L
    "J\u0408",  # J, Je
    "K\u039a\u041a",  # K, Kappa, Ka
    "M\u039c\u041c",  # M, Mu, Em
    "N\u039d",  # N, Nu
    "O\u039f\u041e0",  # O, Omicron, Cyrillic O, digit zero
    "P\u03a1\u0420",  # P, Rho, Er
    "S\u0405",  # S, Dze
    "T\u03a4\u0422",  # T, Tau, Te
    "X\u03a7\u0425",  # X, Chi, Ha
    "Y\u03a5",  # Y, Upsilon
    "Z\u0396",  # Z, Zeta
    "a\u0430",  # a, Cyrillic a
    "c\u0441",  # c, es
    "e\u0435",  # e, ie
    "i\u0456",  # i, Ukrainian i
    "j\u0458",  # j, je
    "o\u03bf\u043e",  # o, omicron, Cyrillic o
    "p\u0440",  # p, er
    "s\u0455",  # s, dze
    "x\u0445",  # x, ha
    "y\u0443",  # y, u
    "v\u03bd",  # v, nu
    "\u0393\u0413",  # Gamma, Ghe
    "\u03a0\u041f",  # Pi, Pe
    "\u03a6\u0424",  # Phi, Ef
    "\u03ba\u043a",  # kappa, ka
)


def _class_table() -> tuple[str, ...]:
    """Every class as the string of its members, in ALPHABET order of the first member met."""
    group_of = {char: group for group in LOOKALIKES for char in group}
    table, seen = [], set()
    for char in ALPHABET:
        group = group_of.get(char, char)
        if group not in seen:
            seen.add(group)
            table.append(group)
    return tuple(table)


CLASSES = _class_table()  # 159 classes
_LATIN_CLASSES = np.array([any(c in LATIN + DIGITS for c in group) for group in CLASSES])

# Fonts whose lower case is not lower case (small caps, unicase), whose glyphs sit in key caps
# (Linux Biolinum Keyboard), or that duplicate a text font with math metrics.
EXCLUDED_FONTS = re.compile(r"smallcaps|stylestd|unifur|math|linbiolinum_k\b", re.IGNORECASE)


def class_name(group: str) -> str:
    """A class's display name: its members joined by "/" ("A/Α/А", "Ж")."""
    return "/".join(group)


# ---------------------------------------------------------------------------------------------
# Rendering


def render_font(path: str | Path, index: int = 0, size: int = 32) -> tuple[np.ndarray, np.ndarray] | None:
    """Render every class of ``CLASSES`` with one font face.

    Returns ``images``: (K, size, size) uint8 (zeros where missing) and ``codepoints``: (K,)
    int32, the character drawn per class (0 = missing, ambiguous ones included); or None when
    FreeType cannot open the face or it has no capital H.
    """
    probe = open_font(path, index, 100)
    if probe is None:
        return None
    try:
        cap = -probe.getbbox("H", anchor="ls")[1]
    except (OSError, ValueError):
        return None
    if cap <= 0:
        return None
    font = open_font(path, index, round(size * CAP_HEIGHT * 100 / cap))
    if font is None:
        return None
    baseline = round(size * BASELINE)
    notdef = notdef_image(font, size, baseline)
    images = np.zeros((len(CLASSES), size, size), np.uint8)
    codepoints = np.zeros(len(CLASSES), np.int32)
    for k, group in enumerate(CLASSES):
        for char in group:
            try:
                image, fits = draw_char(font, char, size, baseline)
            except (OSError, ValueError):
                continue
            if is_drawn(image, fits, notdef):
                images[k], codepoints[k] = image, ord(char)
                break
    drop_ambiguous(images, codepoints)
    return images, codepoints


def _font_problem(images: np.ndarray, codepoints: np.ndarray) -> str | None:
    """Why a rendered font is not used, or None."""
    present = codepoints > 0
    if present[_LATIN_CLASSES].mean() < MIN_LATIN_COVERAGE:
        return "draws too few of the Latin letters and digits"
    if np.median(images[present].max(axis=(1, 2))) < MIN_PEAK:
        return "too faint"
    return None


class GlyphSet(RenderedSet):
    """Every rendered glyph image (both splits), as cached on disk (see :class:`~histlib.data.fonts.RenderedSet`);
    ``classes`` is the class table (member strings)."""

    version = CACHE_VERSION

    @classmethod
    def load(cls, path: Path) -> "GlyphSet | None":
        """The cached set, or None if the file is unreadable or from another version/class table."""
        glyphs = super().load(path)
        return glyphs if glyphs is not None and glyphs.classes == CLASSES else None


def usable_fonts(
    font_files: Iterable[str | Path], size: int = 32, max_fonts: int | None = None
) -> Iterable[tuple[Path, int, np.ndarray, np.ndarray]]:
    """(path, face, images, codepoints) of :func:`render_font` for every usable face of
    ``font_files`` (sorted), dropping the excluded, unreadable, sparse or faint fonts and every
    font whose renders equal an earlier one's; at most ``max_fonts`` of them."""
    seen: set[bytes] = set()
    for path in sorted({Path(f) for f in font_files}):
        if EXCLUDED_FONTS.search(path.name):
            continue
        for face in font_faces(path):
            if max_fonts is not None and len(seen) >= max_fonts:
                return
            rendered = render_font(path, face, size)
            if rendered is None or _font_problem(*rendered):
                continue
            key = digest(*rendered)
            if key not in seen:
                seen.add(key)
                yield path, face, *rendered


def render_glyphs(font_files: Sequence[str | Path], size: int = 32, max_fonts: int | None = None) -> GlyphSet:
    """Render ``CLASSES`` with every usable face of ``font_files`` (sorted), applying the rules above.

    ``max_fonts`` stops after that many usable fonts (for quick tests).
    """
    start = time.perf_counter()
    images, class_index, font_index, codepoints, names = [], [], [], [], []
    seen_images: set[tuple[int, bytes]] = set()
    for path, face, font_images, font_codepoints in usable_fonts(font_files, size, max_fonts):
            for k in np.flatnonzero(font_codepoints):
                key = (int(k), font_images[k].tobytes())
                if key in seen_images:
                    continue
                seen_images.add(key)
                images.append(font_images[k])
                class_index.append(k)
                font_index.append(len(names))
                codepoints.append(font_codepoints[k])
            names.append(face_name(path, face))
    return GlyphSet.from_lists(size, images, class_index, font_index, codepoints, CLASSES, names, start)


def glyph_cache_path(root: str | Path, size: int, fonts: Sequence[str | Path] | None, max_fonts: int | None) -> Path:
    """``root/glyphs/glyphs-<size>px[-<key>]-v<version>.npz``; the key marks non-default font choices."""
    return font_cache_path(root, "glyphs", size, CACHE_VERSION, fonts, (max_fonts,))


def glyph_set(root: str | Path = "data", size: int = 32, fonts: Sequence[str | Path] | None = None,
              max_fonts: int | None = None, rebuild: bool = False) -> GlyphSet:
    """The cached glyph set for these settings, rendering (and caching) it when needed."""

    def render(files: list[Path], source: str) -> GlyphSet:
        glyphs = render_glyphs(files, size, max_fonts)
        if not glyphs.fonts:
            raise missing_fonts_error("glyphs", source, len(files), "TrueType/OpenType fonts with Latin letters")
        return glyphs

    return font_set(GlyphSet, "glyphs", glyph_cache_path(root, size, fonts, max_fonts), size, fonts, render, rebuild)


# ---------------------------------------------------------------------------------------------
# The dataset


def split_glyph_classes(seed: int = 0, test_fraction: float = 1 / 2) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices into ``CLASSES``, each ascending; fixed by ``seed`` alone.

    >>> train, test = split_glyph_classes()
    >>> len(train), len(test), len(set(train) & set(test))
    (79, 80, 0)
    """
    check_fraction("test_fraction", test_fraction)
    order = np.random.default_rng(seed).permutation(len(CLASSES))
    n_test = int(round(test_fraction * len(CLASSES)))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def load_glyphs(root: str | Path = "data", split: str = "train", transform: Callable | None = None, *, size: int = 32,
                fonts: Sequence[str | Path] | None = None, max_fonts: int | None = None, seed: int = 0,
                test_fraction: float = 1 / 2, min_font_fraction: float = 0.1, rebuild: bool = False
                ) -> ArrayImageDataset:
    """The glyphs dataset's ``split`` (see the module docstring): (N, size, size) uint8 images."""
    check_split(split)
    glyphs = glyph_set(root, size, fonts, max_fonts, rebuild)
    train, test = split_glyph_classes(seed, test_fraction)
    wanted = train if split == "train" else test
    per_class = np.bincount(glyphs.class_index, minlength=len(CLASSES))
    needed = max(2, math.ceil(min_font_fraction * len(glyphs.fonts)))
    kept = np.array([k for k in wanted if per_class[k] >= needed], dtype=np.int64)
    if not len(kept):
        raise EmptySplitError.of(
            "glyphs", split, root,
            f"no {split} class is drawn by {needed} of the {len(glyphs.fonts)} fonts; use more fonts or a lower "
            "min_font_fraction",
        )
    return glyphs.split_dataset(kept, [class_name(CLASSES[k]) for k in kept], name="glyphs", prefix="glyph",
                                split=split, root=root, transform=transform)
