"""The standard suite chosen by measurement: the robustness audit's stored verdicts as covers, and the models that
did not choose it.

Beyond the paper (its Sec. 4.3 ensemble is one of the audit's attacks). The audit (:mod:`snnconv.book.audit`) runs
every attack on every one of its models at every budget; the standard-evaluation page reads those per-image
verdicts as covers (:class:`snnconv.evaluation.selection.Cover`) and keeps the cheapest subset of the attacks that
stays within a margin of their worst case on every audited model and budget (:func:`snnconv.evaluation.selection.
choose`, AutoAttack's idea of a fixed suite, Croce & Hein 2020). It is re-checked on *held-out* models: those the
claims page audits for its re-test under the strongest known attack (:func:`snnconv.book.claims.audited_subjects`:
Figs. 1, 2 and Table B5's models) and the audit's and the re-test's models trained with the claims page's other
seeds, where their audit is stored. This page computes nothing the book does not: another seed's audit is read only
when every verdict of it is stored (:func:`_stored`, a plan, :mod:`snnconv.storage.plan`), and named otherwise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from snnconv.book import audit, claims
from snnconv.book.run import Run
from snnconv.book.subjects import Subject
from snnconv.evaluation.selection import Cover
from snnconv.experiment.config import budget_name
from snnconv.experiment.profiles import Profile
from snnconv.method.surrogates import HybridRateTemporal
from snnconv.storage.plan import planning

#: Where a held-out model of another seed comes from when the robustness audit itself names it.
AUDIT_SOURCE = "the robustness audit's models"


def candidate_attacks(profile: Profile) -> tuple[str, ...]:
    """The attacks a suite is chosen from (Sec. 4.3's ensemble and the later ones): the audit's, by the names of
    :func:`snnconv.book.audit.suite_names` (the spiking audit's labels), in the audit's order
    (:func:`snnconv.book.audit.audit_attacks`)."""
    return tuple(label for label, *_ in audit.audit_attacks(profile, True))


def searched_attack(profile: Profile) -> str:
    """The audit's attack whose member is searched per model (HART's width, Hao et al. 2024)."""
    default = HybridRateTemporal().label
    return next(label for label, _, _, members in audit.audit_attacks(profile, True) if members == (default,))


def covers(rows: Sequence[dict], searches: Sequence[dict], profile: Profile) -> list[Cover]:
    """One cover per model and budget of ``rows`` (:func:`snnconv.book.audit.robustness_audit_rows`' shape: a clean
    row per model, then each attack's and the worst cases, which are left out), attacks named by
    :func:`snnconv.book.audit.suite_names`.

    HART's width search (``searches``, :func:`snnconv.book.audit.hart_search_rows` with a ``model``) runs once per
    model and is part of what the HART attack costs (Hao et al. 2024 tune it per model): its recorded seconds are
    shared equally among the model's budgets and added to that attack's."""
    names, hart = audit.suite_names(profile), searched_attack(profile)
    clean = {}
    for row in rows:
        if row["kind"] == "clean":
            clean.setdefault(row["model"], tuple(row["robust"]))
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        if row["kind"] in ("white-box", "black-box"):
            groups.setdefault((row["model"], row["budget"]), []).append(row)
    budgets: dict[str, int] = {}
    for model, _ in groups:
        budgets[model] = budgets.get(model, 0) + 1
    search = {}
    for row in searches:
        search[row["model"]] = search.get(row["model"], 0.0) + row["seconds"]
    out = []
    for (model, budget), own in groups.items():
        robust = {names[row["attack"]]: tuple(row["robust"]) for row in own}
        seconds = {names[row["attack"]]: float(row["seconds"]) for row in own}
        if hart in seconds:
            seconds[hart] += search.get(model, 0.0) / budgets[model]
        out.append(Cover(model, budget, clean[model], robust, seconds))
    return out


@dataclass(frozen=True)
class HeldOut:
    """The held-out models' audit rows (as :func:`covers` reads them, each row with its ``seed`` and ``source``),
    their HART width searches (Hao et al. 2024), and one row per held-out model and budget whose audit is not stored
    (``unchecked``)."""

    rows: list[dict]
    widths: list[dict]
    unchecked: list[dict]


def _without_network(subject: Subject) -> Subject:
    """``subject`` for reading stored verdicts only: a stored verdict needs no network, so none is loaded (and none is
    trained where the model itself is not stored); a verdict that is not stored cannot be computed through it."""
    return dataclasses.replace(subject, load=lambda: None)


def _stored(run: Run, subject: Subject, epsilon: float) -> tuple[int, int]:
    """How many of the verdicts behind ``subject``'s audit at ``epsilon`` are stored, of how many: planned
    (:mod:`snnconv.storage.plan`), so nothing is computed or loaded but the verdicts' records."""
    probe = planning(run.store)
    audit.audit_rows(Run(run.settings, probe, progress=False), _without_network(subject), epsilon)
    needs = [need for need in probe.plan.needs.values() if need.kind == "evaluation"]
    return sum(need.stored for need in needs), len(needs)


def _candidates(run: Run, seed: int) -> list[tuple[str, Subject, float]]:
    """The held-out models of ``seed`` with where they come from and the budget: the claims page's re-test models
    (:func:`snnconv.book.claims.audited_subjects`), and for another seed than the page's the audit's own models at
    every budget first."""
    settings = run.settings
    at = dataclasses.replace(run, settings=dataclasses.replace(settings, seed=seed))
    found = []
    if seed != settings.seed:
        found += [(AUDIT_SOURCE, subject, epsilon) for subject in audit.audit_subjects(at)
                  for epsilon in sorted(settings.profile.epsilons)]
    found += [(claim.source, subject, epsilon) for claim, subject, epsilon in claims.audited_subjects(at)]
    return found


def held_out(run: Run, seeds: Sequence[int]) -> HeldOut:
    """The models that did not choose the suite, at ``run.settings.seed`` and each other seed of ``seeds`` (the claims
    page's, Sec. 5): every held-out model and budget (not one of the audit's own,
    :func:`snnconv.book.audit.audit_subjects`) with its audit's rows (:func:`snnconv.book.audit.audit_rows`).

    At ``run.settings.seed`` they are the claims page's re-test models, read as that page reads them. At another seed,
    an audit is read only where every verdict of it is stored, and listed in ``unchecked`` otherwise, with how many of
    its verdicts are stored: this page computes no audit the book does not."""
    settings = run.settings
    chosen = {subject.id for subject in audit.audit_subjects(run)}
    rows: list[dict] = []
    widths: list[dict] = []
    unchecked: list[dict] = []
    searched: set[str] = set()
    seen: set[tuple[str, float]] = set()
    labels: dict[str, str] = {}  # one name per model, whichever budget or claim finds it first
    for seed in dict.fromkeys((settings.seed, *seeds)):
        at = dataclasses.replace(run, settings=dataclasses.replace(settings, seed=seed))
        # Another seed's models are found on a plan and read without their networks: nothing is trained or loaded.
        found = _candidates(run if seed == settings.seed else dataclasses.replace(run, store=planning(run.store)), seed)
        for source, subject, epsilon in found:
            if subject.id in chosen or (subject.id, epsilon) in seen:
                continue
            seen.add((subject.id, epsilon))
            label = labels.setdefault(subject.id, subject.label if seed == settings.seed
                                      else f"{subject.label} (seed {seed})")
            cells = {"seed": seed, "source": source, "model": label, "budget": budget_name(epsilon)}
            if seed != settings.seed:
                subject = _without_network(subject)
                stored, needed = _stored(at, subject, epsilon)
                if stored < needed:
                    unchecked.append({**cells, "verdicts stored": stored, "verdicts needed": needed})
                    continue
            rows += [{**row, **cells} for row in audit.audit_rows(at, subject, epsilon)]
            if subject.time_steps > 0 and subject.id not in searched:
                searched.add(subject.id)
                widths += [{**row, "model": label} for row in audit.hart_search_rows(at, subject)]
    return HeldOut(rows, widths, unchecked)


def thread_rows(run: Run) -> list[dict]:
    """The torch threads that computed the audit's verdicts, read from their records: the recorded seconds a suite's
    cost is summed from (Sec. 4.3's attacks) are comparable only on like hardware. One row per thread count ("not
    recorded" for records older than the count), with how many verdicts and seconds; the verdicts are found on a
    plan (:mod:`snnconv.storage.plan`), so nothing is computed."""
    store = run.store
    probe = Run(run.settings, planning(store), progress=False)
    audit.robustness_audit_rows(probe)
    audit.hart_width_rows(probe)
    counts: dict[str, list[float]] = {}
    for need in probe.store.plan.needs.values():
        if need.kind == "evaluation" and need.stored:
            record = store.record(need.kind, need.key)
            counts.setdefault(str(record.get("threads", "not recorded")), []).append(float(record.get("seconds", 0)))
    return [{"threads": threads, "verdicts": len(seconds), "seconds": sum(seconds)}
            for threads, seconds in sorted(counts.items())]
