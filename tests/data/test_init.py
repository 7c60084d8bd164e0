"""load_dataset: one entry point and registry for every dataset."""

import pytest

import histlib
from histlib.data import DATASETS, dataset_name, load_dataset

from . import fixtures as fx


def test_registry_names():
    assert DATASETS == ("cub", "cars", "sop", "glyphs", "typefaces", "kanji", "fashion-mnist", "folder", "csv")
    assert dataset_name("Cars196") == "cars" and dataset_name(" SOP ") == "sop"
    with pytest.raises(ValueError, match="choose one of cub, cars, sop, glyphs, typefaces, kanji, fashion-mnist, folder, csv"):
        dataset_name("imagenet")


def test_load_dataset_passes_root_split_transform_and_options(tmp_path):
    fx.make_cub(tmp_path, {150: ["RGB"]})
    data = load_dataset("CUB_200_2011", root=str(tmp_path), split="test", transform=lambda image: image.size)
    assert data[0] == ((24, 16), 49) and data.name == "cub" and data.split == "test"
    with pytest.raises(TypeError):
        load_dataset("cub", tmp_path, "test", size=32)  # benchmarks take no options


def test_histlib_exports_load_dataset():
    assert histlib.load_dataset is load_dataset and "load_dataset" in histlib.__all__
