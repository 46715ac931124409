"""The result pages as data: each notebook's parameters (read from its ``parameters`` cell) and the work it
computes, so that the command line (:mod:`snnconv.cli`) and the cluster workflow (``workflow/Snakefile``) compute
exactly what the notebook would, without rendering it.

Each page has one compute function (:data:`PAGES`, called through :func:`compute`) of the run context
(:class:`snnconv.book.run.Run`): it hands the context to the row functions of :mod:`snnconv.book.results`,
:mod:`snnconv.book.audit`, :mod:`snnconv.book.masking`, :mod:`snnconv.book.claims`, :mod:`snnconv.book.retests` and
:mod:`snnconv.book.standard` for every table the page shows and returns them by name. The notebook calls it in one
line and only renders (``tests/test_workflow.py`` checks that no notebook asks for a model or verdict any other
way); the command line and the workflow call the same function, so they compute exactly what the notebook shows.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from snnconv.book import audit, claims, masking, results, retests, standard, subjects
from snnconv.book.run import Run
from snnconv.experiment.parameters import (
    ParameterError,
    Settings,
    claim_seeds,
    parse_betas,
    parse_seeds,
    parse_transfer_resisted,
    resolve,
    sensitivity_schedules,
)
from snnconv.foundations.paths import PACKAGE
from snnconv.storage.store import ArtifactStore

NOTEBOOKS = PACKAGE.parent / "notebooks"


#: A page's results: its tables by name, each a list of rows (dicts) as the row functions return them.
Tables = dict[str, list[dict]]

Compute = Callable[[Run], Tables]


def _table1(run: Run) -> Tables:
    return {"rows": results.table1_rows(run),
            "strongest": audit.strongest_known_rows(run, "table1"),
            "diagnostics": masking.converted_snn_diagnostics(run)}


def _table2(run: Run) -> Tables:
    return {"rows": results.table2_rows(run),
            "strongest": audit.strongest_known_rows(run, "table2"),
            "diagnostics": masking.table2_diagnostics(run)}


def _table_a1(run: Run) -> Tables:
    return {"rows": results.ann_robustness_rows(run),
            "diagnostics": masking.ann_diagnostics(run)}


def _table_b1(run: Run) -> Tables:
    return {"rows": results.transfer_rows(run, resisted=run.extra["transfer_resisted"]),
            "diagnostics": masking.converted_snn_diagnostics(run)}


def _table_b2(run: Run) -> Tables:
    return {"rows": results.surrogate_member_rows(run),
            "diagnostics": masking.converted_snn_diagnostics(run)}


def _table_b3(run: Run) -> Tables:
    return {"rows": results.vanilla_versus_ensemble_rows(run),
            "diagnostics": masking.converted_snn_diagnostics(run)}


def _fig1(run: Run) -> Tables:
    return {"rows": results.beta_sweep_rows(run, parse_betas(run.extra["betas"], run.settings.profile))}


def _fig2(run: Run) -> Tables:
    return {"rows": results.lif_latency_rows(run)}


def _fig3(run: Run) -> Tables:
    return {"rows": results.spike_count_rows(run)}


def _table_b5(run: Run) -> Tables:
    return {"rows": results.ablation_rows(run)}


def _table_b6(run: Run) -> Tables:
    return {"rows": results.corruption_rows(run)}


def _fig4(run: Run) -> Tables:
    return {"rows": results.square_rows(run),
            "strongest": audit.strongest_known_rows(run, "fig4"),
            "diagnostics": masking.square_diagnostics(run)}


def _audit(run: Run) -> Tables:
    return {"rows": audit.robustness_audit_rows(run),
            "square_only": audit.square_only_rows(run),
            "hart_widths": audit.hart_width_rows(run),
            "layer_statistics": audit.layer_statistics_rows(run),
            "member_gradients": audit.member_gradient_rows(run)}


def _claim_seeds(run: Run) -> tuple[int, ...]:
    return claim_seeds(run.extra.get("seeds"), run.settings.profile)


def _claims(run: Run) -> Tables:
    s = run.settings
    chosen = _claim_seeds(run)
    schedules = sensitivity_schedules(s.profile, run.extra["longer_ann_epochs"], run.extra["longer_snn_epochs"])
    # The re-tests use the first seed; the schedule re-test trains the AT-ε1 ANN's models only.
    first = dataclasses.replace(run, settings=dataclasses.replace(s, seed=chosen[0]))
    budget = dataclasses.replace(run, settings=dataclasses.replace(s, seed=chosen[0], objectives=("at",)))
    return {"claims": claims.claim_rows(run, chosen),
            "schedules": retests.schedule_rows(budget, schedules),
            "schedule_costs": retests.schedule_costs(budget, schedules),
            "attacks": retests.attack_rows(first)}


def _standard(run: Run) -> Tables:
    # The models that did not choose the suite: the claims page's re-test models and seeds (read, never computed).
    held = standard.held_out(run, _claim_seeds(run))
    return {"audit": audit.robustness_audit_rows(run),
            "hart_widths": audit.hart_width_rows(run),
            "held_out": held.rows, "held_out_widths": held.widths, "unchecked": held.unchecked,
            "threads": standard.thread_rows(run)}


#: Every result notebook (its file name without ``.ipynb``) and its compute: the one place where a page's models
#: and verdicts are asked for. The notebook calls it in one line (``run.compute()``), the command line and the
#: workflow through :func:`work`.
PAGES: dict[str, Compute] = {
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
    "standard_evaluation": _standard,
    "claims": _claims,
}


def compute(page: str, run: Run) -> Tables:
    """Every table ``page`` shows: its models and verdicts, loaded from the store, computed, or (on a planning store)
    planned."""
    if page not in PAGES:
        raise ParameterError(f"Page {page!r} is not a result page: one of {', '.join(PAGES)}.")
    return PAGES[page](run)


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
    """Run (or, on a planning store, plan) everything ``page`` computes for the ``given`` parameters: the page's
    :func:`compute`, as its notebook calls it."""
    settings, extra = settings_of(page, parameters(page, given))
    compute(page, subjects.prepare(Run(settings, store, progress, extra)))
    return settings

