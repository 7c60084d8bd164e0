"""Figures of the workbook; each function returns a matplotlib ``Figure`` (nothing is shown or saved).

- :func:`hypergraph_figure`: distances, incidence H and propagation G of one batch, as heatmaps.
- :func:`training_curves`: loss and retrieval metrics per epoch from a run's history.
- :func:`embedding_map`: a 2-D map (e.g. UMAP) of embeddings coloured by class, optionally with
  the hyperedges of a batch drawn over it.
- :func:`retrieval_grid`: queries and their nearest neighbours, hits and misses marked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .losses import HISTTerms

__all__ = ["hypergraph_figure", "training_curves", "embedding_map", "retrieval_grid", "save_figure"]


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


def hypergraph_figure(terms: HISTTerms, labels, title: str = "") -> plt.Figure:
    """Heatmaps of one batch's hypergraph: distances to the present classes, H and G.

    Args:
        terms: from ``HISTLoss.compute_terms``. labels: (N,) the batch's labels.
    """
    labels = _numpy(labels)
    order = np.argsort(labels, kind="stable")  # samples grouped by class
    classes = _numpy(terms.hyperedge_classes)
    panels = [
        ("Mahalanobis distance d (present classes)", _numpy(terms.distances)[order][:, classes], "viridis_r"),
        ("incidence H (hyperedge = class)", _numpy(terms.incidence)[order], "magma"),
        ("propagation G", _numpy(terms.propagation)[order][:, order], "magma"),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), constrained_layout=True)
    for ax, (name, values, cmap) in zip(axes, panels):
        image = ax.imshow(values, cmap=cmap, aspect="auto", interpolation="nearest")
        ax.set_title(name, fontsize=10)
        fig.colorbar(image, ax=ax, shrink=0.8)
    axes[0].set_ylabel("sample (sorted by class)")
    for ax in axes[:2]:
        ax.set_xlabel("hyperedge (class present in the batch)")
        ax.set_xticks(range(len(classes)), [str(c) for c in classes], fontsize=7)
    axes[2].set_xlabel("sample")
    loss = f"L = {terms.loss.item():.3f} (L_D {terms.distribution_loss.item():.3f}, L_CE {terms.hgnn_loss.item():.3f})"
    fig.suptitle(f"{title}  {loss}".strip(), fontsize=11)
    return fig


def training_curves(history: Sequence[Mapping[str, float]], metrics: Sequence[str] = ("recall@1", "map@r"),
                    title: str = "") -> plt.Figure:
    """Training loss and validation / test metrics per epoch (``FitResult.history`` rows)."""
    epochs = [row["epoch"] for row in history]
    fig, axes = plt.subplots(1, 1 + len(metrics), figsize=(4.2 * (1 + len(metrics)), 3.4), constrained_layout=True)
    axes[0].plot(epochs, [row["train_loss"] for row in history], marker="o")
    axes[0].set(title="training loss", xlabel="epoch")
    for ax, metric in zip(axes[1:], metrics):
        for split, style in (("val", "--"), ("test", "-")):
            key = f"{split}_{metric}"
            if key in history[0]:
                ax.plot(epochs, [100 * row[key] for row in history], style, marker="o", label=split)
        ax.set(title=f"{metric} (%)", xlabel="epoch")
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig


def embedding_map(coords, labels, class_names: Sequence[str] | None = None, hyperedges=None,
                  max_legend: int = 12, title: str = "") -> plt.Figure:
    """Scatter of 2-D ``coords`` (N, 2) coloured by ``labels`` (N,).

    ``hyperedges`` optionally draws a batch's hypergraph over the map: a tuple
    ``(member_index (M,), incidence (M, E), hyperedge_classes (E,))`` connecting each member to
    the centroid of every hyperedge it belongs to, line opacity = its membership H.
    """
    import seaborn as sns

    coords, labels = _numpy(coords), _numpy(labels)
    classes = np.unique(labels)
    palette = sns.color_palette("husl", len(classes))
    colour = {c: palette[i] for i, c in enumerate(classes)}
    fig, ax = plt.subplots(figsize=(7, 6), constrained_layout=True)
    for c in classes:
        mask = labels == c
        name = class_names[c] if class_names is not None else str(c)
        ax.scatter(coords[mask, 0], coords[mask, 1], s=6, color=colour[c], alpha=0.6,
                   label=name if len(classes) <= max_legend else None)
    if hyperedges is not None:
        members, incidence, edge_classes = (_numpy(v) for v in hyperedges)
        for e, c in enumerate(edge_classes):
            centre = coords[labels == c].mean(axis=0)
            ax.scatter(*centre, marker="*", s=250, color=colour.get(c, "k"), edgecolor="k", zorder=3)
            for m, weight in zip(members, incidence[:, e]):
                ax.plot(*zip(coords[m], centre), color=colour.get(c, "k"), alpha=float(weight) * 0.8, lw=1)
        ax.scatter(coords[members, 0], coords[members, 1], s=40, facecolor="none", edgecolor="k", zorder=3)
    if len(classes) <= max_legend:
        ax.legend(markerscale=3, fontsize=8, loc="best")
    ax.set(xticks=[], yticks=[], title=title)
    return fig


def retrieval_grid(images, labels, queries: Sequence[int], neighbours, class_names=None,
                   title: str = "") -> plt.Figure:
    """Each query (row) with its K nearest neighbours; green frame = same class, red = miss.

    Args:
        images: (N, H, W) or (N, H, W, 3) arrays (uint8 or float in [0, 1]).
        labels: (N,). queries: Q query indices. neighbours: (Q, K) indices, nearest first.
    """
    images, labels, neighbours = _numpy(images), _numpy(labels), _numpy(neighbours)
    k = neighbours.shape[1]
    fig, axes = plt.subplots(len(queries), k + 1, figsize=(1.2 * (k + 1), 1.25 * len(queries)), squeeze=False)
    for row, (query, found) in enumerate(zip(queries, neighbours)):
        for col, index in enumerate([query, *found]):
            ax = axes[row, col]
            ax.imshow(images[index], cmap="gray" if images.ndim == 3 else None)
            ax.set_xticks([]), ax.set_yticks([])
            colour = "black" if col == 0 else ("tab:green" if labels[index] == labels[query] else "tab:red")
            for spine in ax.spines.values():
                spine.set_color(colour)
                spine.set_linewidth(2.5 if col else 1.0)
        name = class_names[labels[query]] if class_names is not None else str(labels[query])
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    axes[0, 0].set_title("query", fontsize=9)
    for col in range(1, k + 1):
        axes[0, col].set_title(f"#{col}", fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def save_figure(fig: plt.Figure, name: str, folder: str = "figures") -> str:
    """Write ``fig`` to ``folder/name.png`` (stable names; the main command regenerates them)."""
    from pathlib import Path

    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return str(path)
