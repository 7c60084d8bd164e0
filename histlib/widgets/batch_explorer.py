"""The batch explorer: one real training batch under live tau, alpha, lambda_s, batch size, sampler and state.

:class:`BatchExplorer` draws the batch as the sampler draws it (:func:`histlib.analysis.draw_batch`)
and embeds it by the initial or the trained state; tau, alpha and lambda_s recompute the loss on
cached embeddings (milliseconds), batch size, images per class and the state recompute one
batch's forward pass. It shows H and G on fixed colour scales (:data:`G_SCALE`), each sample's
``L_D`` and ``L_CE``, and the gradient each term sends to each embedding, on fixed log scales
(:data:`LOSS_LIMITS`, :data:`GRADIENT_LIMITS`). Its static version for readers without a kernel is
:meth:`BatchExplorer.small_multiples` (:func:`histlib.plots.batch_settings_figure`).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import math
import time
from collections.abc import Mapping, Sequence

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import torch

from ..analysis import batch_composition, draw_batch, term_gradients, uniform_within_class_share, within_class_share
from ..losses import HISTLoss, HISTTerms
from ..plots import G_SCALE, as_numpy, batch_settings_figure, fixed_log_axis, hypergraph_figure, sample_terms_figure
from .controls import (STYLE, alpha_slider, clean, lambda_slider, message_html, settings_text, tau_slider,
                       torch_threads)

__all__ = ["BatchExplorer", "G_SCALE", "LOSS_LIMITS", "GRADIENT_LIMITS"]

# G's colour scale in the explorer is [0, G_SCALE / N], as in every figure of G (histlib.plots.G_SCALE):
# a uniform G (alpha = 0) has every entry 1/N.
#: Fixed log-scale limits of the per-sample bars (losses; gradient norms), wide enough for every
#: setting the sliders reach (L_D <= 4 tau + log C, tau <= 256).
LOSS_LIMITS = (1e-3, 2e3)
GRADIENT_LIMITS = (1e-6, 1e1)


def _keep(cache: dict, key, value, limit: int) -> None:
    """Store ``value`` as the most recently used entry of ``cache``; drop the oldest beyond ``limit``."""
    cache.pop(key, None)
    cache[key] = value
    while len(cache) > limit:
        cache.pop(next(iter(cache)))


class _BatchViews:
    """The explorer's two figures for one batch, drawn once by :mod:`histlib.plots` and then
    updated in place: new image data, bar heights and title.

    Creating and laying out a figure costs far more than the few artists that change, so each
    figure is laid out and drawn once without them (axes, ticks, labels, colour bars: the
    background), and a redraw restores that background and draws only the data artists of each
    axes (images, bars, lines, legend, in z-order) and the title (blitting). The figures get their
    own Agg canvas and are closed in pyplot at once: whatever the notebook's backend, nothing is
    shown twice and nothing leaks.
    """

    def __init__(self, key, terms: HISTTerms, labels, gradients, g_max: float, class_names, dpi: int):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        self.key = key
        self.order = np.argsort(np.asarray(labels), kind="stable")
        self.hypergraph = hypergraph_figure(terms, labels, g_max=g_max, class_names=class_names)
        self.sample_terms = sample_terms_figure(terms, labels, gradients)
        for ax, limits, what in zip(self.sample_terms.axes, (LOSS_LIMITS, GRADIENT_LIMITS),
                                    ("loss", "gradient norm")):
            fixed_log_axis(ax, limits, f"{what} (log scale)")
        self._backgrounds = {}
        for fig in (self.hypergraph, self.sample_terms):
            plt.close(fig)
            FigureCanvasAgg(fig)  # becomes fig.canvas
            fig.set_dpi(dpi)
            for artist in self._dynamic(fig):
                artist.set_animated(True)
            fig.canvas.draw()  # the background, everything but the data; the layout engine places the axes ...
            fig.set_layout_engine("none")  # ... once, and they stay there
            self._backgrounds[fig] = fig.canvas.copy_from_bbox(fig.bbox)

    @staticmethod
    def _dynamic(fig: plt.Figure) -> list:
        """The artists a redraw draws: per axes its images, patches and lines in z-order, then its
        legend; the figure's title last."""
        artists = []
        for ax in fig.axes:
            content = sorted([*ax.images, *ax.patches, *ax.lines], key=lambda a: a.get_zorder())
            artists += content + ([ax.get_legend()] if ax.get_legend() is not None else [])
        return artists + ([fig._suptitle] if fig._suptitle is not None else [])

    def panels(self, terms: HISTTerms) -> list[np.ndarray]:
        """The heatmaps' arrays as :func:`histlib.plots.hypergraph_figure` draws them: d to the
        classes present, H and G, samples sorted by class."""
        o, classes = self.order, as_numpy(terms.hyperedge_classes)
        return [as_numpy(terms.distances)[o][:, classes], as_numpy(terms.incidence)[o], as_numpy(terms.propagation)[o][:, o]]

    def show(self, terms: HISTTerms, labels, gradients, title: str) -> None:
        """Set the figures' data to ``terms`` and ``gradients`` (the same batch, any setting)."""
        for image, values in zip(self._images(), self.panels(terms)):
            image.set_data(values)
        self.hypergraph._suptitle.set_text(
            f"{title}   L = {terms.loss.item():.3f} = L_D {terms.distribution_loss.item():.3f} + lambda_s x "
            f"L_CE {terms.hgnn_loss.item():.3f}")
        o = self.order
        heights = [terms.sample_distribution_loss, terms.sample_hgnn_loss,
                   gradients["distribution_loss"], gradients["hgnn_loss"]]
        bars = [container for ax in self.sample_terms.axes[:2] for container in ax.containers]
        for container, values in zip(bars, heights):
            for rectangle, value in zip(container, as_numpy(values)[o]):
                rectangle.set_height(float(value))

    def _images(self):
        return [image for ax in self.hypergraph.axes for image in ax.get_images()]

    def colour_limits(self) -> tuple:
        return tuple(image.get_clim() for image in self._images())

    def image_data(self) -> list[np.ndarray]:
        return [np.asarray(image.get_array()) for image in self._images()]

    def bar_limits(self) -> tuple:
        return tuple(ax.get_ylim() for ax in self.sample_terms.axes[:2])

    def bar_heights(self) -> list[np.ndarray]:
        """Heights of the four bar series: per-sample L_D, L_CE, and the two gradients (sorted by class)."""
        return [np.array([r.get_height() for r in c]) for ax in self.sample_terms.axes[:2] for c in ax.containers]

    def png(self, fig: plt.Figure) -> bytes:
        """The figure with its current data, as PNG bytes (background restored, data drawn)."""
        from PIL import Image

        canvas = fig.canvas
        canvas.restore_region(self._backgrounds[fig])
        for artist in self._dynamic(fig):
            fig.draw_artist(artist)
        width, height = canvas.get_width_height(physical=True)
        buffer = io.BytesIO()
        Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).save(
            buffer, format="png", compress_level=1)
        return buffer.getvalue()


class BatchExplorer:
    """One real training batch under live tau / alpha / lambda_s, batch size, sampler and state.

    Args:
        config: the run's :class:`~histlib.training.TrainConfig` (recipe settings, sampler, seed).
        dataset: the training split the batches are drawn from (``RunData.train``).
        states: ``{name: (model, HISTLoss)}``, e.g. ``{"at initialisation": initial_state(config, C),
            "after training": (result.model, result.criterion)}``. Neither is modified: the losses
            are copied (the sliders set the copies' tau, alpha and lambda_s) and the models run in
            eval mode, their mode restored.
        state: the state shown first (default: the last one).
        class_names: names of the training classes, for the hyperedge axis of small batches.
        batch_sizes, images_per_class: the choices offered; ``None`` in ``images_per_class`` is
            the recipe's random sampling.
        threads: PyTorch threads while computing (None: leave them alone; see the module doc).
        dpi: resolution of the rendered figures.

    Attributes (after :meth:`update`): ``images`` (N, 3, H, W), ``labels`` (N,), ``embeddings``
    (N, D), ``terms`` (:class:`~histlib.HISTTerms`), ``gradients`` (``{"distribution_loss": (N,),
    "hgnn_loss": (N,)}``), ``g_max``, ``colour_limits`` (the heatmaps' (vmin, vmax)),
    ``bar_limits`` (the bar panels' y limits), ``timings`` (ms of the last update by phase) and
    the widgets ``hypergraph`` and ``sample_terms`` (PNG ``Image``), ``summary`` and ``message``
    (``HTML``).
    """

    #: Batches whose images, embeddings and figures are kept (the most recently used), so that going
    #: back to a batch redraws in place.
    KEEP_FIGURES = 8

    def __init__(self, config, dataset, states: Mapping[str, tuple[torch.nn.Module, HISTLoss]],
                 state: str | None = None, class_names: Sequence[str] | None = None,
                 batch_sizes: Sequence[int] = (8, 16, 32, 64, 128),
                 images_per_class: Sequence[int | None] = (None, 2, 4, 8, 16),
                 threads: int | None = 1, dpi: int = 72):
        if not states:
            raise ValueError("BatchExplorer needs at least one state {name: (model, HISTLoss)}")
        for name, (_, loss) in states.items():
            if not isinstance(loss, HISTLoss):
                raise ValueError(f"state {name!r}: the loss must be a HISTLoss, got {type(loss).__name__}")
        self.config, self.dataset, self.class_names = config, dataset, class_names
        self.models = {name: model for name, (model, _) in states.items()}
        self.losses = {name: copy.deepcopy(loss).eval() for name, (_, loss) in states.items()}
        self.threads, self.dpi = threads, dpi
        self.batch_index = 0
        self._batches: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self._embeddings: dict[tuple, torch.Tensor] = {}
        self._holding = False
        self._views: _BatchViews | None = None
        self._figures: dict[tuple, _BatchViews] = {}  # per batch, the figures to update in place
        self.images = self.labels = self.embeddings = self.terms = self.gradients = None
        self.g_max = math.nan
        self.colour_limits: tuple = ()
        self.bar_limits: tuple = ()
        self.timings: dict[str, float] = {}

        sizes = sorted({int(b) for b in batch_sizes} | {config.batch_size})
        sizes = [b for b in sizes if 2 <= b <= len(dataset)]
        per_class = list(dict.fromkeys([None, *images_per_class, config.images_per_class]))
        self.tau = tau_slider(config.tau)
        self.alpha = alpha_slider(config.alpha)
        self.lambda_s = lambda_slider(config.lambda_s)
        self.batch_size = W.Dropdown(options=sizes, value=config.batch_size, description="batch size", style=STYLE)
        self.images_per_class = W.Dropdown(
            options=[("random (the recipe)" if m is None else f"{m} per class", 0 if m is None else int(m))
                     for m in per_class],
            value=config.images_per_class or 0, description="images per class", style=STYLE)
        names = list(states)
        self.state = W.ToggleButtons(options=names, value=state if state is not None else names[-1],
                                     description="state", style=STYLE)
        self.new_batch = W.Button(description="another batch", icon="refresh",
                                  tooltip="draw the next batch the sampler would give (batch 0 of the next epoch)")
        self.message = W.HTML()
        self.summary = W.HTML()
        self.hypergraph = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.sample_terms = W.Image(format="png", layout=W.Layout(max_width="100%"))
        for control in (self.tau, self.alpha, self.lambda_s, self.batch_size, self.images_per_class, self.state):
            control.observe(self._on_change, names="value")
        self.new_batch.on_click(self._on_new_batch)
        self.widget = W.VBox([
            W.HBox([W.VBox([self.tau, self.alpha, self.lambda_s]),
                    W.VBox([self.batch_size, self.images_per_class, W.HBox([self.state, self.new_batch])])]),
            self.message, self.summary, self.hypergraph, self.sample_terms,
        ])
        self.update()

    # -- the values the controls hold --------------------------------------------------------

    @property
    def settings(self) -> dict:
        """The current control values, without slider float noise."""
        return {"tau": clean(self.tau.value), "alpha": clean(self.alpha.value),
                "lambda_s": clean(self.lambda_s.value), "batch_size": int(self.batch_size.value),
                "images_per_class": int(self.images_per_class.value) or None, "state": self.state.value}

    def set(self, **values) -> None:
        """Set several controls (``tau=4, alpha=2, batch_size=32, images_per_class=4, state=...``;
        ``images_per_class=None`` is random sampling) and redraw once."""
        with self._hold():
            for name, value in values.items():
                if name == "images_per_class":
                    value = value or 0
                getattr(self, name).value = value
        self._on_change()

    @contextlib.contextmanager
    def _hold(self):
        self._holding = True
        try:
            yield
        finally:
            self._holding = False

    def _on_change(self, change=None) -> None:
        if self._holding:
            return
        try:
            self.update()
        except Exception as error:  # never a traceback in the widget: say what failed
            self._show_problem(f"Could not redraw ({type(error).__name__}): {error}", "error")

    def _on_new_batch(self, button=None) -> None:
        self.batch_index += 1
        self._on_change()

    def _show_problem(self, text: str, kind: str = "warning") -> None:
        self.message.value = message_html(text, kind)
        for image in (self.hypergraph, self.sample_terms):
            image.layout.display = "none"
        self.summary.value = ""

    # -- the computation ---------------------------------------------------------------------

    def batch_config(self):
        """The config with the chosen batch size and sampler; a ValueError names a bad combination."""
        s = self.settings
        if s["images_per_class"] is not None and s["batch_size"] % s["images_per_class"]:
            raise ValueError(f"A batch of {s['batch_size']} cannot hold {s['images_per_class']} images of each "
                             f"class: choose a batch size that is a multiple of {s['images_per_class']}, "
                             "or random sampling.")
        return dataclasses.replace(self.config, batch_size=s["batch_size"], images_per_class=s["images_per_class"])

    def _batch(self, config) -> tuple[torch.Tensor, torch.Tensor]:
        """(images (N, 3, H, W), labels (N,)) of the current batch; drawn once, then cached."""
        key = (config.batch_size, config.images_per_class, self.batch_index)
        batch = self._batches.get(key) or draw_batch(self.dataset, config, epoch=self.batch_index)
        _keep(self._batches, key, batch, self.KEEP_FIGURES)
        return batch

    def _embed(self, config, state: str, images: torch.Tensor) -> torch.Tensor:
        """(N, D) embeddings of the current batch by ``state``'s model (eval mode); cached."""
        key = (config.batch_size, config.images_per_class, self.batch_index, state)
        embeddings = self._embeddings.get(key)
        if embeddings is None:
            model = self.models[state]
            was_training = model.training
            try:
                with torch.no_grad():
                    embeddings = model.eval()(images.to(next(model.parameters()).device)).detach().cpu()
            finally:
                model.train(was_training)
        _keep(self._embeddings, key, embeddings, self.KEEP_FIGURES * len(self.models))
        return embeddings

    def compute(self, tau: float, alpha: float, lambda_s: float, state: str, config=None
                ) -> tuple[torch.Tensor, HISTTerms, dict[str, torch.Tensor]]:
        """Labels (N,), terms and per-sample gradient norms of the current batch under a setting;
        only the batch's forward pass is cached, the loss is evaluated anew (milliseconds)."""
        config = self.batch_config() if config is None else config
        images, labels = self._batch(config)
        embeddings = self._embed(config, state, images)
        loss = self.losses[state]
        loss.tau, loss.alpha, loss.lambda_s = float(tau), float(alpha), float(lambda_s)
        with torch.no_grad():
            terms = loss.compute_terms(embeddings, labels)
        return labels, terms, term_gradients(loss, embeddings, labels)

    def update(self) -> None:
        """Recompute and redraw for the controls' current values. A combination the sampler cannot
        draw shows a message instead of the figures."""
        start = time.perf_counter()
        s = self.settings
        try:
            config = self.batch_config()
            with torch_threads(self.threads):
                self.images, self.labels = self._batch(config)
                drawn = time.perf_counter()
                self.embeddings = self._embed(config, s["state"], self.images)
                embedded = time.perf_counter()
                _, self.terms, self.gradients = self.compute(s["tau"], s["alpha"], s["lambda_s"], s["state"], config)
        except ValueError as error:  # the sampler's or the config's refusal, in words
            self._show_problem(str(error))
            return
        computed = time.perf_counter()
        n = len(self.labels)
        self.g_max = G_SCALE / n
        title = (f"{s['state']}, batch {self.batch_index} of {n}, "
                 + settings_text(s["tau"], s["alpha"], s["lambda_s"]) + ":")
        key = (config.batch_size, config.images_per_class, self.batch_index)
        self._views = self._figures.pop(key, None) or _BatchViews(
            key, self.terms, self.labels, self.gradients, self.g_max, self.class_names, self.dpi)
        _keep(self._figures, key, self._views, self.KEEP_FIGURES)
        self._views.show(self.terms, self.labels, self.gradients, title)
        self.colour_limits = self._views.colour_limits()
        self.bar_limits = self._views.bar_limits()
        self.hypergraph.value = self._views.png(self._views.hypergraph)
        self.sample_terms.value = self._views.png(self._views.sample_terms)
        drawn_figures = time.perf_counter()
        for image in (self.hypergraph, self.sample_terms):
            image.layout.display = None
        self.message.value = ""
        self.timings = {"batch": 1e3 * (drawn - start), "forward": 1e3 * (embedded - drawn),
                        "loss": 1e3 * (computed - embedded), "figures": 1e3 * (drawn_figures - computed),
                        "total": 1e3 * (drawn_figures - start)}
        self.summary.value = self._summary_html()

    def _summary_html(self) -> str:
        t, labels = self.terms, self.labels
        composition = batch_composition(labels)
        rows = torch.arange(len(labels))
        own = t.incidence[rows, torch.searchsorted(t.hyperedge_classes, labels)]
        accuracy = float((t.logits.argmax(1) == labels).double().mean())
        log_c = math.log(self.losses[self.state.value].num_classes)
        s = self.settings
        lines = [
            f"<b>batch</b>: {composition['samples']} samples, {composition['classes']} hyperedges "
            f"({composition['singletons']} singletons)",
            f"<b>L</b> = L_D + lambda_s L_CE = {float(t.distribution_loss):.3f} + {s['lambda_s']:g} x "
            f"{float(t.hgnn_loss):.3f} = {float(t.loss):.3f} &nbsp; (chance for both terms: log C = {log_c:.2f})",
            f"<b>G</b>'s weight within a class {within_class_share(t.propagation, labels):.3f} "
            f"(uniform G: {uniform_within_class_share(labels):.3f}); own hyperedge's share of H "
            f"{float((own / t.incidence.sum(1)).mean()):.3f}; HGNN accuracy {accuracy:.2f}",
            f"G's colour scale [0, {G_SCALE:g}/N] = [0, {self.g_max:.3g}], brighter entries clipped; bars on fixed "
            f"log scales &nbsp;·&nbsp; redrawn in {self.timings['total']:.0f} ms",
        ]
        return "<br>".join(lines)

    # -- the static version ------------------------------------------------------------------

    def small_multiples(self, settings: Sequence[Mapping], title: str = "") -> plt.Figure:
        """The explorer's view at several settings, one row each, on the explorer's fixed scales:
        H, G, each sample's ``L_D`` and ``L_CE``, and the gradient each term sends (log scales);
        drawn by :func:`histlib.plots.batch_settings_figure`.

        Args:
            settings: dicts with any of ``tau``, ``alpha``, ``lambda_s``, ``state`` (the others
                are the controls' current values); the batch is the explorer's current batch.
        """
        config = self.batch_config()
        current = self.settings
        rows = []
        with torch_threads(self.threads):
            for setting in settings:
                s = {**current, **setting}
                labels, terms, gradients = self.compute(s["tau"], s["alpha"], s["lambda_s"], s["state"], config)
                rows.append({"name": f"{s['state']}\n{settings_text(s['tau'], s['alpha'], s['lambda_s'])}",
                             "labels": labels, "terms": terms, "gradients": gradients})
        return batch_settings_figure(rows, G_SCALE, LOSS_LIMITS, GRADIENT_LIMITS, title=title)
