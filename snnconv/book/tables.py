"""Side-by-side tables: our accuracies next to the paper's, with intervals, as numbers and as display strings.

Example:
    >>> from snnconv.book.published import published
    >>> paper = published("table1")
    >>> ours = paper.loc[paper.model == "snn", ["dataset", "ann_objective", "model", "metric",
    ...                                          "attack", "epsilon"]].head(2).assign(correct=9000, n=10000)
    >>> table = side_by_side(ours, paper, on=["dataset", "ann_objective", "model", "metric",
    ...                                       "attack", "epsilon"])
    >>> list(table.columns)[-6:]
    ['paper', 'ours', 'difference', 'ci_low', 'ci_high', 'n']
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from snnconv.book.published import budget_of
from snnconv.evaluation.statistics import as_count, confidence_level, wilson_interval

#: Columns that side_by_side computes; everything else in its output is a key column.
RESULT_COLUMNS = ("paper", "ours", "difference", "ci_low", "ci_high", "n")


def key_strings(column: pd.Series) -> pd.Series:
    """Key values as the paper prints them: missing → "", 8.0 → "8", everything else str()."""

    def one(value: Any) -> str:
        if value is None or (isinstance(value, float | np.floating) and math.isnan(value)):
            return ""
        if isinstance(value, float | np.floating) and float(value).is_integer():
            return str(int(value))
        return str(value)

    return pd.Series([one(v) for v in column], index=column.index, dtype=object)


def side_by_side(ours: pd.DataFrame, paper: pd.DataFrame, on: list[str], z: float = 1.96) -> pd.DataFrame:
    """Our accuracies next to the published ones, one row per row of ``ours``.

    Keys are matched as the paper prints them (strings; a missing ``attack``/``epsilon`` matches the
    paper's empty cell of clean rows; an integral float 8.0 matches "8").

    Args:
        ours: the key columns ``on`` plus integer columns ``correct`` and ``n``.
        paper: a frame from ``published`` (needs the key columns and ``published``), possibly filtered.
        on: key columns that identify one paper cell.
        z: quantile of the Wilson interval (1.96 → 95 %); stored in ``result.attrs["ci_z"]``.

    Returns:
        Columns ``on`` (as given in ``ours``), ``paper`` (float, NaN where the paper has no such cell),
        ``ours`` (100·correct/n), ``difference`` (ours − paper), ``ci_low``, ``ci_high`` (Wilson, %),
        ``n``. Row order follows ``ours``.

    Raises:
        ValueError: missing columns, invalid counts, or keys that match several paper cells.
    """
    on = list(on)
    if not on:
        raise ValueError("on=[] must name at least one key column")
    missing_ours = [c for c in [*on, "correct", "n"] if c not in ours.columns]
    if missing_ours:
        raise ValueError(f"ours lacks columns {missing_ours}; it needs the keys {on} plus 'correct' and 'n'")
    missing_paper = [c for c in [*on, "published"] if c not in paper.columns]
    if missing_paper:
        raise ValueError(f"paper lacks columns {missing_paper}; pass a frame from snnconv.book.published.published()")
    clash = [c for c in on if c in RESULT_COLUMNS]
    if clash:
        raise ValueError(f"on={on} uses result column names {clash}; rename those key columns")

    paper_keys = pd.DataFrame({c: key_strings(paper[c]) for c in on})
    duplicated = paper_keys.duplicated(keep=False)
    if duplicated.any():
        example = tuple(paper_keys.loc[duplicated].iloc[0])
        raise ValueError(
            f"on={on} does not identify one paper cell: {int(duplicated.sum())} paper rows share keys, "
            f"e.g. {example}; add key columns or filter the paper frame"
        )
    lookup = paper_keys.assign(paper=paper["published"].astype(float).to_numpy())

    counts = [
        (as_count("correct", c), as_count("n", n)) for c, n in zip(ours["correct"], ours["n"], strict=True)
    ]
    intervals = [wilson_interval(c, n, z) for c, n in counts]

    ours_keys = pd.DataFrame({c: key_strings(ours[c]) for c in on}).reset_index(drop=True)
    # how="left" keeps the left frame's row order, which is the order the notebook measured in.
    matched = ours_keys.merge(lookup, on=on, how="left", validate="many_to_one")

    result = ours[on].reset_index(drop=True).copy()
    result["paper"] = matched["paper"].astype(float).to_numpy()
    result["ours"] = np.array([100.0 * c / n for c, n in counts], dtype=float)
    result["difference"] = result["ours"] - result["paper"]
    result["ci_low"] = np.array([lo for lo, _ in intervals], dtype=float)
    result["ci_high"] = np.array([hi for _, hi in intervals], dtype=float)
    result["n"] = np.array([n for _, n in counts], dtype=np.int64)
    result.attrs["ci_z"] = z
    return result


def with_budget_names(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its ``budget`` column named from its ``epsilon`` labels (``"8/255"`` → ``"ε3"``, ``""`` → ``""``,
    a budget the paper does not name keeps its label), whatever ``budget`` held before: names follow values."""
    if "epsilon" not in frame.columns:
        raise ValueError("the frame needs an 'epsilon' column of budget labels (\"8/255\", \"\" when clean)")
    return frame.assign(budget=[budget_of(e) for e in key_strings(frame["epsilon"])])


def side_by_side_by_budget(ours: pd.DataFrame, paper: pd.DataFrame, on: list[str], z: float = 1.96) -> pd.DataFrame:
    """:func:`side_by_side` keyed by budget names derived from values on both sides (:func:`with_budget_names`), so
    each of our rows meets the paper's cell of its own ε, and a budget the paper does not use meets none; ``on``
    names ``budget`` among its keys.

    Example:
        >>> from snnconv.book.published import published
        >>> ours = pd.DataFrame({"ann_objective": ["Natural"] * 2, "model": ["snn"] * 2, "attack": ["PGD20"] * 2,
        ...                      "epsilon": ["1/255", "8/255"], "correct": [50, 1], "n": [100, 100]})
        >>> paper = published("table1").query("dataset == 'CIFAR-10'")
        >>> side_by_side_by_budget(ours, paper, ["ann_objective", "model", "attack", "budget"])[["budget", "paper"]]
          budget  paper
        0  1/255    NaN
        1     ε3   0.74
    """
    if "budget" not in on:
        raise ValueError(f"on={on} must name 'budget': this join matches budgets by the name of their value")
    return side_by_side(with_budget_names(ours), with_budget_names(paper), on, z)


def format_table(df: pd.DataFrame, digits: int = 2, ci: str = "inline") -> pd.DataFrame:
    """A ``side_by_side`` result as display strings, keyed by its key columns.

    Numbers get ``digits`` decimals, differences a sign ("+1.23", "-0.40"), missing paper cells "—".
    The result is a plain DataFrame of strings, so it renders identically in Jupyter, in the book and
    as text (and contains no random HTML ids that would break notebook output comparison).

    Args:
        df: output of ``side_by_side`` (extra key columns are fine).
        digits: decimals of accuracies and differences; CI bounds get one fewer (at least 1).
        ci: ``"inline"`` → one column ``ours [95% CI]`` reading "71.20 [69.1, 73.2]";
            ``"columns"`` → separate ``ours``, ``CI low``, ``CI high`` columns.

    Example:
        >>> frame = pd.DataFrame({"attack": ["PGD20"], "correct": [712], "n": [1000]})
        >>> paper = pd.DataFrame({"attack": ["PGD20"], "published": [70.0]})
        >>> format_table(side_by_side(frame, paper, on=["attack"])).iloc[0].tolist()
        ['70.00', '71.20 [68.3, 73.9]', '+1.20', '1000']
    """
    if ci not in ("inline", "columns"):
        raise ValueError(f"ci={ci!r} is not allowed; use 'inline' or 'columns'")
    if not (isinstance(digits, int) and 0 <= digits <= 6):
        raise ValueError(f"digits={digits!r} must be an integer in [0, 6]")
    missing = [c for c in RESULT_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"df lacks columns {missing}; pass the output of side_by_side")

    keys = [c for c in df.columns if c not in RESULT_COLUMNS]
    ci_digits = max(1, digits - 1)
    level = round(100 * confidence_level(float(df.attrs.get("ci_z", 1.96))))

    def number(value: float) -> str:
        return "—" if pd.isna(value) else f"{value:.{digits}f}"

    def signed(value: float) -> str:
        return "—" if pd.isna(value) else f"{value:+.{digits}f}"

    out = pd.DataFrame(index=df.index)
    for key in keys:
        out[key] = key_strings(df[key]).to_numpy()
    out["paper"] = [number(v) for v in df["paper"]]
    if ci == "inline":
        out[f"ours [{level}% CI]"] = [
            f"{o:.{digits}f} [{lo:.{ci_digits}f}, {hi:.{ci_digits}f}]"
            for o, lo, hi in zip(df["ours"], df["ci_low"], df["ci_high"], strict=True)
        ]
    else:
        out["ours"] = [number(v) for v in df["ours"]]
        out[f"{level}% CI low"] = [f"{v:.{ci_digits}f}" for v in df["ci_low"]]
        out[f"{level}% CI high"] = [f"{v:.{ci_digits}f}" for v in df["ci_high"]]
    out["ours − paper"] = [signed(v) for v in df["difference"]]
    out["n"] = [str(int(v)) for v in df["n"]]
    # Keys as the index: Jupyter then groups repeated leading keys instead of printing a 0..n counter.
    return out.set_index(keys) if keys else out.reset_index(drop=True)
