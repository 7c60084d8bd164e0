"""histlib.training.fine_tune: a run continued for a few steps on the loop's batches and schedule."""

import copy

import pytest
import torch

from histlib.training import epoch_loader, fine_tune, fit
from histlib.training import finetune as finetune_module

from ..conftest import blob_data, small_config


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """4 epochs, one of warm-up, the learning rates halved every epoch after it: (config, data, FitResult)."""
    config = small_config(tmp_path_factory.mktemp("finetune"), epochs=4, warmup_epochs=1, lr_step=1, lr_gamma=0.5,
                          selection="last")
    data = blob_data()
    return config, data, fit(config, data, progress=False)


def test_the_learning_rates_follow_the_loops_schedule_across_epochs(run, monkeypatch):
    config, data, result = run
    seen = []
    original = finetune_module.train_one_epoch

    def spy(model, criterion, optimizer, loader, *args, **kwargs):
        seen.append(([group["lr"] for group in optimizer.param_groups], next(iter(loader))[1]))
        return original(model, criterion, optimizer, loader, *args, **kwargs)

    monkeypatch.setattr(finetune_module, "train_one_epoch", spy)
    per_epoch = len(epoch_loader(data.train, config, 0))
    model, loss = copy.deepcopy(result.model), copy.deepcopy(result.criterion)
    done = []
    rows = fine_tune(model, loss, data.train, config, epochs_done=2, steps=per_epoch + 2, on_step=done.append)
    assert done == list(range(1, per_epoch + 3))
    assert [row["epoch"] for row in rows] == [3] * per_epoch + [4, 4]
    # the loop's lr of epochs 3 and 4 (its first group's, as the history records it), exactly
    assert [lrs[0] for lrs, _ in seen] == [result.history[2]["lr"], result.history[3]["lr"]]
    assert seen[1][0] == [lr * 0.5 for lr in seen[0][0]]  # every group decays
    # the batches are the loop's batches of those epochs
    for (_, labels), epoch in zip(seen, (2, 3)):
        assert labels.tolist() == next(iter(epoch_loader(data.train, config, epoch)))[1].tolist()


def test_fine_tuning_twice_gives_the_same_state_and_trains_in_place(run):
    config, data, result = run
    states = []
    for _ in range(2):
        model, loss = copy.deepcopy(result.model), copy.deepcopy(result.criterion)
        loss.alpha = 4.0
        rows = fine_tune(model, loss, data.train, config, epochs_done=4, steps=3)
        assert len(rows) == 3 and all("hgnn_loss" in row for row in rows)
        states.append({**model.state_dict(), **{"loss." + k: v for k, v in loss.state_dict().items()}})
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    before = result.model.state_dict()
    assert any(not torch.equal(before[k], states[0][k]) for k in before)

