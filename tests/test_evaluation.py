import math

import numpy as np
import pytest
import torch
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator

import histlib.evaluation as evaluation
from histlib.evaluation import (
    PML_NAMES,
    aggregate_runs,
    embed,
    format_recall_table,
    average_precision_at_r,
    nearest_neighbours,
    precision_at_1,
    r_precision,
    recall_at_k,
    retrieval_metrics,
)


def brute_force(x: np.ndarray, y: np.ndarray, ks) -> dict:
    """The definitions, one query at a time, in float64 numpy (pessimistic ties): every item a query
    against all the others (the gallery is the set itself, each query's own index left out)."""
    return brute_force_gallery(x, y, x, y, ks, own=np.arange(len(y)))


def clustered(n_classes=30, dim=16, seed=0, spread=1.2, sizes=(1, 9)):
    g = np.random.default_rng(seed)
    counts = g.integers(*sizes, size=n_classes)
    y = np.repeat(np.arange(n_classes), counts)
    centres = g.normal(size=(n_classes, dim))
    x = centres[y] + spread * g.normal(size=(len(y), dim))
    perm = g.permutation(len(y))
    return x[perm], y[perm]


@pytest.mark.parametrize("seed, chunk", [(0, None), (1, 7), (2, 1)])
def test_matches_brute_force(seed, chunk):
    x, y = clustered(seed=seed)
    ks = (1, 2, 4, 8, 16, 1000)
    ours = retrieval_metrics(torch.from_numpy(x), torch.from_numpy(y), ks=ks, chunk_size=chunk)
    expected = brute_force(x, y, ks)
    assert set(ours) == set(expected)
    for name, value in expected.items():
        assert ours[name] == pytest.approx(value, abs=1e-12), name
    assert ours["recall@1000"] == pytest.approx(np.mean(np.bincount(y)[y] > 1))  # K > N: all non-singletons


def test_float32_embeddings_agree_with_float64():
    x, y = clustered(seed=3, n_classes=60, spread=1.5)
    m64 = retrieval_metrics(torch.from_numpy(x), torch.from_numpy(y))
    m32 = retrieval_metrics(torch.from_numpy(x).float(), torch.from_numpy(y))
    for name in m64:
        assert m32[name] == pytest.approx(m64[name], abs=2e-3), name


def test_matches_pytorch_metric_learning_accuracy_calculator():
    x, y = clustered(seed=4, n_classes=40, spread=1.5, sizes=(1, 12))  # includes singletons
    ours = retrieval_metrics(torch.from_numpy(x).float(), torch.from_numpy(y))
    calculator = AccuracyCalculator(include=("precision_at_1", "mean_average_precision_at_r", "r_precision"), k="max_bin_count")
    # AccuracyCalculator ranks by L2 distance: on unit vectors that is the cosine ranking
    unit = torch.nn.functional.normalize(torch.from_numpy(x).float(), dim=1)
    theirs = calculator.get_accuracy(unit, torch.from_numpy(y))
    for name in ("precision_at_1", "map@r", "r_precision"):
        assert ours[name] == pytest.approx(theirs[PML_NAMES[name]], abs=1e-6), name


def test_perfect_clustering_scores_one():
    y = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    x = torch.nn.functional.one_hot(y).float() + 0.01 * torch.randn(9, 3, generator=torch.Generator().manual_seed(0))
    m = retrieval_metrics(x, y, ks=(1, 2))
    assert m == {"recall@1": 1.0, "recall@2": 1.0, "precision_at_1": 1.0, "map@r": 1.0, "r_precision": 1.0}


def test_singleton_counts_as_recall_miss_but_not_in_map():
    y = torch.tensor([0, 0, 1, 1, 2])
    x = torch.tensor([[1.0, 0.0], [0.95, 0.05], [0.0, 1.0], [0.05, 0.95], [0.7, 0.7]])
    m = retrieval_metrics(x, y, ks=(1, 4))
    assert m["recall@1"] == m["recall@4"] == pytest.approx(4 / 5)
    assert m["precision_at_1"] == m["map@r"] == m["r_precision"] == 1.0


def test_hand_computed_ranking():
    # Query 0's ranking of the others by cosine: 1 (class 1), 2 (class 0), 3 (class 1), 4 (class 0)
    angles = torch.tensor([0.0, 0.1, 0.2, 0.3, 0.4])
    x = torch.stack([angles.cos(), angles.sin()], dim=1)
    y = torch.tensor([0, 1, 0, 1, 0])
    m = retrieval_metrics(x, y, ks=(1, 2))
    # query: ranked-relevance (R) -> AP@R, RP
    # 0: [0, 1, 0, 1] (R=2) -> (1/2)(1/2) = 1/4, 1/2 ; 1: items 0 and 2 (class 0) 0.1 away,
    # then 3 -> [0, 0, 1, 0] (R=1) -> 0, 0 ;
    # 2: neighbours 1, 3 (0.1 away, class 1) then 0, 4 (0.2 away) -> [0, 0, 1, 1] (R=2) -> 0, 0
    # 3: 2, 4 (0.1 away, class 0) first -> [0, 0, ...] R=1 -> 0, 0 ; 4: 3, 2, 1, 0 -> [0, 1, 0, 1] -> 1/4, 1/2
    assert m["recall@1"] == 0.0
    assert m["recall@2"] == pytest.approx(2 / 5)  # queries 0 and 4
    assert m["map@r"] == pytest.approx((0.25 + 0 + 0 + 0 + 0.25) / 5)
    assert m["r_precision"] == pytest.approx((0.5 + 0 + 0 + 0 + 0.5) / 5)


def test_ties_are_scored_pessimistically_and_duplicates_are_not_the_query():
    # all embeddings identical: every neighbour ties; other-class items rank first
    y = torch.tensor([0, 0, 1, 1, 1])
    x = torch.ones(5, 3)
    m = retrieval_metrics(x, y, ks=(1, 2, 3, 4))
    # class-0 queries have 3 other-class ties ahead of their 1 positive: rank 4
    # class-1 queries have 2 other-class ties ahead of their 2 positives: ranks 3, 4
    assert [m[f"recall@{k}"] for k in (1, 2, 3, 4)] == [0.0, 0.0, pytest.approx(3 / 5), 1.0]
    assert m["map@r"] == 0.0 and m["r_precision"] == 0.0
    # a duplicate of the query is a neighbour like any other (the query is excluded by index)
    dup = retrieval_metrics(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.1, 1.0]]), torch.tensor([0, 0, 1, 1]))
    assert dup["recall@1"] == 1.0 and dup["map@r"] == 1.0


def test_ties_at_the_boundary_of_the_top_r_list():
    # query 0 (class 0, R = 2): item 1 (class 0) at 0.9; items 2 (class 0), 3 (class 1) tie at 0.5
    x = torch.tensor([[1.0, 0.0], [0.9, math.sqrt(1 - 0.81)], [0.5, math.sqrt(0.75)], [0.5, -math.sqrt(0.75)]], dtype=torch.float64)
    y = torch.tensor([0, 0, 0, 1])
    x4 = torch.cat([x, torch.tensor([[-1.0, 0.0]], dtype=torch.float64)])
    m = retrieval_metrics(x4, torch.cat([y, torch.tensor([1])]), ks=(1,))
    expected = brute_force(x4.numpy(), np.array([0, 0, 0, 1, 1]), (1,))
    for name, value in expected.items():
        assert m[name] == pytest.approx(value, abs=1e-12), name


def test_nmi_of_perfect_clustering_is_one():
    y = torch.arange(4).repeat_interleave(10)
    noise = torch.randn(40, 4, generator=torch.Generator().manual_seed(0))
    x = torch.nn.functional.one_hot(y).float() * 5 + 0.05 * noise
    assert retrieval_metrics(x, y, nmi=True)["NMI"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "x, y, ks, message",
    [
        (torch.randn(4, 3), torch.tensor([0, 1, 1]), (1,), "one label per embedding"),
        (torch.randn(4), torch.tensor([0, 1, 1, 0]), (1,), "2-D float"),
        (torch.randn(4, 3), torch.tensor([0.0, 1.0, 1.0, 0.0]), (1,), "integer"),
        (torch.randn(1, 3), torch.tensor([0]), (1,), "at least 2"),
        (torch.tensor([[math.nan, 0.0], [1.0, 0.0]]), torch.tensor([0, 0]), (1,), "NaN"),
        (torch.randn(4, 3), torch.tensor([0, 1, 1, 0]), (0,), "ks"),
    ],
)
def test_bad_inputs(x, y, ks, message):
    with pytest.raises(ValueError, match=message):
        retrieval_metrics(x, y, ks=ks)


def test_all_singletons_give_nan_map_and_zero_recall():
    m = retrieval_metrics(torch.randn(4, 3), torch.arange(4), ks=(1,))
    assert m["recall@1"] == 0.0 and math.isnan(m["map@r"])


# -- embed --------------------------------------------------------------------------------


class _Pairs(torch.utils.data.Dataset):
    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])


def test_embed_returns_the_split_in_order_in_eval_mode_and_restores_mode():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5), torch.nn.Dropout(0.5))
    model.train()
    images, labels = torch.randn(10, 3, 2, 2), torch.arange(10) % 3
    embeddings, out_labels = embed(model, _Pairs(images, labels), batch_size=4, progress=False)
    assert embeddings.shape == (10, 5) and embeddings.dtype == torch.float32
    assert torch.equal(out_labels, labels)
    model.eval()
    torch.testing.assert_close(embeddings, model(images).detach())  # dropout off
    model.train()
    embed(model, _Pairs(images, labels), progress=False)
    assert model.training


def test_embed_rejects_untransformed_images():
    class Raw(torch.utils.data.Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, i):
            return [[0]], 0

    with pytest.raises(ValueError, match="eval transform"):
        embed(torch.nn.Identity(), Raw(), progress=False)


# -- several runs -------------------------------------------------------------------------


def test_aggregate_runs_mean_and_sample_std():
    runs = [{"recall@1": 0.70, "map@r": 0.3}, {"recall@1": 0.72, "map@r": 0.5}, {"recall@1": 0.74}]
    summary = aggregate_runs(runs)
    assert set(summary) == {"recall@1"}  # only metrics every run has
    mean, std = summary["recall@1"]
    assert mean == pytest.approx(0.72) and std == pytest.approx(0.02)
    assert math.isnan(aggregate_runs(runs[:1])["recall@1"][1])


def test_format_recall_table_sop_columns():
    runs = [{"recall@1": 0.81, "recall@10": 0.92, "recall@100": 0.967, "recall@1000": 0.99, "map@r": 0.5, "r_precision": 0.6},
            {"recall@1": 0.82, "recall@10": 0.92, "recall@100": 0.967, "recall@1000": 0.99, "map@r": 0.5, "r_precision": 0.6}]
    table = format_recall_table({"HIST": runs, "untrained": {"recall@1": 0.3}}, ks=(1, 10, 100, 1000))
    lines = table.splitlines()
    assert [cell.strip() for cell in lines[0].split(" | ")] == ["method", "R@1", "R@10", "R@100", "R@1000", "MAP@R", "R-Precision"]
    assert "81.5 +/- 0.7" in lines[2] and "92.0 +/- 0.0" in lines[2]
    assert lines[3].startswith("untrained | 30.0")


# -- a separate gallery, and the nearest-neighbour search ------------------------------------------


def brute_force_gallery(q: np.ndarray, qy: np.ndarray, g: np.ndarray, gy: np.ndarray, ks, own=None) -> dict:
    """The definitions for queries against a gallery (``own[i]``: query i's index in it, or -1)."""
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    g = g / np.linalg.norm(g, axis=1, keepdims=True)
    recall = {k: 0 for k in ks}
    p1 = ap = rp = 0.0
    counted = 0
    for i in range(len(qy)):
        keep = np.arange(len(gy)) != (own[i] if own is not None else -1)
        s, relevant = (g[keep] @ q[i]), gy[keep] == qy[i]
        ranked = relevant[np.lexsort((relevant, -s))]
        for k in ks:
            recall[k] += bool(ranked[:k].any())
        r = int(relevant.sum())
        if r == 0:
            continue
        counted += 1
        p1 += ranked[0]
        top = ranked[:r]
        rp += top.sum() / r
        ap += (np.cumsum(top) / np.arange(1, r + 1) * top).sum() / r
    out = {f"recall@{k}": recall[k] / len(qy) for k in ks}
    out.update(precision_at_1=p1 / counted, **{"map@r": ap / counted}, r_precision=rp / counted)
    return out


@pytest.mark.parametrize("chunk", [None, 3])
def test_queries_against_a_separate_gallery_match_brute_force(chunk):
    x, y = clustered(n_classes=20, seed=5)
    queries, gallery = np.arange(0, len(y), 3), np.setdiff1d(np.arange(len(y)), np.arange(0, len(y), 3))
    ks = (1, 2, 4, 100)
    ours = retrieval_metrics(torch.from_numpy(x[queries]), torch.from_numpy(y[queries]), ks=ks, chunk_size=chunk,
                             reference=torch.from_numpy(x[gallery]), reference_labels=torch.from_numpy(y[gallery]))
    expected = brute_force_gallery(x[queries], y[queries], x[gallery], y[gallery], ks)
    for name, value in expected.items():
        assert ours[name] == pytest.approx(value, abs=1e-12), name


def test_a_gallery_that_contains_the_queries_excludes_each_query_by_index():
    x, y = clustered(n_classes=15, seed=6)
    queries = np.arange(0, len(y), 2)
    ours = retrieval_metrics(torch.from_numpy(x[queries]), torch.from_numpy(y[queries]), ks=(1, 4),
                             reference=torch.from_numpy(x), reference_labels=torch.from_numpy(y),
                             query_in_reference=torch.from_numpy(queries))
    expected = brute_force_gallery(x[queries], y[queries], x, y, (1, 4), own=queries)
    for name, value in expected.items():
        assert ours[name] == pytest.approx(value, abs=1e-12), name
    # the whole set as its own gallery is the leave-one-out protocol
    whole = retrieval_metrics(torch.from_numpy(x), torch.from_numpy(y), ks=(1, 4), reference=torch.from_numpy(x),
                              reference_labels=torch.from_numpy(y), query_in_reference=torch.arange(len(y)))
    assert whole == pytest.approx(retrieval_metrics(torch.from_numpy(x), torch.from_numpy(y), ks=(1, 4)))


def test_gallery_metrics_agree_with_pml_accuracy_calculator():
    x, y = clustered(n_classes=12, seed=7, sizes=(2, 9))
    x = x / np.linalg.norm(x, axis=1, keepdims=True)  # PML ranks by L2 distance: on unit vectors, the same order
    queries, gallery = np.arange(0, len(y), 4), np.setdiff1d(np.arange(len(y)), np.arange(0, len(y), 4))
    ours = retrieval_metrics(torch.from_numpy(x[queries]), torch.from_numpy(y[queries]),
                             reference=torch.from_numpy(x[gallery]), reference_labels=torch.from_numpy(y[gallery]))
    calculator = AccuracyCalculator(include=tuple(PML_NAMES[m] for m in ("precision_at_1", "map@r", "r_precision")),
                                    k="max_bin_count")
    theirs = calculator.get_accuracy(torch.from_numpy(x[queries]).float(), torch.from_numpy(y[queries]),
                                     torch.from_numpy(x[gallery]).float(), torch.from_numpy(y[gallery]),
                                     ref_includes_query=False)
    for name in ("precision_at_1", "map@r", "r_precision"):
        assert ours[name] == pytest.approx(theirs[PML_NAMES[name]], abs=1e-6), name


def test_nearest_neighbours_match_a_full_similarity_matrix():
    x, _ = clustered(n_classes=10, seed=8)
    t = torch.from_numpy(x).float()
    unit = torch.nn.functional.normalize(t, dim=1)
    full = unit @ unit.T
    full.fill_diagonal_(-math.inf)
    for chunk in (None, 4):
        sims, index = nearest_neighbours(t, k=5, chunk_size=chunk)
        expected = full.topk(5, dim=1)
        torch.testing.assert_close(sims, expected.values)
        assert (index != torch.arange(len(t))[:, None]).all()  # never the query itself
    gallery = t[:10]
    sims, index = nearest_neighbours(t[10:], k=3, reference=gallery)
    torch.testing.assert_close(sims, (unit[10:] @ unit[:10].T).topk(3, dim=1).values)
    with pytest.raises(ValueError, match="k must be an integer in 1..9"):
        nearest_neighbours(t[:10], k=10)


def test_numpy_integers_are_accepted_as_ks():
    x, y = clustered(seed=3)
    ours = retrieval_metrics(torch.from_numpy(x), torch.from_numpy(y), ks=(np.int64(1), np.int32(2)))
    assert {"recall@1", "recall@2"} <= set(ours)


@pytest.mark.parametrize("chunk_size", [-1, 0, 2.5, True])
def test_a_chunk_size_that_is_not_a_positive_integer_is_refused(chunk_size):
    x, y = torch.randn(10, 4), torch.arange(10) % 3
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        retrieval_metrics(x, y, chunk_size=chunk_size)
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        nearest_neighbours(x, 1, chunk_size=chunk_size)


def test_nearest_neighbours_of_an_empty_set_says_what_is_missing():
    with pytest.raises(ValueError, match="needs at least one query and one reference item besides the query itself; "
                                         "got 0 queries and 0 reference items"):
        nearest_neighbours(torch.zeros(0, 4), 1)
    with pytest.raises(ValueError, match="got 1 queries and 1 reference items"):
        nearest_neighbours(torch.ones(1, 4), 1)  # a query alone has no neighbour but itself


def test_inputs_that_would_give_a_silently_wrong_table_are_refused():
    x, y = torch.randn(6, 4), torch.tensor([0, 0, 1, 1, 2, 2])
    with pytest.raises(ValueError, match=r"2-D float tensor \(N, D\) with D >= 1"):
        retrieval_metrics(torch.zeros(6, 0), y)  # zero-width embeddings (faiss crashed on them with nmi=True)
    assert retrieval_metrics(x, y, ks=1)["recall@1"] == retrieval_metrics(x, y, ks=(1,))["recall@1"]  # one int: one k
    with pytest.raises(ValueError, match="ks must be positive integers"):
        retrieval_metrics(x, y, ks="12")  # not R@1 and R@2
    one = {"recall@1": 0.5, "recall@2": 0.75, "map@r": 0.25}
    with pytest.raises(ValueError, match="extra must be a sequence of metric names"):
        format_recall_table({"A": one}, ks=(1,), extra="map@r")
    with pytest.raises(ValueError, match="ks must be positive integers"):
        format_recall_table({"A": one}, ks="12")
    assert "R@1" in format_recall_table({"A": one}, ks=1, extra=())
    with pytest.raises(ValueError, match=r"metric 'recall@1' must be a number in every run, got \(0.7, 0.1\)"):
        format_recall_table({"paper": {"recall@1": (0.7, 0.1)}}, ks=(1,))  # a (mean, std) pair, not a run
    with pytest.raises(ValueError, match="a non-empty list of metrics dicts"):
        aggregate_runs({"recall@1": 0.7})


# -- the ranking kernel and the per-metric functions, against a full sort per query -------------


def tied_embeddings(n, n_classes, seed):
    """Unit vectors of +-0.25 in 16 dimensions: every cosine is an exact multiple of 1/8, in any
    summation order, so ties are frequent and exact; labels with singletons and absent classes."""
    g = np.random.default_rng(seed)
    labels = g.integers(0, n_classes, n) * 3 - 4
    labels[g.choice(n, 4, replace=False)] = 1000 + np.arange(4)  # singletons
    return g.choice([-0.25, 0.25], size=(n, 16)), labels


def full_sort_ranking(q, qy, g, gy, own=None):
    """Per query: R, the rank of its first positive (int64 max if none), and (Q, max R) "the item at
    rank j + 1 <= R is a positive", from a full sort of the gallery (other-class items first on ties)."""
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    g = g / np.linalg.norm(g, axis=1, keepdims=True)
    ranked_lists, r = [], []
    for i in range(len(qy)):
        keep = np.arange(len(gy)) != (own[i] if own is not None else -1)
        s, relevant = g[keep] @ q[i], gy[keep] == qy[i]
        ranked_lists.append(relevant[np.lexsort((relevant, -s))])
        r.append(int(relevant.sum()))
    first_rank = [int(np.argmax(ranked)) + 1 if ranked.any() else np.iinfo(np.int64).max for ranked in ranked_lists]
    positive_at_rank = np.zeros((len(qy), max(r)), dtype=bool)
    for i, ranked in enumerate(ranked_lists):
        positive_at_rank[i, : r[i]] = ranked[: r[i]]
    return torch.tensor(r), torch.tensor(first_rank), torch.from_numpy(positive_at_rank)


def whole_ranking(chunks):
    """The chunks' rankings as one: r and first_rank concatenated, positive_at_rank padded to the widest."""
    chunks = list(chunks)
    width = max(c.positive_at_rank.shape[1] for c in chunks)
    padded = [torch.nn.functional.pad(c.positive_at_rank, (0, width - c.positive_at_rank.shape[1])) for c in chunks]
    return evaluation._Ranking(torch.cat([c.r for c in chunks]), torch.cat([c.first_rank for c in chunks]),
                               torch.cat(padded))


@pytest.mark.parametrize("seed, chunk, dtype", [(0, None, torch.float32), (1, 3, torch.float64), (2, 1, torch.float32)])
def test_ranking_kernel_matches_a_full_sort_with_ties_singletons_and_a_gallery(seed, chunk, dtype):
    x, y = tied_embeddings(90, 25, seed)
    cases = {"leave-one-out": (x, y, x, y, np.arange(len(y))),
             "gallery": (x[:30], y[:30], x[30:], y[30:], None),
             "gallery holding some queries": (x[:40], y[:40], x[20:], y[20:], np.r_[np.full(20, -1), np.arange(20)])}
    singletons = misses = 0
    for name, (q, qy, g, gy, own) in cases.items():
        exclude = torch.full((len(qy),), -1) if own is None else torch.from_numpy(own)
        ranking = whole_ranking(evaluation._rank_positives(torch.from_numpy(q).to(dtype), torch.from_numpy(qy),
                                                           torch.from_numpy(g).to(dtype), torch.from_numpy(gy), exclude,
                                                           chunk))
        r, first_rank, positive_at_rank = full_sort_ranking(q, qy, g, gy, own)
        assert torch.equal(ranking.r, r), name
        assert torch.equal(ranking.first_rank, first_rank), name
        assert torch.equal(ranking.positive_at_rank, positive_at_rank), name
        singletons += int((r == 0).sum())
        misses += int(((ranking.positive_at_rank.sum(1) < r) & (r > 0)).sum())
    assert singletons and misses  # the data exercise both


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metric_functions_match_their_definitions_on_a_full_sort(seed):
    x, y = tied_embeddings(80, 20, seed)
    r, first_rank, positive_at_rank = full_sort_ranking(x, y, x, y, own=np.arange(len(y)))
    expected = brute_force(x, y, ks=(1, 2, 5, 100))  # the definitions, from the ranked lists
    for k in (1, 2, 5, 100):
        assert float(recall_at_k(first_rank, k).mean()) == pytest.approx(expected[f"recall@{k}"], abs=1e-12)
    assert evaluation._mean_over_queries(precision_at_1(first_rank, r)) == pytest.approx(expected["precision_at_1"], abs=1e-12)
    assert evaluation._mean_over_queries(average_precision_at_r(positive_at_rank, r)) == pytest.approx(expected["map@r"], abs=1e-12)
    assert evaluation._mean_over_queries(r_precision(positive_at_rank, r)) == pytest.approx(expected["r_precision"], abs=1e-12)
    # the tie-heavy data through retrieval_metrics, whole and in chunks, and the same in float32
    for chunk, dtype in ((None, torch.float64), (7, torch.float32)):
        ours = retrieval_metrics(torch.from_numpy(x).to(dtype), torch.from_numpy(y), ks=(1, 2, 5, 100),
                                 chunk_size=chunk)
        assert ours == pytest.approx(expected, abs=1e-12)


def test_metric_functions_by_hand():
    # ranked relevance of three queries, R = 3, 1, 2, and a singleton (R = 0)
    ranked = torch.tensor([[True, False, True], [False, True, True], [True, True, False], [False, False, False]])
    r = torch.tensor([3, 1, 2, 0])
    first_rank = torch.tensor([1, 2, 1, torch.iinfo(torch.long).max])
    assert recall_at_k(first_rank, 1).tolist() == [1, 0, 1, 0] and recall_at_k(first_rank, 2).tolist() == [1, 1, 1, 0]
    nan = math.nan
    torch.testing.assert_close(precision_at_1(first_rank, r), torch.tensor([1.0, 0.0, 1.0, nan], dtype=torch.float64),
                               equal_nan=True)  # a singleton has no Precision@1: left out of the mean
    # ranks beyond R are not read: query 1's positives at ranks 2 and 3 do not count (R = 1)
    torch.testing.assert_close(average_precision_at_r(ranked, r),
                               torch.tensor([(1 + 2 / 3) / 3, 0.0, 1.0, nan], dtype=torch.float64), equal_nan=True)
    torch.testing.assert_close(r_precision(ranked, r), torch.tensor([2 / 3, 0.0, 1.0, nan], dtype=torch.float64),
                               equal_nan=True)
    assert evaluation._mean_over_queries(average_precision_at_r(ranked, r)) == pytest.approx(((1 + 2 / 3) / 3 + 0 + 1) / 3)
    assert math.isnan(evaluation._mean_over_queries(precision_at_1(first_rank[3:], r[3:])))  # no query with a positive
    with pytest.raises(ValueError, match="W >= max R"):
        average_precision_at_r(ranked[:, :2], r)


def test_the_kernel_excludes_each_querys_own_gallery_column_in_every_chunk():
    g = torch.from_numpy(tied_embeddings(12, 3, seed=5)[0]).float()  # exact products: chunks match bit for bit
    q = g[[3, 0, 7, 7, 11]] + 0.0
    own = torch.tensor([3, -1, 7, -1, 11])
    full = q @ g.T
    full[[0, 2, 4], [3, 7, 11]] = -math.inf
    for chunk in (None, 1, 2, 5):
        seen, storage = [], set()
        for start, stop, sims in evaluation._similarity_chunks(q, g, own, chunk):
            assert torch.equal(sims, full[start:stop]), (chunk, start)
            seen.append((start, stop))
            storage.add(sims.untyped_storage().data_ptr())
        rows = min(chunk or 5, 5)
        assert seen == [(s, min(s + rows, 5)) for s in range(0, 5, rows)] and len(storage) == 1  # one reused buffer
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        evaluation._similarity_chunks(q, g, own, 0)  # refused at once, before the first chunk
    # through nearest_neighbours: the query's own gallery entry (a perfect match) is never returned
    sims, index = nearest_neighbours(q, k=11, reference=g, query_in_reference=own, chunk_size=2)
    assert not (index == own[:, None]).any()
    assert torch.equal(index[[1, 3], 0], torch.tensor([0, 7]))  # not excluded: itself first
    torch.testing.assert_close(sims, full.sort(dim=1, descending=True).values[:, :11])


def test_nearest_neighbours_and_retrieval_metrics_agree_with_a_full_sort():
    x, y = clustered(n_classes=25, seed=9)  # continuous: no ties
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    full = unit @ unit.T
    np.fill_diagonal(full, -np.inf)
    order = np.argsort(-full, axis=1, kind="stable")[:, :-1]  # the query itself last, dropped
    for chunk in (None, 4):
        sims, index = nearest_neighbours(torch.from_numpy(x), k=20, chunk_size=chunk)
        assert np.array_equal(index.numpy(), order[:, :20])
        np.testing.assert_allclose(sims.numpy(), np.take_along_axis(full, order[:, :20], axis=1), atol=1e-12)
    hit = y[order] == y[:, None]
    ours = retrieval_metrics(torch.from_numpy(x), torch.from_numpy(y), ks=(1, 3, 20))
    for k in (1, 3, 20):
        assert ours[f"recall@{k}"] == pytest.approx(hit[:, :k].any(axis=1).mean(), abs=1e-12)
        assert ours[f"recall@{k}"] == pytest.approx(float((y[index[:, :k].numpy()] == y[:, None]).any(1).mean()))


def test_the_exact_bool_count_beyond_float_precision_gives_the_same_metrics(monkeypatch):
    x, y = tied_embeddings(60, 15, seed=4)
    x, y = torch.from_numpy(x).float(), torch.from_numpy(y)
    fast = retrieval_metrics(x, y, ks=(1, 4), chunk_size=9)
    monkeypatch.setattr(evaluation, "_EXACT_FLOAT_COUNT", 0)  # as if the gallery had over 2**24 items
    assert retrieval_metrics(x, y, ks=(1, 4), chunk_size=9) == fast


def test_chance_nmi_rises_with_the_number_of_classes_and_is_seeded():
    from histlib.evaluation import chance_nmi

    few, many = torch.arange(8305) % 10, torch.arange(8305) % 1661  # 10 classes; kanji's 1,661 of 5 items
    assert chance_nmi(few) < 0.01 < 0.7 < chance_nmi(many) < 0.8  # a random clustering scores 0.77 on many
    assert chance_nmi(many, seed=3) == chance_nmi(many, seed=3) != chance_nmi(many, seed=4)


def test_nmi_is_one_for_separated_classes_and_near_chance_for_noise():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(60) % 3
    centres = torch.eye(8)[:3] * 10
    separated = centres[labels] + 0.1 * torch.randn(60, 8, generator=g)
    assert evaluation.normalized_mutual_information(separated, labels) == pytest.approx(1.0)
    noise = torch.randn(60, 8, generator=g)
    assert evaluation.normalized_mutual_information(noise, labels) < 0.2


@pytest.mark.parametrize("embeddings, labels, message", [
    (torch.tensor([[1.0, 0.0], [float("nan"), 1.0], [0.0, 1.0]]), torch.tensor([0, 1, 1]), "contain NaN or infinite"),
    (torch.ones(3, 2), torch.tensor([0, 1]), "one label per embedding"),
    (torch.ones(3), torch.tensor([0, 1, 1]), "2-D float tensor"),
    (torch.ones(1, 2), torch.tensor([0]), "NMI needs at least 2 embeddings"),
])
def test_nmi_checks_its_inputs_as_the_retrieval_metrics_do(embeddings, labels, message):
    with pytest.raises(ValueError, match=message):
        evaluation.normalized_mutual_information(embeddings, labels)
