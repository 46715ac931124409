"""Published values, side-by-side comparisons, plots and provenance for the book.

Every notebook ends the same way: our measured accuracies next to the value printed in the paper, with
a confidence interval that says how much of the gap is sampling noise, and a provenance footer that says
which commit, parameters and hardware produced the numbers.

The paper's numbers live as CSV package data under ``snnconv/reference_values/`` (long format, one
printed cell per row; see the README there). Robust accuracy is a binomial proportion over the test set,
so its uncertainty is the Wilson score interval (Wilson 1927):

.. math::

    \\frac{\\hat p + \\frac{z^2}{2n} \\pm z \\sqrt{\\frac{\\hat p (1 - \\hat p)}{n} + \\frac{z^2}{4 n^2}}}
         {1 + \\frac{z^2}{n}}

Example:
    >>> from snnconv import report
    >>> paper = report.published("table1")
    >>> ours = paper.loc[paper.model == "snn", ["dataset", "ann_objective", "model", "metric",
    ...                                          "attack", "epsilon"]].head(2).assign(correct=9000, n=10000)
    >>> table = report.side_by_side(ours, paper, on=["dataset", "ann_objective", "model", "metric",
    ...                                              "attack", "epsilon"])
    >>> list(table.columns)[-6:]
    ['paper', 'ours', 'difference', 'ci_low', 'ci_high', 'n']

Nothing here imports torch at module level: ``collect_provenance`` imports it on demand, so rendering a
table stays cheap.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import importlib.metadata
import importlib.resources
import itertools
import math
import operator
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "EPSILON_BUDGETS",
    "PROVENANCE_PACKAGES",
    "Provenance",
    "budget_of",
    "source_commit",
    "masking_checks",
    "compare_with_baseline",
    "difference_interval",
    "collect_provenance",
    "format_duration",
    "format_table",
    "plot_side_by_side",
    "published",
    "published_tables",
    "side_by_side",
    "wilson_interval",
]

#: The paper's names for its three l∞ budgets (Sec. 4.3).
EPSILON_BUDGETS: Mapping[str, str] = MappingProxyType({"2/255": "ε1", "4/255": "ε2", "8/255": "ε3"})

#: Distributions whose versions go into every provenance footer.
PROVENANCE_PACKAGES: tuple[str, ...] = ("torch", "torchvision", "snntorch", "torchattacks", "numpy", "pandas")

_REFERENCE_DIR = "reference_values"
# Columns that side_by_side computes; everything else in its output is a key column.
_RESULT_COLUMNS = ("paper", "ours", "difference", "ci_low", "ci_high", "n")


# --------------------------------------------------------------------------------------------------
# Published values


def _reference_root() -> Traversable:
    """The folder of published CSVs, read as package data so it also works from an installed wheel."""
    try:
        return importlib.resources.files("snnconv").joinpath(_REFERENCE_DIR)
    except (NotADirectoryError, TypeError):
        # Python 3.11's resource reader rejects a namespace package whose __path__ carries an editable
        # install's path hook; the module's own folder is the same package data in that case.
        return Path(__file__).resolve().parent / _REFERENCE_DIR


def published_tables() -> list[str]:
    """Names of the tables shipped as package data (``published`` accepts exactly these)."""
    root = _reference_root()
    return sorted(entry.name.removesuffix(".csv") for entry in root.iterdir() if entry.name.endswith(".csv"))


def published(table: str) -> pd.DataFrame:
    """The paper's printed values of one table, in long format.

    Every column is kept as the printed string (empty string for clean rows' ``attack``/``epsilon``), so
    keys compare exactly and ``value`` keeps trailing zeros ("95.10"). A float column ``published``
    parsed from ``value`` is added for arithmetic.

    Args:
        table: file stem under ``snnconv/reference_values/``, e.g. ``"table1"`` or ``"tableB3_B4"``.

    Raises:
        ValueError: if ``table`` is not one of ``published_tables()``.

    Example:
        >>> published("table1").query("model == 'snn' and attack == 'PGD20'").shape[1]
        9
    """
    allowed = published_tables()
    if table not in allowed:
        raise ValueError(f"table={table!r} is not a published table; allowed: {', '.join(allowed)}")
    resource = _reference_root().joinpath(f"{table}.csv")
    with resource.open("r", encoding="utf-8") as handle:
        # keep_default_na=False: an empty epsilon means "clean", and strings like "none" are data.
        frame = pd.read_csv(handle, dtype=str, keep_default_na=False)
    frame["published"] = pd.to_numeric(frame["value"], errors="raise").astype(float)
    return frame


def budget_of(epsilon: str) -> str:
    """The paper's name of an l∞ budget: ``"8/255"`` → ``"ε3"``; ``""`` (clean rows) → ``""``.

    A budget the paper does not name (a researcher's new ε) is returned unchanged, so a label column
    built with this function never fails on new parameters.
    """
    if epsilon is None or (isinstance(epsilon, float) and math.isnan(epsilon)):
        return ""
    text = str(epsilon).strip()
    return EPSILON_BUDGETS.get(text, text)


# --------------------------------------------------------------------------------------------------
# Statistics


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
    correct_i = _as_int("correct", correct)
    n_i = _as_int("n", n)
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


def _as_int(name: str, value: Any) -> int:
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


def _confidence_level(z: float) -> float:
    """Two-sided coverage of ±z standard deviations (1.96 → 0.95)."""
    return math.erf(z / math.sqrt(2))


# --------------------------------------------------------------------------------------------------
# Side-by-side tables


def _key_strings(column: pd.Series) -> pd.Series:
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
        raise ValueError(f"paper lacks columns {missing_paper}; pass a frame from report.published()")
    clash = [c for c in on if c in _RESULT_COLUMNS]
    if clash:
        raise ValueError(f"on={on} uses result column names {clash}; rename those key columns")

    paper_keys = pd.DataFrame({c: _key_strings(paper[c]) for c in on})
    duplicated = paper_keys.duplicated(keep=False)
    if duplicated.any():
        example = tuple(paper_keys.loc[duplicated].iloc[0])
        raise ValueError(
            f"on={on} does not identify one paper cell: {int(duplicated.sum())} paper rows share keys, "
            f"e.g. {example}; add key columns or filter the paper frame"
        )
    lookup = paper_keys.assign(paper=paper["published"].astype(float).to_numpy())

    counts = [
        (_as_int("correct", c), _as_int("n", n)) for c, n in zip(ours["correct"], ours["n"], strict=True)
    ]
    intervals = [wilson_interval(c, n, z) for c, n in counts]

    ours_keys = pd.DataFrame({c: _key_strings(ours[c]) for c in on}).reset_index(drop=True)
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


def masking_checks(ours: pd.DataFrame, group: str = "ann_objective") -> pd.DataFrame:
    """Gradient-masking checks that a table of robust accuracies allows by itself (Carlini et al. 2019).

    ``ours`` has columns ``group``, ``model``, ``metric``, ``attack``, ``budget``, ``correct``, ``n``.
    For every SNN: the iterative attack must not be weaker than the single-step one at any budget
    (``PGD ≤ FGSM``), and each attack's accuracy must not rise with the budget. A check that fails is a
    warning sign of masked gradients (or of too few test images), shown rather than hidden.
    """
    rows = []
    robust = ours.loc[(ours["model"] == "snn") & (ours["metric"] == "robust")].copy()
    robust["accuracy"] = 100 * robust["correct"] / robust["n"]
    for name, table in robust.groupby(group, sort=False):
        wide = table.pivot_table(index="budget", columns="attack", values="accuracy").sort_index()
        iterative = [a for a in wide.columns if a.startswith("PGD")]
        if "FGSM" in wide.columns and iterative:
            gap = wide[iterative[0]] - wide["FGSM"]
            worse = [f"{b} (+{gap[b]:.2f} points)" for b in wide.index[gap > 0]]
            rows.append({group: name, "check": f"{iterative[0]} ≤ FGSM at every budget", "passed": not worse,
                         "detail": "violated at " + ", ".join(worse) if worse else ""})
        for attack in wide.columns:
            rising = [f"{b} (+{wide.loc[b, attack] - wide.loc[a, attack]:.2f} points)"
                      for a, b in itertools.pairwise(wide.index) if wide.loc[b, attack] > wide.loc[a, attack]]
            rows.append({group: name, "check": f"{attack} accuracy falls as ε grows", "passed": not rising,
                         "detail": "rises at " + ", ".join(rising) if rising else ""})
    return pd.DataFrame(rows)


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
    missing = [c for c in _RESULT_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"df lacks columns {missing}; pass the output of side_by_side")

    keys = [c for c in df.columns if c not in _RESULT_COLUMNS]
    ci_digits = max(1, digits - 1)
    level = round(100 * _confidence_level(float(df.attrs.get("ci_z", 1.96))))

    def number(value: float) -> str:
        return "—" if pd.isna(value) else f"{value:.{digits}f}"

    def signed(value: float) -> str:
        return "—" if pd.isna(value) else f"{value:+.{digits}f}"

    out = pd.DataFrame(index=df.index)
    for key in keys:
        out[key] = _key_strings(df[key]).to_numpy()
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


# --------------------------------------------------------------------------------------------------
# Plots


def _labels(df: pd.DataFrame, columns: str | Sequence[str]) -> list[str]:
    """One category label per row, joining several columns with " · "."""
    names = [columns] if isinstance(columns, str) else list(columns)
    missing = [c for c in names if c not in df.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in the table; available: {list(df.columns)}")
    parts = [_key_strings(df[c]).tolist() for c in names]
    # Clean rows have empty attack and epsilon: show "clean" once rather than "clean · clean".
    return [" · ".join(v for v in row if v) or "clean" for row in zip(*parts, strict=True)]


def plot_side_by_side(
    df: pd.DataFrame,
    x: str | Sequence[str],
    hue: str | Sequence[str] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Paper vs ours per row: filled dots with Wilson error bars for ours, open diamonds for the paper.

    One x position per distinct value of ``x`` (several columns are joined, e.g.
    ``x=["attack", "epsilon"]``); rows with different ``hue`` values sit side by side within a position
    and share a colour. Missing paper cells simply have no diamond.

    Args:
        df: output of ``side_by_side``.
        x: column(s) giving the category on the horizontal axis; empty key cells are left out of the
            label, and a row whose cells are all empty (a clean row) reads "clean".
        hue: column(s) that split rows into coloured groups, or None for one group.
        ax: axes to draw into; a new figure (not registered with pyplot, so a notebook shows it once)
            is created when None.

    Returns:
        The figure that holds the axes.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    missing = [c for c in ("paper", "ours", "ci_low", "ci_high") if c not in df.columns]
    if missing:
        raise ValueError(f"df lacks columns {missing}; pass the output of side_by_side")
    x_labels = _labels(df, x)
    hue_labels = _labels(df, hue) if hue is not None else [""] * len(df)
    categories = list(dict.fromkeys(x_labels))
    groups = list(dict.fromkeys(hue_labels))

    if ax is None:
        width = min(14.0, max(4.5, 0.6 * len(categories) * max(1, len(groups)) ** 0.5 + 2.0))
        figure = Figure(figsize=(width, 3.8), layout="constrained")
        ax = figure.add_subplot()
    else:
        figure = ax.figure

    colours = [f"C{i % 10}" for i in range(len(groups))]
    span = 0.7
    step = span / len(groups)
    position = {c: i for i, c in enumerate(categories)}
    for g, (group, colour) in enumerate(zip(groups, colours, strict=True)):
        rows = [i for i, label in enumerate(hue_labels) if label == group]
        if not rows:
            continue
        offset = -span / 2 + step * (g + 0.5) if len(groups) > 1 else 0.0
        xs = np.array([position[x_labels[i]] + offset for i in rows], dtype=float)
        sub = df.iloc[rows]
        ours = sub["ours"].to_numpy(dtype=float)
        error = np.vstack(
            [ours - sub["ci_low"].to_numpy(dtype=float), sub["ci_high"].to_numpy(dtype=float) - ours]
        )
        # The Wilson interval contains the estimate, but rounding can leave -1e-15 which errorbar rejects.
        error = np.clip(error, 0.0, None)
        bars = ax.errorbar(xs, ours, yerr=error, fmt="o", color=colour, markersize=5, capsize=2.5, zorder=3)
        bars.lines[0].set_gid("ours")  # gids name the series in SVG output and for tests
        paper = sub["paper"].to_numpy(dtype=float)
        shown = ~np.isnan(paper)
        ax.plot(
            xs[shown],
            paper[shown],
            linestyle="none",
            marker="D",
            markersize=6,
            markerfacecolor="none",
            markeredgecolor=colour,
            markeredgewidth=1.3,
            zorder=4,
            gid="paper",
        )

    ax.set_xticks(range(len(categories)))
    rotate = len(categories) > 4 or any(len(c) > 10 for c in categories)
    ax.set_xticklabels(categories, rotation=30 if rotate else 0, ha="right" if rotate else "center")
    ax.set_xlim(-0.6, len(categories) - 0.4)
    ax.set_xlabel(x if isinstance(x, str) else " · ".join(x))
    ax.set_ylabel("accuracy (%)")
    low, high = ax.get_ylim()
    ax.set_ylim(max(low, -2.0), min(high, 102.0))
    ax.grid(axis="y", alpha=0.3)

    # Proxy artists, two legends: marker shape encodes the source, colour the hue group. Proxies are
    # not added to ax.lines, so the axes hold only data.
    level = round(100 * _confidence_level(float(df.attrs.get("ci_z", 1.96))))
    sources = [
        Line2D([], [], linestyle="none", marker="o", color="0.3", label=f"ours ({level}% CI)"),
        Line2D(
            [], [], linestyle="none", marker="D", markerfacecolor="none", markeredgecolor="0.3", label="paper"
        ),
    ]
    legend_style = {"fontsize": "small", "title_fontsize": "small", "frameon": False}
    source_legend = ax.legend(handles=sources, loc="upper left", bbox_to_anchor=(1.0, 1.0), **legend_style)
    if hue is not None:
        ax.add_artist(source_legend)  # a second ax.legend() call would otherwise replace it
        groups_handles = [
            Line2D([], [], linestyle="none", marker="s", color=colour, label=group)
            for group, colour in zip(groups, colours, strict=True)
        ]
        ax.legend(
            handles=groups_handles,
            title=hue if isinstance(hue, str) else " · ".join(hue),
            loc="lower left",
            bbox_to_anchor=(1.0, 0.0),
            **legend_style,
        )
    return figure


# --------------------------------------------------------------------------------------------------
# Provenance


def format_duration(seconds: float) -> str:
    """Wall time for humans: ``723`` → "12 min 3 s", ``3725`` → "1 h 2 min 5 s", ``4.2`` → "4.2 s"."""
    if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"seconds={seconds!r} must be a finite number >= 0")
    if seconds < 60:
        return f"{seconds:.1f} s"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min {secs} s"
    return f"{minutes} min {secs} s"


def _format_bytes(size: int | None) -> str:
    return "unknown" if size is None else f"{size / 2**30:.1f} GiB"


def _markdown_cell(value: Any) -> str:
    # A "|" inside a cell would end it; newlines would end the row.
    return str(value).replace("|", "\\|").replace("\n", " ")


@dataclasses.dataclass(frozen=True)
class Provenance:
    """Everything needed to say where a notebook's numbers came from.

    Built by ``collect_provenance``; mappings are read-only views so the record cannot drift after it
    was taken. ``to_dict`` gives a JSON-serialisable copy for result files.
    """

    commit: str
    date: str
    python: str
    platform: str
    packages: Mapping[str, str]
    cpu: str
    logical_cores: int | None
    torch_threads: int | None
    ram_bytes: int | None
    gpu: str
    parameters: Mapping[str, Any]
    profile: str
    wall_time_s: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "packages", MappingProxyType(dict(self.packages)))
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-serialisable copy (mappings become dicts)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["packages"] = dict(self.packages)
        data["parameters"] = dict(self.parameters)
        return data

    def to_markdown(self) -> str:
        """A compact "### Provenance" section: a parameters table and the environment facts."""
        lines = [
            "### Provenance",
            "",
            "| parameter | value |",
            "|---|---|",
            f"| profile | `{self.profile}` |",
        ]
        lines += [f"| {_markdown_cell(k)} | `{_markdown_cell(v)}` |" for k, v in self.parameters.items()
                  if k != "profile"]  # already the first row
        packages = ", ".join(f"{name} {version}" for name, version in self.packages.items())
        cores = "unknown" if self.logical_cores is None else str(self.logical_cores)
        threads = "" if self.torch_threads is None else f", torch threads {self.torch_threads}"
        lines += [
            "",
            "| environment | |",
            "|---|---|",
            f"| commit | `{self.commit}` |",
            f"| date (UTC) | {self.date} |",
            f"| wall time | {format_duration(self.wall_time_s)} |",
            f"| python | {_markdown_cell(self.python)} on {_markdown_cell(self.platform)} |",
            f"| packages | {_markdown_cell(packages)} |",
            f"| CPU | {_markdown_cell(self.cpu)} ({cores} logical cores{threads}) |",
            f"| RAM | {_format_bytes(self.ram_bytes)} |",
            f"| GPU | {_markdown_cell(self.gpu)} |",
        ]
        return "\n".join(lines) + "\n"

    def _repr_markdown_(self) -> str:
        # Lets a notebook cell ending in a Provenance render as the footer.
        return self.to_markdown()


def _git(directory: Path, *args: str) -> str | None:
    """stdout of a git command run in ``directory``, or None when git or the repository is unavailable."""
    try:
        completed = subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout if completed.returncode == 0 else None


def _git_commit(directory: Path) -> str:
    """HEAD of the checkout holding ``directory``, "+dirty" when tracked files changed, else "unknown"."""
    head = _git(directory, "rev-parse", "HEAD")
    if head is None or len(head.strip()) != 40:
        return "unknown"
    # An installed copy under an ignored folder (.venv/ inside a checkout) is not that checkout's code.
    if _git(directory, "check-ignore", "-q", str(directory)) is not None:
        return "unknown"
    status = _git(directory, "status", "--porcelain", "--untracked-files=no")
    return head.strip() + ("+dirty" if status else "")


def source_commit() -> str:
    """The commit of the ``snnconv`` code that is running (``+dirty`` with local changes, or "unknown")."""
    return _git_commit(Path(__file__).resolve().parent)


def _package_versions() -> dict[str, str]:
    versions = {}
    for name in PROVENANCE_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name") and ":" in line:
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _total_ram_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024  # reported in kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _torch_facts() -> tuple[int | None, str]:
    """(torch threads, GPU description); torch is imported only here because it is heavy."""
    try:
        import torch
    except ImportError:
        return None, "none"
    threads = torch.get_num_threads()
    if not torch.cuda.is_available():
        return threads, "none"
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    distinct = list(dict.fromkeys(names))
    gpu = ", ".join(f"{names.count(n)} × {n}" if names.count(n) > 1 else n for n in distinct)
    return threads, gpu


def collect_provenance(parameters: dict[str, Any], profile: str, wall_time_s: float) -> Provenance:
    """Record commit, date, software versions and hardware next to a run's parameters.

    Args:
        parameters: the notebook's effective parameters (after the profile's defaults were applied).
        profile: ``"smoke"``, ``"default"``, ``"paper"`` or a custom name.
        wall_time_s: how long the computation took, in seconds.

    Returns:
        A frozen ``Provenance``; ``commit`` is the 40-hex HEAD of the checkout that contains this
        package (with "+dirty" when tracked files differ from it) or "unknown" outside a git checkout.
    """
    if not isinstance(parameters, Mapping):
        raise ValueError(f"parameters={parameters!r} must be a dict of parameter name → value")
    if not (isinstance(wall_time_s, int | float) and math.isfinite(wall_time_s) and wall_time_s >= 0):
        raise ValueError(f"wall_time_s={wall_time_s!r} must be a finite number of seconds >= 0")
    threads, gpu = _torch_facts()
    return Provenance(
        commit=_git_commit(Path(__file__).resolve().parent),
        date=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        python=f"{platform.python_implementation()} {platform.python_version()}",
        platform=platform.platform(terse=True),
        packages=_package_versions(),
        cpu=_cpu_model(),
        logical_cores=os.cpu_count(),
        torch_threads=threads,
        ram_bytes=_total_ram_bytes(),
        gpu=gpu,
        parameters=dict(parameters),
        profile=str(profile),
        wall_time_s=float(wall_time_s),
    )
