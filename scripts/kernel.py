"""The notebooks' Jupyter kernel: the project's environment, registered under one name.

    python scripts/kernel.py register            # by scripts/ensure_env.sh, with the venv's python
    python scripts/kernel.py set notebooks/*.ipynb   # after adding or rewriting a notebook

``register`` installs the kernelspec ``histlib`` whose argv starts with this interpreter (absolute
path), twice: into the environment (``sys.prefix/share/jupyter``), which the environment's own
Jupyter, papermill and nbval look at first, so each clone's commands use that clone's environment;
and per user (``jupyter --data-dir``), so a JupyterLab installed elsewhere offers it too (that copy
names the environment set up last). It does nothing when both already point here, so it is cheap to
run on every command.

``set`` makes a notebook name that kernel (``metadata.kernelspec``) and drops saved widget state
(``metadata.widgets``: stale views of a past kernel, with large PNGs); cells are not touched.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

NAME = "histlib"
NOTEBOOK_KERNELSPEC = {"name": NAME, "display_name": "histlib (.venv)", "language": "python"}


def kernel_dirs() -> dict[str, Path]:
    """Where ``register`` puts the kernelspec: {"sys-prefix": ..., "user": ...}."""
    from jupyter_core.paths import jupyter_data_dir

    return {
        "sys-prefix": Path(sys.prefix, "share", "jupyter", "kernels", NAME),
        "user": Path(jupyter_data_dir(), "kernels", NAME),
    }


def points_here(kernel_dir: Path) -> bool:
    try:
        argv = json.loads((kernel_dir / "kernel.json").read_text())["argv"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return bool(argv) and argv[0] == sys.executable


def register() -> int:
    # the display name says which environment, for a JupyterLab that lists several
    prefix = Path(sys.prefix)
    where = ".venv" if prefix.name == ".venv" and (prefix.parent / "pyproject.toml").is_file() else str(prefix)
    display_name = f"histlib ({where})"
    status = 0
    for scope, kernel_dir in kernel_dirs().items():
        if points_here(kernel_dir):
            continue
        from ipykernel.kernelspec import install

        try:
            if scope == "user":
                install(user=True, kernel_name=NAME, display_name=display_name)
            else:
                install(prefix=sys.prefix, kernel_name=NAME, display_name=display_name)
        except OSError as error:  # e.g. an unwritable home: the environment's copy still serves the project
            print(f"histlib: could not register the Jupyter kernel '{NAME}' in {kernel_dir}: {error}", file=sys.stderr)
            status = 1 if scope == "sys-prefix" else status
            continue
        print(f"histlib: Jupyter kernel '{NAME}' ({display_name}) -> {sys.executable} in {kernel_dir}", file=sys.stderr)
    return status


def set_kernel(path: Path) -> bool:
    """Make the notebook at ``path`` name the histlib kernel and drop its saved widget state.
    Returns whether the file changed. The JSON is rewritten the way Jupyter writes it (indent 1,
    non-ASCII kept, trailing newline), so only those metadata lines change in a diff."""
    text = path.read_text(encoding="utf-8")
    notebook = json.loads(text)
    metadata = notebook.setdefault("metadata", {})
    metadata["kernelspec"] = dict(NOTEBOOK_KERNELSPEC)
    metadata.pop("widgets", None)
    new = json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True


def main(argv: list[str]) -> int:
    if argv[:1] == ["register"] and len(argv) == 1:
        return register()
    if argv[:1] == ["set"] and len(argv) > 1:
        for name in argv[1:]:
            changed = set_kernel(Path(name))
            print(f"{name}: {'kernel set to ' + NAME if changed else 'unchanged'}")
        return 0
    print("usage: python scripts/kernel.py register | set NOTEBOOK...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
