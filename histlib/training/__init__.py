"""Training: configurations (recipes as data) and the loop (fit, resume, honest selection)."""

from .config import RECIPES, TrainConfig, get_config, parse_overrides
from .loop import FitResult, TrainData, build_loss, evaluate, fit, parameter_groups, train_one_epoch

__all__ = [
    "RECIPES", "TrainConfig", "get_config", "parse_overrides",
    "FitResult", "TrainData", "build_loss", "evaluate", "fit", "parameter_groups", "train_one_epoch",
]
