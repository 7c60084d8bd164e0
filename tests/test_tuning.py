"""Tuning studies: the search spaces, the budget, pruning, reproducibility, and workers sharing a study
(two processes on SQLite, a killed worker, and the same on a real PostgreSQL server)."""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from histlib import tuning
from histlib.sweep import read_table
from histlib.training import FitResult, TrainConfig, get_config
from histlib.training.grids import GRIDS, SEARCH_SPACES, SHARED_SPACE, TUNINGS, point_label, search_space

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("true", "1")


def fake_train(score_of):
    """A train function for ``run_worker`` without training: ``score_of(config)`` per epoch (a list)."""

    def train(config: TrainConfig, on_epoch_end=None) -> FitResult:
        history = []
        for epoch, value in enumerate(score_of(config), start=1):
            if value is None:
                raise FloatingPointError(f"non-finite loss nan at step {epoch}; lower the learning rates")
            row = {"epoch": epoch, "train_loss": 1.0, "val_map@r": value}
            history.append(row)
            if on_epoch_end is not None:
                on_epoch_end(row)
        best = max(range(len(history)), key=lambda i: history[i]["val_map@r"])
        return FitResult(history, "val", best, {"map@r": 0.0}, Path(config.output_dir), None, None, 1, config)

    return train


def sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'study.db'}"


# -- the search spaces ----------------------------------------------------------------------------


def test_every_tuned_knob_is_a_config_field_and_covers_the_papers_default():
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    defaults = {"hist": get_config("cub"), "proxy_anchor": TrainConfig(), "multi_similarity": TrainConfig()}
    for loss, own in SEARCH_SPACES.items():
        for param in SHARED_SPACE + own:
            assert param.name in fields, param
            if not param.choices:
                assert param.low < param.high
                value = getattr(defaults[loss], param.name)
                assert param.low <= value <= param.high, (loss, param, value)  # the paper's setting is inside
    # the knobs the issue names: HIST's tau, alpha, lambda_s and the two learning rates; the shared ones
    assert {p.name for p in search_space("hist")} >= {"tau", "alpha", "lambda_s", "lr_ds", "hgnn_lr_factor", "lr",
                                                      "batch_size", "images_per_class"}
    assert {p.name for p in search_space("multi_similarity")} >= {"ms_alpha", "ms_beta", "ms_base"}
    # both samplers are in every loss's space (the old grid gave m-per-class sampling to one loss only)
    assert all(p.choices == (None, 4) for p in SHARED_SPACE if p.name == "images_per_class")
    with pytest.raises(KeyError, match="no search space for loss 'arcface'"):
        search_space("arcface")


def test_every_loss_of_a_study_gets_the_same_budget_and_the_head_to_heads_derive_from_them():
    assert TUNINGS["tuning"].trials >= 20 and TUNINGS["frozen_tuning"].trials >= 60
    assert GRIDS["head_to_head"].derive_from == "tuning" and GRIDS["frozen_head_to_head"].derive_from == "frozen_tuning"
    for name in ("tuning", "frozen_tuning"):
        study = TUNINGS[name]
        assert study.losses == ("hist", "proxy_anchor", "multi_similarity")
        grid = GRIDS[GRIDS["head_to_head"].name if name == "tuning" else "frozen_head_to_head"]
        assert (grid.base, grid.fixed) == (study.base, study.fixed)  # the re-runs train what was tuned
    # one pruner, whose warm-up is the same fraction of every study's epochs
    assert tuning.pruner(TUNINGS["tuning"])._n_warmup_steps == 2  # 8 epochs
    assert tuning.pruner(TUNINGS["frozen_tuning"])._n_warmup_steps == 8  # 30 epochs


# -- one worker, in process -----------------------------------------------------------------------


def test_a_study_runs_its_budget_prunes_on_validation_and_counts_a_diverged_trial(tmp_path):
    study = dataclasses.replace(TUNINGS["ci"], trials=9)
    calls = []

    def curve(config):  # validation MAP@R per epoch: a smaller tau is better (something for TPE and the pruner)
        return [1 / config.tau, 2 / config.tau]

    def scores(config):
        calls.append(config)
        return [0.2, None] if len(calls) == 3 else curve(config)  # the third run diverges in epoch 2

    tuning.run_worker(study, sqlite(tmp_path), tmp_path / "runs", train=fake_train(scores), report=lambda _: None)
    rows, curves = tuning.trials_table(study, sqlite(tmp_path))
    assert [r["trial"] for r in rows] == list(range(9)) and len(calls) == 9
    states = [r["state"] for r in rows]
    assert states.count("COMPLETE") + states.count("PRUNED") == 8 and states.count("FAIL") == 1
    assert (rows[2]["state"], rows[2]["note"]) == ("FAIL", tuning.DIVERGED)  # a bad setting uses the budget
    for row, config in zip(rows, calls):
        assert row["tau"] == config.tau and row["lr"] == config.lr and config.seed == study.seed
        if row["state"] == "COMPLETE":
            assert row["value"] == pytest.approx(2 / config.tau) and row["epochs_trained"] == 2
    pruned = [r for r in rows if r["state"] == "PRUNED"]
    assert pruned and all(r["trial"] >= 5 for r in pruned)  # never within the pruner's 5 start-up trials
    for row in pruned:  # stopped where its validation MAP@R fell below the median of the earlier trials
        epoch = row["epochs_trained"]
        mine = next(c["val_map@r"] for c in curves if (c["trial"], c["epoch"]) == (row["trial"], epoch))
        earlier = sorted(c["val_map@r"] for c in curves if c["epoch"] == epoch and c["trial"] < row["trial"])
        assert mine < earlier[len(earlier) // 2] or mine < earlier[(len(earlier) - 1) // 2]


def test_a_one_worker_study_is_reproducible_and_trials_draw_different_settings(tmp_path):
    study = dataclasses.replace(TUNINGS["ci"], trials=6)
    tables = []
    for attempt in ("a", "b"):
        (tmp_path / attempt).mkdir()
        tuning.run_worker(study, sqlite(tmp_path / attempt), tmp_path / "runs",
                          train=fake_train(lambda c: [1 / c.tau]), report=lambda _: None)
        tables.append([{k: r[k] for k in ("trial", "state", "value", "tau", "alpha", "lr", "batch_size")}
                       for r in tuning.trials_table(study, sqlite(tmp_path / attempt))[0]])
    assert tables[0] == tables[1]
    assert len({(r["tau"], r["alpha"]) for r in tables[0]}) == 6


def test_a_finished_study_trains_nothing_more_and_the_export_writes_both_tables(tmp_path):
    study = dataclasses.replace(TUNINGS["ci"], trials=3)
    url = sqlite(tmp_path)
    tuning.run_worker(study, url, tmp_path / "runs", train=fake_train(lambda c: [0.1, 0.2]), report=lambda _: None)
    tuning.run_worker(study, url, tmp_path / "runs", train=lambda *a, **k: pytest.fail("trained past the budget"),
                      report=lambda _: None)
    table = tuning.export(study, url, tmp_path / "results")
    rows = read_table(table)
    assert [(r["loss"], r["trial"], r["state"]) for r in rows] == [("hist", i, "COMPLETE") for i in range(3)]
    assert all(r["value"] == 0.2 and r["selected_epoch"] == 2 and "cores" in r["machine"] for r in rows)
    assert len(read_table(tmp_path / "results" / "ci_curves.csv")) == 6


def test_the_head_to_head_points_are_each_losss_best_completed_trial(tmp_path):
    study = TUNINGS["tuning"]
    with pytest.raises(FileNotFoundError, match="run `python -m histlib.tuning tuning` first"):
        GRIDS["head_to_head"].points_for(tmp_path)
    params = [p.name for loss in study.losses for p in search_space(loss)]
    rows = []
    for loss, trial, state, value, tau in (("hist", 0, "COMPLETE", 0.5, 4.0), ("hist", 1, "COMPLETE", 0.7, 8.0),
                                           ("hist", 2, "PRUNED", 0.9, 16.0),
                                           ("proxy_anchor", 0, "COMPLETE", 0.6, None)):
        row = {"study": "tuning", "loss": loss, "trial": trial, "state": state, "value": value,
               **{p: "" for p in params}, "lr": 0.001, "batch_size": 64, "images_per_class": 4 if tau else ""}
        if loss == "hist":
            row.update(tau=tau, alpha=2.0, lambda_s=1.0, lr_ds=0.1, hgnn_lr_factor=1.0)
        else:
            row.update(proxy_anchor_margin=0.1, proxy_anchor_alpha=32.0, lr_ds=0.1)
        rows.append(row)
    from histlib.sweep import write_table
    write_table(tmp_path / "tuning.csv", rows)
    with pytest.raises(ValueError, match="no completed trial of 'multi_similarity'"):
        GRIDS["head_to_head"].points_for(tmp_path)
    rows.append({**rows[-1], "loss": "multi_similarity", "proxy_anchor_margin": "", "proxy_anchor_alpha": "",
                 "lr_ds": "", "ms_alpha": 2.0, "ms_beta": 50.0, "ms_base": 0.5})
    write_table(tmp_path / "tuning.csv", rows)
    hist, proxy, ms = GRIDS["head_to_head"].points_for(tmp_path)
    assert hist == {"loss": "hist", "lr": 0.001, "batch_size": 64, "images_per_class": 4, "tau": 8.0, "alpha": 2.0,
                    "lambda_s": 1.0, "lr_ds": 0.1, "hgnn_lr_factor": 1.0}  # the best *completed* trial
    assert proxy["images_per_class"] is None and ms["ms_beta"] == 50.0
    get_config("glyphs", **hist)  # a point is a valid config
    # the ablation grid: the tuned HIST only, then each variant of it (a Scaled value relative to the tuned one)
    ablation = dataclasses.replace(GRIDS["frozen_ablation"], derive_from="tuning")
    with pytest.raises(ValueError, match=r"the variant batch_size=64 leaves the point .* unchanged"):
        ablation.points_for(tmp_path)  # the tuned batch is 64 here: that variant would compare a run with itself
    write_table(tmp_path / "tuning.csv", [{**r, "batch_size": 32} for r in rows])
    hist = {**hist, "batch_size": 32}
    named = ablation.named_points(tmp_path)
    assert list(named)[:3] == ["hist", "lambda_s=0.0", "hgnn_propagation=identity"] and named["hist"] == hist
    assert named["tau x0.5"] == {**hist, "tau": 4.0} and named["alpha x2"] == {**hist, "alpha": 4.0}
    assert named["hgnn_layers=3"] == {**hist, "hgnn_layers": 3} and named["batch_size=64"]["batch_size"] == 64
    assert len({point_label(p) for p in ablation.points_for(tmp_path)}) == len(named)  # every point its own run
    for point in named.values():
        get_config("glyphs", **point)


def test_importances_are_computed_from_the_committed_table_and_find_the_setting_that_matters():
    rows = []
    for number, tau in enumerate((2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 30.0, 45.0, 60.0, 4.0, 10.0, 50.0)):
        rows.append({"study": "s", "loss": "hist", "trial": number, "state": "COMPLETE", "value": 1 / tau,
                     "lr": 1e-3 * (1 + number % 3), "batch_size": (32, 64, 128)[number % 3],
                     "images_per_class": (None, 4)[number % 2], "tau": tau, "alpha": 1.0 + number % 4,
                     "lambda_s": 1.0, "lr_ds": 0.1, "hgnn_lr_factor": 1.0 + number % 2})
    rows.append({**rows[0], "trial": 12, "state": "PRUNED", "value": 0.0})  # not a finished trial: left out
    study = tuning.study_from_table(rows, "hist")
    assert len(study.trials) == 12 and study.best_value == 0.5
    importances = tuning.param_importances(rows, "hist", resamples=8)
    assert list(importances)[0] == "tau" and importances["tau"]["importance"] > 0.5
    assert sum(v["importance"] for v in importances.values()) == pytest.approx(1.0)
    assert all(0 <= v["low"] <= v["high"] <= 1 for v in importances.values())
    assert importances["tau"]["low"] > 0.3  # tau explains the score in every resample of the trials
    assert importances["tau"]["low"] > importances["alpha"]["high"]
    assert tuning.importance_tiers(importances)[0] == ["tau"]
    assert importances["tau"]["rho"] == pytest.approx(-1.0)  # a smaller tau, a better score (the direction)
    assert math.isnan(importances["images_per_class"]["rho"])  # a choice with None has no direction
    assert math.isnan(importances["lambda_s"]["rho"])  # constant in these trials
    assert importances == tuning.param_importances(rows, "hist", resamples=8)  # seeded
    with pytest.raises(ValueError, match="no completed trial of 'proxy_anchor'"):
        tuning.study_from_table(rows, "proxy_anchor")


def test_the_cli_refuses_unknown_studies_and_losses(capsys):
    with pytest.raises(SystemExit):
        tuning.main(["tunning"])
    assert "unknown study ['tunning']; choose from tuning" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tuning.main(["ci", "--loss", "proxy_anchor"])
    assert "study 'ci' tunes hist; not proxy_anchor" in capsys.readouterr().err


def test_a_storage_that_cannot_be_used_is_one_clear_line(tmp_path, capsys):
    argv = ["ci", "--results", str(tmp_path), "--runs", str(tmp_path / "runs")]
    assert tuning.main([*argv, "--storage", "nonsense://x"]) == 1
    err = capsys.readouterr().err
    assert "cannot use the study storage nonsense://x" in err and "Traceback" not in err
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert tuning.main([*argv, "--storage", f"postgresql://user:secret@127.0.0.1:{port}/db"]) == 1
    err = capsys.readouterr().err
    assert "cannot use the study storage postgresql://user:***@127.0.0.1" in err and "secret" not in err
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit):
        tuning.main(["ci", "--results", str(tmp_path / "file")])
    assert "--results" in capsys.readouterr().err


# -- worker processes sharing a study -------------------------------------------------------------


def worker(tmp_path: Path, url: str, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "histlib.tuning", "ci", "--storage", url, "--results", str(tmp_path / "results"),
               "--runs", str(tmp_path / "runs" / "sweeps"), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


#: A worker counts as hung only when neither its output nor its study's trials change for this long:
#: on a loaded machine a worker is slow, not stuck, so no test waits on a fixed wall-clock budget.
QUIET_LIMIT = 900.0


def finish(process: subprocess.Popen, url: str, quiet_limit: float = QUIET_LIMIT) -> str:
    """Wait for a worker process to exit; fail (showing its output) only if it has printed nothing for
    ``quiet_limit`` seconds (each trial prints a line). The storage is not polled meanwhile: a poller's
    open connection can hold the locks a PostgreSQL worker waits for."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: [lines.append(line) for line in process.stdout], daemon=True)
    reader.start()
    seen, changed = 0, time.monotonic()
    while process.poll() is None:
        if len(lines) != seen:
            seen, changed = len(lines), time.monotonic()
        elif time.monotonic() - changed > quiet_limit:
            process.kill()
            process.wait()
            reader.join(10)
            pytest.fail(f"the worker ({url}) printed nothing for {quiet_limit:.0f} s; its output:\n{''.join(lines)}")
        time.sleep(1)
    reader.join()
    out = "".join(lines)
    assert process.returncode == 0, out
    return out


def trials(url: str) -> list[optuna.trial.FrozenTrial]:
    storage = optuna.storages.RDBStorage(url)
    try:
        return optuna.load_study(study_name="ci-hist", storage=storage).get_trials()
    finally:
        storage.engine.dispose()  # no connection left open to the server the fixture stops


def check_the_budget(url: str, budget: int) -> list[optuna.trial.FrozenTrial]:
    """The study's budget is complete, no trial was run twice, and every trial left says why."""
    done = [t for t in trials(url) if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(done) == budget
    assert len({t.user_attrs["fingerprint"] for t in done}) == budget  # no setting trained twice
    assert not [t for t in trials(url) if t.state == TrialState.RUNNING]
    return done


def two_workers_share_a_study(tmp_path: Path, url: str) -> None:
    first, second = worker(tmp_path, url), worker(tmp_path, url)
    finish(first, url), finish(second, url)
    done = check_the_budget(url, TUNINGS["ci"].trials)
    assert len({t.user_attrs["worker"] for t in done}) == 2  # both worked on it
    rows = read_table(tmp_path / "results" / "ci.csv")
    assert sorted(r["trial"] for r in rows if r["state"] in ("COMPLETE", "PRUNED")) == sorted(t.number for t in done)


def a_killed_workers_trial_is_not_counted(tmp_path: Path, url: str) -> None:
    doomed = worker(tmp_path, url, "--heartbeat", "1")
    started = time.monotonic()
    while True:  # wait (however slow the machine) until it trains a trial, or fail if it exits first
        assert doomed.poll() is None, f"the worker exited before it started a trial:\n{doomed.communicate()[0]}"
        assert time.monotonic() - started < QUIET_LIMIT, f"the worker started no trial in {QUIET_LIMIT:.0f} s"
        try:
            running = [t.number for t in trials(url) if t.state == TrialState.RUNNING]
        except KeyError:  # the study does not exist yet
            running = []
        if running:
            break
        time.sleep(0.2)
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    lost = running[0]
    finish(worker(tmp_path, url, "--heartbeat", "1"), url)  # waits out the grace period, then replaces the trial
    check_the_budget(url, TUNINGS["ci"].trials)
    assert trials(url)[lost].state == TrialState.FAIL
    rows = {r["trial"]: r for r in read_table(tmp_path / "results" / "ci.csv")}
    assert (rows[lost]["state"], rows[lost]["note"]) == ("FAIL", tuning.LOST)


@pytest.mark.slow
def test_two_worker_processes_share_an_sqlite_study(tmp_path):
    two_workers_share_a_study(tmp_path, f"sqlite:///{tmp_path / 'ci.db'}")


@pytest.mark.slow
def test_a_killed_workers_trial_is_lost_and_replaced_sqlite(tmp_path):
    a_killed_workers_trial_is_not_counted(tmp_path, f"sqlite:///{tmp_path / 'ci.db'}")


# -- a real PostgreSQL server -----------------------------------------------------------------------


def postgres_bin() -> Path | None:
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@pytest.fixture()
def postgres_url():
    """A PostgreSQL server of its own (Debian's ``postgresql``) in a temporary folder, run by an
    unprivileged user; skipped outside CI where the server is missing, failing in CI."""
    folder = postgres_bin()
    if folder is None:
        reason = "PostgreSQL's server is not installed: apt-get install postgresql (histlib/data/debian-packages.txt)"
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: the PostgreSQL test must run)")
        pytest.skip(reason)
    home = Path(tempfile.mkdtemp(prefix="histlib-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root: run it as the package's (or nobody's) user
        user = "postgres" if _user_exists("postgres") else "nobody"
        shutil.chown(home, user)
        as_user = ["runuser", "-u", user, "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data, log = home / "data", home / "server.log"

    def run(*command):
        subprocess.run([*as_user, *command], check=True, capture_output=True, text=True, cwd=home)

    run(str(folder / "initdb"), "-D", str(data), "-A", "trust", "-U", "histlib", "--no-sync")
    run(str(folder / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o",
        f"-c listen_addresses=127.0.0.1 -p {port} -k {home} -c fsync=off", "start")
    try:
        run(str(folder / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "histlib", "histlib")
        yield f"postgresql://histlib@127.0.0.1:{port}/histlib"
    finally:
        subprocess.run([*as_user, str(folder / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, cwd=home)
        shutil.rmtree(home, ignore_errors=True)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.mark.slow
def test_two_workers_and_a_killed_one_share_a_postgresql_study(tmp_path, postgres_url):
    two_workers_share_a_study(tmp_path / "shared", postgres_url)
    optuna.delete_study(study_name="ci-hist", storage=postgres_url)
    a_killed_workers_trial_is_not_counted(tmp_path / "killed", postgres_url)


def test_odd_trials_tables_are_clear_errors(tmp_path):
    rows = [{"study": "s", "loss": "hist", "trial": i, "state": "COMPLETE", "value": 0.1 * i, "lr": 1e-3,
             "batch_size": 32, "images_per_class": None, "tau": 4.0 + i, "alpha": 1.0, "lambda_s": 1.0, "lr_ds": 0.1,
             "hgnn_lr_factor": 1.0} for i in range(1, 4)]
    with pytest.raises(ValueError, match="3 completed trial.* importances need at least 5"):
        tuning.param_importances(rows, "hist")
    with pytest.raises(ValueError, match="at least 2 resamples"):
        tuning.param_importances(rows, "hist", resamples=1)
    with pytest.raises(ValueError, match=r"no column \['value'\]"):
        tuning.study_summary([{k: v for k, v in r.items() if k != "value"} for r in rows])
    text_rows = [{k: str(v) for k, v in r.items()} for r in rows]  # csv.DictReader's strings, not read_table's
    with pytest.raises(ValueError, match="read the table with histlib.(sweep|tables).read_table"):
        tuning.study_summary(text_rows)
    same = [{**r, "trial": i, "value": 0.5} for i, r in enumerate(rows * 2)]
    with pytest.raises(ValueError, match="no variance to attribute"):
        tuning.param_importances(same, "hist")
    assert tuning.study_summary([{k: v for k, v in r.items()} for r in rows])[0]["trials"] == 3  # no 'note' column
    # the head-to-head's points: a value outside the choices names the table, trial and column
    params = {p.name: "" for loss in TUNINGS["tuning"].losses for p in search_space(loss)}
    bad = [{**params, **{k: ("" if v is None else v) for k, v in r.items()}, "batch_size": 48} for r in rows]
    from histlib.sweep import write_table
    write_table(tmp_path / "tuning.csv", bad)
    with pytest.raises(ValueError, match=r"tuning.csv, trial 3 of 'hist': batch_size is '48', not one of its choices"):
        TUNINGS["tuning"].best_points(tmp_path)


def test_export_of_a_study_that_does_not_exist_writes_nothing_and_says_so(tmp_path, capsys):
    argv = ["ci", "--export", "--results", str(tmp_path / "results"), "--runs", str(tmp_path / "runs" / "sweeps")]
    assert tuning.main(argv) == 1
    err = capsys.readouterr().err
    assert "no study storage at" in err and "nothing to export" in err
    assert not (tmp_path / "results" / "ci.csv").exists() and not (tmp_path / "runs" / "studies" / "ci.db").exists()
    with pytest.raises(SystemExit):
        tuning.main(["ci", "--heartbeat", "inf"])
    assert "--heartbeat must be a positive number" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tuning.main(["ci", "--storage", ""])
    assert "--storage needs an SQLAlchemy URL" in capsys.readouterr().err


def test_a_complete_trial_with_a_nan_score_is_reported_not_ranked(tmp_path):
    from histlib.tables import MetricError, write_table

    rows = [{"study": "s", "loss": "hist", "trial": t, "state": "COMPLETE", "note": None, "value": v, "seconds": 1.0}
            for t, v in enumerate((0.4, math.nan, 0.5))]
    write_table(tmp_path / "tuning.csv", rows)
    with pytest.raises(MetricError, match=r"tuning.csv, line 3 \(loss 'hist', trial 1\): value is nan"):
        tuning.study_summary(read_table(tmp_path / "tuning.csv"))


# -- the plateau studies: widened spaces that reach L_D alone and G = I, winners re-scored on other splits


def _wide_ci_study(**changes):
    from histlib.training.grids import WIDE_SPACES

    return dataclasses.replace(TUNINGS["ci"], spaces={"hist": WIDE_SPACES["hist"]}, **changes)


def test_a_widened_space_reaches_l_d_alone_and_g_identity_and_the_table_records_what_trained(tmp_path):
    study = _wide_ci_study(trials=12)
    calls = []

    def scores(config):
        calls.append(config)
        return [0.5 if config.lambda_s == 0 else 0.3 + 0.01 * config.tau]

    tuning.run_worker(study, sqlite(tmp_path), tmp_path / "runs", train=fake_train(scores), report=lambda _: None)
    rows, _ = tuning.trials_table(study, sqlite(tmp_path))
    assert len(rows) == len(calls) == 12
    for row, config in zip(rows, calls):  # the table holds the settings each run trained
        assert (row["lambda_s"], row["hgnn_propagation"], row["batch_size"]) == (
            config.lambda_s, config.hgnn_propagation, config.batch_size)
    assert {r["lambda_s"] == 0.0 for r in rows} == {True, False}
    assert {r["hgnn_propagation"] for r in rows} == {"hypergraph", "identity"}
    # the committed-table analyses read it back, a lambda_s of 0 as the switch it was drawn with
    from histlib.tables import read_table, write_table

    write_table(tmp_path / "ci.csv", rows)
    typed = read_table(tmp_path / "ci.csv")
    assert all(p.contains(r[p.name]) for r in typed for p in study.space("hist"))  # every drawn value in its space
    loaded = tuning.study_from_table(typed, "hist", study)
    zero = [t for t in loaded.trials if t.params["lambda_s_is_zero"]]
    assert zero and all("lambda_s" not in t.params for t in zero)
    assert study.trial_point(tmp_path / "ci.csv", typed[0])["lambda_s"] == calls[0].lambda_s


def test_the_winner_of_a_rescoring_study_is_the_best_mean_over_its_splits_not_its_best_trial(tmp_path):
    from histlib.tables import read_table, write_table

    study = _wide_ci_study(trials=3, rescore_top=2, rescore_seeds=(2, 3))
    space = {p.name: p for p in study.space("hist")}
    base = {"lr": 1e-3, "batch_size": 32, "images_per_class": None, "alpha": 2.0, "lambda_s": 1.0, "lr_ds": 0.1,
            "hgnn_lr_factor": 1.0, "hgnn_propagation": "hypergraph"}
    rows = [{"study": "ci", "loss": "hist", "trial": t, "state": "COMPLETE", "value": v, **base, "tau": tau}
            for t, v, tau in ((0, 0.80, 4.0), (1, 0.70, 8.0), (2, 0.60, 16.0))]
    write_table(tmp_path / "ci.csv", rows)
    with pytest.raises(FileNotFoundError, match="ci_rescored.csv is missing"):
        study.best_points(tmp_path)
    # on other splits, trial 0 (best on seed 1) drops; trial 1 holds: its mean wins
    split_score = {(4.0, 2): 0.50, (4.0, 3): 0.52, (8.0, 2): 0.71, (8.0, 3): 0.69, (16.0, 2): 0.9, (16.0, 3): 0.9}
    trained = []

    def train(config):
        trained.append((config.tau, config.seed))
        return fake_train(lambda c: [0.1, split_score[c.tau, c.seed]])(config)

    tuning.rescore(study, tmp_path, tmp_path / "runs", train=train, report=lambda _: None)
    assert sorted(trained) == [(4.0, 2), (4.0, 3), (8.0, 2), (8.0, 3)]  # the best 2 trials only, each other seed
    rescored = read_table(tmp_path / "ci_rescored.csv")
    assert [(r["trial"], r["seed"], r["value"]) for r in rescored] == [(0, 2, 0.5), (0, 3, 0.52), (1, 2, 0.71),
                                                                        (1, 3, 0.69)]
    winner = tuning.rescored_winners(study, tmp_path)["hist"]
    assert winner["trial"] == 1 and winner["mean"] == pytest.approx(0.70) and winner["values"] == {1: 0.7, 2: 0.71,
                                                                                                    3: 0.69}
    assert study.best_points(tmp_path) == ({"loss": "hist", **base, "tau": 8.0},)
    assert all(space[k].contains(v) for k, v in study.best_points(tmp_path)[0].items() if k != "loss")
    tuning.rescore(study, tmp_path, tmp_path / "runs", train=lambda c: pytest.fail("re-trained a finished run"),
                   report=lambda _: None)  # a finished re-scoring trains nothing
    write_table(tmp_path / "ci_rescored.csv", rescored[:3])
    with pytest.raises(ValueError, match=r"trial 1 of 'hist' has no re-scoring run with seed\(s\) \[3\]"):
        tuning.rescored_winners(study, tmp_path)


def test_the_plateau_studies_widen_every_bound_a_first_winner_touched():
    from histlib.training.grids import FROZEN_PLATEAU_BUDGET, PLATEAU_BUDGET, WIDE_SPACES

    for name in ("tuning", "frozen_tuning"):
        for point in TUNINGS[name].best_points(ROOT / "results"):
            wide = {p.name: p for p in WIDE_SPACES[point["loss"]]}
            for key, value in point.items():
                if key in ("loss", "images_per_class"):  # a switch (plain or m-per-class batches), not a range
                    continue
                param = wide[key]
                if param.choices:  # a chosen value is not the smallest or largest choice
                    ordered = sorted(c for c in param.choices if c is not None)
                    assert ordered[0] < value < ordered[-1], (name, key, value)
                else:  # a tuned value at least 1.5x inside each bound (a log range) or 10 % of the range
                    inside = (value / param.low >= 1.5 and param.high / value >= 1.5) if param.log else \
                        (value - param.low >= 0.1 * (param.high - param.low) and param.high - value >= 0.1 * (param.high - param.low))
                    assert inside, (name, key, value, param.describe())
    hist = {p.name: p for p in WIDE_SPACES["hist"]}
    assert hist["lambda_s"].contains(0.0) and hist["hgnn_propagation"].contains("identity")
    for name, budget in (("plateau_tuning", PLATEAU_BUDGET), ("frozen_plateau_tuning", FROZEN_PLATEAU_BUDGET)):
        study = TUNINGS[name]
        assert study.fixed == budget and study.rescore_top >= 3 and len(study.rescore_seeds) >= 3
        assert study.seed not in study.rescore_seeds and budget["patience"] >= 3
        grid = GRIDS[name.replace("tuning", "head_to_head")]
        assert (grid.base, grid.fixed, grid.derive_from) == (study.base, study.fixed, name)


def test_the_fixed_steps_batch_grid_runs_every_loss_at_every_batch_size_with_the_same_steps(tmp_path, monkeypatch):
    from histlib.training.grids import BATCH_SIZES, Tuning

    winners = ({"loss": "hist", "lr": 1e-3, "batch_size": 32}, {"loss": "proxy_anchor", "lr": 2e-3, "batch_size": 64},
               {"loss": "multi_similarity", "lr": 3e-3, "batch_size": 128})
    monkeypatch.setattr(Tuning, "best_points", lambda self, results: winners)
    grid = GRIDS["plateau_batch"]
    named = grid.named_points(tmp_path)
    assert len(named) == 3 * len(BATCH_SIZES) and named["proxy_anchor batch_size=16"] == {
        "loss": "proxy_anchor", "lr": 2e-3, "batch_size": 16}
    assert {p["batch_size"] for p in named.values()} == set(BATCH_SIZES)
    configs = [get_config(grid.base, **grid.fixed, **p) for p in named.values()]
    assert {(c.epochs, c.max_steps_per_epoch, c.lr_step, c.patience) for c in configs} == {(56, 20, 8, None)}


def test_the_stand_in_grids_take_only_each_losss_own_learning_rates(tmp_path, monkeypatch):
    from histlib.training.grids import Tuning

    winners = ({"loss": "hist", "lr": 1e-3, "lr_ds": 0.01, "hgnn_lr_factor": 0.5, "tau": 4.0, "lambda_s": 0.5},
               {"loss": "proxy_anchor", "lr": 2e-3, "lr_ds": 0.3, "proxy_anchor_alpha": 16.0},
               {"loss": "multi_similarity", "lr": 3e-3, "ms_alpha": 2.0})
    monkeypatch.setattr(Tuning, "best_points", lambda self, results: winners)
    for name, base in (("plateau_typefaces", "typefaces"), ("plateau_kanji", "kanji")):
        named = GRIDS[name].named_points(tmp_path)
        assert named == {"hist": {"loss": "hist", "lr": 1e-3, "lr_ds": 0.01, "hgnn_lr_factor": 0.5},
                         "proxy_anchor": {"loss": "proxy_anchor", "lr": 2e-3, "lr_ds": 0.3},
                         "multi_similarity": {"loss": "multi_similarity", "lr": 3e-3},
                         "lambda_s=0.0": {"loss": "hist", "lr": 1e-3, "lr_ds": 0.01, "hgnn_lr_factor": 0.5,
                                          "lambda_s": 0.0}}
        config = get_config(base, **GRIDS[name].fixed, **named["hist"])
        assert config.tau == get_config(base).tau and config.patience == 3 and config.max_steps_per_epoch == 100


def test_a_study_restored_from_its_committed_tables_continues_as_the_lost_storage_would(tmp_path):
    """A fresh checkout has the trials tables but no study database: the restored study has the same
    trials, and the trials drawn after it are those the original storage draws next."""
    study = _wide_ci_study(trials=7)

    def scores(config):
        return [0.1 / config.tau, 0.3 / config.tau] if config.lambda_s else [None]  # L_D alone diverges here

    original = sqlite(tmp_path / "a")
    (tmp_path / "a").mkdir()
    tuning.run_worker(study, original, tmp_path / "runs", train=fake_train(scores), report=lambda _: None)
    tuning.export(study, original, tmp_path / "results")
    restored_url = sqlite(tmp_path / "b")
    (tmp_path / "b").mkdir()
    assert tuning.restore(study, restored_url, tmp_path / "results", report=lambda _: None) == 7
    assert tuning.restore(study, restored_url, tmp_path / "results", report=lambda _: None) == 0  # once only
    columns = ("trial", "state", "note", "value", "tau", "lambda_s", "hgnn_propagation", "epochs_trained",
               "selected_epoch", "seconds", "fingerprint")
    before, before_curves = tuning.trials_table(study, original)
    after, after_curves = tuning.trials_table(study, restored_url)
    assert [{c: r[c] for c in columns} for r in after] == [{c: r[c] for c in columns} for r in before]
    assert after_curves == before_curves
    more = dataclasses.replace(study, trials=10)
    for url in (original, restored_url):
        tuning.run_worker(more, url, tmp_path / "runs", train=fake_train(scores), report=lambda _: None)
    drawn = [[{c: r[c] for c in ("trial", "tau", "alpha", "lr")} for r in tuning.trials_table(more, url)[0][7:]]
             for url in (original, restored_url)]
    assert len(drawn[0]) == 3 and drawn[0] == drawn[1]


def test_a_setting_the_data_cannot_train_is_an_infeasible_trial_not_a_dead_worker(tmp_path):
    study = dataclasses.replace(TUNINGS["ci"], trials=4)
    calls = []

    def train(config, on_epoch_end=None):
        calls.append(config)
        if len(calls) == 2:
            raise ValueError("a batch of 256 with 4 images per class needs 64 classes; the labels hold 63")
        return fake_train(lambda c: [0.1])(config, on_epoch_end)

    tuning.run_worker(study, sqlite(tmp_path), tmp_path / "runs", train=train, report=lambda _: None)
    rows, _ = tuning.trials_table(study, sqlite(tmp_path))
    assert len(rows) == len(calls) == 4  # counted in the budget, as a diverged trial is
    assert (rows[1]["state"], rows[1]["note"]) == ("FAIL", tuning.INFEASIBLE) and "needs 64 classes" in rows[1]["error"]
    assert tuning.study_summary(rows)[0]["infeasible"] == 1


def test_restore_keeps_the_numbers_of_trials_the_table_leaves_out_and_finishes_unfinished_ones(tmp_path):
    from histlib.tables import read_table, write_table

    study = _wide_ci_study(trials=4)
    url = sqlite(tmp_path / "a")
    (tmp_path / "a").mkdir()
    tuning.run_worker(study, url, tmp_path / "runs", train=fake_train(lambda c: [0.1 / c.tau]), report=lambda _: None)
    tuning.export(study, url, tmp_path / "results")
    rows = read_table(tmp_path / "results" / "ci.csv")
    # trial 1 closed over budget (not in the table); trial 3 running, with no seconds yet, when it was written
    rows = [r for r in rows if r["trial"] != 1]
    rows[-1] = {**rows[-1], "state": "RUNNING", "seconds": None, "value": None}
    write_table(tmp_path / "results" / "ci.csv", rows)
    restored = sqlite(tmp_path / "b")
    (tmp_path / "b").mkdir()
    assert tuning.restore(study, restored, tmp_path / "results", report=lambda _: None) == 3
    back = {r["trial"]: r for r in tuning.trials_table(study, restored)[0]}
    assert sorted(back) == [0, 2, 3] and back[2]["tau"] == rows[1]["tau"]  # numbers kept; over budget not listed
    assert (back[3]["state"], back[3]["note"]) == ("FAIL", tuning.LOST)


@pytest.mark.parametrize("winner", [{"lambda_s": 0.0}, {"hgnn_propagation": "identity"}])
def test_the_hypergraph_is_not_ablated_at_a_tuned_hist_that_does_without_it(tmp_path, monkeypatch, winner):
    from histlib.training.grids import Tuning

    winners = ({"loss": "hist", "lr": 1e-3, "lambda_s": 0.5, "hgnn_propagation": "hypergraph", **winner},
               {"loss": "proxy_anchor", "lr": 2e-3}, {"loss": "multi_similarity", "lr": 3e-3})
    monkeypatch.setattr(Tuning, "best_points", lambda self, results: winners)
    for name in ("plateau_ablation", "plateau_distance", "frozen_plateau_ablation", "frozen_plateau_distance"):
        with pytest.raises(ValueError, match="its hypergraph does not reach the loss"):
            GRIDS[name].points_for(tmp_path)
    assert len(GRIDS["plateau_head_to_head"].points_for(tmp_path)) == 3  # the head-to-head compares it as it is
