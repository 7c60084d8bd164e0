"""CUB-200-2011, Cars-196 and Stanford Online Products in the layouts their archives unpack to.

``root`` holds ``CUB_200_2011/``, ``cars196/`` or ``Stanford_Online_Products/`` (data/README.md
shows each tree). Splits are by class (docs/hist.md, section "Benchmarks and their split"), and any image-level
train/test flag in the annotations is ignored:

=========  ==========================  ========================  =========================
dataset    train classes (images)      test classes (images)     annotation files
=========  ==========================  ========================  =========================
cub        1-100 (5,864)               101-200 (5,924)           images.txt, classes.txt,
                                                                 image_class_labels.txt
cars       1-98 (8,054)                99-196 (8,131)            cars_annos.mat, or the Kaggle
                                                                 mirror's CSV files
sop        1-11,318 (59,551)           11,319-22,634 (60,502)    Ebay_train.txt, Ebay_test.txt
=========  ==========================  ========================  =========================

Labels are the published class ids shifted to start at 0 within the split (CUB test class 101
is label 0). The parsing of pytorch-metric-learning's ``CUB``, ``Cars196`` (Kaggle mirror) and
``StanfordOnlineProducts`` is reused (never with ``download=True``); histlib adds what they lack:
checks that every expected file and folder is there (errors name it), checks that the split has
exactly the published classes, 0-based labels, class names, RGB conversion of greyscale images
and readable errors for unreadable images. Cars' official ``cars_annos.mat`` layout, which
pytorch-metric-learning does not read, is parsed here with ``scipy.io.loadmat``.

Image files themselves are not opened when a dataset is built (SOP has 120,053); a missing or
corrupt one raises :class:`~histlib.data.errors.UnreadableImageError` when read, and
``python -m histlib.data.verify NAME`` lists all of them before a long run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from pytorch_metric_learning import datasets as pml_datasets

from .base import ImageFileDataset, check_split, path_problem
from .errors import DatasetAccessError, DatasetFormatError, DatasetNotFoundError

__all__ = ["Benchmark", "BENCHMARKS", "CUB", "CARS", "SOP", "load_cub", "load_cars", "load_sop"]

@dataclass(frozen=True)
class Benchmark:
    """A benchmark's published facts: folder under ``root``, class ranges (1-based ids), sizes."""

    name: str
    title: str
    folder: str
    train_classes: range
    test_classes: range
    train_images: int
    test_images: int

    def classes(self, split: str) -> range:
        """The published class ids of ``split`` ("train" or "test")."""
        return self.train_classes if check_split(split) == "train" else self.test_classes

    def images(self, split: str) -> int:
        """The published number of images of ``split``."""
        return self.train_images if check_split(split) == "train" else self.test_images


CUB = Benchmark("cub", "CUB-200-2011", "CUB_200_2011", range(1, 101), range(101, 201), 5864, 5924)
CARS = Benchmark("cars", "Cars-196", "cars196", range(1, 99), range(99, 197), 8054, 8131)
SOP = Benchmark(
    "sop", "Stanford Online Products", "Stanford_Online_Products",
    range(1, 11319), range(11319, 22635), 59551, 60502,
)
BENCHMARKS = {b.name: b for b in (CUB, CARS, SOP)}


# ---------------------------------------------------------------------------------------------
# Checks shared by the three loaders


def _require(spec: Benchmark, path: Path, kind: str, what: str) -> Path:
    """``path`` if it is a reachable ``kind`` ("file" or "folder"); else a DatasetError naming it:
    DatasetNotFoundError when it is missing (or of the other kind), DatasetAccessError when it
    exists but cannot be used (permission denied, a symlink loop)."""
    problem = path_problem(path, kind)
    if problem in ("missing", "a broken symlink"):
        raise DatasetNotFoundError.expected(spec.name, path, what, "does not exist" if problem == "missing" else f"is {problem}")
    if problem in ("not a file", "not a folder"):
        raise DatasetNotFoundError.expected(spec.name, path, what, f"is {problem}")
    if problem is not None:
        raise DatasetAccessError.at(spec.name, path, what, problem)
    return path


def _require_folder(spec: Benchmark, path: Path, what: str) -> Path:
    return _require(spec, path, "folder", what)


def _dataset_folder(spec: Benchmark, root: Path, what: str) -> Path:
    """``root/<spec.folder>``; the error says so when ``root`` is that folder itself."""
    base = root / spec.folder
    if path_problem(base, "folder") is not None and root.resolve().name == spec.folder:
        what += f"; root should be the folder that contains {spec.folder}/, not {spec.folder}/ itself"
    return _require_folder(spec, base, what)


def _require_file(spec: Benchmark, path: Path, what: str) -> Path:
    return _require(spec, path, "file", what)


def _require_image_folders(spec: Benchmark, paths: Iterable[str], what: str) -> None:
    """Every folder the annotations put images in must be there and reachable (one stat per
    folder, not per file); the first missing (or unreachable) one is named, with the count."""
    problems = {}
    for folder in sorted({str(Path(p).parent) for p in paths}):
        problem = path_problem(folder, "folder")
        if problem is not None:
            problems[folder] = problem
    if problems:
        first, problem = next(iter(problems.items()))
        more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
        if problem in ("missing", "a broken symlink", "not a folder"):
            raise DatasetNotFoundError.expected(spec.name, f"{first}{more}", what)
        raise DatasetAccessError.at(spec.name, f"{first}{more}", what, problem)


def _check_class_ids(spec: Benchmark, split: str, ids: Iterable[int], source: Path, exact: bool) -> None:
    """The split's class ids must lie in the published range (and cover it when ``exact``)."""
    wanted = spec.classes(split)
    found = set(ids)
    if exact and found != set(wanted):
        raise DatasetFormatError.in_file(
            spec.name, source,
            f"the {split} split lists {len(found):,} classes (ids {min(found, default=0)}-"
            f"{max(found, default=0)}); the published split has exactly classes "
            f"{wanted.start}-{wanted.stop - 1} ({len(wanted):,}): an incomplete or different copy",
        )
    outside = sorted(found - set(wanted))
    if outside:
        raise DatasetFormatError.in_file(
            spec.name, source, f"class ids {outside[:5]} are outside {wanted.start}-{wanted.stop - 1}"
        )


def _parse_with_pml(spec: Benchmark, dataset_class, root: Path, split: str, files: list[Path]):
    """Run a pytorch-metric-learning dataset's parser; turn its errors into a DatasetFormatError."""
    try:
        parsed = dataset_class(root=str(root), split=split, download=False)
    except (ValueError, IndexError, KeyError, UnicodeDecodeError, OSError) as error:
        names = ", ".join(str(f) for f in files)
        raise DatasetFormatError.in_file(
            spec.name, names, f"cannot be parsed ({type(error).__name__}: {error})"
        ) from None
    return [str(p) for p in parsed.paths], [int(label) for label in parsed.labels]


def _make_dataset(spec, split, root, paths, ids, names, transform) -> ImageFileDataset:
    first = spec.classes(split).start
    labels = np.asarray(ids, dtype=np.int64) - first
    return ImageFileDataset(paths, labels, names, transform, name=spec.name, split=split, root=str(root))


# ---------------------------------------------------------------------------------------------
# CUB-200-2011


def _read_text(dataset: str, path: Path) -> str:
    """An annotation file's text (UTF-8); a typed dataset error naming the file when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DatasetFormatError.in_file(dataset, path, f"is not UTF-8 text ({error.reason} at byte {error.start})"
                                         ) from None
    except OSError as error:
        raise DatasetAccessError.at(dataset, path, "an annotation file", error.strerror or str(error)) from None


def _read_cub_class_names(path: Path) -> dict[int, str]:
    """classes.txt: ``<id> <NNN.Name>`` per line -> {id: "Name"}; must be exactly ids 1-200."""
    names = {}
    for number, line in enumerate(_read_text("cub", path).splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise DatasetFormatError.in_file("cub", path, f"line {number} is not '<id> <NNN.name>': {line!r}")
        names[int(parts[0])] = parts[1].split(".", 1)[-1]
    if set(names) != set(range(1, 201)):
        raise DatasetFormatError.in_file(
            "cub", path, f"lists {len(names)} classes; CUB-200-2011 has exactly ids 1-200"
        )
    return names


def _count_cub_split_rows(path: Path, classes: range) -> int:
    """The number of image_class_labels.txt rows (``<image id> <class id>``) in ``classes``."""
    count = 0
    for number, line in enumerate(_read_text("cub", path).splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise DatasetFormatError.in_file("cub", path, f"line {number} is not '<image id> <class id>': {line!r}")
        class_id = int(parts[1])
        if not 1 <= class_id <= 200:
            raise DatasetFormatError.in_file("cub", path, f"line {number}: class id {class_id} outside 1-200")
        count += class_id in classes
    return count


def load_cub(root: str | Path = "data", split: str = "train", transform: Callable | None = None) -> ImageFileDataset:
    """CUB-200-2011 from ``root/CUB_200_2011/`` (train: classes 1-100, test: 101-200)."""
    check_split(split)
    root = Path(root)
    base = _dataset_folder(CUB, root, "the folder CUB_200_2011.tgz unpacks to")
    files = [
        _require_file(CUB, base / name, what)
        for name, what in (
            ("images.txt", "image id -> relative path"),
            ("image_class_labels.txt", "image id -> class id"),
            ("classes.txt", "class id -> class name"),
        )
    ]
    _require_folder(CUB, base / "images", "the folder of the 200 class folders")
    names = _read_cub_class_names(base / "classes.txt")
    paths, ids = _parse_with_pml(CUB, pml_datasets.CUB, root, split, files)
    expected = _count_cub_split_rows(base / "image_class_labels.txt", CUB.classes(split))
    if len(paths) != expected:
        raise DatasetFormatError.in_file(
            "cub", f"{files[0]} and {files[1]}",
            f"{expected:,} images of the {split} classes are labelled but only {len(paths):,} have a "
            "matching line in images.txt (the two files must list the same image ids in the same order)",
        )
    _check_class_ids(CUB, split, ids, files[1], exact=False)
    _require_image_folders(CUB, paths, "a class folder that images.txt refers to")
    classes = [names[i] for i in CUB.classes(split)]
    return _make_dataset(CUB, split, root, paths, ids, classes, transform)


# ---------------------------------------------------------------------------------------------
# Cars-196: the official layout (cars_annos.mat + car_ims/) or the Kaggle mirror (CSV files)

KAGGLE_FILES = ("names.csv", "anno_train.csv", "anno_test.csv")


def cars_layout(base: Path) -> str:
    """``"official"`` (cars_annos.mat) or ``"kaggle"`` (names.csv, ...), detected from the files."""
    if path_problem(base / "cars_annos.mat") != "missing":
        return "official"  # unreadable: _load_cars_official names the problem
    if any(path_problem(base / name, "folder" if name == "car_data" else "file") != "missing"
           for name in (*KAGGLE_FILES, "car_data")):
        return "kaggle"
    raise DatasetNotFoundError.expected(
        "cars", base / "cars_annos.mat",
        "the official annotations, next to car_ims/; or, for the Kaggle mirror, "
        "names.csv, anno_train.csv, anno_test.csv and car_data/car_data/",
    )


def _scalar(value):
    """Unwrap scipy.io.loadmat's 0-d / 1-element arrays down to a Python value."""
    while isinstance(value, np.ndarray):
        if value.size != 1:
            raise ValueError(f"expected one value, got an array of shape {value.shape}")
        value = value.reshape(-1)[0]
    return value.item() if isinstance(value, np.generic) else value


def _read_cars_annos(path: Path) -> tuple[list[str], list[int], list[str]]:
    """cars_annos.mat -> (relative image paths, 1-based class ids, 196 class names)."""
    from scipy.io import loadmat  # scipy comes with scikit-learn; imported only for this layout
    from scipy.io.matlab import MatReadError

    try:
        mat = loadmat(str(path), squeeze_me=True)
        records = np.atleast_1d(mat["annotations"])
        relative = [str(_scalar(r["relative_im_path"])) for r in records]
        ids = [int(_scalar(r["class"])) for r in records]
        names = [str(_scalar(n)) for n in np.atleast_1d(mat["class_names"])]
    except (MatReadError, KeyError, ValueError, TypeError, IndexError, OSError) as error:
        raise DatasetFormatError.in_file(
            "cars", path, f"is not the Stanford Cars annotation file ({type(error).__name__}: {error})"
        ) from None
    if len(names) != 196:
        raise DatasetFormatError.in_file("cars", path, f"names {len(names)} classes; Cars-196 has 196")
    return relative, ids, names


def _load_cars_official(root: Path, base: Path, split: str, transform) -> ImageFileDataset:
    annos = _require_file(CARS, base / "cars_annos.mat", "the official annotations")
    _require_folder(CARS, base / "car_ims", "the folder car_ims.tgz unpacks to")
    relative, ids, names = _read_cars_annos(annos)
    _check_class_ids(CARS, "train", [i for i in ids if i < 99], annos, exact=False)
    _check_class_ids(CARS, "test", [i for i in ids if i >= 99], annos, exact=False)
    classes = CARS.classes(split)
    keep = [k for k, class_id in enumerate(ids) if class_id in classes]
    paths = [str(base / relative[k]) for k in keep]
    _require_image_folders(CARS, paths, "the image folder cars_annos.mat refers to")
    return _make_dataset(
        CARS, split, root, paths, [ids[k] for k in keep], [names[i - 1] for i in classes], transform
    )


def _load_cars_kaggle(root: Path, base: Path, split: str, transform) -> ImageFileDataset:
    files = [_require_file(CARS, base / name, "a file of the Kaggle mirror") for name in KAGGLE_FILES]
    for part in ("train", "test"):
        _require_folder(CARS, base / "car_data" / "car_data" / part, "the Kaggle mirror's class folders")
    names = [line.strip() for line in _read_text("cars", files[0]).splitlines() if line.strip()]
    if len(names) != 196:
        raise DatasetFormatError.in_file("cars", files[0], f"lists {len(names)} class names; Cars-196 has 196")
    paths, ids = _parse_with_pml(CARS, pml_datasets.Cars196, base, split, files)
    _check_class_ids(CARS, split, ids, files[1], exact=False)
    _require_image_folders(CARS, paths, "a class folder that the annotation CSV files refer to")
    return _make_dataset(CARS, split, root, paths, ids, [names[i - 1] for i in CARS.classes(split)], transform)


def load_cars(root: str | Path = "data", split: str = "train", transform: Callable | None = None) -> ImageFileDataset:
    """Cars-196 from ``root/cars196/`` (train: classes 1-98, test: 99-196), either layout."""
    check_split(split)
    root = Path(root)
    base = _dataset_folder(CARS, root, "the folder holding the Cars-196 files")
    if cars_layout(base) == "official":
        return _load_cars_official(root, base, split, transform)
    return _load_cars_kaggle(root, base, split, transform)


# ---------------------------------------------------------------------------------------------
# Stanford Online Products


def _sop_class_names(paths: list[str], ids: list[int], classes: range) -> list[str]:
    """Name each class ``<super-class folder>/<product id>`` from its first image's path."""
    names: dict[int, str] = {}
    for path, class_id in zip(paths, ids):
        if class_id not in names:
            p = Path(path)
            names[class_id] = f"{p.parent.name}/{p.stem.rsplit('_', 1)[0]}"
    return [names[i] for i in classes]


def load_sop(root: str | Path = "data", split: str = "train", transform: Callable | None = None) -> ImageFileDataset:
    """Stanford Online Products from ``root/Stanford_Online_Products/`` (Ebay_<split>.txt)."""
    check_split(split)
    root = Path(root)
    base = _dataset_folder(SOP, root, "the folder Stanford_Online_Products.zip unpacks to")
    listing = _require_file(SOP, base / f"Ebay_{split}.txt", f"the {split} split's image list")
    paths, ids = _parse_with_pml(SOP, pml_datasets.StanfordOnlineProducts, root, split, [listing])
    _check_class_ids(SOP, split, ids, listing, exact=True)
    _require_image_folders(SOP, paths, "a super-class folder (e.g. bicycle_final/) that the list refers to")
    classes = _sop_class_names(paths, ids, SOP.classes(split))
    return _make_dataset(SOP, split, root, paths, ids, classes, transform)
