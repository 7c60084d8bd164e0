"""Font machinery shared by the datasets rendered from installed fonts (glyphs, typefaces, kanji).

Where fonts come from
    ``debian-packages.txt`` (next to this module, shipped with the package) lists the Debian
    packages of every offline dataset; a comment line ``# for: NAME ...`` starts the packages of
    the datasets it names. :func:`default_font_files` gives the font files of a dataset's packages
    when they are installed (``dpkg-query -L``), otherwise every font in the usual font folders.
    ``scripts/ensure_debian_packages.sh`` installs the listed packages.

Drawing (:func:`draw_char`)
    One character, white on black, into a ``size`` x ``size`` uint8 canvas: its advance box
    centred horizontally, its baseline at row ``baseline``; it *fits* when its box lies inside
    the canvas. Each dataset chooses the pixel size of the font and the baseline.

Missing glyphs (:func:`is_drawn`)
    A character a font lacks renders as its .notdef glyph (a box, "tofu") or as nothing, so an
    image counts only if it is not blank (at least ``MIN_INK``, three full pixels of ink), is not
    pixel-identical to the font's .notdef image (drawn for the noncharacter U+FFFF, which no font
    maps) and fits the canvas. Within one font, images of different characters that are
    pixel-identical (a placeholder glyph, or shapes the font does not tell apart) are ambiguous:
    :func:`drop_ambiguous` drops them all.

Cache (:class:`RenderedSet`)
    Renders are cached as one ``.npz`` per setting, written atomically (a temporary file renamed)
    and stamped with a version; a cache that cannot be read completely (truncated, corrupt, other
    version) is treated as absent, so the caller renders again.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import subprocess
import time
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar, Iterable, Sequence, TypeVar

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .base import ArrayImageDataset, path_problem, relabel
from .errors import DatasetNotFoundError
from .splits import capped_indices

__all__ = [
    "PACKAGE_LIST", "FONT_SUFFIXES", "FONT_FOLDERS", "MIN_INK", "NOTDEF_PROBE",
    "packages_for", "font_packages", "debian_font_files", "folder_font_files", "default_font_files",
    "font_faces", "face_name", "open_font", "draw_char", "notdef_image", "is_drawn", "drop_ambiguous",
    "digest", "pairwise_mad", "complete_linkage_groups", "RenderedSet", "cached_render", "font_cache_path",
    "chosen_font_files", "missing_fonts_error", "font_set", "MIN_SIZE",
]

PACKAGE_LIST = Path(__file__).with_name("debian-packages.txt")
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
FONT_FOLDERS = (
    "/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts",
    "/Library/Fonts", "/System/Library/Fonts", "~/Library/Fonts", "C:/Windows/Fonts",
)
MIN_INK = 3 * 255  # an image with less total ink is blank
NOTDEF_PROBE = "\uffff"  # a noncharacter: every font draws its .notdef glyph for it


# ---------------------------------------------------------------------------------------------
# Finding fonts


def packages_for(dataset: str | None = None, list_file: str | Path = PACKAGE_LIST) -> list[str]:
    """Packages of ``list_file`` in the sections naming ``dataset`` (all of them for None).

    >>> "fonts-dejavu-core" in packages_for("glyphs"), "fonts-dejavu-core" in packages_for("kanji")
    (True, False)
    """
    path = Path(list_file)
    if not path.is_file():
        return []
    found, current = [], set()
    for line in path.read_text().splitlines():
        text = line.strip()
        if text.startswith("#"):
            words = text[1:].split()
            if words[:1] == ["for:"]:
                current = set(words[1:])
            continue
        name = text.split("#", 1)[0].strip()
        if name and (dataset is None or dataset in current) and name not in found:
            found.append(name)
    return found


def font_packages(dataset: str, list_file: str | Path = PACKAGE_LIST) -> list[str]:
    """The ``fonts-*`` packages that ``dataset`` renders, in list order."""
    return [name for name in packages_for(dataset, list_file) if name.startswith("fonts-")]


def _is_font(path: Path) -> bool:
    return path.suffix.lower() in FONT_SUFFIXES and path_problem(path) is None  # unreadable: not a font here


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
        if path_problem(folder, "folder") is None:
            found.update(p for p in folder.rglob("*") if _is_font(p))
    return sorted(found)


def default_font_files(dataset: str) -> tuple[list[Path], str]:
    """(font files, where they came from) for ``dataset``: its Debian packages, else the font folders."""
    files = debian_font_files(font_packages(dataset))
    if files:
        return files, f"the Debian packages listed for {dataset} in {PACKAGE_LIST.name}"
    return folder_font_files(), "the font folders " + ", ".join(FONT_FOLDERS)


def chosen_font_files(dataset: str, fonts: Sequence[str | Path] | None) -> tuple[list[Path], str]:
    """(font files, where they came from): ``fonts`` when given, else :func:`default_font_files`."""
    if fonts is not None:
        return [Path(f) for f in fonts], "the fonts passed as fonts="
    return default_font_files(dataset)


def missing_fonts_error(dataset: str, source: str, files: int, what: str) -> DatasetNotFoundError:
    """The error for "no usable font": names what was looked for, where, and what to install."""
    packages = " ".join(font_packages(dataset)) or "(none listed)"
    return DatasetNotFoundError.expected(
        dataset, source,
        f"{what}; {files} font files found there. On Debian install the packages listed for {dataset} in "
        f"histlib/data/debian-packages.txt: `bash scripts/ensure_debian_packages.sh` in a checkout, or "
        f"`sudo apt-get install --no-install-recommends {packages}`",
    )


def font_faces(path: str | Path) -> list[int]:
    """Face indices of a font file: several for a collection (.ttc/.otc), else [0]; [] if unreadable."""
    try:
        with open(path, "rb") as f:
            header = f.read(12)
    except OSError:
        return []
    if header[:4] == b"ttcf":
        return list(range(int.from_bytes(header[8:12], "big")))
    return [0]


def face_name(path: str | Path, face: int) -> str:
    """How a face is named in datasets: ``"<file>"``, or ``"<file>#<face>"`` inside a collection."""
    name = Path(path).name
    return name if face == 0 else f"{name}#{face}"


def open_font(path: str | Path, face: int, pixels: int) -> ImageFont.FreeTypeFont | None:
    """Face ``face`` of ``path`` at ``pixels`` pixels per em (basic layout), or None if FreeType fails."""
    try:
        return ImageFont.truetype(str(path), max(4, int(pixels)), index=face, layout_engine=ImageFont.Layout.BASIC)
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# Drawing and missing glyphs


def draw_char(font: ImageFont.FreeTypeFont, char: str, size: int, baseline: int) -> tuple[np.ndarray, bool]:
    """(size, size) uint8 image of ``char``, advance box centred, baseline at row ``baseline``; and
    whether it fits the canvas. FreeType errors (a broken glyph program) propagate as OSError."""
    x0, y0, x1, y1 = font.getbbox(char, anchor="ls")
    canvas = Image.new("L", (size, size), 0)
    ImageDraw.Draw(canvas).text(((size - (x1 - x0)) / 2 - x0, baseline), char, font=font, fill=255, anchor="ls")
    fits = baseline + y0 >= 0 and baseline + y1 <= size and x1 - x0 <= size
    return np.asarray(canvas), fits


def notdef_image(font: ImageFont.FreeTypeFont, size: int, baseline: int) -> np.ndarray:
    """(size, size) uint8: the font's .notdef glyph, what it draws for a character it lacks."""
    return draw_char(font, NOTDEF_PROBE, size, baseline)[0]


def is_drawn(image: np.ndarray, fits: bool, notdef: np.ndarray) -> bool:
    """Whether ``image`` (from :func:`draw_char`) shows a glyph: fits, not blank, not .notdef.

    >>> box = np.zeros((8, 8), np.uint8); box[1:7, 1:7] = 255
    >>> glyph = np.zeros((8, 8), np.uint8); glyph[2:6, 3] = 255
    >>> is_drawn(glyph, True, box), is_drawn(box.copy(), True, box), is_drawn(glyph * 0, True, box)
    (True, False, False)
    """
    return fits and int(image.sum(dtype=np.int64)) >= MIN_INK and not np.array_equal(image, notdef)


def drop_ambiguous(images: np.ndarray, codes: np.ndarray) -> None:
    """Within one font, mark missing (code 0, image zeroed) every image that another one equals.

    ``images``: (K, S, S) uint8, ``codes``: (K,) int, 0 = missing; both changed in place.
    """
    by_image: dict[bytes, list[int]] = {}
    for k in np.flatnonzero(codes):
        by_image.setdefault(images[k].tobytes(), []).append(int(k))
    for same in by_image.values():
        if len(same) > 1:
            codes[same] = 0
            images[same] = 0


def digest(*arrays: np.ndarray) -> bytes:
    """SHA-1 of the arrays' bytes: equal digests mean pixel-identical renders."""
    h = hashlib.sha1()
    for array in arrays:
        h.update(np.ascontiguousarray(array).tobytes())
    return h.digest()


def pairwise_mad(images: np.ndarray, present: np.ndarray, limit: float, min_common: int = 1) -> np.ndarray:
    """Mean absolute pixel difference between every two fonts over the characters both draw.

    ``images``: (F, K, S, S) uint8, character k of font f; ``present``: (F, K) bool. Returns an
    (F, F) float64 matrix of the mean of ``|a - b| / 255`` over the pixels of the characters both
    fonts draw, exact wherever it is below ``limit``; elsewhere (and on the diagonal, and for
    pairs with fewer than ``min_common`` shared characters) +inf. The mean squared difference,
    which never exceeds the mean absolute one for pixels in [0, 1], is computed first with
    matrix products and only pairs where it is below ``limit`` are measured exactly.

    >>> a = np.zeros((3, 2, 4, 4), np.uint8); a[1, :, 0, 0] = 255; a[2] = 255
    >>> pairwise_mad(a, np.ones((3, 2), bool), limit=0.1).round(4).tolist()
    [[inf, 0.0625, inf], [0.0625, inf, inf], [inf, inf, inf]]
    """
    n_fonts, n_chars = present.shape
    flat = images.reshape(n_fonts, n_chars, -1)
    pixels = flat.shape[-1]
    sq = np.zeros((n_fonts, n_fonts))
    common = np.zeros((n_fonts, n_fonts))
    for k in range(n_chars):
        rows = np.flatnonzero(present[:, k])
        if len(rows) < 2:
            continue
        x = flat[rows, k].astype(np.float32) / 255
        norms = (x * x).sum(1)
        block = norms[:, None] + norms[None, :] - 2 * (x @ x.T)
        sq[np.ix_(rows, rows)] += np.maximum(block, 0)
        common[np.ix_(rows, rows)] += 1
    mse = sq / np.maximum(common, 1) / pixels
    out = np.full((n_fonts, n_fonts), np.inf)
    for i, j in zip(*np.nonzero(np.triu(mse < limit, 1) & (common >= max(1, min_common)))):
        both = present[i] & present[j]
        mad = np.abs(flat[i, both].astype(np.int16) - flat[j, both]).mean() / 255
        if mad < limit:
            out[i, j] = out[j, i] = mad
    return out


def complete_linkage_groups(distance: np.ndarray, below: float) -> np.ndarray:
    """(n,) group index of each of n items, grouped so that *every* two members of a group lie
    closer than ``below`` (complete linkage; a chain of close neighbours does not join its two
    far ends). Pairs are considered in order of increasing distance; two groups merge only if all
    their cross pairs are below ``below``. Groups are numbered 0.. in the order of their first
    (lowest-index) member.

    ``distance``: (n, n), symmetric or upper-triangular (the smaller of d[i, j] and d[j, i] counts).

    >>> d = np.full((3, 3), np.inf); d[0, 1] = d[1, 2] = 0.01   # 0 ~ 1 ~ 2, but 0 and 2 far apart
    >>> complete_linkage_groups(d, 0.012).tolist()   # single linkage would chain all three
    [0, 0, 1]
    """
    d = np.minimum(distance, distance.T)
    n = len(d)
    members = {i: [i] for i in range(n)}
    group = list(range(n))
    pairs = sorted(zip(*np.nonzero(np.triu(d < below, 1))), key=lambda ij: (d[ij], ij))
    for i, j in pairs:
        a, b = group[int(i)], group[int(j)]
        if a == b or not (d[np.ix_(members[a], members[b])] < below).all():
            continue
        keep, gone = min(a, b), max(a, b)
        members[keep] += members.pop(gone)
        for m in members[keep]:
            group[m] = keep
    number = {g: k for k, g in enumerate(dict.fromkeys(group))}
    return np.array([number[g] for g in group], dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# The cache


_UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error, pickle.UnpicklingError)


@dataclass
class RenderedSet:
    """Images rendered from fonts, as cached on disk.

    images: (N, S, S) uint8; class_index: (N,) index into ``classes``; font_index: (N,) index
    into ``fonts``; codepoints: (N,) the character drawn; classes: class names; fonts: face
    names (:func:`face_name`); seconds: time the rendering took.
    """

    images: np.ndarray
    class_index: np.ndarray
    font_index: np.ndarray
    codepoints: np.ndarray
    classes: tuple[str, ...]
    fonts: tuple[str, ...]
    seconds: float = 0.0

    version: ClassVar[int] = 1  # subclasses stamp their own cache version
    class_dtype: ClassVar[type] = np.int16  # of class_index

    @classmethod
    def from_lists(cls, size: int, images: Sequence[np.ndarray], class_index: Sequence[int], font_index: Sequence[int],
                   codepoints: Sequence[int], classes: Sequence[str], fonts: Sequence[str], start: float,
                   order: np.ndarray | None = None):
        """A set from one entry per image (each image (size, size) uint8), ``order`` (optional)
        rearranging the images; ``seconds`` counted from ``start`` (a ``time.perf_counter()``)."""
        arrays = (np.stack(images) if len(images) else np.zeros((0, size, size), np.uint8),
                  np.asarray(class_index, cls.class_dtype), np.asarray(font_index, np.int16),
                  np.asarray(codepoints, np.int32))
        if order is not None:
            arrays = tuple(array[order] for array in arrays)
        return cls(*arrays, tuple(classes), tuple(fonts), time.perf_counter() - start)

    def split_dataset(self, kept: np.ndarray, class_names: Sequence[str], *, name: str, prefix: str, split: str,
                      root: str | Path, transform: Callable | None = None, max_per_class: int | None = None,
                      seed: int = 0) -> ArrayImageDataset:
        """The images of the classes ``kept`` (labels 0.. in that order, named ``class_names``), at
        most ``max_per_class`` seeded-random ones per class, as a dataset; ``paths`` are
        ``"<prefix>:<font>/U+XXXX"``, naming the font and character drawn."""
        rows, labels = relabel(self.class_index, kept)
        if max_per_class is not None:
            chosen = capped_indices(labels, max_per_class, seed)
            rows, labels = rows[chosen], labels[chosen]
        paths = [f"{prefix}:{self.fonts[self.font_index[i]]}/U+{int(self.codepoints[i]):04X}" for i in rows]
        return ArrayImageDataset(np.ascontiguousarray(self.images[rows]), labels, list(class_names), paths=paths,
                                 transform=transform, name=name, split=split, root=str(root))

    def save(self, path: Path) -> None:
        """Write atomically (a temporary file renamed), so a crash never leaves half a cache."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                np.savez_compressed(
                    f, images=self.images, class_index=self.class_index, font_index=self.font_index,
                    codepoints=self.codepoints, classes=np.array(self.classes), fonts=np.array(self.fonts),
                    seconds=np.array(self.seconds), version=np.array(self.version),
                )
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    @classmethod
    def load(cls, path: Path):
        """The cached set (every array read in full), or None if it is missing, unreadable,
        truncated or of another version."""
        try:
            with np.load(path) as data:
                if int(data["version"]) != cls.version:
                    return None
                return cls(
                    data["images"], data["class_index"], data["font_index"], data["codepoints"],
                    tuple(data["classes"].tolist()), tuple(data["fonts"].tolist()), float(data["seconds"]),
                )
        except _UNREADABLE:
            return None


R = TypeVar("R", bound=RenderedSet)


def cached_render(path: Path, kind: type[R], render: Callable[[], R], rebuild: bool = False) -> R:
    """The set cached at ``path`` if it is readable (and ``rebuild`` is False), else ``render()``,
    saved there. A cache that cannot be written is reported with a warning naming it; the render
    is still returned."""
    if not rebuild:
        cached = kind.load(path)
        if cached is not None:
            return cached
    rendered = render()
    try:
        rendered.save(path)
    except OSError as error:
        warnings.warn(f"cannot write the render cache {path} ({error}); the next load renders again", stacklevel=3)
    return rendered


#: The smallest image side (pixels) the renderers draw legibly.
MIN_SIZE = 8


def font_set(kind: type[R], dataset: str, path: Path, size: int, fonts: Sequence[str | Path] | None,
             render: Callable[[list[Path], str], R], rebuild: bool = False) -> R:
    """The rendered set of ``dataset`` cached at ``path`` (:func:`cached_render`); when it is missing
    (or ``rebuild``), ``render(files, source)`` draws it from :func:`chosen_font_files`."""
    if size < MIN_SIZE:
        raise ValueError(f"size must be at least {MIN_SIZE} pixels, got {size}")
    return cached_render(path, kind, lambda: render(*chosen_font_files(dataset, fonts)), rebuild)


def font_cache_path(root: str | Path, dataset: str, size: int, version: int,
                    fonts: Sequence[str | Path] | None, settings: Sequence = (), default: bool | None = None) -> Path:
    """``root/<dataset>/<dataset>-<size>px[-<key>]-v<version>.npz``: the cache of a rendered set. The
    key, a hash of the chosen font files and ``settings``, marks a non-default choice (``fonts``
    given, or ``default`` False; by default, settings are the defaults when all of them are None).

    >>> font_cache_path("data", "glyphs", 32, 1, None).as_posix()
    'data/glyphs/glyphs-32px-v1.npz'
    """
    name = f"{dataset}-{size}px"
    default = all(setting is None for setting in settings) if default is None else default
    if fonts is not None or not default:
        chosen = "\n".join(sorted(str(Path(f).resolve()) for f in fonts)) if fonts is not None else "default"
        name += "-" + hashlib.sha1("|".join([chosen, *map(str, settings)]).encode()).hexdigest()[:10]
    return Path(root) / dataset / f"{name}-v{version}.npz"
