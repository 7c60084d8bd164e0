import pytest

from histlib import workbook
from histlib.training import RECIPES, fit
from histlib.training import loop as training_loop

from .conftest import blob_data


def test_small_profile_keeps_the_benchmarks_loss_settings_on_its_stand_in():
    small = workbook.notebook_config("sop", "small")
    assert (small.dataset, small.backbone, small.device) == (workbook.STAND_INS["sop"], "small_cnn", "auto")
    assert (small.tau, small.alpha, small.eval_ks) == (16.0, 2.0, (1, 10, 100, 1000))
    assert small.output_dir == str(workbook.RUNS / "small" / "sop")
    full = workbook.notebook_config("cub", "full")
    assert full.epochs == RECIPES["cub"].epochs and full.backbone == "resnet50"
    with pytest.raises(ValueError, match="profile"):
        workbook.notebook_config("cub", "medium")


def test_overrides_use_the_command_lines_syntax():
    config = workbook.notebook_config("cub", "full", "epochs=1 image_size=32 pretrained=false", seed=3)
    assert (config.epochs, config.image_size, config.pretrained, config.seed) == (1, 32, False, 3)
    with pytest.raises(KeyError, match="did you mean 'epochs'"):
        workbook.notebook_config("cub", "full", "epoch=1")


def test_paths_follow_the_environment(monkeypatch, tmp_path):
    import importlib

    from histlib import paths

    monkeypatch.setenv("HISTLIB_HOME", str(tmp_path))
    monkeypatch.setenv("HISTLIB_RUNS", str(tmp_path / "elsewhere"))
    importlib.reload(paths)
    reloaded = importlib.reload(workbook)
    try:
        assert reloaded.ROOT == tmp_path.resolve() and reloaded.DATA == tmp_path.resolve() / "data"
        assert reloaded.RUNS == (tmp_path / "elsewhere").resolve()
        assert (paths.ROOT, paths.RUNS) == (reloaded.ROOT, reloaded.RUNS)  # one owner, re-exported
    finally:
        monkeypatch.undo()
        importlib.reload(paths)
        importlib.reload(workbook)


def test_load_or_train_loads_a_finished_run_instead_of_retraining(tmp_path, monkeypatch):
    config = workbook.notebook_config("cub", "small", output_dir=str(tmp_path / "run"), embedding_size=16,
                                      hgnn_hidden=16, batch_size=16, epochs=2, max_steps_per_epoch=None)
    trained = fit(config, blob_data(), progress=False)
    monkeypatch.setattr(training_loop, "fit", lambda *a, **k: pytest.fail("retrained a finished run"))
    loaded = workbook.load_or_train(config)
    assert loaded.selected_epoch == trained.selected_epoch and loaded.test_metrics == trained.test_metrics
    assert loaded.history == trained.history and loaded.steps == trained.steps
    for a, b in zip(loaded.model.state_dict().values(), trained.model.state_dict().values()):
        assert (a == b).all()
    for a, b in zip(loaded.criterion.state_dict().values(), trained.criterion.state_dict().values()):
        assert (a == b).all()
    other = config.__class__(**{**config.to_dict(), "lr": 1.0})
    monkeypatch.setattr(training_loop, "fit", lambda c, *a, **k: ("retrained", k))
    # the notebooks' folders are a cache: another config's run there is replaced
    assert workbook.load_or_train(other) == ("retrained", {"progress": False, "overwrite": True, "on_epoch_end": None})


def test_untrained_metrics_evaluate_the_seeded_initialisation_on_validation_and_test(tmp_path):
    from dataclasses import replace

    from histlib.training import evaluate, initial_state

    config = workbook.notebook_config("cub", "small", output_dir=str(tmp_path / "run"), embedding_size=16,
                                      hgnn_hidden=16, batch_size=16)
    data = blob_data()
    metrics = workbook.untrained_metrics(config, data)
    test = evaluate(initial_state(config, data.num_classes)[0], data.test, config, progress=False)
    assert {k: v for k, v in metrics.items() if k.startswith("test_")} == {f"test_{k}": v for k, v in test.items()}
    assert {k.partition("_")[2] for k in metrics if k.startswith("val_")} == set(test)
    assert workbook.untrained_metrics(replace(config, seed=2), data) != metrics  # another initialisation
    data.val = None
    assert all(k.startswith("test_") for k in workbook.untrained_metrics(config, data))


def test_check_trained_passes_a_good_run_and_names_what_fails():
    good = {"map@r": 0.40, "recall@1": 0.80}
    untrained = {"map@r": 0.05, "recall@1": 0.50}
    bands = {"map@r": (0.3, 0.5), "recall@1": (0.7, 0.9)}
    assert workbook.check_trained(good, bands, untrained, {"map@r": 3}) == \
        "OK: MAP@R in [30.0, 50.0], R@1 in [70.0, 90.0]; MAP@R >= 3x the untrained network"
    with pytest.raises(AssertionError, match=r"MAP@R = 20.0, outside the band \[30.0, 50.0\]"):
        workbook.check_trained({"map@r": 0.2, "recall@1": 0.8}, bands)
    with pytest.raises(AssertionError, match="MAP@R = 31.0 is less than 2x the untrained network's 20.0"):
        workbook.check_trained({"map@r": 0.31}, {"map@r": (0.3, 0.5)}, {"map@r": 0.2}, {"map@r": 2})
    with pytest.raises(AssertionError, match="outside the band"):
        workbook.check_trained({"map@r": float("nan")}, {"map@r": (0.3, 0.5)})
    with pytest.raises(ValueError, match="gains need"):
        workbook.check_trained(good, {}, gains={"map@r": 2})


def test_a_finished_hist_run_from_before_the_hgnn_statistics_is_trained_again(tmp_path, monkeypatch):
    import json

    config = workbook.notebook_config("cub", "small", output_dir=str(tmp_path / "run"), embedding_size=16,
                                      hgnn_hidden=16, batch_size=16, epochs=1, max_steps_per_epoch=None)
    fit(config, blob_data(), progress=False)
    history_file = tmp_path / "run" / "history.json"
    history = json.loads(history_file.read_text())
    for row in history["epochs"]:  # as an older histlib wrote it: L_D and L_CE only
        for key in ("train_hgnn_loss_ratio", "train_hgnn_accuracy", "train_within_class_share",
                    "train_uniform_within_class_share", "train_other_membership"):
            del row[key]
    history_file.write_text(json.dumps(history))
    monkeypatch.setattr(training_loop, "fit", lambda c, *a, **k: ("retrained", k))
    assert workbook.load_or_train(config) == ("retrained", {"progress": False, "overwrite": True})
