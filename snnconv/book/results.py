"""What each result page computes: rows of (model, attack, correct, n) from stored or computed artifacts.

One function per page (or per part of a page) turns a run context (:class:`snnconv.book.run.Run`: validated
settings, the store, progress bars) into table rows. Models and verdicts come from the artifact store
(:mod:`snnconv.storage.pipeline`), so pages that share a model share its artifacts; rendering is
:mod:`snnconv.book.page`'s job.

* Table 1 and its masking checks, Tables A1, B2, B3/B4 — on the profile's ``n_test`` images;
* Table 2, Table B1, Fig. 4 and their gradient-masking diagnostics — the adaptive evaluation, on the
  profile's ``n_test_extended`` images.

The robustness audit, which reads every model of these pages under stronger attacks, is :mod:`snnconv.book.audit`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import torch
from tqdm import tqdm

from snnconv.attacks import paper_attack_name
from snnconv.book.published import budget_of
from snnconv.book.run import Run
from snnconv.book.subjects import (
    Subject,
    ablation_subjects,
    baseline_ann,
    beta_sweep_subjects,
    converted,
    converted_pair,
    corruption_subjects,
    efficiency_subjects,
    end_to_end_subject,
    evaluate,
    evaluation_images,
    evaluation_row,
    lif_latency_subjects,
    prepare,
    square_subjects,
    table2_subjects,
    twin_snn,
    verdict_row,
)
from snnconv.datasets.data import CORRUPTIONS, SEVERITIES
from snnconv.evaluation.activity import active_share, spike_counts
from snnconv.experiment.config import budget_name
from snnconv.experiment.parameters import parse_transfer_resisted
from snnconv.experiment.profiles import ABLATIONS, Ablation, Profile
from snnconv.method.surrogates import (
    BPTR,
    BPTT,
    PAPER_ENSEMBLE,
    GradientMode,
    ReLUApproximation,
)


def table1_rows(run: Run) -> list[dict]:
    """Compute (or load) every cell of Table 1; one row per cell with ``correct`` and ``n``."""
    run = prepare(run)
    profile = run.settings.profile
    rows: list[dict] = []
    for objective in run.settings.objectives:
        pair = converted_pair(run, objective)
        rows.append(evaluation_row(run, pair, "ann", "clean"))
        if profile.autoattack:  # the ANN column: AutoAttack at ε3, whatever budgets the SNN rows sweep
            rows.append(evaluation_row(run, pair, "ann", "AutoAttack", profile.budget("ε3")))
        rows.append(evaluation_row(run, pair, "snn", "clean"))
        for epsilon in profile.epsilons:
            rows.append(evaluation_row(run, pair, "snn", "FGSM", epsilon))
            rows.append(evaluation_row(run, pair, "snn", "PGD", epsilon, steps=profile.pgd_steps))
    return [{k: v for k, v in row.items() if k != "record"} for row in rows]


def table1_with_strongest(ours: list[dict], strongest: list[dict]) -> list[dict]:
    """Table 1's rows (:func:`table1_rows`) followed by each SNN's row under the strongest known attack
    (:func:`snnconv.book.audit.strongest_known_rows` for ``"table1"``) in Table 1's columns, every budget named by its
    value; join them with the paper by :func:`snnconv.book.tables.side_by_side_by_budget`."""
    beyond = [{**row, "ann_objective": row["model"], "model": "snn", "metric": "robust",
               "budget": budget_of(row["epsilon"])} for row in strongest]
    return [*ours, *beyond]


def vanilla_versus_ensemble_rows(run: Run) -> list[dict]:
    """Tables B3/B4: ANN PGD²⁰ and SNN PGD²⁰ with the training surrogate only (vanilla) or the ensemble, at ε3."""
    run = prepare(run)
    profile = run.settings.profile
    epsilon, steps = profile.budget("ε3"), profile.pgd_steps
    vanilla = (PAPER_ENSEMBLE[0].label,)  # the training surrogate, triangular γw = 1
    rows: list[dict] = []
    for objective in run.settings.objectives:
        pair = converted_pair(run, objective)
        rows.append(evaluation_row(run, pair, "ann", "clean"))
        rows.append(evaluation_row(run, pair, "ann", "PGD", epsilon, steps=steps))
        rows.append(evaluation_row(run, pair, "snn", "clean"))
        for members, suffix in ((vanilla, "_vanilla"), ((), "_ensemble")):
            row = evaluation_row(run, pair, "snn", "PGD", epsilon, steps=steps, members=members)
            rows.append({**row, "attack": row["attack"] + suffix})
    return [{k: v for k, v in row.items() if k != "record"} for row in rows]


def beta_sweep_rows(run: Run, betas: Any = None) -> list[dict]:
    """Fig. 1: clean and ε3 ensemble PGD²⁰ accuracy of the SNNs converted from the AT-ε1, AT-ε2 and AT-ε3 ANNs and
    finetuned at ε1 with each β of Eq. 9 (Sec. 5.1), and of SNN-RAT as the reference point, on the same images."""
    run = prepare(run)
    profile = run.settings.profile
    epsilon, steps = profile.budget("ε3"), profile.pgd_steps
    budget = budget_name(epsilon)
    rows: list[dict] = []

    def attacked(subject: Subject, **extra: Any) -> None:
        for attack in ("clean", "PGD"):
            clean = attack == "clean"
            record = evaluate(run, subject, attack, 0.0 if clean else epsilon, 1 if clean else steps,
                              n_test=profile.n_test)
            rows.append(verdict_row(subject, paper_attack_name(attack, steps), 0.0 if clean else epsilon, record,
                             metric="clean" if clean else "robust", budget="" if clean else budget, **extra))

    for label, beta, snn in beta_sweep_subjects(run, betas):
        attacked(snn, ann_objective=label, beta=beta)
    attacked(end_to_end_subject(run, "snn_rat"), ann_objective="SNN-RAT", beta=float("nan"))
    return rows


def ann_robustness_rows(run: Run) -> list[dict]:
    """Table A1: every baseline ANN under FGSM, PGD¹⁰, PGD⁵⁰, APGD-CE (100 steps), Square (5000 queries)
    and AutoAttack, all at ε3. Only the ANNs are needed (AT-ε2/ε3 are never converted here)."""
    run = prepare(run)
    profile = run.settings.profile
    epsilon = profile.budget("ε3")
    budget = budget_name(epsilon)
    rows: list[dict] = []
    for objective in run.settings.objectives:
        ann = baseline_ann(run, objective)
        for attack, steps in (("clean", 1), ("FGSM", 1), ("PGD", 10), ("PGD", 50), ("APGD-CE", 100),
                              ("Square", 5000), ("AutoAttack", 1)):
            clean = attack == "clean"
            record = evaluate(run, ann, attack, 0.0 if clean else epsilon, steps, n_test=profile.n_test)
            rows.append(verdict_row(ann, paper_attack_name(attack, steps), 0.0 if clean else epsilon, record,
                                    metric="clean" if clean else "robust", budget="" if clean else budget))
    return [{"ann_objective": row.pop("model"), **row} for row in rows]


def surrogate_member_rows(run: Run) -> list[dict]:
    """Table B2: ε3-FGSM accuracy of each SNN under each ensemble member alone, and under the ensemble."""
    run = prepare(run)
    profile = run.settings.profile
    rows: list[dict] = []
    for objective in run.settings.objectives:
        pair = converted_pair(run, objective)
        clean = evaluation_row(run, pair, "snn", "clean")
        each = evaluation_row(run, pair, "snn", "FGSM", profile.budget("ε3"), per_member=True)
        common = dict(model=pair.label, n=each["n"], commit=each["commit"])
        rows.append(dict(member="clean", family="clean", parameters="", correct=clean["correct"],
                         robust=clean["robust"], seconds=0.0, **common))
        rows.append(dict(member="ensemble", family="ensemble", parameters="", correct=each["correct"],
                         robust=each["robust"], seconds=each["seconds"], **common))
        for member in PAPER_ENSEMBLE:
            family, parameters = paper_member_name(member)
            rows.append(dict(member=member.label, family=family, parameters=parameters, seconds=0.0,
                             correct=each["record"]["member_correct"][member.label],
                             robust=each["record"]["member_robust"][member.label], **common))
    return rows


def paper_member_name(member: GradientMode) -> tuple[str, str]:
    """A member's ``(surrogate_family, parameters)`` as Table B2 of the paper prints them."""
    if isinstance(member, BPTT):
        surrogate = member.surrogate
        if surrogate.family == "exponential":
            return "exponential", f"gamma_d={surrogate.dampening};gamma_s={surrogate.steepness}"
        if surrogate.family == "straight_through":
            return "STE", ""
        return surrogate.family, f"gamma_w={surrogate.width}"
    return ("BPTR", "") if isinstance(member, BPTR) else ("conversion", "")


# ------------------------------------------------------------------------ the adaptive evaluation


#: Table 2's attacks as data: (the paper's label, attack, steps or None for the profile's APGD steps, PGD step).
TABLE2_ATTACKS: tuple[tuple[str, str, int | None, float | None], ...] = (
    ("FGSM", "FGSM", 1, None),
    ("RFGSM", "RFGSM", 1, None),
    ("PGD7", "PGD", 7, 0.01),  # SNN-RAT's setting: η = 0.01
    ("PGD20", "PGD", 20, None),
    ("PGD40", "PGD", 40, None),
    ("APGD-DLR", "APGD-DLR", None, None),
    ("APGD-CE", "APGD-CE", None, None),
    ("T-APGD-CE", "APGD-T", None, None),  # targeted DLR loss, as the authors' code (notes §9.6)
)


def table2_rows(run: Run) -> list[dict]:
    """Table 2: SNN-RAT and the converted SNNs under the eight ensemble attacks at ε3."""
    run = prepare(run)
    profile = run.settings.profile
    epsilon = profile.budget("ε3")
    rows = []
    for subject in table2_subjects(run):
        rows.append(verdict_row(subject, "", 0.0, evaluate(run, subject, "clean"), metric="clean"))
        for label, attack, steps, step_size in TABLE2_ATTACKS:
            record = evaluate(run, subject, attack, epsilon, steps or profile.apgd_steps, step_size)
            rows.append(verdict_row(subject, label, epsilon, record, metric="robust"))
    return rows


def transfer_rows(run: Run, resisted: str = "highest_loss") -> list[dict]:
    """Table B1: each converted SNN under white-box ensemble PGD²⁰ (WB) and under PGD²⁰ images crafted on a
    second SNN converted from the same ANN and finetuned with another seed (BB_SNN) or on the baseline ANN
    (BB_ANN), at ε1 and ε3. ``resisted`` is :func:`snnconv.attacks.transfer_images`' option: ``"clean"`` gives
    the authors' protocol."""
    parse_transfer_resisted(resisted)
    run = prepare(run)
    profile = run.settings.profile
    rows = []
    for objective in run.settings.objectives:
        ann, snn = converted(run, objective)
        twin = twin_snn(run, objective)
        rows.append(verdict_row(snn, "clean", 0.0, evaluate(run, snn, "clean"), setting="clean", budget=""))
        for budget in ("ε1", "ε3"):
            epsilon = profile.budget(budget)
            for setting, source in (("WB", None), ("BB_SNN", twin), ("BB_ANN", ann)):
                record = evaluate(run, snn, "PGD", epsilon, profile.pgd_steps, source=source,
                                  transfer_resisted=resisted)
                rows.append(verdict_row(snn, paper_attack_name("PGD", profile.pgd_steps), epsilon, record,
                                        setting=setting, budget=budget))
    return rows


def spike_count_rows(run: Run) -> list[dict]:
    """Fig. 3: the spikes each of :func:`efficiency_subjects` emits per test image (``counts``, on the profile's
    ``n_test`` images), their mean, the network's neuron count and the active share (Sec. 5.3)."""
    run = prepare(run)
    profile = run.settings.profile
    subjects = efficiency_subjects(run)
    if run.store.planning:  # counted on the spot from the models, never stored
        return []
    images, _ = evaluation_images(run.settings, profile.n_test)
    rows = []
    for subject in subjects:
        counts = spike_counts(subject.model, images, subject.time_steps, profile.attack_batch)
        neurons = subject.model.neuron_count(tuple(images.shape[1:]))
        rows.append({"model": subject.label, "n": len(counts), "neurons": neurons, "time_steps": subject.time_steps,
                     "mean spikes": float(counts.double().mean()),
                     "active (%)": active_share(counts, neurons, subject.time_steps), "counts": counts.tolist()})
    return rows


def corruption_rows(run: Run) -> list[dict]:
    """Tables B6/B7 (Suppl. B.4): each of :func:`corruption_subjects` on the profile's first ``n_test`` test
    images, clean and under each common corruption at each severity (Hendrycks & Dietterich 2019); one row per
    model × condition, with the per-image verdicts (``robust``: classified correctly) for paired comparisons."""
    run = prepare(run)
    n_test = run.settings.profile.n_test
    conditions = [("clean", 0), *((c, s) for c in CORRUPTIONS for s in SEVERITIES)]
    rows = []
    for subject in corruption_subjects(run):
        bar = tqdm(conditions, desc=f"corruptions on {subject.label}", disable=not run.progress or run.store.planning,
                   leave=False)
        for corruption, severity in bar:
            if corruption == "clean":
                record = evaluate(run, subject, "clean", n_test=n_test)
            else:
                record = evaluate(run, subject, "corruption", n_test=n_test, corruption=corruption, severity=severity)
            rows.append(verdict_row(subject, "", 0.0, record, corruption=corruption, severity=severity))
    return rows


def corruption_image_accuracy(rows: list[dict], model: str, corruptions: Collection[str]) -> list[float]:
    """Each test image's accuracy (%) for ``model`` over its corrupted versions (every severity) under
    ``corruptions``, from :func:`corruption_rows`: one number per image, so that two models compare image by image
    (Suppl. B.4)."""
    kept = [row["robust"] for row in rows if row["model"] == model and row["corruption"] in corruptions]
    if not kept:
        raise LookupError(f"no corruption rows for model {model!r} and corruptions {sorted(corruptions)}")
    return (100.0 * torch.tensor(kept, dtype=torch.float64).mean(dim=0)).tolist()


#: Table B5's ensemble attacks (Suppl. B.3), all at ε3, with the profile's PGD and APGD steps.
ABLATION_ATTACKS: tuple[str, ...] = ("FGSM", "PGD", "APGD-CE")


def ablation_rows(run: Run, ablations: tuple[Ablation, ...] = ABLATIONS) -> list[dict]:
    """Table B5: each ablation's SNN (by default all ten rows of :data:`~snnconv.experiment.profiles.ABLATIONS`) clean
    and under the ε3 ensemble attacks of :data:`ABLATION_ATTACKS`, on the profile's ``n_test`` images; each row
    carries the ablation's cells as the paper prints them."""
    run = prepare(run)
    profile = run.settings.profile
    epsilon = profile.budget("ε3")
    rows = []
    for ablation, subject in ablation_subjects(run, ablations):
        cells = ablation.paper_row
        record = evaluate(run, subject, "clean", n_test=profile.n_test)
        rows.append(verdict_row(subject, "", 0.0, record, metric="clean", **cells))
        for attack in ABLATION_ATTACKS:
            steps = {"FGSM": 1, "PGD": profile.pgd_steps}.get(attack, profile.apgd_steps)
            record = evaluate(run, subject, attack, epsilon, steps, n_test=profile.n_test)
            rows.append(verdict_row(subject, paper_attack_name(attack, steps), epsilon, record, metric="robust",
                                    **cells))
    return rows


# ------------------------------------------------------------------------ Fig. 2: LIF neurons, latency, BNTT

#: The ensemble on BNTT (Suppl. A.4): the paper's members without the conversion-based approximation, which has
#: no ANN to run for a network trained from scratch with batch norm through time.
BNTT_MEMBERS: tuple[str, ...] = tuple(m.label for m in PAPER_ENSEMBLE if not isinstance(m, ReLUApproximation))


def fig2b_epsilon(profile: Profile) -> float:
    """Fig. 2b's budget: the paper's ε2 (4/255), whatever ``epsilons`` the profile evaluates."""
    return profile.budget("ε2")


def lif_latency_rows(run: Run, neurons: tuple[str, ...] = ("IF", "LIF")) -> list[dict]:
    """Fig. 2 (Sec. 5.2): each of :func:`lif_latency_subjects` with its neuron in ``neurons`` clean and under the
    ensemble FGSM and PGD at ε2 (Fig. 2b), and the LIF models (Fig. 2a's curves) also under PGD at the other
    budgets; on the adaptive evaluation's first ``n_test_extended`` images. BNTT is attacked with
    :data:`BNTT_MEMBERS`, its Poisson encoding passed straight through and ``eot_draws`` draws per attacker forward
    (Suppl. A.4)."""
    run = prepare(run)
    profile = run.settings.profile
    middle = fig2b_epsilon(profile)
    rows = []
    for cells, subject in lif_latency_subjects(run, neurons):
        bntt = cells["method"] == "BNTT"
        options = {"members": BNTT_MEMBERS, "eot": profile.eot_draws} if bntt else {}
        record = evaluate(run, subject, "clean")
        rows.append(verdict_row(subject, "", 0.0, record, metric="clean", **cells))
        # PGD at ε2 for every model (Fig. 2b); the LIF models' curves (Fig. 2a) also at every evaluated budget
        pgd = sorted({*profile.epsilons, middle}) if cells["neuron"] == "LIF" else [middle]
        attacks = [("FGSM", middle), *(("PGD", e) for e in pgd)]
        for attack, epsilon in attacks:
            steps = profile.pgd_steps if attack == "PGD" else 1
            record = evaluate(run, subject, attack, epsilon, steps, **options)
            rows.append(verdict_row(subject, paper_attack_name(attack, steps), epsilon, record, metric="robust",
                                    **cells))
    return rows


def square_rows(run: Run) -> list[dict]:
    """Fig. 4: Square-attack accuracy at every query budget of the profile, from one run per model at ε3."""
    run = prepare(run)
    profile = run.settings.profile
    rows = []
    for subject in square_subjects(run):
        record = evaluate(run, subject, "Square", profile.budget("ε3"), max(profile.square_queries))
        fooled_at = torch.tensor(record["fooled_at"])
        for queries in profile.square_queries:
            robust = (fooled_at < 0) | (fooled_at > queries)  # not yet fooled after this many queries
            rows.append(verdict_row(subject, "Square", profile.budget("ε3"),
                             {**record, "correct": int(robust.sum()), "robust": robust.tolist()}, queries=queries))
    return rows


