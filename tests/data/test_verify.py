"""verify_dataset and `python -m histlib.data.verify`: every missing or unreadable file, listed."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from histlib.data.verify import check_image, main, verify_dataset

from . import fixtures as fx

ROOT = Path(__file__).resolve().parents[2]


def broken_cub(tmp_path):
    base = fx.make_cub(tmp_path, {1: ["RGB", "L"], 101: ["RGB", "RGB"], 200: ["RGB"]})
    images = base / "images"
    fx.corrupt_file(images / "001.Bird_1" / "Bird_1_0001.jpg", "garbage")
    fx.corrupt_file(images / "101.Bird_101" / "Bird_101_0000.jpg", "truncated")
    (images / "200.Bird_200" / "Bird_200_0000.jpg").unlink()
    return base


def test_report_lists_every_problem_and_only_those(tmp_path):
    base = broken_cub(tmp_path)
    report = verify_dataset("cub", tmp_path)
    assert not report.ok and report.checked == 5 and not report.errors
    assert report.missing == [str(base / "images" / "200.Bird_200" / "Bird_200_0000.jpg")]
    unreadable = dict(report.unreadable)
    assert set(unreadable) == {
        str(base / "images" / "001.Bird_1" / "Bird_1_0001.jpg"),
        str(base / "images" / "101.Bird_101" / "Bird_101_0000.jpg"),
    }
    assert any("5,864" in note for note in report.notes)  # published size differs from this copy
    assert "._" not in str(report)  # the resource fork in 001.Bird_1/ is not an image of the set


def test_quick_mode_reads_headers_only(tmp_path):
    base = broken_cub(tmp_path)
    cut = base / "images" / "101.Bird_101" / "Bird_101_0000.jpg"  # header intact, pixel data cut
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(cut, "JPEG")
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size * 9 // 10])
    quick = verify_dataset("cub", tmp_path, decode=False)
    assert [path for path, _ in quick.unreadable] == [str(base / "images" / "001.Bird_1" / "Bird_1_0001.jpg")]
    full = verify_dataset("cub", tmp_path)
    assert str(cut) in dict(full.unreadable) and "truncated" in dict(full.unreadable)[str(cut)]


def test_clean_copy_is_ok(tmp_path):
    fx.make_cub(tmp_path, {1: ["RGB"], 200: ["L"]})
    report = verify_dataset("cub", tmp_path)
    assert report.ok and report.checked == 2 and str(report).endswith("OK")


def test_missing_dataset_is_one_error_naming_the_folder(tmp_path):
    report = verify_dataset("sop", tmp_path)
    assert not report.ok and len(report.errors) == 1
    assert str(tmp_path / "Stanford_Online_Products") in report.errors[0]


def test_missing_sop_images_are_listed(tmp_path):
    fx.make_sop(tmp_path, with_files=(5,))
    report = verify_dataset("sop", tmp_path, workers=2)
    assert report.checked == 22634 and len(report.missing) == 22633 and not report.unreadable


def test_in_memory_datasets_report_their_sizes(tmp_path):
    fx.make_fashion_mnist(tmp_path / "fashion-mnist", per_class=1)
    report = verify_dataset("fashion-mnist", tmp_path)
    assert report.ok and report.checked == 0
    assert "train: 10 images of 5 classes" in report.notes


def test_check_image(tmp_path):
    good = fx.write_image(tmp_path / "a.jpg")
    assert check_image(str(good)) is None and check_image(str(tmp_path / "b.jpg")) == "missing"
    assert "UnidentifiedImageError" in check_image(str(fx.corrupt_file(fx.write_image(tmp_path / "c.jpg"))))


def test_main_exit_status_and_output(tmp_path, capsys):
    broken_cub(tmp_path)
    assert main(["cub", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "missing files (1)" in out and "unreadable files (2)" in out and "FAILED: 3 problem(s)" in out
    fx.make_fashion_mnist(tmp_path / "fashion-mnist", per_class=1)
    assert main(["fashion-mnist", "--root", str(tmp_path)]) == 0


@pytest.mark.slow
def test_command_line_module(tmp_path):
    broken_cub(tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "histlib.data.verify", "cub", "--root", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert run.returncode == 1 and "Bird_200_0000.jpg" in run.stdout


def test_unknown_name_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["mnist"])
    assert exit.value.code == 2 and "unknown dataset 'mnist'" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Files that cannot be reached, empty splits (every problem a report line, never a traceback)


def deny(monkeypatch, *denied, inside=()):
    """Make ``os.stat`` of ``denied`` paths, and of every path inside the ``inside`` folders (what
    ``chmod 000 folder`` does), fail as it does without permission: tests run as root, which real
    permissions would not stop. Everything else is stat'ed for real."""
    import os

    real_stat = os.stat
    denied = {str(p) for p in denied}
    prefixes = tuple(str(folder) + os.sep for folder in inside)

    def stat(path, *args, **kwargs):
        if str(path) in denied or (prefixes and str(path).startswith(prefixes)):
            raise PermissionError(13, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)


def test_an_unreadable_class_folder_is_a_dataset_error_naming_it(tmp_path, monkeypatch):
    from histlib.data import DatasetAccessError, DatasetError, load_dataset

    base = fx.make_cub(tmp_path, {1: ["RGB"], 101: ["RGB"], 200: ["RGB"]})
    folder = base / "images" / "101.Bird_101"
    deny(monkeypatch, folder)
    with pytest.raises(DatasetAccessError) as error:
        load_dataset("cub", tmp_path, "test")
    assert isinstance(error.value, DatasetError) and error.value.path == str(folder)
    assert "permission denied" in str(error.value) and str(folder) in str(error.value)
    report = verify_dataset("cub", tmp_path)
    assert not report.ok and any(str(folder) in e and "permission denied" in e for e in report.errors)
    assert load_dataset("cub", tmp_path, "train")  # the other split is fine


def test_an_unreadable_image_is_listed_with_the_reason(tmp_path, monkeypatch, capsys):
    base = fx.make_cub(tmp_path, {1: ["RGB"], 200: ["RGB"]})
    image = base / "images" / "001.Bird_1" / "Bird_1_0000.jpg"
    deny(monkeypatch, image)
    assert check_image(str(image)) == "permission denied"
    assert main(["cub", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"{image}: permission denied" in out and "missing files" not in out


def test_a_symlink_loop_is_reported_as_a_loop(tmp_path):
    base = fx.make_cub(tmp_path, {1: ["RGB"], 200: ["RGB", "RGB"]})
    folder = base / "images" / "200.Bird_200"
    image = folder / "Bird_200_0001.jpg"
    image.unlink()
    image.symlink_to(folder / "loop.jpg")
    (folder / "loop.jpg").symlink_to(image)
    dangling = folder / "Bird_200_0000.jpg"
    dangling.unlink()
    dangling.symlink_to(folder / "gone.jpg")
    report = verify_dataset("cub", tmp_path)
    assert dict(report.unreadable) == {str(image): "a symlink loop", str(dangling): "a broken symlink"}
    assert report.missing == [] and not report.ok


def test_an_empty_split_is_refused_and_verify_fails(tmp_path):
    from histlib.data import EmptySplitError, load_dataset

    fx.make_cub(tmp_path, {1: ["RGB"], 2: ["RGB"]})  # no image of the test classes 101-200
    assert len(load_dataset("cub", tmp_path, "train")) == 2
    with pytest.raises(EmptySplitError) as error:
        load_dataset("cub", tmp_path, "test")
    message = str(error.value)
    assert "test split" in message and str(tmp_path / "CUB_200_2011") in message
    report = verify_dataset("cub", tmp_path)
    assert not report.ok and any("test split" in e and "no images" in e for e in report.errors)
    assert str(report).endswith("FAILED: 1 problem(s)")


def test_a_class_folder_without_permissions_lists_its_images(tmp_path, monkeypatch):
    from histlib.data import UnreadableImageError, load_dataset

    base = fx.make_cub(tmp_path, {1: ["RGB"], 101: ["RGB", "RGB"], 200: ["RGB"]})
    folder = base / "images" / "101.Bird_101"
    deny(monkeypatch, inside=[folder])  # the folder itself can be stat'ed, nothing in it
    report = verify_dataset("cub", tmp_path)
    assert sorted(dict(report.unreadable).items()) == [
        (str(folder / f"Bird_101_000{k}.jpg"), "permission denied") for k in (0, 1)
    ]
    assert report.missing == [] and not report.errors
    test = load_dataset("cub", tmp_path, "test")
    monkeypatch.setattr("builtins.open", _denied_open(folder))
    with pytest.raises(UnreadableImageError, match="Bird_101_0000.jpg"):
        test[0]


def _denied_open(folder):
    import builtins

    real_open = builtins.open

    def opener(file, *args, **kwargs):
        if str(file).startswith(str(folder)):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    return opener
