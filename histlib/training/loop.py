"""The training loop: parameter groups, warm-up, checkpoints, resume, honest model selection.

One loop trains HIST and the pytorch-metric-learning baselines (Proxy-Anchor), so comparisons
share every other choice. Each epoch writes a row of ``metrics.csv`` and an atomic
``checkpoint.pt`` under ``config.output_dir``; ``fit(config, resume=True)`` continues an
interrupted run to the same numbers as an uninterrupted one (each epoch's shuffling and
augmentation are seeded by (seed, epoch)). ``results.json`` records the selection rule used.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ..evaluation import embed, retrieval_metrics
from ..losses import HISTLoss
from ..models import EmbeddingNet
from .config import TrainConfig

__all__ = ["fit", "FitResult", "TrainData", "build_loss", "parameter_groups", "train_one_epoch", "evaluate"]


@dataclass
class TrainData:
    """The datasets of one run. Labels of ``train`` are 0-based contiguous (its class count is C).

    ``val`` (held-out training classes) is required for ``selection="val"``; ``test`` holds the
    unseen classes the results are reported on.
    """

    train: Dataset
    test: Dataset
    val: Dataset | None = None

    @property
    def num_classes(self) -> int:
        """C; raises a ValueError unless the training labels are exactly 0..C-1."""
        labels = set(_labels_of(self.train))
        if labels != set(range(len(labels))):
            raise ValueError(
                f"training labels must be 0..{len(labels) - 1} (contiguous), got {len(labels)} distinct "
                f"labels from {min(labels)} to {max(labels)}"
            )
        return len(labels)


@dataclass
class FitResult:
    """What :func:`fit` produced; the same numbers are in ``output_dir/results.json``."""

    history: list[dict] = field(default_factory=list)  # one row per epoch
    selection: str = "val"
    selected_epoch: int = -1  # 0-based
    test_metrics: dict = field(default_factory=dict)  # of the selected model
    output_dir: Path | None = None
    model: EmbeddingNet | None = None  # the selected model, in eval mode


# -- building blocks -------------------------------------------------------------------------


def build_loss(config: TrainConfig, num_classes: int) -> torch.nn.Module:
    """HISTLoss or pytorch-metric-learning's ProxyAnchorLoss, as the config says."""
    if config.loss == "hist":
        return HISTLoss(
            num_classes, config.embedding_size, tau=config.tau, alpha=config.alpha,
            lambda_s=config.lambda_s, hgnn_hidden=config.hgnn_hidden, hgnn_layers=config.hgnn_layers,
        )
    from pytorch_metric_learning.losses import ProxyAnchorLoss

    return ProxyAnchorLoss(
        num_classes, config.embedding_size, margin=config.proxy_anchor_margin, alpha=config.proxy_anchor_alpha
    )


def parameter_groups(model: EmbeddingNet, criterion: torch.nn.Module, config: TrainConfig) -> list[dict]:
    """The recipe's groups: backbone (lr), embedding layer (lr), class distributions or proxies
    (lr_ds) and, for HIST, the HGNN (lr * hgnn_lr_factor)."""
    groups = [
        {"params": model.trunk_parameters(), "lr": config.lr, "name": "backbone"},
        {"params": model.head_parameters(), "lr": config.lr, "name": "embedding"},
    ]
    if isinstance(criterion, HISTLoss):
        groups += criterion.parameter_groups(lr_ds=config.lr_ds, lr_hgnn=config.lr * config.hgnn_lr_factor)
    else:
        groups.append({"params": list(criterion.parameters()), "lr": config.lr_ds, "name": "proxies"})
    return groups


def train_one_epoch(
    model: torch.nn.Module,
    criterion: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: DataLoader,
    device: torch.device,
    scaler: torch.amp.GradScaler | None = None,
    max_steps: int | None = None,
    progress: bool = True,
    description: str = "train",
) -> dict[str, float]:
    """One pass over ``loader``; returns the mean loss, images seen and images per second."""
    model.train()
    criterion.train()
    amp = scaler is not None and scaler.is_enabled()
    total, images, start = 0.0, 0, time.perf_counter()
    steps = len(loader) if max_steps is None else min(max_steps, len(loader))
    bar = tqdm(total=steps, desc=description, disable=not progress, leave=False)
    for step, (batch, labels) in enumerate(loader):
        if step == steps:
            break
        batch = batch.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        if amp:
            batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            loss = criterion(model(batch), labels)
        value = loss.item()  # the step's one device sync
        if not math.isfinite(value):
            raise FloatingPointError(f"non-finite loss {value} at step {step}; lower the learning rates")
        optimizer.zero_grad(set_to_none=True)
        if amp:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        total += value * len(labels)
        images += len(labels)
        bar.update()
        if step % 20 == 0:
            bar.set_postfix(loss=f"{value:.3f}")
    bar.close()
    seconds = time.perf_counter() - start
    return {"loss": total / max(images, 1), "images": images, "images_per_s": images / max(seconds, 1e-9)}


def evaluate(model, dataset, config: TrainConfig, device, progress=True) -> dict[str, float]:
    """Retrieval metrics (``config.eval_ks``) of ``model`` on ``dataset``, every item a query."""
    embeddings, labels = embed(model, dataset, batch_size=config.eval_batch_size, device=device,
                               num_workers=config.num_workers, progress=progress)
    return retrieval_metrics(embeddings, labels, ks=config.eval_ks)


# -- the loop ----------------------------------------------------------------------------------


def fit(
    config: TrainConfig,
    data: TrainData | None = None,
    resume: bool = False,
    progress: bool = True,
    on_epoch_end: Callable[[dict], None] | None = None,
) -> FitResult:
    """Train ``config`` (on ``data``, or on the datasets it names) and select a model honestly.

    Args:
        config: a :class:`TrainConfig` (see ``histlib.training.get_config``).
        data: the datasets; default :func:`histlib.training.data.build_data` (config.dataset).
        resume: continue from ``output_dir/checkpoint.pt`` if it exists.
        progress: tqdm progress bars.
        on_epoch_end: called with each epoch's metrics row (after its checkpoint is written).
    Returns:
        A :class:`FitResult`; ``output_dir`` holds metrics.csv, checkpoint.pt, selected.pt and
        results.json.
    """
    if data is None:
        from .data import build_data

        data = build_data(config)
    if config.selection == "val" and data.val is None:
        raise ValueError("selection='val' needs a validation split of held-out training classes (data.val)")
    num_classes = data.num_classes
    device = _device(config)
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    _seed_everything(config.seed)
    model = EmbeddingNet.from_backbone(
        config.backbone, config.pretrained, embedding_size=config.embedding_size,
        freeze_trunk_batchnorm=config.freeze_bn,
    ).to(device)
    amp = config.amp and device.type == "cuda"
    if amp:
        model = model.to(memory_format=torch.channels_last)
    criterion = build_loss(config, num_classes).to(device)
    optimizer = torch.optim.Adam(parameter_groups(model, criterion, config), weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_step, gamma=config.lr_gamma)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)

    history, best_score, start_epoch = [], -math.inf, 0
    checkpoint_path = output_dir / "checkpoint.pt"
    if resume and checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location=device, weights_only=True)
        if state["config"] != config.to_dict():
            changed = sorted(k for k, v in config.to_dict().items() if state["config"].get(k) != v)
            raise ValueError(f"cannot resume {checkpoint_path}: the config differs in {changed}")
        model.load_state_dict(state["model"])
        criterion.load_state_dict(state["criterion"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        history, best_score, start_epoch = state["history"], state["best_score"], state["epoch"]

    writer = _tensorboard(output_dir)
    for epoch in range(start_epoch, config.epochs):
        warm_up = epoch < config.warmup_epochs
        for p in model.trunk_parameters():
            p.requires_grad_(not warm_up)
        _seed_everything(config.seed * 100_003 + epoch)
        loader = _train_loader(data.train, config, epoch)
        stats = train_one_epoch(
            model, criterion, optimizer, loader, device, scaler, config.max_steps_per_epoch, progress,
            description=f"epoch {epoch + 1}/{config.epochs}" + (" (warm-up)" if warm_up else ""),
        )
        row = {"epoch": epoch + 1, "warm_up": warm_up, "lr": optimizer.param_groups[0]["lr"],
               "train_loss": stats["loss"], "images_per_s": stats["images_per_s"]}
        if not warm_up:
            scheduler.step()
        if data.val is not None:
            row.update({f"val_{k}": v for k, v in evaluate(model, data.val, config, device, progress).items()})
        row.update({f"test_{k}": v for k, v in evaluate(model, data.test, config, device, progress).items()})
        history.append(row)

        score = _selection_score(row, config)
        if score > best_score:  # "last" scores each epoch by its number
            best_score = score
            _atomic_save({"model": model.state_dict(), "epoch": epoch + 1, "selection": config.selection},
                         output_dir / "selected.pt")
        _write_csv(history, output_dir / "metrics.csv")
        if writer is not None:
            for key, value in row.items():
                if isinstance(value, (int, float)) and key != "epoch":
                    writer.add_scalar(key, value, epoch + 1)
        _atomic_save({
            "model": model.state_dict(), "criterion": criterion.state_dict(),
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(), "epoch": epoch + 1, "history": history,
            "best_score": best_score, "config": config.to_dict(),
        }, checkpoint_path)
        if on_epoch_end is not None:
            on_epoch_end(row)
    if writer is not None:
        writer.close()
    return _finish(config, history, model, output_dir, device)


def _finish(config, history, model, output_dir, device) -> FitResult:
    selected = torch.load(output_dir / "selected.pt", map_location=device, weights_only=True)
    model.load_state_dict(selected["model"])
    model.eval()
    epoch = selected["epoch"] - 1
    test_metrics = {k[len("test_"):]: v for k, v in history[epoch].items() if k.startswith("test_")}
    result = FitResult(history, config.selection, epoch, test_metrics, output_dir, model)
    with open(output_dir / "results.json", "w") as f:
        json.dump({
            "selection": config.selection,
            "selection_note": _SELECTION_NOTES[config.selection],
            "selected_epoch": epoch + 1,
            "test_metrics": test_metrics,
            "config": config.to_dict(),
        }, f, indent=2)
    return result


_SELECTION_NOTES = {
    "val": "epoch with the best validation score on held-out training classes (no test feedback)",
    "last": "last epoch (no test feedback)",
    "best_on_test": "epoch with the best TEST score: test-set feedback, as the reference code does; "
                    "not an honest estimate",
}


def _selection_score(row: dict, config: TrainConfig) -> float:
    if config.selection == "last":
        return row["epoch"]
    prefix = "val_" if config.selection == "val" else "test_"
    return row[prefix + config.selection_metric]


def _train_loader(dataset: Dataset, config: TrainConfig, epoch: int) -> DataLoader:
    """Shuffled (or m-per-class) batches; the order depends only on (seed, epoch)."""
    from ..data.samplers import make_sampler

    seed = config.seed * 100_003 + epoch
    sampler = make_sampler(_labels_of(dataset), config.batch_size, config.images_per_class, seed=seed)
    return DataLoader(
        dataset, batch_size=config.batch_size, sampler=sampler, drop_last=True,
        num_workers=config.num_workers, generator=torch.Generator().manual_seed(seed),
        pin_memory=torch.cuda.is_available(),
    )


def _labels_of(dataset: Dataset) -> list[int]:
    labels = getattr(dataset, "labels", None)
    if labels is None:
        raise ValueError(f"{type(dataset).__name__} has no .labels; histlib datasets expose their labels")
    return [int(y) for y in labels]


def _device(config: TrainConfig) -> torch.device:
    if config.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(config.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but CUDA is not available; use device='auto' or 'cpu'")
    return device


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    try:  # pytorch-metric-learning's samplers draw from their own numpy RandomState
        from pytorch_metric_learning.utils import common_functions as c_f

        c_f.NUMPY_RANDOM = np.random.RandomState(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _write_csv(history: list[dict], path: Path) -> None:
    columns = list(dict.fromkeys(k for row in history for k in row))
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)
    os.replace(tmp, path)


def _tensorboard(output_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(output_dir / "tensorboard"))
