"""Maps of the embedding space (2-D projections, stages of training, a batch's hyperedges) and retrieval grids."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from .style import as_numpy



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
