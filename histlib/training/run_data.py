"""The data of a run: the train, validation and test datasets its config names.

``RunData`` is what :func:`histlib.training.fit` trains and evaluates on; ``build_run_data(config)``
loads it (``config.dataset`` under ``config.data_root``), or a caller passes its own ``RunData``
(tests, notebooks with in-memory data).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from .config import TrainConfig

__all__ = ["RunData", "build_run_data", "frozen_features", "labels_of"]


def labels_of(dataset: Dataset) -> list[int]:
    """The integer labels of a histlib dataset (its ``.labels``), as a list."""
    labels = getattr(dataset, "labels", None)
    if labels is None:
        raise ValueError(f"{type(dataset).__name__} has no .labels; histlib datasets expose their labels")
    return [int(y) for y in labels]


@dataclass
class RunData:
    """The datasets of one run. Labels of ``train`` are 0-based contiguous (its class count is C).

    ``val`` (held-out training classes) is required for ``selection="val"``; ``test`` holds the
    unseen classes the results are reported on.
    """

    train: Dataset
    test: Dataset
    val: Dataset | None = None
    #: own data (:mod:`histlib.data.own`): the class split, written to the run folder as data_split.json
    split_record: dict | None = None
    #: own data with is_query / is_gallery columns: the test split's roles, bool arrays (N,), (N,)
    query_gallery: tuple | None = None

    @property
    def num_classes(self) -> int:
        """C; raises a ValueError unless the training labels are exactly 0..C-1."""
        labels = set(labels_of(self.train))
        if labels != set(range(len(labels))):
            raise ValueError(
                f"training labels must be 0..{len(labels) - 1} (contiguous), got {len(labels)} distinct "
                f"labels from {min(labels)} to {max(labels)}"
            )
        return len(labels)

    def check(self, config: TrainConfig) -> None:
        """Refuse data that cannot train ``config``, before any step: empty splits, a missing
        validation split, too few images for one batch."""
        for name in ("train", "test") + (("val",) if config.selection == "val" else ()):
            split = getattr(self, name)
            if split is None:
                raise ValueError("selection='val' needs a validation split of held-out training classes "
                                 "(data.val); got none")
            if len(split) == 0:
                where = getattr(split, "root", "") or "the dataset given"
                raise ValueError(f"the {name} split of {config.dataset} (under {where}) has no images")
        if len(self.train) < config.batch_size:
            raise ValueError(f"the train split has {len(self.train)} images, fewer than one batch "
                             f"(batch_size={config.batch_size})")
        self.num_classes  # contiguous labels


def build_run_data(config: TrainConfig) -> RunData:
    """Train split (train transform), test split (eval transform) and, for ``selection="val"``,
    a validation split of held-out *training* classes (eval transform, ``val_fraction`` of the
    training classes, drawn with ``config.seed``); the remaining training classes are relabelled
    0..C-1 and train the model. ``max_images_per_class`` first caps both splits (the same images
    for every seed: the cap defines the data, it is not a run's randomness), as SOP-shaped runs need.
    """
    from ..data import cap_images_per_class, load_dataset, split_classes, transform_for
    from ..data.transforms import RENDERED

    def transform(train: bool):
        # frozen trunk: every split through the evaluation transform (its features are computed once)
        return transform_for(config.dataset, train and not config.frozen_trunk, size=config.image_size, channels=3,
                             imagenet=bool(config.pretrained))

    # the rendered stand-ins are drawn at the run's image size (not drawn at 32 px and upsampled)
    options = {"size": config.image_size} if config.dataset in RENDERED else {}
    train = load_dataset(config.dataset, config.data_root, "train", transform=transform(True), **options)
    test = load_dataset(config.dataset, config.data_root, "test", transform=transform(False), **options)
    roles, record = getattr(test, "query_gallery", None), getattr(train, "split_record", None)
    if roles is not None and config.max_images_per_class is not None:
        raise ValueError(f"{config.dataset}:{config.data_root} gives query / gallery roles; max_images_per_class="
                         f"{config.max_images_per_class} would drop some of them: set max_images_per_class=none")
    if config.max_images_per_class is not None:
        train = cap_images_per_class(train, config.max_images_per_class, seed=0)
        test = cap_images_per_class(test, config.max_images_per_class, seed=0)
    val = None
    if config.selection == "val":
        val, train = split_classes(train, config.val_fraction, seed=config.seed)
        if val.num_classes < 2:  # one class: every neighbour is a positive, the score selects nothing
            raise ValueError(f"val_fraction={config.val_fraction} of {val.num_classes + train.num_classes} training "
                             f"classes leaves {val.num_classes} validation class; model selection needs 2 or more: "
                             "raise val_fraction (e.g. --set val_fraction=0.4) or give more classes")
        val = val.with_transform(transform(False))
    data = RunData(train=train, test=test, val=val, split_record=record,
                   query_gallery=roles)
    return frozen_features(data, config) if config.frozen_trunk else data


def frozen_features(data: RunData, config: TrainConfig, progress: bool = False) -> RunData:
    """``data`` as the frozen-trunk mode trains on it: each split's pooled trunk features, read from
    the cache under ``config.data_root/features`` or extracted once (:mod:`histlib.features`).

    The training classes' features are cached once for all seeds of a pretrained trunk (the seeded
    validation split only chooses rows of them), the test split's once; a random trunk depends on
    the seed, and so do its features."""
    from ..data.splits import ClassSubset
    from ..features import FeatureDataset, cache_path, cached_features, extract_features, feature_key
    from ..runtime import pick_device
    from .factory import build_encoder

    encoder = None

    def features_of(dataset):
        nonlocal encoder
        # training and validation classes are rows of one cached set (the same for every seed)
        source = dataset.dataset if isinstance(dataset, ClassSubset) else dataset
        key = feature_key(source, config.backbone, config.pretrained, config.image_size, "avg+max", config.seed)

        def extract():
            nonlocal encoder
            encoder = encoder or build_encoder(config).to(pick_device(config.device))
            return extract_features(encoder.encode, source, config.eval_batch_size, pick_device(config.device),
                                    config.num_workers, progress)

        features = cached_features(cache_path(_feature_root(config), key), key, source.labels, extract)
        rows = dataset.indices if source is not dataset else None
        chosen = features if rows is None else features[torch.as_tensor(np.asarray(rows), dtype=torch.long)]
        labels = np.asarray(dataset.labels, dtype=np.int64)
        classes = getattr(dataset, "classes", None) or [str(c) for c in range(int(labels.max(initial=-1)) + 1)]
        return FeatureDataset(chosen, labels, classes, getattr(dataset, "name", ""), getattr(dataset, "split", ""))

    return RunData(train=features_of(data.train), test=features_of(data.test),
                   val=None if data.val is None else features_of(data.val), split_record=data.split_record,
                   query_gallery=data.query_gallery)


def _feature_root(config: TrainConfig):
    """Where the frozen trunk's features are cached: under the data folder, except for one's own images
    (their folder holds only class folders: the cache goes to ``runs/features`` instead)."""
    from ..data.own import KINDS
    from ..paths import RUNS

    return RUNS if config.dataset in KINDS else config.data_root
