"""Check a dataset before a long run: every missing or unreadable file, listed at once.

Command line (exit status 0 when nothing is wrong, 1 otherwise)::

    python -m histlib.data.verify cub --root data
    python -m histlib.data.verify sop --root data --quick     # headers only, no full decode

For a benchmark both splits are built (a missing folder or annotation file is reported with the
same message the loader gives) and every listed image is opened and fully decoded, so truncated
files are caught too; the counts are compared with the published ones. For the offline datasets
(glyphs, typefaces, kanji, fashion-mnist) both splits are built and their sizes reported. A split
without images is an error. A file that cannot be reached is reported with the reason (missing, a
broken symlink, a symlink loop, permission denied), never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from . import load_dataset
from .base import SPLITS, ImageFileDataset, path_problem
from .published import BENCHMARKS
from .errors import DatasetError

__all__ = ["VerificationReport", "check_image", "verify_dataset", "main"]


@dataclass
class VerificationReport:
    """What ``verify_dataset`` found. ``ok`` is True when there is nothing to fix.

    missing: image paths that do not exist; unreadable: (path, reason); errors: dataset-level
    problems (missing folder, bad annotation file); notes: facts worth knowing (split sizes,
    differences from the published counts) that are not errors by themselves.
    """

    name: str
    root: str
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unreadable or self.errors)

    def __str__(self) -> str:
        lines = [f"{self.name} (root {self.root}): {self.checked:,} image files checked"]
        lines += [f"  note: {note}" for note in self.notes]
        lines += [f"  error: {error}" for error in self.errors]
        if self.missing:
            lines.append(f"  missing files ({len(self.missing):,}):")
            lines += [f"    {path}" for path in self.missing]
        if self.unreadable:
            lines.append(f"  unreadable files ({len(self.unreadable):,}):")
            lines += [f"    {path}: {reason}" for path, reason in self.unreadable]
        problems = len(self.missing) + len(self.unreadable) + len(self.errors)
        lines.append("OK" if self.ok else f"FAILED: {problems:,} problem(s)")
        return "\n".join(lines)


def check_image(path: str, decode: bool = True) -> str | None:
    """None if ``path`` is a readable image, else the reason: "missing", or another
    :func:`~histlib.data.base.path_problem` ("a symlink loop", "permission denied", ...), or the
    decoder's error.

    ``decode`` False only parses the header (PIL ``verify``): faster, misses truncated data.
    """
    problem = path_problem(path)
    if problem is not None:
        return problem
    try:
        with Image.open(path) as image:
            image.load() if decode else image.verify()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return f"{type(error).__name__}: {error}"
    return None


def _split_notes(name: str, split: str, dataset) -> list[str]:
    notes = [f"{split}: {len(dataset):,} images of {dataset.num_classes:,} classes"]
    counts = np.bincount(dataset.labels, minlength=dataset.num_classes)
    if len(dataset):
        notes.append(f"{split}: {len(dataset) / max(1, int((counts > 0).sum())):.1f} images per class "
                     f"({int(counts[counts > 0].min())}-{int(counts.max())})")
    spec = BENCHMARKS.get(name)
    if spec is not None and len(dataset) != spec.images(split):
        notes.append(f"{split}: the published split has {spec.images(split):,} images; this copy lists {len(dataset):,}")
    empty = int(np.sum(counts == 0))
    if empty:
        notes.append(f"{split}: {empty:,} classes have no image")
    return notes


def verify_dataset(
    name: str,
    root: str | Path = "data",
    decode: bool = True,
    workers: int = 4,
    progress: Callable[[int, int], None] | None = None,
    **options,
) -> VerificationReport:
    """Build both splits of dataset ``name`` under ``root`` and check every image file they list.

    ``options`` go to :func:`~histlib.data.load_dataset` (e.g. ``size`` for glyphs);
    ``progress(done, total)`` is called after each file.
    """
    report = VerificationReport(name, str(root))
    paths: list[str] = []
    for split in SPLITS:
        try:
            dataset = load_dataset(name, root=root, split=split, **options)
            options.pop("rebuild", None)  # rendered again once; the other split reads that render
        except DatasetError as error:
            if str(error) not in report.errors:
                report.errors.append(str(error))
            continue
        report.notes += _split_notes(name, split, dataset)
        if isinstance(dataset, ImageFileDataset):
            paths += dataset.paths
        else:
            report.notes.append(f"{split}: images held in memory, no files to check")
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for done, (path, reason) in enumerate(zip(paths, pool.map(lambda p: check_image(p, decode), paths)), 1):
            if reason == "missing":
                report.missing.append(path)
            elif reason is not None:
                report.unreadable.append((path, reason))
            if progress is not None:
                progress(done, len(paths))
    report.checked = len(paths)
    return report


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: print the report, return 0 if it is OK else 1."""
    from . import DATASETS

    parser = argparse.ArgumentParser(prog="python -m histlib.data.verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help=f"dataset: one of {', '.join(DATASETS)}")
    parser.add_argument("--root", default="data", help="folder holding the dataset folders (default: data)")
    parser.add_argument("--quick", action="store_true", help="check image headers only, without a full decode")
    parser.add_argument("--workers", type=int, default=4, help="threads that open images (default: 4)")
    parser.add_argument("--rebuild", action="store_true",
                        help="render a font dataset (glyphs, typefaces, kanji) again instead of reading its cache, "
                             "e.g. after installing or removing fonts")
    args = parser.parse_args(argv)

    def show(done: int, total: int) -> None:
        if sys.stderr.isatty() and (done == total or done % 1000 == 0):
            print(f"\rchecked {done:,}/{total:,}", end="\n" if done == total else "", file=sys.stderr)

    try:
        options = {"rebuild": True} if args.rebuild else {}
        if args.rebuild and args.name not in ("glyphs", "typefaces", "kanji"):
            parser.error(f"--rebuild applies to the rendered datasets glyphs, typefaces and kanji, not {args.name!r}")
        report = verify_dataset(args.name, args.root, decode=not args.quick, workers=args.workers, progress=show,
                                **options)
    except ValueError as error:  # unknown dataset name
        parser.error(str(error))
    print(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
