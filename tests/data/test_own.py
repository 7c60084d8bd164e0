"""Your own data: a class-folder tree or a CSV, every bad layout a clear error (or a counted skip) before training."""

import json

import numpy as np
import pytest
from PIL import Image

from histlib.data import load_dataset
from histlib.data.own import OwnDataError, describe, load_own, parse_data, scan, split_of
from histlib.training.cli import main as train_main


def image(path, size=(12, 12), mode="RGB", seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).convert(mode).save(path)
    return path


def class_tree(root, classes=6, per_class=4):
    """Mixed sizes and modes (greyscale, palette, colour), as a user's folder would have."""
    for c in range(classes):
        for i in range(per_class):
            image(root / f"class_{c}" / f"{i}.png", size=(10 + i, 12 + c), mode=("RGB", "L", "P")[i % 3],
                  seed=10 * c + i)
    return root


def write_csv(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_class_folder_loads_with_a_seeded_class_disjoint_split_and_mixed_images(tmp_path):
    root = class_tree(tmp_path / "photos")
    train = load_dataset("folder", root, "train")
    test = load_dataset("folder", root, "test")
    assert set(train.classes).isdisjoint(test.classes) and len(train.classes) + len(test.classes) == 6
    assert len(train) == 4 * len(train.classes) and train[0][0].mode == "RGB"
    assert split_of(scan("folder", root), seed=0) == train.split_record["classes"]
    assert split_of(scan("folder", root), seed=1) != split_of(scan("folder", root), seed=0)  # seeded, not fixed


@pytest.mark.parametrize("make, message", [
    (lambda r: (r / "empty").mkdir(), "class folder .*empty holds no images"),
    (lambda r: image(r / "loose.png"), "1 image\\(s\\) outside a class folder \\(loose.png\\)"),
    (lambda r: (r / "class_0" / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated"), "1 image\\(s\\) cannot be read: .*3.png"),
])
def test_a_bad_folder_is_a_clear_error_before_training(tmp_path, make, message):
    root = class_tree(tmp_path / "photos")
    make(root)
    with pytest.raises(OwnDataError, match=message):
        scan("folder", root)


def test_one_image_classes_and_non_image_files_are_skipped_and_named(tmp_path):
    root = class_tree(tmp_path / "photos")
    image(root / "lonely" / "only.png")
    (root / "class_0" / "notes.txt").write_text("not an image")
    data = scan("folder", root)
    assert "lonely" not in data.classes and len(data.paths) == 24
    report = describe("folder", root)
    assert "24 images in 6 classes" in report and "skipped (2)" in report
    assert "class 'lonely': one image" in report and "notes.txt: not an image file" in report


def test_a_missing_folder_and_a_bad_data_argument_say_what_was_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="one subfolder of images per class"):
        scan("folder", tmp_path / "nowhere")
    with pytest.raises(ValueError, match="folder:PATH .* or csv:PATH"):
        parse_data("images:/x")


def test_a_csv_with_split_and_query_gallery_columns_loads_as_given(tmp_path):
    root = class_tree(tmp_path / "photos")
    lines = ["path,label,split,is_query,is_gallery"]
    for c in range(6):
        for i in range(4):
            split = "train" if c < 3 else "validation"
            lines.append(f"class_{c}/{i}.png,{c},{split},{int(i < 2)},{int(i >= 1)}")
    csv_file = write_csv(root / "images.csv", lines)
    train, test = load_own("csv", csv_file, "train"), load_own("csv", csv_file, "test")
    assert train.classes == ["0", "1", "2"] and test.classes == ["3", "4", "5"]
    query, gallery = test.query_gallery
    assert query.sum() == 6 and gallery.sum() == 9


@pytest.mark.parametrize("rows, message", [
    (["class_0/0.png,a", "class_0/0.png,a"], "listed twice \\(also line 2\\)"),
    (["class_0/0.png,1.5"], "the label '1.5' is a float"),
    (["class_0/0.png,"], "the label is empty"),
    (["../outside.png,a"], "lies outside"),
    (["class_0/9.png,a"], "class_0/9.png is missing"),
])
def test_a_bad_csv_row_is_named_by_its_line(tmp_path, rows, message):
    root = class_tree(tmp_path / "photos")
    image(tmp_path / "outside.png")
    good = [f"class_{c}/{i}.png,{c}" for c in range(1, 6) for i in range(4)]
    with pytest.raises(OwnDataError, match=message):
        scan("csv", write_csv(root / "images.csv", ["path,label", *rows, *good]))


def test_csv_splits_that_cannot_be_evaluated_are_refused(tmp_path):
    root = class_tree(tmp_path / "photos")
    rows = [f"class_{c}/{i}.png,{c},train" for c in range(6) for i in range(4)]
    with pytest.raises(OwnDataError, match="gives no class to test"):
        scan("csv", write_csv(root / "a.csv", ["path,label,split", *rows]))
    rows[0] = "class_0/0.png,0,test"
    with pytest.raises(OwnDataError, match="rows in both train and test"):
        scan("csv", write_csv(root / "b.csv", ["path,label,split", *rows]))
    with pytest.raises(OwnDataError, match="no column \\['label'\\]"):
        scan("csv", write_csv(root / "c.csv", ["path,class", "class_0/0.png,0"]))
    with pytest.raises(OwnDataError, match="is_query and is_gallery together"):
        scan("csv", write_csv(root / "d.csv", ["path,label,is_query", "class_0/0.png,0,1"]))


@pytest.mark.parametrize("layout", ["folder", "csv"])
def test_both_layouts_train_and_evaluate_end_to_end_from_the_command_line(tmp_path, layout, capsys):
    root = class_tree(tmp_path / "photos", classes=8, per_class=6)
    target = root
    if layout == "csv":
        target = write_csv(root / "images.csv", ["path,label"] + [f"class_{c}/{i}.png,c{c}" for c in range(8)
                                                                  for i in range(6)])
    out = tmp_path / "run"
    code = train_main(["--config", "glyphs", "--data", f"{layout}:{target}", "--no-progress", "--set", "epochs=1",
                       "batch_size=8", "image_size=16", "val_fraction=0.5", f"output_dir={out}"])
    assert code == 0, capsys.readouterr().err
    record = json.loads((out / "data_split.json").read_text())
    assert record["data"] == f"{layout}:{target}" and record["split_seed"] == 0 and len(record["classes"]["test"]) == 4
    results = json.loads((out / "results.json").read_text())
    assert 0 <= results["test_metrics"]["map@r"] <= 1 and results["config"]["dataset"] == layout
    assert not (root / "features").exists()  # nothing written into the user's folder


def test_query_gallery_roles_are_evaluated_as_queries_against_the_gallery(tmp_path, capsys):
    root = class_tree(tmp_path / "photos", classes=8, per_class=6)
    lines = ["path,label,split,is_query,is_gallery"]
    lines += [f"class_{c}/{i}.png,{c},{'train' if c < 5 else 'test'},{int(i < 3)},{int(i >= 3)}"
              for c in range(8) for i in range(6)]
    csv_file = write_csv(root / "images.csv", lines)
    out = tmp_path / "run"
    assert train_main(["--config", "glyphs", "--data", f"csv:{csv_file}", "--no-progress", "--set", "epochs=1",
                       "batch_size=8", "image_size=16", "val_fraction=0.4", f"output_dir={out}"]) == 0
    record = json.loads((out / "data_split.json").read_text())
    assert record["split_column"] and record["classes"]["test"] == ["5", "6", "7"]
    metrics = json.loads((out / "results.json").read_text())["test_metrics"]
    assert 0 <= metrics["map@r"] <= 1
    capsys.readouterr()
    # a cap would drop query / gallery rows: refused before training, not evaluated all-vs-all
    assert train_main(["--config", "glyphs", "--data", f"csv:{csv_file}", "--set", "max_images_per_class=2",
                       f"output_dir={tmp_path / 'capped'}"]) == 1
    assert "set max_images_per_class=none" in capsys.readouterr().err


def test_frozen_features_of_own_data_are_cached_outside_the_users_folder(tmp_path):
    from histlib.paths import RUNS
    from histlib.training import get_config
    from histlib.training.run_data import _feature_root

    config = get_config("glyphs_frozen", dataset="folder", data_root=str(tmp_path))
    assert _feature_root(config) == RUNS and _feature_root(get_config("glyphs_frozen")) == "data"


def test_data_names_the_dataset_so_set_cannot_contradict_it(tmp_path, capsys):
    root = class_tree(tmp_path / "photos")
    with pytest.raises(SystemExit) as exited:
        train_main(["--config", "glyphs", "--data", f"folder:{root}", "--set", "dataset=cub", "data_root=/elsewhere"])
    assert exited.value.code == 2
    assert "--data names the dataset and its root; drop data_root, dataset from --set" in capsys.readouterr().err


def test_the_notebooks_data_parameter_takes_a_relative_path_from_the_project_folder():
    from histlib.paths import ROOT, RUNS
    from histlib.workbook import notebook_config

    config = notebook_config("cub", "small", "epochs=2", data="csv:data/own/mine/images.csv", seed=3)
    assert (config.dataset, config.data_root) == ("csv", str(ROOT / "data" / "own" / "mine" / "images.csv"))
    assert config.output_dir == str(RUNS / "small" / "csv-images") and config.max_images_per_class is None
    assert (config.epochs, config.seed, config.keep_epoch_models) == (2, 3, True)  # overrides still apply
    with pytest.raises(ValueError, match="folder:PATH .* or csv:PATH"):
        notebook_config("cub", "small", data="photos/birds")
