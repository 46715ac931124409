"""What a result page needs from the artifact store, found without computing anything.

A *plan* runs a page's row functions (:mod:`snnconv.book.results`) against a store with a :class:`Plan` attached:
every model and every attack verdict the page asks for becomes a :class:`Need` — its store kind and key, what it
is, the artifacts it is computed from (``after``) and how to compute it alone — and a verdict not yet stored is
replaced by a placeholder (:func:`snnconv.book.subjects.planned_record`) so the plan goes on. Nothing is trained or
attacked and no data set is read, so the paper profile's plan is drawn on a laptop.

One limit: where a page chooses its next attack from a result (HART's width search), the plan lists the choice
made on placeholders; the page's own run computes whatever the real choice needs.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from snnconv.storage.store import ArtifactStore
    >>> store = planning(ArtifactStore(Path(tempfile.mkdtemp())))
    >>> _ = store.plan.need("ann", "k1", "ann AT-eps1", (), lambda: None, store)
    >>> [(n.id, n.stored) for n in store.plan.needs.values()]
    [('ann/k1', False)]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from snnconv.storage.store import ArtifactStore


@dataclass(frozen=True)
class Need:
    """One artifact a page needs: ``kind``/``key`` in the store, a label, the artifacts it is computed from, and
    its config (what :mod:`snnconv.storage.cost` estimates its cost from)."""

    kind: str
    key: str
    label: str
    after: tuple[str, ...]
    stored: bool
    compute: Callable[[], Any] = field(repr=False, compare=False)
    config: Any = field(default=None, repr=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.kind}/{self.key}"


@dataclass
class Plan:
    """The needs recorded so far, in the order the page asked for them; ``active`` while planning."""

    needs: dict[str, Need] = field(default_factory=dict)
    active: bool = True

    def need(self, kind: str, key: str, label: str, after: tuple[str, ...], compute: Callable[[], Any],
             store: ArtifactStore, config: Any = None) -> Need:
        known = self.needs.get(f"{kind}/{key}")
        if known is None:
            known = Need(kind, key, label, after, store.has(kind, key), compute, config)
            self.needs[known.id] = known
        return known

    def run(self, need_id: str) -> Any:
        """Compute one need (its own work only: what it is computed from must be stored or is computed too)."""
        if need_id not in self.needs:
            raise KeyError(f"{need_id} is not in this plan: `python -m snnconv needs PAGE` lists what is.")
        self.active = False
        try:
            return self.needs[need_id].compute()
        finally:
            self.active = True


def planning(store: ArtifactStore) -> ArtifactStore:
    """``store`` with a fresh :class:`Plan` attached: pages run against it record their needs."""
    return dataclasses.replace(store, plan=Plan(), ledger={}, stale={}, _claims={})
