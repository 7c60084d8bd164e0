import math

import numpy as np
import pytest
import torch

from histlib import HISTLoss
from histlib import analysis as A
from histlib.training import loop as training_loop

from .conftest import Blobs, small_config


def test_batch_composition_counts_hyperedges_and_singletons():
    assert A.batch_composition(torch.tensor([4, 4, 4, 1, 9])) == {
        "samples": 5, "classes": 3, "singletons": 2, "sizes": [3, 1, 1]}


def test_expected_distinct_classes_matches_a_simulation():
    sizes = [3, 5, 1, 8, 2, 6]
    pool = np.repeat(np.arange(len(sizes)), sizes)
    rng = np.random.default_rng(0)
    draws = [np.unique(rng.choice(pool, 6, replace=False), return_counts=True)[1] for _ in range(20000)]
    classes, singletons = A.expected_distinct_classes(sizes, 6)
    assert classes == pytest.approx(np.mean([len(d) for d in draws]), abs=0.03)
    assert singletons == pytest.approx(np.mean([(d == 1).sum() for d in draws]), abs=0.03)


def test_chance_recall_at_k_is_the_recall_of_every_ordering_of_the_candidates():
    import itertools

    sizes = [3, 2, 1, 2]
    labels = np.repeat(np.arange(len(sizes)), sizes)
    for k in (1, 2, 3, 7, 50):
        hits = []
        for query in range(len(labels)):  # every ordering of the other items is equally likely
            others = np.delete(labels, query)
            orders = list(itertools.permutations(range(len(others))))
            hits.append(np.mean([(others[list(order[:k])] == labels[query]).any() for order in orders]))
        assert A.chance_recall_at_k(sizes, k) == pytest.approx(np.mean(hits), abs=1e-12)
    with pytest.raises(ValueError, match="2 images"):
        A.chance_recall_at_k([1], 1)


def test_within_class_share_of_structured_and_uniform_g():
    labels = torch.tensor([0, 0, 1, 1, 1])
    block = (labels[:, None] == labels[None, :]).double()
    assert A.within_class_share(block, labels) == 1.0
    assert A.within_class_share(torch.ones(5, 5), labels) == pytest.approx(A.uniform_within_class_share(labels))
    assert A.uniform_within_class_share(labels) == pytest.approx((4 + 9) / 25)


def test_term_gradients_are_the_gradients_of_each_term():
    torch.manual_seed(0)
    loss = HISTLoss(3, 8, hgnn_hidden=4, lambda_s=2.0)
    x, y = torch.randn(6, 8), torch.tensor([0, 0, 1, 1, 2, 2])
    grads = A.term_gradients(loss, x, y)
    for name, weight in (("distribution_loss", 1.0), ("hgnn_loss", 2.0)):
        z = x.clone().requires_grad_(True)
        (weight * getattr(loss.compute_terms(z, y), name)).backward()
        torch.testing.assert_close(grads[name], z.grad.norm(dim=1))
    assert (grads["hgnn_loss"] > 0).all()  # L_CE reaches every embedding (through G and the features)


def test_draw_batch_is_the_first_batch_the_loop_trains_on(tmp_path, monkeypatch):
    from histlib.training import RunData, fit

    data = Blobs(range(6), 10, seed=1)
    config = small_config(tmp_path, batch_size=8, epochs=1, selection="last", max_steps_per_epoch=1)
    seen = []
    original = training_loop.train_one_epoch

    def spy(model, criterion, optimizer, loader, *args, **kwargs):
        seen.append(next(iter(loader)))  # the batch the loop's first step would draw
        return original(model, criterion, optimizer, loader, *args, **kwargs)

    monkeypatch.setattr(training_loop, "train_one_epoch", spy)
    fit(config, RunData(train=data, test=Blobs(range(6, 9), 4, seed=2)), progress=False)
    images, labels = A.draw_batch(data, config)
    torch.testing.assert_close(images, seen[0][0])
    assert labels.tolist() == seen[0][1].tolist()
    with pytest.raises(ValueError, match="fewer than 100 batches"):
        A.draw_batch(data, config, index=99)


def test_summarize_gives_mean_sample_std_and_count_per_group():
    rows = [{"p": "x", "s": 1, "m": 0.2}, {"p": "x", "s": 2, "m": 0.4}, {"p": "y", "s": 1, "m": None}]
    (x,) = A.summarize(rows, "p", "m")
    assert (x["p"], x["n"]) == ("x", 2) and x["mean"] == pytest.approx(0.3)
    assert x["std"] == pytest.approx(math.sqrt(0.02))


def test_a_misspelled_column_is_an_error_not_one_pooled_group():
    from histlib.analysis import compare_to_reference, summarize

    rows = [{"lambda_s": 0.0, "seed": 1, "test_map@r": 0.4}, {"lambda_s": 1.0, "seed": 1, "test_map@r": 0.5}]
    with pytest.raises(ValueError, match=r"no row has the column\(s\) \['lamda_s'\]"):
        summarize(rows, "lamda_s", "test_map@r")
    with pytest.raises(ValueError, match=r"no row has the column\(s\) \['test_mapr'\]"):
        summarize(rows, "lambda_s", "test_mapr")
    with pytest.raises(ValueError, match=r"no row has the column\(s\) \['test_mapr'\]"):
        compare_to_reference(rows, "lambda_s", 0.0, "test_mapr")
    assert summarize([], "lambda_s", "test_map@r") == []  # an empty table is empty, not an error


def test_seed_band_reads_the_recipes_point_or_says_why_not(tmp_path):
    import csv

    table = tmp_path / "lambda_s.csv"
    rows = [{"grid": "lambda_s", "point": f"lambda_s={v}", "lambda_s": v, "seed": s, "val_map@r": m, "epochs": 8}
            for v, s, m in ((0.0, 1, 0.5), (1.0, 1, 0.6), (1.0, 2, 0.7), (1.0, 3, 0.65), (4.0, 1, 0.2))]
    with open(table, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    band = A.seed_band(table, "lambda_s", 1.0)
    assert isinstance(band, A.SeedBand) and band.values == (0.6, 0.7, 0.65)
    assert band.mean == pytest.approx(0.65) and band.std == pytest.approx(0.05)
    assert "8 epochs, 3 seeds" in band.description and band.source == str(table)
    assert A.seed_band(table, "lambda_s", 1.0000000000000002) == band  # a config's value after a round trip
    assert "No committed sweep table" in A.seed_band(tmp_path / "missing.csv", "lambda_s", 1.0)
    assert "only one seed" in A.seed_band(table, "lambda_s", 4.0)
    assert "no run with lambda_s = 2.0" in A.seed_band(table, "lambda_s", 2.0)


def test_compare_to_reference_pairs_the_seeds_and_refuses_unpaired_points():
    from scipy import stats

    from histlib.analysis import compare_to_reference
    from histlib.statistics import UnpairedError

    reference, point = (0.50, 0.55, 0.47, 0.52), (0.53, 0.56, 0.49, 0.56)
    rows = [{"k": 0, "seed": s, "m": v} for s, v in zip((1, 2, 3, 4), reference)]
    rows += [{"k": 1, "seed": s, "m": v} for s, v in zip((4, 3, 2, 1), point[::-1])]  # any row order
    _, one = compare_to_reference(rows, "k", 0, "m")
    assert one["p_value"] == pytest.approx(stats.ttest_rel(point, reference).pvalue)
    assert one["difference"] == pytest.approx(0.025) and one["wins"] == 4
    low, high = stats.t.interval(0.95, 3, loc=0.025, scale=stats.sem([a - b for a, b in zip(point, reference)]))
    assert (one["ci_low"], one["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    # an unpaired (Welch) test would not see the seed-to-seed agreement
    assert stats.ttest_ind(point, reference, equal_var=False).pvalue > 0.3 > 0.05 > one["p_value"]
    with pytest.raises(UnpairedError, match=r"k = 2 has seeds \[1, 2, 5\], the reference 0 \[1, 2, 3, 4\]"):
        compare_to_reference(rows + [{"k": 2, "seed": s, "m": 0.5} for s in (1, 2, 5)], "k", 0, "m")
    with pytest.raises(ValueError, match="seed 1 twice"):
        compare_to_reference(rows + [rows[0]], "k", 0, "m")
