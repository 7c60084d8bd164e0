"""Figures of the plateau rule and of the membership prediction test (issue "Experiments that can
answer their questions")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

__all__ = ["selected_epochs_figure", "predictions_figure"]


def selected_epochs_figure(report: Sequence[Mapping], max_at_last: float, title: str = "") -> plt.Figure:
    """One bar per table (rows of :func:`histlib.plateau.table_report`): the share of its runs that
    select their last allowed epoch, on a fixed [0, 1] axis, the rule's limit as a dashed line; a
    fixed-budget table (nothing selected) is left out. Bars above the line are tables whose runs were
    still improving when they stopped."""
    rows = [r for r in report if r["plateaued"] != "fixed budget"]
    fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(rows) + 1.4))
    y = np.arange(len(rows))
    shares = np.array([r["share_at_last"] for r in rows], dtype=float)
    colours = np.where(shares <= max_at_last, "tab:green", "tab:red")
    ax.barh(y, shares, color=colours)
    for yi, row in zip(y, rows):
        text = f"{row['at_last']}/{row['runs']} (epoch {row['most_epochs']})"
        if row["share_at_last"] > 0.7:  # inside a long bar, in white
            ax.text(row["share_at_last"] - 0.01, yi, text, va="center", ha="right", fontsize=7, color="white")
        else:
            ax.text(row["share_at_last"] + 0.01, yi, text, va="center", fontsize=7)
    ax.axvline(max_at_last, color="black", ls="--", lw=1, label=f"the rule: at most {max_at_last:.0%}")
    ax.set_yticks(y, [r["table"].removesuffix(".csv") for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the table's runs that select their last allowed epoch")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title or "Selected epochs per results table", fontsize=10)
    fig.tight_layout()
    return fig


def predictions_figure(rows: Sequence[Mapping], threshold: float, learned_below: float, title: str = "") -> plt.Figure:
    """Each tested setting (rows of ``results/membership_predictions.csv`` with ``observed``): its
    first-epoch predictor (x, with its range over seeds) against the observed ``L_CE / log C`` (y);
    the rule's threshold (vertical) and the line between learning and not (horizontal) split the
    plane into quadrants where a prediction held (lower left, upper right) or failed."""
    fig, ax = plt.subplots(figsize=(8.0, 4.2))
    for row in rows:
        held = row["predicted"] == row["observed"]
        x, y = row["predictor"], row["observed_ratio"]
        ax.errorbar(x, y, xerr=[[x - row["predictor_min"]], [row["predictor_max"] - x]], fmt="o" if held else "X",
                    color="tab:green" if held else "tab:red", ms=7, capsize=2, lw=1)
    ax.axvline(threshold, color="black", ls="--", lw=1, label=f"rule: learns below {threshold:g}")
    ax.axhline(learned_below, color="grey", ls=":", lw=1, label=f"learned: L_CE / log C < {learned_below:g}")
    ax.plot([], [], "o", color="tab:green", label="prediction held")
    ax.plot([], [], "X", color="tab:red", label="prediction failed")
    ax.set_xscale("log")
    low = min(r["predictor_min"] for r in rows) if rows else 0.1
    high = max(r["predictor_max"] for r in rows) if rows else 10.0
    ax.set_xticks([t for t in (0.1, 0.25, 0.5, 1, 2, 4, 8, 16) if low / 1.5 <= t <= high * 1.5] or [threshold])
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("predictor: first epoch's summed soft membership\nin other classes' hyperedges (mean and range over seeds)")
    ax.set_ylabel("observed L_CE / log C\n(median over seeds)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title or "The membership condition as a prediction", fontsize=10)
    fig.tight_layout()
    return fig
