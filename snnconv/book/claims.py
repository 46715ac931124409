"""The paper's qualitative claims as data, each tested on several seeds with paired statistics.

A claim is a list of *comparisons*: two per-image vectors on the same test images, A and B, where the paper says
A is larger than B: per-image verdicts (A is more accurate than B; e.g. the SNN converted from an AT ANN against
the one converted from a natural ANN, both under ε3 ensemble PGD²⁰) or per-image numbers such as spike counts.
:func:`claim_rows` runs every comparison for every seed — models and verdicts come from the same store functions
as the result pages, :mod:`snnconv.book.results`, with only the seed changed — and :func:`verdicts` applies one
rule, stated before any number is seen:

* each comparison in each seed has a two-sided p-value of "A and B are equal" (McNemar's exact test for
  verdicts, :func:`snnconv.evaluation.statistics.paired_comparison`; the Wilcoxon signed-rank test for numbers,
  :func:`snnconv.evaluation.statistics.paired_mean_difference`);
* the p-values of one claim — all its comparisons in all seeds (in a re-test: all its comparisons under one
  schedule or one attack) — are one family, adjusted by Holm's step-down method
  (:func:`snnconv.evaluation.statistics.holm`), so that the chance of calling any of them for or against wrongly stays
  at most 5 % per claim, for "for" and "against" alike;
* a comparison is **for** the claim when its adjusted p-value is below 0.05 and A > B, **against** it when it is
  below 0.05 and A < B, and **unclear** otherwise;
* a claim **holds** when every comparison is *for* it in every seed; it **does not hold** when at least one
  comparison is *against* it in every seed; otherwise it is **inconclusive**.

Each row also carries the 95 % paired interval of the effect (Tango's score interval; the exact interval of a
nested comparison) for reading its size; the interval is not adjusted for multiplicity, so an interval that
excludes zero can belong to an *unclear* comparison. All seeds are evaluated on the same test images: the seeds
replicate the training (initialization, data order, attack starts), not the sampling of test images, which
each seed's interval covers.

The masking claim (each model passes every gradient-masking diagnostic, Carlini et al. 2019) has checks instead
of comparisons: a passed check counts as *for*, a failed one as *against*.

Across seeds, :func:`pooled` gives each comparison's mean difference with a t interval over the seeds (the
spread between independently trained models, which one seed cannot show). :func:`schedule_rows` re-runs the
claims that compare training methods (Table 2, Fig. 4) with longer schedules, to show how each effect moves
with the training budget, and :func:`attack_rows` re-runs the claims that compare models under the paper's attacks
(Tables 1, 2, B5, Figs. 1, 2) under the robustness audit's strongest known attack (:mod:`snnconv.book.audit`), to show
whether the paper's attack decided them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from snnconv.attacks import paper_attack_name
from snnconv.book import audit, masking, results, subjects
from snnconv.book.run import Run
from snnconv.datasets.data import CORRUPTIONS
from snnconv.evaluation.statistics import ALPHA, judge, paired, t_half_width
from snnconv.experiment.parameters import Settings
from snnconv.experiment.profiles import ABLATIONS, Ablation

#: One comparison inside one seed: a name, then A's and B's per-image verdicts (the paper says A > B).
Comparison = tuple[str, Sequence[bool], Sequence[bool]]


@dataclass(frozen=True)
class Claim:
    """A qualitative claim of the paper: its words, where it is made, and how one seed tests it (each test takes the
    run context at that seed, :class:`snnconv.book.run.Run`)."""

    key: str
    statement: str  # the claim in the paper's words
    source: str  # where the paper makes it
    comparisons: Callable[[Run], list[Comparison]] | None = None
    checks: Callable[[Run], list[dict]] | None = None  # diagnose() rows with model
    # the comparisons again under the robustness audit's strongest known attack, where the audit attacks the models
    strongest: Callable[[Run], list[Comparison]] | None = None
    # B is right only where A is, by construction (an attack against a stronger one that includes it): the
    # comparison can only come out for or unclear, and its interval is the exact one of a nested comparison
    nested: bool = False


def _rows(rows: list[dict], **match: Any) -> list[dict]:
    return [row for row in rows if all(row.get(k) == v for k, v in match.items())]


def _one(rows: list[dict], **match: Any) -> dict:
    found = _rows(rows, **match)
    if len(found) != 1:
        raise LookupError(f"expected one row with {match}, found {len(found)}")
    return found[0]


#: The models a claim compares under the strongest known attack, ``(name, A, B)``, and the budget (None: ε3).
AuditedPairs = tuple[list[tuple[str, subjects.Subject, subjects.Subject]], float | None]


@dataclass(frozen=True)
class UnderAudit:
    """A claim's comparisons under the robustness audit's strongest known attack (a :attr:`Claim.strongest`):
    ``pairs`` names the models the claim compares and the budget; calling it gives the comparisons, per image
    robust only if every attack of the audit (:func:`snnconv.book.audit.audit_rows`) failed (Carlini et al. 2019).
    The models are data, so that other pages can read the same audits (:func:`audited_subjects`)."""

    pairs: Callable[[Run], AuditedPairs]

    def __call__(self, run: Run) -> list[Comparison]:
        pairs, epsilon = self.pairs(run)
        epsilon, robust = run.settings.profile.budget("ε3") if epsilon is None else epsilon, {}
        for subject in (s for _, a, b in pairs for s in (a, b)):
            if subject.id not in robust:
                robust[subject.id] = audit.strongest_known_row(run, subject, epsilon)["robust"]
        return [(f"{name}, strongest known", robust[a.id], robust[b.id]) for name, a, b in pairs]


def _table1(run: Run) -> list[Comparison]:
    # Only the cells the claim compares, not all of Table 1: the ANNs' AutoAttack and the SNNs' other attacks
    # would add about two hours on one thread per three seeds at the default profile.
    profile = run.settings.profile
    robust = {}
    for objective in run.settings.objectives:
        pair = subjects.converted_pair(run, objective)
        robust[pair.label] = subjects.evaluation_row(run, pair, "snn", "PGD", profile.budget("ε3"),
                                                     steps=profile.pgd_steps)["robust"]
    natural = robust.pop("Natural")
    return [(f"{label} vs Natural", verdicts, natural) for label, verdicts in robust.items()]


def _table1_strongest(run: Run) -> AuditedPairs:
    snns = {s.label: s for s in audit.converted_snn_subjects(run)}
    natural = snns.pop("Natural")
    return [(f"{label} vs Natural", s, natural) for label, s in snns.items()], None


def _fig1_betas(settings: Settings) -> tuple[float, ...]:
    # Two β of Fig. 1's grid per seed (our default and the largest), not all of it: the claim is tested at each.
    return tuple(dict.fromkeys((settings.profile.finetune_trade_off, max(settings.profile.beta_grid))))


def _fig1(run: Run) -> list[Comparison]:
    betas = _fig1_betas(run.settings)
    rows = _rows(results.beta_sweep_rows(run, betas), metric="robust")
    return [(f"AT-eps3 vs AT-eps1, β={beta:g}", _one(rows, ann_objective="AT-eps3", beta=beta)["robust"],
             _one(rows, ann_objective="AT-eps1", beta=beta)["robust"]) for beta in betas]


def _fig1_strongest(run: Run) -> AuditedPairs:
    betas = _fig1_betas(run.settings)
    found = {(label, beta): s for label, beta, s in subjects.beta_sweep_subjects(run, betas)}
    return [(f"AT-eps3 vs AT-eps1, β={beta:g}", found["AT-eps3", beta], found["AT-eps1", beta]) for beta in betas], None


def _robust_only(run: Run) -> Run:
    """Table 2 and Tables B3/B4 study the SNNs converted from robust ANNs only (their pages' ``objectives``)."""
    settings = run.settings
    return dataclasses.replace(run, settings=dataclasses.replace(
        settings, objectives=tuple(o for o in settings.objectives if o != "natural")))


def _table2(metric: str) -> Callable[[Run], list[Comparison]]:
    def comparisons(run: Run) -> list[Comparison]:
        rows = _rows(results.table2_rows(_robust_only(run)), metric=metric)
        rat = {row["attack"]: row for row in rows if row["model"] == "SNN-RAT"}
        return [(f"{row['model']} vs SNN-RAT" + (f", {row['attack']}" if row["attack"] else ""), row["robust"],
                 rat[row["attack"]]["robust"]) for row in rows if row["model"] != "SNN-RAT"]
    return comparisons


def _table2_strongest(run: Run) -> AuditedPairs:
    rat, *ours = subjects.table2_subjects(_robust_only(run))
    return [(f"{s.label} vs {rat.label}", s, rat) for s in ours], None


def _fig4_rat(run: Run) -> list[Comparison]:
    rows = results.square_rows(run)
    most = max(run.settings.profile.square_queries)
    return [(f"Ours vs SNN-RAT, {most} queries", _one(rows, model="Ours (AT-eps1)", queries=most)["robust"],
             _one(rows, model="SNN-RAT", queries=most)["robust"])]


def _fig4_ann(run: Run) -> list[Comparison]:
    rows = results.square_rows(run)
    queries = run.settings.profile.square_queries
    budgets = [q for q in queries if q >= 1000] or [max(queries)]
    return [(f"Ours vs ANN, {q} queries", _one(rows, model="Ours (AT-eps1)", queries=q)["robust"],
             _one(rows, model="ANN (AT-eps1)", queries=q)["robust"]) for q in budgets]


def _table_b1(run: Run) -> list[Comparison]:
    rows = results.transfer_rows(run)
    out = []
    for model in dict.fromkeys(row["model"] for row in rows):
        for budget in dict.fromkeys(row["budget"] for row in _rows(rows, model=model) if row["budget"]):
            by = {row["setting"]: row["robust"] for row in _rows(rows, model=model, budget=budget)}
            out += [(f"{model} {budget}: BB_SNN vs WB", by["BB_SNN"], by["WB"]),
                    (f"{model} {budget}: BB_ANN vs BB_SNN", by["BB_ANN"], by["BB_SNN"])]
    return out


def _table_b3(run: Run) -> list[Comparison]:
    rows = _rows(results.vanilla_versus_ensemble_rows(_robust_only(run)), model="snn")
    out = []
    for objective in dict.fromkeys(row["ann_objective"] for row in rows):
        by = {row["attack"].rsplit("_", 1)[-1]: row["robust"] for row in _rows(rows, ann_objective=objective)}
        out.append((f"{objective}: vanilla vs ensemble", by["vanilla"], by["ensemble"]))
    return out


def _efficiency(run: Run) -> list[Comparison]:
    rows = {row["model"]: row["counts"] for row in results.spike_count_rows(run)}
    if not rows:  # a plan (snnconv.storage.plan): spikes are counted on the spot, nothing to compare yet
        return []
    ours = rows.pop("Ours (AT-eps1)")
    return [(f"{model} spikes − ours", counts, ours) for model, counts in rows.items()]


def _fig2_if(run: Run) -> list[Comparison]:
    rows = _rows(results.lif_latency_rows(run, neurons=("IF",)),
                 attack=paper_attack_name("PGD", run.settings.profile.pgd_steps))
    ours = next(row for row in rows if row["method"].startswith("Ours"))
    return [(f"ours vs {row['method']} (IF)", ours["robust"], row["robust"]) for row in rows
            if row["method"] in ("RFGSM", "SNN-RAT")]


def _fig2_if_strongest(run: Run) -> AuditedPairs:
    found = {cells["method"]: s for cells, s in subjects.lif_latency_subjects(run, ("IF",))}
    ours = next(s for method, s in found.items() if method.startswith("Ours"))
    return ([(f"ours vs {method} (IF)", ours, found[method]) for method in ("RFGSM", "SNN-RAT")],
            results.fig2b_epsilon(run.settings.profile))


def _finetuning_ablations() -> tuple[Ablation, ...]:
    """Only the rows the Table B5 claim compares (Sec. 5.1): natural finetuning and fixed thresholds, both from the
    AT ANN, then ours."""
    ours = ABLATIONS[-1]
    return (*(a for a in ABLATIONS[:-1] if a.init == ours.init and (a.outer == "natural"
                                                                    or not a.trainable_threshold)), ours)


def _finetuning_design(run: Run) -> list[Comparison]:
    rows = _rows(results.ablation_rows(run, _finetuning_ablations()),
                 attack=paper_attack_name("PGD", run.settings.profile.pgd_steps))
    return [(f"ours vs {row['model']}", rows[-1]["robust"], row["robust"]) for row in rows[:-1]]


def _finetuning_design_strongest(run: Run) -> AuditedPairs:
    *rivals, ours = (s for _, s in subjects.ablation_subjects(run, _finetuning_ablations()))
    return [(f"ours vs {s.label}", ours, s) for s in rivals], None


def _corruptions(run: Run) -> list[Comparison]:
    rows = results.corruption_rows(run)
    ours = results.corruption_image_accuracy(rows, "Ours (AT-eps1)", CORRUPTIONS)
    return [(f"ours − {model}: accuracy over all corruptions", ours,
             results.corruption_image_accuracy(rows, model, CORRUPTIONS)) for model in ("SNN-RAT", "Vanilla SNN")]


def _masking(run: Run) -> list[dict]:
    seen: set[tuple[str, str]] = set()
    rows = []
    for page in (masking.converted_snn_diagnostics, masking.table2_diagnostics, masking.square_diagnostics):
        for row in page(_robust_only(run) if page is masking.table2_diagnostics else run):
            if (row["model"], row["check"]) not in seen:  # the AT SNN appears on several pages
                seen.add((row["model"], row["check"]))
                rows.append(row)
    return rows


#: Every qualitative claim of the paper that the book tests, in the paper's order.
CLAIMS: tuple[Claim, ...] = (
    Claim("robust_init", "SNNs converted from adversarially trained ANNs are far more robust than the SNN converted "
          "from a naturally trained ANN (ε3 ensemble PGD²⁰)", "Sec. 5.1, Table 1", comparisons=_table1,
          strongest=UnderAudit(_table1_strongest)),
    Claim("ann_budget_transfers", "the baseline ANN's robustness transfers: the SNN converted from the AT-ε3 ANN is "
          "more robust (ε3 ensemble PGD²⁰) than the one from the AT-ε1 ANN, though both are finetuned at ε1",
          "Sec. 5.1, Fig. 1", comparisons=_fig1, strongest=UnderAudit(_fig1_strongest)),
    Claim("vs_snn_rat_robust", "our converted SNNs are more robust than SNN-RAT under every ensemble attack",
          "Sec. 5.2, Table 2", comparisons=_table2("robust"),
          strongest=UnderAudit(_table2_strongest)),
    Claim("vs_snn_rat_clean", "our converted SNNs have a higher clean accuracy than SNN-RAT", "Sec. 5.2, Table 2",
          comparisons=_table2("clean")),
    Claim("square_vs_snn_rat", "under the Square attack ours is more robust than SNN-RAT at the largest query budget",
          "Sec. 5.4, Fig. 4", comparisons=_fig4_rat),
    Claim("square_vs_ann", "under the Square attack the baseline ANN falls below ours from about 1000 queries on",
          "Sec. 5.4, Fig. 4", comparisons=_fig4_ann),
    Claim("transfer", "white-box attacks are stronger than transfer attacks from another SNN, which are stronger "
          "than transfer attacks from the ANN (WB < BB_SNN < BB_ANN)", "Suppl. B.1, Table B1",
          comparisons=_table_b1),
    Claim("ensemble", "the ensemble attack is stronger than the vanilla attack through the training surrogate",
          "Suppl. B.3, Tables B3/B4", comparisons=_table_b3, nested=True),
    Claim("fig2_if", "with IF neurons at T = 8 ours is more robust than the RFGSM-trained SNN and SNN-RAT (ε2 "
          "ensemble PGD²⁰)", "Sec. 5.2, Fig. 2", comparisons=_fig2_if,
          strongest=UnderAudit(_fig2_if_strongest)),
    Claim("finetuning_design", "natural cross-entropy finetuning, or our objective with fixed thresholds, yields "
          "worse robustness than ours (ε3 ensemble PGD²⁰)", "Sec. 5.1, Table B5",
          comparisons=_finetuning_design, strongest=UnderAudit(_finetuning_design_strongest)),
    Claim("efficiency", "our SNNs emit fewer spikes per sample than SNN-RAT and the vanilla SNN (higher coding "
          "efficiency)", "Sec. 5.3, Fig. 3", comparisons=_efficiency),
    Claim("corruptions", "our SNN generalizes better out of distribution: its accuracy averaged over the common "
          "corruptions is higher than SNN-RAT's and the vanilla SNN's", "Suppl. B.4, Tables B6/B7",
          comparisons=_corruptions),
    Claim("no_masking", "the models pass the gradient-masking diagnostics (no obfuscated gradients)",
          "Sec. 5.3 (Carlini et al. 2019)", checks=_masking),
)


def decide(rows: list[dict], family: Callable[[dict], Any] = lambda row: row["claim"]) -> list[dict]:
    """``rows`` with each comparison's Holm-adjusted p-value (``p_holm``, within the family that ``family`` names for
    a row) and its ``status`` by the module's rule; check rows (no p-value) keep theirs.

    >>> rows = decide([{"claim": "c", "difference": 5.0, "p_value": 0.01}, {"claim": "c", "difference": -4.0,
    ...                "p_value": 0.02}, {"claim": "c", "difference": 3.0, "p_value": 0.04}])
    >>> [(round(r["p_holm"], 2), r["status"]) for r in rows]
    [(0.03, 'for'), (0.04, 'against'), (0.04, 'for')]
    """
    groups: dict[Any, list[int]] = {}
    for i, row in enumerate(rows):
        if "p_value" in row:
            groups.setdefault(family(row), []).append(i)
    out = [dict(row) for row in rows]
    for members in groups.values():
        adjusted, statuses, _ = judge([rows[i]["difference"] for i in members], [rows[i]["p_value"] for i in members],
                                      "higher", ALPHA)
        for i, p_holm, status in zip(members, adjusted, statuses, strict=True):
            out[i]["p_holm"], out[i]["status"] = p_holm, status
    return out


def _tested(run: Run, claims: Sequence[Claim], images: int | None = None) -> list[dict]:
    """Each comparison's paired effect (undecided: :func:`decide` gives the statuses) and each check, at
    ``run.settings.seed``; with ``images``, every comparison on its first ``images`` test images only."""
    run = subjects.prepare(run)
    settings = run.settings
    rows = []
    for claim in claims:
        if claim.comparisons is not None:
            for name, a, b in claim.comparisons(run):
                a, b = (a, b) if images is None else (a[:images], b[:images])
                # verdicts: accuracies and McNemar; numbers (spike counts): t interval, Wilcoxon
                c = paired(a, b, nested=claim.nested)
                rows.append({"claim": claim.key, "seed": settings.seed, "comparison": name, "images": len(a),
                             **c.row("A", "B")})
        if claim.checks is not None:
            for check in claim.checks(run):
                rows.append({"claim": claim.key, "seed": settings.seed, "comparison": f"{check['model']}: "
                             f"{check['check']}", "status": "for" if check["passed"] else "against",
                             "value": str(check["value"])})
    return rows


def claim_rows(run: Run, seeds: Sequence[int], claims: Sequence[Claim] = CLAIMS) -> list[dict]:
    """One row per claim, seed and comparison (or check), with the paired effect and its status in that seed
    (Holm over each claim's comparisons and seeds); each seed replaces ``run.settings.seed``."""
    rows = []
    for seed in seeds:
        rows += _tested(dataclasses.replace(run, settings=dataclasses.replace(run.settings, seed=seed)), claims)
    return decide(rows)


def pooled(rows: list[dict], confidence: float = 0.95) -> list[dict]:
    """Each comparison's mean difference over the seeds with a t interval (``nan`` with one seed)."""
    out = []
    keys = dict.fromkeys((row["claim"], row["comparison"]) for row in rows if "difference" in row)
    for claim, comparison in keys:
        differences = np.array([row["difference"] for row in rows
                                if row["claim"] == claim and row["comparison"] == comparison])
        mean, n, half = float(differences.mean()), len(differences), t_half_width(differences, confidence)
        out.append({"claim": claim, "comparison": comparison, "seeds": n, "mean difference": mean,
                    "ci_low": mean - half, "ci_high": mean + half})
    return out


def verdict(statuses: dict[str, list[str]]) -> str:
    """The rule of this module for one claim, given each comparison's statuses over the seeds.

    >>> verdict({"AT vs Natural": ["for", "for"], "TRADES vs Natural": ["for", "for"]})
    'holds'
    >>> verdict({"AT vs Natural": ["for", "for"], "TRADES vs Natural": ["against", "against"]})
    'does not hold'
    >>> verdict({"AT vs Natural": ["for", "unclear"]})
    'inconclusive'
    """
    if statuses and all(s == "for" for seeds in statuses.values() for s in seeds):
        return "holds"
    if any(seeds and all(s == "against" for s in seeds) for seeds in statuses.values()):
        return "does not hold"
    return "inconclusive"


def verdicts(rows: list[dict], claims: Sequence[Claim] = CLAIMS) -> list[dict]:
    """One row per claim: its words, where it is made, how many comparisons were for/against it, and the verdict."""
    out = []
    for claim in claims:
        own = [row for row in rows if row["claim"] == claim.key]
        statuses: dict[str, list[str]] = {}
        for row in own:
            statuses.setdefault(row["comparison"], []).append(row["status"])
        counts = {s: sum(row["status"] == s for row in own) for s in ("for", "against", "unclear")}
        out.append({"claim": claim.statement, "where": claim.source, "seeds": len({row["seed"] for row in own}),
                    "comparisons": len(statuses), **counts, "verdict": verdict(statuses)})
    return out


def audited_subjects(run: Run, claims: Sequence[Claim] = CLAIMS) -> list[tuple[Claim, subjects.Subject, float]]:
    """Every model that a claim's re-test under the strongest known attack audits (:class:`UnderAudit`; Sec.
    5.1–5.2: Tables 1, 2, B5, Figs. 1, 2), once per model and budget, with the first claim that compares it and the
    budget: the audits that the claims page already reads (:func:`snnconv.book.retests.attack_rows`), for pages that
    read them again."""
    out, seen = [], set()
    for claim in claims:
        if not isinstance(claim.strongest, UnderAudit):
            continue
        pairs, epsilon = claim.strongest.pairs(run)
        epsilon = run.settings.profile.budget("ε3") if epsilon is None else epsilon
        for subject in (s for _, a, b in pairs for s in (a, b)):
            if (subject.id, epsilon) not in seen:
                seen.add((subject.id, epsilon))
                out.append((claim, subject, epsilon))
    return out
