"""What the notebooks share: the small/full profiles, project paths, load-or-train, checks.

A notebook's ``parameters`` cell sets ``profile`` ("small": CPU, offline stand-in data, minutes;
"full": GPU, the real benchmark) and ``overrides`` (``"KEY=VALUE ..."``, as ``--set`` of the
command line). :func:`notebook_config` turns (benchmark, profile, overrides) into a
:class:`~histlib.training.TrainConfig`; :func:`load_or_train` reads a finished run instead of
retraining it, so figures regenerate cheaply and a notebook opened after ``scripts/main.sh``
finds what it trained.

The project's folders (``ROOT``, ``DATA``, ``RUNS``, ``RESULTS``, ``FIGURES``) are
:mod:`histlib.paths`, re-exported here for the notebooks.
"""

from __future__ import annotations

import json
import logging
import math
import os
import warnings

from ..data.own import data_settings
from ..evaluation import column_name, metric_name
from ..losses import STATISTICS
from ..paths import DATA, FIGURES, RESULTS, ROOT, RUNS
from ..training import FitResult, RunFolder, TrainConfig, config_differences, get_config, parse_overrides
from ..training import loop as _loop
from ..training.config import STAND_INS
from ..training import load_or_train as _load_or_train
from .checks import fail

__all__ = [
    "ROOT", "DATA", "RUNS", "RESULTS", "FIGURES", "PUBLISHED", "PUBLISHED_NOTES", "STAND_INS",
    "notebook_config", "load_or_train", "check_trained", "quiet", "recipe_differences", "untrained_metrics",
    "epoch_table",
]


#: Published Recall@K (%) of HIST, ResNet-50, D = 512, mean +/- std (docs/hist.md, section "Published numbers").
PUBLISHED = {
    "cub": {"recall@1": (71.4, 0.2), "recall@2": (81.1, 0.3), "recall@4": (88.1, 0.2)},
    "cars": {"recall@1": (89.6, 0.2), "recall@2": (93.9, 0.1), "recall@4": (96.4, 0.1)},
    "sop": {"recall@1": (81.4, 0.2), "recall@10": (92.0, 0.2), "recall@100": (96.7, 0.1)},
}
#: Proxy-Anchor's own re-run (R@1 %) and independent HIST reproductions (docs/hist.md, section "Published numbers").
PUBLISHED_NOTES = {
    "cub": "Proxy-Anchor (its own re-run): R@1 69.9; independent reproductions of HIST: about 70.0",
    "cars": "Proxy-Anchor (its own re-run): R@1 87.7; independent reproductions reach the paper",
    "sop": "independent reproductions of HIST: about 80.7",
}

def notebook_config(benchmark: str, profile: str, overrides: str | dict = "", data: str = "", **values) -> TrainConfig:
    """The run a training notebook performs.

    ``full``: the benchmark's published recipe on ``DATA``. ``small``: the CPU recipe of the
    benchmark's offline stand-in (``histlib.training.config.STAND_INS``), which has the benchmark's
    loss settings (tau, alpha) and Recall@K columns, keeping every epoch's model for notebook 6.
    ``data`` (``"folder:PATH"`` or ``"csv:PATH"``, :mod:`histlib.data.own`; a relative PATH is taken from
    the project folder, ``ROOT``): that recipe on your own images instead, its run in
    ``RUNS/<profile>/<kind>-<name>``. ``overrides`` (a ``"KEY=VALUE ..."``
    string, as the command line's ``--set``, or a dict) and ``values`` change any field, e.g. to
    shrink the full recipe for a smoke test.

    >>> config = notebook_config("cub", "small", data="folder:/photos/birds")
    >>> config.dataset, config.data_root, config.max_images_per_class, os.path.basename(config.output_dir)
    ('folder', '/photos/birds', None, 'folder-birds')
    """
    if profile not in ("small", "full"):
        raise ValueError(f"profile must be 'small' or 'full', got {profile!r}")
    if benchmark not in STAND_INS:
        raise ValueError(f"benchmark must be one of {sorted(STAND_INS)}, got {benchmark!r}")
    if isinstance(overrides, str):
        overrides = parse_overrides(overrides.split())
    settings = {"data_root": str(DATA), "output_dir": str(RUNS / profile / benchmark)}
    if data:
        settings.update(data_settings(data, RUNS / profile, base=ROOT))  # a relative path: from the project folder
    if profile == "small":  # per-epoch models for notebook 6's maps
        settings["keep_epoch_models"] = True
    settings.update(overrides)
    settings.update(values)
    return get_config(STAND_INS[benchmark] if profile == "small" else benchmark, **settings)


def load_or_train(config: TrainConfig, progress: bool = False) -> FitResult:
    """The finished run of ``config`` if its folder holds one, its interrupted run resumed, or a
    new run. The notebooks' run folders are a cache: a folder holding another config's run (an
    older version of the recipe), or a HIST run from before its training statistics were logged
    (:data:`histlib.losses.STATISTICS`), is trained anew."""
    folder = RunFolder(config.output_dir)
    if config.loss == "hist" and folder.status() == "finished" and folder.holds_run_of(config) \
            and not _has_statistics(folder):
        return _loop.fit(config, progress=progress, overwrite=True)
    return _load_or_train(config, progress=progress, replace=True)


def _has_statistics(folder: RunFolder) -> bool:
    """Whether a finished run's history logs every HIST statistic (runs of older versions do not)."""
    try:
        history = json.loads(folder.file("history.json").read_text())["epochs"]
        return all(f"train_{name}" in row for row in history for name in STATISTICS)
    except (OSError, ValueError, KeyError, TypeError):
        return True  # unreadable: load_or_train reports or replaces the damaged run


def check_trained(metrics: dict, bands: dict, untrained: dict | None = None, gains: dict | None = None) -> str:
    """Assert that trained metrics are where a correct run puts them; a one-line verdict if so.

    Training is deterministic on one machine but not bit-identical across CPUs, so notebooks
    check trained numbers within bands instead of comparing them as text.

    Args:
        metrics: the run's metrics (fractions), e.g. ``result.test_metrics``.
        bands: ``{metric: (low, high)}``, the range (fractions) a correct run reaches.
        untrained: the untrained network's metrics, for ``gains``.
        gains: ``{metric: factor}``: the metric must be at least ``factor`` times the untrained one.
    Returns:
        A deterministic sentence naming the bands (safe to print under nbval).
    Raises:
        :class:`~histlib.workbook.checks.CheckFailed` (an AssertionError) naming the metric, its value and the
        band; under ``scripts/main.sh`` the failure is recorded and returned as a line instead
        (:func:`histlib.workbook.checks.fail`).

    >>> check_trained({"map@r": 0.4}, {"map@r": (0.3, 0.5)}, {"map@r": 0.05}, {"map@r": 3})
    'OK: MAP@R in [30.0, 50.0]; MAP@R >= 3x the untrained network'
    """
    parts, gained = [], []
    for metric, (low, high) in bands.items():
        value = metrics[metric]
        if not (math.isfinite(value) and low <= value <= high):
            return fail(f"{metric_name(metric)} = {100 * value:.1f}, outside the band [{100 * low:.1f}, "
                        f"{100 * high:.1f}] a correct run reaches: the loss, the data or the recipe has changed")
        parts.append(f"{metric_name(metric)} in [{100 * low:.1f}, {100 * high:.1f}]")
    for metric, factor in (gains or {}).items():
        if untrained is None:
            raise ValueError("gains need the untrained network's metrics")
        if not metrics[metric] >= factor * untrained[metric]:
            return fail(f"{metric_name(metric)} = {100 * metrics[metric]:.1f} is less than {factor:g}x the "
                        f"untrained network's {100 * untrained[metric]:.1f}: training did not learn")
        gained.append(f"{metric_name(metric)} >= {factor:g}x the untrained network")
    return "OK: " + ", ".join(parts) + ("; " + ", ".join(gained) if gained else "")


def recipe_differences(reference: TrainConfig, config: TrainConfig,
                       names: tuple[str, str] = ("published recipe", "this run")) -> str:
    """Every field in which ``config`` differs from ``reference`` (all but where the run and its data
    live: :func:`histlib.training.config_differences`), one line each with both values.

    >>> from histlib.training import get_config
    >>> print(recipe_differences(get_config("cub"), get_config("cub", epochs=5, lr=1e-3)))
    field   published recipe  this run
    epochs  40                5
    lr      0.00012           0.001
    >>> recipe_differences(get_config("cub"), get_config("cub", output_dir="elsewhere"))
    'none: this run is the published recipe'
    """
    fields = config_differences(reference, config)
    if not fields:
        return f"none: {names[1]} is the {names[0]}"
    rows = [("field", *names)] + [(name, str(getattr(reference, name)), str(getattr(config, name))) for name in fields]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}".rstrip() for row in rows)


def untrained_metrics(config: TrainConfig, data) -> dict[str, float]:
    """The metrics of the network a run of ``config`` starts from (its seeded initialisation,
    :func:`histlib.training.initial_state`) on the validation split (when ``data`` has one) and the
    test split, keyed as the rows of a run's history: ``"val_map@r"``, ``"test_recall@1"``, ...
    The epoch-0 point of :func:`histlib.plots.training_curves` and of :func:`epoch_table`."""
    from ..training import evaluate, initial_state

    model = initial_state(config, data.num_classes)[0]
    metrics = {}
    for split in ("val", "test"):
        if getattr(data, split, None) is not None:
            values = evaluate(model, getattr(data, split), config, progress=False)
            metrics.update({f"{split}_{name}": value for name, value in values.items()})
    return metrics


#: Column titles of :func:`epoch_table` for a history's training columns.
_EPOCH_COLUMNS = {"lr": "lr", "train_loss": "loss", "train_distribution_loss": "L_D", "train_hgnn_loss": "L_CE",
                  "train_hgnn_loss_ratio": "L_CE/log C", "train_hgnn_accuracy": "HGNN acc.",
                  "train_other_membership": "other memb."}


def epoch_table(history: list[dict], columns: list[str], selected_epoch: int | None = None,
                initial: dict | None = None) -> str:
    """One line per epoch of a run's ``history``: its ``columns`` (``"lr"``, ``"train_*"`` statistics,
    ``"val_*"`` / ``"test_*"`` metrics, the metrics in percent), the selected epoch (1-based) marked,
    and, with ``initial`` (:func:`untrained_metrics`), the untrained network as epoch 0.

    >>> history = [{"epoch": 1, "lr": 0.002, "val_map@r": 0.2}, {"epoch": 2, "lr": 0.001, "val_map@r": 0.25}]
    >>> print(epoch_table(history, ["lr", "val_map@r"], selected_epoch=2, initial={"val_map@r": 0.04}))
    epoch  lr     val MAP@R
        0               4.0  (untrained)
        1  0.002       20.0
        2  0.001       25.0  <- selected
    """
    def cell(row, column):
        if column not in row:
            return ""
        value = row[column]
        if column.startswith(("val_", "test_")):
            return f"{100 * value:.1f}"
        return f"{value:g}" if column == "lr" else f"{value:.3f}"

    rows = ([(0, {**(initial or {})}, "(untrained)")] if initial else []) + [
        (row["epoch"], row, "<- selected" if row["epoch"] == selected_epoch else "") for row in history]
    titles = [_EPOCH_COLUMNS.get(column) or column_name(column) for column in columns]
    texts = [[cell(row, column) for column in columns] for _, row, _ in rows]
    widths = [max([len(t)] + [len(text[i]) for text in texts]) for i, t in enumerate(titles)]
    lines = ["epoch  " + "  ".join(t.ljust(w) for t, w in zip(titles, widths)).rstrip()]
    for (epoch, _, note), text in zip(rows, texts):
        values = "  ".join((value.rjust(w) if column.startswith(("val_", "test_")) else value.ljust(w))
                           for value, w, column in zip(text, widths, columns))
        lines.append(f"{epoch:>5}  {values}  {note}".rstrip())
    return "\n".join(lines)


def quiet() -> None:
    """Silence library warnings and log lines that would clutter notebook output (nbval fails on
    any stderr output)."""
    warnings.filterwarnings("ignore")
    logging.getLogger("umap").setLevel(logging.ERROR)
    os.environ.setdefault("TQDM_DISABLE", "1")
