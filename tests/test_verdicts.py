"""histlib.verdicts on synthetic tables (a one-setting grid with 10 paired seeds) and on the committed ones."""

import math
from pathlib import Path

import pytest

from histlib import verdicts
from histlib.statistics import holm, paired_comparison
from histlib.sweep import read_table, write_table
from histlib.training.comparisons import MARGINS, PRIMARY, Comparison
from histlib.training.grids import GRIDS

ROOT = Path(__file__).resolve().parents[1]
SEEDS = range(1, 11)


def table(tmp_path, shifts, noise=0.004):
    """A lambda_s sweep table: lambda_s=1.0 at 0.50 + a seed effect, each other point shifted by ``shifts``."""
    rows = []
    for index, (point, shift) in enumerate({"lambda_s=1.0": 0.0, **shifts}.items()):
        for seed in SEEDS:
            wobble = noise * math.sin(3 * seed + 5 * index)  # deterministic, not the same for each point
            rows.append({"grid": "lambda_s", "point": point, "lambda_s": float(point.split("=")[1]), "seed": seed,
                         "test_map@r": 0.50 + 0.02 * (seed % 3) + shift + wobble})
    write_table(tmp_path / "lambda_s.csv", rows)
    return rows


def comparison(b, family="f", regime="frozen trunk"):
    return Comparison(family, f"recipe vs {b}", regime, "lambda_s", "lambda_s=1.0", b, "recipe", b)


def test_each_verdict_phrase_follows_from_its_paired_numbers_and_the_family_correction(tmp_path):
    table(tmp_path, {"lambda_s=0.0": -0.03, "lambda_s=0.25": 0.0005, "lambda_s=4.0": 0.004})
    rows = verdicts.compute(tmp_path, [comparison("lambda_s=0.0"), comparison("lambda_s=0.25"),
                                       comparison("lambda_s=4.0", regime="from scratch")])
    worse, same, wide = rows
    assert worse["verdict"] == "recipe better by 3.0 [2.8, 3.1]" and worse["n_pairs"] == 10 and worse["wins"] == 10
    assert same["verdict"] == "equivalent within +/- 1.0"
    # the paired differences, recomputed from the table by hand, and Holm over the family of three
    data = read_table(tmp_path / "lambda_s.csv")
    by = {p: {r["seed"]: r["test_map@r"] for r in data if r["point"] == p} for p in ("lambda_s=1.0", "lambda_s=4.0")}
    direct = paired_comparison(by["lambda_s=1.0"], by["lambda_s=4.0"])
    assert wide["difference"] == pytest.approx(direct.difference) and wide["p"] == pytest.approx(direct.p)
    assert [r["p_holm"] for r in rows] == pytest.approx(holm([r["p"] for r in rows]))
    # -0.4 points, p = 0.08 uncorrected (0.16 corrected): no difference shown, and inside the 2-point margin
    assert wide["margin"] == MARGINS["from scratch"][0] and 0.05 < wide["p"] < 0.1 < wide["p_holm"]
    assert wide["verdict"] == "equivalent within +/- 2.0"
    # two families are corrected separately
    alone = verdicts.compute(tmp_path, [comparison("lambda_s=4.0", family="g", regime="from scratch")])
    assert alone[0]["p_holm"] == pytest.approx(alone[0]["p"])


def test_missing_seeds_nan_scores_and_unknown_points_are_refused_with_the_table_named(tmp_path):
    rows = table(tmp_path, {"lambda_s=0.0": -0.03})
    write_table(tmp_path / "lambda_s.csv", [r for r in rows if not (r["point"] == "lambda_s=0.0" and r["seed"] == 4)])
    with pytest.raises(ValueError, match=r"only in A"):
        verdicts.compute(tmp_path, [comparison("lambda_s=0.0")])
    few = [r for r in rows if r["seed"] <= 5]
    write_table(tmp_path / "lambda_s.csv", few)
    with pytest.raises(ValueError, match="5 paired seeds, a primary comparison needs 10"):
        verdicts.compute(tmp_path, [comparison("lambda_s=0.0")])
    write_table(tmp_path / "lambda_s.csv", [{**r, "test_map@r": math.nan} if r["seed"] == 7 else r for r in rows])
    with pytest.raises(ValueError, match=r"lambda_s.csv, line \d+ \(point 'lambda_s=1.0', seed 7\): test_map@r is nan"):
        verdicts.compute(tmp_path, [comparison("lambda_s=0.0")])
    write_table(tmp_path / "lambda_s.csv", rows)
    with pytest.raises(ValueError, match="has no point 'lambda_s=9.0'"):
        verdicts.compute(tmp_path, [comparison("lambda_s=9.0")])
    with pytest.raises(FileNotFoundError, match="python -m histlib.sweep ablation"):
        verdicts.compute(tmp_path / "empty", [c for c in PRIMARY if c.source == "ablation"])


def test_the_cli_writes_the_table_and_a_hand_edited_verdict_is_refused(tmp_path, capsys):
    table(tmp_path, {"lambda_s=0.0": -0.03})
    rows = verdicts.compute(tmp_path, [comparison("lambda_s=0.0")])
    write_table(tmp_path / "verdicts.csv", [{**rows[0], "verdict": "recipe clearly wins"}])
    assert verdicts.main(["--results", str(tmp_path), "--markdown"]) == 1
    assert "not a verdict" in capsys.readouterr().err
    assert verdicts.main(["--results", str(tmp_path / "nothing")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("python -m histlib.verdicts: ") and "Traceback" not in err


def test_the_primary_comparisons_name_points_their_grids_have():
    for c in PRIMARY:
        named = GRIDS[c.source].named_points(ROOT / "results")
        assert c.a in named and c.b in named, c
        assert c.regime in MARGINS and len(GRIDS[c.source].seeds) >= verdicts.MIN_PAIRS
    assert {c.claim for c in PRIMARY if c.family == "hypergraph"} >= {
        "the hypergraph term matters (L_D alone is weaker)"}


def test_the_committed_verdicts_follow_from_the_committed_runs():
    committed = verdicts.read_verdicts(ROOT / "results" / "verdicts.csv")
    fresh = verdicts.compute(ROOT / "results")
    assert len(committed) == len(PRIMARY) == len(fresh)
    for old, new in zip(committed, fresh):
        assert old["verdict"] == new["verdict"] and old["claim"] == new["claim"]
        for column in ("difference", "ci_low", "ci_high", "p", "p_holm", "p_equivalence_holm"):
            assert old[column] == pytest.approx(new[column], rel=1e-9, abs=1e-12), (old["claim"], column)


def test_the_plateau_comparisons_are_declared_on_points_their_grids_will_have(tmp_path, monkeypatch):
    """Declared before the plateau runs: each names a point its grid makes from any tuned HIST (one that
    keeps lambda_s > 0, G from the hypergraph, soft memberships, alpha > 0 and the Mahalanobis distance)."""
    from histlib.training.comparisons import PLATEAU_PRIMARY
    from histlib.training.grids import Tuning

    winners = ({"loss": "hist", "lr": 1e-3, "alpha": 2.0, "lambda_s": 0.5, "hgnn_propagation": "hypergraph"},
               {"loss": "proxy_anchor", "lr": 2e-3}, {"loss": "multi_similarity", "lr": 3e-3})
    monkeypatch.setattr(Tuning, "best_points", lambda self, results: winners)
    assert len(PLATEAU_PRIMARY) == 16 and {c.regime for c in PLATEAU_PRIMARY} == set(MARGINS)
    for c in PLATEAU_PRIMARY:
        named = GRIDS[c.source].named_points(tmp_path)
        assert c.a in named and c.b in named, c
        assert len(GRIDS[c.source].seeds) >= verdicts.MIN_PAIRS
    assert {c.family for c in PLATEAU_PRIMARY} == {"losses", "hypergraph", "distance"}
