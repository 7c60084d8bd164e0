"""Results tables: rows that know their file and line, and metric cells refused when they are not numbers."""

import math
import pickle

import pytest

from histlib import analysis
from histlib.tables import MetricError, TableRow, metric_value, read_table, write_table


def seeds_table(path, values, point="lambda_s=1.0", key="lambda_s", value=1.0, metric="val_map@r"):
    rows = [{"grid": "lambda_s", "point": point, key: value, "seed": seed, metric: v, "epochs": 8}
            for seed, v in enumerate(values, start=1)]
    write_table(path, rows)
    return path


def test_rows_remember_their_file_and_line_and_still_compare_as_dicts(tmp_path):
    path = seeds_table(tmp_path / "lambda_s.csv", [0.5, 0.6])
    rows = read_table(path)
    assert [r.line for r in rows] == [2, 3] and {r.source for r in rows} == {str(path)}
    assert rows[1] == {"grid": "lambda_s", "point": "lambda_s=1.0", "lambda_s": 1.0, "seed": 2, "val_map@r": 0.6,
                       "epochs": 8}
    copy = pickle.loads(pickle.dumps(rows[1]))
    assert isinstance(copy, TableRow) and (copy.source, copy.line) == (str(path), 3) and copy == rows[1]


@pytest.mark.parametrize("cell, found", [(math.nan, "is nan"), (math.inf, "is inf"), ("n/a", "is 'n/a', not a number"),
                                         (None, "is empty"), (True, "is True")])
def test_a_metric_that_is_not_a_finite_number_is_refused_with_file_line_point_seed_and_column(tmp_path, cell, found):
    path = seeds_table(tmp_path / "lambda_s.csv", [0.5, cell, 0.7])
    row = read_table(path)[1]
    with pytest.raises(MetricError) as error:
        metric_value(row, "val_map@r")
    message = str(error.value)
    assert message.startswith(f"{path}, line 3 (point 'lambda_s=1.0', seed 2): val_map@r {found}")
    assert "python -m histlib.sweep lambda_s" in message
    assert metric_value(read_table(path)[0], "val_map@r") == 0.5


def test_seed_band_with_a_nan_seed_says_which_row_instead_of_an_empty_band(tmp_path):
    path = seeds_table(tmp_path / "lambda_s.csv", [0.5, math.nan, 0.7])
    band = analysis.seed_band(path, "lambda_s", 1.0)
    assert isinstance(band, str) and "line 3" in band and "seed 2" in band and "val_map@r is nan" in band
    path = seeds_table(tmp_path / "lambda_s.csv", [0.5, "0.6x", 0.7])  # text in a number column: no traceback
    band = analysis.seed_band(path, "lambda_s", 1.0)
    assert isinstance(band, str) and "val_map@r is '0.6x', not a number" in band
    band = analysis.seed_band(seeds_table(tmp_path / "lambda_s.csv", [0.5, 0.7]), "lambda_s", 1.0)
    assert band.values == (0.5, 0.7) and math.isclose(band.mean, 0.6)


def test_summarize_and_compare_to_reference_never_average_a_nan_or_a_missing_seed(tmp_path):
    rows = [{"point": p, "seed": s, "m": 0.1 * s + (p == "b")} for p in "ab" for s in (1, 2, 3)]
    rows[4]["m"] = math.nan
    write_table(tmp_path / "t.csv", rows)
    rows = read_table(tmp_path / "t.csv")
    for call in (lambda: analysis.summarize(rows, "point", "m"), lambda: analysis.compare_to_reference(rows, "point", "a", "m")):
        with pytest.raises(MetricError, match=r"t.csv, line 6 \(point 'b', seed 2\): m is nan"):
            call()
    rows[4]["m"] = None  # one seed's cell empty where the others have the metric: reported, not dropped
    with pytest.raises(MetricError, match=r"line 6 \(point 'b', seed 2\): m is empty"):
        analysis.compare_to_reference(rows, "point", "a", "m")


def test_a_metric_that_does_not_apply_to_a_group_leaves_that_group_out():
    rows = [{"loss": "hist", "seed": s, "train_hgnn_loss_ratio": 0.5} for s in (1, 2)]
    rows += [{"loss": "proxy_anchor", "seed": s, "train_hgnn_loss_ratio": None} for s in (1, 2)]
    assert [(s["loss"], s["n"]) for s in analysis.summarize(rows, "loss", "train_hgnn_loss_ratio")] == [("hist", 2)]


def test_hgnn_learning_split_refuses_a_nan_statistic():
    rows = [{"fingerprint": "a", "train_hgnn_loss_ratio": math.nan, "train_other_membership": 0.2,
             "train_hgnn_accuracy": 0.9}]
    with pytest.raises(MetricError, match="train_hgnn_loss_ratio is nan"):
        analysis.hgnn_learning_split(rows)


def test_a_missing_committed_table_names_the_file_and_the_commands_that_bring_it_back(tmp_path):
    from histlib.tables import committed_table

    with pytest.raises(FileNotFoundError) as error:
        committed_table("alpha_tau", tmp_path)
    message = str(error.value)
    assert f"{tmp_path / 'alpha_tau.csv'} is missing" in message
    assert "git checkout -- results/alpha_tau.csv" in message and "python -m histlib.sweep alpha_tau" in message
    (tmp_path / "frozen_tuning.csv").write_text("")
    with pytest.raises(FileNotFoundError, match="frozen_tuning.csv is empty.*python -m histlib.tuning frozen_tuning"):
        committed_table("frozen_tuning", tmp_path)
    seeds_table(tmp_path / "tau.csv", [0.5])
    assert committed_table("tau", tmp_path)[0]["val_map@r"] == 0.5


def test_the_notebooks_read_committed_tables_only_through_committed_table():
    import json
    from pathlib import Path

    notebooks = sorted((Path(__file__).parents[1] / "notebooks").glob("0*.ipynb"))
    for notebook in notebooks:
        code = "".join("".join(cell["source"]) for cell in json.loads(notebook.read_text())["cells"]
                       if cell["cell_type"] == "code")
        assert "read_table(" not in code, f"{notebook.name} reads a table without committed_table's clear error"
