"""The paired interval's coverage, computed over the whole sampling distribution, and its equations against
independent references (a numerical likelihood maximum, Beta quantiles, a hand-computed Holm adjustment)."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.stats import beta, binom, norm

from snnconv.evaluation import statistics

#: (p10, p01): the share of images right only under A, only under B. It includes the nested comparisons
#: (p01 = 0: a worst case against one of its own attacks) that the conditional interval failed on.
GRID = [(p10, p01) for p10 in (0.0, 0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.082, 0.1, 0.2, 0.3)
        for p01 in (0.0, 0.001, 0.005, 0.01, 0.05, 0.1) if p01 <= p10]


def conditional_interval(only_a: int, only_b: int, n: int) -> tuple[float, float]:
    """The interval this project used before: Clopper–Pearson of n10/m, scaled by m/n (m fixed) — the
    counter-example that the coverage test must reject."""
    m = only_a + only_b
    if not m:
        return 0.0, 0.0
    low = beta.ppf(0.025, only_a, m - only_a + 1) if only_a else 0.0
    high = beta.ppf(0.975, only_a + 1, m - only_a) if only_a < m else 1.0
    return 100 * m / n * (2 * low - 1), 100 * m / n * (2 * high - 1)


@functools.cache
def score(only_a: int, only_b: int, n: int) -> tuple[float, float]:
    return statistics.score_interval(only_a, only_b, n)


def coverage(interval, n: int, p10: float, p01: float, tail: float = 1e-10) -> float:
    """The probability that ``interval`` covers p10 − p01, summed over every table (n10, n01) of n images:
    n10 ~ Bin(n, p10), and given n10, n01 ~ Bin(n − n10, p01 / (1 − p10)). Tables rarer than ``tail`` are left
    out (they can lower the result by at most their total mass)."""
    truth, covered = 100 * (p10 - p01), 0.0
    first = binom.pmf(np.arange(n + 1), n, p10)
    for only_a in np.flatnonzero(first > tail):
        second = binom.pmf(np.arange(n - only_a + 1), n - only_a, p01 / (1 - p10)) * first[only_a]
        for only_b in np.flatnonzero(second > tail):
            low, high = interval(int(only_a), int(only_b), n)
            covered += second[only_b] * (low - 1e-9 <= truth <= high + 1e-9)
    return covered


@pytest.mark.parametrize("n", [200, 1000])
def test_the_score_interval_covers_at_least_94_percent_everywhere_and_the_conditional_one_does_not(n):
    score_coverage = {point: coverage(score, n, *point) for point in GRID}
    worst = min(score_coverage, key=score_coverage.get)
    assert score_coverage[worst] >= 0.94, f"coverage {score_coverage[worst]:.4f} at (p10, p01) = {worst}"
    # The old interval on the nested case: far below nominal (27 % measured at n = 1000 by simulation).
    assert coverage(conditional_interval, n, 0.082, 0.0) < 0.5
    assert min(coverage(conditional_interval, n, *point) for point in GRID) < 0.94


def test_a_multinomial_simulation_agrees_with_the_enumerated_coverage():
    # The enumeration above is exact up to the left-out tails; 4,000 draws of one nested and one two-sided
    # point land within four standard errors of it.
    rng = np.random.default_rng(7)
    for p10, p01 in ((0.03, 0.0), (0.08, 0.01)):
        draws = rng.multinomial(1000, [p10, p01, 1 - p10 - p01], size=4000)
        truth = 100 * (p10 - p01)
        hits = np.mean([score(int(a), int(b), 1000)[0] <= truth <= score(int(a), int(b), 1000)[1]
                        for a, b, _ in draws])
        exact = coverage(score, 1000, p10, p01)
        assert abs(hits - exact) < 4 * math.sqrt(exact * (1 - exact) / 4000)


def _score_by_likelihood(only_a: int, only_b: int, n: int, delta: float) -> float:
    """Tango's score statistic with the restricted p01 found by maximizing the multinomial likelihood numerically
    (not from the closed form), without continuity correction."""
    others = n - only_a - only_b

    def negative_log_likelihood(p01: float) -> float:
        p10 = p01 + delta
        rest = 1 - p10 - p01
        return -(only_a * math.log(max(p10, 1e-300)) + only_b * math.log(max(p01, 1e-300))
                 + others * math.log(max(rest, 1e-300)))

    lowest, highest = max(0.0, -delta), (1 - delta) / 2
    p01 = minimize_scalar(negative_log_likelihood, bounds=(lowest + 1e-12, highest - 1e-12), method="bounded",
                          options={"xatol": 1e-12}).x
    return (only_a - only_b - n * delta) / math.sqrt(n * (2 * p01 + delta * (1 - delta)))


@pytest.mark.parametrize("table", [(8, 2, 100), (82, 0, 1000), (30, 10, 1000), (3, 9, 200)])
def test_the_score_bounds_solve_the_score_equation_with_a_numerical_likelihood_maximum(table):
    only_a, only_b, n = table
    z = norm.ppf(0.975)
    low, high = statistics.score_interval(only_a, only_b, n, continuity=0.0)
    assert _score_by_likelihood(only_a, only_b, n, low / 100) == pytest.approx(z, abs=1e-4)
    assert _score_by_likelihood(only_a, only_b, n, high / 100) == pytest.approx(-z, abs=1e-4)
    # The continuity correction widens the interval by moving the count by half an image.
    wide_low, wide_high = statistics.score_interval(only_a, only_b, n)
    assert wide_low < low < high < wide_high


def test_nested_interval_is_clopper_pearson_from_beta_quantiles():
    low, high = statistics.nested_interval(82, 1000)
    assert low == pytest.approx(100 * beta.ppf(0.025, 82, 919), abs=1e-6)
    assert high == pytest.approx(100 * beta.ppf(0.975, 83, 918), abs=1e-6)
    # The audit's worst case against its ensemble: 82 of 1,000 images. The conditional interval said
    # [7.48, 8.20], an upper bound equal to the estimate.
    c = statistics.paired_comparison([True] * 82 + [False] * 918, [False] * 1000, nested=True)
    assert (round(c.ci_low, 1), round(c.ci_high, 1)) == (6.6, 10.1)
    assert c.ci_high > c.difference + 1.5
    with pytest.raises(ValueError, match="right only under B"):
        statistics.paired_comparison([True, False], [False, True], nested=True)


def test_no_discordant_image_still_leaves_an_interval_around_zero():
    # The conditional interval was [0, 0] here: certainty from ten images.
    low, high = statistics.score_interval(0, 0, 10)
    assert low < 0 < high and high == pytest.approx(-low)
    assert high > 20


def test_holm_against_a_hand_computed_adjustment():
    # Sorted: 0.005 · 4 = 0.02, 0.01 · 3 = 0.03, 0.03 · 2 = 0.06, 0.04 · 1 = 0.04 → max so far 0.06.
    assert statistics.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert statistics.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert statistics.holm([]) == []


def test_holm_keeps_the_familywise_error_at_alpha_by_simulation():
    # 20 true null hypotheses, uniform p-values: Holm at 0.05 rejects any in at most 5 % of families
    # (Bonferroni-bounded), where unadjusted testing rejects some in about 64 %.
    rng = np.random.default_rng(3)
    families = rng.uniform(size=(4000, 20))
    holm_any = np.mean([min(statistics.holm(list(p))) < 0.05 for p in families])
    raw_any = np.mean((families < 0.05).any(axis=1))
    assert holm_any <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 4000)
    assert raw_any > 0.6
