"""Fine-tuning: a trained run continued for a few steps, e.g. with other loss settings.

:func:`fine_tune` is the training behind the workbook's quick trainer
(:class:`histlib.widgets.QuickTrainer`): it continues a run where it stopped, on the batches the
loop would have drawn next and at the learning rates its schedule had reached, so that two
fine-tunings of the same state differ only by what the caller changed (tau, alpha, lambda_s).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch.utils.data import Dataset

from .config import TrainConfig
from .factory import build_optimiser, end_epoch
from .loop import epoch_loader, train_one_epoch

__all__ = ["fine_tune"]


def fine_tune(model: torch.nn.Module, criterion: torch.nn.Module, dataset: Dataset, config: TrainConfig,
              epochs_done: int, steps: int, *, device: torch.device | str | None = None,
              on_step: Callable[[int], None] | None = None) -> list[dict]:
    """Train ``model`` and ``criterion`` in place for ``steps`` more optimiser steps, continuing the
    run of ``config`` after its first ``epochs_done`` epochs.

    - batches: those of epochs ``epochs_done``, ``epochs_done + 1``, ... of the run, drawn and
      augmented exactly as :func:`~histlib.training.fit` draws them (:func:`epoch_loader`, seeded
      by (seed, epoch)): two calls on equal states see the same batches;
    - optimiser: a fresh one as the loop builds it (:func:`~histlib.training.factory.build_optimiser`:
      Adam over the recipe's parameter groups, a StepLR stepped by
      :func:`~histlib.training.factory.end_epoch`); its learning rates follow the loop's schedule: they start
      where the schedule stood after ``epochs_done`` epochs and decay at the end of every epoch
      the fine-tuning completes, as the loop's would;
    - the trunk trains or stays frozen as the model's ``requires_grad`` flags are (the warm-up's
      freezing is not applied); full precision (no AMP); no evaluation, nothing written.

    Args:
        model: an embedding network (:class:`~histlib.models.EmbeddingNet`): batches (B, 3, H, W)
            of images, or (B, C) of cached features, to embeddings (B, D).
        criterion: its loss (e.g. a :class:`~histlib.HISTLoss` whose tau, alpha and lambda_s the
            caller set), on the model's device; labels (B,) int64.
        dataset: the run's training split (``RunData.train``), items ``(image, label)``.
        config: the run's :class:`TrainConfig` (seed, batch size and sampler, learning rates,
            schedule, weight decay).
        epochs_done: epochs the state was trained for (``FitResult.selected_epoch + 1``).
        steps: optimiser steps (batches of ``config.batch_size``), over as many epochs as they need.
        device: where the batches go (default: the device of the model's parameters).
        on_step: called with the steps done so far (1 to ``steps``) after each step.

    Returns:
        One dict per step, as :func:`train_one_epoch` records them (``loss`` and, for HIST, its
        terms and statistics) with ``epoch``, the run's 1-based epoch the batch belongs to.

    Raises:
        ValueError: the sampler cannot draw a batch of ``config`` from ``dataset`` (the message says why).
        NonFiniteLossError (a FloatingPointError): a step's loss is NaN or infinite.
    """
    device = next(model.parameters()).device if device is None else torch.device(device)
    optimizer, scheduler = build_optimiser(model, criterion, config)
    with warnings.catch_warnings():  # replaying the schedule of epochs trained before: no optimiser step between
        warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
        for epoch in range(epochs_done):
            end_epoch(scheduler, config, epoch)
    rows: list[dict] = []
    epoch = epochs_done
    while len(rows) < steps:
        loader = _Counted(epoch_loader(dataset, config, epoch), on_step, len(rows))
        stats = train_one_epoch(model, criterion, optimizer, loader, device, max_steps=steps - len(rows),
                                progress=False)
        rows += [{"epoch": epoch + 1, **step} for step in stats["steps"]]
        end_epoch(scheduler, config, epoch)  # after the last, partial epoch it changes nothing that trains
        epoch += 1
    return rows


class _Counted:
    """A loader that calls ``on_step(offset + i)`` after its i-th batch has been used (i from 1)."""

    def __init__(self, loader, on_step: Callable[[int], None] | None, offset: int):
        self.loader, self.on_step, self.offset = loader, on_step, offset

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for i, batch in enumerate(self.loader):
            yield batch
            if self.on_step is not None:
                self.on_step(self.offset + i + 1)
