"""Figures of one batch's hypergraph: distances, incidence H and propagation G, each sample's loss terms and
gradients, the same batch at several settings, and what tau does to ``L_D``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import FixedLocator, NullLocator

from ..losses import HISTTerms
from .style import as_numpy



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
    from ..functional import incidence_matrix, propagation_matrix

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
    from ..functional import distribution_loss

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
