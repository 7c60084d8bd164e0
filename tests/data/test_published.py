"""CUB, Cars and SOP on small copies in their published layouts: splits, labels, names, errors."""

import numpy as np
import pytest
from PIL import Image

from histlib.data import DatasetFormatError, DatasetNotFoundError, UnreadableImageError, load_dataset
from histlib.data.errors import DatasetAccessError
from histlib.data.published import CARS, CUB, SOP, cars_layout
from histlib.data.transforms import resnet_transform

from . import fixtures as fx


def assert_points_to_readme(error, *fragments):
    message = str(error.value)
    assert "data/README.md" in message
    for fragment in fragments:
        assert str(fragment) in message, message


# ---------------------------------------------------------------------------------------------
# CUB-200-2011

CUB_IMAGES = {1: ["RGB", "L"], 2: ["RGB"], 100: ["RGB"], 101: ["L"], 150: ["RGB"], 200: ["RGB", "RGB"]}


@pytest.fixture
def cub_root(tmp_path):
    fx.make_cub(tmp_path, CUB_IMAGES)
    return tmp_path


def test_published_facts_match_the_specification():
    assert (CUB.train_classes, CUB.test_classes) == (range(1, 101), range(101, 201))
    assert (CARS.train_classes, CARS.test_classes) == (range(1, 99), range(99, 197))
    assert (len(SOP.train_classes), len(SOP.test_classes)) == (11318, 11316)
    assert (CUB.train_images, CUB.test_images, CARS.train_images, CARS.test_images) == (5864, 5924, 8054, 8131)
    assert (SOP.train_images, SOP.test_images) == (59551, 60502)


def test_cub_train_is_classes_1_to_100_with_labels_0_to_99(cub_root):
    train = load_dataset("cub", cub_root, "train")
    assert len(train.classes) == 100 and train.classes[0] == "Bird_1" and train.classes[99] == "Bird_100"
    assert train.labels.tolist() == [0, 0, 1, 99]
    assert all("/001.Bird_1/" in p or "/002.Bird_2/" in p or "/100.Bird_100/" in p for p in train.paths)
    assert train.labels.dtype == np.int64


def test_cub_test_is_classes_101_to_200_relabelled_from_0(cub_root):
    test = load_dataset("cub", cub_root, "test")
    assert len(test.classes) == 100 and test.classes[0] == "Bird_101"
    assert test.labels.tolist() == [0, 49, 99, 99]
    assert not set(test.paths) & set(load_dataset("cub", cub_root, "train").paths)


def test_cub_images_are_rgb_even_from_greyscale_files(cub_root):
    train = load_dataset("cub", cub_root, "train")
    assert Image.open(train.paths[1]).mode == "L"
    image, label = train[1]
    assert isinstance(image, Image.Image) and image.mode == "RGB" and label == 0


def test_cub_transform_is_applied(cub_root):
    image, label = load_dataset("cub", cub_root, "test", transform=resnet_transform(train=False, size=32))[0]
    assert tuple(image.shape) == (3, 32, 32) and label == 0


def test_cub_ignores_macos_resource_forks_and_image_level_flags(cub_root):
    fork = cub_root / "CUB_200_2011" / "images" / "001.Bird_1" / "._Bird_1_0000.jpg"
    assert fork.exists()
    paths = load_dataset("cub", cub_root, "train").paths + load_dataset("cub", cub_root, "test").paths
    assert not any("._" in p for p in paths)
    assert len(paths) == sum(len(v) for v in CUB_IMAGES.values())  # train_test_split.txt says otherwise


def test_cub_never_downloads(cub_root, monkeypatch, tmp_path):
    from pytorch_metric_learning.datasets import cub

    def no_download(self):
        raise AssertionError("download attempted")

    monkeypatch.setattr(cub.CUB, "download_and_remove", no_download)
    assert len(load_dataset("cub", cub_root, "train")) == 4
    with pytest.raises(DatasetNotFoundError):
        load_dataset("cub", tmp_path / "empty", "train")


def test_cub_missing_root_names_the_expected_folder(tmp_path):
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset("cub", tmp_path, "train")
    assert_points_to_readme(error, tmp_path / "CUB_200_2011")
    assert isinstance(error.value, FileNotFoundError)


def test_root_pointing_into_the_dataset_folder_is_explained(cub_root):
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset("cub", cub_root / "CUB_200_2011", "train")
    assert_points_to_readme(error, "root should be the folder that contains CUB_200_2011/")


@pytest.mark.parametrize("name", ["images.txt", "image_class_labels.txt", "classes.txt"])
def test_cub_missing_annotation_file_is_named(cub_root, name):
    (cub_root / "CUB_200_2011" / name).unlink()
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset("cub", cub_root, "train")
    assert_points_to_readme(error, cub_root / "CUB_200_2011" / name)


def test_cub_missing_class_folder_is_named(cub_root):
    folder = cub_root / "CUB_200_2011" / "images" / "002.Bird_2"
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset("cub", cub_root, "train")
    assert_points_to_readme(error, folder)
    assert len(load_dataset("cub", cub_root, "test")) == 4  # the other split does not need it


def test_cub_incomplete_class_list_is_a_format_error(cub_root):
    classes = cub_root / "CUB_200_2011" / "classes.txt"
    classes.write_text("".join(classes.read_text().splitlines(keepends=True)[:199]))
    with pytest.raises(DatasetFormatError) as error:
        load_dataset("cub", cub_root, "train")
    assert_points_to_readme(error, classes, "1-200")


def test_cub_class_list_that_is_not_utf8_is_a_format_error_naming_the_file(cub_root):
    classes = cub_root / "CUB_200_2011" / "classes.txt"
    classes.write_bytes(b"1 001.\xff\xfe_Albatross\n")
    with pytest.raises(DatasetFormatError) as error:
        load_dataset("cub", cub_root, "train")
    assert_points_to_readme(error, classes, "is not UTF-8 text")


def test_cub_class_list_without_read_permission_is_a_typed_access_error(cub_root, monkeypatch):
    classes = cub_root / "CUB_200_2011" / "classes.txt"
    read_text = fx.Path.read_text

    def refuse(self, *args, **kwargs):  # chmod 000 does not stop root, so the refusal is simulated
        if self == classes:
            raise PermissionError(13, "Permission denied", str(self))
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(fx.Path, "read_text", refuse)
    with pytest.raises(DatasetAccessError) as error:
        load_dataset("cub", cub_root, "train")
    assert_points_to_readme(error, classes, "Permission denied")
    assert isinstance(error.value, OSError) and error.value.path == str(classes)


@pytest.mark.parametrize("workers", [0, 2])
def test_an_unreadable_image_is_the_same_one_line_error_with_or_without_loader_workers(cub_root, workers):
    from torch.utils.data import DataLoader

    train = load_dataset("cub", cub_root, "train", transform=resnet_transform(train=False, size=32))
    fx.corrupt_file(fx.Path(train.paths[2]), "garbage")
    with pytest.raises(UnreadableImageError) as error:
        list(DataLoader(train, batch_size=2, num_workers=workers))
    message = str(error.value)
    assert message.startswith(f"cannot read image {train.paths[2]}") and "\n" not in message
    assert "Traceback" not in message and "DataLoader worker" not in message


def test_cub_files_that_disagree_are_a_format_error_not_a_silent_short_split(cub_root):
    images = cub_root / "CUB_200_2011" / "images.txt"
    lines = images.read_text().splitlines(keepends=True)
    images.write_text("".join([lines[1], lines[0], *lines[2:]]))  # image ids out of order
    with pytest.raises(DatasetFormatError) as error:
        load_dataset("cub", cub_root, "train")
    assert_points_to_readme(error, "images.txt", "image_class_labels.txt")


def test_cub_garbled_annotation_line_is_a_format_error(cub_root):
    labels = cub_root / "CUB_200_2011" / "image_class_labels.txt"
    labels.write_text(labels.read_text() + "7 bird\n")
    with pytest.raises(DatasetFormatError) as error:
        load_dataset("cub", cub_root, "train")
    assert_points_to_readme(error, labels, "line 9")


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_cub_unreadable_image_names_the_file(cub_root, kind):
    train = load_dataset("cub", cub_root, "train")
    fx.corrupt_file(fx.Path(train.paths[2]), kind)
    assert train[0][1] == 0  # the others still load
    with pytest.raises(UnreadableImageError) as error:
        train[2]
    assert train.paths[2] in str(error.value) and "histlib.data.verify cub" in str(error.value)
    assert error.value.path == train.paths[2] and isinstance(error.value, OSError)


def test_cub_missing_image_file_names_the_file(cub_root):
    train = load_dataset("cub", cub_root, "train")
    fx.Path(train.paths[3]).unlink()
    with pytest.raises(UnreadableImageError, match="does not exist") as error:
        train[3]
    assert train.paths[3] in str(error.value)


# ---------------------------------------------------------------------------------------------
# Cars-196

CARS_IMAGES = {1: 2, 3: 2, 98: 1, 99: 3, 196: 2}


@pytest.fixture(params=["official", "kaggle"])
def cars_root(request, tmp_path):
    make = fx.make_cars_official if request.param == "official" else fx.make_cars_kaggle
    make(tmp_path, CARS_IMAGES)
    return tmp_path


def test_cars_layout_is_detected(cars_root):
    base = cars_root / "cars196"
    assert cars_layout(base) == ("official" if (base / "cars_annos.mat").exists() else "kaggle")


def test_cars_split_is_classes_1_to_98_and_99_to_196_in_both_layouts(cars_root):
    train, test = load_dataset("cars", cars_root, "train"), load_dataset("cars", cars_root, "test")
    names = fx.cars_class_names()
    assert train.classes == names[:98] and test.classes == names[98:]
    assert sorted(train.labels.tolist()) == [0, 0, 2, 2, 97]
    assert sorted(test.labels.tolist()) == [0, 0, 0, 97, 97]
    assert train.classes[2] == "Ram C/V Cargo Van Minivan 2012"
    assert all(image.mode == "RGB" for image, _ in train)


def test_cars_layouts_give_the_same_split(tmp_path):
    fx.make_cars_official(tmp_path / "a", CARS_IMAGES)
    fx.make_cars_kaggle(tmp_path / "b", CARS_IMAGES)
    for split in ("train", "test"):
        a, b = load_dataset("cars", tmp_path / "a", split), load_dataset("cars", tmp_path / "b", split)
        assert a.classes == b.classes
        assert sorted(a.labels.tolist()) == sorted(b.labels.tolist())


def test_cars_without_either_layout_names_both(tmp_path):
    (tmp_path / "cars196").mkdir()
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset("cars", tmp_path, "train")
    assert_points_to_readme(error, "cars_annos.mat", "names.csv", "car_data")


def test_cars_official_without_images_folder(tmp_path):
    base = fx.make_cars_official(tmp_path, CARS_IMAGES)
    for f in (base / "car_ims").iterdir():
        f.unlink()
    (base / "car_ims").rmdir()
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset("cars", tmp_path, "test")
    assert_points_to_readme(error, base / "car_ims")


def test_cars_kaggle_missing_annotation_file_is_named(tmp_path):
    base = fx.make_cars_kaggle(tmp_path, CARS_IMAGES)
    (base / "anno_test.csv").unlink()
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset("cars", tmp_path, "train")
    assert_points_to_readme(error, base / "anno_test.csv")


def test_cars_wrong_number_of_class_names_is_a_format_error(tmp_path):
    fx.make_cars_official(tmp_path, CARS_IMAGES, n_names=195)
    with pytest.raises(DatasetFormatError) as error:
        load_dataset("cars", tmp_path, "train")
    assert_points_to_readme(error, "cars_annos.mat", "196")


def test_cars_annotation_file_that_is_no_mat_file(tmp_path):
    base = fx.make_cars_official(tmp_path, CARS_IMAGES)
    (base / "cars_annos.mat").write_bytes(b"not a mat file")
    with pytest.raises(DatasetFormatError) as error:
        load_dataset("cars", tmp_path, "train")
    assert_points_to_readme(error, base / "cars_annos.mat")


def test_cars_kaggle_garbled_csv_is_a_format_error(tmp_path):
    base = fx.make_cars_kaggle(tmp_path, CARS_IMAGES)
    (base / "anno_train.csv").write_text("Image,x1,y1,x2,y2,class\n" + (base / "anno_train.csv").read_text())
    with pytest.raises(DatasetFormatError) as error:
        load_dataset("cars", tmp_path, "train")
    assert_points_to_readme(error, "anno_train.csv")


# ---------------------------------------------------------------------------------------------
# Stanford Online Products


@pytest.fixture(scope="module")
def sop_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("sop")
    fx.make_sop(root, with_files=(1, 11318, 11319, 22634))
    return root


def test_sop_train_is_classes_1_to_11318_and_test_11319_to_22634(sop_root):
    train, test = load_dataset("sop", sop_root, "train"), load_dataset("sop", sop_root, "test")
    assert (len(train.classes), len(test.classes)) == (11318, 11316)
    assert train.labels.tolist() == list(range(11318))  # one listed image per class, id - 1
    assert test.labels.tolist() == list(range(11316))  # id - 11319
    assert train.classes[0] == "bicycle_final/100001" and train.classes[11] == "toaster_final/100012"
    assert test.classes[-1] == fx.sop_path(22634).rsplit("_", 1)[0] == "cabinet_final/122634"
    image, label = test[test.num_classes - 1]
    assert image.mode == "RGB" and label == 11315


def test_sop_incomplete_list_is_a_format_error(tmp_path):
    fx.make_sop(tmp_path, train_classes=range(1, 11000))
    with pytest.raises(DatasetFormatError) as error:
        load_dataset("sop", tmp_path, "train")
    assert_points_to_readme(error, "Ebay_train.txt", "1-11318", "11,318")
    assert len(load_dataset("sop", tmp_path, "test")) == 11316


def test_sop_missing_list_and_folder_are_named(tmp_path):
    base = fx.make_sop(tmp_path, test_classes=range(11319, 22635))
    (base / "Ebay_test.txt").unlink()
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset("sop", tmp_path, "test")
    assert_points_to_readme(error, base / "Ebay_test.txt")
    (base / "mug_final").rmdir()
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset("sop", tmp_path, "train")
    assert_points_to_readme(error, base / "mug_final")


def test_unknown_split_is_rejected(cub_root):
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_dataset("cub", cub_root, "val")
