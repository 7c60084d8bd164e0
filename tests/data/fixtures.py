"""Small copies of each dataset in its exact published layout, built inside the tests.

Only what a test needs is real: annotation files list the published class ranges in full where
the split logic depends on them, while image files exist for a few classes only.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
from PIL import Image

SOP_SUPER_CLASSES = (
    "bicycle", "cabinet", "chair", "coffee_maker", "fan", "kettle",
    "lamp", "mug", "sofa", "stapler", "table", "toaster",
)


def write_image(path: Path, mode: str = "RGB", size=(24, 16), value=128) -> Path:
    """A small JPEG (or PNG for modes JPEG cannot hold) at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode in ("L", "P") else tuple([value] * len(mode))
    Image.new(mode, size, color).save(path, "JPEG" if mode in ("RGB", "L", "CMYK") else "PNG")
    return path


def corrupt_file(path: Path, kind: str = "garbage") -> Path:
    """Overwrite ``path`` with bytes that are no image ("garbage") or a cut JPEG ("truncated")."""
    if kind == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(b"this is not an image")
    return path


# ---------------------------------------------------------------------------------------------
# CUB-200-2011


def cub_folder(class_id: int) -> str:
    return f"{class_id:03d}.Bird_{class_id}"


def make_cub(root: Path, images: dict[int, list[str]], resource_fork: bool = True) -> Path:
    """``root/CUB_200_2011`` with all 200 class folders; ``images`` = {class id: [mode per image]}.

    train_test_split.txt is written with flags that contradict the class split (it is ignored),
    and a macOS ``._`` resource-fork file sits in the first class folder.
    """
    base = root / "CUB_200_2011"
    for class_id in range(1, 201):
        (base / "images" / cub_folder(class_id)).mkdir(parents=True, exist_ok=True)
    (base / "classes.txt").write_text("".join(f"{c} {cub_folder(c)}\n" for c in range(1, 201)))
    rows = []
    for class_id, modes in sorted(images.items()):
        for k, mode in enumerate(modes):
            relative = f"{cub_folder(class_id)}/Bird_{class_id}_{k:04d}.jpg"
            write_image(base / "images" / relative, mode)
            rows.append((len(rows) + 1, relative, class_id))
    (base / "images.txt").write_text("".join(f"{i} {p}\n" for i, p, _ in rows))
    (base / "image_class_labels.txt").write_text("".join(f"{i} {c}\n" for i, _, c in rows))
    (base / "train_test_split.txt").write_text("".join(f"{i} {int(c > 100)}\n" for i, _, c in rows))
    if resource_fork:
        (base / "images" / cub_folder(1) / "._Bird_1_0000.jpg").write_bytes(b"\x00\x05\x16\x07Mac OS X")
    return base


# ---------------------------------------------------------------------------------------------
# Cars-196


def cars_class_names() -> list[str]:
    """196 names; class 3 has a "/" as some real names do ("Ram C/V Cargo Van Minivan 2012")."""
    names = [f"Maker{c} Model{c} {2000 + c % 13}" for c in range(1, 197)]
    names[2] = "Ram C/V Cargo Van Minivan 2012"
    return names


def make_cars_official(root: Path, images: dict[int, int], n_names: int = 196) -> Path:
    """``root/cars196`` with cars_annos.mat + car_ims/; ``images`` = {class id: number of images}.

    The test flags alternate 0/1 inside every class (they are ignored).
    """
    from scipy.io import savemat

    base = root / "cars196"
    rows = []
    for class_id, count in sorted(images.items()):
        for k in range(count):
            relative = f"car_ims/{len(rows) + 1:06d}.jpg"
            write_image(base / relative, "RGB")
            rows.append((relative, class_id, k % 2))
    fields = ["relative_im_path", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "test"]
    annotations = np.zeros((1, len(rows)), dtype=[(f, "O") for f in fields])
    for i, (relative, class_id, test) in enumerate(rows):
        box = [np.array([[v]], np.uint16) for v in (1, 2, 20, 14)]
        annotations[0, i] = (relative, *box, np.array([[class_id]], np.uint8), np.array([[test]], np.uint8))
    class_names = np.empty((1, n_names), dtype=object)
    for i, name in enumerate(cars_class_names()[:n_names]):
        class_names[0, i] = name
    (base / "car_ims").mkdir(parents=True, exist_ok=True)
    savemat(base / "cars_annos.mat", {"annotations": annotations, "class_names": class_names})
    return base


def make_cars_kaggle(root: Path, images: dict[int, int]) -> Path:
    """``root/cars196`` in the Kaggle mirror's layout (what pytorch-metric-learning downloads).

    Each class's images alternate between the mirror's train/ and test/ folders.
    """
    base = root / "cars196"
    names = cars_class_names()
    base.mkdir(parents=True, exist_ok=True)
    (base / "names.csv").write_text("".join(f"{n}\n" for n in names))
    rows = {"train": [], "test": []}
    for class_id, count in sorted(images.items()):
        for k in range(count):
            part = ("train", "test")[k % 2]
            file = f"{len(rows[part]) + 1:05d}.jpg"
            write_image(base / "car_data" / "car_data" / part / names[class_id - 1].replace("/", "-") / file)
            rows[part].append(f"{file},1,2,20,14,{class_id}\n")
    for part in ("train", "test"):
        (base / "car_data" / "car_data" / part).mkdir(parents=True, exist_ok=True)
        (base / f"anno_{part}.csv").write_text("".join(rows[part]))
    return base


# ---------------------------------------------------------------------------------------------
# Stanford Online Products


def sop_path(class_id: int, k: int = 0) -> str:
    return f"{SOP_SUPER_CLASSES[(class_id - 1) % 12]}_final/{100000 + class_id}_{k}.JPG"


def make_sop(root: Path, with_files: tuple[int, ...] = (), train_classes=range(1, 11319),
             test_classes=range(11319, 22635)) -> Path:
    """``root/Stanford_Online_Products`` listing one image per class of the given class ranges.

    All 12 super-class folders exist; only the images of ``with_files`` classes are written.
    """
    base = root / "Stanford_Online_Products"
    for name in SOP_SUPER_CLASSES:
        (base / f"{name}_final").mkdir(parents=True, exist_ok=True)
    image_id = 0
    for split, classes in (("train", train_classes), ("test", test_classes)):
        lines = ["image_id class_id super_class_id path\n"]
        for class_id in classes:
            image_id += 1
            lines.append(f"{image_id} {class_id} {(class_id - 1) % 12 + 1} {sop_path(class_id)}\n")
        (base / f"Ebay_{split}.txt").write_text("".join(lines))
    for class_id in with_files:
        write_image(base / sop_path(class_id), "RGB")
    return base


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write a uint8 IDX file (gzip-compressed when the name ends in .gz)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def make_fashion_mnist(folder: Path, per_class: int = 2, gz: bool = True) -> Path:
    """The four Fashion-MNIST IDX files with ``per_class`` images of each class in each part.

    Image pixels all equal the class id (and 100 + class id in t10k), so tests can check them.
    """
    suffix = ".gz" if gz else ""
    for part, offset in (("train", 0), ("t10k", 100)):
        labels = np.repeat(np.arange(10, dtype=np.uint8), per_class)
        images = np.broadcast_to((labels + offset)[:, None, None], (len(labels), 28, 28))
        write_idx(folder / f"{part}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{part}-labels-idx1-ubyte{suffix}", labels)
    return folder
