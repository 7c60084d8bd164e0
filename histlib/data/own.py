"""Your own images: a folder of class folders (as torchvision's ``ImageFolder``) or a CSV of paths and labels.

    python -m histlib.train --config glyphs --data folder:/path/to/images     # one subfolder per class
    python -m histlib.train --config glyphs --data csv:/path/to/images.csv     # path,label[,split][,is_query,is_gallery]

The CSV takes open-metric-learning's columns, so its files load as they are: ``path`` (relative to
the CSV's folder, or absolute inside it), ``label`` (a name or an integer), optionally ``split``
(``train``; ``validation`` or ``test``: the evaluated split, open-metric-learning's "validation")
and ``is_query`` / ``is_gallery`` (0/1 or True/False, for the evaluated rows: queries search the
gallery instead of every other image). Without a split column the classes are split as the
benchmarks are, into training classes and unseen test classes (``test_fraction`` of them, drawn
with ``split_seed``); the split is recorded in the run folder (``data_split.json``).

Everything is checked before any training (:func:`scan`): an empty class folder, a duplicate path,
a label that is neither a name nor an integer, a path outside the root, a class in both splits, a
split without classes and unreadable or truncated images are errors naming the file and what to
do; a class with one image (no positive to retrieve) and files that are not images are skipped,
counted and named in :func:`describe`'s report. Greyscale, palette and colour images of any size
are read as RGB and resized by the recipe's transform.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .base import ImageFileDataset, check_split, path_problem
from .errors import DatasetAccessError, DatasetError, DatasetFormatError, DatasetNotFoundError

__all__ = ["KINDS", "IMAGE_SUFFIXES", "OwnData", "OwnDataError", "OwnImages", "scan", "split_of", "load_own", "describe",
           "parse_data", "data_settings", "record_split", "main"]

#: The two layouts, as ``--data KIND:PATH`` names them.
KINDS = ("folder", "csv")
#: Files read as images (by suffix, case-insensitive); other files in a class folder are skipped.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
_TRUE, _FALSE = ("1", "true", "yes"), ("0", "false", "no", "")
_LISTED = 10  # problems named one by one in an error; the rest are counted


class OwnDataError(DatasetFormatError):
    """Own data that cannot be used as it is (the message names the file or folder and what to do)."""


@dataclass
class OwnData:
    """A checked dataset of one's own, before the split: one entry per usable image.

    paths: absolute file paths; classes: the class name of each image; splits: "train" / "test"
    per image (None without a split column); query / gallery: bools per image (None without the
    columns); skipped: what was left out and why (one line each); root: the folder paths are inside.
    """

    kind: str
    source: Path
    root: Path
    paths: list[str]
    classes: list[str]
    splits: list[str] | None = None
    query: list[bool] | None = None
    gallery: list[bool] | None = None
    skipped: list[str] = field(default_factory=list)

    def class_sizes(self) -> Counter:
        return Counter(self.classes)


def parse_data(text: str) -> tuple[str, Path]:
    """``"folder:PATH"`` or ``"csv:PATH"`` -> (kind, path); a ValueError saying the form otherwise.

    >>> parse_data("folder:/data/birds")
    ('folder', PosixPath('/data/birds'))
    """
    kind, _, path = str(text).partition(":")
    if kind not in KINDS or not path:
        raise ValueError(f"--data takes folder:PATH (one subfolder of images per class) or csv:PATH "
                         f"(path,label[,split][,is_query,is_gallery]), got {text!r}")
    return kind, Path(path).expanduser()


def data_settings(text: str, runs: str | Path, recipe: str | None = None, base: str | Path | None = None) -> dict:
    """The config fields that point a recipe at one's own data (``--data`` and the notebooks' ``data``
    parameter): ``dataset``, ``data_root`` (absolute; a relative path is taken from ``base``, default the
    working directory), ``max_images_per_class=None`` (a stand-in's cap shapes its data, not yours) and
    ``output_dir`` (``runs/KIND-NAME-RECIPE``, or ``runs/KIND-NAME`` without a recipe).

    >>> data_settings("folder:/data/birds", "runs", "glyphs")["output_dir"]
    'runs/folder-birds-glyphs'
    >>> data_settings("csv:birds/all.csv", "runs", base="/home/me")["data_root"]
    '/home/me/birds/all.csv'
    """
    kind, path = parse_data(text)
    path = (Path(base).expanduser() / path if base is not None else path).resolve()
    name = f"{kind}-{path.stem}" + (f"-{recipe}" if recipe else "")
    return {"dataset": kind, "data_root": str(path), "max_images_per_class": None, "output_dir": str(Path(runs) / name)}


def scan(kind: str, source: str | Path, check_images: bool = True) -> OwnData:
    """The checked dataset at ``source`` (a folder for ``kind="folder"``, a CSV file for ``"csv"``).

    Raises :class:`OwnDataError` (or a :class:`DatasetNotFoundError` / :class:`DatasetAccessError`)
    naming the file and what to do; ``check_images`` fully decodes every image first (truncated files too).
    """
    if kind not in KINDS:
        raise ValueError(f"own data is one of {KINDS}, got {kind!r}")
    source = Path(source).expanduser().resolve()
    data = _scan_folder(source) if kind == "folder" else _scan_csv(source)
    _skip_single_images(data)
    if len(data.class_sizes()) < 2:
        raise OwnDataError(f"{source}: {len(data.class_sizes())} class(es) with 2 or more images; retrieval needs at "
                           "least 2 (4 or more to hold some out as unseen test classes)", source)
    if data.splits is not None:
        _check_splits(data)
    if check_images:
        _check_images(data)
    return data


def _scan_folder(root: Path) -> OwnData:
    problem = path_problem(root, "folder")
    if problem == "missing":
        raise DatasetNotFoundError(f"own data: expected {root} (a folder with one subfolder of images per class), "
                                   "which does not exist", root)
    if problem is not None:
        raise DatasetAccessError(f"own data: cannot use {root} (the class folders): {problem}", root)
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    loose = [p.name for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if loose:
        raise OwnDataError(f"{root} holds {len(loose)} image(s) outside a class folder ({', '.join(loose[:_LISTED])}): "
                           "put each image in the subfolder named after its class", root)
    folders = [p for p in entries if p.is_dir()]
    if not folders:
        raise OwnDataError(f"{root} has no class folders: make one subfolder of images per class", root)
    paths, classes, skipped = [], [], []
    for folder in folders:
        files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
        images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
        skipped += [f"{p}: not an image file (suffix {p.suffix or 'none'})" for p in files if p not in images]
        if not images:
            raise OwnDataError(f"class folder {folder} holds no images ({len(files)} other file(s)): add images "
                               "of that class or remove the folder", folder)
        paths += [str(p) for p in images]
        classes += [folder.name] * len(images)
    return OwnData("folder", root, root, paths, classes, skipped=skipped)


def _scan_csv(path: Path) -> OwnData:
    problem = path_problem(path)
    if problem == "missing":
        raise DatasetNotFoundError(f"own data: expected {path} (a CSV of path,label[,split][,is_query,is_gallery]), "
                                   "which does not exist", path)
    if problem is not None:
        raise DatasetAccessError(f"own data: cannot use {path} (the CSV): {problem}", path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = [(reader.line_num, row) for row in reader]
            header = [h.strip() for h in reader.fieldnames or []]
    except (UnicodeDecodeError, csv.Error) as error:
        raise OwnDataError(f"{path} is not a readable CSV ({error}); save it as UTF-8 CSV", path) from None
    missing = [c for c in ("path", "label") if c not in header]
    if missing:
        raise OwnDataError(f"{path} has no column {missing}; its header is {header}: the columns are "
                           "path,label[,split][,is_query,is_gallery]", path)
    if ("is_query" in header) != ("is_gallery" in header):
        raise OwnDataError(f"{path}: give is_query and is_gallery together (or neither: every image is a query "
                           "against all the others)", path)
    root = path.parent
    paths, classes, splits, query, gallery, seen = [], [], [], [], [], {}
    for line, row in rows:
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        where = f"{path}, line {line}"
        file = _inside(root, row["path"], where)
        if file in seen:
            raise OwnDataError(f"{where}: {row['path']} is listed twice (also line {seen[file]}); keep one row per "
                               "image", path)
        seen[file] = line
        classes.append(_label(row["label"], where))
        paths.append(file)
        if "split" in header:
            splits.append(_split(row["split"], where))
        if "is_query" in header:
            query.append(_flag(row["is_query"], "is_query", where))
            gallery.append(_flag(row["is_gallery"], "is_gallery", where))
    if not paths:
        raise OwnDataError(f"{path} lists no images", path)
    return OwnData("csv", path, root, paths, classes, splits if "split" in header else None,
                   query if "is_query" in header else None, gallery if "is_query" in header else None)


def _inside(root: Path, text: str, where: str) -> str:
    if not text:
        raise OwnDataError(f"{where}: the path is empty", root)
    file = (root / text).resolve()
    if not file.is_relative_to(root):
        raise OwnDataError(f"{where}: {text} lies outside {root}, the CSV's folder; every path must be inside it "
                           "(move the CSV up, or the images in)", root)
    problem = path_problem(file)
    if problem is not None:
        raise OwnDataError(f"{where}: {text} is {problem}", file)
    return str(file)


def _label(text: str, where: str) -> str:
    if not text:
        raise OwnDataError(f"{where}: the label is empty; every image needs its class (a name or an integer)")
    if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+[eE][+-]?\d+|\d*\.?\d*[eE][+-]?\d+)", text) or text.lower() in (
            "nan", "inf", "-inf"):
        raise OwnDataError(f"{where}: the label {text!r} is a float; labels are class names or integers")
    return text


def _split(text: str, where: str) -> str:
    value = text.lower()
    if value == "train":
        return "train"
    if value in ("validation", "val", "test"):
        return "test"
    raise OwnDataError(f"{where}: split {text!r} is not train, validation or test")


def _flag(text: str, column: str, where: str) -> bool:
    value = text.lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise OwnDataError(f"{where}: {column} {text!r} is not 0/1 or True/False")


def _skip_single_images(data: OwnData) -> None:
    """Classes with one image leave (no positive to retrieve, no pair to train on): counted and named."""
    sizes = data.class_sizes()
    single = {name for name, n in sizes.items() if n < 2}
    if not single:
        return
    data.skipped += [f"class {name!r}: one image ({data.paths[data.classes.index(name)]}); a class needs 2 or more"
                     for name in sorted(single)]
    keep = [i for i, name in enumerate(data.classes) if name not in single]
    for attribute in ("paths", "classes", "splits", "query", "gallery"):
        values = getattr(data, attribute)
        if values is not None:
            setattr(data, attribute, [values[i] for i in keep])


def _check_splits(data: OwnData) -> None:
    by_class: dict[str, set[str]] = {}
    for name, split in zip(data.classes, data.splits):
        by_class.setdefault(name, set()).add(split)
    both = sorted(name for name, splits in by_class.items() if len(splits) > 1)
    if both:
        raise OwnDataError(f"{data.source}: class(es) {both[:_LISTED]} have rows in both train and test; test classes "
                           "must be unseen in training (give each class one split)", data.source)
    for split in ("train", "test"):
        if not any(split in s for s in by_class.values()):
            raise OwnDataError(f"{data.source}: the split column gives no class to {split} (after classes of one "
                               "image were skipped); give it 2 or more classes", data.source)
    if data.query is not None:
        test = [i for i, s in enumerate(data.splits) if s == "test"]
        if not any(data.query[i] for i in test) or not any(data.gallery[i] for i in test):
            raise OwnDataError(f"{data.source}: the test rows need at least one is_query and one is_gallery", data.source)


def _check_images(data: OwnData) -> None:
    from .verify import check_image

    bad = [(p, reason) for p in data.paths if (reason := check_image(p)) is not None]
    if bad:
        listed = "; ".join(f"{p}: {reason}" for p, reason in bad[:_LISTED])
        more = f" and {len(bad) - _LISTED} more" if len(bad) > _LISTED else ""
        raise OwnDataError(f"{len(bad)} image(s) cannot be read: {listed}{more}. Replace or remove them "
                           "(nothing was trained)", bad[0][0])


def split_of(data: OwnData, seed: int = 0, test_fraction: float = 0.5) -> dict[str, list[str]]:
    """``{"train": [class names], "test": [class names]}``: the split column's, or ``test_fraction`` of the
    classes (at least 2 each side) drawn with ``seed`` as unseen test classes."""
    names = sorted(data.class_sizes())
    if data.splits is not None:
        test = sorted({c for c, s in zip(data.classes, data.splits) if s == "test"})
        return {"train": [c for c in names if c not in test], "test": test}
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    count = min(max(2, int(round(test_fraction * len(names)))), len(names) - 2)
    if count < 2:
        raise OwnDataError(f"{data.source}: {len(names)} classes with 2 or more images; a split into training and "
                           "unseen test classes needs at least 4 (2 each)", data.source)
    order = np.random.default_rng(seed).permutation(len(names))
    test = sorted(names[i] for i in order[:count])
    return {"train": [c for c in names if c not in test], "test": test}


class OwnImages(ImageFileDataset):
    """One split of one's own images; ``split_record`` is what the run folder records of the split, and
    ``query_gallery`` (bool arrays (N,), (N,)) the query / gallery roles where the CSV gives them."""

    split_record: dict
    query_gallery: tuple[np.ndarray, np.ndarray] | None = None


def load_own(kind: str, root: str | Path, split: str = "train", transform: Callable | None = None,
             seed: int = 0, test_fraction: float = 0.5, check_images: bool = True) -> OwnImages:
    """Split ``split`` ("train" or "test") of the folder or CSV at ``root``, checked (:func:`scan`)."""
    check_split(split)
    data = scan(kind, root, check_images=check_images)
    parts = split_of(data, seed, test_fraction)
    names = parts[split]
    index = {name: i for i, name in enumerate(names)}
    rows = [i for i, name in enumerate(data.classes) if name in index]
    dataset = OwnImages([data.paths[i] for i in rows], [index[data.classes[i]] for i in rows], names, transform,
                        name=f"{kind}:{data.source}", split=split, root=str(data.root))
    dataset.split_record = {"data": f"{kind}:{data.source}", "split_column": data.splits is not None,
                            "split_seed": None if data.splits is not None else seed,
                            "test_fraction": None if data.splits is not None else test_fraction,
                            "classes": parts, "skipped": data.skipped}
    if split == "test" and data.query is not None:
        dataset.query_gallery = (np.array([data.query[i] for i in rows]), np.array([data.gallery[i] for i in rows]))
    return dataset


def describe(kind: str, source: str | Path, seed: int = 0, test_fraction: float = 0.5) -> str:
    """The report to read before training: classes, images per class, image sizes, the split and what
    was skipped; raises the first error :func:`scan` finds."""
    from PIL import Image

    data = scan(kind, source)
    sizes = data.class_sizes()
    counts = np.array(sorted(sizes.values()))
    shapes = Counter()
    for p in data.paths[:: max(1, len(data.paths) // 200)]:  # up to ~200 images: sizes and modes
        with Image.open(p) as image:
            shapes[(image.size, image.mode)] += 1
    parts = split_of(data, seed, test_fraction)
    lines = [f"{kind}:{data.source}: {len(data.paths):,} images in {len(sizes):,} classes "
             f"({counts.min()}-{counts.max()} per class, median {int(np.median(counts))})",
             f"  split: {len(parts['train'])} training classes, {len(parts['test'])} unseen test classes "
             + ("(the split column)" if data.splits is not None else f"(drawn with seed {seed}, {test_fraction:.0%} test)"),
             "  image sizes (sampled): " + ", ".join(f"{w}x{h} {mode}: {n}" for ((w, h), mode), n in
                                                     shapes.most_common(5))]
    if data.query is not None:
        lines.append(f"  queries / gallery among the test rows: {sum(q for q, s in zip(data.query, data.splits) if s == 'test')}"
                     f" / {sum(g for g, s in zip(data.gallery, data.splits) if s == 'test')}")
    if data.skipped:
        lines.append(f"  skipped ({len(data.skipped)}):")
        lines += [f"    {line}" for line in data.skipped[:_LISTED]]
        if len(data.skipped) > _LISTED:
            lines.append(f"    ... and {len(data.skipped) - _LISTED} more")
    return "\n".join(lines)


def record_split(dataset, folder: Path) -> None:
    """Write ``dataset.split_record`` (own data) as ``data_split.json`` in the run folder ``folder``."""
    record = getattr(dataset, "split_record", None)
    if record is not None:
        (Path(folder) / "data_split.json").write_text(json.dumps(record, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    """``python -m histlib.data.own folder:PATH`` prints :func:`describe`'s report; exit 1 on a problem."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m histlib.data.own", description="check a dataset of your own")
    parser.add_argument("data", help="folder:PATH or csv:PATH")
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--test-fraction", type=float, default=0.5)
    args = parser.parse_args(argv)
    try:
        kind, path = parse_data(args.data)
        print(describe(kind, path, args.split_seed, args.test_fraction))
    except (DatasetError, ValueError) as error:
        print(f"python -m histlib.data.own: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

