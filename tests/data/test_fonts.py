"""histlib.data.fonts: package list, finding fonts, drawing, missing glyphs, the render cache."""

import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from histlib.data import DatasetNotFoundError
from histlib.data import fonts

DEJAVU = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


# ---------------------------------------------------------------------------------------------
# The package list


def test_the_package_list_ships_inside_the_package():
    assert fonts.PACKAGE_LIST.parent == Path(fonts.__file__).parent and fonts.PACKAGE_LIST.is_file()
    everything = fonts.packages_for()
    assert "dataset-fashion-mnist" in everything and len(set(everything)) == len(everything)
    assert fonts.packages_for("fashion-mnist") == ["dataset-fashion-mnist"]
    for dataset in ("glyphs", "typefaces", "kanji"):
        assert fonts.font_packages(dataset), dataset
    assert fonts.font_packages("glyphs") == fonts.font_packages("typefaces")
    others = {"dataset-fashion-mnist", *fonts.packages_for("browser-test"), *fonts.packages_for("postgresql-test")}
    assert set(fonts.font_packages("glyphs")) | set(fonts.font_packages("kanji")) | others == set(everything)
    assert not set(fonts.font_packages("glyphs")) & set(fonts.font_packages("kanji"))


def test_sections_name_the_datasets_of_the_packages_that_follow(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text(
        "# header comment\nfonts-orphan\n# for: a b\n# a plain comment keeps the section\nfonts-x  # why\n\n"
        "other-y\n# for: b\nfonts-z\nfonts-x\n"
    )
    assert fonts.packages_for(None, listing) == ["fonts-orphan", "fonts-x", "other-y", "fonts-z"]
    assert fonts.packages_for("a", listing) == ["fonts-x", "other-y"]
    assert fonts.font_packages("b", listing) == ["fonts-x", "fonts-z"]
    assert fonts.packages_for("c", listing) == [] and fonts.packages_for("a", tmp_path / "absent") == []


# ---------------------------------------------------------------------------------------------
# Finding fonts


def test_without_dpkg_fonts_come_from_the_font_folders(monkeypatch, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "A.ttf").write_bytes(b"x")
    (tmp_path / "sub" / "B.TTC").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    monkeypatch.setattr(fonts.shutil, "which", lambda name: None)
    monkeypatch.setattr(fonts, "FONT_FOLDERS", (str(tmp_path), str(tmp_path / "absent")))
    assert fonts.debian_font_files(["fonts-dejavu-core"]) == []
    files, source = fonts.default_font_files("glyphs")
    assert files == [tmp_path / "sub" / "A.ttf", tmp_path / "sub" / "B.TTC"] and str(tmp_path) in source


def test_collection_files_have_one_face_per_font(tmp_path):
    ttc = tmp_path / "x.ttc"
    ttc.write_bytes(b"ttcf\x00\x01\x00\x00\x00\x00\x00\x03")
    assert fonts.font_faces(ttc) == [0, 1, 2] and fonts.font_faces(tmp_path / "absent.ttf") == []
    assert fonts.face_name(ttc, 0) == "x.ttc" and fonts.face_name(ttc, 2) == "x.ttc#2"


def test_missing_fonts_error_says_what_to_install():
    error = fonts.missing_fonts_error("glyphs", "/nowhere", 0, "fonts with Latin letters")
    message = str(error)
    assert isinstance(error, DatasetNotFoundError) and error.path == "/nowhere"
    assert "sudo apt-get install --no-install-recommends fonts-dejavu-core" in message
    assert "ensure_debian_packages.sh" in message and "data/README.md" in message


# ---------------------------------------------------------------------------------------------
# Drawing and missing glyphs


def test_draw_keeps_the_baseline_and_missing_glyphs_are_recognised():
    font = fonts.open_font(DEJAVU, 0, 20)
    notdef = fonts.notdef_image(font, 32, 24)
    image, fits = fonts.draw_char(font, "H", 32, 24)
    rows = np.flatnonzero(image.max(axis=1) > 64)
    assert fits and rows.max() in (23, 24) and fonts.is_drawn(image, fits, notdef)
    tofu, fits = fonts.draw_char(font, "\u4e00", 32, 24)  # DejaVu has no CJK: drawn as .notdef
    assert np.array_equal(tofu, notdef) and not fonts.is_drawn(tofu, fits, notdef)
    space, fits = fonts.draw_char(font, " ", 32, 24)
    assert fits and not fonts.is_drawn(space, fits, notdef)  # blank
    big = fonts.open_font(DEJAVU, 0, 60)
    image, fits = fonts.draw_char(big, "W", 32, 24)
    assert not fits and not fonts.is_drawn(image, fits, fonts.notdef_image(big, 32, 24))
    assert fonts.open_font(Path(__file__), 0, 20) is None  # not a font


def test_identical_images_of_different_characters_in_one_font_are_dropped():
    images = np.zeros((4, 8, 8), np.uint8)
    images[0, 2:6, 2:6] = images[2, 2:6, 2:6] = 255  # characters 0 and 2 look the same in this font
    images[1, 1:3, 1:7] = 255
    codepoints = np.array([65, 66, 67, 0], np.int32)
    fonts.drop_ambiguous(images, codepoints)
    assert codepoints.tolist() == [0, 66, 0, 0] and images[[0, 2]].max() == 0


# ---------------------------------------------------------------------------------------------
# The render cache


def small_set(value=7):
    return fonts.RenderedSet(
        np.full((3, 4, 4), value, np.uint8), np.array([0, 1, 1], np.int16), np.array([0, 0, 1], np.int16),
        np.array([65, 66, 66], np.int32), ("a", "b"), ("x.ttf", "y.ttc#1"), 1.5,
    )


def test_cache_round_trip_and_version(tmp_path):
    path = tmp_path / "sub" / "set-v1.npz"
    small_set().save(path)
    loaded = fonts.RenderedSet.load(path)
    assert np.array_equal(loaded.images, small_set().images) and loaded.classes == ("a", "b")
    assert loaded.fonts == ("x.ttf", "y.ttc#1") and loaded.seconds == 1.5
    assert not list(path.parent.glob("*.tmp"))

    class Newer(fonts.RenderedSet):
        version = 2

    assert Newer.load(path) is None


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "flipped"])
def test_a_damaged_cache_is_rendered_again(tmp_path, damage):
    path = tmp_path / "set.npz"
    small_set(7).save(path)
    data = path.read_bytes()
    damaged = {
        "garbage": b"not a zip file",
        "truncated": data[: len(data) // 2],  # a zip without its directory: BadZipFile
        "empty": b"",
        "flipped": data[:60] + bytes(b ^ 0xFF for b in data[60:200]) + data[200:],  # CRC / zlib errors
    }[damage]
    path.write_bytes(damaged)
    assert fonts.RenderedSet.load(path) is None
    rendered = fonts.cached_render(path, fonts.RenderedSet, lambda: small_set(9))
    assert rendered.images.max() == 9 and fonts.RenderedSet.load(path).images.max() == 9


def test_cache_is_reused_unless_rebuilt(tmp_path):
    path = tmp_path / "set.npz"
    calls = []

    def render():
        calls.append(1)
        return small_set(len(calls))

    assert fonts.cached_render(path, fonts.RenderedSet, render).images.max() == 1
    assert fonts.cached_render(path, fonts.RenderedSet, render).images.max() == 1 and len(calls) == 1
    assert fonts.cached_render(path, fonts.RenderedSet, render, rebuild=True).images.max() == 2


def test_an_unwritable_cache_warns_and_still_returns_the_render(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(UserWarning, match=str(blocker / "set.npz")):
        rendered = fonts.cached_render(blocker / "set.npz", fonts.RenderedSet, small_set)
    assert rendered.images.shape == (3, 4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fonts.cached_render(tmp_path / "ok.npz", fonts.RenderedSet, small_set)


def test_unreadable_font_files_and_folders_are_skipped(monkeypatch, tmp_path):
    import os

    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "A.ttf").write_bytes(b"x")
    (tmp_path / "ok" / "B.ttf").write_bytes(b"x")
    real_stat = os.stat

    def stat(path, *args, **kwargs):  # tests run as root: deny at the seam instead of chmod
        if str(path) in (str(tmp_path / "ok" / "B.ttf"), str(tmp_path / "locked")):
            raise PermissionError(13, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    assert fonts.folder_font_files([tmp_path, tmp_path / "locked"]) == [tmp_path / "ok" / "A.ttf"]
