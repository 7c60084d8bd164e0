"""Tuning studies: the same Optuna budget for every loss, shared by any number of workers.

    python -m histlib.tuning tuning                   # run (or finish) the study, write results/tuning.csv
    python -m histlib.tuning tuning --storage URL     # the same study in a database server several machines share
    python -m histlib.tuning tuning --export          # only write the tables from the study's storage
    python -m histlib.tuning --list                   # the studies, their regimes and budgets

A study (:data:`histlib.training.grids.TUNINGS`) is one Optuna study per loss, ``trials`` trials
each, over the loss's search space (:func:`histlib.training.grids.search_space`). Each trial trains
the recipe with the sampled settings (seed ``Tuning.seed``) through the sweeps' run folders
(``runs/sweeps/<fingerprint>``: the head-to-head's seed-1 re-run of the best trial is that run) and
returns its validation MAP@R, the score that selected its epoch; the pruner
(:data:`~histlib.training.grids.PRUNER`) reads the validation MAP@R of every epoch. The unseen test
classes play no part.

Workers: every process that runs the same command on the same storage works on the same study.
By default the storage is an SQLite file, ``runs/studies/<name>.db``; ``--storage`` takes any
SQLAlchemy URL, e.g. ``postgresql://user:password@host/database`` for workers on several machines.
The budget counts the trials that are complete, pruned, running or diverged (a run whose loss became
non-finite: a bad setting, not a lost trial): a trial that would exceed it is closed as ``FAIL``
("over budget") before it trains, so two workers never run more than the budget. A worker that dies
stops beating its heartbeat; once ``grace`` seconds pass, the next worker marks its trial ``FAIL``
("lost") and draws a replacement, and a worker waits for the trials still running elsewhere, so
the command returns when the study is complete.

Each trial's sampler is TPE seeded by (study seed, trial number): a one-worker study is exactly
reproducible, and two workers never draw the same start-up points.

The tables: ``results/<name>.csv`` holds one row per trial (loss, number, state, note, value, every
parameter, epochs trained, the selected epoch, seconds, fingerprint, worker, machine, commit),
``results/<name>_curves.csv`` every trial's validation MAP@R per epoch. They are rewritten after
every trial.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import math
import os
import socket
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.trial import TrialState

from .training import (FitResult, RunFolderError, RunInUseError, TrainConfig, config_fingerprint, get_config,
                       load_or_train)
from .sweep import folder_problem
from .tables import metric_value
from .training.grids import PRUNER, TUNINGS, Param, Tuning

__all__ = ["storage_url", "open_study", "run_worker", "trials_table", "export", "distribution", "main",
           "rescore", "rescored_winners", "trial_settings", "restore",
           "study_from_table", "param_importances", "importance_tiers", "study_summary", "OVER_BUDGET", "LOST",
           "DIVERGED", "INFEASIBLE"]

#: The notes a trial's row can carry (its ``note`` column; empty for a normal trial).
OVER_BUDGET, LOST, DIVERGED, INFEASIBLE = "over budget", "lost", "diverged", "infeasible"

#: Seconds between a worker's heartbeats; a running trial silent for GRACE_FACTOR times as long is lost.
HEARTBEAT_SECONDS = 30
GRACE_FACTOR = 4


def distribution(param: Param) -> optuna.distributions.BaseDistribution:
    """The Optuna distribution of a :class:`~histlib.training.grids.Param`.

    >>> distribution(Param("tau", 2.0, 64.0, log=True))
    FloatDistribution(high=64.0, log=True, low=2.0, step=None)
    """
    if param.choices:
        return optuna.distributions.CategoricalDistribution(param.choices)
    if param.integer:
        return optuna.distributions.IntDistribution(int(param.low), int(param.high), log=param.log)
    return optuna.distributions.FloatDistribution(param.low, param.high, log=param.log)


def storage_url(tuning: Tuning, runs_root: Path) -> str:
    """The default storage: an SQLite file ``<runs_root>/studies/<name>.db``."""
    path = Path(runs_root).resolve() / "studies" / f"{tuning.name}.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _storage(url: str, heartbeat: float | None) -> optuna.storages.RDBStorage:
    """Optuna's storage at ``url``; two workers that create its tables at once both get them."""
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    if url.startswith("sqlite"):
        kwargs = {"connect_args": {"timeout": 60}}
    elif url.startswith("postgresql"):  # a lock held by a vanished client fails in a minute, never hangs a worker
        kwargs = {"pool_pre_ping": True, "connect_args": {"options": "-c lock_timeout=60000"}}
    else:
        kwargs = {"pool_pre_ping": True}
    beat = {} if heartbeat is None else {"heartbeat_interval": max(1, round(heartbeat)),
                                         "grace_period": max(2, round(heartbeat * GRACE_FACTOR))}
    for attempt in range(5):
        try:
            with _stable():
                return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, **beat)
        except (IntegrityError, OperationalError, ProgrammingError) as error:
            # the other worker created the tables meanwhile (a unique-constraint or "already exists" race);
            # anything else (a wrong URL, a server that refuses) is reported at once
            race = isinstance(error, IntegrityError) or any(
                text in str(error) for text in ("already exists", "database is locked", "lock timeout"))
            if not race or attempt == 4:
                raise
            gc.collect()  # close the failed attempt's connections before the next one
            time.sleep(0.5 + attempt)


@contextlib.contextmanager
def _stable():
    """Optuna marks its heartbeat API experimental (since v2.9): those warnings are not the user's concern."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


class TrialSeededTPE(optuna.samplers.BaseSampler):
    """TPE whose random state is seeded by (seed, trial number) at the start of every trial."""

    def __init__(self, seed: int, **tpe):
        self._seed, self._tpe = seed, tpe
        self._inner = self._sampler(0)

    def _sampler(self, number: int) -> optuna.samplers.TPESampler:
        with _stable():  # multivariate TPE is marked experimental too
            return optuna.samplers.TPESampler(seed=self._seed * 1_000_003 + number, **self._tpe)

    def before_trial(self, study, trial):
        self._inner = self._sampler(trial.number)
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values):
        self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self):
        self._inner.reseed_rng()


def pruner(tuning: Tuning) -> optuna.pruners.MedianPruner:
    """The one pruner (:data:`~histlib.training.grids.PRUNER`) at this study's number of epochs."""
    epochs = get_config(tuning.base, **tuning.fixed).epochs
    return optuna.pruners.MedianPruner(n_startup_trials=PRUNER["n_startup_trials"],
                                       n_warmup_steps=max(1, math.ceil(PRUNER["warmup_fraction"] * epochs)))


def open_study(tuning: Tuning, loss: str, url: str, heartbeat: float | None = HEARTBEAT_SECONDS) -> optuna.Study:
    """The study of ``loss`` in ``tuning`` (created on first use), named ``<tuning>-<loss>``."""
    if loss not in tuning.losses:
        raise ValueError(f"study {tuning.name!r} tunes {tuning.losses}, not {loss!r}")
    sampler = TrialSeededTPE(tuning.seed, multivariate=True, constant_liar=True)
    return optuna.create_study(storage=_storage(url, heartbeat), study_name=f"{tuning.name}-{loss}",
                               direction="maximize", sampler=sampler, pruner=pruner(tuning), load_if_exists=True)


def _counted(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether a trial uses the budget: complete, pruned, running, diverged or infeasible (a bad setting:
    the loss became non-finite, or the data cannot make its batches; drawn again, TPE would draw it again)."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING):
        return True
    return trial.state == TrialState.FAIL and trial.user_attrs.get("note") in (DIVERGED, INFEASIBLE)


class _Infeasible(Exception):
    """A drawn setting the data cannot train (e.g. more classes per batch than the training split holds)."""


class _OverBudget(Exception):
    pass


def trial_config(tuning: Tuning, loss: str, params: dict, runs_root: Path,
                 data_root: Path | None = None, seed: int | None = None) -> tuple[TrainConfig, str]:
    """The config a trial trains (and its fingerprint): the recipe, the study's fixed settings, the
    sampled ones, the study's seed (or ``seed``: a re-scoring run); its folder ``<runs_root>/<fingerprint>``
    (the sweeps' folders); its data under ``data_root`` (default: the recipe's, relative to the working directory)."""
    values = {**tuning.fixed, "loss": loss, **params, "seed": tuning.seed if seed is None else seed}
    if data_root is not None:
        values["data_root"] = str(data_root)
    fingerprint = config_fingerprint(get_config(tuning.base, **values))
    return get_config(tuning.base, **values, output_dir=str(Path(runs_root).resolve() / fingerprint)), fingerprint


def _objective(tuning: Tuning, loss: str, budget: int, runs_root: Path, train: Callable[..., FitResult],
               data_root: Path | None = None):
    from .sweep import current_commit, machine

    metric = f"val_{tuning.metric}"
    where = {"worker": f"{socket.gethostname()}:{os.getpid()}", "machine": machine(), "commit": current_commit()}

    def objective(trial: optuna.Trial) -> float:
        earlier = [t for t in trial.study.get_trials(deepcopy=False) if t.number < trial.number and _counted(t)]
        if len(earlier) >= budget:
            trial.set_user_attr("note", OVER_BUDGET)
            raise _OverBudget
        params = {p.name: _suggest(trial, p) for p in tuning.space(loss)}
        config, fingerprint = trial_config(tuning, loss, params, runs_root, data_root)
        trial.set_user_attr("fingerprint", fingerprint)
        for key, value in where.items():
            trial.set_user_attr(key, value)
        reported = set()

        def report(row: dict) -> None:
            step = int(row["epoch"])
            trial.report(float(row[metric]), step)
            reported.add(step)
            if trial.should_prune():
                trial.set_user_attr("epochs_trained", step)
                raise optuna.TrialPruned(f"validation MAP@R {row[metric]:.4f} at epoch {step}")

        while True:
            try:
                result = train(config, on_epoch_end=report)
                break
            except RunInUseError:  # the same settings drawn by another worker: wait for its run
                time.sleep(5)
            except FloatingPointError as error:
                trial.set_user_attr("note", DIVERGED)
                trial.set_user_attr("error", str(error))
                raise
            except RunFolderError:
                raise
            except ValueError as error:  # the run refused its settings before training (the data, the sampler)
                if reported:  # it trained epochs first: not a setting the data cannot make, a failure to see
                    raise
                trial.set_user_attr("note", INFEASIBLE)
                trial.set_user_attr("error", str(error))
                raise _Infeasible(str(error)) from None
        for row in result.history:  # epochs of a run found finished or resumed were not reported yet
            if int(row["epoch"]) not in reported:
                trial.report(float(row[metric]), int(row["epoch"]))
        selected = result.history[result.selected_epoch]
        trial.set_user_attr("epochs_trained", len(result.history))
        trial.set_user_attr("selected_epoch", result.selected_epoch + 1)
        return float(selected[metric])

    return objective


def _suggest(trial: optuna.Trial, param: Param):
    if param.or_zero and trial.suggest_categorical(param.zero_flag, (False, True)):
        return 0.0
    if param.choices:
        return trial.suggest_categorical(param.name, param.choices)
    if param.integer:
        return trial.suggest_int(param.name, int(param.low), int(param.high), log=param.log)
    return trial.suggest_float(param.name, param.low, param.high, log=param.log)


def run_worker(tuning: Tuning, url: str, runs_root: Path, *, losses: tuple[str, ...] | None = None,
               trials: int | None = None, heartbeat: float = HEARTBEAT_SECONDS,
               report: Callable[[str], None] = print, on_trial: Callable[[], None] | None = None,
               train: Callable[..., FitResult] | None = None, data_root: Path | None = None) -> None:
    """Work on every loss's study of ``tuning`` until its budget is complete (also elsewhere)."""
    train = train or (lambda config, on_epoch_end: load_or_train(config, replace=True, on_epoch_end=on_epoch_end))
    budget = tuning.trials if trials is None else trials
    for loss in losses or tuning.losses:
        study = open_study(tuning, loss, url, heartbeat)
        objective = _objective(tuning, loss, budget, runs_root, train, data_root)
        while True:
            with _stable():
                optuna.storages.fail_stale_trials(study)
            trials_now = study.get_trials(deepcopy=False)
            counted = [t for t in trials_now if _counted(t)]
            if len(counted) >= budget:
                if any(t.state == TrialState.RUNNING for t in counted):
                    time.sleep(heartbeat)  # finished elsewhere, or lost there: then replaced here
                    continue
                break
            study.optimize(objective, n_trials=1, catch=(_OverBudget, FloatingPointError, _Infeasible),
                           gc_after_trial=False, show_progress_bar=False)
            last = max((t for t in study.get_trials(deepcopy=False)
                        if t.user_attrs.get("worker") == f"{socket.gethostname()}:{os.getpid()}"),
                       key=lambda t: t.number, default=None)
            if last is not None:
                value = "" if last.value is None else f", validation MAP@R {last.value:.3f}"
                report(f"{tuning.name}-{loss} trial {last.number}: {last.state.name}{value} "
                       f"({len([t for t in study.get_trials(deepcopy=False) if _counted(t)])}/{budget})")
            if on_trial is not None:
                on_trial()


#: The trials table's columns before the parameters.
TRIAL_COLUMNS = ("study", "loss", "trial", "state", "note", "value")


def trials_table(tuning: Tuning, url: str) -> tuple[list[dict], list[dict]]:
    """Every trial of every loss of ``tuning`` (one row each) and every reported epoch (curves)."""
    params = list(dict.fromkeys(p.name for loss in tuning.losses for p in tuning.space(loss)))
    allowed = get_config(tuning.base, **{k: v for k, v in tuning.fixed.items() if k == "epochs"}).epochs
    rows, curves = [], []
    for loss in tuning.losses:
        try:
            study = optuna.load_study(study_name=f"{tuning.name}-{loss}", storage=_storage(url, None))
        except KeyError:  # no worker started this loss yet
            continue
        for trial in study.get_trials(deepcopy=False):
            if trial.user_attrs.get("note") == OVER_BUDGET:
                continue  # closed before it trained: not a trial of the study
            attrs = trial.user_attrs
            settings = trial_settings(tuning, loss, trial.params)
            note = attrs.get("note", LOST if trial.state == TrialState.FAIL else "")
            rows.append({"study": tuning.name, "loss": loss, "trial": trial.number, "state": trial.state.name,
                         "note": note, "value": trial.value,
                         **{name: _cell(settings[name]) if name in settings else "" for name in params},
                         "epochs_trained": attrs.get("epochs_trained", len(trial.intermediate_values)),
                         "epochs_allowed": allowed, "patience": tuning.fixed.get("patience"),
                         "selected_epoch": attrs.get("selected_epoch"), "seconds": _seconds(trial),
                         "fingerprint": _fingerprint(tuning, loss, trial), "worker": attrs.get("worker"),
                         "error": attrs.get("error", ""),
                         "machine": attrs.get("machine", ""), "commit": attrs.get("commit", ""),
                         "started": trial.datetime_start.isoformat(timespec="seconds") if trial.datetime_start else ""})
            curves += [{"study": tuning.name, "loss": loss, "trial": trial.number, "epoch": epoch,
                        f"val_{tuning.metric}": value} for epoch, value in sorted(trial.intermediate_values.items())]
    return rows, curves


def trial_settings(tuning: Tuning, loss: str, params: dict) -> dict:
    """A trial's config settings from its Optuna parameters: an ``or_zero`` setting whose switch is on is 0."""
    out = {}
    for param in tuning.space(loss):
        if param.or_zero and params.get(param.zero_flag):
            out[param.name] = 0.0
        elif param.name in params:
            out[param.name] = params[param.name]
    return out


def _fingerprint(tuning: Tuning, loss: str, trial: optuna.trial.FrozenTrial) -> str | None:
    """The fingerprint of the run a trial trained (from its settings: the same under any identity rule)."""
    try:
        return trial_config(tuning, loss, trial_settings(tuning, loss, trial.params), Path("."))[1]
    except (KeyError, ValueError):  # a trial closed before it drew its settings
        return trial.user_attrs.get("fingerprint")


def _seconds(trial: optuna.trial.FrozenTrial) -> float | None:
    """A finished trial's wall time (training, validation, and the test evaluation of a complete run)."""
    if trial.datetime_start is None or trial.datetime_complete is None:
        return None
    return round((trial.datetime_complete - trial.datetime_start).total_seconds(), 1)


def _cell(value):
    return "" if value is None else value


def export(tuning: Tuning, url: str, results: Path) -> Path | None:
    """Write ``results/<name>.csv`` and ``results/<name>_curves.csv`` from the study's storage; None
    (nothing written) when it holds no trial."""
    from .sweep import write_table

    rows, curves = trials_table(tuning, url)  # machine and commit: as each trial recorded them (or empty)
    if not rows:
        return None
    table = Path(results) / f"{tuning.name}.csv"
    write_table(table, rows)
    write_table(Path(results) / f"{tuning.name}_curves.csv", curves)
    return table


def rescore(tuning: Tuning, results: Path, runs_root: Path, *, data_root: Path | None = None,
            train: Callable[[TrainConfig], FitResult] | None = None, report: Callable[[str], None] = print) -> Path:
    """Re-train each loss's ``tuning.rescore_top`` best completed trials with every seed of
    ``tuning.rescore_seeds`` (another validation split of the training classes and another
    initialisation each), so that the winner is chosen on several splits, not on the one split that
    scored the study. Writes ``results/<name>_rescored.csv`` (one row per trial and seed, rewritten
    after each run; rows already there are kept) and returns its path."""
    from .sweep import current_commit, machine
    from .tables import read_table, write_table

    train = train or (lambda config: load_or_train(config, replace=True))
    table = Path(results) / f"{tuning.name}.csv"
    if not table.is_file():
        raise FileNotFoundError(f"{table} is missing: run `python -m histlib.tuning {tuning.name}` first")
    out_path = Path(results) / f"{tuning.name}_rescored.csv"

    def finished() -> list[dict]:  # re-read each time: another worker may have added rows
        rows = read_table(out_path) if out_path.is_file() else []
        return [r for r in rows if isinstance(r.get("value"), float) and math.isfinite(r["value"])]

    trials = read_table(table)
    metric, commit, where = f"val_{tuning.metric}", current_commit(), machine()
    queue = [(loss, row, seed) for loss in tuning.losses
             for row in _top_trials(trials, loss, tuning.rescore_top, table) for seed in tuning.rescore_seeds]
    while queue:
        loss, row, seed = queue.pop(0)
        if any((r["loss"], r["trial"], r["seed"]) == (loss, row["trial"], seed) for r in finished()):
            continue
        settings = {k: v for k, v in tuning.trial_point(table, row).items() if k != "loss"}
        config, fingerprint = trial_config(tuning, loss, settings, runs_root, data_root, seed=seed)
        try:
            result = train(config)
        except RunInUseError:  # another worker re-scores this run: come back to it
            queue.append((loss, row, seed))
            time.sleep(5)
            continue
        value = float(result.history[result.selected_epoch][metric])
        write_table(out_path, finished() + [{
            "study": tuning.name, "loss": loss, "trial": row["trial"], "seed": seed, "value": value,
            "selected_epoch": result.selected_epoch + 1, "epochs": config.epochs, "epochs_run": len(result.history),
            "seconds": round(result.seconds, 1), "fingerprint": fingerprint, "machine": where, "commit": commit}])
        report(f"{tuning.name}-{loss} trial {row['trial']} seed {seed}: validation "
               f"{tuning.metric.upper()} {value:.3f} ({result.seconds:.0f} s)")
    return out_path


def _top_trials(trials: list[dict], loss: str, count: int, table: Path) -> list[dict]:
    done = [r for r in trials if r["loss"] == loss and r["state"] == "COMPLETE"]
    if not done:
        raise ValueError(f"{table} has no completed trial of {loss!r}: finish the study first")
    return sorted(done, key=lambda r: -metric_value(r, "value"))[:count]


def rescored_winners(tuning: Tuning, results: Path) -> dict[str, dict]:
    """Per loss: the re-scored trial with the best mean validation score over the study's own seed and
    ``rescore_seeds`` (``trial``, ``values`` by seed, ``mean``, ``point``: its settings as a grid
    point), from ``results/<name>.csv`` and ``results/<name>_rescored.csv``."""
    from .tables import read_table

    table, rescored_path = Path(results) / f"{tuning.name}.csv", Path(results) / f"{tuning.name}_rescored.csv"
    for path in (table, rescored_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: the {tuning.name!r} study's winners are chosen after "
                                    f"re-scoring; run `python -m histlib.tuning {tuning.name}` first")
    trials, rescored = read_table(table), read_table(rescored_path)
    out = {}
    for loss in tuning.losses:
        candidates = {}
        for row in _top_trials(trials, loss, tuning.rescore_top, table):
            values = {tuning.seed: metric_value(row, "value")}
            values.update({r["seed"]: metric_value(r, "value") for r in rescored
                           if r["loss"] == loss and r["trial"] == row["trial"] and r["seed"] in tuning.rescore_seeds})
            missing = sorted(set(tuning.rescore_seeds) - set(values))
            if missing:
                raise ValueError(f"{rescored_path}: trial {row['trial']} of {loss!r} has no re-scoring run with "
                                 f"seed(s) {missing}; run `python -m histlib.tuning {tuning.name}` to finish it")
            candidates[row["trial"]] = {"trial": row["trial"], "values": values,
                                        "mean": sum(values.values()) / len(values), "study_value": values[tuning.seed],
                                        "point": tuning.trial_point(table, row)}
        out[loss] = max(candidates.values(), key=lambda c: c["mean"])
    return out


def _drawn(space, row: dict) -> tuple[dict, dict]:
    """A trials-table row's settings as the Optuna parameters and distributions its trial drew (the
    inverse of :func:`trial_settings`): an ``or_zero`` setting as its switch, and its value only when
    not 0; a setting the row lacks (a trial that failed before drawing it) left out."""
    params, distributions = {}, {}
    for param in space:
        value = row.get(param.name)
        if param.or_zero:
            params[param.zero_flag] = value == 0
            distributions[param.zero_flag] = optuna.distributions.CategoricalDistribution((False, True))
            if value == 0:
                continue
        if value is None and not (param.choices and None in param.choices):
            continue
        params[param.name], distributions[param.name] = value, distribution(param)
    return params, distributions


def restore(tuning: Tuning, url: str, results: Path, report: Callable[[str], None] = print) -> int:
    """Rebuild each loss's study in the storage at ``url`` from the committed ``results/<name>.csv`` and
    ``<name>_curves.csv`` when the storage holds none of its trials (a fresh checkout: run folders and
    study databases are not committed). Completed, pruned and diverged trials come back with their
    numbers, settings (as drawn), reported epochs, attributes and times, so the study continues where
    it stopped: the next trial's number, TPE's history and the budget are those of the lost storage.
    A lost trial (its worker died), and one that was running when the table was written, come back as
    lost (``FAIL``, not counted by the budget), and a number the table lacks (a trial closed over budget)
    as such a trial, so every trial keeps its number. Returns the trials restored from the table."""
    from datetime import datetime, timedelta

    from .tables import read_table

    table = Path(results) / f"{tuning.name}.csv"
    if not table.is_file():
        return 0
    rows, curves = read_table(table), read_table(Path(results) / f"{tuning.name}_curves.csv")
    restored = 0
    for loss in tuning.losses:
        mine = sorted((r for r in rows if r["loss"] == loss), key=lambda r: r["trial"])
        if not mine:
            continue
        study = open_study(tuning, loss, url, heartbeat=None)
        if study.get_trials(deepcopy=False):
            continue  # the storage has this study: nothing to restore
        space = tuning.space(loss)
        by_number = {row["trial"]: row for row in mine}
        for number in sorted(by_number):
            row = by_number[number]
            while len(study.get_trials(deepcopy=False)) < number:  # closed over budget: left out of the table
                study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL, user_attrs={"note": OVER_BUDGET}))
            params, distributions = _drawn(space, row)
            state, note = TrialState[row["state"]], row.get("note")
            if state in (TrialState.RUNNING, TrialState.WAITING):
                state, note = TrialState.FAIL, LOST
            started = datetime.fromisoformat(row["started"]) if row.get("started") else None
            attrs = {k: row[k] for k in ("fingerprint", "worker", "machine", "commit", "epochs_trained",
                                         "selected_epoch", "error") if row.get(k) not in (None, "")}
            if note:
                attrs["note"] = note
            intermediate = {c["epoch"]: c[f"val_{tuning.metric}"] for c in curves
                            if c["loss"] == loss and c["trial"] == row["trial"]}
            study.add_trial(optuna.trial.FrozenTrial(
                number=row["trial"], state=state,
                value=row["value"] if state in (TrialState.COMPLETE, TrialState.PRUNED) else None,
                values=None, datetime_start=started,
                datetime_complete=started + timedelta(seconds=row.get("seconds") or 0.0) if started else None,
                params=params, distributions=distributions, user_attrs=attrs, system_attrs={},
                intermediate_values=intermediate, trial_id=row["trial"]))
            restored += 1
        report(f"{tuning.name}-{loss}: restored {restored} trial(s) from {table} (the study storage had none)")
    return restored


def study_from_table(rows: list[dict], loss: str, tuning: Tuning | None = None) -> optuna.Study:
    """The completed trials of ``loss`` in a trials table, as an in-memory study (what the
    notebooks analyse: the committed table, not a database). The study's space is that of the
    table's study (``tuning``, or its ``study`` column in :data:`~histlib.training.grids.TUNINGS`); an ``or_zero``
    setting at 0 is its switch on and no value, as the trial drew it."""
    done = [r for r in _checked_trials(rows) if r["loss"] == loss and r["state"] == "COMPLETE"]
    if not done:
        raise ValueError(f"the trials table has no completed trial of {loss!r}")
    tuning = tuning or TUNINGS.get(done[0].get("study"), TUNINGS["tuning"])
    params_of = tuning.space(loss)
    _checked_trials(done, [p.name for p in params_of])
    for row in done:
        for param in params_of:
            if not param.contains(row[param.name]):
                raise ValueError(f"trial {row['trial']} of {loss!r}: {param.name} = {row[param.name]!r} is outside "
                                 f"its search space ({param.describe()}); read the table with histlib.sweep.read_table")
    with _quiet_optuna():
        study = optuna.create_study(direction="maximize", study_name=f"{done[0]['study']}-{loss}")
        for row in done:
            params, space = _drawn(params_of, row)
            study.add_trial(optuna.trial.create_trial(params=params, distributions=space, value=float(row["value"])))
    return study


def _checked_trials(rows: list[dict], columns=()) -> list[dict]:
    """The rows of a trials table (as :func:`histlib.sweep.read_table` types them), or a ValueError
    naming what is missing: the columns every analysis needs, a completed trial's score."""
    rows = list(rows)
    needed = ["loss", "trial", "state", "value", *columns]
    missing = [c for c in needed if rows and c not in rows[0]]
    if missing:
        raise ValueError(f"the trials table has no column {missing} (a table written by histlib.tuning has them)")
    for row in rows:
        if row["state"] == "COMPLETE":
            metric_value(row, "value")  # a complete trial's score: a MetricError names the file, trial and column
    return rows


@contextlib.contextmanager
def _quiet_optuna():
    """Optuna's info lines (stderr) off for a moment: notebooks must print nothing to stderr."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with _stable():
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def study_summary(rows: list[dict]) -> list[dict]:
    """Per loss of a trials table: trials by outcome, the best completed trial and the compute spent.

    >>> rows = [{"loss": "hist", "trial": 0, "state": "COMPLETE", "note": None, "value": 0.5, "seconds": 30.0},
    ...         {"loss": "hist", "trial": 1, "state": "PRUNED", "note": None, "value": 0.1, "seconds": 6.0},
    ...         {"loss": "hist", "trial": 2, "state": "FAIL", "note": "diverged", "value": None, "seconds": None}]
    >>> summary = study_summary(rows)[0]
    >>> summary["trials"], summary["complete"], summary["pruned"], summary["diverged"], summary["best_trial"]
    (3, 1, 1, 1, 0)
    """
    out = []
    rows = _checked_trials(rows)
    for loss in dict.fromkeys(r["loss"] for r in rows):
        trials = [r for r in rows if r["loss"] == loss]
        done = [r for r in trials if r["state"] == "COMPLETE"]
        best = max(done, key=lambda r: r["value"]) if done else None
        out.append({"loss": loss, "trials": sum(r.get("note") != LOST for r in trials),
                    "complete": len(done), "pruned": sum(r["state"] == "PRUNED" for r in trials),
                    "diverged": sum(r.get("note") == DIVERGED for r in trials),
                    "infeasible": sum(r.get("note") == INFEASIBLE for r in trials),
                    "lost": sum(r.get("note") == LOST for r in trials),
                    "best_value": best["value"] if best else math.nan, "best_trial": best["trial"] if best else None,
                    "hours": sum(r.get("seconds") or 0.0 for r in trials) / 3600})
    return out


#: Fewer completed trials than this give importances and correlations that any split would fit.
MIN_TRIALS_FOR_IMPORTANCES = 5


def param_importances(rows: list[dict], loss: str, resamples: int = 40, seed: int = 0,
                      interval: float = 0.9, tuning: Tuning | None = None) -> dict[str, dict[str, float]]:
    """What explains ``loss``'s validation MAP@R across its completed trials, per parameter, with its spread.

    ``importance``: Optuna's fANOVA importance (share of the variance) of the trials as they are;
    ``low`` / ``high``: the central ``interval`` of the importance over ``resamples`` bootstrap
    resamples of the trials (drawn with replacement, each with its own fANOVA seed, from ``seed``):
    how much the number depends on which trials happened to be run. ``rho``: Spearman's correlation
    of the parameter with the score (its direction; NaN for a choice that includes None). Largest
    first; :func:`importance_tiers` groups the parameters whose intervals overlap (no order among
    them). The trials are TPE's, concentrated where it found good scores: importances describe that
    region. An ``or_zero`` setting (``lambda_s`` of the plateau studies) enters as its switch
    (``lambda_s_is_zero``): its value exists only in the trials where the switch is off, and fANOVA
    takes only the settings every trial has.
    """
    import numpy as np
    from scipy.stats import spearmanr

    if resamples < 2:
        raise ValueError(f"param_importances needs at least 2 resamples for an interval, got {resamples}")
    if not 0 < interval < 1:
        raise ValueError(f"interval must lie in (0, 1), got {interval}")
    study = study_from_table(rows, loss, tuning)
    if len(study.trials) < MIN_TRIALS_FOR_IMPORTANCES:
        raise ValueError(f"{len(study.trials)} completed trial(s) of {loss!r}: importances need at least "
                         f"{MIN_TRIALS_FOR_IMPORTANCES} (fewer fit any split of the parameters)")
    if len({t.value for t in study.trials}) == 1:
        raise ValueError(f"every completed trial of {loss!r} scored {study.trials[0].value}: no variance to attribute")
    trials, generator = list(study.trials), np.random.default_rng(seed)
    with _quiet_optuna():
        whole = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed))
        runs = []
        for index in range(resamples):
            drawn = [trials[i] for i in generator.integers(0, len(trials), len(trials))]
            if len({t.value for t in drawn}) == 1:  # a resample with one score has nothing to attribute
                continue
            resampled = optuna.create_study(direction="maximize")
            resampled.add_trials(drawn)
            found = optuna.importance.get_param_importances(
                resampled, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed + 1 + index))
            runs.append({name: float(found.get(name, 0.0)) for name in whole})
    values = [t.value for t in trials]
    tail = 100 * (1 - interval) / 2
    out = {}
    for name in whole:
        each = [run[name] for run in runs]
        column = [t.params[name] for t in trials]
        numeric = all(isinstance(v, (int, float)) for v in column) and len(set(column)) > 1
        rho = float(spearmanr(column, values).statistic) if numeric else math.nan
        out[name] = {"importance": float(whole[name]), "low": float(np.percentile(each, tail)),
                     "high": float(np.percentile(each, 100 - tail)), "rho": rho}
    return dict(sorted(out.items(), key=lambda item: -item[1]["importance"]))


def importance_tiers(importances: dict[str, dict[str, float]]) -> list[list[str]]:
    """The parameters of :func:`param_importances` in tiers, most important first: a parameter opens
    a new tier only when its whole interval lies below the interval of every parameter of the tier
    above; within a tier the data do not order them.

    >>> importance_tiers({"tau": {"importance": 0.6, "low": 0.4, "high": 0.8},
    ...                   "lr": {"importance": 0.2, "low": 0.05, "high": 0.45},
    ...                   "alpha": {"importance": 0.01, "low": 0.0, "high": 0.03}})
    [['tau', 'lr'], ['alpha']]
    """
    tiers: list[list[str]] = []
    for name, value in sorted(importances.items(), key=lambda item: -item[1]["importance"]):
        if tiers and value["high"] >= min(importances[n]["low"] for n in tiers[-1]):
            tiers[-1].append(name)
        else:
            tiers.append([name])
    return tiers


def main(argv: list[str] | None = None) -> int:
    from .paths import DATA, RESULTS, RUNS

    parser = argparse.ArgumentParser(prog="python -m histlib.tuning", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("studies", nargs="*", help=f"study names ({', '.join(TUNINGS)})")
    parser.add_argument("--list", action="store_true", help="list the studies and exit")
    parser.add_argument("--storage", help="an SQLAlchemy URL (default: sqlite file runs/studies/<name>.db)")
    parser.add_argument("--loss", nargs="+", action="extend", help="only these losses of the study")
    parser.add_argument("--export", action="store_true", help="only write the tables from the storage")
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"table folder (default {RESULTS})")
    parser.add_argument("--runs", type=Path, default=RUNS / "sweeps", help="run folders (default runs/sweeps)")
    parser.add_argument("--heartbeat", type=float, default=HEARTBEAT_SECONDS,
                        help=f"seconds between a worker's heartbeats (default {HEARTBEAT_SECONDS}); a trial silent "
                             f"for {GRACE_FACTOR}x as long is lost")
    args = parser.parse_args(argv)
    if args.list or not args.studies:
        for tuning in TUNINGS.values():
            print(f"{tuning.name:<14} {tuning.base:<14} {tuning.trials} trials x {', '.join(tuning.losses)}  "
                  f"{tuning.question}")
        return 0
    unknown = [name for name in args.studies if name not in TUNINGS]
    if unknown:
        parser.error(f"unknown study {unknown}; choose from {', '.join(TUNINGS)}")
    if not (args.heartbeat > 0 and math.isfinite(args.heartbeat)):
        parser.error(f"--heartbeat must be a positive number of seconds, got {args.heartbeat}")
    for folder, flag in ((args.results, "--results"), (args.runs, "--runs"), (args.runs.parent / "studies", "--runs")):
        problem = folder_problem(folder)
        if problem:
            parser.error(f"{flag} {folder}: {problem}")
    if args.storage is not None and not args.storage.strip():
        parser.error("--storage needs an SQLAlchemy URL, e.g. sqlite:///path/study.db; leave it out for the default")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from sqlalchemy.exc import SQLAlchemyError

    for name in args.studies:
        tuning = TUNINGS[name]
        bad = [loss for loss in args.loss or () if loss not in tuning.losses]
        if bad:
            parser.error(f"study {name!r} tunes {', '.join(tuning.losses)}; not {', '.join(bad)}")
        url = args.storage or storage_url(tuning, args.runs.parent)
        try:
            if not args.export:
                print(f"{name}: {tuning.question}\n{name}: {tuning.trials} trials per loss, storage {_safe(url)}")
                restore(tuning, url, args.results)
                run_worker(tuning, url, args.runs, losses=tuple(args.loss) if args.loss else None,
                           heartbeat=args.heartbeat, on_trial=lambda: export(tuning, url, args.results),
                           data_root=DATA)
                export(tuning, url, args.results)
                if tuning.rescore_top and not args.loss:
                    print(f"{name}: re-scoring each loss's best {tuning.rescore_top} trials with seeds "
                          f"{', '.join(map(str, tuning.rescore_seeds))} (other validation splits)")
                    rescore(tuning, args.results, args.runs, data_root=DATA)
            if args.export and url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).is_file():
                raise ValueError(f"no study storage at {url[len('sqlite:///'):]}: nothing to export (run the study "
                                 "first, or give its --storage)")
            table = export(tuning, url, args.results)
            if table is None:
                raise ValueError(f"the storage {_safe(url)} holds no trial of {name!r}: nothing to export")
            print(f"{name}: wrote {table}")
        except (SQLAlchemyError, ImportError, ModuleNotFoundError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            print(f"python -m histlib.tuning {name}: cannot use the study storage {_safe(url)} ({first}); "
                  "--storage takes an SQLAlchemy URL such as sqlite:///path/study.db or "
                  "postgresql://user:password@host/database", file=sys.stderr)
            return 1
        except (ValueError, RunFolderError) as error:
            print(f"python -m histlib.tuning {name}: {error}", file=sys.stderr)
            return 1
    return 0


def _safe(url: str) -> str:
    """A storage URL without its password."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for printing
        return url.split("@")[-1]


if __name__ == "__main__":
    logging.getLogger("optuna").setLevel(logging.WARNING)
    sys.exit(main())
