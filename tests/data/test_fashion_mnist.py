"""Fashion-MNIST: IDX reading, where the files are looked for, the 5/5 class split, errors."""

import numpy as np
import pytest

from histlib.data import DatasetFormatError, DatasetNotFoundError, load_dataset
from histlib.data import fashion_mnist as fm

from . import fixtures as fx


@pytest.fixture
def no_debian_copy(monkeypatch, tmp_path):
    """Hide the machine's /usr/share/datasets/fashion-mnist so each test sees only its own files."""
    monkeypatch.setattr(fm, "DEBIAN_FOLDER", tmp_path / "no-debian-copy")


def test_class_split_is_5_and_5_disjoint_and_documented():
    assert sorted(fm.TRAIN_CLASSES + fm.TEST_CLASSES) == list(range(10))
    assert [fm.CLASS_NAMES[c] for c in fm.TRAIN_CLASSES] == ["T-shirt/top", "Trouser", "Pullover", "Sandal", "Bag"]
    for name in ("Dress", "Coat", "Shirt", "Sneaker", "Ankle boot"):
        assert name in fm.__doc__


@pytest.mark.parametrize("gz", [True, False])
def test_split_takes_all_images_of_its_classes_from_both_idx_parts(tmp_path, no_debian_copy, gz):
    fx.make_fashion_mnist(tmp_path / "fashion-mnist", per_class=2, gz=gz)
    train, test = load_dataset("fashion-mnist", tmp_path, "train"), load_dataset("fashion-mnist", tmp_path, "test")
    assert train.classes == ["T-shirt/top", "Trouser", "Pullover", "Sandal", "Bag"]
    assert test.classes == ["Dress", "Coat", "Shirt", "Sneaker", "Ankle boot"]
    assert (len(train), len(test)) == (20, 20)
    # pixel value = original class (+100 in t10k): the labels map back to TRAIN_CLASSES
    original = train.images[:, 0, 0] % 100
    assert np.array_equal(original, np.array(fm.TRAIN_CLASSES)[train.labels])
    assert sorted(set(train.images[:, 0, 0] // 100)) == [0, 1]
    assert train.images.shape[1:] == (28, 28) and train.images.dtype == np.uint8
    image, label = test[0]
    assert image.mode == "RGB" and image.size == (28, 28) and label == 0
    assert train.paths[0].startswith("fashion-mnist:train-images-idx3-ubyte")


def test_debian_folder_is_used_when_root_has_no_copy(tmp_path, monkeypatch):
    debian = fx.make_fashion_mnist(tmp_path / "debian", per_class=1)
    monkeypatch.setattr(fm, "DEBIAN_FOLDER", debian)
    assert fm.find_fashion_mnist(tmp_path / "data") == debian
    assert len(load_dataset("fashion-mnist", tmp_path / "data", "test")) == 10


def test_root_copy_comes_before_the_debian_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(fm, "DEBIAN_FOLDER", fx.make_fashion_mnist(tmp_path / "debian", per_class=1))
    own = fx.make_fashion_mnist(tmp_path / "data" / "fashion-mnist", per_class=3)
    assert fm.find_fashion_mnist(tmp_path / "data") == own
    assert len(load_dataset("fashion-mnist", tmp_path / "data", "train")) == 30


def test_missing_everywhere_names_the_folders_and_the_debian_package(tmp_path, no_debian_copy):
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset("fashion-mnist", tmp_path, "train")
    message = str(error.value)
    for fragment in (tmp_path / "fashion-mnist", "dataset-fashion-mnist", "t10k-labels-idx1-ubyte", "data/README.md"):
        assert str(fragment) in message


def test_download_goes_through_torchvision_only_when_asked(tmp_path, no_debian_copy, monkeypatch):
    import torchvision.datasets

    calls = []

    class FakeFashionMNIST:  # writes what torchvision's downloader would, without a network
        def __init__(self, root, train, download):
            calls.append((root, train, download))
            fx.make_fashion_mnist(fm.candidate_folders(root)[-1], per_class=1)

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", FakeFashionMNIST)
    with pytest.raises(DatasetNotFoundError):
        load_dataset("fashion-mnist", tmp_path, "train")
    assert calls == []
    assert len(load_dataset("fashion-mnist", tmp_path, "train", download=True)) == 10
    assert [c[1:] for c in calls] == [(True, True), (False, True)]


def test_truncated_idx_file_is_a_format_error(tmp_path, no_debian_copy):
    folder = fx.make_fashion_mnist(tmp_path / "fashion-mnist", gz=False)
    images = folder / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-5])
    with pytest.raises(DatasetFormatError) as error:
        load_dataset("fashion-mnist", tmp_path, "train")
    assert str(images) in str(error.value)


def test_not_an_idx_file(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(b"\x1f\x8b broken gzip")
    with pytest.raises(DatasetFormatError, match="cannot be read"):
        fm.read_idx(path)
    path = tmp_path / "x"
    path.write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00\x00\x00\x00")  # float IDX
    with pytest.raises(DatasetFormatError, match="not an IDX file of uint8"):
        fm.read_idx(path)


def test_read_idx_round_trip(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(fm.read_idx(fx.write_idx(tmp_path / "a.gz", array)), array)


@pytest.mark.skipif(
    not fm._complete(fm.DEBIAN_FOLDER), reason="Debian's dataset-fashion-mnist is not installed"
)
def test_the_debian_package_gives_35000_images_per_split(tmp_path):
    train, test = load_dataset("fashion-mnist", tmp_path, "train"), load_dataset("fashion-mnist", tmp_path, "test")
    assert (len(train), len(test)) == (35000, 35000)
    assert np.bincount(train.labels).tolist() == [7000] * 5 == np.bincount(test.labels).tolist()


def test_export_folder_writes_both_own_data_layouts_and_refuses_a_foreign_folder(tmp_path, monkeypatch):
    from histlib.data.own import scan

    monkeypatch.setattr(fm, "DEBIAN_FOLDER", fx.make_fashion_mnist(tmp_path / "debian", per_class=3))
    out = fm.export_folder(tmp_path / "export", per_class=2, root=tmp_path / "data")
    folder, listed = scan("folder", out), scan("csv", out / "images.csv")
    assert len(folder.paths) == 20 and len(set(folder.classes)) == 10 and "T-shirt-top" in folder.classes
    assert sorted(folder.paths) == sorted(listed.paths) and sorted(folder.classes) == sorted(listed.classes)
    fm.export_folder(out, per_class=2, root=tmp_path / "data")  # an earlier export is rewritten
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("do not touch")
    with pytest.raises(FileExistsError, match="not empty"):
        fm.export_folder(tmp_path / "mine", root=tmp_path / "data")


def test_notebook_8s_example_folder_is_written_once_and_rewritten_when_incomplete(tmp_path, monkeypatch):
    monkeypatch.setattr(fm, "DEBIAN_FOLDER", fx.make_fashion_mnist(tmp_path / "debian", per_class=100))
    out = fm.example_folder(tmp_path / "data")
    assert out == tmp_path / "data" / "own" / "fashion-mnist"
    assert len((out / "images.csv").read_text().splitlines()) == 1 + 10 * fm.EXAMPLE_PER_CLASS
    first = next(out.glob("Bag/*.png"))
    stamp = first.stat().st_mtime_ns
    assert fm.example_folder(tmp_path / "data") == out and first.stat().st_mtime_ns == stamp  # reused as it is
    first.unlink()
    fm.example_folder(tmp_path / "data")
    assert first.is_file()  # a missing image: exported again
