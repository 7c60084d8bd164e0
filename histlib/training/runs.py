"""A run on disk: the one owner of a run folder (``TrainConfig.output_dir``).

Everything that writes, reads or compares the files of a run lives here; the training loop and the
workbook both go through it. A run folder holds::

    manifest.json    written first: the config, its fingerprint, the run id, status running/finished
    run.lock         held (flock) by the process training into the folder; the kernel releases it
                     when that process dies, even by kill -9
    checkpoint.pt    the state after the last finished epoch (resume continues from it)
    selected.pt      the selected model and loss state (validation, last or best-on-test epoch)
    history.json     per-epoch rows and per-step losses, typed
    metrics.csv      the per-epoch rows again, for spreadsheets (never read back)
    results.json     written last: the selection rule, the selected epoch, its test metrics
    epochs/          per-epoch model snapshots, when ``keep_epoch_models`` is set

Every artefact carries the run id of the manifest, so files of two different runs in one folder are
never served together: :func:`read_run` refuses a mixed folder. Every file is written atomically
(a per-process temporary file, then a rename), so a crash leaves the previous version or the new one.

Identity: two configs describe the same run when they agree in every field except ``output_dir``
and ``data_root``: where the run and its data live is not what the run is, so a sweep started from
another working directory or machine (a relative ``data_root`` resolves against the working
directory) finds the same runs. The dataset is named by ``dataset``; a weights file given as
``pretrained`` is compared by its normalised path.

    >>> from histlib.training import get_config
    >>> a = get_config("glyphs", output_dir="runs/a", data_root="data")
    >>> b = get_config("glyphs", output_dir="runs/b/", data_root="/elsewhere/data/")
    >>> config_fingerprint(a) == config_fingerprint(b)
    True
    >>> config_differences(a, get_config("glyphs", lr=1e-3))
    ['lr']
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch

from .config import TrainConfig
from .factory import build_criterion, build_model

__all__ = [
    "FitResult", "RunFolder", "RunFolderError", "RunInUseError", "RunExistsError",
    "config_identity", "config_fingerprint", "config_differences", "read_run", "atomic_write_bytes",
]

FORMAT_VERSION = 1
ARTEFACTS = ("manifest.json", "checkpoint.pt", "selected.pt", "history.json", "metrics.csv", "results.json", "epochs",
             "data_split.json")
#: The files histlib writes inside its subfolders (anything else there is the user's and is kept).
_OWN_FILES_IN = {"epochs": re.compile(r"epoch_\d+\.pt|\.epoch_\d+\.pt\.\d+\.[0-9a-f]+\.tmp"),
                 "tensorboard": re.compile(r"events\.out\.tfevents\..+")}
#: A temporary file of an atomic write that a crash left behind (see ``_temporary``).
_TEMPORARY = re.compile(r"\.[^/]+\.\d+\.[0-9a-f]{8}\.tmp")
#: Fields that say where a run and its data live, not what the run is: left out of its identity.
_LOCATION_FIELDS = ("output_dir", "data_root")
#: What a manifest must hold (anything else is a damaged folder, never a KeyError).
_MANIFEST_KEYS = {"run_id": str, "status": str, "config": dict, "fingerprint": str}
# Fields added after FORMAT_VERSION 1, left out of the identity at their default value: runs written
# before they existed (whose manifests lack them) keep their identity and fingerprint.
_LATER_FIELDS = {"hypergraph": "per_gpu", "hgnn_propagation": "hypergraph", "hgnn_batchnorm": True,
                 "incidence_variances": "learned", "hgnn_gradient": "full", "frozen_trunk": False,
                 "patience": None, "min_delta": 0.0, "hyperedge_distance": "mahalanobis", "membership": "soft"}


class RunFolderError(ValueError):
    """A run folder cannot be used as asked; the message names the folder and what to do."""


class RunInUseError(RunFolderError):
    """Another live process is training into the folder."""


class RunExistsError(RunFolderError):
    """The folder holds another run's files and neither resume nor overwrite was asked for."""


# -- config identity ---------------------------------------------------------------------------


def config_identity(config: TrainConfig | dict) -> dict[str, Any]:
    """The fields that make a run what it is, JSON-typed: all but where it lives (``output_dir``,
    ``data_root``) and the fields added later at their default value; a weights path normalised."""
    values = config.to_dict() if isinstance(config, TrainConfig) else dict(config)
    values = json.loads(json.dumps(values))  # tuples -> lists, as stored on disk
    for name in _LOCATION_FIELDS:
        values.pop(name, None)
    for name, default in _LATER_FIELDS.items():
        if values.get(name, default) == default:
            values.pop(name, None)
    if isinstance(values.get("pretrained"), str):
        values["pretrained"] = os.path.abspath(os.path.expanduser(values["pretrained"]))
    return values


def config_fingerprint(config: TrainConfig | dict) -> str:
    """16 hex digits identifying the run a config describes (see :func:`config_identity`)."""
    text = json.dumps(config_identity(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_differences(a: TrainConfig | dict, b: TrainConfig | dict) -> list[str]:
    """Sorted names of the identity fields in which ``a`` and ``b`` differ."""
    x, y = config_identity(a), config_identity(b)
    return sorted(k for k in x.keys() | y.keys() if x.get(k) != y.get(k))


# -- the result of a run -------------------------------------------------------------------------


@dataclass
class FitResult:
    """A finished run: what :func:`histlib.training.fit` returns and :func:`read_run` reads back.

    history: one row per epoch (``epoch``, ``train_loss``, ``val_*``, ``test_*``, ...), typed.
    steps: one row per training step (``epoch``, ``step``, ``loss`` and, for HIST,
    ``distribution_loss`` / ``hgnn_loss``). selected_epoch: 0-based. test_metrics: of the selected
    model. model: the selected model (eval mode); criterion: the loss with the selected epoch's
    state (HIST's learned class distributions), or None when not loaded.
    """

    history: list[dict] = field(default_factory=list)
    selection: str = "val"
    selected_epoch: int = -1
    test_metrics: dict = field(default_factory=dict)
    output_dir: Path | None = None
    model: torch.nn.Module | None = None
    criterion: torch.nn.Module | None = None
    steps: list[dict] = field(default_factory=list)
    config: TrainConfig | None = None
    run_id: str = ""
    seconds: float = 0.0  # training and evaluation time of the run (all its processes)


# -- small file helpers ------------------------------------------------------------------------


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file unique to this process, then rename."""
    tmp = _temporary(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _write_json(path: Path, value: Any) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=1) + "\n").encode())


def _save_torch(path: Path, value: Any) -> None:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunFolderError(f"{path} is not readable JSON ({type(error).__name__}: {error}); the run "
                             "folder is damaged: start the run again with overwrite") from None


def _load_torch(path: Path, kind: str, map_location="cpu") -> dict:
    try:
        value = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises EOFError, RuntimeError, pickle errors... for bad files
        raise RunFolderError(f"{path} is not a readable histlib {kind} ({type(error).__name__}: {error}); "
                             "it may have been cut short by a crash: start the run again with overwrite") from None
    if not isinstance(value, dict) or value.get("format") != f"histlib-{kind}":
        raise RunFolderError(f"{path} is not a histlib {kind} (written by another program or an older "
                             "histlib); start the run again with overwrite")
    return value


# -- the folder ------------------------------------------------------------------------------------


class RunFolder:
    """The files of one run (see the module docstring). ``RunFolder(path).status()`` says what it holds."""

    def __init__(self, path: str | Path):
        self.path = Path(os.path.abspath(os.path.expanduser(str(path))))

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def file(self, name: str) -> Path:
        return self.path / name

    # -- what is there
    def manifest(self) -> dict | None:
        """The manifest, or None when the folder has none."""
        path = self.file("manifest.json")
        if not path.is_file():
            return None
        manifest = _read_json(path)
        if not isinstance(manifest, dict) or manifest.get("format") != "histlib-run":
            raise RunFolderError(f"{path} is not a histlib run manifest; choose another output_dir or overwrite")
        problems = [f"{key!r} ({kind.__name__})" for key, kind in _MANIFEST_KEYS.items()
                    if not isinstance(manifest.get(key), kind)]
        if not problems and not {"dataset", "loss", "seed"} <= set(manifest["config"]):
            problems = ["a config with dataset, loss and seed"]
        if problems or manifest["status"] not in ("running", "finished"):
            what = (f"lacks (or mistypes) {', '.join(problems)}" if problems
                    else f"has status {manifest['status']!r}")
            raise RunFolderError(f"{path} {what}: the run folder is damaged; start the run again with overwrite")
        return manifest

    def has_artefacts(self) -> bool:
        return any(self.file(name).exists() for name in ARTEFACTS)

    def status(self) -> str:
        """"empty", "unknown" (run files without a manifest), "damaged" (a manifest that cannot be
        read or lacks what a run records), "running" (its process lives, and it is not this one),
        "interrupted" or "finished"."""
        if not self.has_artefacts():
            return "empty"
        try:
            manifest = self.manifest()
        except RunFolderError:
            return "damaged"
        if manifest is None:
            return "unknown"
        if manifest["status"] == "finished":
            return "finished"
        holder = self.holder()
        return "running" if holder is not None and holder != os.getpid() else "interrupted"

    def holds_run_of(self, config: TrainConfig) -> bool:
        """Whether the folder's manifest describes a run of ``config`` (in any status; never a damaged one)."""
        try:
            manifest = self.manifest()
        except RunFolderError:
            return False
        return manifest is not None and not config_differences(manifest["config"], config)

    def describe(self, config: TrainConfig | None = None) -> str:
        """One line saying what the folder holds, relative to ``config`` when given."""
        status = self.status()
        if status in ("empty", "unknown", "damaged"):
            if status == "damaged":
                try:
                    self.manifest()
                except RunFolderError as error:
                    return f"{self.path} holds a damaged run ({error})"
            return {"empty": f"{self.path} holds no run",
                    "unknown": f"{self.path} holds run files without a manifest.json (another program or an "
                               "older histlib wrote them)"}[status]
        manifest = self.manifest()
        text = f"{self.path} holds a{'n' if status == 'interrupted' else ''} {status} run"
        if config is not None:
            changed = config_differences(manifest["config"], config)
            text += " of this config" if not changed else f" of another config (differs in {changed})"
        return text

    # -- locking
    def holder(self) -> int | None:
        """PID of the live process holding the folder's lock, or None."""
        path = self.file("run.lock")
        if not path.is_file():
            return None
        try:
            with open(path, "r+") as f:
                if _try_lock(f):
                    _unlock(f)
                    return None
                return _pid_in(path)
        except OSError:
            return None

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder for this process; :class:`RunInUseError` when a live process holds it.

        Also checks, before any training, that the folder can be created and written.
        """
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            f = open(self.file("run.lock"), "a+")
        except OSError as error:
            raise RunFolderError(f"cannot write the run folder {self.path}: {error.strerror or error}; "
                                 "choose a writable output_dir") from None
        try:
            if not _try_lock(f):
                pid = _pid_in(self.file("run.lock"))
                raise RunInUseError(f"{self.path} is in use by another training process (PID {pid or '?'}); "
                                    "wait for it to finish, or choose another output_dir")
            f.seek(0)
            f.truncate()
            f.write(f"{os.getpid()} {socket.gethostname()} {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
            f.flush()
            try:
                yield
            finally:
                _unlock(f)
        finally:
            f.close()

    # -- writing a run (call under lock())
    def start(self, config: TrainConfig, *, resume: bool = False, overwrite: bool = False) -> dict | None:
        """Prepare the folder for training ``config``; returns the checkpoint to resume from, or None.

        resume: continue the run of this config in the folder (its checkpoint must exist).
        overwrite: delete another run's files first. Neither: the folder must hold no run files.
        """
        status = self.status()
        if resume:
            if status in ("unknown", "damaged"):
                raise RunFolderError(f"cannot resume: {self.describe()}; start again with overwrite")
            manifest = self.manifest()
            if manifest is None or not self.file("checkpoint.pt").is_file():
                raise RunFolderError(f"cannot resume: {self.path} holds no checkpoint.pt to continue from; "
                                     "start without resume")
            changed = config_differences(manifest["config"], config)
            if changed:
                raise RunFolderError(f"cannot resume {self.path}: the config differs in {changed}")
            checkpoint = self.read_checkpoint(manifest)
            with self._writable("resume the run in"):
                self._write_manifest(config, manifest["run_id"], "running", manifest.get("started"))
            return checkpoint
        if status != "empty":
            if not overwrite:
                resumable = status == "interrupted" and self.holds_run_of(config) and self.file("checkpoint.pt").is_file()
                options = "pass resume (--resume) to continue it, overwrite (--overwrite) to replace it" if resumable \
                    else "pass overwrite (--overwrite) to replace " + ("it" if status in ("finished", "interrupted")
                                                                     else "its run files")
                raise RunExistsError(f"{self.describe(config)}; {options}, or choose another output_dir")
            with self._writable("replace the run in"):
                self.clear()
        with self._writable("start a run in"):
            self._write_manifest(config, uuid.uuid4().hex, "running")
        return None

    @contextlib.contextmanager
    def _writable(self, doing: str) -> Iterator[None]:
        """An OSError while writing the folder becomes a RunFolderError that names it."""
        try:
            yield
        except OSError as error:
            raise RunFolderError(f"cannot {doing} {self.path}: {error.strerror or error}"
                                 f"{f' ({error.filename})' if error.filename else ''}; choose a writable output_dir"
                                 ) from None

    def own_files(self) -> tuple[list[Path], list[Path]]:
        """The files in the folder that histlib wrote (its run files, the epoch snapshots, TensorBoard's
        event files, a crashed atomic write's temporary files) and the others (a user's notes,
        anywhere in the folder), each sorted."""
        own, foreign = [], []
        for path in sorted(p for p in self.path.rglob("*") if p.is_file() or p.is_symlink()):
            relative = path.relative_to(self.path)
            top = relative.parts[0]
            if len(relative.parts) == 1:
                mine = top in ARTEFACTS or top == "run.lock" or bool(_TEMPORARY.fullmatch(top))
            else:
                mine = top in _OWN_FILES_IN and bool(_OWN_FILES_IN[top].fullmatch(path.name))
            (own if mine else foreign).append(path)
        return own, foreign

    def clear(self) -> None:
        """Delete the run files histlib wrote (not the lock); files it did not write are kept, wherever
        they are in the folder, and so are the folders that hold them."""
        own, _ = self.own_files()
        for path in own:
            if path.name != "run.lock":
                path.unlink()
        for name in _OWN_FILES_IN:  # the folders histlib made, bottom-up, where nothing else is left
            top = self.file(name)
            if top.is_dir() and not top.is_symlink():
                for folder in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [top]:
                    with contextlib.suppress(OSError):
                        folder.rmdir()  # only an empty folder goes

    def _write_manifest(self, config: TrainConfig, run_id: str, status: str, started: str | None = None) -> None:
        import histlib

        _write_json(self.file("manifest.json"), {
            "format": "histlib-run", "version": FORMAT_VERSION, "run_id": run_id,
            "fingerprint": config_fingerprint(config), "status": status,
            "started": started or time.strftime("%Y-%m-%dT%H:%M:%S"),
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S"), "histlib": histlib.__version__,
            "config": config.to_dict(),
        })

    @property
    def run_id(self) -> str:
        manifest = self.manifest()
        if manifest is None:
            raise RunFolderError(f"{self.path} has no manifest.json")
        return manifest["run_id"]

    def save_checkpoint(self, state: dict) -> None:
        """The resumable state after an epoch (model, loss, optimiser, ..., history, epoch)."""
        _save_torch(self.file("checkpoint.pt"), {"format": "histlib-checkpoint", "run_id": self.run_id, **state})

    def save_selected(self, model_state: dict, criterion_state: dict, epoch: int, selection: str) -> None:
        """The selected model and the loss's state at that epoch; ``epoch`` is 1-based."""
        _save_torch(self.file("selected.pt"), {"format": "histlib-selected", "run_id": self.run_id, "epoch": epoch,
                                               "selection": selection, "model": model_state,
                                               "criterion": criterion_state})

    def save_epoch_model(self, model_state: dict, epoch: int) -> None:
        """A snapshot of the model after ``epoch`` (1-based; 0 = the initialisation)."""
        self.file("epochs").mkdir(exist_ok=True)
        _save_torch(self.file("epochs") / f"epoch_{epoch:03d}.pt",
                    {"format": "histlib-epoch", "run_id": self.run_id, "epoch": epoch, "model": model_state})

    def write_history(self, history: list[dict], steps: list[dict]) -> None:
        """``history.json`` (typed, read back) and ``metrics.csv`` (for people and spreadsheets)."""
        _write_json(self.file("history.json"), {"format": "histlib-history", "run_id": self.run_id,
                                                "epochs": history, "steps": steps})
        columns = list(dict.fromkeys(k for row in history for k in row))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)
        atomic_write_bytes(self.file("metrics.csv"), text.getvalue().encode())

    def finish(self, config: TrainConfig, results: dict) -> None:
        """Write ``results.json`` and mark the run finished (the last two writes of a run)."""
        manifest = self.manifest()
        _write_json(self.file("results.json"), {"format": "histlib-results", "run_id": manifest["run_id"],
                                                "fingerprint": manifest["fingerprint"], **results,
                                                "config": config.to_dict()})
        self._write_manifest(config, manifest["run_id"], "finished", manifest.get("started"))

    # -- reading
    def read_checkpoint(self, manifest: dict | None = None, map_location="cpu") -> dict:
        manifest = manifest or self.manifest()
        state = _load_torch(self.file("checkpoint.pt"), "checkpoint", map_location)
        self._check_belongs(state, "checkpoint.pt", manifest)
        return state

    def read_selected(self, map_location="cpu") -> dict:
        """``selected.pt``, checked to be a histlib selected model of this folder's run."""
        state = _load_torch(self.file("selected.pt"), "selected", map_location)
        self._check_belongs(state, "selected.pt", self.manifest())
        return state

    def _check_belongs(self, value: dict, name: str, manifest: dict) -> None:
        if value.get("run_id") != manifest["run_id"]:
            raise RunFolderError(f"{self.path} mixes two runs: {name} belongs to run {value.get('run_id')}, the "
                                 f"manifest to run {manifest['run_id']}; start the run again with overwrite")

    def epoch_model(self, epoch: int) -> dict:
        """The model state saved after ``epoch`` (needs ``keep_epoch_models``)."""
        path = self.file("epochs") / f"epoch_{epoch:03d}.pt"
        if not path.is_file():
            raise RunFolderError(f"{path} does not exist: the run kept no model of epoch {epoch} "
                                 "(train with keep_epoch_models=True)")
        state = _load_torch(path, "epoch")
        self._check_belongs(state, path.name, self.manifest())
        return state["model"]


def read_run(config: TrainConfig, *, map_location="cpu") -> FitResult:
    """The finished run of ``config`` in ``config.output_dir``, every file checked to belong to it.

    Raises :class:`RunFolderError` when the folder holds no finished run of this config, or mixes
    files of different runs; :class:`RunInUseError` while a process trains into it.
    """
    folder = RunFolder(config.output_dir)
    status = folder.status()
    if status == "running":
        raise RunInUseError(f"{folder.path} is being trained by process {folder.holder()}; wait for it to finish")
    if status != "finished":
        raise RunFolderError(f"no finished run: {folder.describe(config)}")
    manifest = folder.manifest()
    changed = config_differences(manifest["config"], config)
    if changed:
        raise RunFolderError(f"{folder.describe(config)}")
    results = _checked(folder.file("results.json"), _read_json(folder.file("results.json")), _RESULTS_KEYS)
    history = _checked(folder.file("history.json"), _read_json(folder.file("history.json")), _HISTORY_KEYS)
    if not history["epochs"] or not 1 <= results["selected_epoch"] <= len(history["epochs"]):
        raise RunFolderError(f"{folder.file('history.json')} has {len(history['epochs'])} epochs, and results.json "
                             f"selects epoch {results['selected_epoch']}: the run folder is damaged; start the run "
                             "again with overwrite")
    for name, value in (("results.json", results), ("history.json", history)):
        folder._check_belongs(value, name, manifest)
    selected = folder.read_selected(map_location)
    model = build_model(config)
    load_state(model, selected.get("model"), folder.file("selected.pt"), "model")
    criterion = build_criterion(config, results["num_classes"])
    load_state(criterion, selected.get("criterion"), folder.file("selected.pt"), "loss")
    return FitResult(
        history=history["epochs"], selection=results["selection"], selected_epoch=results["selected_epoch"] - 1,
        test_metrics=results["test_metrics"], output_dir=folder.path, model=model.eval(),
        criterion=criterion.eval(), steps=history["steps"], config=config, run_id=manifest["run_id"],
        seconds=results["seconds"],
    )


#: What results.json and history.json must hold (anything else is a damaged folder, never a KeyError).
_RESULTS_KEYS = {"test_metrics": dict, "selection": str, "selected_epoch": int, "num_classes": int,
                 "seconds": (int, float)}
_HISTORY_KEYS = {"epochs": list, "steps": list}


def _checked(path: Path, value: Any, keys: dict) -> dict:
    """``value`` (a file's JSON) when it is an object with every key of the expected type."""
    if not isinstance(value, dict):
        raise RunFolderError(f"{path} holds a JSON {type(value).__name__}, not the object histlib writes: the run "
                             "folder is damaged; start the run again with overwrite")
    missing = [key for key, kind in keys.items() if not isinstance(value.get(key), kind)
               or isinstance(value.get(key), bool)]
    if missing:
        raise RunFolderError(f"{path} lacks {', '.join(map(repr, missing))} (or holds the wrong type): the run "
                             "folder is damaged; start the run again with overwrite")
    return value


def load_state(module: torch.nn.Module, state: Any, path: Path, what: str) -> None:
    """``module.load_state_dict(state)``, a :class:`RunFolderError` naming ``path`` when it does not fit."""
    if not isinstance(state, dict):
        raise RunFolderError(f"{path} holds no {what} state: the run folder is damaged; start the run again with "
                             "overwrite")
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError) as error:
        first = str(error).strip().splitlines()
        raise RunFolderError(f"{path} holds a {what} of another shape than this config builds "
                             f"({first[0] if first else type(error).__name__} ...): it was trained with other "
                             "settings; start the run again with overwrite") from None


# -- the lock, portable enough ------------------------------------------------------------------------

try:
    import fcntl

    def _try_lock(f) -> bool:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _unlock(f) -> None:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)

except ImportError:  # pragma: no cover - Windows: a lock held by a live PID
    def _try_lock(f) -> bool:
        pid = _pid_in(Path(f.name))
        if pid is None or pid == os.getpid():
            return True
        try:
            os.kill(pid, 0)
            return False
        except OSError:
            return True

    def _unlock(f) -> None:
        pass


def _pid_in(path: Path) -> int | None:
    try:
        first = path.read_text().split()
        return int(first[0]) if first else None
    except (OSError, ValueError):
        return None

