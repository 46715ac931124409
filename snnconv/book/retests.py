"""Re-tests of the claims: the claims that compare training methods under longer training schedules, and the claims
that compare models under the robustness audit's strongest known attack instead of the paper's; each re-test is
judged by the claims page's rule (:func:`snnconv.book.claims.decide`), one family per schedule or attack."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from snnconv.book.claims import CLAIMS, Claim, _tested, decide, verdict
from snnconv.book.run import Run
from snnconv.experiment.parameters import Settings
from snnconv.storage.plan import planning

#: The claims that compare training methods, whose effects can move with the training budget.
BUDGET_CLAIMS = ("vs_snn_rat_robust", "vs_snn_rat_clean", "square_vs_snn_rat", "square_vs_ann")


def with_schedule(settings: Settings, ann_epochs: int | None = None, snn_epochs: int | None = None) -> Settings:
    """``settings`` with longer (or shorter) schedules: ``ann_epochs`` for the baseline ANNs and the end-to-end
    SNNs (they share the baselines' schedule), ``snn_epochs`` for the robust finetuning (Eqs. 9–10)."""
    profile = settings.profile
    if ann_epochs is not None:
        profile = dataclasses.replace(profile, ann_schedule=dataclasses.replace(profile.ann_schedule,
                                                                                epochs=ann_epochs))
    if snn_epochs is not None:
        profile = dataclasses.replace(profile, snn_schedule=dataclasses.replace(profile.snn_schedule,
                                                                                epochs=snn_epochs))
    return dataclasses.replace(settings, profile=profile)


def schedule_rows(run: Run, schedules: Sequence[tuple[int, int]], claims: Sequence[Claim] | None = None) -> list[dict]:
    """The :data:`BUDGET_CLAIMS` (by default) for each ``(ann_epochs, snn_epochs)`` schedule, seed
    ``run.settings.seed``; each row names its schedule."""
    chosen = claims if claims is not None else [c for c in CLAIMS if c.key in BUDGET_CLAIMS]
    rows = []
    for ann_epochs, snn_epochs in schedules:
        longer = dataclasses.replace(run, settings=with_schedule(run.settings, ann_epochs, snn_epochs))
        rows += [{"ANN epochs": ann_epochs, "SNN epochs": snn_epochs, **row} for row in _tested(longer, chosen)]
    return decide(rows, lambda row: (row["claim"], row["ANN epochs"], row["SNN epochs"]))


def schedule_costs(run: Run, schedules: Sequence[tuple[int, int]], claims: Sequence[Claim] | None = None) -> list[dict]:
    """What each schedule of :func:`schedule_rows` cost: the compute time that the stored records of its models
    (training) and attack verdicts report, in minutes, with the torch threads they were computed with; artifacts
    a schedule shares with another (the profile's ANN under a longer finetuning) count under both. Only the
    records of ``run.store`` are read: the schedules are planned on it, never computed."""
    store = run.store
    chosen = claims if claims is not None else [c for c in CLAIMS if c.key in BUDGET_CLAIMS]
    out = []
    for ann_epochs, snn_epochs in schedules:
        planned = planning(store)
        _tested(Run(with_schedule(run.settings, ann_epochs, snn_epochs), planned, progress=False), chosen)
        minutes, threads, missing = {"training": 0.0, "attacks": 0.0}, set(), 0
        for need in planned.plan.needs.values():
            if not need.stored:
                missing += 1
                continue
            record = store.record(need.kind, need.key)
            minutes["attacks" if need.kind == "evaluation" else "training"] += record.get("seconds", 0.0) / 60
            threads.add(str(record.get("threads", "not recorded")))
        out.append({"ANN epochs": ann_epochs, "SNN epochs": snn_epochs, "training minutes": minutes["training"],
                    "attack minutes": minutes["attacks"], "threads": ", ".join(sorted(threads)),
                    "not stored": missing})
    return out


def verdicts_by(rows: list[dict], condition: Callable[[dict], str], claims: Sequence[Claim] = CLAIMS) -> list[dict]:
    """One row per claim in ``rows`` (from one seed): its verdict under each condition that ``condition`` names for
    a row (a schedule, an attack), by this module's rule; a column per condition, in the order of the rows."""
    conditions = list(dict.fromkeys(map(condition, rows)))
    out = []
    for claim in claims:
        own = [row for row in rows if row["claim"] == claim.key]
        if own:
            out.append({"claim": claim.statement, **{
                name: verdict({row["comparison"]: [row["status"]] for row in own if condition(row) == name})
                for name in conditions}})
    return out


def schedule_verdicts(rows: list[dict], claims: Sequence[Claim] = CLAIMS) -> list[dict]:
    """:func:`verdicts_by` the schedules of :func:`schedule_rows` output."""
    return verdicts_by(rows, lambda row: f"ANN {row['ANN epochs']} / SNN {row['SNN epochs']} epochs", claims)


def attack_verdicts(rows: list[dict], claims: Sequence[Claim] = CLAIMS) -> list[dict]:
    """:func:`verdicts_by` the attacks of :func:`attack_rows` output."""
    return verdicts_by(rows, lambda row: row["attack"], claims)


#: The two attacks of :func:`attack_rows`, as its rows name them.
PAPER_ATTACKS, STRONGEST_KNOWN = "the paper's attacks", "the strongest known attack"



def _change_sentence(table: list[dict], change: str, preposition: str, every: str) -> str:
    parts, moved = [], 0
    for row in table:
        columns = [c for c in row if c != "claim"]
        base = row[columns[0]]
        changed = [c for c in columns[1:] if row[c] != base]
        moved += bool(changed)
        parts.append(f"“{row['claim']}”: *{base}* {preposition} "
                     + (", ".join([columns[0], *(f"*{row[c]}* {preposition} {c}" for c in changed)]) if changed
                        else every))
    head = f"{moved} of {len(table)} verdicts change" if moved else "No verdict changes"
    return f"{head} {change}. " + ". ".join(parts) + "."


def budget_sentence(table: list[dict]) -> str:
    """Which verdicts of :func:`schedule_verdicts` move away from the first schedule's (the profile's), and
    every claim's verdicts, in one paragraph.

    >>> budget_sentence([{"claim": "A beats B", "ANN 5 / SNN 1 epochs": "does not hold",
    ...                   "ANN 5 / SNN 3 epochs": "does not hold", "ANN 10 / SNN 1 epochs": "inconclusive"},
    ...                  {"claim": "C beats D", "ANN 5 / SNN 1 epochs": "holds", "ANN 5 / SNN 3 epochs": "holds",
    ...                   "ANN 10 / SNN 1 epochs": "holds"}])
    '1 of 2 verdicts change with the longer schedules. “A beats B”: *does not hold* with ANN 5 / SNN 1 epochs, \
*inconclusive* with ANN 10 / SNN 1 epochs. “C beats D”: *holds* with every schedule.'
    """
    return _change_sentence(table, "with the longer schedules", "with", "every schedule")


def attack_sentence(table: list[dict]) -> str:
    """Which verdicts of :func:`attack_verdicts` the strongest known attack changes, and every claim's verdicts.

    >>> attack_sentence([{"claim": "A beats B", PAPER_ATTACKS: "holds", STRONGEST_KNOWN: "does not hold"}])
    "1 of 1 verdicts change under the strongest known attack. “A beats B”: *holds* under the paper's attacks, \
*does not hold* under the strongest known attack."
    """
    return _change_sentence(table, "under the strongest known attack", "under", "both attacks")


def attack_rows(run: Run, claims: Sequence[Claim] | None = None) -> list[dict]:
    """The claims that have a ``strongest`` test (by default), seed ``run.settings.seed``, under the paper's attacks
    and under the strongest known attack of :mod:`snnconv.book.audit` (the same models); each row names its attack.

    Both attacks are compared on the same images: the audit's, the first ``n_test_extended`` test images (the
    paper's attacks ran on ``n_test``; an image's verdict does not depend on the others, so the first
    ``n_test_extended`` of them are the paper's attacks on the audit's images)."""
    chosen = claims if claims is not None else [c for c in CLAIMS if c.strongest is not None]
    stronger = [dataclasses.replace(c, comparisons=c.strongest, checks=None) for c in chosen]
    images = run.settings.profile.n_test_extended
    rows = [{"attack": name, **row} for name, group in ((PAPER_ATTACKS, chosen), (STRONGEST_KNOWN, stronger))
            for row in _tested(run, group, images)]
    return decide(rows, lambda row: (row["claim"], row["attack"]))
