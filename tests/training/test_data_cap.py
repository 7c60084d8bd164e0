"""build_run_data with ``max_images_per_class``: train and test capped before validation classes are carved."""

import numpy as np

from histlib.training import get_config, parse_overrides
from histlib.training.run_data import build_run_data as build_data

from ..data import fixtures as fx


def test_max_images_per_class_caps_train_and_test_before_the_validation_split(tmp_path):
    fx.make_fashion_mnist(tmp_path / "fashion-mnist", per_class=8)  # 16 images per class
    overrides = parse_overrides(["max_images_per_class=3", "val_fraction=0.4"])
    config = get_config("glyphs", dataset="fashion-mnist", data_root=str(tmp_path), image_size=28, **overrides)
    data = build_data(config)
    for split in (data.train, data.val, data.test):
        assert set(np.bincount(split.labels).tolist()) == {3}
    assert (data.train.num_classes, data.val.num_classes, data.test.num_classes) == (3, 2, 5)
    again = build_data(get_config("glyphs", dataset="fashion-mnist", data_root=str(tmp_path), image_size=28,
                                  seed=7, **overrides))
    assert data.test.paths == again.test.paths  # the capped subset does not depend on the run's seed
    uncapped = build_data(get_config("glyphs", dataset="fashion-mnist", data_root=str(tmp_path), image_size=28,
                                     max_images_per_class=None, val_fraction=0.4))
    assert len(uncapped.test) == 5 * 16
