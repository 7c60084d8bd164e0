"""Comparisons of two settings over paired seeds, and the words a verdict may use.

Runs with the same seed share their initialisation, their data order and their validation classes,
so two settings are compared seed by seed (a paired design): the mean of the per-seed differences,
its Student-t confidence interval, the paired t-test's p-value and in how many seeds A beat B.
"No difference" is never read off a large p: :func:`equivalence_p` tests it against a stated margin
(two one-sided tests), :func:`holm` corrects a family of p-values, and :func:`verdict` turns a
comparison into one of four phrases (see :data:`VERDICT_WORDS`).

    >>> c = paired_comparison({1: 0.62, 2: 0.60, 3: 0.64}, {1: 0.60, 2: 0.59, 3: 0.61})
    >>> round(c.difference, 4), c.n_pairs, c.wins
    (0.02, 3, 3)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["PairedComparison", "paired_comparison", "equivalence_p", "holm", "verdict", "verdict_word",
           "VERDICT_WORDS", "UnpairedError"]

#: The first word of every verdict :func:`verdict` can give.
VERDICT_WORDS = ("better", "worse", "equivalent", "inconclusive")


class UnpairedError(ValueError):
    """Two settings that were not run with the same seeds (a paired comparison needs every seed on both)."""


@dataclass(frozen=True)
class PairedComparison:
    """A against B over the seeds both were run with (differences are A minus B).

    ``differences``: per seed, in the order of ``seeds``; ``difference``: their mean; ``ci_low`` /
    ``ci_high``: its ``confidence`` Student-t interval; ``p``: the two-sided paired t-test (NaN when
    every difference is the same); ``wins`` / ``losses``: seeds where A is above / below B.
    """

    seeds: tuple[int, ...]
    differences: tuple[float, ...]
    difference: float
    ci_low: float
    ci_high: float
    p: float
    wins: int
    losses: int
    confidence: float

    @property
    def n_pairs(self) -> int:
        return len(self.seeds)


def _finite(values: Mapping[int, float], name: str) -> dict[int, float]:
    out = {}
    for seed, value in values.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: seed {seed} has the value {value!r}, not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{name}: seed {seed} has the value {number}; a comparison needs a finite score "
                             "for every seed (re-run that seed)")
        out[seed] = number
    return out


def paired_comparison(a: Mapping[int, float], b: Mapping[int, float], confidence: float = 0.95) -> PairedComparison:
    """A (``{seed: score}``) against B over their seeds; both must have exactly the same seeds, at least 2.

    Unpaired data is refused (:class:`UnpairedError` naming the seeds only one side has): testing it
    as if it were paired, or silently dropping seeds, would give a wrong answer.

    >>> c = paired_comparison({1: 0.5, 2: 0.7}, {1: 0.4, 2: 0.4})
    >>> round(c.difference, 2), round(c.ci_low, 3), round(c.ci_high, 3), round(c.p, 3)
    (0.2, -1.071, 1.471, 0.295)
    >>> paired_comparison({1: 0.5, 2: 0.7}, {1: 0.4, 3: 0.4})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    histlib.statistics.UnpairedError: not paired: seed(s) [2] only in A, [3] only in B; run both settings ...
    """
    from scipy import stats

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    a, b = _finite(a, "A"), _finite(b, "B")
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    if only_a or only_b:
        raise UnpairedError(f"not paired: seed(s) {only_a} only in A, {only_b} only in B; run both settings with "
                            "the same seeds")
    seeds = tuple(sorted(a))
    if len(seeds) < 2:
        raise ValueError(f"a paired comparison needs at least 2 seeds, got {len(seeds)}")
    differences = tuple(a[s] - b[s] for s in seeds)
    n = len(differences)
    mean = sum(differences) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in differences) / (n - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    p = float(stats.ttest_1samp(differences, 0.0).pvalue) if sd > 0 else math.nan
    return PairedComparison(seeds, differences, mean, mean - half, mean + half, p,
                            sum(d > 0 for d in differences), sum(d < 0 for d in differences), confidence)


def equivalence_p(differences: Sequence[float], margin: float) -> float:
    """Two one-sided tests (TOST) that the mean paired difference lies within ``(-margin, margin)``:
    the larger of the two one-sided t-tests' p-values. Small means "equivalent within the margin"
    (p < 0.05 exactly when the 90 % confidence interval lies inside the margin).

    >>> round(equivalence_p([0.1, -0.1, 0.05, -0.05], margin=0.5), 4)
    0.0008
    >>> equivalence_p([0.1, -0.1, 0.05, -0.05], margin=0.1) > 0.05
    True
    """
    from scipy import stats

    if not margin > 0:
        raise ValueError(f"an equivalence margin must be positive, got {margin}")
    values = [float(d) for d in differences]
    if len(values) < 2 or not all(math.isfinite(d) for d in values):
        raise ValueError(f"an equivalence test needs at least 2 finite differences, got {values}")
    n = len(values)
    mean = sum(values) / n
    se = math.sqrt(sum((d - mean) ** 2 for d in values) / (n - 1) / n)
    if se == 0:
        return 0.0 if abs(mean) < margin else 1.0
    lower = stats.t.sf((mean + margin) / se, n - 1)  # H0: mean <= -margin
    upper = stats.t.cdf((mean - margin) / se, n - 1)  # H0: mean >= margin
    return float(max(lower, upper))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family's p-values (in their order): the family-wise error rate
    stays below alpha when each adjusted p is compared with alpha. NaN stays NaN and is not counted.

    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    indexed = [(p, i) for i, p in enumerate(p_values) if not math.isnan(p)]
    for p, _ in indexed:
        if not 0 <= p <= 1:
            raise ValueError(f"a p-value lies in [0, 1], got {p}")
    m = len(indexed)
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(indexed)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = round(running, 12)
    return adjusted


def verdict(a: str, difference: float, ci_low: float, ci_high: float, p_holm: float, p_equivalence_holm: float,
            margin: float, alpha: float = 0.05, scale: float = 100.0) -> str:
    """The verdict on "A against B", one of four phrases (values times ``scale``: fractions as points):

    - ``"<a> better by d [lo, hi]"`` / ``"<a> worse by d [lo, hi]"``: the corrected paired p is below
      ``alpha`` (d the size of the mean difference, [lo, hi] its 95 % interval, uncorrected, both as
      sizes: "worse by 1.0 [0.6, 1.5]" is a difference of -1.0 in [-1.5, -0.6]);
    - ``"equivalent within +/- m"``: no difference shown, and the corrected equivalence test shows the
      difference lies inside the margin;
    - ``"inconclusive"``: neither (too few seeds or too much noise to tell).

    >>> verdict("HIST", 0.021, 0.011, 0.031, 0.004, 0.9, 0.01)
    'HIST better by 2.1 [1.1, 3.1]'
    >>> verdict("HIST", -0.010, -0.015, -0.006, 0.001, 0.6, 0.01)
    'HIST worse by 1.0 [0.6, 1.5]'
    >>> verdict("HIST", -0.002, -0.006, 0.002, 0.4, 0.01, 0.01)
    'equivalent within +/- 1.0'
    >>> verdict("HIST", -0.002, -0.03, 0.026, 0.9, 0.6, 0.01)
    'inconclusive'
    """
    if p_holm < alpha:
        if difference > 0:
            return f"{a} better by {scale * difference:.1f} [{scale * ci_low:.1f}, {scale * ci_high:.1f}]"
        return f"{a} worse by {-scale * difference:.1f} [{-scale * ci_high:.1f}, {-scale * ci_low:.1f}]"
    if p_equivalence_holm < alpha:
        return f"equivalent within +/- {scale * margin:.1f}"
    return "inconclusive"


def verdict_word(text: str, a: str) -> str:
    """The word of a verdict phrase from :func:`verdict` (one of :data:`VERDICT_WORDS`).

    >>> verdict_word("HIST worse by 0.4 [0.1, 0.7]", "HIST"), verdict_word("inconclusive", "HIST")
    ('worse', 'inconclusive')
    """
    rest = text[len(a) + 1:] if text.startswith(a + " ") else text
    word = rest.split(" ", 1)[0]
    if word not in VERDICT_WORDS:
        raise ValueError(f"{text!r} is not a verdict of histlib.statistics.verdict (for A = {a!r})")
    return word
