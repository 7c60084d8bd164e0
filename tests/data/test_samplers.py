"""Samplers: plain random sampling (the published recipe) and PML's m-per-class sampler."""

import numpy as np
import pytest
import torch
from pytorch_metric_learning.samplers import MPerClassSampler
from torch.utils.data import RandomSampler

from histlib.data.samplers import make_sampler

LABELS = np.repeat(np.arange(10), 5)  # 10 classes x 5 images


def test_plain_sampling_visits_every_item_once_and_is_seeded():
    sampler = make_sampler(LABELS, batch_size=8, seed=3)
    assert isinstance(sampler, RandomSampler)
    order = list(sampler)
    assert sorted(order) == list(range(50))
    assert order == list(make_sampler(LABELS, batch_size=8, seed=3))
    assert order != list(make_sampler(LABELS, batch_size=8, seed=4))


def test_m_per_class_batches_hold_m_images_of_each_class():
    np.random.seed(0)
    sampler = make_sampler(torch.as_tensor(LABELS), batch_size=8, images_per_class=2)
    assert isinstance(sampler, MPerClassSampler) and len(sampler) == 48  # 50 rounded to whole batches
    order = np.array(list(sampler))
    for batch in order.reshape(-1, 8):
        assert sorted(np.bincount(LABELS[batch], minlength=10).tolist()) == [0] * 6 + [2] * 4


@pytest.mark.parametrize(
    "batch_size, m, message",
    [(8, 3, "multiple"), (24, 2, "needs 12 classes"), (0, None, "batch_size"), (51, None, "batch_size")],
)
def test_impossible_batches_are_explained(batch_size, m, message):
    with pytest.raises(ValueError, match=message):
        make_sampler(LABELS, batch_size=batch_size, images_per_class=m)
