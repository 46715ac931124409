"""Plots of a side-by-side table: ours with intervals, the paper's value beside it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from snnconv.book.tables import key_strings
from snnconv.evaluation.statistics import confidence_level

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _labels(df: pd.DataFrame, columns: str | Sequence[str]) -> list[str]:
    """One category label per row, joining several columns with " · "."""
    names = [columns] if isinstance(columns, str) else list(columns)
    missing = [c for c in names if c not in df.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in the table; available: {list(df.columns)}")
    parts = [key_strings(df[c]).tolist() for c in names]
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
    level = round(100 * confidence_level(float(df.attrs.get("ci_z", 1.96))))
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
