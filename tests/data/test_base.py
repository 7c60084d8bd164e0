"""The common dataset interface: RGB images, label checks, transforms, errors through workers."""

import numpy as np
import pytest
from PIL import Image
from torch.utils.data import DataLoader

from histlib.data import UnreadableImageError
from histlib.data.base import ArrayImageDataset, ImageFileDataset, read_rgb_image

from . import fixtures as fx


@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK", "RGBA", "P", "LA"])
def test_every_image_mode_becomes_rgb(tmp_path, mode):
    path = fx.write_image(tmp_path / f"x.{mode}", mode)
    image = read_rgb_image(str(path))
    assert image.mode == "RGB" and image.size == (24, 16)


def test_unreadable_image_error_names_the_file_and_verify(tmp_path):
    path = fx.corrupt_file(fx.write_image(tmp_path / "a.jpg"), "truncated")
    with pytest.raises(UnreadableImageError) as error:
        read_rgb_image(str(path), "cub", "/data")
    assert str(path) in str(error.value) and "python -m histlib.data.verify cub --root /data" in str(error.value)


def test_unreadable_image_error_keeps_its_type_through_a_dataloader_worker(tmp_path):
    path = fx.corrupt_file(fx.write_image(tmp_path / "a.jpg"))
    data = ImageFileDataset([str(path)], [0], ["a"], transform=np.asarray, name="cub")
    with pytest.raises(UnreadableImageError, match="cannot read image"):
        next(iter(DataLoader(data, batch_size=1, num_workers=1)))


def test_labels_must_match_paths_and_classes():
    with pytest.raises(ValueError, match="labels must lie in 0..1"):
        ImageFileDataset(["a", "b"], [0, 2], ["x", "y"])
    with pytest.raises(ValueError, match="2 paths but 1 labels"):
        ImageFileDataset(["a", "b"], [0], ["x"])
    with pytest.raises(ValueError, match="uint8"):
        ArrayImageDataset(np.zeros((2, 4, 4), np.float32), [0, 0], ["x"])


def test_getitem_transform_repr_and_with_transform():
    data = ArrayImageDataset(np.full((3, 4, 4), 7, np.uint8), [0, 1, 1], ["x", "y"], name="toy", split="test")
    assert repr(data) == "<ArrayImageDataset toy test: 3 images, 2 classes>"
    image, label = data[-1]
    assert isinstance(image, Image.Image) and label == 1 and isinstance(label, int)
    as_array = data.with_transform(np.asarray)
    assert as_array[0][0].shape == (4, 4, 3) and data.transform is None
    assert as_array.labels is data.labels
    with pytest.raises(IndexError):
        data[3]


def test_relabel_keeps_the_listed_classes_in_their_order():
    from histlib.data.base import relabel

    labels = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3])
    rows, new_labels = relabel(labels, [5, 1, 7])  # class 7 has no item: it keeps its number
    assert rows.tolist() == [1, 3, 4, 8] and new_labels.tolist() == [1, 1, 0, 0]
    rows, new_labels = relabel(labels, [])
    assert rows.tolist() == [] and new_labels.dtype == np.int64
    with pytest.raises(ValueError, match="distinct"):
        relabel(labels, [1, 1])
