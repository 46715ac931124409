"""The gradient-masking checks of each page (Athalye et al. 2018; Carlini et al. 2019), from real attack runs: the
rows that :func:`snnconv.evaluation.diagnostics.diagnose` judges, per model of Table 1, Table 2, Fig. 4 and
Table A1."""

from __future__ import annotations

from snnconv.book.run import Run
from snnconv.book.subjects import (
    Subject,
    _without_attack,
    accuracy_of,
    baseline_ann,
    converted,
    end_to_end_subject,
    evaluate,
    prepare,
    square_subjects,
)
from snnconv.evaluation.diagnostics import Evidence, diagnose


def diagnostic_rows(run: Run, subject: Subject, transfer_from: Subject) -> list[dict]:
    """Every gradient-masking check of :func:`snnconv.evaluation.diagnostics.diagnose` for ``subject``, from real
    attack runs on the extended test set: ensemble FGSM and PGD at ε3 (PGD also at each evaluated ε, in ascending
    order, for the ordering in ε), PGD at the unbounded budget, uniform noise at ε3, input gradients, PGD images
    crafted on ``transfer_from``, and the Square attack, all at ε3."""
    profile = run.settings.profile
    epsilon, steps = profile.budget("ε3"), profile.pgd_steps

    def accuracy(attack: str, budget: float = epsilon, count: int = steps, source: Subject | None = None) -> float:
        return accuracy_of(evaluate(run, subject, attack, budget, count, source=source))

    # Computed on the spot from the model, never stored: a plan only needs the model to exist.
    zero_fraction, noise = (0.0, 0.0) if run.store.planning else _without_attack(run.settings, subject,
                                                                                 profile.n_test_extended)
    evidence = Evidence(
        clean=accuracy("clean", 0.0, 1),
        attacked=accuracy("PGD"),
        random_noise=noise,
        unbounded=accuracy("PGD", profile.unbounded),
        zero_gradient_fraction=zero_fraction,
        single_step=accuracy("FGSM", count=1),
        by_epsilon=tuple(accuracy("PGD", e) for e in sorted(profile.epsilons)),
        transfer=accuracy("PGD", source=transfer_from),
        square=accuracy("Square", count=max(profile.square_queries)),
    )
    return [{"model": subject.label, **row} for row in diagnose(evidence)]


def _diagnostics(run: Run, checks: list[tuple[Subject, Subject]]) -> list[dict]:
    return [row for subject, source in checks for row in diagnostic_rows(run, subject, source)]


def table2_diagnostics(run: Run) -> list[dict]:
    """Diagnostics for Table 2's models; transfer images come from the AT-ε1 ANN (SNN-RAT) or the SNN's own ANN."""
    run = prepare(run)
    at_ann = baseline_ann(run, "at")
    checks = [(end_to_end_subject(run, "snn_rat"), at_ann)]
    for objective in run.settings.objectives:
        ann, snn = converted(run, objective)
        checks.append((snn, ann))
    return _diagnostics(run, checks)


def converted_snn_diagnostics(run: Run) -> list[dict]:
    """Diagnostics for the converted SNNs of Tables 1, B1, B2 and B3/B4 (transfer images from each SNN's own
    baseline ANN)."""
    run = prepare(run)
    pairs = [converted(run, o) for o in run.settings.objectives]
    return _diagnostics(run, [(snn, ann) for ann, snn in pairs])


def square_diagnostics(run: Run) -> list[dict]:
    """Diagnostics for Fig. 4's models. Transfer sources: for the ANN, our SNN converted from it (ensemble
    PGD images); for the vanilla SNN, the natural ANN; for SNN-RAT and ours, the AT-ε1 ANN."""
    run = prepare(run)
    ann, vanilla, rat, ours = square_subjects(run)
    natural_ann = baseline_ann(run, "natural")
    checks = [(ann, ours), (vanilla, natural_ann), (rat, ann), (ours, ann)]
    return _diagnostics(run, checks)


def ann_diagnostics(run: Run) -> list[dict]:
    """Diagnostics for the baseline ANNs of Table A1. Transfer images come from another baseline ANN: the
    natural ANN's for robust ANNs, the AT-ε1 ANN's for the natural one."""
    run = prepare(run)
    checks = [(baseline_ann(run, o), baseline_ann(run, "at" if o == "natural" else "natural"))
              for o in run.settings.objectives]
    return _diagnostics(run, checks)


def ann_table_checks(rows: list[dict]) -> list[dict]:
    """Gradient-masking checks on Table A1's own rows (:func:`ann_robustness_rows`), per baseline ANN: AutoAttack
    is at least as strong as every other white-box attack, and the black-box Square attack does not beat it."""
    checks = []
    for label in dict.fromkeys(row["ann_objective"] for row in rows):
        accuracy = {row["attack"] or "clean": accuracy_of(row) for row in rows if row["ann_objective"] == label}
        evidence = Evidence(clean=accuracy.pop("clean"), attacked=accuracy.pop("AutoAttack"),
                            square=accuracy.pop("Square", None), weaker=accuracy, attacked_name="AutoAttack")
        checks += [{"model": label, **row} for row in diagnose(evidence)]
    return checks
