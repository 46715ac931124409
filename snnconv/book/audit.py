"""The robustness audit: every model under the strongest attacks known, and what explains what they find.

Beyond the paper (its Sec. 4.3 ensemble is one of the attacks here). For each model of the book — converted SNNs,
end-to-end SNNs and ANNs — the attacks of :func:`audit_attacks` (the paper's ensemble PGD²⁰, the surrogates
published after it, APGD and the gradient-free Square attack) at every budget, and their per-image worst cases:
*strongest white-box* and *strongest known* (an image is robust only if every attack failed on it). Then the
checks that read them: gradient masking against the strongest white-box attack, Square against it at every
budget, the per-layer statistics that the surrogates see and each member's input-gradient norm. Verdicts are
stored artifacts (:mod:`snnconv.storage.pipeline`), shared with every page that uses the same model and attack.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from snnconv.attacks import paper_attack_name
from snnconv.book.run import Run
from snnconv.book.subjects import (
    Subject,
    accuracy_of,
    converted,
    end_to_end_subject,
    evaluate,
    evaluation_images,
    prepare,
    square_subjects,
    table2_subjects,
    verdict_row,
)
from snnconv.evaluation.diagnostics import Evidence, diagnose, input_gradient_norms, layer_statistics, logit_margins
from snnconv.evaluation.statistics import paired_comparison
from snnconv.experiment.config import MAIN_BASELINES, budget_name
from snnconv.experiment.profiles import Profile
from snnconv.method.models import Simulation
from snnconv.method.surrogates import (
    PAPER_ENSEMBLE,
    STRONGER_MEMBERS,
    THRESHOLD_SCALED,
    AdaptiveSharpness,
    HybridRateTemporal,
)


def hart_search_rows(run: Run, subject: Subject) -> list[dict]:
    """HART's width γ for ``subject``, chosen as its authors do by a search (Hao et al. 2024): PGD²⁰ at ε3 through
    HART(γ) alone for every γ of the profile's grid, on the first ``hart_search_images`` test images; the γ with
    the lowest accuracy is ``chosen`` (the first in the grid on a tie). Every run is a stored verdict."""
    profile = run.settings.profile
    rows, named = [], paper_attack_name("PGD", profile.pgd_steps)
    for width in profile.hart_widths:
        member = HybridRateTemporal(width)
        record = evaluate(run, subject, "PGD", profile.budget("ε3"), profile.pgd_steps,
                          members=(member.label,), n_test=min(profile.hart_search_images, profile.n_test_extended))
        rows.append(verdict_row(subject, f"{member.label} {named}", profile.budget("ε3"), record,
                         width=width, member=member.label))
    best = min(range(len(rows)), key=lambda i: rows[i]["correct"])
    return [{**row, "chosen": i == best} for i, row in enumerate(rows)]


def audit_attacks(profile: Profile, spiking: bool) -> tuple[tuple[str, str, int, tuple[str, ...]], ...]:
    """The attacks behind "the strongest known attack", as data: ``(label, attack, steps, member labels)``.

    The paper's ensemble PGD²⁰; for an SNN also its surrogates with threshold-scaled widths, each member
    published after the paper alone (ASSG with its own optimizer, SA-PGD), and the ensemble APGD-CE, APGD-DLR
    and targeted APGD; the black-box Square attack last. An ANN has one gradient, so it gets PGD²⁰, APGD and
    Square (Carlini et al. 2019: report the worst case over attacks).
    """
    pgd = profile.pgd_steps
    named = paper_attack_name("PGD", pgd)
    # An ANN has a single gradient: its PGD²⁰ is no ensemble.
    attacks: list[tuple[str, str, int, tuple[str, ...]]] = [(f"ensemble {named}" if spiking else named, "PGD", pgd, ())]
    if spiking:
        attacks.append((f"threshold-scaled {named}", "PGD", pgd, tuple(m.label for m in THRESHOLD_SCALED)))
        for member in STRONGER_MEMBERS:
            if isinstance(member, AdaptiveSharpness):
                attacks.append((f"{member.label} SA-PGD{profile.sapgd_steps}", "SA-PGD", profile.sapgd_steps,
                                (member.label,)))
            else:  # HART's row keeps one name; its width is the per-model search's (hart_search_rows)
                name = "HART" if isinstance(member, HybridRateTemporal) else member.label
                attacks.append((f"{name} {named}", "PGD", pgd, (member.label,)))
    attacks += [(name, name, profile.apgd_steps, ()) for name in ("APGD-CE", "APGD-DLR", "APGD-T")]
    attacks.append(("Square", "Square", max(profile.square_queries), ()))
    return tuple(attacks)


def suite_names(profile: Profile) -> dict[str, str]:
    """Every attack of :func:`audit_attacks` (an SNN's and an ANN's) by the spiking attack it stands for, so that one
    suite names the same attacks on every model: an SNN's attack is its own name; an ANN's is the SNN's attack of the
    same algorithm and steps through the ensemble (an ANN has one gradient, so its PGD²⁰ stands for the ensemble
    PGD²⁰). The SNN's attacks through chosen members (the later surrogates, Sec. 4.3's beyond) have no ANN
    counterpart.

    >>> from snnconv.experiment.profiles import PROFILES
    >>> suite_names(PROFILES["default"])["PGD20"]
    'ensemble PGD20'
    """
    spiking = audit_attacks(profile, True)
    names = {label: label for label, *_ in spiking}
    for label, attack, steps, _ in audit_attacks(profile, False):
        names[label] = next(own for own, a, s, members in spiking if (a, s) == (attack, steps) and not members)
    return names


def audit_rows(run: Run, subject: Subject, epsilon: float) -> list[dict]:
    """Every attack of :func:`audit_attacks` on ``subject`` at ``epsilon`` (the adaptive evaluation's images),
    then the per-image worst cases: *strongest white-box* (all but Square) and *strongest known* (all)."""
    rows = [verdict_row(subject, "clean", 0.0, evaluate(run, subject, "clean"), kind="clean")]
    attacks = audit_attacks(run.settings.profile, subject.time_steps > 0)
    if subject.time_steps > 0:  # HART at the width its search chose for this model
        chosen = next(r for r in hart_search_rows(run, subject) if r["chosen"])
        default = HybridRateTemporal().label
        attacks = tuple((label, attack, steps, (chosen["member"],) if members == (default,) else members)
                        for label, attack, steps, members in attacks)
    for label, attack, steps, members in attacks:
        record = evaluate(run, subject, attack, epsilon, steps, members=members)
        kind = "black-box" if attack == "Square" else "white-box"
        rows.append(verdict_row(subject, label, epsilon, record, kind=kind))
    return rows + worst_cases(rows)


def worst_cases(rows: list[dict]) -> list[dict]:
    """Per-image worst cases of one model's attack rows: an image is robust only if every attack failed on it
    (as in AutoAttack, Croce & Hein 2020): *strongest white-box* over the white-box rows, *strongest known* over
    all of them."""
    out = []
    for label, kinds in (("strongest white-box", {"white-box"}), ("strongest known", {"white-box", "black-box"})):
        chosen = [row for row in rows if row.get("kind") in kinds]
        robust = torch.tensor([row["robust"] for row in chosen]).all(0)
        out.append({**chosen[0], "attack": label, "kind": label, "correct": int(robust.sum()),
                    "robust": robust.tolist(), "seconds": sum(row["seconds"] for row in chosen)})
    return out


def converted_snn_subjects(run: Run) -> list[Subject]:
    """The SNNs converted from the baseline ANNs of ``objectives`` (Table 1's SNNs)."""
    return [converted(run, objective)[1] for objective in run.settings.objectives]


#: The pages that show the strongest known attack beside their own, and the models each evaluates.
STRONGEST_KNOWN_PAGES = {"table1": converted_snn_subjects, "table2": table2_subjects, "fig4": square_subjects}


def strongest_known_row(run: Run, subject: Subject, epsilon: float) -> dict:
    """The last row of :func:`audit_rows`: ``subject`` under the strongest known attack at ``epsilon``."""
    return audit_rows(run, subject, epsilon)[-1]


def strongest_known_rows(run: Run, page: str) -> list[dict]:
    """The strongest known attack at ε3 for each model of ``page`` (a key of :data:`STRONGEST_KNOWN_PAGES`), one
    row each, on the adaptive evaluation's images."""
    run = prepare(run)
    epsilon = run.settings.profile.budget("ε3")
    subjects = STRONGEST_KNOWN_PAGES[page](run)
    return [strongest_known_row(run, subject, epsilon) for subject in subjects]


def audit_subjects(run: Run) -> list[Subject]:
    """The audit's models: the converted SNNs of ``objectives``, the vanilla SNN, SNN-RAT and the baseline ANNs."""
    pairs = [converted(run, o) for o in run.settings.objectives]
    return [*(snn for _, snn in pairs), *(end_to_end_subject(run, m) for m in MAIN_BASELINES),
            *(replace(ann, label=f"ANN {ann.label}") for ann, _ in pairs)]


def robustness_audit_rows(run: Run) -> list[dict]:
    """Every model of :func:`audit_subjects` under every attack of :func:`audit_attacks` at each evaluated ε of the
    profile, in ascending order, with the per-image worst cases (one row per model, attack and ε, on the adaptive
    evaluation's images; one clean row per model, with the first budget). Each row's ``budget`` is named by its value
    (:func:`snnconv.experiment.config.budget_name`)."""
    run = prepare(run)
    rows = []
    for subject in audit_subjects(run):
        for index, epsilon in enumerate(sorted(run.settings.profile.epsilons)):
            rows += [{**row, "budget": budget_name(epsilon)} for row in audit_rows(run, subject, epsilon)
                     if row["kind"] != "clean" or index == 0]
    return rows


def audit_diagnostics(rows: list[dict]) -> list[dict]:
    """The masking checks of :func:`snnconv.evaluation.diagnostics.diagnose` against the strongest white-box attack
    instead of PGD²⁰: accuracy falls with ε, and, at the largest budget of ``rows`` (:func:`robustness_audit_rows`,
    budgets in
    ascending order), the Square attack beats it neither in accuracy nor image by image."""
    checks = []
    for model in dict.fromkeys(row["model"] for row in rows):
        own = [row for row in rows if row["model"] == model]
        by = {(row["kind"], row["budget"]): row for row in own}
        budgets = list(dict.fromkeys(row["budget"] for row in own if row["kind"] != "clean"))
        largest = budgets[-1]
        white, square = by[("strongest white-box", largest)], next(r for r in own if r["attack"] == "Square"
                                                                     and r["budget"] == largest)
        square_only = sum(w and not q for w, q in zip(white["robust"], square["robust"], strict=True))
        clean = next(row for row in own if row["kind"] == "clean")
        evidence = Evidence(clean=accuracy_of(clean), attacked=accuracy_of(white),
                            by_epsilon=tuple(accuracy_of(by[("strongest white-box", b)]) for b in budgets),
                            square=accuracy_of(square), square_only=100.0 * square_only / white["n"],
                            attacked_name="the strongest white-box attack")
        checks += [{"model": model, **row} for row in diagnose(evidence)]
    return checks


def masking_gap_rows(rows: list[dict]) -> list[dict]:
    """The strongest white-box attack against the Square attack for every model and budget of ``rows``, image by
    image (:func:`snnconv.evaluation.statistics.paired_comparison`).

    ``Square stronger by`` is the white-box accuracy minus Square's, in points, with its 95 % paired interval:
    positive where the gradient-free attack finds more than every white-box attack together. *Masking remains*
    where that interval lies above 0; ``Square-only images`` counts the images that Square alone fools.
    """
    by = {(row["model"], row["budget"], row["kind"]): row for row in rows if row["kind"] != "black-box"}
    out = []
    for square in (row for row in rows if row["attack"] == "Square"):
        white = by[(square["model"], square["budget"], "strongest white-box")]
        compared = paired_comparison(white["robust"], square["robust"])
        row = compared.row("strongest white-box", "Square", higher="masking remains")
        row["Square stronger by"] = row.pop("difference")
        out.append({"model": square["model"], "budget": square["budget"], **row, "Square-only images": compared.only_a})
    return out


def _measured_on_the_spot(run: Run) -> tuple[Run, list[Subject], torch.Tensor, torch.Tensor] | None:
    """For rows measured on the spot from the audit's models, never stored: the prepared run, the models and the
    adaptive evaluation's images and labels; None while planning (the models are planned all the same)."""
    run = prepare(run)
    subjects = audit_subjects(run)
    if run.store.planning:
        return None
    images, labels = evaluation_images(run.settings, run.settings.profile.n_test_extended)
    return run, subjects, images, labels


def layer_statistics_rows(run: Run) -> list[dict]:
    """:func:`snnconv.evaluation.diagnostics.layer_statistics` of every converted SNN and end-to-end SNN of the audit,
    on the
    adaptive evaluation's images."""
    spot = _measured_on_the_spot(run)
    if spot is None:
        return []
    _, subjects, images, _ = spot
    return [{"model": subject.label, **row}
            for subject in subjects if subject.time_steps > 0
            for row in layer_statistics(subject.model, images, subject.time_steps)]


def member_gradient_rows(run: Run) -> list[dict]:
    """Mean input-gradient norm :math:`\\|\\nabla_x \\mathcal{L}_{CE}\\|_1` of every converted and end-to-end SNN
    under each member (the paper's and the later ones): a member whose gradient is about zero cannot attack."""
    spot = _measured_on_the_spot(run)
    if spot is None:
        return []
    _, subjects, images, labels = spot
    profile = run.settings.profile
    rows = []
    for subject in subjects:
        if subject.time_steps == 0:
            continue
        for member in (*PAPER_ENSEMBLE, *STRONGER_MEMBERS):
            norms = input_gradient_norms(subject.model, images, labels, Simulation(subject.time_steps, member),
                                         profile.attack_batch)
            rows.append({"model": subject.label, "member": member.label, "gradient norm": float(norms.mean()),
                         "zero gradients (%)": 100.0 * float((norms == 0).float().mean())})
    return rows


def _median(values: torch.Tensor, chosen: torch.Tensor) -> float:
    return float(values[chosen].median()) if chosen.any() else float("nan")


def square_only_rows(run: Run) -> list[dict]:
    """Where the images that only Square fools lie: for every model and budget, the images that Square alone
    fools and those that resist every attack (*resist all*), each group's median clean margin
    (:func:`snnconv.evaluation.diagnostics.logit_margins`) and the median input-gradient norm through the training
    gradient (the SNNs' training surrogate; the ANNs' exact gradient). A vanishing gradient would show as a norm near 0;
    a misleading one, as images near the boundary (small margin) that a non-zero gradient does not push across."""
    spot = _measured_on_the_spot(run)
    if spot is None:
        return []
    run, subjects, images, labels = spot
    profile = run.settings.profile
    rows = []
    for subject in subjects:
        simulation = Simulation(subject.time_steps)
        margins = logit_margins(subject.model, images, labels, simulation, profile.attack_batch)
        norms = input_gradient_norms(subject.model, images, labels, simulation, profile.attack_batch)
        for epsilon in sorted(profile.epsilons):
            by = {row["attack"]: row for row in audit_rows(run, subject, epsilon)}
            white = torch.tensor(by["strongest white-box"]["robust"])
            square = torch.tensor(by["Square"]["robust"])
            groups = {"Square alone": white & ~square, "resist all": white & square}
            row = {"model": subject.label, "budget": budget_name(epsilon)}
            for name, chosen in groups.items():
                row[f"images ({name})"] = int(chosen.sum())
                row[f"margin ({name})"] = _median(margins, chosen)
                row[f"gradient norm ({name})"] = _median(norms, chosen)
            rows.append(row)
    return rows


def hart_width_rows(run: Run) -> list[dict]:
    """:func:`hart_search_rows` for every spiking model of the audit: the search behind each HART row, shown."""
    run = prepare(run)
    return [row for subject in audit_subjects(run) if subject.time_steps > 0
            for row in hart_search_rows(run, subject)]
