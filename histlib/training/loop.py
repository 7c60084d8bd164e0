"""The training loop: warm-up, epochs, honest model selection, resume; and load-or-train.

One loop trains HIST and the pytorch-metric-learning baselines (Proxy-Anchor, Multi-Similarity),
so comparisons share every other choice. :func:`fit` reads as its phases: open the run folder,
build the run's objects, restore a checkpoint, then per epoch train, evaluate, select and record,
and finally read the selected model back. Each epoch's shuffling and augmentation are seeded by
(seed, epoch) alone, so ``fit(config, resume=True)`` after an interruption ends with the same
numbers as an uninterrupted run. The files a run writes belong to :mod:`histlib.training.runs`.

Under ``torchrun`` (a process group of K ranks, :mod:`histlib.distributed`) the same phases run on
every rank: each trains on its share of the global batch through one DistributedDataParallel over
the model and the loss (:mod:`histlib.training.parallel`), evaluation embeds the split across the
ranks, and only rank 0 touches the run folder: it takes the lock, reads the checkpoint to resume
from and broadcasts it, and writes every file.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .. import distributed
from ..evaluation import embed, retrieval_metrics
from ..losses import STATISTICS, HISTLoss
from ..runtime import epoch_seed, pick_device, seed_everything
from .config import TrainConfig
from .factory import build_criterion, build_model, build_optimiser, end_epoch
from .parallel import ParallelObjective, check_world_size, rank_seed, seed_rank_augmentation
from .run_data import RunData, build_run_data, labels_of
from .runs import FitResult, RunFolder, RunFolderError, RunInUseError, load_state, read_run
from .stopping import stops

__all__ = ["fit", "load_or_train", "train_one_epoch", "evaluate", "train_loader", "epoch_loader", "SELECTION_NOTES",
           "NonFiniteLossError"]

SELECTION_NOTES = {
    "val": "epoch with the best validation score on held-out training classes (no test feedback)",
    "last": "last epoch (no test feedback)",
    "best_on_test": "epoch with the best TEST score: test-set feedback, as the reference code does; "
                    "not an honest estimate",
}


# -- building blocks -------------------------------------------------------------------------


def train_loader(dataset: Dataset, config: TrainConfig, epoch: int, *, rank: int = 0,
                 world_size: int = 1) -> DataLoader:
    """Shuffled (or m-per-class) batches of epoch ``epoch``; the order depends only on (seed, epoch).

    ``world_size`` K > 1: rank ``rank``'s batches of ``batch_size / K``, its slice of each global
    batch (see :func:`histlib.data.make_sampler`); worker augmentation is seeded per rank.
    """
    from ..data import make_sampler

    seed = epoch_seed(config.seed, epoch)
    sampler = make_sampler(labels_of(dataset), config.batch_size, config.images_per_class, seed=seed,
                           rank=rank, world_size=world_size)
    return DataLoader(
        dataset, batch_size=config.batch_size // world_size, sampler=sampler, drop_last=True,
        num_workers=_workers(dataset, config),
        generator=torch.Generator().manual_seed(seed if world_size == 1 else rank_seed(seed, rank)),
        pin_memory=torch.cuda.is_available(),
    )


def epoch_loader(dataset: Dataset, config: TrainConfig, epoch: int, *, rank: int = 0,
                 world_size: int = 1) -> DataLoader:
    """:func:`train_loader` of epoch ``epoch`` with the global generators seeded as :func:`fit` seeds
    them first: Python's, numpy's, torch's and the m-per-class sampler's by (seed, epoch)
    (:func:`histlib.runtime.seed_everything`), then, with K > 1 processes, the augmentation's per
    rank (:func:`~histlib.training.parallel.seed_rank_augmentation`; the sampler's draws stay the
    same on every rank). Iterating it gives the batches and augmentations the loop trains on in
    that epoch, whoever calls it: the loop, :func:`histlib.analysis.draw_batch`, :func:`fine_tune`.
    """
    seed = epoch_seed(config.seed, epoch)
    seed_everything(seed)
    if world_size > 1:
        seed_rank_augmentation(seed, rank)
    return train_loader(dataset, config, epoch, rank=rank, world_size=world_size)


def _workers(dataset: Dataset, config: TrainConfig) -> int:
    """DataLoader workers: the config's for images; none for cached features (already in memory,
    ``num_workers`` then only speeds up their one-time extraction)."""
    from ..features import FeatureDataset

    return 0 if isinstance(dataset, FeatureDataset) else config.num_workers


class NonFiniteLossError(FloatingPointError):
    """The loss of a step is NaN or infinite; ``step`` is 0-based within the epoch."""

    def __init__(self, value: float, step: int, advice: str = "lower the learning rates"):
        super().__init__(f"non-finite loss {value} at step {step + 1}; {advice}")
        self.value, self.step = value, step


def _loss_settings(config: TrainConfig) -> str:
    """The settings that scale the loss itself (not the optimiser), for an error message."""
    names = {"hist": ("tau", "alpha", "lambda_s"), "proxy_anchor": ("proxy_anchor_alpha", "proxy_anchor_margin"),
             "multi_similarity": ("ms_alpha", "ms_beta", "ms_base")}[config.loss]
    return ", ".join(f"{name}={getattr(config, name):g}" for name in names)


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
    parallel: ParallelObjective | None = None,
) -> dict:
    """One pass over ``loader`` (at most ``max_steps`` batches).

    Returns ``loss`` (mean over images), ``images``, ``images_per_s`` and ``steps``: one dict per
    step with ``loss`` and, for HIST, its two terms ``distribution_loss`` and ``hgnn_loss`` and the
    HGNN's other :data:`~histlib.losses.STATISTICS` (``hgnn_loss_ratio``, ``hgnn_accuracy``, ...).
    ``parallel``: this rank's step of a run on K processes; losses and image counts are then the
    global batch's.
    """
    model.train()
    criterion.train()
    amp = scaler is not None and scaler.is_enabled()
    hist = isinstance(criterion, HISTLoss) and criterion.collect_stats
    total, images, start, steps = 0.0, 0, time.perf_counter(), []
    count = len(loader) if max_steps is None else min(max_steps, len(loader))
    bar = tqdm(total=count, desc=description, disable=not progress, leave=False)
    for step, (batch, labels) in enumerate(loader):
        if step == count:
            break
        batch = batch.to(device, non_blocking=True)  # labels stay on the CPU: the losses move them, and
        # HISTLoss checks them there, without a device sync (the step's one sync is the logging below)
        if amp and batch.ndim == 4:  # images; cached features (frozen trunk) are (B, C)
            batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            loss = criterion(model(batch), labels) if parallel is None else parallel.loss(batch, labels)
        logged = [loss.detach().float()]
        if hist:
            logged += [getattr(criterion, name).float() for name in STATISTICS]
        logged = torch.stack(logged)
        if parallel is not None:
            logged = parallel.mean_over_ranks(logged)  # every rank sees the same values (and a NaN anywhere)
        values = logged.tolist()  # the step's one device sync
        if not math.isfinite(values[0]):
            raise NonFiniteLossError(values[0], step)
        optimizer.zero_grad(set_to_none=True)
        if amp:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        row = {"step": step + 1, "loss": values[0]}
        if hist:
            row.update(zip(STATISTICS, values[1:]))
        steps.append(row)
        batch_images = len(labels) * (1 if parallel is None else parallel.world_size)
        total += values[0] * batch_images
        images += batch_images
        bar.update()
        if step % 20 == 0:
            bar.set_postfix(loss=f"{values[0]:.3f}")
    bar.close()
    seconds = time.perf_counter() - start
    return {"loss": total / max(images, 1), "images": images, "images_per_s": images / max(seconds, 1e-9),
            "steps": steps}


def evaluate(model, dataset, config: TrainConfig, device=None, progress=True, *,
             sharded: bool = False, query_gallery: tuple | None = None) -> dict[str, float]:
    """Retrieval metrics (``config.eval_ks``) of ``model`` on ``dataset``, every item a query, or with
    ``query_gallery`` (bool arrays (N,), (N,): own data's is_query / is_gallery) the queries against the gallery.

    ``sharded``: every rank of a process group calls this; each embeds a share of the split and
    all compute the metrics of the whole split (:func:`histlib.distributed.embed_sharded`).
    """
    run_embed = distributed.embed_sharded if sharded else embed
    embeddings, labels = run_embed(model, dataset, batch_size=config.eval_batch_size, device=pick_device(device),
                                   num_workers=_workers(dataset, config), progress=progress)
    if query_gallery is None:
        return retrieval_metrics(embeddings, labels, ks=config.eval_ks)
    query, gallery = (torch.as_tensor(np.asarray(a, dtype=bool)) for a in query_gallery)
    position = torch.full((len(labels),), -1, dtype=torch.long)
    position[gallery] = torch.arange(int(gallery.sum()))
    return retrieval_metrics(embeddings[query], labels[query], ks=config.eval_ks, reference=embeddings[gallery],
                             reference_labels=labels[gallery], query_in_reference=position[query])


# -- the run's objects ---------------------------------------------------------------------------


@dataclass
class _Session:
    """Everything one training process holds for a run."""

    config: TrainConfig
    data: RunData
    folder: RunFolder
    device: torch.device
    num_classes: int
    model: torch.nn.Module
    criterion: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    history: list[dict] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)
    best_score: float = -math.inf
    start_epoch: int = 0
    world_size: int = 1
    rank: int = 0
    parallel: ParallelObjective | None = None  # several processes: the DDP step
    run_id: str = ""

    @property
    def amp(self) -> bool:
        return self.scaler.is_enabled()

    @property
    def writes(self) -> bool:
        """Whether this process writes the run folder (one process, or rank 0)."""
        return self.rank == 0


def _build(config: TrainConfig, data: RunData, folder: RunFolder) -> _Session:
    """The seeded model and loss (as :func:`histlib.training.initial_state` builds them), the
    optimiser with the recipe's parameter groups, the schedule and the gradient scaler; on
    several processes (every rank seeded alike) also the DDP step."""
    world_size = distributed.world_size()
    device = pick_device(config.device) if world_size == 1 else distributed.rank_device(pick_device(config.device))
    num_classes = data.num_classes
    seed_everything(config.seed)
    try:
        model = build_model(config).to(device)
        criterion = build_criterion(config, num_classes).to(device)
    except (MemoryError, RuntimeError) as error:  # torch's allocator raises RuntimeError (CPU) or OutOfMemoryError
        if not isinstance(error, MemoryError) and "alloc" not in str(error) and "memory" not in str(error):
            raise
        raise ValueError(f"the model and loss do not fit in memory on {device} (embedding_size="
                         f"{config.embedding_size}, hgnn_hidden={config.hgnn_hidden}, {num_classes} classes): "
                         f"{str(error).splitlines()[0]}; choose smaller sizes") from None
    amp = config.amp and device.type == "cuda"
    if amp:
        model = model.to(memory_format=torch.channels_last)
    optimizer, scheduler = build_optimiser(model, criterion, config)
    scaler = torch.amp.GradScaler(device.type, enabled=amp)
    session = _Session(config, data, folder, device, num_classes, model, criterion, optimizer, scheduler, scaler)
    if world_size > 1:
        session.world_size, session.rank = world_size, distributed.rank()
        session.parallel = ParallelObjective(model, criterion, config.hypergraph, device)
    return session


def _restore(session: _Session, checkpoint: dict | None) -> None:
    """Continue from ``checkpoint`` (the state after its last epoch), or record the initial model."""
    if checkpoint is None:
        if session.config.keep_epoch_models and session.writes:
            session.folder.save_epoch_model(session.model.state_dict(), 0)
        return
    path = session.folder.file("checkpoint.pt")
    load_state(session.model, checkpoint.get("model"), path, "model")
    load_state(session.criterion, checkpoint.get("criterion"), path, "loss")
    try:
        session.optimizer.load_state_dict(checkpoint["optimizer"])
        session.scheduler.load_state_dict(checkpoint["scheduler"])
        session.scaler.load_state_dict(checkpoint["scaler"])
        session.history, session.steps = list(checkpoint["history"]), list(checkpoint["steps"])
        session.best_score, session.start_epoch = float(checkpoint["best_score"]), int(checkpoint["epoch"])
    except (KeyError, ValueError, TypeError, RuntimeError) as error:
        raise RunFolderError(f"{path} cannot be resumed ({type(error).__name__}: {error}): the run folder is "
                             "damaged; start the run again with overwrite") from None


# -- one epoch, in phases -------------------------------------------------------------------------


def _train_epoch(session: _Session, epoch: int, progress: bool) -> dict:
    """Train one epoch (the trunk frozen during warm-up); its row of the history."""
    config = session.config
    warm_up = epoch < config.warmup_epochs
    for p in session.model.trunk_parameters():
        p.requires_grad_(not warm_up)
    loader = epoch_loader(session.data.train, config, epoch, rank=session.rank, world_size=session.world_size)
    try:
        stats = train_one_epoch(
            session.model, session.criterion, session.optimizer, loader,
            session.device, session.scaler, config.max_steps_per_epoch, progress,
            description=f"epoch {epoch + 1}/{config.epochs}" + (" (warm-up)" if warm_up else ""),
            parallel=session.parallel,
        )
    except NonFiniteLossError as error:
        if epoch == 0 and error.step == 0:  # before any update: the learning rates cannot be the cause
            advice = (f"it was non-finite before any update, so the loss's own settings overflow "
                      f"({_loss_settings(config)}): lower them")
        else:
            advice = (f"lower the learning rates (lr={config.lr:g}, lr_ds={config.lr_ds:g}, HGNN "
                      f"lr={config.lr * config.hgnn_lr_factor:g}) or the loss's scale ({_loss_settings(config)})")
        raise NonFiniteLossError(error.value, error.step, f"epoch {epoch + 1}: {advice}") from None
    session.steps += [{"epoch": epoch + 1, **step} for step in stats["steps"]]
    row = {"epoch": epoch + 1, "warm_up": warm_up, "lr": session.optimizer.param_groups[0]["lr"],
           "train_loss": stats["loss"], "images_per_s": stats["images_per_s"]}
    for term in STATISTICS:  # HIST: the epoch's mean of each term and statistic, as train_<name>
        if stats["steps"] and term in stats["steps"][0]:
            row[f"train_{term}"] = sum(s[term] for s in stats["steps"]) / len(stats["steps"])
    end_epoch(session.scheduler, config, epoch)
    return row


def _evaluate_epoch(session: _Session, progress: bool) -> dict:
    """Validation (when selecting on it) and test metrics of the current model."""
    row = {}
    for split in ("val", "test") if session.config.test_every_epoch else ("val",):
        dataset = getattr(session.data, split)
        if dataset is not None:
            metrics = evaluate(session.model, dataset, session.config, session.device, progress,
                               sharded=session.world_size > 1,
                               query_gallery=session.data.query_gallery if split == "test" else None)
            row.update({f"{split}_{k}": v for k, v in metrics.items()})
    return row


def _select(session: _Session, row: dict) -> None:
    """Keep the model (and the loss's state) when this epoch scores best under the selection rule."""
    config = session.config
    if config.selection == "last":
        score = row["epoch"]
    else:
        score = row[("val_" if config.selection == "val" else "test_") + config.selection_metric]
    if not math.isfinite(score):
        raise FloatingPointError(
            f"epoch {row['epoch']}: the selection metric {config.selection_metric} is {score} on the "
            f"{'validation' if config.selection == 'val' else 'test'} split, so no epoch can be selected "
            "(an empty split, no class with two images, or non-finite embeddings); check the data "
            "(max_images_per_class >= 2) and the loss settings")
    if score > session.best_score + (config.min_delta if config.selection == "val" else 0.0):
        session.best_score = score
        if session.writes:
            session.folder.save_selected(session.model.state_dict(), session.criterion.state_dict(), row["epoch"],
                                         config.selection)


def _stopped(session: _Session) -> bool:
    """Early stopping: ``patience`` epochs have passed without a better validation score. Read from
    the history alone, so a run resumed after its last epoch stops where an uninterrupted one did."""
    config = session.config
    if config.patience is None:
        return False
    scores = [row["val_" + config.selection_metric] for row in session.history]
    return stops(scores, config.patience, config.min_delta)


def _record(session: _Session, row: dict, writer) -> None:
    """History files, TensorBoard, the epoch's model (if kept) and the resumable checkpoint (rank 0)."""
    if not session.writes:
        return
    folder, epoch = session.folder, row["epoch"]
    folder.write_history(session.history, session.steps)
    if writer is not None:
        for key, value in row.items():
            if isinstance(value, (int, float)) and key != "epoch":
                writer.add_scalar(key, value, epoch)
    if session.config.keep_epoch_models:
        folder.save_epoch_model(session.model.state_dict(), epoch)
    folder.save_checkpoint({
        "model": session.model.state_dict(), "criterion": session.criterion.state_dict(),
        "optimizer": session.optimizer.state_dict(), "scheduler": session.scheduler.state_dict(),
        "scaler": session.scaler.state_dict(), "epoch": epoch, "history": session.history,
        "steps": session.steps, "best_score": session.best_score, "config": session.config.to_dict(),
        "world_size": session.world_size,
    })


def _finish(session: _Session) -> FitResult:
    """Load the selected model back and write ``results.json``; the run is then finished."""
    config, folder = session.config, session.folder
    start = time.perf_counter()
    result = _read_selected(session)
    seconds = sum(row["seconds"] for row in session.history) + time.perf_counter() - start
    if session.writes:
        folder.finish(config, {
            "selection": config.selection, "selection_note": SELECTION_NOTES[config.selection],
            "selected_epoch": result.selected_epoch + 1, "test_metrics": result.test_metrics,
            "num_classes": session.num_classes, "seconds": seconds,
            "world_size": session.world_size, "hypergraph": config.hypergraph,
            "epochs_run": len(session.history), "stopped_early": len(session.history) < config.epochs,
        })
    result.seconds = seconds
    result.run_id = session.run_id or folder.run_id
    return result


def _read_selected(session: _Session) -> FitResult:
    path = session.folder.file("selected.pt")

    def read(map_location):  # the folder's checks: a histlib file of this run, never a traceback
        if not path.is_file():
            raise RunFolderError(f"{path} is missing: no epoch was selected, or the file was removed; start the "
                                 "run again with overwrite")
        return session.folder.read_selected(map_location=map_location)

    if session.world_size == 1:
        selected = read(session.device)
    else:  # rank 0 reads the file, every rank loads its state
        selected = distributed.broadcast_from_main(read("cpu") if session.writes else None)
    load_state(session.model, selected.get("model"), path, "model")
    load_state(session.criterion, selected.get("criterion"), path, "loss")
    epoch = selected["epoch"] - 1
    test_metrics = {k[len("test_"):]: v for k, v in session.history[epoch].items() if k.startswith("test_")}
    if not test_metrics:  # test_every_epoch=False: the selected model meets the test split once
        test_metrics = evaluate(session.model, session.data.test, session.config, session.device, progress=False,
                                sharded=session.world_size > 1, query_gallery=session.data.query_gallery)
    return FitResult(session.history, session.config.selection, epoch, test_metrics, session.folder.path,
                     session.model.eval(), session.criterion.eval(), session.steps, session.config)


# -- the loop ------------------------------------------------------------------------------------


def fit(
    config: TrainConfig,
    data: RunData | None = None,
    resume: bool = False,
    progress: bool = True,
    on_epoch_end: Callable[[dict], None] | None = None,
    *,
    overwrite: bool = False,
) -> FitResult:
    """Train ``config`` (on ``data``, or on the datasets it names) and select a model honestly.

    Args:
        config: a :class:`TrainConfig` (see ``histlib.training.get_config``).
        data: the datasets; default :func:`histlib.training.build_run_data` (config.dataset).
        resume: continue the interrupted run of this config in ``config.output_dir``.
        progress: tqdm progress bars.
        on_epoch_end: called with each epoch's metrics row (after its checkpoint is written).
        overwrite: replace another run's files in ``config.output_dir``; without it (and without
            resume) a folder holding a run is refused.
    Returns:
        A :class:`FitResult`; ``output_dir`` holds the run's files (:mod:`histlib.training.runs`).
    Raises:
        RunExistsError, RunInUseError, RunFolderError (the run folder), ValueError (the data).
        Under a process group (torchrun): every rank calls ``fit`` with the same arguments and
        returns the same result; a start-up error on any rank is raised on every rank, and a rank
        that fails or hangs later makes the others raise :class:`histlib.distributed.RankFailedError`.
    """
    progress = progress and distributed.is_main()
    with contextlib.ExitStack() as stack:
        session = _open(stack, config, data, resume, overwrite)
        writer = _tensorboard(session.folder) if session.writes else None
        try:
            for epoch in range(session.start_epoch, config.epochs):
                if _stopped(session):
                    break
                start = time.perf_counter()
                with distributed.rank_failures(f"in epoch {epoch + 1}"):
                    row = _train_epoch(session, epoch, progress)
                    row.update(_evaluate_epoch(session, progress))
                row["seconds"] = time.perf_counter() - start
                session.history.append(row)
                _select(session, row)
                _record(session, row, writer)
                if on_epoch_end is not None:
                    on_epoch_end(row)
        finally:
            if writer is not None:
                writer.close()
        with distributed.rank_failures("finishing the run"):
            return _finish(session)


def _open(stack: contextlib.ExitStack, config: TrainConfig, data: RunData | None, resume: bool,
          overwrite: bool) -> _Session:
    """The data (checked), the run folder (locked, started: the checkpoint to resume from), the
    run's objects (built and restored). Rank 0 alone takes the folder and broadcasts the checkpoint;
    in one process the collectives are plain calls. A new run that could not be built (on any rank)
    leaves no folder to resume or replace."""
    folder = RunFolder(config.output_dir)
    opened = None  # (checkpoint, run id) on the rank that started the folder

    def start():
        nonlocal opened
        check_world_size(config, distributed.world_size())
        run_data = build_run_data(config) if data is None else data
        run_data.check(config)
        if distributed.is_main():
            _check_exists(folder, resume)
            stack.enter_context(folder.lock())
            checkpoint = folder.start(config, resume=resume, overwrite=overwrite)
            opened = (checkpoint, folder.run_id)
            if run_data.split_record is not None:  # own data: which classes trained and which were tested
                from .runs import _write_json
                _write_json(folder.file("data_split.json"), run_data.split_record)
            _check_resumable(checkpoint, config, distributed.world_size())
        return _build(config, run_data, folder)

    try:
        session = distributed.agree(start, "starting the run")
    except BaseException:
        if opened is not None and opened[0] is None:  # this rank started a new run: nothing to keep
            folder.clear()
        raise
    with distributed.rank_failures("starting the run"):
        checkpoint, session.run_id = distributed.broadcast_from_main(opened)
    _restore(session, checkpoint)
    return session


def _check_exists(folder: RunFolder, resume: bool) -> None:
    """Resuming needs the folder of an interrupted run: never create an empty one to find nothing in it."""
    if resume and not folder.path.is_dir():
        raise RunFolderError(f"cannot resume: {folder.path} does not exist (no run to continue); start without "
                             "resume, or give the output_dir of the interrupted run")


def _check_resumable(checkpoint: dict | None, config: TrainConfig, world_size: int) -> None:
    """Refuse to continue a per-GPU-hypergraph run on another number of processes (another method)."""
    if checkpoint is None:
        return
    saved = checkpoint.get("world_size", 1)
    if saved != world_size and config.hypergraph == "per_gpu":
        raise RunFolderError(
            f"cannot resume {config.output_dir} on {world_size} process(es): it trained on {saved} with "
            f"hypergraph='per_gpu' (the loss over batches of {config.batch_size // saved}), and {world_size} "
            f"would change that; resume with {saved} process(es) (hypergraph='global' runs may change it)")


def load_or_train(config: TrainConfig, data: RunData | None = None, progress: bool = False, *,
                  replace: bool = False, on_epoch_end: Callable[[dict], None] | None = None) -> FitResult:
    """The finished run of ``config`` in ``config.output_dir``; else resume its interrupted run;
    else train it.

    A folder that holds another config's run, or a mixed or damaged one (files that cannot be read,
    or lack what a run records), raises a :class:`~histlib.training.runs.RunFolderError` unless
    ``replace`` (then it is trained anew).
    ``on_epoch_end`` is :func:`fit`'s, called for the epochs trained now (none for a finished run).
    """
    folder = RunFolder(config.output_dir)
    status = folder.status()
    same = folder.holds_run_of(config)
    if status == "finished" and same:
        try:
            return read_run(config)
        except RunFolderError:
            if not replace:
                raise
            return fit(config, data, progress=progress, overwrite=True, on_epoch_end=on_epoch_end)
    if status in ("interrupted", "running") and same and folder.file("checkpoint.pt").is_file():
        try:  # a live holder raises RunInUseError
            return fit(config, data, resume=True, progress=progress, on_epoch_end=on_epoch_end)
        except RunInUseError:
            raise
        except RunFolderError:  # a damaged checkpoint
            if not replace:
                raise
            return fit(config, data, progress=progress, overwrite=True, on_epoch_end=on_epoch_end)
    if status == "empty" or (status == "interrupted" and same):
        return fit(config, data, progress=progress, overwrite=status != "empty", on_epoch_end=on_epoch_end)
    if not replace:
        raise RunFolderError(f"{folder.describe(config)}; pass replace=True to train this config there instead, "
                             "or choose another output_dir")
    return fit(config, data, progress=progress, overwrite=True, on_epoch_end=on_epoch_end)


def _tensorboard(folder: RunFolder):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(folder.file("tensorboard")))
