"""Figures of the workbook; each function returns a matplotlib ``Figure`` (nothing is shown or saved).

Conventions: axes are labelled and every colour scale has a labelled colour bar; values that are
compared share a fixed colour scale (G always [0, ``G_SCALE / N``]); a setting on a log-spaced
grid is drawn on a log axis (or at evenly spaced categorical positions); a class keeps one colour
in every figure (:func:`class_colours`, indexed by the class's label, distinct colours for the
classes shown together).

- :func:`hypergraph_figure`: distances, incidence H and propagation G of one batch;
  :func:`hypergraph_alpha_figure` H and G of one batch at several alphas.
- :func:`sample_terms_figure`: each sample's two loss terms and the gradient each sends;
  :func:`batch_settings_figure` both views of one batch at several settings on fixed scales
  (:func:`fixed_log_axis`): the batch explorer's static version.
- :func:`distribution_loss_vs_tau`: what tau does to ``L_D`` for one fixed embedding (a U).
- :func:`training_curves`: per-step losses (smoothed, with ``L_CE``'s chance value log C) and per-epoch
  metrics of a run (the untrained network at epoch 0, the selected epoch marked).
- :func:`embedding_map`, :func:`embedding_stages_figure`, :func:`hyperedge_map`: 2-D maps of
  embeddings, the same points at several stages of training, and a batch's hyperedges.
- :func:`retrieval_grid`: queries and their nearest neighbours with similarities.
- :func:`sweep_figure`, :func:`convergence_figure`: the analysis sweeps with error bars, and
  their validation curves.
- :func:`committed_points_figure`, :func:`fine_tuning_figure`: sweep points against the recipe's
  seed band (:func:`histlib.analysis.seed_band`), and the quick trainer's fine-tunings against it.
- :func:`grid_heatmaps`: a two-way grid (e.g. alpha x tau), one heatmap per quantity;
  :func:`hgnn_grid_figure` the alpha x tau grid of the HGNN question.
- :func:`membership_figure`: per run, how much the HGNN learned against the soft membership in
  other classes' hyperedges (the condition for G to carry class structure).
- :func:`optimisation_history`, :func:`importance_figure`: the tuning studies, per loss, and the
  parameter importances of a loss's search space.
"""

from __future__ import annotations

import functools
import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator

from .evaluation import metric_name
from .losses import HISTTerms

__all__ = [
    "class_colours", "hypergraph_figure", "sample_terms_figure", "distribution_loss_vs_tau", "training_curves",
    "embedding_map", "hyperedge_map", "retrieval_grid", "sweep_figure", "convergence_figure", "grid_heatmaps",
    "hgnn_grid_figure", "membership_figure", "optimisation_history", "importance_figure", "save_figure",
    "LOSS_COLOURS", "LOSS_NAMES", "fixed_log_axis", "batch_settings_figure", "committed_points_figure",
    "fine_tuning_figure", "as_numpy", "colour_differences", "hypergraph_alpha_figure", "embedding_stages_figure",
    "G_SCALE", "FEW_CLASSES", "g_colour_label",
]

#: One colour and one display name per loss, in every figure.
LOSS_COLOURS = {"hist": "tab:orange", "proxy_anchor": "tab:blue", "multi_similarity": "tab:green"}
LOSS_NAMES = {"hist": "HIST", "proxy_anchor": "Proxy-Anchor", "multi_similarity": "Multi-Similarity"}

def as_numpy(x) -> np.ndarray:
    """A tensor (any device, detached) or array-like as a numpy array."""
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


def _oklab(rgb) -> np.ndarray:
    """sRGB in [0, 1], (..., 3), to OKLab (Ottosson 2020) scaled by 100: Euclidean distances
    approximate perceived colour differences (about 2 is just noticeable)."""
    rgb = np.asarray(rgb, dtype=float)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    lms = linear @ np.array([[0.4122214708, 0.5363325363, 0.0514459929],
                             [0.2119034982, 0.6806995451, 0.1073969566],
                             [0.0883024619, 0.2817188376, 0.6299787005]]).T
    return 100 * np.cbrt(lms) @ np.array([[0.2104542553, 0.7936177850, -0.0040720468],
                                          [1.9779984951, -2.4285922050, 0.4505937099],
                                          [0.0259040371, 0.7827717662, -0.8086757660]]).T


def colour_differences(colours) -> np.ndarray:
    """(n, n) perceptual differences (OKLab distance x 100) between n RGB colours; the diagonal is 0.

    >>> float(colour_differences([[0, 0, 0], [1, 1, 1]])[0, 1]).__round__()
    100
    """
    lab = _oklab(colours)
    return np.linalg.norm(lab[:, None] - lab[None], axis=-1)


@functools.lru_cache(maxsize=1)
def _distinct_sequence(length: int) -> np.ndarray:
    """The first ``length`` colours of one fixed sequence, each as far (OKLab) as possible from all
    before it and from white, light grey, grey and black (the background and the context points):
    a greedy farthest-point (Glasbey-style) choice among the sRGB colours of a 20-level grid with
    OKLab lightness 45-85 and some chroma, starting from matplotlib's tab:blue."""
    levels = np.linspace(0.0, 1.0, 20)
    candidates = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)
    lab = _oklab(candidates)
    keep = (lab[:, 0] >= 45) & (lab[:, 0] <= 85) & (np.hypot(lab[:, 1], lab[:, 2]) >= 8)
    candidates, lab = candidates[keep], lab[keep]
    reserved = _oklab([[1.0, 1.0, 1.0], [0.83, 0.83, 0.83], [0.5, 0.5, 0.5], [0.0, 0.0, 0.0]])
    nearest = np.linalg.norm(lab[:, None] - reserved[None], axis=-1).min(1)
    index = int(np.argmin(np.abs(candidates - np.array([31, 119, 180]) / 255).sum(1)))
    chosen = []
    for _ in range(length):
        chosen.append(index)
        nearest = np.minimum(nearest, np.linalg.norm(lab - lab[index], axis=1))
        index = int(np.argmax(nearest))
    return candidates[chosen]


def class_colours(num_classes: int, first: Sequence[int] = ()) -> np.ndarray:
    """One fixed colour per class label, (num_classes, 3) RGB in [0, 1]: label ``c`` is
    ``class_colours(C, first)[c]`` in every figure that uses the same call, so a class keeps its
    colour across the figures of a split.

    The colours are a Glasbey-style sequence: each is the one farthest, in a perceptual colour space
    (:func:`colour_differences`), from every earlier colour and from white and greys, which mark the
    background and unselected points. The labels in ``first`` (e.g. the classes a figure shows
    together) take the sequence's first, most distinct colours, in that order; the other labels
    follow in label order. Any two of the first 12 colours differ by more than 15 (2 is just
    noticeable), of the first 40 by more than 9 and of the first 80 by more than 7; figures with
    many classes also write the class names.

    >>> class_colours(5).shape, bool((class_colours(12)[:5] == class_colours(5)).all())
    ((5, 3), True)
    >>> bool((class_colours(80, first=[42, 7])[[42, 7]] == class_colours(2)).all())
    True
    """
    first = [int(c) for c in first]
    if len(set(first)) != len(first) or any(not 0 <= c < num_classes for c in first):
        raise ValueError(f"first must name distinct labels in [0, {num_classes}), got {first}")
    order = first + [c for c in range(num_classes) if c not in set(first)]
    colours = np.empty((num_classes, 3))
    colours[order] = _distinct_sequence(max(num_classes, 256))[:num_classes]
    return colours


# -- one batch's hypergraph ---------------------------------------------------------------------


#: G's colour scale in every figure of it is [0, G_SCALE / N]: a uniform G (alpha = 0) has every
#: entry 1/N, a third of the way up; brighter entries are clipped.
G_SCALE = 3.0
#: With more classes than this in a batch, heatmaps outline only the classes with two or more
#: samples instead of drawing a line between every pair of classes (which would cover the picture).
FEW_CLASSES = 12


def g_colour_label(g_max: float, n: int) -> str:
    """G's colour-bar label, naming its fixed scale (as a multiple of 1/N when it is one)."""
    multiple = g_max * n
    scale = f"{multiple:g}/N = {g_max:.2g}" if abs(multiple - round(multiple, 1)) < 1e-6 else f"{g_max:.3g}"
    return f"G, fixed scale 0 to {scale}\n(uniform G: 1/N; brighter clipped)"


def _class_boundaries(ax, labels_sorted: np.ndarray, square: bool, hyperedge_classes=None) -> None:
    """Mark the classes of a heatmap whose rows are samples sorted by class.

    Up to :data:`FEW_CLASSES` classes: a white line between classes (across the rows; also down
    the columns when the columns are the same samples, ``square``). More: a white outline around
    each class with two or more samples only (on G the class's diagonal block; on a samples x
    hyperedges panel the class's samples in its own hyperedge's column); singletons stay unmarked.
    """
    from matplotlib.patches import Rectangle

    classes, starts, counts = np.unique(labels_sorted, return_index=True, return_counts=True)
    if len(classes) <= FEW_CLASSES:
        for edge in starts[1:] - 0.5:
            ax.axhline(edge, color="white", lw=0.6, alpha=0.8)
            if square:
                ax.axvline(edge, color="white", lw=0.6, alpha=0.8)
        return
    columns = list(as_numpy(hyperedge_classes)) if hyperedge_classes is not None else None
    for c, start, count in zip(classes, starts, counts):
        if count < 2:
            continue
        x = start - 0.5 if square else columns.index(c) - 0.5
        ax.add_patch(Rectangle((x, start - 0.5), count if square else 1, count, fill=False, edgecolor="white",
                               lw=0.9))


def hypergraph_figure(terms: HISTTerms, labels, title: str = "", g_max: float | None = None,
                      class_names: Sequence[str] | None = None) -> plt.Figure:
    """Heatmaps of one batch: distances to the classes present, H and G, samples sorted by class.

    Colour scales are fixed so that figures can be compared, each named in its colour bar: d over
    its whole range [0, 4], H over [0, 1] and G over [0, ``g_max``] (default ``G_SCALE / N``, the
    scale of every figure of G). Classes are marked by :func:`_class_boundaries`: lines between
    them when there are at most :data:`FEW_CLASSES`, else outlines of the classes with two or more
    samples.

    Args:
        terms: from ``HISTLoss.compute_terms``. labels: (N,) the batch's labels.
    """
    labels = as_numpy(labels)
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    classes = as_numpy(terms.hyperedge_classes)
    propagation = as_numpy(terms.propagation)[order][:, order]
    g_max = G_SCALE / len(labels) if g_max is None else g_max
    few = len(classes) <= FEW_CLASSES
    panels = [
        ("distance d to each class present", as_numpy(terms.distances)[order][:, classes], "viridis_r", 0.0, 4.0,
         "d (fixed scale 0 to 4)"),
        ("incidence H (1 = own class)", as_numpy(terms.incidence)[order], "magma", 0.0, 1.0, "H (fixed scale 0 to 1)"),
        ("G (propagation)", propagation, "magma", 0.0, g_max, g_colour_label(g_max, len(labels))),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.4), constrained_layout=True,
                             gridspec_kw={"width_ratios": [len(classes), len(classes), len(labels)]})
    for ax, (name, values, cmap, low, high, label) in zip(axes, panels):
        image = ax.imshow(values, cmap=cmap, vmin=low, vmax=high, aspect="auto", interpolation="nearest")
        outlined = "" if few else ("\n(white boxes: the classes with 2+ samples)" if ax is axes[2] else
                                   "\n(white boxes: own class, for classes with 2+ samples)")
        ax.set_title(name + outlined, fontsize=10)
        fig.colorbar(image, ax=ax, shrink=0.85, label=label)
        _class_boundaries(ax, sorted_labels, square=ax is axes[2], hyperedge_classes=classes)
    for ax in axes[:2]:
        ax.set_xlabel("hyperedge (a class present in the batch)")
        names = [class_names[c] if class_names is not None else str(c) for c in classes]
        ax.set_xticks(range(len(classes)), names if len(classes) <= 12 else [""] * len(classes), fontsize=7)
    axes[0].set_ylabel("sample (sorted by class)")
    axes[2].set_xlabel("sample (sorted by class)")
    loss = (f"L = {terms.loss.item():.3f} = L_D {terms.distribution_loss.item():.3f} + lambda_s x "
            f"L_CE {terms.hgnn_loss.item():.3f}")
    fig.suptitle(f"{title}   {loss}".strip(), fontsize=11)
    return fig


def sample_terms_figure(terms: HISTTerms, labels, gradients: Mapping[str, torch.Tensor], title: str = "",
                        loss_max: float | None = None, grad_max: float | None = None) -> plt.Figure:
    """Each sample's ``L_D`` and ``L_CE`` terms, and the size of the gradient each sends to the
    sample's embedding (:func:`histlib.analysis.term_gradients`); samples sorted by class."""
    labels = as_numpy(labels)
    order = np.argsort(labels, kind="stable")
    x = np.arange(len(labels))
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.2), constrained_layout=True)
    width = 0.4
    for ax, (a, b, ylabel, top) in zip(axes, [
        (as_numpy(terms.sample_distribution_loss)[order], as_numpy(terms.sample_hgnn_loss)[order], "loss", loss_max),
        (as_numpy(gradients["distribution_loss"])[order], as_numpy(gradients["hgnn_loss"])[order],
         "gradient norm on the embedding", grad_max),
    ]):
        ax.bar(x - width / 2, a, width, label="L_D", color="tab:blue")
        ax.bar(x + width / 2, b, width, label="lambda_s L_CE" if "gradient" in ylabel else "L_CE", color="tab:orange")
        ax.set(xlabel="sample (sorted by class)", ylabel=ylabel, xlim=(-1, len(labels)))
        if top is not None:
            ax.set_ylim(0, top)
        for edge in np.flatnonzero(np.diff(labels[order])) + 0.5:
            ax.axvline(edge, color="grey", lw=0.5, alpha=0.6)
        ax.legend(fontsize=8)
    axes[0].set_title("per-sample loss terms", fontsize=10)
    axes[1].set_title("push each term gives each embedding", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def fixed_log_axis(ax, limits: tuple[float, float], ylabel: str) -> None:
    """Make ``ax``'s y axis logarithmic with fixed ``limits``, one labelled tick per decade and no
    minor ticks, and pin its legend (if any) to the upper right: values compare across redraws and
    panels, and a redraw searches no tick or legend position."""
    low, high = (int(math.floor(math.log10(v))) for v in limits)
    ax.set_yscale("log")
    ax.set_ylim(*limits)
    ax.yaxis.set_major_locator(FixedLocator([10.0 ** k for k in range(low, high + 1)]))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_ylabel(ylabel)
    if ax.get_legend() is not None:
        ax.get_legend().set_loc("upper right")


def batch_settings_figure(rows: Sequence[Mapping], g_scale: float, loss_limits: tuple[float, float],
                          gradient_limits: tuple[float, float], title: str = "") -> plt.Figure:
    """One batch under several settings, one row each, on scales fixed across the rows: H, G (each
    with its colour bar), each sample's ``L_D`` and ``L_CE``, and the gradient each term sends to
    each embedding (samples sorted by class). The static version of :class:`histlib.widgets.BatchExplorer`.

    Args:
        rows: dicts with ``name`` (the row's label: state and settings), ``labels`` (N,), ``terms``
            (the batch's :class:`~histlib.HISTTerms` under the row's setting) and ``gradients``
            (``{"distribution_loss": (N,), "hgnn_loss": (N,)}``, :func:`histlib.analysis.term_gradients`).
        g_scale: G's colour scale is [0, g_scale / N] (a uniform G has every entry 1 / N).
        loss_limits, gradient_limits: the (low, high) of the log axes of the loss and gradient bars.
    """
    fig, axes = plt.subplots(len(rows), 4, figsize=(16, 3.0 * len(rows)), squeeze=False,
                             constrained_layout=True, gridspec_kw={"width_ratios": [1.15, 1.6, 1.6, 1.6]})
    for row, panel in zip(axes, rows):
        terms, gradients = panel["terms"], panel["gradients"]
        labels = as_numpy(panel["labels"])
        order = np.argsort(labels, kind="stable")
        n = len(labels)
        image = row[0].imshow(as_numpy(terms.incidence)[order], cmap="magma", vmin=0, vmax=1, aspect="auto",
                              interpolation="nearest")
        fig.colorbar(image, ax=row[0], shrink=0.8, label="H (0 to 1)")
        image = row[1].imshow(as_numpy(terms.propagation)[order][:, order], cmap="magma", vmin=0, vmax=g_scale / n,
                              aspect="auto", interpolation="nearest")
        fig.colorbar(image, ax=row[1], shrink=0.8, label=g_colour_label(g_scale / n, n))
        x = np.arange(n)
        for ax, (a, b), limits, ylabel in (
            (row[2], (terms.sample_distribution_loss, terms.sample_hgnn_loss), loss_limits, "loss"),
            (row[3], (gradients["distribution_loss"], gradients["hgnn_loss"]), gradient_limits, "gradient norm"),
        ):
            ax.bar(x - 0.2, as_numpy(a)[order], 0.4, color="tab:blue", label="L_D")
            ax.bar(x + 0.2, as_numpy(b)[order], 0.4, color="tab:orange",
                   label="lambda_s L_CE" if "gradient" in ylabel else "L_CE")
            ax.set_xlim(-1, n)
            ax.legend(fontsize=7, loc="upper right")
            fixed_log_axis(ax, limits, f"{ylabel} (log)")
        row[0].set_ylabel(f"{panel['name']}\n\nsample (by class)", fontsize=9)
        row[0].set_title("H", fontsize=9)
        row[1].set_title(f"G (scale [0, {g_scale:g}/N])", fontsize=9)
        row[2].set_title(f"per-sample L_D {float(terms.distribution_loss):.2f}, L_CE "
                         f"{float(terms.hgnn_loss):.2f} (means)", fontsize=9)
        row[3].set_title("push each term gives each embedding", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("sample (sorted by class)" if ax is not axes[-1, 0] else "hyperedge")
    if title:
        fig.suptitle(title)
    return fig


def hypergraph_alpha_figure(distances: torch.Tensor, labels: torch.Tensor, alphas: Sequence[float],
                            g_max: float | None = None, title: str = "") -> plt.Figure:
    """H (top row) and G (bottom row) of one batch at several alphas, for fixed distances: each row
    on one fixed colour scale with its colour bar (H over [0, 1]; G over [0, ``g_max``], default
    ``G_SCALE / N`` as in every figure of G), samples sorted by class.

    Args: distances (N, C) to every class, labels (N,).
    """
    from .functional import incidence_matrix, propagation_matrix

    labels = torch.as_tensor(labels)
    order = torch.argsort(labels, stable=True)
    n = len(labels)
    g_max = G_SCALE / n if g_max is None else g_max
    fig, axes = plt.subplots(2, len(alphas), figsize=(3.6 * len(alphas) + 1.2, 6.5), squeeze=False,
                             constrained_layout=True)
    with torch.no_grad():
        for column, alpha in enumerate(alphas):
            incidence, _ = incidence_matrix(distances, labels, alpha)
            propagation = propagation_matrix(incidence)
            top = axes[0, column].imshow(as_numpy(incidence[order]), cmap="magma", vmin=0, vmax=1, aspect="auto",
                                         interpolation="nearest")
            bottom = axes[1, column].imshow(as_numpy(propagation[order][:, order]), cmap="magma", vmin=0,
                                            vmax=g_max, aspect="auto", interpolation="nearest")
            axes[0, column].set(title=f"H, alpha = {alpha:g}", xlabel="hyperedge", ylabel="sample (by class)")
            axes[1, column].set(title=f"G, alpha = {alpha:g}", xlabel="sample (by class)", ylabel="sample (by class)")
    fig.colorbar(top, ax=axes[0, :].tolist(), shrink=0.85, pad=0.01, label="H, fixed scale 0 to 1")
    fig.colorbar(bottom, ax=axes[1, :].tolist(), shrink=0.85, pad=0.01, label=g_colour_label(g_max, n))
    if title:
        fig.suptitle(title)
    return fig


def distribution_loss_vs_tau(distances: torch.Tensor, labels: torch.Tensor, taus: Sequence[float],
                             title: str = "", trained_tau: float | None = None) -> plt.Figure:
    """``L_D`` against tau for fixed distances (one embedding), split into the samples whose own
    class is the nearest distribution and those for which another class is nearer; tau on a log
    axis (base 2), a tick at each tau drawn.

    Args: distances (N, C), labels (N,); trained_tau: the tau the distances were trained with,
    marked by a vertical line. For the first group ``-log softmax`` falls to 0 as tau grows; for the
    second it grows about linearly, as tau times the distance gap: the mean is U-shaped.
    """
    from .functional import distribution_loss

    d, y = distances.detach().double(), labels.long()
    own = d.gather(1, y[:, None]).squeeze(1)
    others = d.clone()
    others[torch.arange(len(y)), y] = float("inf")
    right = own < others.min(dim=1).values
    curves = {"all samples (L_D)": torch.ones_like(right), f"own class nearest ({int(right.sum())})": right,
              f"another class nearer ({int((~right).sum())})": ~right}
    fig, ax = plt.subplots(figsize=(5.8, 3.7), constrained_layout=True)
    for (name, mask), style in zip(curves.items(), ("-", "--", ":")):
        if mask.any():
            values = [float(distribution_loss(d[mask], y[mask], t)) for t in taus]
            ax.plot(taus, values, style, marker="o", ms=3, label=name)
    if trained_tau is not None:
        ax.axvline(trained_tau, color="grey", lw=1, alpha=0.7,
                   label=f"tau the model was trained with ({trained_tau:g})")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(list(taus)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(list(taus), [f"{t:g}" for t in taus])
    ax.set(xlabel="tau (log scale)", ylabel="mean -log softmax(-tau d)[own class]",
           title=title or "L_D against tau")
    ax.legend(fontsize=8)
    return fig


# -- a run ---------------------------------------------------------------------------------------


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
                    selected_epoch: int | None = None) -> plt.Figure:
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
        for split, style in (("val", "--"), ("test", "-")):
            key = f"{split}_{metric}"
            if any(key in row for row in history) or key in initial:
                points = ([(0, initial[key])] if key in initial else []) + \
                    [(row["epoch"], row[key]) for row in history if key in row]
                ax.plot([e for e, _ in points], [100 * v for _, v in points], style, marker="o",
                        label={"val": "validation classes", "test": "unseen test classes"}[split])
        if selected_epoch is not None:
            ax.axvline(selected_epoch, color="grey", ls=":", lw=1.2, label=f"selected epoch ({selected_epoch})")
        ax.set(title=f"{metric_name(metric)} per epoch", ylabel=f"{metric_name(metric)} (%)",
               xlabel="epoch (0: the untrained network)" if initial else "epoch")
        ax.legend(fontsize=8)
    for i, ax in enumerate(axes):  # metric panels start at epoch 0 when they show the untrained network
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(-0.2 if i and initial else 0 if steps else min(epochs) - 0.2, max(epochs) + 0.2)
    if title:
        fig.suptitle(title)
    return fig


# -- maps of the embedding space --------------------------------------------------------------------


def _label_points(ax, points, names, colours=None, fontsize: float = 8, avoid=None) -> list:
    """Write ``names[i]`` next to ``points[i]`` (data coordinates) without overlapping: each label
    takes the first of eight places around its point (offsets in points) whose box overlaps no
    label placed before and no point of ``avoid`` (data coordinates, e.g. the markers), else the
    place with the fewest overlaps. The labels do not move the layout. Returns the annotations."""
    import matplotlib.patheffects as pe

    fig = ax.figure
    fig.draw_without_rendering()  # fixes the layout, so that data and pixels correspond
    renderer = fig.canvas.get_renderer()
    to_pixels = ax.transData.transform
    obstacles = [] if avoid is None else [(x - 7, y - 7, x + 7, y + 7) for x, y in to_pixels(np.asarray(avoid))]
    placed, annotations = [], []
    offsets = [(7, 5), (7, -13), (-7, 5), (-7, -13), (0, 12), (0, -20), (12, -4), (-12, -4)]

    def overlaps(box, boxes):
        return sum(box.x0 < b[2] and box.x1 > b[0] and box.y0 < b[3] and box.y1 > b[1] for b in boxes)

    for i in np.argsort(-np.asarray(points)[:, 1], kind="stable"):
        best = None
        for dx, dy in offsets:
            text = ax.annotate(names[i], points[i], xytext=(dx, dy), textcoords="offset points", fontsize=fontsize,
                               ha="left" if dx >= 0 else "right", zorder=6,
                               color="black" if colours is None else colours[i],
                               path_effects=[pe.withStroke(linewidth=2.5, foreground="white")])
            text.set_in_layout(False)
            box = text.get_window_extent(renderer)
            score = 2 * overlaps(box, placed) + overlaps(box, obstacles)
            if best is None or score < best[0]:
                if best is not None:
                    best[1].remove()
                best = (score, text, box)
            else:
                text.remove()
            if score == 0:
                break
        placed.append((best[2].x0, best[2].y0, best[2].x1, best[2].y1))
        annotations.append(best[1])
    return annotations


def embedding_map(coords, labels, colours: np.ndarray, class_names: Sequence[str] | None = None,
                  title: str = "", ax=None, legend_max: int = 12, limits=None, size: float = 6,
                  direct_labels: bool = False) -> plt.Figure:
    """Scatter of 2-D ``coords`` (N, 2) coloured by ``labels`` (N,) with ``colours[label]``.

    ``limits``: ``((xmin, xmax), (ymin, ymax))`` to share one frame between several maps.
    ``direct_labels``: also write each class's name at the median of its points (in the limits).
    """
    coords, labels = as_numpy(coords), as_numpy(labels)
    fig = ax.figure if ax is not None else plt.figure(figsize=(7, 6), layout="constrained")
    ax = ax if ax is not None else fig.add_subplot()
    classes = np.unique(labels)
    for c in classes:
        mask = labels == c
        name = class_names[c] if class_names is not None else str(c)
        ax.scatter(coords[mask, 0], coords[mask, 1], s=size, color=colours[c], alpha=0.7,
                   label=name if len(classes) <= legend_max else None)
    if len(classes) <= legend_max:
        ax.legend(markerscale=2.5, fontsize=8, loc="best")
    if limits is not None:
        ax.set(xlim=limits[0], ylim=limits[1])
    ax.set(xticks=[], yticks=[], title=title, xlabel="UMAP 1", ylabel="UMAP 2")
    if direct_labels:
        centres = np.array([np.median(coords[labels == c], axis=0) for c in classes])
        _label_points(ax, centres, [class_names[c] if class_names is not None else str(c) for c in classes],
                      colours=[0.75 * np.asarray(colours[c]) for c in classes], fontsize=9)
    return fig


def _frame(points: np.ndarray, pad: float = 0.05) -> tuple:
    low, high = points.min(0), points.max(0)
    margin = pad * np.maximum(high - low, 1e-9)
    return tuple((float(lo - m), float(hi + m)) for lo, hi, m in zip(low, high, margin))


def embedding_stages_figure(maps: Mapping[str, np.ndarray], labels, colours: np.ndarray,
                            class_names: Sequence[str] | None = None, own_axes: Sequence[str] = (),
                            title: str = "") -> plt.Figure:
    """The same points at several stages of training (e.g. one UMAP fitted on all stages together),
    one panel each (:func:`embedding_map`, each class in its colour, named at its median), and the
    classes' legend right of the last panel.

    The panels share one frame, so that what moves between them is the embedding, except the
    stages named in ``own_axes``: a stage whose points fill a small part of the shared map (e.g. an
    untrained network, all of whose embeddings are alike) is zoomed to its own points, and its
    title says so and by how much.

    Args: maps: ``{stage name: (N, 2) coords}``; labels (N,); colours: ``colours[label]``.
    """
    labels = as_numpy(labels)
    maps = {name: as_numpy(xy) for name, xy in maps.items()}
    shared = [xy for name, xy in maps.items() if name not in own_axes] or list(maps.values())
    frame = _frame(np.concatenate(shared))
    fig, axes = plt.subplots(1, len(maps), figsize=(5.6 * len(maps) + 1.2, 5.8), squeeze=False,
                             constrained_layout=True)
    for ax, (name, xy) in zip(axes[0], maps.items()):
        limits, label = frame, name
        if name in own_axes:
            limits = _frame(xy)
            zoom = min((f[1] - f[0]) / (o[1] - o[0]) for f, o in zip(frame, limits))
            label = f"{name}\nzoomed in x{zoom:.0f} (own axes; the others share one)"
        embedding_map(xy, labels, colours, class_names, title=label, ax=ax, limits=limits, legend_max=0,
                      direct_labels=class_names is not None)
    classes = np.unique(labels)
    axes[0, -1].legend(handles=[Line2D([], [], marker="o", ls="", color=colours[c],
                                       label=class_names[c] if class_names is not None else str(c)) for c in classes],
                       fontsize=8, loc="center left", bbox_to_anchor=(1, 0.5))
    if title:
        fig.suptitle(title)
    return fig


def hyperedge_map(coords, labels, colours: np.ndarray, members_coords, members_labels, incidence,
                  edge_classes, edge_coords, class_names: Sequence[str] | None = None, title: str = "",
                  strongest: int = 2, threshold: float = 0.05) -> plt.Figure:
    """A batch's hypergraph over a 2-D map of the embedding space.

    Each hyperedge is a class present in the batch, drawn as a star at its class distribution's
    learned mean (mapped into the same 2-D space), in the class's colour and named next to it. Each
    drawn batch member (a ring in its class colour) is joined by a solid line to its own hyperedge
    and by dashed lines to its ``strongest`` other hyperedges whose soft membership H exceeds
    ``threshold``; line width and opacity grow with H (legend). The grey points are the rest of
    the map, for context.

    Args:
        coords (M, 2), labels (M,): the background map. members_coords (N, 2), members_labels (N,):
        the batch. incidence (N, E): H. edge_classes (E,): each hyperedge's class. edge_coords (E, 2).
    """
    coords, labels = as_numpy(coords), as_numpy(labels)
    members_coords, members_labels = as_numpy(members_coords), as_numpy(members_labels)
    incidence, edge_classes, edge_coords = as_numpy(incidence), as_numpy(edge_classes), as_numpy(edge_coords)
    fig, ax = plt.subplots(figsize=(9, 7.5), constrained_layout=True)
    ax.scatter(coords[:, 0], coords[:, 1], s=3, color="lightgrey", alpha=0.5, zorder=0)

    def style(weight):
        return dict(lw=0.5 + 3.0 * weight, alpha=0.25 + 0.6 * weight)

    for i, (point, label) in enumerate(zip(members_coords, members_labels)):
        own = int(np.flatnonzero(edge_classes == label)[0])
        ax.plot(*zip(point, edge_coords[own]), color=colours[label], zorder=2, **style(1.0))
        others = [e for e in np.argsort(-incidence[i]) if e != own and incidence[i, e] > threshold][:strongest]
        for e in others:
            ax.plot(*zip(point, edge_coords[e]), color=colours[edge_classes[e]], ls="--", zorder=1,
                    **style(float(incidence[i, e])))
    ax.scatter(members_coords[:, 0], members_coords[:, 1], s=45, facecolor="white",
               edgecolor=colours[members_labels], linewidth=2, zorder=3)
    ax.scatter(edge_coords[:, 0], edge_coords[:, 1], marker="*", s=230, color=colours[edge_classes],
               edgecolor="black", linewidth=0.6, zorder=4)
    handles = [
        Line2D([], [], marker="*", ls="", ms=13, color="grey", mec="black",
               label="hyperedge: a class in the batch,\nat its distribution's learned mean"),
        Line2D([], [], marker="o", ls="", ms=7, mfc="white", mec="grey", mew=2, label="batch sample"),
        Line2D([], [], color="grey", **style(1.0), label="own hyperedge (H = 1)"),
    ] + [Line2D([], [], color="grey", ls="--", **style(w), label=f"soft membership H = {w:g}") for w in (0.5, 0.2)]
    ax.legend(handles=handles, fontsize=8, loc="best")
    ax.set(xticks=[], yticks=[], xlabel="UMAP 1", ylabel="UMAP 2", title=title)
    names = [class_names[c] if class_names is not None else str(c) for c in edge_classes]
    _label_points(ax, edge_coords, names, fontsize=8, avoid=np.concatenate([edge_coords, members_coords]))
    return fig


def retrieval_grid(images, labels, queries: Sequence[int], neighbours, similarities=None, class_names=None,
                   colours: np.ndarray | None = None, title: str = "") -> plt.Figure:
    """Each query (row) with its K nearest neighbours; green frame = same class, red = another.

    Args:
        images: (N, H, W) or (N, H, W, 3) arrays (uint8 or float in [0, 1]), or a function from an
            index to one image (a PIL image or an array), so that only the shown images are read.
        labels: (N,). queries: Q query indices. neighbours: (Q, K) indices, nearest first.
        similarities: (Q, K) cosine similarities, written under each neighbour.
        colours: class colours; the query's label is written in its class colour.
    """
    labels, neighbours = as_numpy(labels), as_numpy(neighbours)
    image_of = (lambda i: np.asarray(images(int(i)))) if callable(images) else (lambda i, a=as_numpy(images): a[i])
    similarities = None if similarities is None else as_numpy(similarities)
    k = neighbours.shape[1]
    fig, axes = plt.subplots(len(queries), k + 1, figsize=(1.25 * (k + 1), 1.45 * len(queries)), squeeze=False,
                             constrained_layout=True)
    for row, (query, found) in enumerate(zip(queries, neighbours)):
        for col, index in enumerate([query, *found]):
            ax = axes[row, col]
            image = image_of(index)
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
            ax.set_xticks([]), ax.set_yticks([])
            colour = "black" if col == 0 else ("tab:green" if labels[index] == labels[query] else "tab:red")
            for spine in ax.spines.values():
                spine.set_color(colour)
                spine.set_linewidth(2.5 if col else 1.0)
            if col and similarities is not None:
                ax.set_xlabel(f"{similarities[row, col - 1]:.2f}", fontsize=7, labelpad=1)
        name = class_names[labels[query]] if class_names is not None else str(labels[query])
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9,
                                color=colours[labels[query]] if colours is not None else "black")
    axes[0, 0].set_title("query", fontsize=9)
    for col in range(1, k + 1):
        axes[0, col].set_title(f"#{col}", fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


# -- the analysis sweeps ----------------------------------------------------------------------------


def sweep_figure(panels: Sequence[dict], metric: str = "test_map@r", ncols: int = 3, title: str = "",
                 sharey: bool = True) -> plt.Figure:
    """Small multiples, one per sweep: mean +/- std of ``metric`` against the swept setting, with
    each seed as a dot. ``sharey``: one y range for every panel, so effects compare across panels.

    Args:
        panels: dicts with ``title``, ``x`` (a label per point), ``rows`` (the sweep table's rows)
            and ``key`` (the column that holds the point's label); optional ``reference`` (a label
            to mark as the recipe's setting), ``xlabel``, and ``categorical`` (points that are not a
            scale, e.g. losses: markers without a joining line).
    """
    from .analysis import summarize

    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.3 * nrows), squeeze=False, constrained_layout=True,
                             sharey=sharey)
    for ax, panel in zip(axes.flat, panels):
        summary = {s[panel["key"]]: s for s in summarize(panel["rows"], panel["key"], metric)}
        labels = [x for x in panel["x"] if x in summary]
        positions = np.arange(len(labels))
        means = np.array([100 * summary[x]["mean"] for x in labels])
        stds = np.array([100 * np.nan_to_num(summary[x]["std"]) for x in labels])
        ax.errorbar(positions, means, yerr=stds, fmt="o" if panel.get("categorical") else "o-", capsize=4,
                    color="tab:blue", label="mean +/- std")
        for p, x in zip(positions, labels):
            seeds = [100 * r[metric] for r in panel["rows"] if r[panel["key"]] == x and r.get(metric) is not None]
            ax.scatter([p] * len(seeds), seeds, s=12, color="black", alpha=0.5, zorder=3,
                       label="one seed" if p == 0 else None)
        if panel.get("reference") in labels:
            ax.axvline(labels.index(panel["reference"]), color="grey", ls=":", lw=1, label="recipe's setting")
        ax.set_xticks(positions, [str(x) for x in labels])
        split = {"test": "test ", "val": "validation "}.get(metric.split("_", 1)[0], "")
        ax.set(title=panel["title"], xlabel=panel.get("xlabel", panel["key"]),
               ylabel=f"{split}{metric_name(metric.split('_', 1)[1])} (%)")
        ax.legend(fontsize=7)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return fig


def _shade_seed_band(ax, band, label: str, mean_line: bool = False) -> None:
    """Shade a :class:`~histlib.analysis.SeedBand`'s mean +/- std (in %) across ``ax``."""
    ax.axhspan(100 * (band.mean - band.std), 100 * (band.mean + band.std), color="tab:green", alpha=0.15, label=label)
    if mean_line:
        ax.axhline(100 * band.mean, color="tab:green", lw=1)


def committed_points_figure(tables: Mapping[str, Sequence[dict]], grids: Sequence[tuple[str, str, object]],
                            band, metric: str = "val_map@r", title: str = "") -> plt.Figure:
    """Committed sweep points on the validation classes (mean +/- std, each seed a dot, as
    :func:`sweep_figure`), with the recipe's seed band shaded across every panel: the static
    version of :class:`histlib.widgets.QuickTrainer`.

    Args:
        tables: ``{table name: rows}`` (rows as :func:`histlib.sweep.read_table` returns them).
        grids: ``(table name, key, recipe's value)``, e.g. ``[("lambda_s", "lambda_s", 1.0),
            ("alpha", "alpha", 1.1)]``; a table without rows holding ``metric`` is skipped (named
            in the title).
        band: a :class:`~histlib.analysis.SeedBand` (:func:`histlib.analysis.seed_band`), or the
            sentence saying why there is none (nothing shaded).
    """
    from .analysis import SeedBand, same_setting

    panels, missing = [], []
    for name, key, reference in grids:
        rows = [r for r in tables.get(name, ()) if r.get(metric) is not None]
        if not rows:
            missing.append(name)
            continue
        points = list(dict.fromkeys(r[key] for r in rows))
        panels.append({"title": f"{name} sweep", "x": points, "rows": rows, "key": key,
                       "xlabel": f"{key} (values equally spaced)",
                       "reference": next((p for p in points if same_setting(p, reference)), None)})
    if not panels:
        fig, ax = plt.subplots(figsize=(7, 2), constrained_layout=True)
        ax.axis("off")
        ax.text(0.5, 0.5, f"No committed sweep table with {metric} ({', '.join(missing)}).",
                ha="center", va="center")
        return fig
    fig = sweep_figure(panels, metric=metric, ncols=len(panels),
                       title=title + (f" (not yet swept: {', '.join(missing)})" if missing else ""))
    for ax in fig.axes[:len(panels)]:
        if isinstance(band, SeedBand):
            _shade_seed_band(ax, band, "recipe's seed band")
            ax.legend(fontsize=7)
        ax.set_ylabel("MAP@R on validation classes (%)")
    return fig


def fine_tuning_figure(tries: Sequence[Mapping], band, start_score: float | None = None, total: int | None = None,
                       empty_note: str = "no fine-tuning yet") -> plt.Figure:
    """MAP@R on the validation classes of short fine-tunings, each next to the same fine-tuning
    with the recipe's settings, over the recipe's seed band: :class:`histlib.widgets.QuickTrainer`'s
    figure.

    Args:
        tries: dicts with ``label`` (the x tick: what differs from the recipe), ``score`` and
            ``reference`` (MAP@R of the try and of the recipe's settings, fractions), left to right.
        band: a :class:`~histlib.analysis.SeedBand` (shaded, with its mean), or the sentence
            saying why there is none (written in a corner).
        start_score: MAP@R of the model before fine-tuning (a dotted line); None: not drawn.
        total: how many tries were made, when ``tries`` are only the last of them (said in the title).
        empty_note: written across the axes when there is no try.
    """
    from .analysis import SeedBand

    fig, ax = plt.subplots(figsize=(10, 4.2), constrained_layout=True)
    if isinstance(band, SeedBand):
        _shade_seed_band(ax, band, textwrap.fill(f"seed-to-seed spread: {band.description}", 42), mean_line=True)
    if start_score is not None:
        ax.axhline(100 * start_score, color="grey", ls=":", lw=1.2,
                   label=textwrap.fill(f"the cached model before fine-tuning ({100 * start_score:.1f})", 42))
    for i, t in enumerate(tries):
        ax.plot([i, i], [100 * t["reference"], 100 * t["score"]], color="grey", lw=1)
        ax.scatter([i], [100 * t["reference"]], marker="D", facecolor="white", edgecolor="black", zorder=3,
                   label="recipe's settings, same steps and batches" if i == 0 else None)
        ax.scatter([i], [100 * t["score"]], s=60, color="tab:blue", zorder=4, label="your setting" if i == 0 else None)
    ax.set_xticks(range(len(tries)), [t["label"] for t in tries], fontsize=8)
    ax.set_xlim(-0.7, max(len(tries), 3) - 0.3)
    shown = f" (the last {len(tries)} of {total})" if total is not None and len(tries) < total else ""
    ax.set(ylabel="MAP@R on validation classes (%)",
           title="fine-tuning the cached model: each try against the recipe's settings" + shown)
    if not tries:
        ax.text(0.5, 0.5, empty_note, transform=ax.transAxes, ha="center", va="center", color="grey")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if not isinstance(band, SeedBand):
        ax.annotate(band, (0.01, 0.01), xycoords="axes fraction", fontsize=7, color="tab:red")
    return fig


def convergence_figure(curves: Sequence[dict], metric: str = "val_map@r", title: str = "") -> plt.Figure:
    """Validation curves of sweep runs (one thin line per run), to show whether they flattened.

    Args: curves: rows of a ``<grid>_curves.csv`` table (``fingerprint``, ``epoch``, ``metric``).
    """
    runs: dict[str, list[tuple[int, float]]] = {}
    for row in curves:
        if row.get(metric) is not None:
            runs.setdefault(row["fingerprint"], []).append((row["epoch"], 100 * row[metric]))
    fig, ax = plt.subplots(figsize=(6, 3.6), constrained_layout=True)
    for points in runs.values():
        points.sort()
        ax.plot(*zip(*points), color="tab:blue", alpha=0.25, lw=1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="epoch", ylabel=f"{metric_name(metric.split('_', 1)[1])} on validation classes (%)",
           title=title or f"validation curves of {len(runs)} runs")
    return fig


def grid_heatmaps(rows: Sequence[dict], row_key: str, column_key: str, panels: Sequence[dict],
                  title: str = "") -> plt.Figure:
    """A two-way grid's table as heatmaps side by side: the mean over seeds in each cell, written
    in the cell as "mean +/- std".

    Args:
        rows: a sweep table's rows (one per point and seed).
        row_key, column_key: the two swept settings (rows and columns of every heatmap).
        panels: dicts with ``metric`` (a column), ``label`` (colour-bar label), ``vmin``, ``vmax`` (a
            fixed colour scale), optional ``scale`` (multiplier, e.g. 100 for percent), ``cmap``
            and ``fmt`` (the cell text's format, default ``"{:.2f}"``).
    """
    from .analysis import summarize

    row_values = sorted({r[row_key] for r in rows})
    column_values = sorted({r[column_key] for r in rows})
    fig, axes = plt.subplots(1, len(panels), figsize=(4.3 * len(panels) + 0.6, 0.7 * len(row_values) + 1.9),
                             squeeze=False, constrained_layout=True)
    for ax, panel in zip(axes[0], panels):
        scale, fmt = panel.get("scale", 1.0), panel.get("fmt", "{:.2f}")
        cells = {(s[row_key], s[column_key]): s for s in summarize(rows, (row_key, column_key), panel["metric"])}
        means = np.full((len(row_values), len(column_values)), np.nan)
        for i, r in enumerate(row_values):
            for j, c in enumerate(column_values):
                if (r, c) in cells:
                    means[i, j] = scale * cells[r, c]["mean"]
        image = ax.imshow(means, cmap=panel.get("cmap", "viridis"), vmin=panel["vmin"], vmax=panel["vmax"],
                          aspect="auto")
        for (r, c), cell in cells.items():
            i, j = row_values.index(r), column_values.index(c)
            value = (means[i, j] - panel["vmin"]) / (panel["vmax"] - panel["vmin"])
            std = "" if np.isnan(cell["std"]) else " +/- " + fmt.format(scale * cell["std"])
            ax.text(j, i, fmt.format(means[i, j]) + std + f"\n(n = {cell['n']})", ha="center", va="center",
                    fontsize=8, color="black" if value > 0.55 else "white")
        ax.set_xticks(range(len(column_values)), [f"{v:g}" for v in column_values])
        ax.set_yticks(range(len(row_values)), [f"{v:g}" for v in row_values])
        ax.set(xlabel=column_key, ylabel=row_key, title=panel["label"])
        fig.colorbar(image, ax=ax, label=panel["label"], shrink=0.9)
    if title:
        fig.suptitle(title)
    return fig


def hgnn_grid_figure(rows: Sequence[dict], title: str = "") -> plt.Figure:
    """An alpha x tau grid (rows: tau, columns: alpha) as three heatmaps on fixed scales: the HGNN's
    ``L_CE / log C`` and its accuracy on the training batches in each run's selected epoch, and test
    MAP@R (%), each cell the mean +/- std over seeds (:func:`grid_heatmaps`)."""
    return grid_heatmaps(rows, "tau", "alpha", [
        {"metric": "train_hgnn_loss_ratio", "label": "L_CE / log C (1 = chance)", "vmin": 0.0, "vmax": 1.0,
         "cmap": "magma"},
        {"metric": "train_hgnn_accuracy", "label": "HGNN accuracy, training batches", "vmin": 0.0, "vmax": 1.0,
         "cmap": "magma"},
        {"metric": "test_map@r", "label": "test MAP@R (%)", "vmin": 35.0, "vmax": 60.0, "scale": 100.0,
         "fmt": "{:.1f}"},
    ], title=title)


def membership_figure(rows: Sequence[dict], group_key: str = "point", title: str = "") -> plt.Figure:
    """Each run's ``L_CE / log C`` (left) and HGNN accuracy (right) in its selected epoch against its
    mean soft membership in the other classes' hyperedges, on a log axis; one colour per group.

    Args: rows: sweep rows with ``train_hgnn_loss_ratio``, ``train_hgnn_accuracy`` and
    ``train_other_membership`` (drawn at 1e-5 or more, for the log axis); group_key: the column that
    names a run's group (its point).
    """
    import seaborn as sns

    groups = list(dict.fromkeys(r[group_key] for r in rows))
    palette = "tab10" if len(groups) <= 10 else "tab20" if len(groups) <= 20 else "husl"  # distinct hues
    colours = dict(zip(groups, sns.color_palette(palette, len(groups))))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for ax, metric, label, chance in ((axes[0], "train_hgnn_loss_ratio", "L_CE / log C", 1.0),
                                      (axes[1], "train_hgnn_accuracy", "HGNN accuracy on training batches", None)):
        for group in groups:
            points = [(max(r["train_other_membership"], 1e-5), r[metric]) for r in rows if r[group_key] == group]
            ax.scatter(*zip(*points), color=colours[group], label=str(group), s=28, alpha=0.85)
        ax.axvline(1.0, color="grey", ls=":", lw=1, label="other memberships = own (1)")
        if chance is not None:
            ax.axhline(chance, color="black", ls="--", lw=1, label="chance (uniform logits)")
        ax.set(xscale="log", xlabel="summed membership in other hyperedges (log)", ylabel=label,
               ylim=(0, 1.05 if chance is None else 1.15))
    axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    if title:
        fig.suptitle(title)
    return fig


# -- the tuning studies ------------------------------------------------------------------------------


def optimisation_history(studies: Mapping[str, Sequence[dict]], title: str = "") -> plt.Figure:
    """One panel per study (a trials table of :mod:`histlib.tuning`): each trial's validation MAP@R
    (dots: complete; crosses: pruned, at the epoch it stopped) and each loss's best so far (line).
    One y range for every panel; a loss keeps its colour (:data:`LOSS_COLOURS`)."""
    fig, axes = plt.subplots(1, len(studies), figsize=(5.2 * len(studies), 3.8), squeeze=False, sharey=True,
                             constrained_layout=True)
    for ax, (name, rows) in zip(axes.flat, studies.items()):
        for loss in dict.fromkeys(r["loss"] for r in rows):
            trials = sorted((r for r in rows if r["loss"] == loss), key=lambda r: r["trial"])
            colour = LOSS_COLOURS.get(loss, "tab:grey")
            done = [(r["trial"], 100 * r["value"]) for r in trials if r["state"] == "COMPLETE"]
            pruned = [(r["trial"], 100 * r["value"]) for r in trials if r["state"] == "PRUNED" and r["value"] is not None]
            if done:
                ax.scatter(*zip(*done), s=14, color=colour, alpha=0.7)
            if pruned:
                ax.scatter(*zip(*pruned), s=14, color=colour, marker="x", alpha=0.5)
            best, line = -np.inf, []
            for number, value in done:
                best = max(best, value)
                line.append((number, best))
            if line:
                line.append((trials[-1]["trial"], best))  # the best so far, up to the study's last trial
                ax.step(*zip(*line), where="post", color=colour, lw=2,
                        label=f"{LOSS_NAMES.get(loss, loss)} (best {line[-1][1]:.1f})")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(title=name, xlabel="trial (in the order the study ran them)",
               ylabel="validation MAP@R (%)")
        handles, labels = ax.get_legend_handles_labels()
        handles += [Line2D([], [], marker="o", ls="", color="grey"), Line2D([], [], marker="x", ls="", color="grey")]
        ax.legend(handles, labels + ["complete trial", "pruned trial"], fontsize=7, loc="lower right")
    if title:
        fig.suptitle(title)
    return fig


def importance_figure(importances: Mapping[str, Mapping[str, Mapping[str, float]]], title: str = "") -> plt.Figure:
    """Horizontal bars: each study's parameter importances (:func:`histlib.tuning.param_importances`:
    the mean over evaluator seeds, whiskers their range), one panel per study, the parameters in the
    first study's order, one 0-1 scale for every panel."""
    names = list(next(iter(importances.values())))
    fig, axes = plt.subplots(1, len(importances), figsize=(4.4 * len(importances), 0.35 * len(names) + 1.5),
                             squeeze=False, sharex=True, sharey=True, constrained_layout=True)
    for ax, (study, values) in zip(axes.flat, importances.items()):
        mean = np.array([values[n]["importance"] if n in values else 0.0 for n in names])
        low = np.array([values[n]["low"] if n in values else 0.0 for n in names])
        high = np.array([values[n]["high"] if n in values else 0.0 for n in names])
        ax.barh(range(len(names)), mean, xerr=[mean - low, high - mean], color=LOSS_COLOURS["hist"], capsize=3)
        ax.set_yticks(range(len(names)), names)
        ax.set(xlim=(0, 1), xlabel="importance (fANOVA share of the variance)", title=study)
    axes.flat[0].invert_yaxis()  # the shared y axis: the first study's most important parameter on top
    if title:
        fig.suptitle(title)
    return fig


def save_figure(fig: plt.Figure, name: str, folder: str | Path = "figures") -> str:
    """Write ``fig`` to ``folder/name.png`` (stable names; the main command regenerates them)."""
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return str(path)
