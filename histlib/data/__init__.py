"""Datasets: the three benchmarks in their published layouts, their offline stand-ins, Fashion-MNIST.

``load_dataset(name, root="data", split="train", transform=None, **options)`` returns a torch
``Dataset`` of ``(image, label)`` with ``.paths``, ``.labels`` (0-based, contiguous within the
split) and ``.classes`` (names); images are RGB PIL images unless ``transform`` is given.

=============== ======================================================= ========================
name            what                                                    module
=============== ======================================================= ========================
cub             CUB-200-2011, ``root/CUB_200_2011/``                    ``published``
cars            Cars-196, ``root/cars196/`` (official or Kaggle layout) ``published``
sop             Stanford Online Products, ``root/Stanford_Online_Products/`` ``published``
glyphs          characters x fonts, rendered offline; stands in for CUB ``glyphs``
typefaces       typefaces x characters, rendered; stands in for Cars    ``typefaces``
kanji           CJK ideographs x CJK fonts, rendered; stands in for SOP ``kanji``
fashion-mnist   Fashion-MNIST, 5/5 class split                          ``fashion_mnist``
folder          your images, one subfolder per class (``root``: it)     ``own``
csv             your images listed in a CSV (``root``: the CSV file)    ``own``
=============== ======================================================= ========================

Every split is class-disjoint (test classes are never seen in training). Where to get each
dataset and the tree it must form, and the stand-ins' statistics next to the benchmarks':
data/README.md. The rendered datasets share ``fonts`` (the fonts of the Debian packages listed
in ``debian-packages.txt``, drawing, missing glyphs, the render cache). Other modules:
``transforms`` (ResNet and BN-Inception recipes, small-image transforms), ``samplers`` (random
or m-per-class batches), ``splits`` (a seeded class-disjoint split, e.g. validation classes held
out of training, and ``cap_images_per_class``), ``verify`` (``python -m histlib.data.verify
NAME`` lists missing and unreadable files).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .base import ArrayImageDataset, ImageFileDataset, LabelledImages
from .published import BENCHMARKS, load_cars, load_cub, load_sop
from .errors import (
    DatasetAccessError, DatasetError, DatasetFormatError, DatasetNotFoundError, EmptySplitError, UnreadableImageError,
)
from .fashion_mnist import load_fashion_mnist
from .glyphs import load_glyphs
from .kanji import load_kanji
from .typefaces import load_typefaces
from .samplers import make_sampler
from .splits import ClassSubset, IndexSubset, cap_images_per_class, split_classes
from .transforms import transform_for

__all__ = [
    "DATASETS", "load_dataset", "dataset_name",
    "LabelledImages", "ImageFileDataset", "ArrayImageDataset", "ClassSubset", "IndexSubset", "split_classes",
    "cap_images_per_class",
    "DatasetError", "DatasetNotFoundError", "DatasetFormatError", "DatasetAccessError", "EmptySplitError",
    "UnreadableImageError",
    "BENCHMARKS", "make_sampler", "transform_for",
]

_LOADERS: dict[str, Callable[..., LabelledImages]] = {
    "cub": load_cub,
    "cars": load_cars,
    "sop": load_sop,
    "glyphs": load_glyphs,
    "typefaces": load_typefaces,
    "kanji": load_kanji,
    "fashion-mnist": load_fashion_mnist,
    "folder": lambda root, split, transform=None, **options: _own("folder", root, split, transform, **options),
    "csv": lambda root, split, transform=None, **options: _own("csv", root, split, transform, **options),
}
DATASETS = tuple(_LOADERS)


def _own(kind, root, split, transform=None, **options):
    from .own import load_own  # imported here: `python -m histlib.data.own` runs that module as __main__

    return load_own(kind, root, split, transform, **options)


_ALIASES = {
    "cub200": "cub", "cub-200-2011": "cub", "cub_200_2011": "cub",
    "cars196": "cars", "cars-196": "cars",
    "stanford_online_products": "sop", "stanford-online-products": "sop",
    "fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
}


def dataset_name(name: str) -> str:
    """The registry name for ``name`` (case-insensitive; a few aliases such as "cars196").

    >>> dataset_name("CUB"), dataset_name("cars196"), dataset_name("fashion_mnist")
    ('cub', 'cars', 'fashion-mnist')
    """
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _LOADERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return key


def load_dataset(
    name: str,
    root: str | Path = "data",
    split: str = "train",
    transform: Callable | None = None,
    **options,
) -> LabelledImages:
    """Load split ``split`` ("train" or "test") of dataset ``name`` from ``root``.

    ``options`` go to the dataset's loader: for ``glyphs`` ``size``, ``max_fonts``, ``fonts``,
    ``seed``, ``test_fraction``, ``min_font_fraction``, ``rebuild`` (see
    :func:`histlib.data.glyphs.load_glyphs`); ``typefaces`` and ``kanji`` take ``size``,
    ``fonts``, ``max_fonts``, ``seed``, ``test_fraction``, ``max_per_class``, ``rebuild`` (and
    kanji ``block``, ``min_font_fraction``; see :func:`~histlib.data.typefaces.load_typefaces`,
    :func:`~histlib.data.kanji.load_kanji`); ``fashion-mnist`` ``download``. The benchmarks
    take none. Missing data raises :class:`DatasetNotFoundError` naming what was
    expected where, data that cannot be reached a :class:`DatasetAccessError`, and a split
    without images an :class:`EmptySplitError` (all :class:`DatasetError`).
    """
    key = dataset_name(name)
    dataset = _LOADERS[key](root, split, transform, **options)
    if len(dataset) == 0:
        where = Path(root) / BENCHMARKS[key].folder if key in BENCHMARKS else Path(root)
        raise EmptySplitError.of(key, split, where)
    return dataset
