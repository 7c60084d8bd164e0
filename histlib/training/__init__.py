"""Training: configurations (recipes as data), what they build, the loop, and runs on disk.

- :mod:`~histlib.training.config`: ``TrainConfig`` (validated when built), ``RECIPES``, ``get_config``.
- :mod:`~histlib.training.factory`: the model, the loss, the optimiser (groups, schedule) a config builds.
- :mod:`~histlib.training.run_data`: ``RunData``, the datasets of a run, and ``build_run_data``.
- :mod:`~histlib.training.loop`: ``fit`` (phases as functions), ``load_or_train``, ``evaluate``, and
  ``epoch_loader``, an epoch's batches seeded as the loop seeds them.
- :mod:`~histlib.training.finetune`: ``fine_tune``, a trained run continued for a few steps.
- :mod:`~histlib.training.runs`: the one owner of a run folder (manifest, lock, files, ``FitResult``).
- :mod:`~histlib.training.parallel`: several processes (torchrun): one DDP over model and loss, the
  per-GPU or global hypergraph (the process group itself: :mod:`histlib.distributed`).
- :mod:`~histlib.training.cli`: ``python -m histlib.train``.
"""

from .config import LOSSES, RECIPES, SELECTIONS, TrainConfig, get_config, parse_overrides
from .factory import build_criterion, build_model, build_optimiser, end_epoch, initial_state, parameter_groups
from .finetune import fine_tune
from .loop import SELECTION_NOTES, epoch_loader, evaluate, fit, load_or_train, train_loader, train_one_epoch
from .run_data import RunData, build_run_data, labels_of
from .runs import (
    FitResult, RunExistsError, RunFolder, RunFolderError, RunInUseError, config_differences,
    config_fingerprint, read_run,
)

__all__ = [
    "LOSSES", "RECIPES", "SELECTIONS", "TrainConfig", "get_config", "parse_overrides",
    "build_criterion", "build_model", "build_optimiser", "end_epoch", "initial_state", "parameter_groups",
    "SELECTION_NOTES", "epoch_loader", "evaluate", "fine_tune", "fit", "load_or_train", "train_loader",
    "train_one_epoch",
    "RunData", "build_run_data", "labels_of",
    "FitResult", "RunExistsError", "RunFolder", "RunFolderError", "RunInUseError", "config_differences",
    "config_fingerprint", "read_run",
]
