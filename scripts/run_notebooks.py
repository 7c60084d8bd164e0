"""Execute notebooks with papermill, one line per notebook: what ``scripts/main.sh`` runs.

    python scripts/run_notebooks.py --profile small --out build/notebooks notebooks/0*.ipynb
    python scripts/run_notebooks.py --record notebooks/0*.ipynb     # re-record the committed outputs

``--record`` executes each notebook in place (small profile, no parameter injection, no timing
metadata) so that the committed notebooks carry the outputs nbval compares and GitHub shows.

Each notebook runs top to bottom in its own kernel (on this interpreter: the environment that runs
the script, not whatever kernel the notebook's metadata names) with the working directory ``notebooks/``,
the ``profile`` parameter set, and its executed copy written to ``--out``. Kernels talk to
papermill over IPC sockets instead of TCP, so they print no transport warning. The output is one
line per notebook and the total time. A check that fails (``histlib.workbook.checks``: a trained
number outside its band) is printed in the executed copy and recorded, and the notebook goes on, so
that every figure is still regenerated; a notebook that stops with an error is reported and the
next one runs. At the end the failed checks and notebooks are listed and the exit status is 1.
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

from histlib.workbook.checks import CHECK_LOG


class IPCKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels listen on IPC sockets (local, no network, no warning)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("transport", "ipc")
        # An absolute socket path: the kernel runs in the notebook's folder, the client here.
        folder = tempfile.mkdtemp(prefix="histlib-kernel-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        kwargs.setdefault("ip", str(Path(folder) / "kernel"))
        super().__init__(**kwargs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--profile", default="small", choices=("small", "full"))
    parser.add_argument("--out", type=Path, default=Path("build/notebooks"))
    parser.add_argument("--overrides", default="", help='"KEY=VALUE ..." passed to each notebook\'s overrides')
    parser.add_argument("--seed", type=int, help="the notebooks' seed parameter (default: each notebook's own, 1)")
    parser.add_argument("--record", action="store_true", help="execute in place and keep the outputs (small profile)")
    args = parser.parse_args(argv)
    if args.record:
        return record(args.notebooks)

    import papermill
    from papermill.exceptions import PapermillExecutionError

    warnings.filterwarnings("ignore")  # nbformat's missing-id notices and the like: not the user's concern
    logging.getLogger("papermill").setLevel(logging.ERROR)
    args.out.mkdir(parents=True, exist_ok=True)
    parameters = {"profile": args.profile}
    if args.overrides:
        parameters["overrides"] = args.overrides
    if args.seed is not None:
        parameters["seed"] = args.seed
    total, problems = time.perf_counter(), []
    for notebook in args.notebooks:
        start = time.perf_counter()
        print(f"histlib: {notebook.name:<40}", end=" ", flush=True)
        log = (args.out / notebook.name).with_suffix(".checks.jsonl")
        log.unlink(missing_ok=True)
        os.environ[CHECK_LOG] = str(log.resolve())  # the kernel inherits it: failed checks are recorded there
        error = None
        try:
            papermill.execute_notebook(
                str(notebook), str(args.out / notebook.name), parameters=parameters, cwd=str(notebook.parent),
                progress_bar=False, log_output=False, kernel_manager_class=f"{IPCKernelManager.__module__}.IPCKernelManager",
                kernel_name="python3",  # this interpreter's own kernel, whatever kernel the notebook names
            )
        except PapermillExecutionError as exc:
            error = f"{notebook.name} stopped in cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
        finally:
            del os.environ[CHECK_LOG]
        failed = failed_checks(log)
        problems += [f"{notebook.name}: check failed: {message}" for message in failed]
        if error:
            problems.append(f"{error} (the executed copy with the traceback is {args.out / notebook.name})")
        status = "STOPPED" if error else (f"{len(failed)} check(s) FAILED" if failed else "")
        print(f"{time.perf_counter() - start:6.0f} s {status}".rstrip())
    print(f"histlib: {len(args.notebooks)} notebooks in {time.perf_counter() - total:.0f} s")
    if problems:
        print(f"histlib: {len(problems)} problem(s); the figures of every notebook that ran to its end were "
              "regenerated:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    return 0


def failed_checks(log: Path) -> list[str]:
    """The messages of the checks a notebook recorded as failed (``histlib.workbook.checks.fail``)."""
    if not log.is_file():
        return []
    return [json.loads(line)["message"] for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]


def record(notebooks: list[Path]) -> int:
    """Execute each notebook in place with its own defaults (the small profile) and save its outputs."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    total = time.perf_counter()
    for notebook in notebooks:
        start = time.perf_counter()
        print(f"histlib: recording {notebook.name:<40}", end=" ", flush=True)
        nb = nbformat.read(notebook, as_version=4)
        client = NotebookClient(nb, kernel_name="python3", record_timing=False, timeout=None,
                                resources={"metadata": {"path": str(notebook.parent)}},
                                kernel_manager_class=IPCKernelManager)
        try:
            client.execute()
        except CellExecutionError as error:
            print("FAILED")
            print(f"histlib: {notebook}: {str(error)[:2000]}", file=sys.stderr)
            return 1
        strip_widget_views(nb)
        nbformat.write(nb, notebook)
        print(f"{time.perf_counter() - start:6.0f} s")
    print(f"histlib: {len(notebooks)} notebooks recorded in {time.perf_counter() - total:.0f} s")
    return 0


def strip_widget_views(nb) -> None:
    """Drop live widget state: the notebook's widget metadata, and the outputs of cells that show a
    widget (a view of a kernel object that no longer exists; saved, it renders as a dead
    placeholder). Those cells are tagged nbval-ignore-output."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code" and any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                                            for o in cell.get("outputs", [])):
            cell.outputs, cell.execution_count = [], None


if __name__ == "__main__":
    sys.exit(main())
