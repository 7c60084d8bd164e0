"""The workbook's interactive tools: live views of one batch, a few seconds of training, a class picker.

Each tool is built from explicit inputs, exposes its ipywidgets controls as attributes and the box
to display as ``.widget``, and redraws through one public method that tests (and benchmarks) call
after setting control values; the controls call it too. Figures come from :mod:`histlib.plots`,
rendered to PNG into ``ipywidgets.Image`` widgets (the figure is closed at once, so nothing leaks
and nothing is shown twice by the inline backend).

- :class:`BatchExplorer`: one real training batch, drawn as the sampler draws it, embedded by the
  initial or the trained state; tau, alpha and lambda_s recompute the loss on cached embeddings
  (milliseconds), batch size, images per class and the state recompute one batch's forward pass.
  Shows H and G on fixed colour scales, each sample's ``L_D`` and ``L_CE``, and the gradient each
  term sends to each embedding, on fixed log scales.
- :class:`QuickTrainer`: fine-tunes a copy of the trained model and loss for a chosen number of
  steps with the chosen tau / alpha / lambda_s, and plots MAP@R on the validation classes against
  the same fine-tuning with the recipe's settings and against the seed-to-seed band of the recipe
  in the committed sweep table (:func:`seed_band`).
- :class:`ClassPicker`: a 2-D map of embeddings showing the chosen classes in fixed colours on
  fixed axes.

Static figures of the same views, for readers without a kernel: :meth:`BatchExplorer.small_multiples`
and :func:`committed_points_figure`.

Small tensors run fastest on one thread: on two busy cores, PyTorch's default two threads made one
loss evaluation take 0.5 s instead of 1 ms and one training step 2.7 s instead of 0.2 s (OpenMP
threads waiting for each other), so the tools compute with ``threads=1`` unless told otherwise.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import html
import io
import math
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import FixedLocator, NullLocator

from .analysis import (batch_composition, draw_batch, summarize, term_gradients, uniform_within_class_share,
                       within_class_share)
from .losses import HISTLoss, HISTTerms
from .plots import class_colours, embedding_map, hypergraph_figure, sample_terms_figure, sweep_figure

__all__ = [
    "BatchExplorer", "QuickTrainer", "Try", "ClassPicker", "SeedBand", "seed_band", "committed_points_figure",
    "G_SCALE", "LOSS_LIMITS", "GRADIENT_LIMITS",
]

#: G's colour scale in the explorer is [0, G_SCALE / N]: a uniform G (alpha = 0) has every entry 1/N.
G_SCALE = 3.0
#: Fixed log-scale limits of the per-sample bars (losses; gradient norms), wide enough for every
#: setting the sliders reach (L_D <= 4 tau + log C, tau <= 256).
LOSS_LIMITS = (1e-3, 2e3)
GRADIENT_LIMITS = (1e-6, 1e1)

_STYLE = {"description_width": "110px"}


# -- helpers --------------------------------------------------------------------------------------


def _keep(cache: dict, key, value, limit: int) -> None:
    """Store ``value`` as the most recently used entry of ``cache``; drop the oldest beyond ``limit``."""
    cache.pop(key, None)
    cache[key] = value
    while len(cache) > limit:
        cache.pop(next(iter(cache)))


def _numpy(tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy() if torch.is_tensor(tensor) else np.asarray(tensor)


def _clean(value: float) -> float:
    """A slider's value without float noise: 4 significant digits (31.999999999999996 -> 32.0)."""
    return float(f"{float(value):.4g}")


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block on ``threads`` PyTorch threads (None: leave the setting alone)."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _png(fig: plt.Figure, dpi: int, close: bool = True) -> bytes:
    """The figure as PNG bytes; the figure is closed unless ``close`` is False."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi)
    finally:
        if close:
            plt.close(fig)
    return buffer.getvalue()


def _message(text: str, kind: str = "warning") -> str:
    colour = {"warning": "#8a4b00", "error": "#a40000", "note": "#333"}[kind]
    weight = "normal" if kind == "note" else "bold"
    return f'<div style="color:{colour}; font-weight:{weight}">{html.escape(text, quote=False)}</div>'


def _fixed_log_axis(ax, limits: tuple[float, float], ylabel: str) -> None:
    """A log y axis with fixed limits, one labelled tick per decade and no minor ticks, and the
    legend pinned to a corner: what a redraw then costs stays small (no tick or legend search)."""
    low, high = (int(math.floor(math.log10(v))) for v in limits)
    ax.set_yscale("log")
    ax.set_ylim(*limits)
    ax.yaxis.set_major_locator(FixedLocator([10.0 ** k for k in range(low, high + 1)]))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_ylabel(ylabel)
    if ax.get_legend() is not None:
        ax.get_legend().set_loc("upper right")


def _tau_slider(value: float) -> W.FloatLogSlider:
    return W.FloatLogSlider(value=value, base=2, min=0, max=8, step=0.5, description="tau",
                            readout_format=".3g", continuous_update=False, style=_STYLE,
                            tooltip="temperature of L_D (1 to 256, log scale)")


def _alpha_slider(value: float) -> W.FloatSlider:
    return W.FloatSlider(value=value, min=0.0, max=8.0, step=0.1, description="alpha", readout_format=".1f",
                         continuous_update=False, style=_STYLE, tooltip="soft hyperedge membership exp(-alpha d)")


def _lambda_slider(value: float) -> W.FloatSlider:
    return W.FloatSlider(value=value, min=0.0, max=4.0, step=0.25, description="lambda_s", readout_format=".2f",
                         continuous_update=False, style=_STYLE, tooltip="weight of L_CE in L = L_D + lambda_s L_CE")


def _same(a, b) -> bool:
    """Equal settings; numbers compared with a tolerance (a table's 1.1 and a config's 1.1)."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b))
    return a == b


def _settings_text(tau: float, alpha: float, lambda_s: float) -> str:
    return f"tau={tau:g}, alpha={alpha:g}, lambda_s={lambda_s:g}"


# -- explore one batch ----------------------------------------------------------------------------


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
            _fixed_log_axis(ax, limits, f"{what} (log scale)")
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
        o, classes = self.order, _numpy(terms.hyperedge_classes)
        return [_numpy(terms.distances)[o][:, classes], _numpy(terms.incidence)[o], _numpy(terms.propagation)[o][:, o]]

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
            for rectangle, value in zip(container, _numpy(values)[o]):
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
        self.tau = _tau_slider(config.tau)
        self.alpha = _alpha_slider(config.alpha)
        self.lambda_s = _lambda_slider(config.lambda_s)
        self.batch_size = W.Dropdown(options=sizes, value=config.batch_size, description="batch size", style=_STYLE)
        self.images_per_class = W.Dropdown(
            options=[("random (the recipe)" if m is None else f"{m} per class", 0 if m is None else int(m))
                     for m in per_class],
            value=config.images_per_class or 0, description="images per class", style=_STYLE)
        names = list(states)
        self.state = W.ToggleButtons(options=names, value=state if state is not None else names[-1],
                                     description="state", style=_STYLE)
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
        return {"tau": _clean(self.tau.value), "alpha": _clean(self.alpha.value),
                "lambda_s": _clean(self.lambda_s.value), "batch_size": int(self.batch_size.value),
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
        self.message.value = _message(text, kind)
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
            with _torch_threads(self.threads):
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
                 + _settings_text(s["tau"], s["alpha"], s["lambda_s"]) + ":")
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
        H, G, each sample's ``L_D`` and ``L_CE``, and the gradient each term sends (log scales).

        Args:
            settings: dicts with any of ``tau``, ``alpha``, ``lambda_s``, ``state`` (the others
                are the controls' current values); the batch is the explorer's current batch.
        """
        config = self.batch_config()
        fig, axes = plt.subplots(len(settings), 4, figsize=(16, 3.0 * len(settings)), squeeze=False,
                                 constrained_layout=True, gridspec_kw={"width_ratios": [1, 1.6, 1.6, 1.6]})
        current = self.settings
        with _torch_threads(self.threads):
            for row, setting in zip(axes, settings):
                s = {**current, **setting}
                labels, terms, gradients = self.compute(s["tau"], s["alpha"], s["lambda_s"], s["state"], config)
                order = torch.argsort(labels, stable=True)
                n = len(labels)
                row[0].imshow(_numpy(terms.incidence[order]), cmap="magma", vmin=0, vmax=1, aspect="auto",
                              interpolation="nearest")
                image = row[1].imshow(_numpy(terms.propagation[order][:, order]), cmap="magma", vmin=0,
                                      vmax=G_SCALE / n, aspect="auto", interpolation="nearest")
                fig.colorbar(image, ax=row[1], shrink=0.8)
                x = np.arange(n)
                for ax, (a, b), limits, ylabel in (
                    (row[2], (terms.sample_distribution_loss, terms.sample_hgnn_loss), LOSS_LIMITS, "loss"),
                    (row[3], (gradients["distribution_loss"], gradients["hgnn_loss"]), GRADIENT_LIMITS,
                     "gradient norm"),
                ):
                    ax.bar(x - 0.2, _numpy(a[order]), 0.4, color="tab:blue", label="L_D")
                    ax.bar(x + 0.2, _numpy(b[order]), 0.4, color="tab:orange",
                           label="lambda_s L_CE" if "gradient" in ylabel else "L_CE")
                    ax.set_xlim(-1, n)
                    ax.legend(fontsize=7, loc="upper right")
                    _fixed_log_axis(ax, limits, f"{ylabel} (log)")
                name = f"{s['state']}\n{_settings_text(s['tau'], s['alpha'], s['lambda_s'])}"
                row[0].set_ylabel(f"{name}\n\nsample (by class)", fontsize=9)
                row[0].set_title("H", fontsize=9)
                row[1].set_title(f"G (scale [0, {G_SCALE:g}/N])", fontsize=9)
                row[2].set_title(f"per-sample L_D {float(terms.distribution_loss):.2f}, L_CE "
                                 f"{float(terms.hgnn_loss):.2f} (means)", fontsize=9)
                row[3].set_title("push each term gives each embedding", fontsize=9)
        for ax in axes[-1]:
            ax.set_xlabel("sample (sorted by class)" if ax is not axes[-1, 0] else "hyperedge")
        if title:
            fig.suptitle(title)
        return fig


# -- train for a few seconds ----------------------------------------------------------------------


@dataclass(frozen=True)
class SeedBand:
    """The seed-to-seed spread of one setting in a committed sweep table.

    ``values`` are the seeds' scores (fractions); ``mean`` and ``std`` (sample standard deviation)
    summarise them; ``description`` says what was trained.
    """

    metric: str
    values: tuple[float, ...]
    mean: float
    std: float
    description: str
    source: str


def seed_band(table: str | Path, key: str, value, metric: str = "val_map@r") -> SeedBand | str:
    """The band of the point ``key == value`` of a sweep table (e.g. ``results/lambda_s.csv``,
    ``lambda_s``, 1.0), or a sentence saying why there is none (no table, no such point, one seed).
    """
    from .sweep import read_table

    table = Path(table)
    rows = read_table(table)
    if not rows:
        return f"No committed sweep table at {table}: run `python -m histlib.sweep {table.stem}` to draw the band."
    rows = [r for r in rows if _same(r.get(key), value) and r.get(metric) is not None]
    if not rows:
        return f"{table.name} has no run with {key} = {value} and a {metric} column: no band to draw."
    summary = summarize(rows, key, metric)[0]
    if summary["n"] < 2:
        return f"{table.name} has only one seed of {key} = {value}: no spread to draw."
    epochs = sorted({r["epochs"] for r in rows if r.get("epochs") is not None})
    trained = f"{'/'.join(map(str, epochs))} epochs" if epochs else "the sweep's budget"
    description = (f"the recipe trained from scratch for {trained}, {summary['n']} seeds (each with its own "
                   f"validation classes): mean +/- std")
    return SeedBand(metric, tuple(float(r[metric]) for r in rows), summary["mean"], summary["std"], description,
                    str(table))


class _Counted:
    """A loader that calls ``on_step(i)`` after its i-th batch has been used (i from 1)."""

    def __init__(self, loader, on_step: Callable[[int], None], offset: int):
        self.loader, self.on_step, self.offset = loader, on_step, offset

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for i, batch in enumerate(self.loader):
            yield batch
            self.on_step(self.offset + i + 1)


@dataclass
class Try:
    """One fine-tuning: its settings, steps, MAP@R on the validation classes (fraction), seconds."""

    tau: float
    alpha: float
    lambda_s: float
    steps: int
    score: float
    seconds: float

    def label(self, defaults: tuple[float, float, float]) -> str:
        """The settings that differ from ``defaults`` (tau, alpha, lambda_s), and the steps."""
        changed = [f"{name}={value:g}" for name, value, default in
                   zip(("tau", "alpha", "lambda_s"), (self.tau, self.alpha, self.lambda_s), defaults)
                   if not _same(value, default)]
        return "\n".join(changed or ["recipe"]) + f"\n{self.steps} steps"


class QuickTrainer:
    """Fine-tune a copy of the trained model and loss for a few steps, then score it.

    Each run continues the trained run where it stopped: the next epoch's batches (seeded as the
    loop seeds them, so two runs see the same batches and augmentations), the recipe's optimiser
    groups (:func:`histlib.training.parameter_groups`) at the learning rates the schedule had
    reached, a fresh Adam. It then computes MAP@R on the validation classes (held-out training
    classes; the test classes stay untouched) and plots it against the same fine-tuning with the
    recipe's settings (trained once per step count and cached) and against the seed band of the
    committed sweep (:func:`seed_band`). The cached model and loss are never modified.

    Args:
        config: the run's config (recipe settings, seed, epochs, schedule).
        data: the run's :class:`~histlib.training.RunData` (``train`` and ``val``).
        model, criterion: the trained state (``FitResult.model``, ``FitResult.criterion``).
        epochs_done: epochs the state was trained for (``FitResult.selected_epoch + 1``).
        start_score: MAP@R on the validation classes before fine-tuning (None: not drawn).
        band: a :class:`SeedBand`, or the sentence saying why there is none.
        steps: ``(min, max, step, value)`` of the steps slider. The default maximum (60, about one
            epoch of the small profile) keeps a first click, which also trains the recipe's
            settings once, under about 30 s on two busy cores (see benchmarks/widget_latency.py).
        threads, dpi: as :class:`BatchExplorer`.

    Attributes: ``tries`` (one :class:`Try` per run), ``references`` (``{steps: Try}`` of the
    recipe's settings), ``progress`` (``IntProgress``), ``status``, ``figure``, ``train`` (the button).
    """

    #: Tries drawn in the figure (the latest ones).
    SHOW_TRIES = 8

    def __init__(self, config, data, model: torch.nn.Module, criterion: HISTLoss, epochs_done: int,
                 start_score: float | None = None, band: SeedBand | str | None = None,
                 steps: tuple[int, int, int, int] = (10, 60, 10, 30), threads: int | None = 1, dpi: int = 72):
        if not isinstance(criterion, HISTLoss):
            raise ValueError(f"QuickTrainer fine-tunes HIST; got a {type(criterion).__name__}")
        if data.val is None:
            raise ValueError("QuickTrainer scores on the validation classes; data.val is None (selection='val' runs "
                             "have them)")
        self.config, self.data, self.model, self.criterion = config, data, model, criterion
        self.epochs_done, self.start_score = int(epochs_done), start_score
        self.band = band if band is not None else "No seed band given."
        self.threads, self.dpi = threads, dpi
        self.tries: list[Try] = []
        self.references: dict[int, Try] = {}
        self.seconds_per_step: float | None = None
        low, high, step, value = steps
        self.tau = _tau_slider(config.tau)
        self.alpha = _alpha_slider(config.alpha)
        self.lambda_s = _lambda_slider(config.lambda_s)
        self.steps = W.IntSlider(value=value, min=low, max=high, step=step, description="steps",
                                 continuous_update=False, style=_STYLE)
        self.train = W.Button(description="fine-tune", icon="play", button_style="primary",
                              tooltip="fine-tune a copy of the trained model with these settings")
        self.progress = W.IntProgress(value=0, min=0, max=value, description="progress", style=_STYLE)
        self.status = W.HTML(_message(self._idle_text(), "note"))
        self.figure = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.train.on_click(self._on_click)
        self.steps.observe(lambda change: self._set_status(self._idle_text()), names="value")
        self.widget = W.VBox([W.HBox([W.VBox([self.tau, self.alpha, self.lambda_s]),
                                      W.VBox([self.steps, W.HBox([self.train, self.progress])])]),
                              self.status, self.figure])
        self.render()

    @classmethod
    def from_result(cls, result, data, results: str | Path, **kwargs) -> "QuickTrainer":
        """From a :class:`~histlib.training.FitResult` and the committed results folder: the band
        is the recipe's point of the ``lambda_s`` sweep (MAP@R on validation classes), when that
        sweep trained the same dataset as the run (the sweeps train the small profile's recipe)."""
        from .training import RECIPES
        from .training.grids import GRIDS

        config = result.config
        swept = RECIPES[GRIDS["lambda_s"].base].dataset
        if config.dataset == swept:
            band = seed_band(Path(results) / "lambda_s.csv", "lambda_s", config.lambda_s, "val_map@r")
        else:
            band = (f"The committed sweeps trained the {swept} recipe, not {config.dataset}: no seed band for this "
                    "run; compare with the recipe's fine-tuning only.")
        selected = result.history[result.selected_epoch]
        return cls(config, data, result.model, result.criterion, result.selected_epoch + 1,
                   start_score=selected.get("val_map@r"), band=band, **kwargs)

    # -- settings ----------------------------------------------------------------------------

    @property
    def defaults(self) -> tuple[float, float, float]:
        return (_clean(self.config.tau), _clean(self.config.alpha), _clean(self.config.lambda_s))

    @property
    def settings(self) -> tuple[float, float, float]:
        return (_clean(self.tau.value), _clean(self.alpha.value), _clean(self.lambda_s.value))

    def _idle_text(self) -> str:
        steps = int(self.steps.value)
        cost = (f"about {self.seconds_per_step * steps + 2:.0f} s per run on this machine (measured)"
                if self.seconds_per_step else "about 0.2 s per step on two busy cores, plus ~2 s to score")
        once = "" if steps in self.references else "; the first run at this step count also trains the " \
                                                   "recipe's settings once, for comparison"
        return f"Fine-tunes for {steps} steps: {cost}{once}."

    def _set_status(self, text: str, kind: str = "note") -> None:
        self.status.value = _message(text, kind)

    def _lr_factor(self) -> float:
        """How far the step schedule had decayed the learning rates after ``epochs_done`` epochs."""
        c = self.config
        scheduled = max(0, self.epochs_done - c.warmup_epochs)
        return c.lr_gamma ** (scheduled // c.lr_step)

    # -- training ----------------------------------------------------------------------------

    def _fine_tune(self, tau: float, alpha: float, lambda_s: float, steps: int, what: str) -> Try:
        """Fine-tune copies of the model and loss for ``steps`` steps; MAP@R on the validation classes."""
        from .runtime import epoch_seed, seed_everything
        from .training import evaluate, parameter_groups, train_loader, train_one_epoch

        start = time.perf_counter()
        config = self.config
        model, loss = copy.deepcopy(self.model), copy.deepcopy(self.criterion)
        loss.tau, loss.alpha, loss.lambda_s = tau, alpha, lambda_s
        device = next(model.parameters()).device
        factor = self._lr_factor()
        groups = parameter_groups(model, loss, config)
        for group in groups:
            group["lr"] *= factor
        optimizer = torch.optim.Adam(groups, weight_decay=config.weight_decay)
        self.progress.max, self.progress.value = steps, 0
        self.progress.description = what

        def on_step(done: int) -> None:
            self.progress.value = done

        done, epoch = 0, self.epochs_done
        while done < steps:
            seed_everything(epoch_seed(config.seed, epoch))
            loader = train_loader(self.data.train, config, epoch)
            stats = train_one_epoch(model, loss, optimizer, _Counted(loader, on_step, done), device,
                                    max_steps=steps - done, progress=False)
            done += len(stats["steps"])
            epoch += 1
        trained = time.perf_counter()
        score = evaluate(model, self.data.val, config, device, progress=False)["map@r"]
        self.seconds_per_step = (trained - start) / steps
        return Try(tau, alpha, lambda_s, steps, score, time.perf_counter() - start)

    def _on_click(self, button=None) -> None:
        self.train.disabled = True
        try:
            self.run()
        except FloatingPointError as error:
            self._set_status(f"Training diverged with {_settings_text(*self.settings)}: {error}. Try a smaller "
                             "tau or lambda_s.", "error")
        except Exception as error:  # never a traceback in the widget: say what failed
            self._set_status(f"Fine-tuning failed ({type(error).__name__}): {error}", "error")
        finally:
            self.train.disabled = False

    def run(self) -> Try:
        """Fine-tune with the controls' settings (and, once per step count, with the recipe's), then
        redraw. Returns the new :class:`Try`."""
        tau, alpha, lambda_s = self.settings
        steps = int(self.steps.value)
        with _torch_threads(self.threads):
            if steps not in self.references:
                self._set_status(f"Training the recipe's settings ({_settings_text(*self.defaults)}) for {steps} "
                                 "steps, once, for comparison ...")
                self.references[steps] = self._fine_tune(*self.defaults, steps, "recipe")
            if (tau, alpha, lambda_s) == self.defaults:
                result = dataclasses.replace(self.references[steps])
            else:
                self._set_status(f"Training {_settings_text(tau, alpha, lambda_s)} for {steps} steps ...")
                result = self._fine_tune(tau, alpha, lambda_s, steps, "yours")
        self.progress.description = "done"
        self.tries.append(result)
        self.render()
        return result

    # -- the figure --------------------------------------------------------------------------

    def verdict(self, result: Try) -> str:
        """One sentence comparing a try with the recipe's settings, on the scale of the seed band."""
        reference = self.references[result.steps]
        difference = 100 * (result.score - reference.score)
        text = (f"{_settings_text(result.tau, result.alpha, result.lambda_s)}, {result.steps} steps: MAP@R "
                f"{100 * result.score:.1f} vs {100 * reference.score:.1f} with the recipe's settings "
                f"({difference:+.1f} points, {result.seconds:.0f} s).")
        if (result.tau, result.alpha, result.lambda_s) == self.defaults:
            return text + " These are the recipe's settings: change a slider and fine-tune again."
        if isinstance(self.band, SeedBand) and math.isfinite(self.band.std):
            spread = 100 * self.band.std
            if abs(difference) < spread:
                return text + (f" The difference is smaller than the recipe's seed-to-seed spread ({spread:.1f} "
                               "points): no difference shown.")
            return text + (f" The difference exceeds the recipe's seed-to-seed spread ({spread:.1f} points); "
                           "confirm it with more seeds (python -m histlib.sweep) before trusting it.")
        return text + " No seed band to judge it against."

    def render(self) -> None:
        """Redraw the figure of the tries (and the status line)."""
        fig, ax = plt.subplots(figsize=(10, 4.2), constrained_layout=True)
        band = self.band
        if isinstance(band, SeedBand):
            low, high = 100 * (band.mean - band.std), 100 * (band.mean + band.std)
            ax.axhspan(low, high, color="tab:green", alpha=0.15,
                       label=textwrap.fill(f"seed-to-seed spread: {band.description}", 42))
            ax.axhline(100 * band.mean, color="tab:green", lw=1)
        if self.start_score is not None:
            ax.axhline(100 * self.start_score, color="grey", ls=":", lw=1.2,
                       label=textwrap.fill(f"the cached model before fine-tuning ({100 * self.start_score:.1f})", 42))
        shown = self.tries[-self.SHOW_TRIES:]
        for i, t in enumerate(shown):
            reference = self.references[t.steps]
            ax.plot([i, i], [100 * reference.score, 100 * t.score], color="grey", lw=1)
            ax.scatter([i], [100 * reference.score], marker="D", facecolor="white", edgecolor="black", zorder=3,
                       label="recipe's settings, same steps and batches" if i == 0 else None)
            ax.scatter([i], [100 * t.score], s=60, color="tab:blue", zorder=4, label="your setting" if i == 0 else None)
        ax.set_xticks(range(len(shown)), [t.label(self.defaults) for t in shown], fontsize=8)
        ax.set_xlim(-0.7, max(len(shown), 3) - 0.3)
        ax.set(ylabel="MAP@R on validation classes (%)",
               title="fine-tuning the cached model: each try against the recipe's settings"
                     + (f" (the last {len(shown)} of {len(self.tries)})" if len(shown) < len(self.tries) else ""))
        if not self.tries:
            ax.text(0.5, 0.5, "press 'fine-tune' to add a point", transform=ax.transAxes, ha="center",
                    va="center", color="grey")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        if not isinstance(band, SeedBand):
            ax.annotate(band, (0.01, 0.01), xycoords="axes fraction", fontsize=7, color="tab:red")
        self.figure.value = _png(fig, self.dpi)
        if self.tries:
            self._set_status(self.verdict(self.tries[-1]))
        else:
            self._set_status(self._idle_text())


def committed_points_figure(results: str | Path, grids: Sequence[tuple[str, str, object]], band: SeedBand | str,
                            metric: str = "val_map@r", title: str = "") -> plt.Figure:
    """The committed sweep points on the validation classes (mean +/- std, each seed a dot), with
    the recipe's seed band shaded across every panel: the static version of :class:`QuickTrainer`.

    Args:
        results: the folder of the sweep tables. grids: ``(table name, key, recipe's value)``,
            e.g. ``[("lambda_s", "lambda_s", 1.0), ("alpha", "alpha", 1.1)]``; missing tables are
            skipped (named in the title). band: from :func:`seed_band`.
    """
    from .sweep import read_table

    panels, missing = [], []
    for name, key, reference in grids:
        rows = read_table(Path(results) / f"{name}.csv")
        rows = [r for r in rows if r.get(metric) is not None]
        if not rows:
            missing.append(name)
            continue
        points = list(dict.fromkeys(r[key] for r in rows))
        panels.append({"title": f"{name} sweep", "x": points, "rows": rows, "key": key, "xlabel": key,
                       "reference": next((p for p in points if _same(p, reference)), None)})
    if not panels:
        fig, ax = plt.subplots(figsize=(7, 2), constrained_layout=True)
        ax.axis("off")
        ax.text(0.5, 0.5, f"No committed sweep table with {metric} in {results} ({', '.join(missing)}).",
                ha="center", va="center")
        return fig
    fig = sweep_figure(panels, metric=metric, ncols=len(panels),
                       title=title + (f" (not yet swept: {', '.join(missing)})" if missing else ""))
    for ax in fig.axes[:len(panels)]:
        if isinstance(band, SeedBand):
            ax.axhspan(100 * (band.mean - band.std), 100 * (band.mean + band.std), color="tab:green", alpha=0.15,
                       label="recipe's seed band")
            ax.legend(fontsize=7)
        ax.set_ylabel("MAP@R on validation classes (%)")
    return fig


# -- pick classes on a map ------------------------------------------------------------------------


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
            description="classes", style=_STYLE)
        self.stage = W.ToggleButtons(options=list(self.maps), value=list(self.maps)[-1], description="map",
                                     style=_STYLE)
        self.stage.layout.display = None if len(self.maps) > 1 else "none"
        self.help = W.HTML(_message("Click a class to show it; Ctrl-click (Cmd-click on macOS) adds or removes "
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
            self.message.value = _message(f"Could not redraw ({type(error).__name__}): {error}", "error")

    def update(self) -> None:
        """Redraw the selected classes on the chosen map; an empty selection shows a message."""
        chosen = [int(c) for c in self.classes.value]
        if not chosen:
            self.message.value = _message("No class selected: click one or more classes in the list "
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
        self.image.value = _png(fig, self.dpi)
        self.image.layout.display = None
        self.message.value = ""
