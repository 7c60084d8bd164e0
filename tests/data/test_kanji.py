"""The kanji dataset on a few packaged CJK fonts and part of the block: rendering rules, duplicate
fonts, classes by coverage, split, per-class cap, cache, errors.

Skipped where the CJK font packages of histlib/data/debian-packages.txt are not installed
(scripts/ensure_debian_packages.sh installs them).
"""

from pathlib import Path

import matplotlib
import numpy as np
import pytest

from histlib.data import DatasetNotFoundError, load_dataset
from histlib.data import fonts
from histlib.data import kanji as kj

BLOCK = (0x4E00, 0x4E00 + 1499)  # the first 1,500 ideographs: quick to draw
WANTED = ["sawarabi-gothic-medium.ttf", "sawarabi-mincho-medium.ttf", "MTLc3m.ttf", "ipaexg.ttf", "ipag.ttf", "ipagp.ttf"]


@pytest.fixture(scope="module")
def few(tmp_path_factory):
    files = {f.name: f for f in fonts.debian_font_files(fonts.font_packages("kanji"))}
    if not set(WANTED) <= set(files):
        pytest.skip("the CJK fonts of histlib/data/debian-packages.txt are not installed")
    return tmp_path_factory.mktemp("kanji"), [files[name] for name in WANTED]


def both(few, **options):
    root, files = few
    return [load_dataset("kanji", root, split, fonts=files, block=BLOCK, **options) for split in ("train", "test")]


def test_duplicate_fonts_are_dropped(few):
    root, files = few
    rendered = kj.kanji_set(root, fonts=files, block=BLOCK)
    # ipagp draws IPA Gothic's ideographs pixel for pixel; IPAex Gothic is its revision (0.0096 on the probe)
    assert sorted(rendered.fonts) == ["MTLc3m.ttf", "ipaexg.ttf", "sawarabi-gothic-medium.ttf", "sawarabi-mincho-medium.ttf"]


def test_classes_are_the_ideographs_most_fonts_draw(few):
    root, files = few
    rendered = kj.kanji_set(root, fonts=files, block=BLOCK)
    per_class = np.bincount(rendered.class_index)
    assert per_class.min() >= 4 * kj.MIN_FONT_FRACTION and len(rendered.classes) > 100  # 4 fonts: all of them
    assert [ord(c) for c in rendered.classes] == sorted(ord(c) for c in rendered.classes)
    assert all(BLOCK[0] <= ord(c) <= BLOCK[1] for c in rendered.classes)
    assert np.array_equal(rendered.codepoints, [ord(rendered.classes[k]) for k in rendered.class_index])
    keys = {(int(k), image.tobytes()) for k, image in zip(rendered.class_index, rendered.images)}
    assert len(keys) == len(rendered.images)  # no image twice within a class


def test_only_characters_a_font_really_draws_become_images(few):
    ttLib = pytest.importorskip("fontTools.ttLib")
    root, files = few
    by_name = {f.name: f for f in files}
    for name in ("sawarabi-mincho-medium.ttf", "MTLc3m.ttf"):
        font = kj.open_kanji_font(by_name[name], 0, 32)
        codepoints = list(range(BLOCK[0], BLOCK[1] + 1))
        images, drawn = font.draw(codepoints)
        cmap = ttLib.TTFont(by_name[name], lazy=True).getBestCmap()
        in_cmap = np.array([cp in cmap for cp in codepoints])
        assert not (drawn & ~in_cmap).any()  # never tofu or a blank image for a missing character
        assert drawn.sum() > 0.9 * in_cmap.sum() and (~in_cmap).sum() > 500  # sawarabi and Motoya lack many
        assert images[~drawn].max() == 0
        ink = images[drawn].reshape(int(drawn.sum()), -1).sum(axis=1)
        assert ink.min() >= fonts.MIN_INK


def test_placement_centres_the_ideographs(few):
    root, files = few
    font = kj.open_kanji_font(files[3], 0, 32)  # IPAex Gothic
    images, drawn = font.draw([ord(c) for c in kj.REFERENCE])
    assert drawn.all()
    for image in images:
        rows, cols = np.flatnonzero(image.max(axis=1) > 64), np.flatnonzero(image.max(axis=0) > 64)
        assert abs((rows[0] + rows[-1]) / 2 - 15.5) <= 1.5 and abs((cols[0] + cols[-1]) / 2 - 15.5) <= 1.5
        assert 14 <= rows[-1] - rows[0] + 1 <= 24  # the em is 3/4 of the canvas
    assert kj.open_kanji_font(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf") is None


def test_split_half_of_the_block_by_seed_and_interface(few):
    train, test = both(few)
    assert not set(train.classes) & set(test.classes)
    assert 0.4 < train.num_classes / (train.num_classes + test.num_classes) < 0.6
    side = kj.split_kanji(seed=0)
    assert all(not side[ord(c) - kj.BLOCK[0]] for c in train.classes) and all(side[ord(c) - kj.BLOCK[0]] for c in test.classes)
    assert not np.array_equal(kj.split_kanji(seed=1), side)
    for data in (train, test):
        assert set(data.labels.tolist()) == set(range(data.num_classes))
        for path, label in zip(data.paths[::53], data.labels[::53]):
            assert chr(int(path.split("/U+")[1], 16)) == data.classes[label]
    image, label = train[0]
    assert image.mode == "RGB" and image.size == (32, 32)


def test_max_per_class_gives_sop_sized_classes(few):
    full, _ = both(few)
    capped, _ = both(few, max_per_class=2)
    assert set(np.bincount(capped.labels).tolist()) == {2} and capped.classes == full.classes
    assert set(capped.paths) <= set(full.paths)
    other, _ = both(few, max_per_class=2, seed=1)  # another seed: another split and draw
    assert other.classes != capped.classes


def test_cache_is_written_once_and_reused(few, monkeypatch):
    root, files = few
    both(few)
    cache = kj.kanji_cache_path(root, 32, files, None, BLOCK, kj.MIN_FONT_FRACTION)
    assert cache.is_file() and cache.parent == root / "kanji"

    def no_rendering(*args, **kwargs):
        raise AssertionError("rendered again although the cache exists")

    monkeypatch.setattr(kj, "render_kanji", no_rendering)
    both(few)


def test_without_cjk_fonts_the_error_says_what_to_install(tmp_path):
    latin = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    with pytest.raises(DatasetNotFoundError) as error:
        load_dataset("kanji", tmp_path, "train", fonts=[latin], block=BLOCK)
    message = str(error.value)
    assert "fonts that draw CJK ideographs" in message and "fonts-ipafont-gothic" in message
    assert "apt-get install" in message and "data/README.md" in message


def test_verify_reports_both_splits(few):
    from histlib.data.verify import verify_dataset

    root, files = few
    report = verify_dataset("kanji", root, fonts=files, block=BLOCK, max_per_class=3)
    assert report.ok and report.checked == 0
    assert any(note.startswith("train: 3.0 images per class") for note in report.notes)


def test_a_partial_cjk_install_is_warned_about(few, monkeypatch):
    root, files = few
    monkeypatch.setattr(fonts, "default_font_files", lambda dataset: (files, "the Debian packages listed for kanji"))
    with pytest.warns(UserWarning, match=r"kanji: only [\d,]+ ideographs from \d+ fonts .* at least 2,000") as caught:
        kj.kanji_set(root / "partial", block=BLOCK)
    message = next(str(w.message) for w in caught if "kanji: only" in str(w.message))
    assert "verify kanji --rebuild" in message and "fonts-ipafont-gothic" in message


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:kanji")
def test_verify_rebuild_renders_again(few, monkeypatch, capsys):
    from histlib.data import verify

    root, files = few
    calls = []
    real = kj.render_kanji
    monkeypatch.setattr(kj, "render_kanji", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(fonts, "default_font_files", lambda dataset: (files, "test fonts"))
    for _ in range(2):
        verify.main(["kanji", "--root", str(root / "rebuild"), "--rebuild"])
    assert len(calls) == 2  # rendered each time, although the first run wrote a cache
    with pytest.raises(SystemExit):
        verify.main(["cub", "--rebuild"])
    assert "--rebuild applies to the rendered datasets" in capsys.readouterr().err
