"""The workbook's interactive tools: live views of one batch, a few seconds of training, a class picker.

Each tool is built from explicit inputs, exposes its ipywidgets controls as attributes and the box
to display as ``.widget``, and redraws through one public method that tests (and benchmarks) call
after setting control values; the controls call it too. Figures come from :mod:`histlib.plots`,
rendered to PNG into ``ipywidgets.Image`` widgets (the figure is closed at once, so nothing leaks
and nothing is shown twice by the inline backend). One module per tool:

- :mod:`~histlib.widgets.batch_explorer`: :class:`BatchExplorer`, one real training batch under
  live tau, alpha, lambda_s, batch size, sampler and state (H, G, per-sample terms and gradients).
- :mod:`~histlib.widgets.quick_trainer`: :class:`QuickTrainer`, fine-tunes a copy of the trained
  model for a few steps with chosen settings (:func:`histlib.training.fine_tune`) and judges MAP@R
  against the recipe's fine-tuning and its seed band (:func:`histlib.analysis.seed_band`).
- :mod:`~histlib.widgets.class_picker`: :class:`ClassPicker`, chosen classes on 2-D maps of
  embeddings in fixed colours on fixed axes.
- :mod:`~histlib.widgets.controls`: what they share (sliders, PNG rendering, messages, threads).

What is not a widget lives with its owner: the seed band in :mod:`histlib.analysis`
(:class:`~histlib.analysis.SeedBand`, :func:`~histlib.analysis.seed_band`), the static figures for
readers without a kernel in :mod:`histlib.plots` (:func:`~histlib.plots.batch_settings_figure`,
which :meth:`BatchExplorer.small_multiples` draws, and :func:`~histlib.plots.committed_points_figure`),
the fine-tuning in :mod:`histlib.training` (:func:`~histlib.training.fine_tune`).

Small tensors run fastest on one thread: on two busy cores, PyTorch's default two threads made one
loss evaluation take 0.5 s instead of 1 ms and one training step 2.7 s instead of 0.2 s (OpenMP
threads waiting for each other), so the tools compute with ``threads=1`` unless told otherwise.
"""

from .batch_explorer import GRADIENT_LIMITS, G_SCALE, LOSS_LIMITS, BatchExplorer
from .class_picker import ClassPicker
from .quick_trainer import QuickTrainer, Try

__all__ = [
    "BatchExplorer", "QuickTrainer", "Try", "ClassPicker", "G_SCALE", "LOSS_LIMITS", "GRADIENT_LIMITS",
]
