"""Where the project's folders are: one place, each overridable by an environment variable.

``HISTLIB_HOME`` is the project folder (default: the checkout this package sits in, else the
working directory); ``HISTLIB_DATA``, ``HISTLIB_RUNS``, ``HISTLIB_RESULTS`` and ``HISTLIB_FIGURES``
move one folder each (default: ``data/``, ``runs/``, ``results/``, ``figures/`` under it). The
values are read once, when the module is imported.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ROOT", "DATA", "RUNS", "RESULTS", "FIGURES"]


def _project_root() -> Path:
    if "HISTLIB_HOME" in os.environ:
        return Path(os.environ["HISTLIB_HOME"]).expanduser().resolve()
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and (checkout / "histlib").is_dir():
        return checkout  # an editable install or a source checkout
    return Path.cwd().resolve()  # an installed package: the folder the user works in


def _path(variable: str, default: Path) -> Path:
    return Path(os.environ[variable]).expanduser().resolve() if variable in os.environ else default


ROOT = _project_root()
DATA = _path("HISTLIB_DATA", ROOT / "data")
RUNS = _path("HISTLIB_RUNS", ROOT / "runs")
RESULTS = _path("HISTLIB_RESULTS", ROOT / "results")
FIGURES = _path("HISTLIB_FIGURES", ROOT / "figures")
