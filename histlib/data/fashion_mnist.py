"""Fashion-MNIST as a small zero-shot retrieval benchmark (the "SOP of small data").

70,000 greyscale 28x28 product photos of 10 classes (Zalando). The four IDX files (gzip-compressed
or not) are read with numpy from the first folder that holds them:

1. ``root/fashion-mnist/``                      (copied there by hand)
2. ``/usr/share/datasets/fashion-mnist/``       (Debian's ``dataset-fashion-mnist`` package)
3. ``root/FashionMNIST/raw/``                   (torchvision's download folder)

and, only when ``download=True`` and none exists, through torchvision's downloader into 3.

Class split (5/5, fixed): the published train/test image split is ignored, as for the benchmarks;
all 70,000 images of a class go to one side. Each test class has a related training class (a top,
a shoe), as CUB's unseen classes are still birds:

- train: T-shirt/top (0), Trouser (1), Pullover (2), Sandal (5), Bag (8)     -- 35,000 images
- test:  Dress (3), Coat (4), Shirt (6), Sneaker (7), Ankle boot (9)         -- 35,000 images

Labels are 0..4 within each split in the order above; ``paths`` are synthetic identifiers
``"fashion-mnist:<file>#<row>"``.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Callable

import numpy as np

from .base import ArrayImageDataset, check_split, relabel
from .errors import DatasetFormatError, DatasetNotFoundError

__all__ = ["CLASS_NAMES", "TRAIN_CLASSES", "TEST_CLASSES", "DEBIAN_FOLDER", "read_idx", "find_fashion_mnist",
           "load_fashion_mnist", "export_folder", "example_folder", "EXAMPLE_FOLDER", "EXAMPLE_PER_CLASS"]

CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
TRAIN_CLASSES = (0, 1, 2, 5, 8)
TEST_CLASSES = (3, 4, 6, 7, 9)
DEBIAN_FOLDER = Path("/usr/share/datasets/fashion-mnist")
FILES = {  # part -> (images, labels), without the optional .gz
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "t10k": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_DTYPES = {0x08: np.uint8}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzip-compressed when the name ends in .gz): uint8 array of its shape.

    IDX: two zero bytes, a type byte (0x08 = uint8), the number of dimensions, then each
    dimension as a big-endian int32, then the data.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as error:
        raise DatasetFormatError.in_file("fashion-mnist", path, f"cannot be read ({error})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DatasetFormatError.in_file("fashion-mnist", path, "is not an IDX file of uint8 values")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape))
    if len(data) - offset != expected:
        raise DatasetFormatError.in_file(
            "fashion-mnist", path, f"header says {shape} = {expected:,} values, the file holds {len(data) - offset:,}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def _file_in(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _complete(folder: Path) -> bool:
    return all(_file_in(folder, stem) for pair in FILES.values() for stem in pair)


def candidate_folders(root: str | Path) -> list[Path]:
    """Where Fashion-MNIST is looked for, in order."""
    root = Path(root)
    return [root / "fashion-mnist", DEBIAN_FOLDER, root / "FashionMNIST" / "raw"]


def find_fashion_mnist(root: str | Path = "data", download: bool = False) -> Path:
    """The first folder holding the four IDX files; downloads through torchvision only if asked."""
    folders = candidate_folders(root)
    for folder in folders:
        if _complete(folder):
            return folder
    if download:
        from torchvision.datasets import FashionMNIST

        for train in (True, False):
            FashionMNIST(str(root), train=train, download=True)
        if _complete(folders[-1]):
            return folders[-1]
    names = ", ".join(f"{stem}[.gz]" for pair in FILES.values() for stem in pair)
    raise DatasetNotFoundError.expected(
        "fashion-mnist", " or ".join(str(f) for f in folders),
        f"a folder holding {names}; on Debian: apt-get install dataset-fashion-mnist",
    )


def load_fashion_mnist(
    root: str | Path = "data",
    split: str = "train",
    transform: Callable | None = None,
    download: bool = False,
) -> ArrayImageDataset:
    """Fashion-MNIST's class-disjoint ``split``: (N, 28, 28) uint8 images, 5 classes each."""
    check_split(split)
    folder = find_fashion_mnist(root, download)
    images, labels, paths = [], [], []
    for part, (image_stem, label_stem) in FILES.items():
        image_file, label_file = _file_in(folder, image_stem), _file_in(folder, label_stem)
        part_images, part_labels = read_idx(image_file), read_idx(label_file)
        if part_images.ndim != 3 or part_labels.ndim != 1 or len(part_images) != len(part_labels):
            raise DatasetFormatError.in_file(
                "fashion-mnist", image_file,
                f"holds {part_images.shape} images for {part_labels.shape} labels in {label_file.name}",
            )
        if len(part_labels) and part_labels.max() > 9:
            raise DatasetFormatError.in_file("fashion-mnist", label_file, "holds labels above 9")
        images.append(part_images)
        labels.append(part_labels)
        paths.extend(f"fashion-mnist:{image_file.name}#{i}" for i in range(len(part_labels)))
    images, labels = np.concatenate(images), np.concatenate(labels).astype(np.int64)
    kept = TRAIN_CLASSES if split == "train" else TEST_CLASSES
    rows, new_labels = relabel(labels, kept)
    return ArrayImageDataset(
        np.ascontiguousarray(images[rows]),
        new_labels,
        [CLASS_NAMES[c] for c in kept],
        paths=[paths[i] for i in rows],
        transform=transform,
        name="fashion-mnist",
        split=split,
        root=str(root),
    )


def export_folder(out: str | Path, per_class: int = 100, root: str | Path = "data", csv: bool = True) -> Path:
    """Write the first ``per_class`` images of each of the 10 classes (of the IDX training part, in file
    order) as PNG files, one subfolder per class (``T-shirt/top`` becomes ``T-shirt-top``), and with ``csv``
    an ``images.csv`` of ``path,label`` beside them: Fashion-MNIST as a user's own data would look
    (:mod:`histlib.data.own`). Returns ``out``; refuses a non-empty ``out`` that it did not write."""
    from PIL import Image

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / "images.csv").is_file():
        raise FileExistsError(f"{out} is not empty and holds no images.csv of an earlier export: choose an empty "
                              "folder")
    folder = find_fashion_mnist(root, download=False)
    images = read_idx(_file_in(folder, FILES["train"][0]))
    labels = read_idx(_file_in(folder, FILES["train"][1]))
    rows = []
    for label, name in enumerate(CLASS_NAMES):
        safe = name.replace("/", "-").replace(" ", "_")
        (out / safe).mkdir(parents=True, exist_ok=True)
        for index in np.flatnonzero(labels == label)[:per_class]:
            relative = f"{safe}/{index:05d}.png"
            Image.fromarray(images[index]).save(out / relative)
            rows.append(f"{relative},{safe}")
    if csv:
        (out / "images.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    return out


#: Notebook 8's example: where under the project's data folder the export goes, and its size.
EXAMPLE_FOLDER, EXAMPLE_PER_CLASS = "own/fashion-mnist", 100


def example_folder(data_root: str | Path = "data") -> Path:
    """Notebook 8's own-data example, ``data_root/own/fashion-mnist``: Fashion-MNIST exported by
    :func:`export_folder` (100 images per class, 10 class folders and ``images.csv``), written when
    missing or incomplete; the same files on every machine."""
    out = Path(data_root) / EXAMPLE_FOLDER
    listed = out / "images.csv"
    if listed.is_file():
        rows = listed.read_text().splitlines()[1:]
        if len(rows) == 10 * EXAMPLE_PER_CLASS and all((out / row.split(",")[0]).is_file() for row in rows):
            return out
    return export_folder(out, EXAMPLE_PER_CLASS, root=data_root)
