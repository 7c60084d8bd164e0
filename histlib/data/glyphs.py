"""``glyphs``: printed characters rendered from installed fonts, the offline stand-in for CUB.

Classes are characters (Latin and Greek letters, the Russian alphabet plus the other Cyrillic
letters of Ukrainian, Belarusian, Serbian and Macedonian, and digits), instances are fonts: like
CUB, many classes, tens to hundreds of instances each, a class-disjoint split, random batches that
hold many classes at once. No download: the fonts come from the Debian ``fonts-*`` packages named
in ``scripts/debian-packages.txt`` (``scripts/ensure_debian_packages.sh`` installs them).

Rendering (once, then cached)
    Each font draws each character white on black into a ``size`` x ``size`` uint8 image, scaled
    so that its capital H is ``size / 2`` pixels tall, with the baseline at 3/4 of the height and
    the glyph centred horizontally. Size and position are kept, so "c" and "C" stay different.
    The images are cached in ``root/glyphs/glyphs-<size>px-v<version>.npz`` (git-ignored) and
    reused by later loads; ``rebuild=True`` renders again (e.g. after installing more fonts).

Which fonts count
    Fonts are the TrueType/OpenType files of the listed Debian packages when they are installed
    (``dpkg-query``), otherwise every font in the usual font folders; ``fonts=`` overrides both.
    Dropped: file names matching ``EXCLUDED_FONTS`` (small-caps, unicase, math and keyboard-key
    fonts, whose lower case is not lower case); fonts that FreeType cannot open or that have no
    capital H (symbol-only fonts such as STIX's size variants); fonts that draw fewer than 90 %
    of the Latin letters and digits after the checks below (symbol and all-caps fonts); faint
    fonts (median glyph peak below 128, e.g. hairline weights); and fonts whose every image
    equals an earlier font's (the same font shipped twice).

Which glyph images count
    A character is missing from a font when its image is blank, equals the font's .notdef glyph
    (the box drawn for unmapped characters), or does not fit the canvas. Within one font, two
    classes whose images are pixel-identical are ambiguous there (an italic Cyrillic "и" that is
    exactly a "u") and both images are dropped. Within a class, an image identical to another
    font's image is kept once.

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

import hashlib
import math
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .base import ArrayImageDataset, check_split
from .errors import DatasetNotFoundError

__all__ = [
    "ALPHABET", "LOOKALIKES", "CLASSES", "EXCLUDED_FONTS", "CACHE_VERSION",
    "GlyphSet", "default_font_files", "font_packages", "render_glyphs", "glyph_set",
    "split_glyph_classes", "load_glyphs",
]

CACHE_VERSION = 1
CAP_HEIGHT = 0.5  # height of a capital H, as a fraction of the canvas
BASELINE = 0.75  # baseline position from the top, as a fraction of the canvas
MIN_INK = 3 * 255  # an image with less total ink is blank
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
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
PACKAGE_LIST = Path(__file__).resolve().parents[2] / "scripts" / "debian-packages.txt"
FONT_FOLDERS = (
    "/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts",
    "/Library/Fonts", "/System/Library/Fonts", "~/Library/Fonts", "C:/Windows/Fonts",
)


def class_name(group: str) -> str:
    """A class's display name: its members joined by "/" ("A/Α/А", "Ж")."""
    return "/".join(group)


# ---------------------------------------------------------------------------------------------
# Finding fonts


def font_packages(list_file: str | Path = PACKAGE_LIST) -> list[str]:
    """The ``fonts-*`` package names in the project's Debian package list (comments ignored)."""
    path = Path(list_file)
    if not path.is_file():
        return []
    names = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [name for name in names if name.startswith("fonts-")]


def _is_font(path: Path) -> bool:
    return path.suffix.lower() in FONT_SUFFIXES and path.is_file()


def debian_font_files(packages: Sequence[str]) -> list[Path]:
    """Font files of those of ``packages`` that are installed (empty without dpkg-query)."""
    if not packages or shutil.which("dpkg-query") is None:
        return []
    listing = subprocess.run(["dpkg-query", "-L", *packages], capture_output=True, text=True)
    return sorted({Path(line) for line in listing.stdout.splitlines() if _is_font(Path(line))})


def folder_font_files(folders: Iterable[str | Path] | None = None) -> list[Path]:
    """Every font file under ``folders`` (those that exist; default ``FONT_FOLDERS``)."""
    found = set()
    for folder in FONT_FOLDERS if folders is None else folders:
        folder = Path(folder).expanduser()
        if folder.is_dir():
            found.update(p for p in folder.rglob("*") if _is_font(p))
    return sorted(found)


def default_font_files() -> tuple[list[Path], str]:
    """(font files, where they came from): the listed Debian packages, else the font folders."""
    files = debian_font_files(font_packages())
    if files:
        return files, f"the Debian packages listed in {PACKAGE_LIST.name}"
    return folder_font_files(), "the font folders " + ", ".join(FONT_FOLDERS)


def _faces(path: Path) -> list[int]:
    """Face indices of a font file: several for a collection (.ttc/.otc), else [0]."""
    try:
        with open(path, "rb") as f:
            header = f.read(12)
    except OSError:
        return []
    if header[:4] == b"ttcf":
        return list(range(int.from_bytes(header[8:12], "big")))
    return [0]


# ---------------------------------------------------------------------------------------------
# Rendering


def _draw(font: ImageFont.FreeTypeFont, char: str, size: int, baseline: int) -> tuple[np.ndarray, bool]:
    """(size, size) uint8 image of ``char``, centred, baseline at ``baseline``; and whether it fits."""
    x0, y0, x1, y1 = font.getbbox(char, anchor="ls")
    canvas = Image.new("L", (size, size), 0)
    ImageDraw.Draw(canvas).text(((size - (x1 - x0)) / 2 - x0, baseline), char, font=font, fill=255, anchor="ls")
    fits = baseline + y0 >= 0 and baseline + y1 <= size and x1 - x0 <= size
    return np.asarray(canvas), fits


def render_font(path: str | Path, index: int = 0, size: int = 32) -> tuple[np.ndarray, np.ndarray] | None:
    """Render every class of ``CLASSES`` with one font face.

    Returns ``images``: (K, size, size) uint8 (zeros where missing) and ``codepoints``: (K,)
    int32, the character drawn per class (0 = missing, ambiguous ones included); or None when
    FreeType cannot open the face or it has no capital H.
    """
    layout = ImageFont.Layout.BASIC
    try:
        probe = ImageFont.truetype(str(path), 100, index=index, layout_engine=layout)
        cap = -probe.getbbox("H", anchor="ls")[1]
        if cap <= 0:
            return None
        font = ImageFont.truetype(str(path), max(4, round(size * CAP_HEIGHT * 100 / cap)), index=index, layout_engine=layout)
    except (OSError, ValueError):
        return None
    baseline = round(size * BASELINE)
    notdef, _ = _draw(font, "\uffff", size, baseline)  # a noncharacter: always drawn as .notdef
    images = np.zeros((len(CLASSES), size, size), np.uint8)
    codepoints = np.zeros(len(CLASSES), np.int32)
    for k, group in enumerate(CLASSES):
        for char in group:
            try:
                image, fits = _draw(font, char, size, baseline)
            except (OSError, ValueError):
                continue
            if fits and int(image.sum(dtype=np.int64)) >= MIN_INK and not np.array_equal(image, notdef):
                images[k], codepoints[k] = image, ord(char)
                break
    _drop_ambiguous(images, codepoints)
    return images, codepoints


def _drop_ambiguous(images: np.ndarray, codepoints: np.ndarray) -> None:
    """Within one font, classes whose images are pixel-identical are all marked missing."""
    by_image: dict[bytes, list[int]] = {}
    for k in np.flatnonzero(codepoints):
        by_image.setdefault(images[k].tobytes(), []).append(int(k))
    for same in by_image.values():
        if len(same) > 1:
            codepoints[same] = 0
            images[same] = 0


def _font_problem(images: np.ndarray, codepoints: np.ndarray) -> str | None:
    """Why a rendered font is not used, or None."""
    present = codepoints > 0
    if present[_LATIN_CLASSES].mean() < MIN_LATIN_COVERAGE:
        return "draws too few of the Latin letters and digits"
    if np.median(images[present].max(axis=(1, 2))) < MIN_PEAK:
        return "too faint"
    return None


@dataclass
class GlyphSet:
    """Every rendered glyph image (both splits), as cached on disk.

    images: (N, S, S) uint8; class_index: (N,) index into ``classes``; font_index: (N,) index into
    ``fonts``; codepoints: (N,) the character drawn; classes: the class table (member strings);
    fonts: font names ("<file>" or "<file>#<face>"); seconds: time the rendering took.
    """

    images: np.ndarray
    class_index: np.ndarray
    font_index: np.ndarray
    codepoints: np.ndarray
    classes: tuple[str, ...]
    fonts: tuple[str, ...]
    seconds: float = 0.0

    def save(self, path: Path) -> None:
        """Write atomically (a temporary file renamed), so a crash never leaves half a cache."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                np.savez_compressed(
                    f, images=self.images, class_index=self.class_index, font_index=self.font_index,
                    codepoints=self.codepoints, classes=np.array(self.classes), fonts=np.array(self.fonts),
                    seconds=np.array(self.seconds), version=np.array(CACHE_VERSION),
                )
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    @classmethod
    def load(cls, path: Path) -> "GlyphSet | None":
        """The cached set, or None if the file is unreadable or from another version/class table."""
        try:
            with np.load(path) as data:
                if int(data["version"]) != CACHE_VERSION or tuple(data["classes"].tolist()) != CLASSES:
                    return None
                return cls(
                    data["images"], data["class_index"], data["font_index"], data["codepoints"],
                    CLASSES, tuple(data["fonts"].tolist()), float(data["seconds"]),
                )
        except (OSError, ValueError, KeyError, EOFError):
            return None


def render_glyphs(font_files: Sequence[str | Path], size: int = 32, max_fonts: int | None = None) -> GlyphSet:
    """Render ``CLASSES`` with every usable face of ``font_files`` (sorted), applying the rules above.

    ``max_fonts`` stops after that many usable fonts (for quick tests).
    """
    start = time.perf_counter()
    images, class_index, font_index, codepoints, fonts = [], [], [], [], []
    seen_fonts: set[bytes] = set()
    seen_images: set[tuple[int, bytes]] = set()
    for path in sorted({Path(f) for f in font_files}):
        if max_fonts is not None and len(fonts) >= max_fonts:
            break
        if EXCLUDED_FONTS.search(path.name):
            continue
        for face in _faces(path):
            if max_fonts is not None and len(fonts) >= max_fonts:
                break
            rendered = render_font(path, face, size)
            if rendered is None or _font_problem(*rendered):
                continue
            font_images, font_codepoints = rendered
            digest = hashlib.sha1(font_images.tobytes() + font_codepoints.tobytes()).digest()
            if digest in seen_fonts:
                continue
            seen_fonts.add(digest)
            for k in np.flatnonzero(font_codepoints):
                key = (int(k), font_images[k].tobytes())
                if key in seen_images:
                    continue
                seen_images.add(key)
                images.append(font_images[k])
                class_index.append(k)
                font_index.append(len(fonts))
                codepoints.append(font_codepoints[k])
            fonts.append(path.name if face == 0 else f"{path.name}#{face}")
    return GlyphSet(
        np.stack(images) if images else np.zeros((0, size, size), np.uint8),
        np.asarray(class_index, np.int16),
        np.asarray(font_index, np.int16),
        np.asarray(codepoints, np.int32),
        CLASSES,
        tuple(fonts),
        time.perf_counter() - start,
    )


def glyph_cache_path(root: str | Path, size: int, fonts: Sequence[str | Path] | None, max_fonts: int | None) -> Path:
    """``root/glyphs/glyphs-<size>px[-<key>]-v<version>.npz``; the key marks non-default font choices."""
    name = f"glyphs-{size}px"
    if fonts is not None or max_fonts is not None:
        chosen = "\n".join(sorted(str(Path(f).resolve()) for f in fonts)) if fonts is not None else "default"
        name += "-" + hashlib.sha1(f"{chosen}|{max_fonts}".encode()).hexdigest()[:10]
    return Path(root) / "glyphs" / f"{name}-v{CACHE_VERSION}.npz"


def glyph_set(
    root: str | Path = "data",
    size: int = 32,
    fonts: Sequence[str | Path] | None = None,
    max_fonts: int | None = None,
    rebuild: bool = False,
) -> GlyphSet:
    """The cached glyph set for these settings, rendering (and caching) it when needed."""
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}")
    path = glyph_cache_path(root, size, fonts, max_fonts)
    if not rebuild and path.is_file():
        cached = GlyphSet.load(path)
        if cached is not None:
            return cached
    if fonts is not None:
        files, source = [Path(f) for f in fonts], "the fonts passed as fonts="
    else:
        files, source = default_font_files()
    glyphs = render_glyphs(files, size, max_fonts)
    if not glyphs.fonts:
        raise DatasetNotFoundError.expected(
            "glyphs", source,
            f"usable TrueType/OpenType fonts, {len(files)} font files found; on Debian run "
            "`bash scripts/ensure_debian_packages.sh` to install the packages of scripts/debian-packages.txt",
        )
    glyphs.save(path)
    return glyphs


# ---------------------------------------------------------------------------------------------
# The dataset


def split_glyph_classes(seed: int = 0, test_fraction: float = 1 / 2) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices into ``CLASSES``, each ascending; fixed by ``seed`` alone.

    >>> train, test = split_glyph_classes()
    >>> len(train), len(test), len(set(train) & set(test))
    (79, 80, 0)
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    order = np.random.default_rng(seed).permutation(len(CLASSES))
    n_test = int(round(test_fraction * len(CLASSES)))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def load_glyphs(
    root: str | Path = "data",
    split: str = "train",
    transform: Callable | None = None,
    *,
    size: int = 32,
    fonts: Sequence[str | Path] | None = None,
    max_fonts: int | None = None,
    seed: int = 0,
    test_fraction: float = 1 / 2,
    min_font_fraction: float = 0.1,
    rebuild: bool = False,
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
        raise ValueError(
            f"glyphs: no {split} class is drawn by {needed} of the {len(glyphs.fonts)} fonts; "
            "use more fonts or a lower min_font_fraction"
        )
    new_label = np.full(len(CLASSES), -1, dtype=np.int64)
    new_label[kept] = np.arange(len(kept))
    rows = np.flatnonzero(new_label[glyphs.class_index] >= 0)
    paths = [f"glyph:{glyphs.fonts[glyphs.font_index[i]]}/U+{int(glyphs.codepoints[i]):04X}" for i in rows]
    return ArrayImageDataset(
        np.ascontiguousarray(glyphs.images[rows]),
        new_label[glyphs.class_index[rows]],
        [class_name(CLASSES[k]) for k in kept],
        paths=paths,
        transform=transform,
        name="glyphs",
        split=split,
        root=str(root),
    )
