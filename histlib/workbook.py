"""What the notebooks share: the small/full profiles, project paths, load-or-train.

A notebook's ``parameters`` cell sets ``profile`` ("small": CPU, offline glyphs, minutes;
"full": GPU, the real benchmark). :func:`notebook_config` turns (benchmark, profile) into a
:class:`~histlib.training.TrainConfig`; :func:`load_or_train` evaluates an existing run
instead of retraining it, so figures regenerate cheaply.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import warnings
from pathlib import Path

import torch

from .models import EmbeddingNet
from .training import FitResult, TrainConfig, fit, get_config

__all__ = ["ROOT", "DATA", "RUNS", "FIGURES", "notebook_config", "load_or_train", "quiet", "PUBLISHED"]

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HISTLIB_DATA", ROOT / "data"))
RUNS = Path(os.environ.get("HISTLIB_RUNS", ROOT / "runs"))
FIGURES = ROOT / "figures"

#: Specification section 6: published Recall@K (%) of HIST, ResNet-50, D = 512, mean +/- std.
PUBLISHED = {
    "cub": {"recall@1": (71.4, 0.2), "recall@2": (81.1, 0.3), "recall@4": (88.1, 0.2)},
    "cars": {"recall@1": (89.6, 0.2), "recall@2": (93.9, 0.1), "recall@4": (96.4, 0.1)},
    "sop": {"recall@1": (81.4, 0.2), "recall@10": (92.0, 0.2), "recall@100": (96.7, 0.1)},
}
#: Specification section 6: Proxy-Anchor's own re-run (R@1 %) and independent HIST reproductions.
PUBLISHED_NOTES = {
    "cub": "Proxy-Anchor (its own re-run): R@1 69.9; independent reproductions of HIST: about 70.0",
    "cars": "Proxy-Anchor (its own re-run): R@1 87.7; independent reproductions reach the paper",
    "sop": "independent reproductions of HIST: about 80.7",
}


def notebook_config(benchmark: str, profile: str, **overrides) -> TrainConfig:
    """The run a training notebook performs.

    ``full``: the benchmark's published recipe on ``DATA``. ``small``: the glyphs recipe on CPU
    with the benchmark's loss settings (tau, alpha) and Recall@K columns,
    two short epochs, so that the notebook runs in about a minute.
    """
    if profile not in ("small", "full"):
        raise ValueError(f"profile must be 'small' or 'full', got {profile!r}")
    recipe = get_config(benchmark)
    if profile == "full":
        values = {"data_root": str(DATA), "output_dir": str(RUNS / "full" / benchmark)}
    else:
        values = {
            "data_root": str(DATA), "output_dir": str(RUNS / "small" / benchmark),
            "tau": recipe.tau, "alpha": recipe.alpha, "eval_ks": recipe.eval_ks,
            "epochs": 2, "max_steps_per_epoch": 80,
        }
    values.update(overrides)
    return get_config("glyphs" if profile == "small" else benchmark, **values)


def load_or_train(config: TrainConfig, progress: bool = False) -> FitResult:
    """The finished run of ``config`` if ``config.output_dir`` holds one, else a new run."""
    out = Path(config.output_dir)
    results = out / "results.json"
    if results.is_file() and (out / "selected.pt").is_file():
        saved = json.loads(results.read_text())
        if saved["config"] == json.loads(json.dumps(config.to_dict())):
            return _load_run(config, saved, out)
    return fit(config, progress=progress)


def _load_run(config: TrainConfig, saved: dict, out: Path) -> FitResult:
    with open(out / "metrics.csv") as f:
        history = [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]
    model = EmbeddingNet.from_backbone(config.backbone, False, embedding_size=config.embedding_size,
                                       freeze_trunk_batchnorm=config.freeze_bn)
    model.load_state_dict(torch.load(out / "selected.pt", map_location="cpu", weights_only=True)["model"])
    return FitResult(history, saved["selection"], saved["selected_epoch"] - 1, saved["test_metrics"], out, model.eval())


def _number(text: str):
    if text in ("True", "False"):
        return text == "True"
    try:
        return int(text)
    except ValueError:
        return float(text)


def quiet() -> None:
    """Silence library warnings and log lines that would clutter notebook output (nbval fails on
    any stderr output)."""
    warnings.filterwarnings("ignore")
    logging.getLogger("umap").setLevel(logging.ERROR)
    os.environ.setdefault("TQDM_DISABLE", "1")
