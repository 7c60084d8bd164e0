"""The datasets of a training run, as its config names them (train / validation / test)."""

from __future__ import annotations

from .config import TrainConfig
from .loop import TrainData

__all__ = ["build_data"]


def build_data(config: TrainConfig) -> TrainData:
    """Train split (train transform), test split (eval transform), each capped to
    ``max_images_per_class`` images per class when set, and, for ``selection="val"``,
    a validation split of held-out *training* classes (eval transform, ``val_fraction`` of the
    training classes, drawn with ``config.seed``); the remaining training classes are relabelled
    0..C-1 and train the model.
    """
    from ..data import cap_images_per_class, load_dataset, split_classes
    from ..data.transforms import transform_for

    def transform(train: bool):
        return transform_for(config.dataset, train, size=config.image_size, channels=3)

    train = load_dataset(config.dataset, config.data_root, "train", transform=transform(True))
    test = load_dataset(config.dataset, config.data_root, "test", transform=transform(False))
    if config.max_images_per_class is not None:  # a fixed subset (seed 0), the same for every run
        train = cap_images_per_class(train, config.max_images_per_class, seed=0)
        test = cap_images_per_class(test, config.max_images_per_class, seed=0)
    val = None
    if config.selection == "val":
        val, train = split_classes(train, config.val_fraction, seed=config.seed)
        val = val.with_transform(transform(False))
    return TrainData(train=train, test=test, val=val)
