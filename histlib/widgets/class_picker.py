"""The class picker: chosen classes on 2-D maps of embeddings, in fixed colours on fixed axes.

:class:`ClassPicker` shows the selected classes of one of several maps (e.g. one UMAP fitted on
several stages of training) with :func:`histlib.plots.embedding_map`, the other classes grey for
context; colours (:func:`histlib.plots.class_colours`) and axes never change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import torch

from ..plots import class_colours, embedding_map
from .controls import STYLE, figure_png, message_html

__all__ = ["ClassPicker"]


class ClassPicker:
    """Choose classes to show on 2-D maps of embeddings, in fixed colours on fixed axes.

    Args:
        maps: ``{name: coords}``, each (N, 2) for the same N points (e.g. one UMAP fitted on several
            stages of training); a toggle chooses among them when there are several.
        labels: (N,) class labels. colours: (C, 3), ``colours[label]`` (:func:`histlib.plots.class_colours`).
        class_names: ``class_names[label]``. classes: the labels offered (default: all in ``labels``).
        selected: the labels selected first (default: the first three offered).

    Attributes: ``classes`` (``SelectMultiple``), ``stage`` (``ToggleButtons``), ``image``,
    ``message``; after :meth:`update`, ``drawn_colours`` (``{label: RGB}``) and ``limits``.
    """

    def __init__(self, maps: Mapping[str, np.ndarray], labels, colours: np.ndarray | None = None,
                 class_names: Sequence[str] | None = None, classes: Sequence[int] | None = None,
                 selected: Sequence[int] | None = None, dpi: int = 72):
        self.maps = {name: np.asarray(xy, dtype=float) for name, xy in maps.items()}
        self.labels = np.asarray(labels.cpu() if torch.is_tensor(labels) else labels).astype(int)
        if not self.maps or any(xy.shape != (len(self.labels), 2) for xy in self.maps.values()):
            raise ValueError(f"every map must have shape (N, 2) with N = {len(self.labels)} (the labels)")
        offered = [int(c) for c in (np.unique(self.labels) if classes is None else classes)]
        self.colours = class_colours(int(self.labels.max()) + 1) if colours is None else np.asarray(colours)
        self.class_names = class_names
        self.dpi = dpi
        everything = np.concatenate(list(self.maps.values()))
        pad = 0.04 * (everything.max(0) - everything.min(0))
        self.limits = tuple((float(lo - p), float(hi + p)) for lo, hi, p in
                            zip(everything.min(0), everything.max(0), pad))
        self.drawn_colours: dict[int, tuple] = {}
        names = [(class_names[c] if class_names is not None else str(c), c) for c in offered]
        self.classes = W.SelectMultiple(
            options=names, value=tuple(offered[:3] if selected is None else selected), rows=min(12, len(names)),
            description="classes", style=STYLE)
        self.stage = W.ToggleButtons(options=list(self.maps), value=list(self.maps)[-1], description="map",
                                     style=STYLE)
        self.stage.layout.display = None if len(self.maps) > 1 else "none"
        self.help = W.HTML(message_html("Click a class to show it; Ctrl-click (Cmd-click on macOS) adds or removes "
                                    "one, Shift-click selects a range. The other classes stay grey for context; "
                                    "colours and axes never change.", "note"))
        self.message = W.HTML()
        self.image = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.classes.observe(self._on_change, names="value")
        self.stage.observe(self._on_change, names="value")
        self.widget = W.VBox([self.stage, W.HBox([W.VBox([self.classes, self.help],
                                                         layout=W.Layout(width="330px")), self.image]),
                              self.message])
        self.update()

    def _on_change(self, change=None) -> None:
        try:
            self.update()
        except Exception as error:  # never a traceback in the widget
            self.message.value = message_html(f"Could not redraw ({type(error).__name__}): {error}", "error")

    def update(self) -> None:
        """Redraw the selected classes on the chosen map; an empty selection shows a message."""
        chosen = [int(c) for c in self.classes.value]
        if not chosen:
            self.message.value = message_html("No class selected: click one or more classes in the list "
                                          "(Ctrl/Shift-click, Cmd on macOS, selects several).")
            self.image.layout.display = "none"
            self.drawn_colours = {}
            return
        xy = self.maps[self.stage.value]
        fig, ax = plt.subplots(figsize=(6.5, 5.5), constrained_layout=True)
        rest = ~np.isin(self.labels, chosen)
        ax.scatter(xy[rest, 0], xy[rest, 1], s=4, color="lightgrey", alpha=0.6, zorder=0)
        mask = ~rest
        embedding_map(xy[mask], self.labels[mask], self.colours, self.class_names, ax=ax, limits=self.limits, size=12,
                      title=f"{self.stage.value}: {len(chosen)} of {len(np.unique(self.labels))} classes")
        self.drawn_colours = {int(c): tuple(np.round(self.colours[c], 6)) for c in chosen}
        self.image.value = figure_png(fig, self.dpi)
        self.image.layout.display = None
        self.message.value = ""
