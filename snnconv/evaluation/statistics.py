"""Statistics of accuracies measured on a finite test set: intervals and comparisons.

Robust accuracy is a binomial proportion over the test images, so its uncertainty is the Wilson score
interval (Wilson 1927):

.. math::

    \\frac{\\hat p + \\frac{z^2}{2n} \\pm z \\sqrt{\\frac{\\hat p (1 - \\hat p)}{n} + \\frac{z^2}{4 n^2}}}
         {1 + \\frac{z^2}{n}}

Two accuracies measured on the same test images are compared image by image (:func:`paired_comparison`: exact
McNemar test; Tango's score interval of the difference, unconditional on the number of discordant images, or
the exact Clopper–Pearson interval when one verdict vector implies the other); Newcombe's hybrid score interval
for two independent samples (:func:`difference_interval`, Newcombe 1998, method 10) remains for accuracies
measured on different images. :func:`holm` adjusts a family of p-values for multiplicity (Holm 1979), and
:func:`judge` decides a claim from its comparisons by that adjustment.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of an accuracy ``correct / n``, in percent.

    Unlike the normal approximation it stays inside [0, 100] and is informative at 0 % and 100 %, which
    is where robust accuracies under strong attacks live.

    Args:
        correct: number of correctly classified samples, ``0 <= correct <= n``.
        n: number of evaluated samples, ``n > 0``.
        z: standard-normal quantile; 1.96 gives a 95 % interval.

    Returns:
        ``(low, high)`` in percent.

    Example:
        >>> tuple(round(v, 2) for v in wilson_interval(50, 100))
        (40.38, 59.62)
    """
    correct_i = as_count("correct", correct)
    n_i = as_count("n", n)
    if n_i <= 0:
        raise ValueError(f"n={n!r} must be a positive number of samples")
    if not 0 <= correct_i <= n_i:
        raise ValueError(f"correct={correct!r} must lie in [0, n={n_i}]")
    if not (isinstance(z, int | float) and math.isfinite(z) and z > 0):
        raise ValueError(f"z={z!r} must be a positive finite number")
    p = correct_i / n_i
    z2 = z * z
    denominator = 1 + z2 / n_i
    centre = (p + z2 / (2 * n_i)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n_i + z2 / (4 * n_i * n_i))
    # Rounding can push the bounds a few ulps outside [0, 1] at p = 0 or 1.
    return 100 * max(0.0, centre - half), 100 * min(1.0, centre + half)


def as_count(name: str, value: Any) -> int:
    """``value`` as a Python int; rejects floats with a fractional part and bools."""
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"{name}={value!r} must be an integer count")
    try:
        return operator.index(value)
    except TypeError:
        pass
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    raise ValueError(f"{name}={value!r} must be an integer count")


def confidence_level(z: float) -> float:
    """Two-sided coverage of ±z standard deviations (1.96 → 0.95)."""
    return math.erf(z / math.sqrt(2))


def difference_interval(correct_a: int, n_a: int, correct_b: int, n_b: int, z: float = 1.96) -> tuple[float, float]:
    """Newcombe's hybrid score interval for the difference of two accuracies ``a − b``, in percent.

    Built from the two Wilson intervals (Newcombe 1998, method 10). It treats the two accuracies as
    independent samples, which is conservative when both are measured on the same test images.
    """
    low_a, high_a = (v / 100 for v in wilson_interval(correct_a, n_a, z))
    low_b, high_b = (v / 100 for v in wilson_interval(correct_b, n_b, z))
    p_a, p_b = correct_a / n_a, correct_b / n_b
    difference = p_a - p_b
    low = difference - math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2)
    high = difference + math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)
    return 100 * low, 100 * high


class _Paired:
    """The columns that a result page shows for one paired comparison (shared by both kinds of comparison)."""

    ci_low: float
    ci_high: float
    p_value: float

    @property
    def means(self) -> tuple[float, float]:
        raise NotImplementedError

    @property
    def difference(self) -> float:
        """A minus B: accuracies in percentage points, or means in their own unit."""
        return self.means[0] - self.means[1]

    def row(self, a: str, b: str, higher: str | None = None) -> dict[str, Any]:
        """One table row: columns ``a`` and ``b`` (the two accuracies or means), ``difference``, the paired
        interval ``ci_low``/``ci_high`` and ``p_value``; with ``higher``, a column of that name that is true when
        the whole interval lies above zero (A is measurably higher than B)."""
        row = {a: self.means[0], b: self.means[1], "difference": self.difference, "ci_low": self.ci_low,
               "ci_high": self.ci_high, "p_value": self.p_value}
        if higher is not None:
            row[higher] = self.ci_low > 0
        return row


@dataclass(frozen=True)
class PairedComparison(_Paired):
    """Two accuracies measured on the same ``n`` images, compared image by image.

    ``only_a`` images are correct under A but not under B, ``only_b`` the reverse (the discordant pairs);
    the images both get right or both get wrong say nothing about the difference. Accuracies and the
    interval are in percent.
    """

    n: int
    accuracy_a: float
    accuracy_b: float
    only_a: int
    only_b: int
    p_value: float  # exact McNemar test of "A and B are equally accurate"
    ci_low: float
    ci_high: float

    @property
    def means(self) -> tuple[float, float]:
        """The accuracies of A and B (percent)."""
        return self.accuracy_a, self.accuracy_b


#: The continuity correction of the paired score interval, in images (Tango 1998; ``cc = 0.5`` of ratesci's
#: ``pairbinci``): without it the interval's exact coverage dips to 93 % at n = 200 and 1,000 on small
#: discordant shares (tests/test_paired_interval.py enumerates it), with it it stays at or above 95 %.
CONTINUITY = 0.5


def _tango_score(only_a: int, only_b: int, n: int, delta: float, continuity: float) -> float:
    """Tango's score statistic of :math:`H: p_{10} - p_{01} = \\Delta`, with :math:`p_{01}` at its restricted MLE."""
    a, b = 2 * n, -only_a - only_b + (2 * n - only_a + only_b) * delta
    c = -only_b * delta * (1 - delta)
    restricted = (-b + math.sqrt(max(b * b - 4 * a * c, 0.0))) / (2 * a)
    variance = n * (2 * restricted + delta * (1 - delta))
    excess = only_a - only_b - n * delta
    corrected = math.copysign(max(abs(excess) - continuity, 0.0), excess)
    if variance <= 0:  # only at Δ = ±1, where no other table is possible
        return math.copysign(math.inf, corrected) if corrected else 0.0
    return corrected / math.sqrt(variance)


def score_interval(only_a: int, only_b: int, n: int, confidence: float = 0.95,
                   continuity: float = CONTINUITY) -> tuple[float, float]:
    """Tango's (1998) score interval of the difference of two accuracies on the same ``n`` images, in percent.

    With :math:`n_{10}` images right only under A and :math:`n_{01}` only under B, the difference is
    :math:`\\Delta = p_{10} - p_{01}`, estimated by :math:`(n_{10} - n_{01}) / n`. The interval holds every
    :math:`\\Delta` that the score test does not reject,

    .. math::

        \\Bigl\\{\\Delta : \\frac{\\bigl(|n_{10} - n_{01} - n\\Delta| - c\\bigr)_+}
        {\\sqrt{n\\,\\bigl(2\\tilde p_{01} + \\Delta (1 - \\Delta)\\bigr)}} \\le z_{1-\\alpha/2}\\Bigr\\},
        \\qquad \\tilde p_{01} = \\frac{-B + \\sqrt{B^2 - 8 n C}}{4 n},

    with :math:`B = -n_{10} - n_{01} + (2n - n_{10} + n_{01})\\Delta`, :math:`C = -n_{01}\\Delta(1 - \\Delta)`
    (:math:`\\tilde p_{01}` is the maximum-likelihood :math:`p_{01}` under :math:`\\Delta`) and the continuity
    correction :math:`c` in images. Unlike an interval that conditions on :math:`m = n_{10} + n_{01}`, the
    number of discordant images is random here, so the interval covers when the discordance is one-sided.

    Example:
        >>> tuple(round(v, 2) for v in score_interval(8, 2, 100))
        (-0.85, 13.95)
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r} must lie in (0, 1)")
    if not (0 <= only_a and 0 <= only_b and only_a + only_b <= n and n > 0):
        raise ValueError(f"need 0 ≤ only_a, only_b and only_a + only_b ≤ n > 0, got {only_a}, {only_b}, {n}")
    from scipy.optimize import brentq
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + confidence / 2))
    estimate, edge = (only_a - only_b) / n, 1e-12

    def score(delta: float) -> float:
        return _tango_score(only_a, only_b, n, delta, continuity)

    # The score falls as Δ rises, so each bound is the one crossing of ±z on its side of the estimate.
    low = -1.0 if score(-1 + edge) <= z else brentq(lambda d: score(d) - z, -1 + edge, estimate, xtol=1e-12)
    high = 1.0 if score(1 - edge) >= -z else brentq(lambda d: score(d) + z, estimate, 1 - edge, xtol=1e-12)
    return 100 * low, 100 * high


def nested_interval(only_a: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact Clopper–Pearson (1934) interval of :math:`n_{10}/n`, in percent: the difference of two accuracies
    when B's correct images are, by construction, a subset of A's (a worst case against one of its own attacks),
    so that :math:`n_{01} = 0` and the difference is the binomial proportion :math:`n_{10}/n`.

    >>> tuple(round(v, 2) for v in nested_interval(82, 1000))
    (6.57, 10.08)
    """
    from scipy.stats import binomtest

    interval = binomtest(only_a, n, 0.5).proportion_ci(confidence_level=confidence, method="exact")
    return 100 * float(interval.low), 100 * float(interval.high)


def paired_comparison(a: Sequence[bool], b: Sequence[bool], confidence: float = 0.95,
                      nested: bool = False) -> PairedComparison:
    """Compare two per-image verdicts on the same images: exact McNemar test and a paired interval.

    With :math:`n_{10}` images right only under A and :math:`n_{01}` only under B, the difference of accuracies
    is :math:`(n_{10} - n_{01}) / n`. The p-value is McNemar's (1947) exact test: given :math:`m = n_{10} +
    n_{01}`, :math:`n_{10} \\sim \\mathrm{Bin}(m, 1/2)` when A and B are equally accurate (scipy's exact binomial
    test). The interval is Tango's score interval (:func:`score_interval`), which does not treat :math:`m` as
    fixed; with ``nested=True`` — B right only where A is right, by construction, e.g. a worst case over attacks
    that include A's — it is the exact interval of :math:`n_{10}/n` (:func:`nested_interval`), and an image right
    only under B is an error.

    Example:
        >>> c = paired_comparison([True] * 8 + [False] * 2 + [True] * 90, [False] * 8 + [True] * 2 + [True] * 90)
        >>> c.difference, c.only_a, c.only_b, round(c.p_value, 4)
        (6.0, 8, 2, 0.1094)
        >>> round(c.ci_low, 2), round(c.ci_high, 2)
        (-0.85, 13.95)
    """
    a_, b_ = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a_.shape != b_.shape or a_.ndim != 1 or not len(a_):
        raise ValueError(f"paired verdicts need two non-empty vectors of one length, got {a_.shape} and {b_.shape}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r} must lie in (0, 1)")
    n = len(a_)
    only_a, only_b = int((a_ & ~b_).sum()), int((~a_ & b_).sum())
    if nested and only_b:
        raise ValueError(f"nested=True says B is right only where A is, but {only_b} images are right only under B")
    discordant = only_a + only_b
    if discordant:
        from scipy.stats import binomtest

        p_value = float(binomtest(only_a, discordant, 0.5).pvalue)
    else:
        p_value = 1.0
    low, high = nested_interval(only_a, n, confidence) if nested else score_interval(only_a, only_b, n, confidence)
    return PairedComparison(n, 100 * float(a_.mean()), 100 * float(b_.mean()), only_a, only_b, p_value,
                            float(low), float(high))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's (1979) step-down adjusted p-values: a family of hypotheses rejected where the adjusted p-value is
    below α keeps the chance of any false rejection at most α, whatever their dependence.

    The :math:`k`-th smallest of :math:`m` p-values becomes :math:`\\max_{j \\le k} \\min(1, (m - j + 1) p_{(j)})`.

    >>> holm([0.01, 0.04, 0.03, 0.005])
    [0.03, 0.06, 0.06, 0.02]
    """
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * float(p_values[i])))
        adjusted[i] = running
    return adjusted


#: What a claim says of A against B, in each comparison's ``difference`` = A − B: *higher* and *lower* are strict
#: (shown only by a measurable difference the right way), *at least* and *at most* are not (refuted only by a
#: measurable difference the wrong way).
EXPECTATIONS: dict[str, tuple[int, bool]] = {"higher": (1, True), "lower": (-1, True), "at least": (1, False),
                                             "at most": (-1, False)}

#: The significance level of every claim's family of comparisons.
ALPHA = 0.05

def judge(differences: Sequence[float], p_values: Sequence[float], expects: str = "higher", alpha: float = ALPHA,
          adjust: bool = True) -> tuple[list[float], list[str], str]:
    """One claim's comparisons judged as one family: Holm-adjusted p-values, each comparison's status, the verdict.

    A comparison is *for* the claim when its adjusted p-value is below ``alpha`` and its difference has the
    claimed sign, *against* it when the adjusted p-value is below ``alpha`` and the difference has the other sign,
    and *unclear* otherwise. Holm's adjustment over the family keeps the chance of calling any comparison for or
    against wrongly at most ``alpha``, in both directions (``adjust=False`` reads each comparison alone).

    A strict claim (``expects`` *higher*/*lower*) **holds** when every comparison is for it, **does not hold**
    when at least one is against it, and is **inconclusive** otherwise. A non-strict claim (*at least*/*at
    most*: A is not worse than B) cannot be shown by a test of equality, only refuted: it **does not hold** when
    a comparison is against it and **holds** otherwise. An empty family is inconclusive.

    >>> judge([5.0, 3.0, -4.0], [0.001, 0.04, 0.02])  # Holm: 0.003, 0.04, 0.04
    ([0.003, 0.04, 0.04], ['for', 'for', 'against'], 'does not hold')
    >>> judge([5.0, 3.0], [0.001, 0.04])[2], judge([5.0, 0.5], [0.001, 0.6])[2]
    ('holds', 'inconclusive')
    >>> judge([-0.5, 0.2], [0.6, 0.9], expects="at most")[1:]
    (['unclear', 'unclear'], 'holds')
    """
    if expects not in EXPECTATIONS:
        raise ValueError(f"expects={expects!r}: one of {list(EXPECTATIONS)} (what the claim says of A − B).")
    if len(differences) != len(p_values):
        raise ValueError(f"{len(differences)} differences but {len(p_values)} p-values.")
    sign, strict = EXPECTATIONS[expects]
    adjusted = holm(p_values) if adjust else [float(p) for p in p_values]
    statuses = ["unclear" if p >= alpha or d == 0 or math.isnan(d) else "for" if sign * d > 0 else "against"
                for d, p in zip(differences, adjusted, strict=True)]
    if not statuses:
        return adjusted, statuses, "inconclusive"
    if "against" in statuses:
        return adjusted, statuses, "does not hold"
    return adjusted, statuses, "holds" if not strict or all(s == "for" for s in statuses) else "inconclusive"


@dataclass(frozen=True)
class PairedDifference(_Paired):
    """Two measurements per image (e.g. spike counts of two models on the same test images), compared pairwise."""

    n: int
    mean_a: float
    mean_b: float
    ci_low: float  # t interval of the mean of the per-image differences
    ci_high: float
    p_value: float  # Wilcoxon signed-rank test of "the differences are symmetric about 0"

    @property
    def means(self) -> tuple[float, float]:
        """The means of A and B (their difference is the mean of the per-image differences)."""
        return self.mean_a, self.mean_b


def t_half_width(values: np.ndarray, confidence: float = 0.95) -> float:
    """Half the width of the t interval (Student 1908) of the mean of ``values``; ``nan`` for fewer than two.

    >>> round(t_half_width(np.array([1.0, 3.0, 3.0, -1.0, 4.0])), 3)
    2.483
    """
    from scipy.stats import t

    n = len(values)
    return float(t.ppf(0.5 + confidence / 2, n - 1) * values.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")


def paired_mean_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> PairedDifference:
    """Compare two numbers measured on the same images: the mean paired difference with a t interval
    (Student 1908) and the Wilcoxon (1945) signed-rank test, from scipy.

    Example:
        >>> c = paired_mean_difference([10.0, 12.0, 11.0, 13.0], [9.0, 10.0, 10.0, 11.0])
        >>> c.difference, round(c.ci_low, 2), round(c.ci_high, 2)
        (1.5, 0.58, 2.42)
    """
    from scipy.stats import wilcoxon

    a_, b_ = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a_.shape != b_.shape or a_.ndim != 1 or len(a_) < 2:
        raise ValueError(f"paired numbers need two vectors of one length ≥ 2, got {a_.shape} and {b_.shape}")
    d = a_ - b_
    half = t_half_width(d, confidence)
    p_value = float(wilcoxon(d).pvalue) if np.any(d != 0) else 1.0
    return PairedDifference(len(d), float(a_.mean()), float(b_.mean()), float(d.mean()) - half,
                            float(d.mean()) + half, p_value)


def paired(a: Sequence[bool] | Sequence[float], b: Sequence[bool] | Sequence[float],
           confidence: float = 0.95, nested: bool = False) -> PairedComparison | PairedDifference:
    """Compare two per-image series of the same images: per-image verdicts (booleans) as accuracies with the
    exact McNemar test (:func:`paired_comparison`, ``nested`` passed on), per-image numbers as a mean difference
    with a t interval and the Wilcoxon test (:func:`paired_mean_difference`).

    >>> type(paired([True, False, True], [False, False, True])).__name__
    'PairedComparison'
    >>> c = paired([3.0, 5.0, 4.0], [1.0, 2.0, 4.0])
    >>> type(c).__name__, round(c.difference, 4), sorted(c.row("A", "B", higher="A higher"))[:3]
    ('PairedDifference', 1.6667, ['A', 'A higher', 'B'])
    """
    if all(isinstance(v, (bool, np.bool_)) for v in (*a, *b)):
        return paired_comparison(a, b, confidence, nested)
    return paired_mean_difference(a, b, confidence)


def compare_with_baseline(ours: pd.DataFrame, group: str, baseline: str, confidence: float = 0.95) -> pd.DataFrame:
    """Each group's accuracy minus the ``baseline`` group's, compared image by image (:func:`paired_comparison`).

    ``ours`` holds one row per group: column ``group`` and ``robust``, the per-image verdicts (the same test
    images in the same order for every row). Returns ``group``, ``accuracy``, the baseline's accuracy (a
    column named ``baseline``), ``difference``, the paired interval ``ci_low``/``ci_high``, the exact McNemar
    ``p_value``, and ``better``: the whole interval lies above zero, i.e. the group is measurably more accurate.
    """
    base = ours.loc[ours[group] == baseline]
    if len(base) != 1:
        raise ValueError(f"expected exactly one row with {group} == {baseline!r}, found {len(base)}.")
    reference = base["robust"].iloc[0]
    rows = []
    for _, row in ours.loc[ours[group] != baseline].iterrows():
        compared = paired_comparison(row["robust"], reference, confidence)
        rows.append({group: row[group], **compared.row("accuracy", baseline, higher="better")})
    return pd.DataFrame(rows)
