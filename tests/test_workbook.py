import pytest

from histlib import workbook
from histlib.training import RECIPES, fit

from .training.test_loop import blob_data


def test_small_profile_keeps_the_benchmarks_loss_settings_on_glyphs():
    small = workbook.notebook_config("sop", "small")
    assert (small.dataset, small.backbone, small.device) == ("glyphs", "small_cnn", "auto")
    assert (small.tau, small.alpha, small.eval_ks) == (16.0, 2.0, (1, 10, 100, 1000))
    assert small.output_dir.endswith("runs/small/sop")
    full = workbook.notebook_config("cub", "full")
    assert full.epochs == RECIPES["cub"].epochs and full.backbone == "resnet50"
    with pytest.raises(ValueError, match="profile"):
        workbook.notebook_config("cub", "medium")


def test_load_or_train_loads_a_finished_run_instead_of_retraining(tmp_path, monkeypatch):
    config = workbook.notebook_config("cub", "small", output_dir=str(tmp_path / "run"), embedding_size=16,
                                      hgnn_hidden=16, batch_size=16, epochs=2, max_steps_per_epoch=None)
    trained = fit(config, blob_data(), progress=False)
    monkeypatch.setattr(workbook, "fit", lambda *a, **k: pytest.fail("retrained a finished run"))
    loaded = workbook.load_or_train(config)
    assert loaded.selected_epoch == trained.selected_epoch and loaded.test_metrics == trained.test_metrics
    assert [row["train_loss"] for row in loaded.history] == pytest.approx([row["train_loss"] for row in trained.history])
    for a, b in zip(loaded.model.state_dict().values(), trained.model.state_dict().values()):
        assert (a == b).all()
    other = config.__class__(**{**config.to_dict(), "lr": 1.0})
    monkeypatch.setattr(workbook, "fit", lambda c, **k: "retrained")
    assert workbook.load_or_train(other) == "retrained"  # a different config is not a finished run
