"""The typefaces dataset: typeface classes, character instances, the merge rule, split, cache, errors.

Rendering uses matplotlib's bundled DejaVu fonts (always there) and, for the measured merge rule,
a few packaged font families when scripts/ensure_debian_packages.sh has installed them.
"""

import shutil
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from histlib.data import DatasetNotFoundError, load_dataset
from histlib.data import fonts
from histlib.data import typefaces as tf

BUNDLED = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FAMILY = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSansMono.ttf",
          "DejaVuSansMono-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf"]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """8 DejaVu faces plus a renamed copy of DejaVu Sans (the same design under two names)."""
    root = tmp_path_factory.mktemp("typefaces")
    files = [BUNDLED / name for name in FAMILY]
    copy = root / "fonts" / "RenamedSans.ttf"
    copy.parent.mkdir()
    shutil.copy(BUNDLED / "DejaVuSans.ttf", copy)
    return root, files + [copy]


def both(small, **options):
    root, files = small
    return [load_dataset("typefaces", root, split, fonts=files, **options) for split in ("train", "test")]


def test_classes_are_typefaces_and_instances_are_characters(small):
    train, test = both(small)
    assert not set(train.classes) & set(test.classes)
    assert train.num_classes + test.num_classes == 8  # the renamed copy is merged into DejaVu Sans
    for data in (train, test):
        assert data.images.shape[1:] == (32, 32) and data.images.dtype == np.uint8
        assert set(data.labels.tolist()) == set(range(data.num_classes))
        for label in range(data.num_classes):
            paths = [p for p, y in zip(data.paths, data.labels) if y == label]
            fonts_of_class = {p.removeprefix("typeface:").split("/U+")[0] for p in paths}
            characters = {p.split("/U+")[1] for p in paths}
            assert len(characters) == len(paths) >= 100  # one image per character it draws
            assert data.classes[label].split(" +")[0] in fonts_of_class
    image, label = train[0]
    assert image.mode == "RGB" and image.size == (32, 32)


def test_a_renamed_copy_is_one_typeface_and_different_designs_are_not(small):
    root, files = small
    rendered = tf.typeface_set(root, fonts=files)
    assert len(rendered.classes) == 8 and len(rendered.fonts) == 8  # the pixel-identical copy is dropped
    assert ("RenamedSans.ttf" in rendered.fonts) != ("DejaVuSans.ttf" in rendered.fonts)
    per_font = []
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf"):
        from histlib.data.glyphs import render_font

        per_font.append(render_font(BUNDLED / name, 0, 32))
    images = np.stack([p[0] for p in per_font])
    distance = fonts.pairwise_mad(images, np.stack([p[1] for p in per_font]) > 0, limit=1.0)
    assert (distance[np.triu_indices(3, 1)] > tf.MERGE_BELOW).all()  # bold and oblique are other typefaces


def test_no_image_belongs_to_two_classes(small):
    root, files = small
    rendered = tf.typeface_set(root, fonts=files)
    owners = {}
    for image, label in zip(rendered.images, rendered.class_index):
        owners.setdefault(image.tobytes(), set()).add(int(label))
    assert all(len(labels) == 1 for labels in owners.values()) and len(owners) == len(rendered.images)


def test_measured_merges_on_packaged_families(tmp_path):
    packages = ["fonts-tuffy", "fonts-fanwood", "fonts-jetbrains-mono"]
    files = fonts.debian_font_files(packages)
    if len(files) < 20:
        pytest.skip("fonts-tuffy, fonts-fanwood and fonts-jetbrains-mono are not installed")
    rendered = tf.typeface_set(tmp_path, fonts=files)
    groups = {}
    for font, label in zip(rendered.font_index, rendered.class_index):
        groups.setdefault(int(label), set()).add(rendered.fonts[font])
    by_font = {name: frozenset(members) for members in groups.values() for name in members}
    assert by_font["Tuffy_Italic.ttf"] == by_font["tuffy_italic.ttf"]  # one design, two names: 0.0000
    assert by_font["Fanwood.otf"] == by_font["FanwoodText.otf"]  # 0.0055
    assert by_font["JetBrainsMono-Regular.ttf"] == by_font["JetBrainsMono-Medium.ttf"]  # adjacent weights: 0.0056
    assert by_font["JetBrainsMono-Regular.ttf"] != by_font["JetBrainsMono-Italic.ttf"]
    assert by_font["Tuffy_Italic.ttf"] != by_font["Fanwood-Italic.otf"]
    # Thin ~ ExtraLight ~ ... ~ Bold, each close to the next: the chain does not join its far ends.
    assert by_font["JetBrainsMono-Thin.ttf"] != by_font["JetBrainsMono-Bold.ttf"]  # 0.047 apart


def test_every_two_fonts_of_a_class_are_closer_than_the_threshold():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (1, 40, 8, 8)).astype(np.uint8)
    step = np.zeros_like(base)
    step[..., :2] = 9  # each font 9/255 * 2/8 ~ 0.0088 from the previous one over these pixels
    images = np.concatenate([np.clip(base.astype(int) + k * step, 0, 255).astype(np.uint8) for k in range(3)])
    distance = fonts.pairwise_mad(images, np.ones((3, 40), bool), tf.MERGE_BELOW, tf.MIN_COMMON)
    assert distance[0, 1] < tf.MERGE_BELOW and distance[1, 2] < tf.MERGE_BELOW <= distance[0, 2]
    group = fonts.complete_linkage_groups(distance, tf.MERGE_BELOW).tolist()
    assert group[0] != group[2] and len(set(group)) == 2  # one neighbour pair merged, never all three


def test_split_is_fixed_by_seed_and_class_name_alone():
    names = [f"font{i}.ttf" for i in range(400)]
    test = tf.split_by_name(names, seed=0)
    assert 160 < test.sum() < 240  # about half
    assert np.array_equal(tf.split_by_name(names[:50], seed=0), test[:50])  # other fonts do not matter
    assert not np.array_equal(tf.split_by_name(names, seed=1), test)
    assert 80 < tf.split_by_name(names, seed=0, test_fraction=0.25).sum() < 120
    # the count of merged fonts, which other installed fonts can change, does not move a class
    assert np.array_equal(tf.split_by_name([n + " +3" for n in names], seed=0), test)
    with pytest.raises(ValueError):
        tf.split_by_name(names, test_fraction=0.0)


def test_max_per_class_caps_each_class(small):
    full, _ = both(small)
    capped, _ = both(small, max_per_class=20)
    assert np.bincount(capped.labels).tolist() == [20] * full.num_classes and capped.classes == full.classes
    assert set(capped.paths) <= set(full.paths)
    again, _ = both(small, max_per_class=20)
    assert capped.paths == again.paths


def test_cache_is_written_once_and_reused(small, monkeypatch):
    root, files = small
    both(small)
    cache = tf.typeface_cache_path(root, 32, files, None)
    assert cache.is_file() and cache.parent == root / "typefaces" and cache.name.startswith("typefaces-32px-")

    def no_rendering(*args, **kwargs):
        raise AssertionError("rendered again although the cache exists")

    monkeypatch.setattr(tf, "render_typefaces", no_rendering)
    both(small)


def test_without_fonts_the_error_says_what_to_install(tmp_path):
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset("typefaces", tmp_path, "train", fonts=[BUNDLED / "DejaVuSans.ttf"])
    message = str(error.value)
    assert "at least 2 usable fonts" in message and "apt-get install --no-install-recommends fonts-dejavu-core" in message


def test_verify_reports_both_splits(small):
    from histlib.data.verify import verify_dataset

    root, files = small
    report = verify_dataset("typefaces", root, fonts=files)
    assert report.ok and any(note.startswith("test: ") and "images of" in note for note in report.notes)
