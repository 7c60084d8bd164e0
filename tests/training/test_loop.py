import csv
import json
import math
from dataclasses import replace

import pytest
import torch

from histlib.losses import HISTLoss
from histlib.models import EmbeddingNet
from histlib.training import RunData, RunFolder, build_criterion, fit, get_config, parameter_groups
from histlib.training import loop as loop_module

from ..conftest import Blobs, blob_data, small_config


def test_fit_writes_metrics_checkpoints_and_an_honest_results_file(tmp_path):
    config = small_config(tmp_path, epochs=3)
    result = fit(config, blob_data(), progress=False)
    out = tmp_path / "run"
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert {"train_loss", "lr", "val_recall@1", "test_recall@1", "test_map@r"} <= set(rows[0])
    results = json.load(open(out / "results.json"))
    assert results["selection"] == "val" and "no test feedback" in results["selection_note"]
    assert config.selection_metric == "map@r"  # the glyphs recipe's
    best_val = max(range(3), key=lambda e: result.history[e]["val_map@r"])  # first of ties
    assert result.selected_epoch == best_val and results["selected_epoch"] == best_val + 1
    assert results["test_metrics"]["recall@1"] == result.history[best_val]["test_recall@1"]
    assert (out / "checkpoint.pt").exists() and (out / "selected.pt").exists()
    assert not result.model.training


def test_training_learns_on_unseen_classes(tmp_path):
    data = RunData(train=Blobs(range(0, 16), 32, seed=1), test=Blobs(range(20, 28), 20, seed=3))
    config = small_config(tmp_path, epochs=4, selection="last")
    torch.manual_seed(config.seed)  # fit() starts from this initialisation
    untrained = EmbeddingNet.from_backbone("small_cnn", embedding_size=16)
    from histlib.training import evaluate

    before = evaluate(untrained, data.test, config, torch.device("cpu"), progress=False)["map@r"]
    after = fit(config, data, progress=False).test_metrics["map@r"]
    assert after > 1.5 * before  # measured: 0.083 -> 0.192


@pytest.mark.parametrize("loss", ["hist", "proxy_anchor"])
def test_resume_continues_to_the_same_numbers(tmp_path, loss):
    straight = fit(small_config(tmp_path / "a", epochs=3, loss=loss), blob_data(), progress=False)

    class Interrupted(Exception):
        pass

    def stop_after_first(row):
        if row["epoch"] == 1:
            raise Interrupted

    config = small_config(tmp_path / "b", epochs=3, loss=loss)
    with pytest.raises(Interrupted):
        fit(config, blob_data(), progress=False, on_epoch_end=stop_after_first)
    resumed = fit(config, blob_data(), resume=True, progress=False)
    for a, b in zip(straight.history, resumed.history, strict=True):
        assert a["train_loss"] == b["train_loss"] and a["test_map@r"] == b["test_map@r"]
    for (name, p), q in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(p, q), name


def test_resume_refuses_a_changed_config(tmp_path):
    fit(small_config(tmp_path, epochs=1), blob_data(), progress=False)
    with pytest.raises(ValueError, match=r"config differs in \['lr'\]"):
        fit(small_config(tmp_path, epochs=1, lr=1e-3), blob_data(), resume=True, progress=False)


def test_warm_up_freezes_the_backbone_and_frozen_batchnorm_keeps_its_statistics(tmp_path):
    config = small_config(tmp_path, epochs=1, warmup_epochs=1, freeze_bn=True, selection="last")
    torch.manual_seed(config.seed)
    initial = EmbeddingNet.from_backbone("small_cnn", embedding_size=16).state_dict()
    model = fit(config, blob_data(), progress=False).model
    for name, value in model.state_dict().items():
        if name.startswith("trunk."):
            assert torch.equal(value, initial[name]), name  # weights and BN statistics
    assert not torch.equal(model.embedding.weight, initial["embedding.weight"])


def test_parameter_groups_follow_the_recipe():
    config = get_config("cub")
    model = EmbeddingNet.from_backbone("small_cnn", embedding_size=512)
    groups = parameter_groups(model, build_criterion(config, 100), config)
    assert [(g["name"], g["lr"]) for g in groups] == [
        ("backbone", 1.2e-4), ("embedding", 1.2e-4), ("class_distributions", 0.1), ("hgnn", 1.2e-4 * 5)
    ]
    pa = get_config("cub", loss="proxy_anchor")
    assert [g["name"] for g in parameter_groups(model, build_criterion(pa, 100), pa)][-1] == "proxies"
    assert isinstance(build_criterion(config, 100), HISTLoss)


def test_clear_errors_for_bad_data(tmp_path):
    data = blob_data()
    data.train.labels = [y + 1 for y in data.train.labels]  # 1-based: not what the loss expects
    with pytest.raises(ValueError, match="contiguous"):
        fit(small_config(tmp_path), data, progress=False)
    with pytest.raises(ValueError, match="held-out training classes"):
        fit(small_config(tmp_path), RunData(train=blob_data().train, test=blob_data().test), progress=False)


def test_each_epoch_records_the_mean_of_every_hist_statistic_over_its_steps(tmp_path):
    from histlib.losses import STATISTICS

    result = fit(small_config(tmp_path, epochs=2), blob_data(), progress=False)
    for epoch, row in enumerate(result.history, start=1):
        steps = [s for s in result.steps if s["epoch"] == epoch]
        for name in STATISTICS:
            assert row[f"train_{name}"] == pytest.approx(sum(s[name] for s in steps) / len(steps)), name
        assert 0.0 <= row["train_hgnn_accuracy"] <= 1.0 and 0.0 < row["train_within_class_share"] <= 1.0
        log_c = math.log(result.criterion.num_classes)
        assert row["train_hgnn_loss_ratio"] == pytest.approx(row["train_hgnn_loss"] / log_c)
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert {f"train_{name}" for name in STATISTICS} <= set(rows[0])


@pytest.mark.parametrize("control", [{"hgnn_propagation": "identity"}, {"hgnn_batchnorm": False},
                                     {"incidence_variances": "unit"}, {"hgnn_gradient": "hgnn_only"},
                                     {"hyperedge_distance": "cosine"}, {"membership": "hard"}])
def test_a_control_is_a_config_field_that_reaches_the_loss_and_the_run_identity(tmp_path, control):
    from histlib.training import build_criterion, config_fingerprint

    config = small_config(tmp_path, **control)
    criterion = build_criterion(config, num_classes=5)
    name, value = next(iter(control.items()))
    attribute = {"hgnn_propagation": "propagation", "hgnn_batchnorm": None}.get(name, name)
    if attribute is None:
        assert criterion.hgnn.batchnorm is value
    else:
        assert getattr(criterion, attribute) == value
    assert config_fingerprint(config) != config_fingerprint(small_config(tmp_path))
    result = fit(replace(config, epochs=1), blob_data(), progress=False)
    assert math.isfinite(result.history[0]["train_hgnn_loss"])


# -- runtime failures name the setting to change, and leave a folder that reads interrupted


def test_a_loss_that_overflows_before_any_update_blames_its_own_settings_not_the_learning_rate(tmp_path):
    config = small_config(tmp_path, tau=1e300, epochs=1)
    with pytest.raises(FloatingPointError, match=r"epoch 1: it was non-finite before any update, so the loss's own "
                                                  r"settings overflow \(tau=1e\+300"):
        fit(config, blob_data(), progress=False)
    assert RunFolder(config.output_dir).status() == "interrupted"


def test_a_loss_that_diverges_later_names_the_learning_rates(tmp_path, monkeypatch):
    calls = []
    real = loop_module.HISTLoss.forward

    def forward(self, *args, **kwargs):
        calls.append(1)
        loss = real(self, *args, **kwargs)
        return loss * float("nan") if len(calls) == 3 else loss

    monkeypatch.setattr(loop_module.HISTLoss, "forward", forward)
    with pytest.raises(FloatingPointError, match=r"non-finite loss nan at step 3; epoch 1: lower the learning rates "
                                                  r"\(lr=0.003, lr_ds=0.1, HGNN lr=0.003\)"):
        fit(small_config(tmp_path, epochs=1), blob_data(), progress=False)


def test_a_model_too_large_for_memory_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"do not fit in memory on cpu \(embedding_size=10000000000"):
        fit(small_config(tmp_path, embedding_size=10_000_000_000), blob_data(), progress=False)


def test_a_selection_metric_that_is_nan_stops_the_run_with_what_to_check(tmp_path, monkeypatch):
    monkeypatch.setattr(loop_module, "_evaluate_epoch", lambda session, progress: {"val_map@r": float("nan")})
    config = small_config(tmp_path, epochs=2, selection_metric="map@r")
    with pytest.raises(FloatingPointError, match="selection metric map@r is nan on the validation split, so no "
                                                 "epoch can be selected"):
        fit(config, blob_data(), progress=False)
    assert RunFolder(config.output_dir).status() == "interrupted"  # resumable or replaceable, never "running"


# -- early stopping ------------------------------------------------------------------------------

_SCRIPTED = [0.10, 0.30, 0.20, 0.25, 0.29, 0.50, 0.60, 0.70]


def _scripted_scores(monkeypatch, scores=_SCRIPTED):
    """The validation score of epoch k is scores[k - 1] (test MAP@R its half); training is real."""
    def evaluate_epoch(session, progress):
        score = scores[len(session.history)]
        return {"val_map@r": score, "test_map@r": score / 2, "test_recall@1": score}

    monkeypatch.setattr(loop_module, "_evaluate_epoch", evaluate_epoch)


def test_patience_stops_a_run_after_that_many_epochs_without_a_better_validation_score(tmp_path, monkeypatch):
    _scripted_scores(monkeypatch)
    config = small_config(tmp_path, epochs=8, patience=3)
    result = fit(config, blob_data(), progress=False)
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4, 5]  # 3, 4, 5 do not beat epoch 2's 0.30
    assert result.selected_epoch == 1 and result.test_metrics["map@r"] == 0.15
    results = json.load(open(tmp_path / "run" / "results.json"))
    assert results["epochs_run"] == 5 and results["stopped_early"] and results["selected_epoch"] == 2


def test_without_patience_the_run_trains_every_epoch_and_keeps_the_best(tmp_path, monkeypatch):
    _scripted_scores(monkeypatch)
    result = fit(small_config(tmp_path, epochs=8), blob_data(), progress=False)
    assert len(result.history) == 8 and result.selected_epoch == 7
    assert not json.load(open(tmp_path / "run" / "results.json"))["stopped_early"]


def test_min_delta_keeps_an_epoch_only_when_it_improves_by_more_than_the_margin(tmp_path, monkeypatch):
    from histlib.training.stopping import kept_epoch

    scores = [0.10, 0.30, 0.31, 0.312, 0.35, 0.36]
    _scripted_scores(monkeypatch, scores)
    result = fit(small_config(tmp_path, epochs=6, patience=3, min_delta=0.015), blob_data(), progress=False)
    # 0.31 and 0.312 are within 0.015 of 0.30, 0.35 beats it by 0.05 (kept), 0.36 is within 0.015 of 0.35
    assert result.selected_epoch == 4 and len(result.history) == 6
    assert kept_epoch(scores, 0.015) == 5


@pytest.mark.parametrize("interrupt_after", [2, 5])  # mid-run, and after the epoch where it stops
def test_an_early_stopped_run_resumed_stops_where_an_uninterrupted_one_does(tmp_path, monkeypatch, interrupt_after):
    _scripted_scores(monkeypatch)
    straight = fit(small_config(tmp_path / "a", epochs=8, patience=3), blob_data(), progress=False)

    class Interrupted(Exception):
        pass

    def interrupt(row):
        if row["epoch"] == interrupt_after:
            raise Interrupted

    config = small_config(tmp_path / "b", epochs=8, patience=3)
    with pytest.raises(Interrupted):
        fit(config, blob_data(), progress=False, on_epoch_end=interrupt)
    resumed = fit(config, blob_data(), resume=True, progress=False)
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in straight.history]
    assert resumed.selected_epoch == straight.selected_epoch == 1
    for (name, p), q in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(p, q), name


def test_early_stopping_settings_are_checked_and_join_the_run_identity_only_when_set(tmp_path):
    from histlib.training.runs import config_fingerprint, config_identity

    with pytest.raises(ValueError, match="patience=3 stops on the validation score, so it needs selection='val'"):
        small_config(tmp_path, patience=3, selection="last")
    with pytest.raises(ValueError, match="patience must be an integer >= 1 or None, got 0"):
        small_config(tmp_path, patience=0)
    with pytest.raises(ValueError, match="min_delta must be a finite number >= 0.0"):
        small_config(tmp_path, min_delta=-0.1)
    plain = small_config(tmp_path)
    assert "patience" not in config_identity(plain) and "min_delta" not in config_identity(plain)
    assert config_fingerprint(small_config(tmp_path, patience=2)) != config_fingerprint(plain)
