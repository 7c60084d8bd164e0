"""Several processes (``torchrun``): the process group, its collectives, and what is built on them.

One module owns the process-group plumbing: starting it from torchrun's environment, rank and
world-size helpers, the collectives histlib uses, a global-batch BatchNorm, embedding a split
across ranks, and turning a lost rank into a clear error instead of a hang.

Without a process group (plain ``python``), every helper behaves as for one process:

    >>> world_size(), rank(), is_main()
    (1, 0, True)
    >>> x = torch.arange(6.0).reshape(3, 2)
    >>> torch.equal(gather_rows(x), x), torch.equal(mean_over_ranks(x), x)
    (True, True)
    >>> broadcast_from_main({"epoch": 3})
    {'epoch': 3}

Failure handling: the process group is created with a timeout (:data:`DEFAULT_TIMEOUT_S`, or
``HISTLIB_DIST_TIMEOUT_S`` seconds), so a collective waiting for a rank that stopped responding
fails after that time; a rank that died makes the others' next collective fail at once (gloo:
"connection closed by peer"; NCCL with ``TORCH_NCCL_ASYNC_ERROR_HANDLING=1``, set here by
default, aborts the waiting processes after the timeout). :func:`rank_failures` turns these
errors into a :class:`RankFailedError` that says what happened and what to do.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "DEFAULT_TIMEOUT_S", "RankFailedError", "launched_by_torchrun", "init_from_env", "init_process_group",
    "shutdown", "is_distributed", "world_size", "rank", "is_main", "rank_device", "barrier",
    "broadcast_from_main", "gather_rows", "mean_over_ranks", "rank_failures", "GlobalBatchNorm",
    "convert_batchnorm", "embed_sharded", "agree", "reported_by_main", "run_local",
]

T = TypeVar("T")

#: Seconds a collective waits for the other ranks before the run fails (``HISTLIB_DIST_TIMEOUT_S``).
DEFAULT_TIMEOUT_S = 600.0


class RankFailedError(RuntimeError):
    """Another rank of the run failed, was killed or stopped responding; this rank stopped too."""


# -- the process group ------------------------------------------------------------------------


def launched_by_torchrun() -> bool:
    """Whether this process is one of several started by torchrun (``WORLD_SIZE`` > 1 in the environment)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


_active_timeout_s: float | None = None  # the timeout init_process_group used, for messages


def _timeout_s(timeout_s: float | None) -> float:
    if timeout_s is not None:
        return float(timeout_s)
    text = os.environ.get("HISTLIB_DIST_TIMEOUT_S")
    if text is None:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"HISTLIB_DIST_TIMEOUT_S must be a positive number of seconds, got {text!r}")
    return value


def init_process_group(backend: str, rank: int, world_size: int, timeout_s: float | None = None,
                       init_method: str = "env://") -> None:
    """Join the process group (``torch.distributed.init_process_group``) with histlib's timeout.

    ``backend``: "gloo" (CPU) or "nccl" (CUDA). ``init_method`` "env://" reads ``MASTER_ADDR`` and
    ``MASTER_PORT``. NCCL's asynchronous error handling is switched on unless the environment
    already chooses, so a collective that times out aborts the process instead of hanging.
    """
    global _active_timeout_s
    if backend == "nccl":
        os.environ.setdefault("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1")
    _active_timeout_s = _timeout_s(timeout_s)
    dist.init_process_group(backend, init_method=init_method, rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=_active_timeout_s))


def init_from_env(device: str = "auto", timeout_s: float | None = None) -> torch.device:
    """Join torchrun's process group (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_*``); the rank's device.

    ``device`` is the config's: "cpu" runs on gloo; "auto" and "cuda" run on NCCL with
    ``cuda:LOCAL_RANK`` when CUDA is available ("auto" falls back to gloo on the CPU).
    """
    missing = [name for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
               if name not in os.environ]
    if missing:
        raise ValueError(f"not started by torchrun: the environment lacks {missing}; launch with "
                         "torchrun --standalone --nproc_per_node K -m histlib.train ...")
    local_rank = int(os.environ["LOCAL_RANK"])
    if device.startswith("cuda:"):
        raise ValueError(f"device={device!r}: under torchrun each process uses cuda:LOCAL_RANK; "
                         "set device=auto or device=cuda")
    cuda = device in ("auto", "cuda") and torch.cuda.is_available()
    if device == "cuda" and not cuda:
        raise ValueError("device='cuda' but CUDA is not available on this machine; use device=auto or cpu")
    if cuda:
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK {local_rank} but this machine has {torch.cuda.device_count()} CUDA "
                             "device(s): start at most that many processes per node")
        torch.cuda.set_device(local_rank)
    init_process_group("nccl" if cuda else "gloo", int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]),
                       timeout_s)
    return torch.device("cuda", local_rank) if cuda else torch.device("cpu")


def run_local(target: Callable[..., None], world_size: int, *args) -> None:
    """``target(rank, *args)`` in ``world_size`` local processes joined by a gloo process group on a
    free localhost port (one process: no group); returns when every rank has finished.

    For benchmarks and experiments on one machine (``torchrun`` launches real runs). ``target``
    must be picklable: a module-level function.
    """
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_run_rank, args=(world_size, port, target, args), nprocs=world_size)


def _run_rank(rank: int, world_size: int, port: int, target: Callable[..., None], args: tuple) -> None:
    if world_size > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        init_process_group("gloo", rank, world_size)
    target(rank, *args)
    shutdown()


def shutdown() -> None:
    """Leave the process group after a successful run (all ranks wait for each other first)."""
    if is_distributed():
        with rank_failures("finishing the run"):
            dist.barrier()
        dist.destroy_process_group()


def is_distributed() -> bool:
    """Whether a process group of more than one rank is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """K, the number of processes (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank in 0..K-1 (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """Rank 0: the process that writes files and prints."""
    return rank() == 0


def rank_device(device: torch.device) -> torch.device:
    """``device`` with the CUDA index made explicit (the current device: ``cuda:LOCAL_RANK`` under torchrun)."""
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


def _collective_device() -> torch.device:
    """Where tensors must be for the backend: the current CUDA device for NCCL, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


# -- collectives ---------------------------------------------------------------------------------


def barrier() -> None:
    """Wait until every rank arrives (a no-op for one process)."""
    if is_distributed():
        dist.barrier()


def broadcast_from_main(value):
    """Rank 0's ``value`` (any picklable object) on every rank; other ranks' ``value`` is ignored."""
    if not is_distributed():
        return value
    box = [value if is_main() else None]
    dist.broadcast_object_list(box, src=0, device=_collective_device())
    return box[0]


def mean_over_ranks(values: torch.Tensor) -> torch.Tensor:
    """The element-wise mean of ``values`` (any shape, float) over ranks; no gradient."""
    if not is_distributed():
        return values
    out = values.detach().to(_collective_device(), copy=True)
    dist.all_reduce(out)
    return (out / world_size()).to(values.device)


def gather_rows(tensor: torch.Tensor) -> torch.Tensor:
    """All ranks' ``tensor`` (R, ...) concatenated in rank order: (K * R, ...); every rank the same shape.

    Differentiable when ``tensor`` requires a gradient: the backward pass sums, over ranks, the
    gradient each rank computed for the concatenation, and returns this rank's rows of the sum
    (as ``torch.distributed.nn.functional.all_gather`` does; here with one all-reduce, which every
    backend has). For a loss that every rank computes identically from the gathered batch, each
    rank's rows thus receive K times their gradient; see :mod:`histlib.training.parallel` for
    why that is the factor DistributedDataParallel's averaging needs.
    """
    if not is_distributed():
        return tensor
    if tensor.requires_grad and torch.is_grad_enabled():
        return _GatherRows.apply(tensor)
    return _all_gather(tensor.detach())


def _all_gather(tensor: torch.Tensor) -> torch.Tensor:
    device = _collective_device()
    local = tensor.contiguous().to(device)
    parts = [torch.empty_like(local) for _ in range(world_size())]
    dist.all_gather(parts, local)
    return torch.cat(parts).to(tensor.device)


class _GatherRows(torch.autograd.Function):
    """all_gather forward; backward: all-reduce (sum) of the gradient, this rank's rows."""

    @staticmethod
    def forward(ctx, tensor):
        ctx.rows = tensor.shape[0]
        return _all_gather(tensor)

    @staticmethod
    def backward(ctx, grad):
        device = _collective_device()
        total = grad.contiguous().to(device, copy=True)
        dist.all_reduce(total)
        start = rank() * ctx.rows
        return total[start:start + ctx.rows].to(grad.device)


# -- failures ------------------------------------------------------------------------------------

_COMMUNICATION_HINTS = ("gloo", "nccl", "connection closed", "connection reset", "connection refused", "timed out",
                        "timeout", "pair closure", "broken pipe", "watchdog", "socket")


def _is_communication_failure(error: BaseException) -> bool:
    if isinstance(error, getattr(dist, "DistError", ())):
        return True
    return isinstance(error, RuntimeError) and any(h in str(error).lower() for h in _COMMUNICATION_HINTS)


@contextlib.contextmanager
def rank_failures(what: str) -> Iterator[None]:
    """Inside a distributed run, turn a failed collective into a :class:`RankFailedError` naming ``what``.

    Other errors pass unchanged (this rank's own failure, reported by this rank).
    """
    try:
        yield
    except Exception as error:
        if not is_distributed() or isinstance(error, RankFailedError) or not _is_communication_failure(error):
            raise
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise RankFailedError(
            f"rank {rank()} of {world_size()} stopped while {what}: another rank of this run failed, was killed "
            f"or did not respond within {_active_timeout_s or _timeout_s(None):g} s ({first_line}). The first error in the other "
            "ranks' output is the cause; once it is fixed, continue with --resume (checkpoints are written "
            "after every epoch)."
        ) from error


def agree(step: Callable[[], T], what: str) -> T:
    """``step()`` on every rank; its result when it succeeded on all of them, else an error on all of them.

    A rank whose ``step`` raised re-raises its error; the others raise a :class:`RankFailedError`
    naming the first failed rank. On ranks other than 0, errors that rank 0 reports too are marked
    (:func:`reported_by_main`) so that a command line prints each start-up error once.
    """
    if not is_distributed():
        return step()
    try:
        result, error = step(), None
    except Exception as raised:  # reported to every rank, then raised again below
        result, error = None, raised
    reports: list = [None] * world_size()
    with rank_failures(what):
        dist.all_gather_object(reports, None if error is None else f"{type(error).__name__}: {error}")
    failed = [(index, report) for index, report in enumerate(reports) if report is not None]
    if not failed:
        return result
    if error is None:
        index, report = failed[0]
        error = RankFailedError(f"rank {index} of {world_size()} failed while {what}: {report}")
    if rank() != 0 and reports[0] is not None:
        error.histlib_reported_by_main = True
    raise error


def reported_by_main(error: BaseException) -> bool:
    """Whether rank 0 reports ``error`` too (see :func:`agree`): other ranks need not print it."""
    return bool(getattr(error, "histlib_reported_by_main", False))


# -- BatchNorm over the global batch ----------------------------------------------------------------


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training-mode statistics are those of the global batch (all ranks).

    Same parameters, buffers and state_dict keys as ``nn.BatchNorm1d/2d/3d``. In training mode
    under a process group, each rank computes its rows' count, mean and sum of squared deviations
    per channel (two-pass; float32 for half-precision inputs), the ranks exchange them (:func:`gather_rows`, differentiable)
    and combine them exactly (Chan et al.), so outputs, gradients and running statistics equal
    those of one BatchNorm over the concatenated batch. Otherwise (eval mode, one process) it is
    the ordinary BatchNorm. ``torch.nn.SyncBatchNorm`` does the same on GPUs only; this one runs
    on any device (gloo on the CPU included), which is what lets the tests check it.
    Input: (B, C, ...) -> output of the same shape and dtype.
    """

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected an input of shape (B, C, ...), got {tuple(input.shape)}")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_distributed()):
            return super().forward(input)
        self._check_input_dim(input)
        with torch.autocast(input.device.type, enabled=False):
            return self._global_forward(input)

    def _global_forward(self, input: torch.Tensor) -> torch.Tensor:
        channels = input.shape[1]
        dims = [0] + list(range(2, input.dim()))
        shape = [1, channels] + [1] * (input.dim() - 2)
        x = input if input.dtype == torch.float64 else input.float()  # half precision: statistics in float32
        count = x.numel() // channels
        local_mean = x.mean(dims)
        local_m2 = (x - local_mean.view(shape)).square().sum(dims)
        row = torch.cat([local_mean, local_m2, local_mean.new_full((1,), float(count))]).unsqueeze(0)
        rows = gather_rows(row)  # (K, 2C + 1)
        counts, means, m2s = rows[:, -1:].detach(), rows[:, :channels], rows[:, channels:2 * channels]
        total = counts.sum()
        mean = (counts * means).sum(0) / total
        m2 = m2s.sum(0) + (counts * (means - mean).square()).sum(0)
        var = m2 / total
        out = (x - mean.view(shape)) * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.to(x.dtype).view(shape) + self.bias.to(x.dtype).view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                unbiased = m2 / (total - 1).clamp_min(1)
                self.running_mean.mul_(1 - factor).add_(mean.detach().to(self.running_mean.dtype), alpha=factor)
                self.running_var.mul_(1 - factor).add_(unbiased.detach().to(self.running_var.dtype), alpha=factor)
        return out.to(input.dtype)


def convert_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm layer inside ``module`` by a :class:`GlobalBatchNorm` sharing its
    parameters and buffers (so optimisers and state_dicts are unaffected); returns ``module``.

    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    >>> keys = list(net.state_dict())
    >>> type(convert_batchnorm(net)[1]).__name__, list(net.state_dict()) == keys
    ('GlobalBatchNorm', True)
    """
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, GlobalBatchNorm):
            replacement = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                          child.track_running_stats)
            for key, value in list(child._parameters.items()):
                replacement._parameters[key] = value
            for key, value in list(child._buffers.items()):
                replacement._buffers[key] = value
            replacement.train(child.training)
            setattr(module, name, replacement)
        else:
            convert_batchnorm(child)
    return module


# -- embedding a split across ranks ------------------------------------------------------------------


def embed_sharded(model: nn.Module, dataset, **embed_options) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`histlib.evaluation.embed` of a whole split, each rank embedding a share of it.

    Rank r embeds the items ``DistributedSampler(shuffle=False)`` gives it (items r, r + K, ...;
    the sampler repeats the first items so that every rank has as many); the ranks gather
    embeddings, labels and item indices, and the padding duplicates are dropped by index. Every
    rank returns ``(embeddings, labels)``, (N, D) float32 and (N,) int64 on the CPU in dataset
    order, as one process's ``embed`` does. ``embed_options`` go to ``embed``.
    """
    from torch.utils.data import DistributedSampler, Subset

    from .evaluation import embed

    if not is_distributed():
        return embed(model, dataset, **embed_options)
    indices = list(DistributedSampler(dataset, num_replicas=world_size(), rank=rank(), shuffle=False))
    embeddings, labels = embed(model, Subset(dataset, indices), **embed_options)
    all_embeddings = _all_gather(embeddings)  # (K * n, D): rank 0's share, then rank 1's, ...
    all_labels = _all_gather(labels)
    all_indices = _all_gather(torch.as_tensor(indices, dtype=torch.long))
    order = torch.arange(all_indices.numel()).reshape(world_size(), -1).t().reshape(-1)  # sampler order
    order = order[: len(dataset)]  # the padding is the tail of the sampler's order
    if not torch.equal(all_indices[order], torch.arange(len(dataset))):
        raise RuntimeError("DistributedSampler(shuffle=False) did not deal items as expected (r, r + K, ...); "
                           "cannot reassemble the split")
    return all_embeddings[order], all_labels[order]

