"""The glyphs dataset: class table, look-alikes, rendering rules, cache, split, errors.

Rendering uses the fonts installed on this machine (scripts/ensure_debian_packages.sh installs
the listed packages; matplotlib's bundled DejaVu fonts are the fallback), so these tests only skip
when no font at all can be found. The shared font machinery is tested in test_fonts.py.
"""

from pathlib import Path

import matplotlib
import numpy as np
import pytest

from histlib.data import DatasetNotFoundError, load_dataset
from histlib.data import fonts
from histlib.data import glyphs as g


def lgc_fonts(limit=8):
    """Up to ``limit`` DejaVu faces (Latin, Greek and Cyrillic), from the system or matplotlib."""
    system, _ = fonts.default_font_files("glyphs")
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
    files = [f for f in fonts.default_font_files("glyphs")[0] if f.suffix in (".ttf", ".otf") and not g.EXCLUDED_FONTS.search(f.name)]
    files = files[:40] + lgc_fonts(2)
    single = [k for k, group in enumerate(g.CLASSES) if len(group) == 1]
    checked = 0
    for font in files:
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


def test_a_corrupt_or_truncated_cache_is_rendered_again(tmp_path):
    files = lgc_fonts(2)
    cache = g.glyph_cache_path(tmp_path, 16, files, None)
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"not a zip file")
    first = load_dataset("glyphs", tmp_path, "train", size=16, fonts=files)
    assert len(first) > 50
    data = cache.read_bytes()
    cache.write_bytes(data[: len(data) // 2])  # a copy cut short (BadZipFile inside np.load)
    again = load_dataset("glyphs", tmp_path, "train", size=16, fonts=files)
    assert np.array_equal(again.images, first.images) and g.GlyphSet.load(cache) is not None  # written again


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


def test_glyph_fonts_are_the_listed_latin_greek_cyrillic_packages():
    packages = fonts.font_packages("glyphs")
    assert 50 <= len(packages) <= 70 and len(set(packages)) == len(packages)
    assert "fonts-dejavu-core" in packages and not set(packages) & set(fonts.font_packages("kanji"))


@pytest.fixture(scope="module")
def packaged_root(tmp_path_factory):
    """A root holding the glyph set rendered from the packaged fonts (rendered once, ~4 s)."""
    files, source = fonts.default_font_files("glyphs")
    if "Debian packages" not in source or len(files) < 400:
        pytest.skip("the glyph fonts of histlib/data/debian-packages.txt are not installed (scripts/ensure_debian_packages.sh)")
    root = tmp_path_factory.mktemp("packaged")
    g.glyph_set(root)
    return root


def test_the_packaged_fonts_give_the_measured_dataset(packaged_root):
    tmp_path = packaged_root
    train, test = load_dataset("glyphs", tmp_path, "train"), load_dataset("glyphs", tmp_path, "test")
    glyphs = g.GlyphSet.load(g.glyph_cache_path(tmp_path, 32, None, None))
    assert 450 <= len(glyphs.fonts) <= 730 and glyphs.seconds < 60
    assert (train.num_classes, test.num_classes) == (79, 80)
    assert len(train) + len(test) == len(glyphs.images) >= 50000
    per_class = np.bincount(glyphs.class_index, minlength=len(g.CLASSES))
    assert per_class.min() >= 150  # Greek and Cyrillic classes too


# ---------------------------------------------------------------------------------------------
# Pinned renders: refactoring the font machinery must not change a single pixel of glyphs.
# Digests recorded with the glyphs code of commit 13ef4c8 (Pillow 13.0.0, FreeType 2.14.3);
# another Pillow/FreeType may anti-alias differently, so the comparison is skipped there.

PINNED_RENDERER = ("13.0.0", "2.14.3")
PINNED_FONTS = {  # matplotlib's bundled file (sha1 of the file) -> {size: sha1(images + codepoints)}
    "DejaVuSans.ttf": ("8062ebe952be9f004a63b9a2ace90c0b1f3dfd3f", {
        32: "ecdffb4774ac0831f59edc310c2b85f3a621545c", 16: "f4290b37dd31d2299ad8ff8958ed7deffd163979"}),
    "DejaVuSerif-Bold.ttf": ("d519387878ab137e6018437bd78c097afcf524e4", {
        32: "58408c25a49ad16feaeab2f06db2f1b94cf45b38", 16: "d04229d80c755643f3b948412c7d8041d7dfa3fa"}),
    "DejaVuSansMono-Oblique.ttf": ("0590ec015526674b148c61dac14b5adeceeb1179", {
        32: "80e4dac47b3214abfc0a6081dac57912f260a1d2", 16: "b5ffaf40af193ccb151600d57df5154e92b342ff"}),
    "DejaVuSans-Oblique.ttf": ("8efc81d69bafe3602c1b98bbc969aa6e7c4f31f5", {
        32: "94cab6df27e21dd6b06eea944cdfb5327f512d1c", 16: "74d5787a5e82a662fe39d9438990cd1d20e0586a"}),
}
PINNED_SMALL_SET = "05eac0764e1464c08e99956fd5efd8920f98e970"  # the four fonts above at 24 px
# The full set from the packaged fonts: (fingerprint of the font files, digest of the set)
PINNED_FULL_SET = ("d37ff180c7ca0f1f4c3cbb74a608116a929a2641", "d0b67aa7f9825526c77d9ec46bd1bf676b8faad9")


def sha1(*parts: bytes) -> str:
    import hashlib

    digest = hashlib.sha1()
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


def set_digest(glyphs) -> str:
    arrays = (glyphs.images, glyphs.class_index, glyphs.font_index, glyphs.codepoints)
    return sha1(*(a.tobytes() for a in arrays), "\n".join(glyphs.fonts).encode())


@pytest.fixture(scope="module")
def pinned_fonts():
    from PIL import Image, features

    if (Image.__version__, features.version("freetype2")) != PINNED_RENDERER:
        pytest.skip(f"the digests were recorded with Pillow/FreeType {PINNED_RENDERER}")
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    fonts = [folder / name for name in PINNED_FONTS]
    if any(not f.is_file() or sha1(f.read_bytes()) != PINNED_FONTS[f.name][0] for f in fonts):
        pytest.skip("matplotlib's bundled DejaVu fonts differ from those the digests were recorded with")
    return fonts


def test_renders_equal_the_pinned_ones(pinned_fonts):
    for font in pinned_fonts:
        for size, expected in PINNED_FONTS[font.name][1].items():
            images, codepoints = g.render_font(font, 0, size)
            assert sha1(images.tobytes(), codepoints.tobytes()) == expected, (font.name, size)
    assert set_digest(g.render_glyphs(pinned_fonts, 24)) == PINNED_SMALL_SET


def test_the_packaged_glyph_set_equals_the_pinned_one(pinned_fonts, packaged_root):
    tmp_path = packaged_root
    files, source = fonts.default_font_files("glyphs")
    fingerprint = sha1("\n".join(f"{f.name}:{f.stat().st_size}" for f in files).encode())
    if fingerprint != PINNED_FULL_SET[0]:
        pytest.skip("the installed glyph fonts differ from those the digest was recorded with")
    glyphs = g.GlyphSet.load(g.glyph_cache_path(tmp_path, 32, None, None))
    assert set_digest(glyphs) == PINNED_FULL_SET[1]
    assert (len(glyphs.fonts), len(glyphs.images)) == (509, 54651)
    assert g.glyph_cache_path(tmp_path, 32, None, None).name == "glyphs-32px-v1.npz"
    train, test = (load_dataset("glyphs", tmp_path, split) for split in ("train", "test"))
    assert (train.num_classes, test.num_classes, len(train), len(test)) == (79, 80, 27145, 27506)
