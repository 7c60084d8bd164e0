"""Shared test data and settings, and the ``slow`` marker.

``Blobs``, ``blob_data`` and ``small_config`` build the tiny datasets and training configs many
test modules train on (import them: ``from tests.conftest import blob_data``).

Tests marked ``slow`` (real servers, worker processes, whole notebooks, long training) are
skipped by ``pytest -m "not slow"``, the developer's quick run of the rest; CI runs everything.
"""

import os
import signal
import subprocess

import torch

from histlib.training import RunData, get_config


def stop_process_group(process: subprocess.Popen, timeout: float) -> bool:
    """SIGTERM to the process group of ``process`` (started with ``start_new_session=True``); one that
    is still running after ``timeout`` seconds is killed. Returns whether SIGTERM sufficed (True also
    when it had already exited)."""
    if process.poll() is not None:
        return True
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        return False


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds (deselect with -m 'not slow')")


class Blobs(torch.utils.data.Dataset):
    """Tiny images: a per-class random pattern plus noise. ``.labels`` as histlib datasets have."""

    def __init__(self, classes, per_class, seed, pattern_seed=0, size=12, noise=1.5):
        patterns = torch.randn(max(classes) + 1, 3, size, size, generator=torch.Generator().manual_seed(pattern_seed))
        g = torch.Generator().manual_seed(seed)
        self.labels = [c for c in classes for _ in range(per_class)]
        self.images = patterns[self.labels] + noise * torch.randn(len(self.labels), 3, size, size, generator=g)
        remap = {c: i for i, c in enumerate(sorted(set(classes)))}
        self.labels = [remap[c] for c in self.labels]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]


def blob_data():
    return RunData(
        train=Blobs(range(0, 8), 12, seed=1), val=Blobs(range(8, 11), 8, seed=2), test=Blobs(range(11, 15), 8, seed=3)
    )


def small_config(tmp_path, **overrides):
    values = dict(backbone="small_cnn", pretrained=False, embedding_size=16, hgnn_hidden=16,
                  batch_size=16, epochs=2, warmup_epochs=0, lr=3e-3, lr_ds=1e-1, hgnn_lr_factor=1.0,
                  num_workers=0, eval_batch_size=64, freeze_bn=False, output_dir=str(tmp_path / "run"))
    values.update(overrides)
    return get_config("glyphs", **values)
