"""histlib.statistics against scipy and hand-checked numbers."""

import math

import pytest
from scipy import stats

from histlib.statistics import (
    VERDICT_WORDS,
    UnpairedError,
    equivalence_p,
    holm,
    paired_comparison,
    verdict,
    verdict_word,
)

A = {1: 0.612, 2: 0.598, 3: 0.640, 4: 0.605, 5: 0.621, 6: 0.633}
B = {1: 0.601, 2: 0.600, 3: 0.622, 4: 0.590, 5: 0.615, 6: 0.618}


def test_paired_comparison_matches_scipys_paired_t_test_and_interval():
    c = paired_comparison(A, B)
    a, b = [A[s] for s in sorted(A)], [B[s] for s in sorted(B)]
    diffs = [x - y for x, y in zip(a, b)]
    assert c.p == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert c.difference == pytest.approx(sum(diffs) / len(diffs))
    low, high = stats.t.interval(0.95, len(diffs) - 1, loc=c.difference, scale=stats.sem(diffs))
    assert (c.ci_low, c.ci_high) == (pytest.approx(low), pytest.approx(high))
    assert (c.n_pairs, c.wins, c.losses) == (6, 5, 1) and c.seeds == (1, 2, 3, 4, 5, 6)
    swapped = paired_comparison(B, A)
    assert swapped.difference == pytest.approx(-c.difference) and swapped.p == pytest.approx(c.p)
    ninety = paired_comparison(A, B, confidence=0.9)
    assert c.ci_low < ninety.ci_low < ninety.ci_high < c.ci_high


def test_unpaired_missing_or_odd_values_are_refused():
    with pytest.raises(UnpairedError, match=r"seed\(s\) \[6\] only in A, \[\] only in B"):
        paired_comparison(A, {s: v for s, v in B.items() if s != 6})
    with pytest.raises(ValueError, match="seed 3 has the value nan"):
        paired_comparison({**A, 3: math.nan}, B)
    with pytest.raises(ValueError, match=r"seed 3 has the value 'n/a', not a number"):
        paired_comparison({**A, 3: "n/a"}, B)
    with pytest.raises(ValueError, match="at least 2 seeds"):
        paired_comparison({1: 0.5}, {1: 0.4})
    with pytest.raises(ValueError, match="confidence"):
        paired_comparison(A, B, confidence=95)
    same = paired_comparison({1: 0.5, 2: 0.6}, {1: 0.4, 2: 0.5})  # identical differences: no test
    assert math.isnan(same.p) and same.ci_low == pytest.approx(0.1) == pytest.approx(same.ci_high)


def test_equivalence_is_two_one_sided_tests_and_agrees_with_the_90_percent_interval():
    diffs = [a - b for a, b in zip(A.values(), B.values())]
    margin = 0.03
    n, mean, se = len(diffs), sum(diffs) / len(diffs), stats.sem(diffs)
    lower = stats.ttest_1samp(diffs, -margin, alternative="greater").pvalue
    upper = stats.ttest_1samp(diffs, margin, alternative="less").pvalue
    assert equivalence_p(diffs, margin) == pytest.approx(max(lower, upper))
    low, high = stats.t.interval(0.90, n - 1, loc=mean, scale=se)
    for m in (0.005, 0.01, 0.02, 0.03, 0.05):  # p < 0.05 exactly when the 90 % interval lies inside +/- m
        assert (equivalence_p(diffs, m) < 0.05) == (-m < low and high < m)
    with pytest.raises(ValueError, match="margin must be positive"):
        equivalence_p(diffs, 0.0)
    with pytest.raises(ValueError, match="at least 2 finite"):
        equivalence_p([0.1, math.nan], 0.1)


def test_holm_matches_the_step_down_rule():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == [1.0, 1.0]
    assert holm([]) == []
    adjusted = holm([0.02, math.nan, 0.04])
    assert adjusted[0] == pytest.approx(0.04) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.04)
    with pytest.raises(ValueError, match=r"lies in \[0, 1\]"):
        holm([1.2])
    # Holm's procedure as a sequence of rejections: at level a, reject the k-th smallest while p_(k) < a / (m - k + 1)
    for level in (0.01, 0.02, 0.05, 0.1):
        order, rejected = sorted(range(len(p)), key=p.__getitem__), set()
        for k, i in enumerate(order):
            if p[i] >= level / (len(p) - k):
                break
            rejected.add(i)
        assert {i for i, q in enumerate(holm(p)) if q < level} == rejected


def test_the_verdict_is_one_of_four_phrases_computed_from_the_numbers():
    assert verdict("HIST", 0.02, 0.01, 0.03, 0.01, 0.9, 0.02) == "HIST better by 2.0 [1.0, 3.0]"
    assert verdict("HIST", -0.02, -0.03, -0.01, 0.01, 0.9, 0.02) == "HIST worse by 2.0 [1.0, 3.0]"
    assert verdict("HIST", 0.001, -0.004, 0.006, 0.6, 0.01, 0.02) == "equivalent within +/- 2.0"
    assert verdict("HIST", 0.001, -0.04, 0.04, 0.9, 0.5, 0.02) == "inconclusive"
    # a corrected p of exactly alpha is not below it
    assert verdict("HIST", 0.02, 0.001, 0.04, 0.05, 0.9, 0.02) == "inconclusive"
    for text in ("HIST better by 2.0 [1.0, 3.0]", "equivalent within +/- 2.0", "inconclusive"):
        assert verdict_word(text, "HIST") in VERDICT_WORDS
    with pytest.raises(ValueError, match="not a verdict"):
        verdict_word("HIST ties Proxy-Anchor", "HIST")
