import pytest

from histlib.train import main


def test_unknown_config_key_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", "cub", "--set", "epoch=2"])
    assert exit_info.value.code == 2
    assert "unknown config key 'epoch' (did you mean 'epochs'?)" in capsys.readouterr().err


def test_missing_dataset_is_a_clear_message_not_a_traceback(tmp_path, capsys):
    code = main(["--config", "cub", "--no-progress", "--set", f"data_root={tmp_path}", "pretrained=false",
                 f"output_dir={tmp_path / 'run'}"])
    err = capsys.readouterr().err
    assert code == 1
    assert "CUB_200_2011" in err and "data/README.md" in err and "Traceback" not in err


def test_a_run_on_the_published_cub_layout_end_to_end(tmp_path, capsys):
    from ..data.fixtures import make_cub

    make_cub(tmp_path, {c: ["RGB", "L", "RGB"] for c in range(1, 201)})  # greyscale files too
    out = tmp_path / "run"
    code = main(["--config", "cub", "--no-progress", "--set", f"data_root={tmp_path}", "backbone=small_cnn",
                 "pretrained=false", "image_size=32", "embedding_size=16", "hgnn_hidden=16", "epochs=2",
                 "num_workers=0", "eval_batch_size=64", f"output_dir={out}"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "R@1" in printed and "R@8" in printed and "results.json" in printed
    import json

    results = json.load(open(out / "results.json"))
    assert results["selection"] == "val" and results["config"]["dataset"] == "cub"
    assert set(results["test_metrics"]) >= {"recall@1", "recall@8", "map@r"}


def test_repeated_set_flags_add_up_instead_of_replacing_each_other(monkeypatch, capsys):
    from histlib.training import cli

    seen = []
    monkeypatch.setattr(cli, "fit", lambda config, **kwargs: seen.append(config) or (_ for _ in ()).throw(
        ValueError("stop here")))
    assert cli.main(["--config", "glyphs", "--set", "epochs=1", "max_steps_per_epoch=2", "--set", "seed=7"]) == 1
    assert (seen[0].epochs, seen[0].max_steps_per_epoch, seen[0].seed) == (1, 2, 7)


def test_a_run_that_cannot_be_built_leaves_no_folder_to_resume(tmp_path, capsys):
    from histlib.training import RunFolder, cli

    out = tmp_path / "run"
    argv = ["--config", "glyphs", "--no-progress", "--set", "epochs=1", "max_steps_per_epoch=2",
            f"output_dir={out}", "pretrained=yes"]
    assert cli.main(argv) == 1
    assert "small_cnn has no pretrained weights" in capsys.readouterr().err
    assert RunFolder(out).status() == "empty"  # not an "interrupted" run without a checkpoint
