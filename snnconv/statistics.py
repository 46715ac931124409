"""Statistics of accuracies measured on a finite test set: intervals and comparisons.

Robust accuracy is a binomial proportion over the test images, so its uncertainty is the Wilson score
interval (Wilson 1927):

.. math::

    \\frac{\\hat p + \\frac{z^2}{2n} \\pm z \\sqrt{\\frac{\\hat p (1 - \\hat p)}{n} + \\frac{z^2}{4 n^2}}}
         {1 + \\frac{z^2}{n}}

and the difference of two accuracies carries Newcombe's hybrid score interval (Newcombe 1998, method 10).
"""

from __future__ import annotations

import math
import operator
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


def compare_with_baseline(
    ours: pd.DataFrame, group: str, baseline: str, z: float = 1.96
) -> pd.DataFrame:
    """Each group's accuracy minus the ``baseline`` group's, with Newcombe's interval for the difference.

    ``ours`` holds one row per group (columns ``group``, ``correct``, ``n``). ``better`` is true when
    the whole interval lies above zero: the group is measurably more accurate than the baseline.
    """
    base = ours.loc[ours[group] == baseline]
    if len(base) != 1:
        raise ValueError(f"expected exactly one row with {group} == {baseline!r}, found {len(base)}.")
    base_correct, base_n = int(base["correct"].iloc[0]), int(base["n"].iloc[0])
    rows = []
    for _, row in ours.loc[ours[group] != baseline].iterrows():
        low, high = difference_interval(int(row["correct"]), int(row["n"]), base_correct, base_n, z)
        accuracy = 100 * int(row["correct"]) / int(row["n"])
        rows.append({group: row[group], "accuracy": accuracy, baseline: 100 * base_correct / base_n,
                     "difference": accuracy - 100 * base_correct / base_n, "ci_low": low, "ci_high": high,
                     "better": low > 0})
    return pd.DataFrame(rows)
