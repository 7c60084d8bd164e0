"""split_classes / ClassSubset: class-disjoint, relabelled, seeded (a validation split)."""

import numpy as np
import pytest

from histlib.data.base import ArrayImageDataset
from histlib.data.splits import ClassSubset, split_classes


def dataset(num_classes=10, per_class=3, transform=None):
    labels = np.repeat(np.arange(num_classes), per_class)
    images = np.broadcast_to(labels[:, None, None].astype(np.uint8), (len(labels), 4, 4)).copy()
    return ArrayImageDataset(images, labels, [f"c{k}" for k in range(num_classes)], transform=transform, name="toy", split="train")


def test_split_is_class_disjoint_complete_and_relabelled():
    data = dataset()
    train, val = split_classes(data, fraction=0.8, seed=0)
    assert (train.num_classes, val.num_classes) == (8, 2)
    assert sorted(train.classes + val.classes) == sorted(data.classes)
    assert not set(train.paths) & set(val.paths) and len(train) + len(val) == len(data)
    for part in (train, val):
        assert set(part.labels.tolist()) == set(range(part.num_classes))
        for k in range(len(part)):
            image, label = part[k]
            assert part.classes[label] == f"c{np.asarray(image)[0, 0, 0]}"  # pixel = original class


def test_split_depends_on_the_seed_only():
    a, _ = split_classes(dataset(), 0.5, seed=7)
    b, _ = split_classes(dataset(transform=lambda x: x), 0.5, seed=7)
    c, _ = split_classes(dataset(), 0.5, seed=8)
    assert a.classes == b.classes != c.classes


def test_subset_transform_defaults_to_the_parent_and_can_be_replaced():
    data = dataset(transform=lambda image: "parent")
    subset = ClassSubset(data, [1, 3])
    assert subset[0][0] == "parent" and subset.classes == ["c1", "c3"]
    assert ClassSubset(data, [1], transform=None)[0][0].mode == "RGB"
    assert subset.with_transform(lambda image: "other")[0][0] == "other"


def test_bad_fractions_and_classes():
    with pytest.raises(ValueError):
        split_classes(dataset(), 1.0)
    with pytest.raises(ValueError, match="empty"):
        split_classes(dataset(num_classes=3), 0.1)
    with pytest.raises(ValueError):
        ClassSubset(dataset(), [10])
