"""Figures of a run: per-step losses and per-epoch metrics, from the untrained network on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from ..evaluation import metric_name



def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if len(values) < 2 or window < 2:
        return values
    window = min(window, len(values))
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window - 1, values[0]), values])
    return np.convolve(padded, kernel, mode="valid")


def training_curves(history: Sequence[Mapping[str, float]], steps: Sequence[Mapping[str, float]] = (),
                    metrics: Sequence[str] = ("recall@1", "map@r"), title: str = "", smooth: int = 15, *,
                    chance_loss: float | None = None, initial: Mapping[str, float] | None = None,
                    selected_epoch: int | None = None,
                    bands: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
                    band_label: str = "committed seeds' range") -> plt.Figure:
    """The losses per step (moving average over ``smooth`` steps) and the metrics per epoch.

    Args:
        history: ``FitResult.history`` (one row per epoch). steps: ``FitResult.steps`` (one row per
            step; HIST's rows carry ``distribution_loss`` and ``hgnn_loss``).
        metrics: per-epoch metrics to plot (validation dashed, test solid), in percent.
        chance_loss: drawn as a dashed horizontal line on the loss panel, labelled as the chance value
            of ``L_CE`` (``log C`` for C training classes: the loss of a uniform prediction).
        initial: the untrained network's metrics, keyed as the history's rows (``"val_map@r"``,
            ``"test_recall@1"``, ...): drawn at epoch 0 and joined to epoch 1.
        selected_epoch: the selected epoch (1-based), marked by a vertical line on the metric panels.
        bands: ``{key: (low, high)}`` per epoch from epoch 0, keyed as the history's rows (e.g. the
            committed seeds' range, :meth:`histlib.workbook.checks.SeedRuns.curve_band`): shaded behind
            the line of the same split, labelled ``band_label``.
    """
    fig, axes = plt.subplots(1, 1 + len(metrics), figsize=(4.6 * (1 + len(metrics)), 3.5), constrained_layout=True)
    ax = axes[0]
    if steps:
        per_epoch = {}
        for row in steps:
            per_epoch[row["epoch"]] = max(per_epoch.get(row["epoch"], 0), row["step"])
        x = np.array([row["epoch"] - 1 + row["step"] / per_epoch[row["epoch"]] for row in steps])
        terms = [("loss", "total L", "black")]
        if "distribution_loss" in steps[0]:
            terms += [("distribution_loss", "L_D", "tab:blue"), ("hgnn_loss", "L_CE", "tab:orange")]
        for key, name, colour in terms:
            raw = np.array([row[key] for row in steps])
            ax.plot(x, raw, color=colour, alpha=0.15, lw=0.8)
            ax.plot(x, _smooth(raw, smooth), color=colour, lw=1.6, label=name)
    else:
        ax.plot([row["epoch"] for row in history], [row["train_loss"] for row in history], marker="o",
                label="training loss")
    if chance_loss is not None:
        ax.axhline(chance_loss, color="tab:red", ls="--", lw=1.0, zorder=3,  # dashed over L_CE, which may lie on it
                   label="log C: chance value of L_CE")
    ax.legend(fontsize=8)
    ax.set(title="training loss per step", xlabel="epoch", ylabel="loss")
    epochs = [row["epoch"] for row in history]
    initial = initial or {}
    for ax, metric in zip(axes[1:], metrics):
        for split, style, colour in (("val", "--", "tab:blue"), ("test", "-", "tab:orange")):
            key = f"{split}_{metric}"
            names = {"val": "validation classes", "test": "unseen test classes"}
            if bands and key in bands:
                low, high = (100 * np.asarray(v, dtype=float) for v in bands[key])
                ax.fill_between(np.arange(len(low)), low, high, color=colour, alpha=0.18, lw=0,
                                label=f"{names[split]}: {band_label}")
            if any(key in row for row in history) or key in initial:
                points = ([(0, initial[key])] if key in initial else []) + \
                    [(row["epoch"], row[key]) for row in history if key in row]
                ax.plot([e for e, _ in points], [100 * v for _, v in points], style, marker="o", color=colour,
                        label=names[split] + (": this run" if bands else ""))
        if selected_epoch is not None:
            ax.axvline(selected_epoch, color="grey", ls=":", lw=1.2, label=f"selected epoch ({selected_epoch})")
        ax.set(title=f"{metric_name(metric)} per epoch", ylabel=f"{metric_name(metric)} (%)",
               xlabel="epoch (0: the untrained network)" if initial else "epoch")
        if not bands:
            ax.legend(fontsize=8)
    if bands and len(axes) > 1:  # five entries: one legend for the metric panels, below them, off the curves
        handles, labels = axes[1].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=8, frameon=False)
    for i, ax in enumerate(axes):  # metric panels start at epoch 0 when they show the untrained network
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(-0.2 if i and initial else 0 if steps else min(epochs) - 0.2, max(epochs) + 0.2)
    if title:
        fig.suptitle(title)
    return fig
