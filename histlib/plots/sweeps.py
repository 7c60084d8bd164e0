"""Figures of the analysis: sweeps with error bars and seed bands, convergence, two-way grids, the HGNN
question, and the tuning studies (optimisation history, parameter importances)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from ..evaluation import metric_name
from .style import LOSS_COLOURS, LOSS_NAMES



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
    from ..analysis import summarize

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
        ax.set(xlabel=panel.get("xlabel", panel["key"]), ylabel=f"{split}{metric_name(metric.split('_', 1)[1])} (%)")
        ax.set_title("\n".join(textwrap.wrap(panel["title"], 44)), fontsize=9)  # long titles would overlap
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
    from ..analysis import SeedBand, same_setting

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
    from ..analysis import SeedBand

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
    from ..analysis import summarize

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
    the importance of the trials as run, whiskers its 90 % interval over bootstrap resamples of the
    trials), one panel per study, the parameters in the first study's order, one 0-1 scale for every
    panel."""
    names = list(next(iter(importances.values())))
    fig, axes = plt.subplots(1, len(importances), figsize=(4.4 * len(importances), 0.35 * len(names) + 1.5),
                             squeeze=False, sharex=True, sharey=True, constrained_layout=True)
    for ax, (study, values) in zip(axes.flat, importances.items()):
        mean = np.array([values[n]["importance"] if n in values else 0.0 for n in names])
        low = np.array([values[n]["low"] if n in values else 0.0 for n in names])
        high = np.array([values[n]["high"] if n in values else 0.0 for n in names])
        whiskers = [np.clip(mean - low, 0, None), np.clip(high - mean, 0, None)]  # the interval may miss the bar
        ax.barh(range(len(names)), mean, xerr=whiskers, color=LOSS_COLOURS["hist"], capsize=3)
        ax.set_yticks(range(len(names)), names)
        ax.set(xlim=(0, 1), xlabel="importance (fANOVA share of the variance)")
        ax.set_title("\n".join(textwrap.wrap(study, 44)), fontsize=9)  # long study names would overlap
    axes.flat[0].invert_yaxis()  # the shared y axis: the first study's most important parameter on top
    if title:
        fig.suptitle(title)
    return fig
