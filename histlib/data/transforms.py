"""Image transforms: the published recipe's (ResNet and BN-Inception styles) and the small-data ones.

All take an RGB PIL image (what every histlib dataset returns) and give a float tensor.

- ``resnet_transform``: train ``RandomResizedCrop(size)`` + horizontal flip; eval
  ``Resize(resize)`` + ``CenterCrop(size)``; then ImageNet mean/std on [0, 1] RGB.
  The published recipes (docs/hist.md, section "Training recipes"): size 224, resize 256.
- ``bn_inception_transform``: the same geometry, then BGR channel order, 0-255 range, mean
  (104, 117, 128) and std 1, as BN-Inception checkpoints expect.
- ``small_transform``: for the small rendered datasets (glyphs, typefaces, kanji; 32x32) and
  28x28 Fashion-MNIST: train a small random shift and scale (no crop that could cut a stroke
  off), optionally a flip; to ``channels`` (1 or 3) equal channels; values mapped from [0, 1] to
  [-1, 1]. Characters must not be flipped ("b" would become "d", and a mirrored ideograph is
  another shape or none), so ``flip`` is False for the rendered datasets and True for
  Fashion-MNIST (``transform_for`` chooses).

Every class here is picklable, so DataLoader workers can use them on every platform.
"""

from __future__ import annotations

import torch
from torchvision import transforms as T

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "BN_INCEPTION_MEAN", "BN_INCEPTION_STD",
    "ToBGR255", "resnet_transform", "bn_inception_transform", "small_transform", "transform_for",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BN_INCEPTION_MEAN = (104.0, 117.0, 128.0)  # BGR order, 0-255 range
BN_INCEPTION_STD = (1.0, 1.0, 1.0)


class ToBGR255:
    """(3, H, W) RGB in [0, 1] -> (3, H, W) BGR in [0, 255]."""

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return image[[2, 1, 0]] * 255.0

    def __repr__(self) -> str:
        return "ToBGR255()"


def _geometry(train: bool, size: int, resize: int | None) -> list:
    if train:
        return [T.RandomResizedCrop(size), T.RandomHorizontalFlip()]
    return [T.Resize(resize if resize is not None else round(size * 256 / 224)), T.CenterCrop(size)]


def resnet_transform(train: bool, size: int = 224, resize: int | None = None) -> T.Compose:
    """ResNet-style transform -> (3, size, size) float; eval resizes to ``resize`` (default size*256/224).

    >>> from PIL import Image
    >>> resnet_transform(train=False)(Image.new("RGB", (500, 375))).shape
    torch.Size([3, 224, 224])
    """
    return T.Compose([*_geometry(train, size, resize), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def bn_inception_transform(train: bool, size: int = 224, resize: int | None = None) -> T.Compose:
    """BN-Inception-style transform -> (3, size, size) float, BGR, 0-255 minus (104, 117, 128).

    >>> from PIL import Image
    >>> x = bn_inception_transform(train=False)(Image.new("RGB", (300, 300), (255, 0, 0)))
    >>> x[:, 0, 0].tolist()   # red pixel: B, G, R after the mean
    [-104.0, -117.0, 127.0]
    """
    return T.Compose([
        *_geometry(train, size, resize), T.ToTensor(), ToBGR255(), T.Normalize(BN_INCEPTION_MEAN, BN_INCEPTION_STD)
    ])


def small_transform(train: bool, size: int | None = None, channels: int = 1, flip: bool = False,
                    imagenet: bool = False) -> T.Compose:
    """Transform for small greyscale images -> (channels, size, size) float in [-1, 1] (``imagenet``:
    3 channels normalised with ImageNet's mean and std instead, as a pretrained trunk expects).

    ``size`` None keeps the image's size. Train: random shift up to 1/16 of the side, scale
    0.9-1.1 (case pairs such as "c"/"C" differ by size, so no more), then a flip if ``flip``.

    >>> from PIL import Image
    >>> x = small_transform(train=False, channels=3)(Image.new("RGB", (32, 32), (255, 255, 255)))
    >>> tuple(x.shape), x.min().item(), x.max().item()
    ((3, 32, 32), 1.0, 1.0)
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    steps = [T.Grayscale(num_output_channels=channels)]
    if size is not None:
        steps.append(T.Resize(size))
    if train:
        steps.append(T.RandomAffine(degrees=0, translate=(1 / 16, 1 / 16), scale=(0.9, 1.1)))
        if flip:
            steps.append(T.RandomHorizontalFlip())
    if imagenet:
        if channels != 3:
            raise ValueError(f"ImageNet normalisation needs channels=3, got {channels}")
        return T.Compose(steps + [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    steps += [T.ToTensor(), T.Normalize((0.5,) * channels, (0.5,) * channels)]
    return T.Compose(steps)


RENDERED = ("glyphs", "typefaces", "kanji")  # drawn from fonts: never flipped


def transform_for(name: str, train: bool, style: str = "resnet", size: int | None = None, channels: int = 1,
                  imagenet: bool = False) -> T.Compose:
    """The usual transform for dataset ``name`` ("cub", "cars", "sop", "glyphs", "typefaces",
    "kanji", "fashion-mnist").

    Benchmarks: ``style`` "resnet" or "bn-inception" at ``size`` (default 224). The rendered
    datasets and Fashion-MNIST: ``small_transform`` with ``channels``, flipping only Fashion-MNIST,
    normalised as ImageNet images when ``imagenet`` (for a pretrained trunk).
    """
    if name in (*RENDERED, "fashion-mnist"):
        return small_transform(train, size, channels, flip=name == "fashion-mnist", imagenet=imagenet)
    if name in ("folder", "csv"):  # one's own photos: the benchmarks' transform at the recipe's size
        style = "resnet"
    elif name not in ("cub", "cars", "sop"):
        raise ValueError(f"unknown dataset {name!r}")
    styles = {"resnet": resnet_transform, "bn-inception": bn_inception_transform}
    if style not in styles:
        raise ValueError(f"style must be one of {sorted(styles)}, got {style!r}")
    return styles[style](train, size if size is not None else 224)
