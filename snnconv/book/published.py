"""The paper's printed values, as data.

Every number of the paper's tables lives as CSV package data under ``snnconv/book/reference_values/`` (long
format, one printed cell per row; see the README there). Pages compare with them through
:func:`published`; nothing in the library types a published number.

Example:
    >>> paper = published("table1")
    >>> paper.loc[(paper.ann_objective == "AT-eps1") & (paper.attack == "PGD20") & (paper.epsilon == "8/255")
    ...           & (paper.dataset == "CIFAR-10") & (paper.model == "snn"), "value"].tolist()
    ['13.18']
"""

from __future__ import annotations

import importlib.resources
import math
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

#: The paper's names for its three l∞ budgets (Sec. 4.3), by their printed value:
#: :data:`snnconv.experiment.config.PAPER_BUDGETS` as labels (written out here, so that reading the paper's values does
#: not import torch; a test holds them equal).
EPSILON_BUDGETS: Mapping[str, str] = MappingProxyType({"2/255": "ε1", "4/255": "ε2", "8/255": "ε3"})

_REFERENCE_DIR = "reference_values"


def _reference_root() -> Traversable:
    """The folder of published CSVs, read as package data so it also works from an installed wheel."""
    try:
        return importlib.resources.files("snnconv.book").joinpath(_REFERENCE_DIR)
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
        table: file stem under ``snnconv/book/reference_values/``, e.g. ``"table1"`` or ``"tableB3_B4"``.

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
