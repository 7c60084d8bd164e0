"""The glyphs dataset: class table, look-alikes, rendering rules, cache, split, errors.

Rendering uses the fonts installed on this machine (scripts/ensure_debian_packages.sh installs
the listed packages; matplotlib's bundled DejaVu fonts are the fallback), so these tests only skip
when no font at all can be found.
"""

from pathlib import Path

import matplotlib
import numpy as np
import pytest

from histlib.data import DatasetNotFoundError, load_dataset
from histlib.data import glyphs as g


def lgc_fonts(limit=8):
    """Up to ``limit`` DejaVu faces (Latin, Greek and Cyrillic), from the system or matplotlib."""
    system, _ = g.default_font_files()
    bundled = sorted((Path(matplotlib.get_data_path()) / "fonts" / "ttf").glob("DejaVu*.ttf"))
    for pool in (system, bundled):
        chosen = [f for f in pool if f.name.startswith("DejaVuSans") and not g.EXCLUDED_FONTS.search(f.name)]
        if chosen:
            return chosen[:limit]
    pytest.skip("no DejaVu font found on this machine or in matplotlib")


@pytest.fixture(scope="module")
def small_root(tmp_path_factory):
    return tmp_path_factory.mktemp("glyphs"), lgc_fonts()


def load(small_root, split, **options):
    root, fonts = small_root
    return load_dataset("glyphs", root, split, fonts=fonts, **options)


# ---------------------------------------------------------------------------------------------
# The class table


def test_every_character_is_in_exactly_one_class():
    members = "".join(g.CLASSES)
    assert sorted(members) == sorted(g.ALPHABET) and len(set(members)) == len(members)
    assert len(g.ALPHABET) == 10 + 52 + 49 + 66 + 28
    assert len(g.CLASSES) == 159


def test_lookalikes_are_merged_and_case_pairs_are_not():
    names = [g.class_name(c) for c in g.CLASSES]
    for merged in ("A/\u0391/\u0410", "O/\u039f/\u041e/0", "I/\u0399/\u0406/l", "\u0393/\u0413", "\u03ba/\u043a"):
        assert merged in names
    class_of = {char: k for k, group in enumerate(g.CLASSES) for char in group}
    for pair in ("cC", "sS", "vV", "wW", "xX", "zZ", "\u0436\u0416", "\u043a\u041a"):
        assert class_of[pair[0]] != class_of[pair[1]], pair  # differ by size, which rendering keeps
    assert "1" in names  # the digit one stays apart from I and l


def test_class_split_is_fixed_by_the_seed_alone():
    train, test = g.split_glyph_classes(seed=0)
    assert (len(train), len(test)) == (79, 80)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(159))
    again, _ = g.split_glyph_classes(seed=0)
    other, _ = g.split_glyph_classes(seed=1)
    assert np.array_equal(train, again) and not np.array_equal(train, other)
    assert len(g.split_glyph_classes(seed=0, test_fraction=1 / 3)[1]) == 53
    with pytest.raises(ValueError):
        g.split_glyph_classes(test_fraction=1.0)


# ---------------------------------------------------------------------------------------------
# Rendering rules


def ink_rows(image):
    rows = np.flatnonzero(image.max(axis=1) > 64)
    return rows.min(), rows.max()


def test_render_keeps_size_and_baseline():
    font = next(f for f in lgc_fonts() if f.name == "DejaVuSans.ttf")
    images, codepoints = g.render_font(font, size=32)
    image = {chr(c): images[k] for k, c in enumerate(codepoints) if c}
    top, bottom = ink_rows(image["H"])
    assert bottom in (23, 24) and 14 <= bottom - top + 1 <= 18  # cap height ~ 32/2, baseline at 24
    assert ink_rows(image["x"])[0] > top + 3  # lower case stays smaller than upper case
    assert ink_rows(image["p"])[1] > bottom + 3  # descenders go below the baseline
    assert (codepoints > 0).sum() >= 150  # DejaVu Sans draws (nearly) every class


def test_missing_characters_match_the_font_cmap():
    ttLib = pytest.importorskip("fontTools.ttLib")
    fonts = [f for f in g.default_font_files()[0] if f.suffix in (".ttf", ".otf") and not g.EXCLUDED_FONTS.search(f.name)]
    fonts = fonts[:40] + lgc_fonts(2)
    single = [k for k, group in enumerate(g.CLASSES) if len(group) == 1]
    checked = 0
    for font in fonts:
        rendered = g.render_font(font, size=32)
        if rendered is None:
            continue
        cmap = ttLib.TTFont(font, lazy=True).getBestCmap() or {}
        in_cmap = np.array([ord(g.CLASSES[k]) in cmap for k in single])
        drawn = rendered[1][single] > 0
        assert not (drawn & ~in_cmap).any(), font  # never an image of a character the font lacks
        assert (drawn == in_cmap).mean() > 0.9, font  # .notdef boxes are recognised as missing
        checked += 1
    assert checked


def test_identical_images_of_different_classes_in_one_font_are_dropped():
    images = np.zeros((4, 8, 8), np.uint8)
    images[0, 2:6, 2:6] = images[2, 2:6, 2:6] = 255  # classes 0 and 2 look the same in this font
    images[1, 1:3, 1:7] = 255
    codepoints = np.array([65, 66, 67, 0], np.int32)
    g._drop_ambiguous(images, codepoints)
    assert codepoints.tolist() == [0, 66, 0, 0] and images[[0, 2]].max() == 0


def test_fonts_without_lower_case_or_too_faint_are_rejected():
    k = len(g.CLASSES)
    images = np.zeros((k, 8, 8), np.uint8)
    images[:, 2:6, 2:6] = 255
    codepoints = np.full(k, 65, np.int32)
    assert g._font_problem(images, codepoints) is None
    lower = [i for i, group in enumerate(g.CLASSES) if group[0] in "abcdefghijkmnqrtuwz"]
    codepoints[lower] = 0  # an all-caps font loses its lower case to the ambiguity rule
    assert "Latin" in g._font_problem(images, codepoints)
    assert g._font_problem(images // 3, np.full(k, 65, np.int32)) == "too faint"


def test_excluded_font_names():
    for name in ("Go-Smallcaps.ttf", "RomandeADFStyleStd-Regular.otf", "LinBiolinum_K.otf", "STIXMath-Regular.otf", "unifur.ttf"):
        assert g.EXCLUDED_FONTS.search(name), name
    for name in ("DejaVuSans.ttf", "LinBiolinum_R.otf", "GFSDidot.otf", "Karla-Regular.ttf"):
        assert not g.EXCLUDED_FONTS.search(name), name


def test_collection_files_have_one_face_per_font(tmp_path):
    ttc = tmp_path / "x.ttc"
    ttc.write_bytes(b"ttcf\x00\x01\x00\x00\x00\x00\x00\x03")
    assert g._faces(ttc) == [0, 1, 2] and g._faces(tmp_path / "absent.ttf") == []


# ---------------------------------------------------------------------------------------------
# The dataset and its cache


def test_dataset_interface_and_class_disjoint_split(small_root):
    train, test = load(small_root, "train"), load(small_root, "test")
    assert not set(train.classes) & set(test.classes)
    for data in (train, test):
        assert data.images.dtype == np.uint8 and data.images.shape[1:] == (32, 32)
        assert set(data.labels.tolist()) == set(range(data.num_classes))
        assert data.images.reshape(len(data), -1).max(axis=1).min() > 0  # no blank image
        for path, label in zip(data.paths[::97], data.labels[::97]):
            font, codepoint = path.removeprefix("glyph:").split("/U+")
            assert font.startswith("DejaVuSans")
            assert chr(int(codepoint, 16)) in data.classes[label].split("/")
    assert train.num_classes > 70 and test.num_classes > 70  # half of the 159 classes each (CUB-like)
    image, label = train[0]
    assert image.mode == "RGB" and image.size == (32, 32) and label == train.labels[0]


def test_within_a_class_no_two_images_are_identical(small_root):
    data = load(small_root, "train")
    keys = {(int(label), image.tobytes()) for image, label in zip(data.images, data.labels)}
    assert len(keys) == len(data)


def test_cache_is_written_once_and_reused(small_root, monkeypatch):
    root, fonts = small_root
    first = load(small_root, "train")
    cache = g.glyph_cache_path(root, 32, fonts, None)
    assert cache.is_file() and cache.parent == root / "glyphs"

    def no_rendering(*args, **kwargs):
        raise AssertionError("rendered again although the cache exists")

    monkeypatch.setattr(g, "render_glyphs", no_rendering)
    again = load(small_root, "train")
    assert np.array_equal(first.images, again.images) and first.paths == again.paths
    with pytest.raises(AssertionError, match="rendered again"):
        load(small_root, "train", rebuild=True)


def test_size_and_max_fonts_make_their_own_cache(small_root):
    root, fonts = small_root
    small = load(small_root, "test", size=24, max_fonts=2)
    assert small.images.shape[1:] == (24, 24)
    assert {p.split("/")[0] for p in small.paths} <= {f"glyph:{f.name}" for f in fonts[:2]}
    assert len(list((root / "glyphs").glob("glyphs-24px-*-v1.npz"))) == 1


def test_a_corrupt_cache_is_rendered_again(tmp_path):
    fonts = lgc_fonts(2)
    cache = g.glyph_cache_path(tmp_path, 16, fonts, None)
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"not a zip file")
    assert len(load_dataset("glyphs", tmp_path, "train", size=16, fonts=fonts)) > 50


def test_too_few_fonts_for_any_class_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="min_font_fraction"):
        load_dataset("glyphs", tmp_path, "train", fonts=lgc_fonts(1))


def test_no_usable_font_is_a_clear_error(tmp_path):
    not_a_font = tmp_path / "readme.ttf"
    not_a_font.write_text("hello")
    for fonts in ([], [not_a_font]):
        with pytest.raises(DatasetNotFoundError) as error:
            load_dataset("glyphs", tmp_path, "train", fonts=fonts)
        assert "ensure_debian_packages.sh" in str(error.value) and "data/README.md" in str(error.value)


# ---------------------------------------------------------------------------------------------
# Where fonts come from


def test_font_package_list_is_the_project_list():
    packages = g.font_packages()
    assert g.PACKAGE_LIST.name == "debian-packages.txt" and g.PACKAGE_LIST.is_file()
    assert 50 <= len(packages) <= 70 and len(set(packages)) == len(packages)
    assert all(p.startswith("fonts-") for p in packages)
    assert "dataset-fashion-mnist" in g.PACKAGE_LIST.read_text()


def test_without_dpkg_fonts_come_from_the_font_folders(monkeypatch, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "A.ttf").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    monkeypatch.setattr(g.shutil, "which", lambda name: None)
    monkeypatch.setattr(g, "FONT_FOLDERS", (str(tmp_path), str(tmp_path / "absent")))
    assert g.debian_font_files(["fonts-dejavu-core"]) == []
    files, source = g.default_font_files()
    assert files == [tmp_path / "sub" / "A.ttf"] and str(tmp_path) in source


def test_the_packaged_fonts_give_the_measured_dataset(tmp_path):
    files, source = g.default_font_files()
    if "Debian packages" not in source or len(files) < 400:
        pytest.skip("the fonts of scripts/debian-packages.txt are not installed (scripts/ensure_debian_packages.sh)")
    train, test = load_dataset("glyphs", tmp_path, "train"), load_dataset("glyphs", tmp_path, "test")
    glyphs = g.GlyphSet.load(g.glyph_cache_path(tmp_path, 32, None, None))
    assert 450 <= len(glyphs.fonts) <= 730 and glyphs.seconds < 60
    assert (train.num_classes, test.num_classes) == (79, 80)
    assert len(train) + len(test) == len(glyphs.images) >= 50000
    per_class = np.bincount(glyphs.class_index, minlength=len(g.CLASSES))
    assert per_class.min() >= 150  # Greek and Cyrillic classes too
