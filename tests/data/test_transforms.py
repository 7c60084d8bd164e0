"""Transforms: the recipe's geometry and normalisation, BN-Inception's BGR 0-255, small images."""

import pickle

import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from histlib.data.transforms import (
    IMAGENET_MEAN, IMAGENET_STD, bn_inception_transform, resnet_transform, small_transform, transform_for,
)


def grey(value, size=(300, 200)):
    return Image.new("RGB", size, (value, value, value))


def test_resnet_recipe_geometry():
    train, test = resnet_transform(train=True), resnet_transform(train=False)
    kinds = [type(t) for t in train.transforms]
    assert kinds[:2] == [T.RandomResizedCrop, T.RandomHorizontalFlip]
    assert train.transforms[0].size == (224, 224)
    assert [type(t) for t in test.transforms[:2]] == [T.Resize, T.CenterCrop]
    assert test.transforms[0].size == 256 and test.transforms[1].size == (224, 224)
    assert train(grey(10)).shape == test(grey(10)).shape == (3, 224, 224)


def test_resnet_normalisation_is_imagenet():
    x = resnet_transform(train=False)(grey(255))
    expected = [(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]
    assert torch.allclose(x[:, 100, 100], torch.tensor(expected), atol=1e-5)


def test_sizes_are_parameters():
    assert resnet_transform(train=False, size=32)(grey(0)).shape == (3, 32, 32)
    assert resnet_transform(train=False, size=32).transforms[0].size == 37  # 32 * 256 / 224
    assert bn_inception_transform(train=True, size=64)(grey(0)).shape == (3, 64, 64)
    assert resnet_transform(train=False, size=224, resize=300).transforms[0].size == 300


def test_bn_inception_is_bgr_0_255_minus_mean_std_1():
    x = bn_inception_transform(train=False)(Image.new("RGB", (256, 256), (200, 100, 50)))
    assert x[:, 0, 0].tolist() == [50 - 104, 100 - 117, 200 - 128]


def test_small_transform_channels_range_and_size():
    one = small_transform(train=False)(grey(255, (32, 32)))
    three = small_transform(train=True, channels=3)(grey(0, (32, 32)))
    assert one.shape == (1, 32, 32) and one.min() == one.max() == 1.0
    assert three.shape == (3, 32, 32) and three.max() == -1.0
    assert small_transform(train=False, size=24)(Image.new("L", (28, 28))).shape == (1, 24, 24)
    with pytest.raises(ValueError):
        small_transform(train=False, channels=2)


def test_rendered_characters_are_never_flipped_fashion_mnist_may_be():
    def has_flip(transform):
        return any(isinstance(t, T.RandomHorizontalFlip) for t in transform.transforms)

    for name in ("glyphs", "typefaces", "kanji"):
        assert not has_flip(transform_for(name, train=True)), name
    assert has_flip(transform_for("fashion-mnist", train=True))
    assert not has_flip(transform_for("fashion-mnist", train=False))


def test_transform_for_benchmarks_and_errors():
    assert transform_for("cub", train=False)(grey(0)).shape == (3, 224, 224)
    assert transform_for("sop", train=False, style="bn-inception", size=32)(grey(0)).shape == (3, 32, 32)
    with pytest.raises(ValueError, match="style"):
        transform_for("cars", train=True, style="vgg")
    with pytest.raises(ValueError, match="unknown dataset"):
        transform_for("mnist", train=True)


def test_transforms_pickle_for_dataloader_workers():
    """DataLoader workers receive the transform pickled: the copy must transform exactly as the original."""
    image = Image.frombytes("RGB", (300, 200), bytes(range(256)) * (300 * 200 * 3 // 256) + bytes(300 * 200 * 3 % 256))
    for transform in (resnet_transform(True), bn_inception_transform(False), small_transform(True, channels=3, flip=True)):
        copy = pickle.loads(pickle.dumps(transform))
        assert copy is not transform and [type(t) for t in copy.transforms] == [type(t) for t in transform.transforms]
        torch.manual_seed(0)  # random crops and flips draw from torch's generator: the same draws on both
        expected = transform(image)
        torch.manual_seed(0)
        torch.testing.assert_close(copy(image), expected, rtol=0, atol=0)
        assert expected.shape[0] == 3 and expected.std() > 0  # a real, non-constant image went through
