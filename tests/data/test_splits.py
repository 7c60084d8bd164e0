"""split_classes / ClassSubset: class-disjoint, relabelled, seeded (a validation split); per-class caps."""

import numpy as np
import pytest

from histlib.data.base import ArrayImageDataset
from histlib.data.splits import ClassSubset, cap_images_per_class, split_classes


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


def test_cap_images_per_class_keeps_a_seeded_random_k_of_each_class():
    labels = np.repeat(np.arange(50), np.arange(1, 51))  # class c has c + 1 images
    data = ArrayImageDataset(np.arange(len(labels), dtype=np.uint8)[:, None, None].repeat(2, 1).repeat(2, 2), labels,
                             [f"c{k}" for k in range(50)])
    capped = cap_images_per_class(data, 5, seed=3)
    counts = np.bincount(capped.labels, minlength=50)
    assert counts.tolist() == [min(c + 1, 5) for c in range(50)] and capped.classes == data.classes
    assert np.array_equal(capped.labels, labels[capped.indices]) and np.all(np.diff(capped.indices) > 0)
    image, label = capped[7]
    assert label == labels[capped.indices[7]] and np.asarray(image)[0, 0, 0] == capped.indices[7] % 256
    again = cap_images_per_class(data, 5, seed=3)
    other = cap_images_per_class(data, 5, seed=4)
    assert np.array_equal(capped.indices, again.indices) and not np.array_equal(capped.indices, other.indices)
    # every image of a class is equally likely to be kept
    kept = np.zeros(50)
    for seed in range(200):
        kept[cap_images_per_class(data, 5, seed=seed).indices[-5:] - (len(labels) - 50)] += 1
    assert 4 < kept.min() and kept.max() < 38  # 200 draws of 5 of 50: 20 +/- 4.2 each
    assert len(cap_images_per_class(data, 100)) == len(data)
    with pytest.raises(ValueError, match=">= 1"):
        cap_images_per_class(data, 0)
