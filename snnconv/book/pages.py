"""The result pages as data: each notebook's parameters (read from its ``parameters`` cell) and the work it
computes, so that the command line (:mod:`snnconv.cli`) and the cluster workflow (``workflow/Snakefile``) compute
exactly what the notebook would, without rendering it.

A page's *work* calls the same :mod:`snnconv.book.results`, :mod:`snnconv.book.audit` and :mod:`snnconv.book.claims`
functions with the same arguments as its notebook (``tests/test_workflow.py`` checks that every compute call of a
notebook appears in its work); rendering stays in the notebook.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from snnconv.book import audit, claims, masking, results, retests, subjects
from snnconv.experiment.parameters import (
    ParameterError,
    Settings,
    parse_betas,
    parse_seeds,
    parse_transfer_resisted,
    resolve,
    sensitivity_schedules,
)
from snnconv.foundations.paths import PACKAGE
from snnconv.storage.store import ArtifactStore

NOTEBOOKS = PACKAGE.parent / "notebooks"

Work = Callable[[Settings, ArtifactStore, bool, Mapping[str, Any]], None]


def _table1(s: Settings, store: ArtifactStore, progress: bool, extra: Mapping[str, Any]) -> None:
    results.table1_rows(s, store, progress)
    audit.strongest_known_rows(s, "table1", store, progress)
    masking.converted_snn_diagnostics(s, store, progress)


def _table2(s: Settings, store: ArtifactStore, progress: bool, extra: Mapping[str, Any]) -> None:
    results.table2_rows(s, store, progress)
    audit.strongest_known_rows(s, "table2", store, progress)
    masking.table2_diagnostics(s, store, progress)


def _table_a1(s: Settings, store: ArtifactStore, progress: bool, extra: Mapping[str, Any]) -> None:
    results.ann_robustness_rows(s, store, progress)
    masking.ann_diagnostics(s, store, progress)


def _table_b1(s: Settings, store: ArtifactStore, progress: bool, extra: Mapping[str, Any]) -> None:
    results.transfer_rows(s, store, progress, resisted=extra["transfer_resisted"])
    masking.converted_snn_diagnostics(s, store, progress)


def _table_b2(s: Settings, store: ArtifactStore, progress: bool, extra: Mapping[str, Any]) -> None:
    results.surrogate_member_rows(s, store, progress)
    masking.converted_snn_diagnostics(s, store, progress)


def _table_b3(s: Settings, store: ArtifactStore, progress: bool, extra: Mapping[str, Any]) -> None:
    results.vanilla_versus_ensemble_rows(s, store, progress)
    masking.converted_snn_diagnostics(s, store, progress)


def _fig1(s: Settings, store: ArtifactStore, progress: bool, extra: Mapping[str, Any]) -> None:
    results.beta_sweep_rows(s, parse_betas(extra["betas"], s.profile), store, progress)


def _fig2(s: Settings, store: ArtifactStore, progress: bool, extra: Mapping[str, Any]) -> None:
    results.lif_latency_rows(s, store, progress)


def _fig3(s: Settings, store: ArtifactStore, progress: bool, extra: Mapping[str, Any]) -> None:
    results.spike_count_rows(s, store, progress)


def _table_b6(s: Settings, store: ArtifactStore, progress: bool, extra: Mapping[str, Any]) -> None:
    results.corruption_rows(s, store, progress)


def _table_b5(s: Settings, store: ArtifactStore, progress: bool, extra: Mapping[str, Any]) -> None:
    results.ablation_rows(s, store, progress)


def _fig4(s: Settings, store: ArtifactStore, progress: bool, extra: Mapping[str, Any]) -> None:
    results.square_rows(s, store, progress)
    audit.strongest_known_rows(s, "fig4", store, progress)
    masking.square_diagnostics(s, store, progress)


def _audit(s: Settings, store: ArtifactStore, progress: bool, extra: Mapping[str, Any]) -> None:
    audit.robustness_audit_rows(s, store, progress)
    audit.hart_width_rows(s, store, progress)
    audit.layer_statistics_rows(s, store, progress)
    audit.member_gradient_rows(s, store, progress)
    audit.square_only_rows(s, store, progress)


def _claims(s: Settings, store: ArtifactStore, progress: bool, extra: Mapping[str, Any]) -> None:
    chosen = parse_seeds(extra["seeds"] if extra["seeds"] is not None else s.profile.claim_seeds)
    claims.claim_rows(s, chosen, store=store, progress=progress)
    schedules = sensitivity_schedules(s.profile, extra["longer_ann_epochs"], extra["longer_snn_epochs"])
    budget = dataclasses.replace(s, seed=chosen[0], objectives=("at",))
    retests.schedule_rows(budget, schedules, store=store, progress=progress)
    retests.schedule_costs(budget, schedules, store)  # reads records only; called so the work mirrors the notebook
    retests.attack_rows(dataclasses.replace(s, seed=chosen[0]), store=store, progress=progress)


#: Every result notebook (its file name without ``.ipynb``) and its work.
PAGES: dict[str, Work] = {
    "table1_conversion": _table1,
    "table2_vs_snnrat": _table2,
    "tableA1_ann_robustness": _table_a1,
    "tableB1_transfer": _table_b1,
    "tableB2_surrogate_members": _table_b2,
    "tableB3_vanilla_vs_ensemble": _table_b3,
    "fig1_beta_sweep": _fig1,
    "fig2_lif_latency": _fig2,
    "fig3_spike_counts": _fig3,
    "fig4_square_queries": _fig4,
    "tableB5_ablations": _table_b5,
    "tableB6_corruptions": _table_b6,
    "robustness_audit": _audit,
    "claims": _claims,
}

#: The names :func:`snnconv.experiment.parameters.resolve` takes; a notebook's other parameters are its own (``extra``).
SETTINGS_PARAMETERS = tuple(inspect.signature(resolve).parameters)


def defaults(page: str) -> dict[str, Any]:
    """The parameters declared in the notebook's ``parameters`` cell, with their default values."""
    if page not in PAGES:
        raise ParameterError(f"Page {page!r} is not a result page: one of {', '.join(PAGES)}.")
    notebook = json.loads((NOTEBOOKS / f"{page}.ipynb").read_text())
    cell = next(c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    values: dict[str, Any] = {}
    for node in ast.parse("".join(cell["source"])).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            try:
                values[name] = ast.literal_eval(node.value)
            except ValueError:  # profile = os.environ.get("SNNCONV_PROFILE", "default"), as the notebook reads it
                values[name] = os.environ.get("SNNCONV_PROFILE", "default")
    return values


def parameters(page: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """The notebook's defaults with ``given`` applied; an undeclared name fails as it does in the notebook."""
    declared = defaults(page)
    unknown = [name for name in given if name not in declared]
    if unknown:
        raise ParameterError(f"Parameter {', '.join(unknown)} is not a parameter of {page} (a typo?): the accepted "
                             f"ones are {', '.join(declared)}.")
    return {**declared, **given}


def settings_of(page: str, values: Mapping[str, Any]) -> tuple[Settings, dict[str, Any]]:
    """Validated settings and the page's own parameters (``extra``), from :func:`parameters`' values."""
    settings = resolve(**{k: v for k, v in values.items() if k in SETTINGS_PARAMETERS})
    extra = {k: v for k, v in values.items() if k not in SETTINGS_PARAMETERS}
    if "transfer_resisted" in extra:
        parse_transfer_resisted(extra["transfer_resisted"])
    if "seeds" in extra and extra["seeds"] is not None:
        parse_seeds(extra["seeds"])
    if "betas" in extra:
        parse_betas(extra["betas"], settings.profile)
    return settings, extra


def work(page: str, given: Mapping[str, Any], store: ArtifactStore, progress: bool = True) -> Settings:
    """Run (or, on a planning store, plan) everything ``page`` computes for the ``given`` parameters."""
    settings, extra = settings_of(page, parameters(page, given))
    PAGES[page](settings, subjects.prepare(settings, store), progress, extra)
    return settings

