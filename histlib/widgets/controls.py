"""What the widgets share: the loss settings' sliders, PNG rendering, messages, PyTorch threads.

- :func:`tau_slider`, :func:`alpha_slider`, :func:`lambda_slider`: the loss settings' controls,
  the same ranges in every tool; :func:`clean` reads a slider without float noise and
  :func:`settings_text` writes a setting as the tools print it.
- :func:`figure_png`: a figure as PNG bytes for an ``ipywidgets.Image`` (the figure is closed at once).
- :func:`message_html`: a warning, error or note as an ``ipywidgets.HTML`` value.
- :func:`torch_threads`: compute on a chosen number of PyTorch threads (see :mod:`histlib.widgets`).
"""

from __future__ import annotations

import contextlib
import html
import io
from collections.abc import Iterator

import ipywidgets as W
import matplotlib.pyplot as plt
import torch

__all__ = ["STYLE", "clean", "settings_text", "tau_slider", "alpha_slider", "lambda_slider", "figure_png",
           "message_html", "torch_threads"]

#: Every control's style: descriptions in one column.
STYLE = {"description_width": "110px"}


def clean(value: float) -> float:
    """A slider's value without float noise: 4 significant digits (31.999999999999996 -> 32.0).

    >>> clean(31.999999999999996), clean(0.30000000000000004)
    (32.0, 0.3)
    """
    return float(f"{float(value):.4g}")


def settings_text(tau: float, alpha: float, lambda_s: float) -> str:
    """The loss settings as the tools print them.

    >>> settings_text(32.0, 1.1, 1.0)
    'tau=32, alpha=1.1, lambda_s=1'
    """
    return f"tau={tau:g}, alpha={alpha:g}, lambda_s={lambda_s:g}"


def tau_slider(value: float) -> W.FloatLogSlider:
    return W.FloatLogSlider(value=value, base=2, min=0, max=8, step=0.5, description="tau",
                            readout_format=".3g", continuous_update=False, style=STYLE,
                            tooltip="temperature of L_D (1 to 256, log scale)")


def alpha_slider(value: float) -> W.FloatSlider:
    return W.FloatSlider(value=value, min=0.0, max=8.0, step=0.1, description="alpha", readout_format=".1f",
                         continuous_update=False, style=STYLE, tooltip="soft hyperedge membership exp(-alpha d)")


def lambda_slider(value: float) -> W.FloatSlider:
    return W.FloatSlider(value=value, min=0.0, max=4.0, step=0.25, description="lambda_s", readout_format=".2f",
                         continuous_update=False, style=STYLE, tooltip="weight of L_CE in L = L_D + lambda_s L_CE")


def figure_png(fig: plt.Figure, dpi: int, close: bool = True) -> bytes:
    """The figure as PNG bytes; the figure is closed unless ``close`` is False."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi)
    finally:
        if close:
            plt.close(fig)
    return buffer.getvalue()


def message_html(text: str, kind: str = "warning") -> str:
    """``text`` (escaped) as HTML in the colour of its ``kind``: "warning", "error" or "note"."""
    colour = {"warning": "#8a4b00", "error": "#a40000", "note": "#333"}[kind]
    weight = "normal" if kind == "note" else "bold"
    return f'<div style="color:{colour}; font-weight:{weight}">{html.escape(text, quote=False)}</div>'


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
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
