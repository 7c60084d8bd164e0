"""How the training loop runs on several processes: DDP over the model AND the loss, two hypergraphs.

Under ``torchrun`` (see :mod:`histlib.distributed` for the process group), :func:`histlib.training.fit`
wraps the embedding network and the loss in one :class:`~torch.nn.parallel.DistributedDataParallel`
(:class:`ParallelObjective`), so the loss's own parameters (HIST's class means, log-variances and
HGNN; Proxy-Anchor's proxies) are synchronised exactly like the model's. ``batch_size`` is the
global batch; each of K ranks takes ``batch_size / K`` of it (:func:`check_world_size`).

``hypergraph="per_gpu"`` (default): each rank's loss is HIST on its own batch (its own hypergraph,
the paper's method at batch = per-GPU batch); DDP averages the gradients, i.e. the gradient of
the mean of the K per-rank losses, which is also the loss logged. BatchNorm layers of the model
use per-rank statistics, as a run with the per-GPU batch would.

``hypergraph="global"``: every rank gathers all embeddings and labels in rank order
(:func:`histlib.distributed.gather_rows`), builds the identical hypergraph over the global batch
and computes the identical loss L; the model's BatchNorm layers become
:class:`~histlib.distributed.GlobalBatchNorm` (statistics of the global batch). The result equals
one process training on the global batch. Why the unscaled loss is right:

- rank r's backward reaches the loss parameters phi directly: each rank holds dL/dphi, and DDP's
  average over K ranks leaves dL/dphi;
- it reaches the model parameters theta only through its own rows E_r of the gathered batch; the
  gather's backward sums the ranks' (identical) gradients for those rows, K * dL/dE_r, so rank r
  holds K * (dL/dE_r)(dE_r/dtheta), and DDP's average gives sum_r (dL/dE_r)(dE_r/dtheta) = dL/dtheta.
  (Through GlobalBatchNorm's gathered statistics the same factor K arrives and is averaged away.)

A gather whose backward returned each rank's slice unsummed would leave theta's gradient at 1/K of
its value; multiplying the loss by K to repair it multiplies phi's gradient by K, which Adam's
scale invariance hides but SGD, weight decay and Adam's epsilon do not. The tests compare every
gradient with one process on the concatenated batch.
"""

from __future__ import annotations

import gc
import warnings

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .. import distributed
from .config import TrainConfig

__all__ = ["ParallelObjective", "check_world_size", "rank_seed", "seed_rank_augmentation", "MIN_PER_GPU_BATCH"]

#: Below this per-GPU batch the per-GPU hypergraph degrades (the replication: HIST is insensitive to
#: the batch size only from 32 up); a warning, not an error, so batch-size studies and the CPU
#: small recipes still run.
MIN_PER_GPU_BATCH = 32


def check_world_size(config: TrainConfig, world_size: int) -> None:
    """Refuse (ValueError) or warn about a config that K = ``world_size`` processes cannot train as asked.

    ``batch_size`` must be a multiple of K. Per-GPU hypergraph: each rank's batch must hold 2
    samples (HIST's BatchNorm) and whole classes when ``images_per_class`` is set; below
    :data:`MIN_PER_GPU_BATCH` a warning suggests ``hypergraph="global"``.
    """
    if world_size == 1:
        return
    if config.batch_size % world_size:
        raise ValueError(f"batch_size={config.batch_size} is the global batch and must be a multiple of the "
                         f"number of processes ({world_size}): each takes batch_size / {world_size}")
    per_rank = config.batch_size // world_size
    if config.hypergraph != "per_gpu":
        return
    hist = config.loss == "hist"
    if hist and per_rank < 2:
        raise ValueError(f"hypergraph='per_gpu' with {world_size} processes gives each a batch of {per_rank}; "
                         "HIST needs at least 2 per batch: raise batch_size or use hypergraph=global")
    if config.images_per_class is not None and per_rank % config.images_per_class:
        raise ValueError(f"hypergraph='per_gpu': each process's batch ({per_rank}) must hold whole classes of "
                         f"images_per_class={config.images_per_class}; choose batch_size as a multiple of "
                         f"{world_size * config.images_per_class}, or use hypergraph=global")
    if hist and per_rank < MIN_PER_GPU_BATCH and distributed.is_main():
        warnings.warn(f"hypergraph='per_gpu': each of {world_size} processes builds its hypergraph over "
                      f"{per_rank} samples; HIST is reported to degrade below {MIN_PER_GPU_BATCH} per batch. "
                      "Use hypergraph=global (one hypergraph over the global batch) or a larger batch_size.",
                      stacklevel=2)


def rank_seed(seed: int, rank: int) -> int:
    """A 32-bit seed for rank ``rank`` of an epoch seeded ``seed``, unrelated to other (seed, rank) pairs.

    >>> rank_seed(100003, 0) != rank_seed(100003, 1) != rank_seed(100004, 0)
    True
    """
    return int(np.random.SeedSequence([int(seed), int(rank)]).generate_state(1)[0])


def seed_rank_augmentation(seed: int, rank: int) -> None:
    """Seed the generators augmentation draws from (Python's, numpy's global, torch's) for this rank.

    pytorch-metric-learning's ``NUMPY_RANDOM`` is left alone: the m-per-class sampler draws the
    global batch from it, identically on every rank.
    """
    import random

    value = rank_seed(seed, rank)
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)


class _Objective(nn.Module):
    """model + loss as one module, so that one DDP synchronises both; forward returns the loss."""

    def __init__(self, model: nn.Module, criterion: nn.Module, gather: bool):
        super().__init__()
        self.model, self.criterion, self.gather = model, criterion, gather

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        embeddings = self.model(images)
        if self.gather:
            labels = labels.to(embeddings.device, non_blocking=True)
            embeddings, labels = distributed.gather_rows(embeddings), distributed.gather_rows(labels)
        return self.criterion(embeddings, labels)


class ParallelObjective:
    """The loss of a training step on K processes (see the module docstring).

    Args:
        model: the embedding network (its BatchNorm layers are made global in "global" mode).
        criterion: the loss (any parameters it has are synchronised by the same DDP).
        hypergraph: "per_gpu" or "global".
        device: this rank's device.

    The DDP wrapper covers the parameters that require a gradient when a step runs; it is rebuilt
    when that set changes (the warm-up freezes the backbone, then unfreezes it).
    """

    def __init__(self, model: nn.Module, criterion: nn.Module, hypergraph: str, device: torch.device):
        if hypergraph not in ("per_gpu", "global"):
            raise ValueError(f"hypergraph must be 'per_gpu' or 'global', got {hypergraph!r}")
        self.hypergraph, self.device = hypergraph, device
        self.world_size = distributed.world_size()
        if hypergraph == "global":
            distributed.convert_batchnorm(model)
        self.objective = _Objective(model, criterion, gather=hypergraph == "global")
        self._ddp: DistributedDataParallel | None = None
        self._trainable: tuple[bool, ...] | None = None

    def loss(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """() the step's loss: rank-local HIST (per_gpu) or the global batch's (global, same on every rank)."""
        return self._wrapper()(images, labels)

    def mean_over_ranks(self, values: torch.Tensor) -> torch.Tensor:
        """Logged values (losses) as the run's: the mean over ranks (per_gpu); already global (global)."""
        return values if self.hypergraph == "global" else distributed.mean_over_ranks(values)

    def _wrapper(self) -> DistributedDataParallel:
        trainable = tuple(p.requires_grad for p in self.objective.parameters())
        if trainable != self._trainable:
            self._ddp = None  # the old reducer and its autograd hooks must be gone before the new one hooks in
            gc.collect()
            ids = [self.device.index] if self.device.type == "cuda" else None
            self._ddp = DistributedDataParallel(self.objective, device_ids=ids, )
            self._trainable = trainable
        return self._ddp
