"""The frozen-trunk mode: cached pooled features (keyed, atomic, shared by processes) and training
on them, checked against the same steps with the frozen trunk run online."""

import multiprocessing
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from histlib.data.base import ArrayImageDataset
from histlib.data.splits import cap_images_per_class
from histlib.features import FeatureDataset, cache_path, cached_features, dataset_identity, feature_key
from histlib.training import (RunData, build_criterion, build_model, build_run_data, fit, get_config,
                              initial_state, parameter_groups, train_loader)
from histlib.training.factory import build_encoder
from histlib.training.run_data import frozen_features

from .conftest import Blobs, small_config


def rendered(n=24, size=12, seed=0, classes=4):
    """An in-memory image dataset as the font loaders make them (uint8 white on black)."""
    g = np.random.default_rng(seed)
    images = g.integers(0, 256, (n, size, size), dtype=np.uint8)
    return ArrayImageDataset(images, np.arange(n) % classes, [f"c{i}" for i in range(classes)], name="toy",
                             split="train")


def key_of(dataset, **changes):
    values = dict(backbone="small_cnn", pretrained=False, image_size=12, pooling="avg+max", seed=1) | changes
    return feature_key(dataset, **values)


# -- the key ----------------------------------------------------------------------------------------


def test_the_key_changes_with_everything_the_features_depend_on():
    data = rendered()
    base = key_of(data)
    assert key_of(rendered()) == base  # the same content: the same key
    other_pixels = rendered()
    other_pixels.images[3, 0, 0] ^= 1
    changed = [key_of(other_pixels), key_of(data, backbone="efficientnet_lite0"), key_of(data, image_size=16),
               key_of(data, pooling="avg"), key_of(data, seed=2), key_of(data.with_transform(lambda x: x)),
               key_of(cap_images_per_class(data, 3))]
    assert all(k != base for k in changed) and len({str(k) for k in changed}) == len(changed)
    assert cache_path("root", key_of(other_pixels)) != cache_path("root", base)


def test_a_subset_is_identified_by_the_images_it_selects():
    data = rendered()
    assert dataset_identity(cap_images_per_class(data, 3)) == dataset_identity(cap_images_per_class(rendered(), 3))
    changed = rendered()
    changed.images[-1] += 1  # an image the cap drops does not matter; one it keeps does
    kept = cap_images_per_class(data, 3).indices
    assert (dataset_identity(cap_images_per_class(changed, 3)) == dataset_identity(cap_images_per_class(data, 3))) \
        == (len(data) - 1 not in kept)


def test_files_are_identified_by_size_and_modification_time(tmp_path):
    from histlib.data.base import LabelledImages

    class Files(LabelledImages):
        def load_image(self, index):  # pragma: no cover - not read here
            raise AssertionError

    path = tmp_path / "a.jpg"
    path.write_bytes(b"1234")
    files = Files([str(path)], [0], ["a"], name="files", split="test")
    before = dataset_identity(files)
    path.write_bytes(b"12345")
    assert dataset_identity(files) != before


# -- the cache --------------------------------------------------------------------------------------


def test_features_are_extracted_once_then_read_and_a_changed_key_extracts_again(tmp_path):
    data, calls = rendered(), []
    key = key_of(data)

    def extract():
        calls.append(1)
        return torch.arange(len(data) * 3, dtype=torch.float32).reshape(len(data), 3)

    first = cached_features(cache_path(tmp_path, key), key, data.labels, extract)
    again = cached_features(cache_path(tmp_path, key), key, data.labels, extract)
    assert len(calls) == 1 and torch.equal(first, again)
    other = key_of(data, seed=5)
    cached_features(cache_path(tmp_path, other), other, data.labels, extract)
    assert len(calls) == 2
    # a file at the path that holds another key (a stale file) is extracted again too
    stale = cache_path(tmp_path, key)
    stale.write_bytes(cache_path(tmp_path, other).read_bytes())
    cached_features(stale, key, data.labels, extract)
    assert len(calls) == 3


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "other labels"])
def test_a_damaged_cache_file_is_extracted_again(tmp_path, damage):
    data = rendered()
    key = key_of(data)
    path = cache_path(tmp_path, key)
    features = torch.randn(len(data), 5)
    cached_features(path, key, data.labels, lambda: features)
    content = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(content[: len(content) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00not a cache file" * 10)
    elif damage == "empty":
        path.write_bytes(b"")
    labels = data.labels if damage != "other labels" else (data.labels + 1) % 4
    fresh = torch.randn(len(data), 5)
    assert torch.equal(cached_features(path, key, labels, lambda: fresh), fresh)
    assert torch.equal(cached_features(path, key, labels, pytest.fail), fresh)  # now valid: read back


def _build_in_process(root, seed, queue):
    data = rendered()
    key = key_of(data)

    def extract():
        import time

        time.sleep(0.5)  # long enough for the other process to arrive meanwhile
        with open(Path(root) / f"extracted-{seed}", "w"):
            pass
        return torch.full((len(data), 4), float(seed))

    features = cached_features(cache_path(root, key), key, data.labels, extract)
    queue.put(features.tolist())


@pytest.mark.slow
def test_two_processes_building_one_cache_extract_once_and_read_the_same_valid_file(tmp_path):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_build_in_process, args=(str(tmp_path), seed, queue)) for seed in (1, 2)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert results[0] == results[1]
    assert len(list(tmp_path.glob("extracted-*"))) == 1
    data = rendered()
    key = key_of(data)
    assert cached_features(cache_path(tmp_path, key), key, data.labels, pytest.fail).tolist() == results[0]
    assert not list((tmp_path / "features").glob("*.tmp")) and not list((tmp_path / "features").glob(".*.tmp"))


# -- training on cached features --------------------------------------------------------------------


def blobs_as_rendered():
    """Blobs-like data as frozen_features needs it: labelled in-memory datasets with a transform."""
    train, val, test = Blobs(range(0, 8), 12, seed=1), Blobs(range(8, 11), 8, seed=2), Blobs(range(11, 15), 8, seed=3)
    return RunData(train=train, val=val, test=test)


def test_the_frozen_trunk_gets_no_gradient_and_does_not_change(tmp_path):
    config = small_config(tmp_path, frozen_trunk=True, data_root=str(tmp_path))
    encoder = build_encoder(config)
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    data = frozen_features(blobs_as_rendered(), config)
    assert all(not p.requires_grad for p in encoder.parameters()) and not encoder.training
    result = fit(config, data, progress=False)
    assert result.model.trunk_parameters() == []  # the head alone trains: Linear -> LayerNorm
    assert set(result.model.state_dict()) == {"embedding.weight", "embedding.bias"}
    after = build_encoder(config).state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_steps_on_cached_features_equal_the_same_steps_with_the_frozen_trunk_run_online(tmp_path):
    online_config = small_config(tmp_path, epochs=1, max_steps_per_epoch=4, lr=1e-2, data_root=str(tmp_path))
    frozen_config = replace(online_config, frozen_trunk=True)
    images = blobs_as_rendered()
    features = frozen_features(images, frozen_config)
    num_classes = 8

    # online: the full network with its trunk frozen (eval mode, no gradient), the same head start
    online, online_loss = initial_state(online_config, num_classes)
    online.eval()
    for p in online.trunk_parameters():
        p.requires_grad_(False)
    head, head_loss = build_model(frozen_config), build_criterion(frozen_config, num_classes)
    head.load_state_dict({k: v for k, v in online.state_dict().items() if k.startswith("embedding.")})
    head_loss.load_state_dict(online_loss.state_dict())
    optimisers = [torch.optim.Adam(parameter_groups(model, loss, online_config), weight_decay=1e-4)
                  for model, loss in ((online, online_loss), (head, head_loss))]
    losses = {"online": [], "cached": []}
    for name, model, loss, dataset, optimiser in (("online", online, online_loss, images.train, optimisers[0]),
                                                  ("cached", head, head_loss, features.train, optimisers[1])):
        loss.train()
        for step, (batch, labels) in enumerate(train_loader(dataset, online_config, epoch=0)):
            if step == 4:
                break
            value = loss(model(batch), labels)
            optimiser.zero_grad()
            value.backward()
            optimiser.step()
            losses[name].append(value.item())
    np.testing.assert_allclose(losses["cached"], losses["online"], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(head.embedding.weight, online.embedding.weight, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(head_loss.means, online_loss.means, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(head_loss.hgnn.theta2.weight, online_loss.hgnn.theta2.weight, rtol=1e-4, atol=1e-5)


def test_validation_and_training_classes_are_rows_of_one_cached_set(tmp_path, monkeypatch):
    """Real loading code on rendered data: every seed's class split reuses one extraction."""
    import histlib.features as features

    data = rendered(n=60, classes=6)
    test_data = rendered(n=24, classes=4, seed=1)
    test_data.split = "test"
    monkeypatch.setattr("histlib.data.load_dataset",
                        lambda name, root, split, transform=None, **o: (data if split == "train" else test_data)
                        .with_transform(transform))
    calls = []
    original = features.extract_features
    monkeypatch.setattr(features, "extract_features", lambda *a, **k: (calls.append(1), original(*a, **k))[1])
    for seed in (1, 2):
        config = small_config(tmp_path, dataset="glyphs", frozen_trunk=True, image_size=12, data_root=str(tmp_path),
                              val_fraction=0.34, seed=seed, max_images_per_class=None)
        run = build_run_data(config)
        assert isinstance(run.train, FeatureDataset) and run.train.features.shape[1] == 128  # small_cnn's channels
        assert len(run.train) + len(run.val) == 60 and len(run.test) == 24
        assert set(run.train.classes).isdisjoint(run.val.classes)
    # seeds 1 and 2 have other random trunks (no pretrained weights): their own caches, each extracted once
    assert len(calls) == 4
    build_run_data(config)
    assert len(calls) == 4


@pytest.mark.parametrize("benchmark", ["cub", "cars"])
def test_the_full_profiles_frozen_recipes_train_on_the_published_layouts(tmp_path, benchmark):
    """The real loaders on the published layouts (random-pixel fixtures), the *_frozen recipe shrunk
    (a random ResNet-50 at 32 px, one epoch): features extracted once, a run trains and evaluates.
    (SOP takes the same path; its fixture's 22,634 images would only add minutes.)"""
    from PIL import Image

    from .data.fixtures import make_cars_official, make_cub

    if benchmark == "cub":
        make_cub(tmp_path, {c: ["RGB", "RGB"] for c in range(1, 201)}, resource_fork=False)
    else:
        make_cars_official(tmp_path, {c: 2 for c in range(1, 197)})
    rng = np.random.default_rng(0)
    for path in sorted(tmp_path.rglob("*.jpg")):
        with Image.open(path) as image:
            size = image.size
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    config = get_config(f"{benchmark}_frozen", data_root=str(tmp_path), output_dir=str(tmp_path / "run"),
                        pretrained=False, image_size=32, epochs=1, batch_size=8, num_workers=0, eval_batch_size=512,
                        max_steps_per_epoch=2, test_every_epoch=False)
    assert config.frozen_trunk and config.backbone == "resnet50"
    data = build_run_data(config)
    assert isinstance(data.train, FeatureDataset) and data.train.features.shape[1] == 2048
    assert len(list((tmp_path / "features").glob("*.pt"))) == 2  # training classes and test classes
    result = fit(config, data, progress=False)
    assert 0.0 <= result.test_metrics["map@r"] <= 1.0 and result.history[0]["train_hgnn_loss"] > 0
