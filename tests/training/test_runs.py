"""A run on disk is never mixed, overwritten or silently wrong (histlib.training.runs + fit)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from histlib.training import (
    RunExistsError, RunFolder, RunFolderError, RunInUseError, config_fingerprint, fit, get_config, load_or_train,
    read_run,
)
from histlib.training import loop as training_loop

from ..conftest import blob_data, small_config

REPO = Path(__file__).resolve().parents[2]


def _start_training(folder: Path, epochs: int, extra: str = "", overwrite: bool = False) -> subprocess.Popen:
    """A real training process into ``folder`` (blob data) that pauses after its first epoch until
    the file ``folder.parent / "go"`` exists (the test kills it or lets it go on)."""
    code = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from histlib.training import fit
        from tests.conftest import blob_data, small_config
        go = Path({str(folder)!r}).parent / "go"
        def pause(row):
            while not go.exists():
                time.sleep(0.05)
        config = small_config(Path({str(folder)!r}).parent, output_dir={str(folder)!r}, epochs={epochs}{extra})
        fit(config, blob_data(), progress=False, on_epoch_end=pause, overwrite={overwrite})
    """)
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def _wait_for(condition, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"training process ended early: {process.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("timed out waiting for the training process")
        time.sleep(0.05)


def _numbers(history: list[dict]) -> list[dict]:
    """A history without its timing column (wall-clock speed differs between two runs)."""
    return [{k: v for k, v in row.items() if k not in ("images_per_s", "seconds")} for row in history]


def _epochs_written(folder: Path, other_than: str = "") -> int:
    """Epochs in the folder's history (0 when it is missing or belongs to run ``other_than``)."""
    try:
        history = json.loads((folder / "history.json").read_text())
    except (OSError, ValueError):
        return 0
    return 0 if history["run_id"] == other_than else len(history["epochs"])


@pytest.mark.slow
def test_a_killed_run_of_another_config_is_never_served_as_the_finished_one(tmp_path):
    folder = tmp_path / "x"
    a = small_config(tmp_path, output_dir=str(folder), epochs=2)
    finished = fit(a, blob_data(), progress=False)
    # B into the same folder without resume or overwrite is refused before any training
    with pytest.raises(RunExistsError, match="holds a finished run of another config .*'lr'.*--overwrite"):
        fit(small_config(tmp_path, output_dir=str(folder), epochs=3, lr=1e-3), blob_data(), progress=False)
    assert read_run(a).test_metrics == finished.test_metrics  # untouched
    # B asked to overwrite, killed -9 after its first epoch
    process = _start_training(folder, epochs=3, extra=", lr=1e-3", overwrite=True)
    _wait_for(lambda: _epochs_written(folder, other_than=finished.run_id) >= 1, process)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert RunFolder(folder).status() == "interrupted"
    with pytest.raises(RunFolderError, match="no finished run: .* holds an interrupted run of another config"):
        read_run(a)
    with pytest.raises(RunFolderError, match="another config"):
        load_or_train(a, blob_data())  # never B's weights under A's name
    retrained = load_or_train(a, blob_data(), replace=True)  # the workbook's cache behaviour: train A anew
    assert retrained.test_metrics == finished.test_metrics and _numbers(retrained.history) == _numbers(finished.history)


def test_files_of_two_runs_in_one_folder_are_refused(tmp_path):
    a = small_config(tmp_path, output_dir=str(tmp_path / "a"), epochs=1)
    b = small_config(tmp_path, output_dir=str(tmp_path / "b"), epochs=1, lr=1e-3)
    fit(a, blob_data(), progress=False)
    fit(b, blob_data(), progress=False)
    (tmp_path / "a" / "selected.pt").write_bytes((tmp_path / "b" / "selected.pt").read_bytes())
    with pytest.raises(RunFolderError, match="mixes two runs: selected.pt belongs to run"):
        read_run(a)


@pytest.mark.slow
def test_a_second_process_gets_in_use_and_a_killed_holder_releases_the_folder(tmp_path):
    folder = tmp_path / "run"
    config = small_config(tmp_path, output_dir=str(folder), epochs=3)
    process = _start_training(folder, epochs=3)
    try:
        _wait_for(lambda: _epochs_written(folder) >= 1, process)
        assert RunFolder(folder).status() == "running" and RunFolder(folder).holder() == process.pid
        for attempt in (lambda: fit(config, blob_data(), resume=True, progress=False),
                        lambda: fit(config, blob_data(), overwrite=True, progress=False),
                        lambda: load_or_train(config, blob_data())):
            with pytest.raises(RunInUseError, match=rf"in use by another training process \(PID {process.pid}\)"):
                attempt()
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    # the lock file is still there, but its holder is dead: the folder is free and the run resumes
    assert (folder / "run.lock").exists() and RunFolder(folder).status() == "interrupted"
    resumed = fit(config, blob_data(), resume=True, progress=False)
    straight = fit(small_config(tmp_path, output_dir=str(tmp_path / "straight"), epochs=3), blob_data(),
                   progress=False)
    assert _numbers(resumed.history) == _numbers(straight.history)  # kill -9 then resume: bit-identical on one machine


@pytest.mark.slow
def test_two_trainings_into_one_folder_cannot_both_run(tmp_path):
    folder = tmp_path / "run"
    process = _start_training(folder, epochs=2)
    try:
        _wait_for(lambda: _epochs_written(folder) >= 1, process)
        with pytest.raises(RunInUseError):
            fit(small_config(tmp_path, output_dir=str(folder), epochs=2), blob_data(), progress=False, overwrite=True)
        (tmp_path / "go").touch()
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert RunFolder(folder).status() == "finished"


def test_load_or_train_resumes_an_interrupted_run_to_the_same_numbers(tmp_path):
    straight = fit(small_config(tmp_path / "a", epochs=3), blob_data(), progress=False)

    class Interrupted(Exception):
        pass

    def stop_after_first(row):
        if row["epoch"] == 1:
            raise Interrupted

    config = small_config(tmp_path / "b", epochs=3)
    with pytest.raises(Interrupted):
        fit(config, blob_data(), progress=False, on_epoch_end=stop_after_first)
    calls = []
    original = training_loop.fit

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    training_loop.fit, saved = spy, training_loop.fit
    try:
        resumed = load_or_train(config, blob_data())
    finally:
        training_loop.fit = saved
    assert calls == [{"resume": True, "progress": False, "on_epoch_end": None}]
    assert _numbers(resumed.history) == _numbers(straight.history) and resumed.steps == straight.steps
    assert [s["epoch"] for s in resumed.steps] == [1] * 6 + [2] * 6 + [3] * 6  # 96 images, batch 16


def test_rerunning_a_recipe_never_overwrites_a_finished_run_silently(tmp_path):
    config = small_config(tmp_path, epochs=1)
    first = fit(config, blob_data(), progress=False)
    with pytest.raises(RunExistsError, match=r"holds a finished run of this config; pass overwrite \(--overwrite\) to replace it"):
        fit(config, blob_data(), progress=False)
    again = fit(config, blob_data(), progress=False, overwrite=True)
    assert again.test_metrics == first.test_metrics and again.run_id != first.run_id
    assert not list(Path(config.output_dir).glob("*.tmp")) and not list(Path(config.output_dir).glob(".*.tmp"))


def test_resume_accepts_the_same_folder_spelled_differently_and_refuses_nothing_to_resume(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RunFolderError, match="cannot resume: .* does not exist"):
        fit(small_config(tmp_path, output_dir="run", epochs=1), blob_data(), resume=True, progress=False)
    config = small_config(tmp_path, output_dir="run", epochs=1)
    fit(config, blob_data(), progress=False)
    for spelling in ("run/", str(tmp_path / "run"), "./run"):
        fit(small_config(tmp_path, output_dir=spelling, epochs=1), blob_data(), resume=True, progress=False)
    assert config_fingerprint(config) == config_fingerprint(small_config(tmp_path, output_dir="other/", epochs=1))


@pytest.mark.parametrize("content, problem", [
    (b"", "not a readable histlib checkpoint"),
    ("foreign", "not a histlib checkpoint"),
])
def test_a_damaged_or_foreign_checkpoint_is_a_clear_error(tmp_path, content, problem):
    config = small_config(tmp_path, epochs=1)
    fit(config, blob_data(), progress=False)
    path = Path(config.output_dir) / "checkpoint.pt"
    if content == "foreign":
        torch.save({"weights": torch.zeros(2)}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(RunFolderError, match=f"{path}.*{problem}"):
        fit(config, blob_data(), resume=True, progress=False)


def test_a_truncated_results_file_names_its_path(tmp_path):
    config = small_config(tmp_path, epochs=1)
    fit(config, blob_data(), progress=False)
    results = Path(config.output_dir) / "results.json"
    results.write_text(results.read_text()[:40])
    with pytest.raises(RunFolderError, match=f"{results} is not readable JSON"):
        read_run(config)


def test_an_unwritable_output_dir_fails_before_training(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(training_loop, "train_one_epoch", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(RunFolderError, match=f"cannot write the run folder {blocker / 'run'}"):
        fit(small_config(tmp_path, output_dir=str(blocker / "run")), blob_data(), progress=False)


def test_unknown_files_without_a_manifest_are_not_taken_over(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "results.json").write_text("{}")  # e.g. a run of an older histlib
    config = small_config(tmp_path, output_dir=str(folder), epochs=1)
    with pytest.raises(RunExistsError, match="without a manifest.json"):
        fit(config, blob_data(), progress=False)
    fit(config, blob_data(), progress=False, overwrite=True)
    assert RunFolder(folder).status() == "finished"


def test_every_artefact_carries_the_run_id(tmp_path):
    config = small_config(tmp_path, epochs=2, keep_epoch_models=True)
    result = fit(config, blob_data(), progress=False)
    folder = RunFolder(config.output_dir)
    manifest = folder.manifest()
    assert manifest["status"] == "finished" and manifest["run_id"] == result.run_id
    assert manifest["fingerprint"] == config_fingerprint(config)
    for name in ("results.json", "history.json"):
        assert json.loads(folder.file(name).read_text())["run_id"] == result.run_id
    for name in ("checkpoint.pt", "selected.pt", "epochs/epoch_000.pt", "epochs/epoch_002.pt"):
        assert torch.load(folder.file(name), weights_only=True)["run_id"] == result.run_id
    assert set(folder.epoch_model(2)) == set(result.model.state_dict())


@pytest.mark.parametrize("override, message", [
    ({"lr": -0.01}, "lr must be a finite number > 0"),
    ({"lr": float("nan")}, "lr must be a finite number > 0"),
    ({"max_steps_per_epoch": 0}, "max_steps_per_epoch must be an integer >= 1"),
    ({"lr_step": 0}, "lr_step must be an integer >= 1"),
    ({"epochs": 0}, "epochs must be an integer >= 1"),
    ({"device": "tpu"}, "device must be 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    ({"eval_ks": (0,)}, "eval_ks must be a non-empty tuple of positive integers"),
    ({"eval_ks": 0}, "eval_ks must be a non-empty tuple of positive integers"),
    ({"alpha": float("inf")}, "alpha must be a finite number >= 0"),
    ({"tau": 0.0}, "tau must be a finite number > 0"),
    ({"batch_size": 1}, "batch_size must be an integer >= 2"),
    ({"seed": 2**70}, r"seed must be an integer in \[0, 1099511627776\]"),  # not an overflow deep in torch
    ({"seed": -1}, r"seed must be an integer in \[0, "),
    ({"max_images_per_class": 1}, "max_images_per_class must be an integer >= 2"),  # retrieval needs a class-mate
    ({"lr_gamma": 1.5}, "lr_gamma must be a finite number > 0.0 and <= 1.0"),
    ({"images_per_class": 5}, r"batch_size \(64\) must be a multiple of images_per_class \(5\)"),
    ({"loss": "triplet"}, "loss must be one of"),
])
def test_bad_settings_are_refused_when_the_config_is_built(override, message):
    with pytest.raises(ValueError, match=message):
        get_config("glyphs", **override)


def test_numpy_numbers_are_accepted_as_settings():
    import numpy as np

    config = get_config("glyphs", epochs=np.int64(2), lr=np.float32(1e-3), eval_ks=(np.int64(1), 4))
    assert (type(config.epochs), config.eval_ks, type(config.lr)) == (int, (1, 4), float)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_is_refused_where_there_is_none():
    with pytest.raises(ValueError, match="CUDA is not available on this machine"):
        get_config("glyphs", device="cuda")


# -- valid JSON that is not what a run writes: a clear error, and load_or_train(replace=True) retrains


def _edit_json(path: Path, change) -> None:
    value = json.loads(path.read_text())
    path.write_text(json.dumps(change(value)))


@pytest.mark.parametrize("name, change, problem", [
    ("manifest.json", lambda m: {k: v for k, v in m.items() if k != "status"}, r"lacks \(or mistypes\) 'status'"),
    ("manifest.json", lambda m: {k: v for k, v in m.items() if k != "config"}, r"lacks \(or mistypes\) 'config'"),
    ("manifest.json", lambda m: {**m, "config": {}}, "a config with dataset, loss and seed"),
    ("history.json", lambda h: [], "holds a JSON list"),
    ("history.json", lambda h: {k: v for k, v in h.items() if k != "epochs"}, "lacks 'epochs'"),
    ("results.json", lambda r: {k: v for k, v in r.items() if k != "test_metrics"}, "lacks 'test_metrics'"),
])
def test_run_files_that_are_valid_json_but_not_a_runs_are_damaged_and_retrained(tmp_path, name, change, problem):
    config = small_config(tmp_path, epochs=1)
    fit(config, blob_data(), progress=False)
    path = Path(config.output_dir) / name
    _edit_json(path, change)
    with pytest.raises(RunFolderError, match=f"{path}.*{problem}.*damaged"):
        read_run(config)
    with pytest.raises(RunFolderError, match="damaged"):
        load_or_train(config, blob_data())
    if name == "manifest.json":
        assert RunFolder(config.output_dir).status() == "damaged"
        with pytest.raises(RunExistsError, match="holds a damaged run.*pass overwrite") as error:
            fit(config, blob_data(), progress=False)
        assert "--resume" not in str(error.value)  # resuming a damaged run cannot work
    result = load_or_train(config, blob_data(), replace=True)  # the docstring's promise: trained anew
    assert RunFolder(config.output_dir).status() == "finished" and read_run(config).run_id == result.run_id


def test_a_selected_model_of_another_shape_is_a_clear_error(tmp_path):
    config = small_config(tmp_path, epochs=1)
    fit(config, blob_data(), progress=False)
    path = Path(config.output_dir) / "selected.pt"
    selected = torch.load(path, weights_only=True)
    selected["model"] = {k: torch.zeros([s + 1 for s in v.shape]) if v.ndim else v for k, v in selected["model"].items()}
    torch.save(selected, path)
    with pytest.raises(RunFolderError, match=f"{path} holds a model of another shape"):
        read_run(config)
    load_or_train(config, blob_data(), replace=True)  # a cache: retrained


def test_resume_on_a_missing_folder_creates_nothing(tmp_path):
    config = small_config(tmp_path, output_dir=str(tmp_path / "never"), epochs=1)
    with pytest.raises(RunFolderError, match="cannot resume: .*never does not exist"):
        fit(config, blob_data(), resume=True, progress=False)
    assert not (tmp_path / "never").exists()


def test_foreign_files_are_not_told_to_resume_and_a_crashed_run_reads_interrupted(tmp_path):
    folder = tmp_path / "foreign"
    folder.mkdir()
    (folder / "history.json").write_text("{}")
    with pytest.raises(RunExistsError) as error:
        fit(small_config(tmp_path, output_dir=str(folder), epochs=1), blob_data(), progress=False)
    assert "--overwrite" in str(error.value) and "--resume" not in str(error.value)

    config = small_config(tmp_path, epochs=2)

    def crash(row):
        raise KeyboardInterrupt  # the process dies after epoch 1 (its checkpoint is written)

    with pytest.raises(KeyboardInterrupt):
        fit(config, blob_data(), progress=False, on_epoch_end=crash)
    assert RunFolder(config.output_dir).status() == "interrupted"
    with pytest.raises(RunExistsError, match="holds an interrupted run of this config; pass resume"):
        fit(config, blob_data(), progress=False)  # not "running": the lock this call holds is its own


def test_a_folder_that_cannot_be_written_is_a_clear_error(tmp_path, monkeypatch):
    config = small_config(tmp_path, epochs=1)
    fit(config, blob_data(), progress=False)

    def refuse(self):
        raise PermissionError(13, "Permission denied", str(Path(config.output_dir) / "history.json"))

    monkeypatch.setattr(RunFolder, "clear", refuse)
    with pytest.raises(RunFolderError, match="cannot replace the run in .*Permission denied.*history.json"):
        fit(config, blob_data(), progress=False, overwrite=True)


def test_resume_refuses_a_selected_model_of_another_run(tmp_path):
    """The resume path reads selected.pt through the folder's checks (it used to load any file)."""
    config = small_config(tmp_path, epochs=1)  # interrupted after its last epoch: resuming only finishes it
    other = small_config(tmp_path, output_dir=str(tmp_path / "other"), epochs=1)

    def stop(row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(config, blob_data(), progress=False, on_epoch_end=stop)
    fit(other, blob_data(), progress=False)
    (Path(config.output_dir) / "selected.pt").write_bytes((Path(other.output_dir) / "selected.pt").read_bytes())
    with pytest.raises(RunFolderError, match="mixes two runs: selected.pt belongs to run"):
        fit(config, blob_data(), resume=True, progress=False)


def test_overwrite_removes_only_what_histlib_wrote_and_keeps_the_users_files_anywhere(tmp_path):
    config = small_config(tmp_path, epochs=2, keep_epoch_models=True)
    first = fit(config, blob_data(), progress=False)
    folder = Path(config.output_dir)
    yours = {"NOTES.txt": "top", "epochs/keep.txt": "in epochs", "epochs/old/notes.md": "deeper",
             "tensorboard/mine.csv": "beside the events", "plots/figure.txt": "a folder of yours"}
    for name, text in yours.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    (folder / "epochs" / "epoch_009.pt").write_bytes(b"a stale snapshot of an older run")
    own, foreign = RunFolder(folder).own_files()
    assert sorted(p.relative_to(folder).as_posix() for p in foreign) == sorted(yours)
    assert folder / "epochs" / "epoch_009.pt" in own and folder / "manifest.json" in own
    again = fit(config, blob_data(), progress=False, overwrite=True)
    assert again.run_id != first.run_id
    assert {name: (folder / name).read_text() for name in yours} == yours
    assert not (folder / "epochs" / "epoch_009.pt").exists()  # histlib's, from the run it replaced
    assert sorted(p.name for p in (folder / "epochs").glob("epoch_*.pt")) == ["epoch_000.pt", "epoch_001.pt", "epoch_002.pt"]
