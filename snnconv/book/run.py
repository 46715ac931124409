"""The run context: what every function of the book that asks for models and verdicts needs, in one value.

A page's compute (:mod:`snnconv.book.pages`) asks the row functions of :mod:`snnconv.book.results`,
:mod:`snnconv.book.audit`, :mod:`snnconv.book.masking`, :mod:`snnconv.book.claims`, :mod:`snnconv.book.retests` and
:mod:`snnconv.book.standard` for its tables, and they ask :mod:`snnconv.book.subjects` for models and verdicts. All
of them need the same things — the validated settings, the artifact store (or a plan) and whether to show progress
bars — and hand them on unchanged, so each takes one :class:`Run` as its first parameter and names only what is
its own (a page, an objective, a model, a budget). Work that differs from the page's in one respect (another seed,
a longer schedule, a plan instead of the store) is a copy with that one field changed
(:func:`dataclasses.replace`).

This module sits below every other module of the book, so that each can take a :class:`Run` without importing the
pages above it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from snnconv.experiment.parameters import Settings
from snnconv.storage.store import ArtifactStore


@dataclass(frozen=True)
class Run:
    """One run of the book's work: validated settings, the store (or a plan, :mod:`snnconv.storage.plan`), whether
    to show progress bars, and the page's own parameters (``extra``: e.g. Fig. 1's ``betas``, the claims page's
    ``seeds``; read only by the page's compute).

    ``store=None`` is the default store (``SNNCONV_STORE``, :class:`snnconv.storage.store.ArtifactStore`), opened
    when the work starts (:func:`snnconv.book.subjects.prepare`), so that a row function can be called with the
    settings alone. A notebook gets its run from :attr:`snnconv.book.page.Page.context`; the command line and the
    workflow from :func:`snnconv.book.pages.work`."""

    settings: Settings
    store: ArtifactStore | None = None
    progress: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)
