"""The quick trainer: a few seconds of fine-tuning with other loss settings, judged against the seed band.

:class:`QuickTrainer` fine-tunes a copy of the trained model and loss for a chosen number of steps
with the chosen tau / alpha / lambda_s (:func:`histlib.training.fine_tune`), and plots MAP@R on
the validation classes against the same fine-tuning with the recipe's settings and against the
seed-to-seed band of the recipe in the committed sweep table (:func:`histlib.analysis.seed_band`;
figure: :func:`histlib.plots.fine_tuning_figure`). Its static version for readers without a kernel
is :func:`histlib.plots.committed_points_figure`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import ipywidgets as W
import torch

from ..analysis import SeedBand, same_setting, seed_band
from ..losses import HISTLoss
from ..plots import fine_tuning_figure
from .controls import (STYLE, alpha_slider, clean, figure_png, lambda_slider, message_html, settings_text, tau_slider,
                       torch_threads)

__all__ = ["QuickTrainer", "Try"]


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
                   if not same_setting(value, default)]
        return "\n".join(changed or ["recipe"]) + f"\n{self.steps} steps"


class QuickTrainer:
    """Fine-tune a copy of the trained model and loss for a few steps, then score it.

    Each run continues the trained run where it stopped (:func:`histlib.training.fine_tune`): the
    next epoch's batches (seeded as the loop seeds them, so two runs see the same batches and
    augmentations), the recipe's optimiser groups at the learning rates the schedule had reached,
    a fresh Adam. It then computes MAP@R on the validation classes (held-out training classes; the
    test classes stay untouched) and plots it against the same fine-tuning with the recipe's
    settings (trained once per step count and cached) and against the seed band of the committed
    sweep (:func:`histlib.analysis.seed_band`). The cached model and loss are never modified.

    Args:
        config: the run's config (recipe settings, seed, epochs, schedule).
        data: the run's :class:`~histlib.training.RunData` (``train`` and ``val``).
        model, criterion: the trained state (``FitResult.model``, ``FitResult.criterion``).
        epochs_done: epochs the state was trained for (``FitResult.selected_epoch + 1``).
        start_score: MAP@R on the validation classes before fine-tuning (None: not drawn).
        band: a :class:`~histlib.analysis.SeedBand`, or the sentence saying why there is none.
        steps: ``(min, max, step, value)`` of the steps slider. The default maximum (60, about one
            epoch of the small profile) keeps a first click, which also trains the recipe's
            settings once, under about 30 s on two busy cores (see benchmarks/widget_latency.py).
        threads, dpi: as :class:`~histlib.widgets.BatchExplorer`.

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
        self.tau = tau_slider(config.tau)
        self.alpha = alpha_slider(config.alpha)
        self.lambda_s = lambda_slider(config.lambda_s)
        self.steps = W.IntSlider(value=value, min=low, max=high, step=step, description="steps",
                                 continuous_update=False, style=STYLE)
        self.train = W.Button(description="fine-tune", icon="play", button_style="primary",
                              tooltip="fine-tune a copy of the trained model with these settings")
        self.progress = W.IntProgress(value=0, min=0, max=value, description="progress", style=STYLE)
        self.status = W.HTML(message_html(self._idle_text(), "note"))
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
        from ..training import RECIPES
        from ..training.grids import GRIDS

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
        return (clean(self.config.tau), clean(self.config.alpha), clean(self.config.lambda_s))

    @property
    def settings(self) -> tuple[float, float, float]:
        return (clean(self.tau.value), clean(self.alpha.value), clean(self.lambda_s.value))

    def _idle_text(self) -> str:
        steps = int(self.steps.value)
        cost = (f"about {self.seconds_per_step * steps + 2:.0f} s per run on this machine (measured)"
                if self.seconds_per_step else "about 0.2 s per step on two busy cores, plus ~2 s to score")
        once = "" if steps in self.references else "; the first run at this step count also trains the " \
                                                   "recipe's settings once, for comparison"
        return f"Fine-tunes for {steps} steps: {cost}{once}."

    def _set_status(self, text: str, kind: str = "note") -> None:
        self.status.value = message_html(text, kind)

    # -- training ----------------------------------------------------------------------------

    def _fine_tune(self, tau: float, alpha: float, lambda_s: float, steps: int, what: str) -> Try:
        """Fine-tune copies of the model and loss for ``steps`` steps (:func:`histlib.training.fine_tune`,
        the progress bar following); MAP@R on the validation classes."""
        from ..training import evaluate, fine_tune

        start = time.perf_counter()
        model, loss = copy.deepcopy(self.model), copy.deepcopy(self.criterion)
        loss.tau, loss.alpha, loss.lambda_s = tau, alpha, lambda_s
        self.progress.max, self.progress.value = steps, 0
        self.progress.description = what

        def on_step(done: int) -> None:
            self.progress.value = done

        fine_tune(model, loss, self.data.train, self.config, self.epochs_done, steps, on_step=on_step)
        trained = time.perf_counter()
        score = evaluate(model, self.data.val, self.config, next(model.parameters()).device, progress=False)["map@r"]
        self.seconds_per_step = (trained - start) / steps
        return Try(tau, alpha, lambda_s, steps, score, time.perf_counter() - start)

    def _on_click(self, button=None) -> None:
        self.train.disabled = True
        try:
            self.run()
        except FloatingPointError as error:
            self._set_status(f"Training diverged with {settings_text(*self.settings)}: {error}. Try a smaller "
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
        with torch_threads(self.threads):
            if steps not in self.references:
                self._set_status(f"Training the recipe's settings ({settings_text(*self.defaults)}) for {steps} "
                                 "steps, once, for comparison ...")
                self.references[steps] = self._fine_tune(*self.defaults, steps, "recipe")
            if (tau, alpha, lambda_s) == self.defaults:
                result = dataclasses.replace(self.references[steps])
            else:
                self._set_status(f"Training {settings_text(tau, alpha, lambda_s)} for {steps} steps ...")
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
        text = (f"{settings_text(result.tau, result.alpha, result.lambda_s)}, {result.steps} steps: MAP@R "
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
        """Redraw the figure of the tries (:func:`histlib.plots.fine_tuning_figure`) and the status line."""
        shown = self.tries[-self.SHOW_TRIES:]
        fig = fine_tuning_figure(
            [{"label": t.label(self.defaults), "score": t.score, "reference": self.references[t.steps].score}
             for t in shown],
            self.band, self.start_score, total=len(self.tries), empty_note="press 'fine-tune' to add a point")
        self.figure.value = figure_png(fig, self.dpi)
        if self.tries:
            self._set_status(self.verdict(self.tries[-1]))
        else:
            self._set_status(self._idle_text())


