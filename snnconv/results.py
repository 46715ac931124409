"""What each result page computes: rows of (model, attack, correct, n) from stored or computed artifacts.

One function per page (or per part of a page) turns validated :class:`~snnconv.parameters.Settings`
into table rows. Models and verdicts come from the artifact store (:mod:`snnconv.pipeline`), so pages that share a
model share its artifacts; rendering is :mod:`snnconv.page`'s job.

* Table 1 and its masking checks, Tables A1, B2, B3/B4 — on the profile's ``n_test`` images;
* Table 2, Table B1, Fig. 4 and their gradient-masking diagnostics — the adaptive evaluation, on the
  profile's ``n_test_extended`` images.

The robustness audit, which reads every model of these pages under stronger attacks, is :mod:`snnconv.audit`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import torch
from tqdm import tqdm

from snnconv.activity import active_share, spike_counts
from snnconv.config import (
    ABLATIONS,
    END_TO_END,
    Ablation,
    EndToEndConfig,
    EvaluationConfig,
    Profile,
    ablation_config,
    ann_config,
    budget_name,
    end_to_end_config,
    epsilon_label,
    objective_label,
    snn_config,
)
from snnconv.data import CORRUPTIONS, SEVERITIES
from snnconv.diagnostics import Evidence, diagnose, input_gradient_norms, random_noise_accuracy
from snnconv.models import Simulation, SpikingNetwork
from snnconv.parameters import Settings, parse_betas, parse_transfer_resisted
from snnconv.pipeline import (
    dataset,
    device,
    ensure_ann,
    ensure_end_to_end,
    ensure_evaluation,
    ensure_snn,
    members_by_label,
)
from snnconv.published import budget_of
from snnconv.store import ArtifactStore, artifact_key
from snnconv.surrogates import (
    BPTR,
    BPTT,
    PAPER_ENSEMBLE,
    GradientMode,
    ReLUApproximation,
)


@dataclass(frozen=True)
class Subject:
    """A model under evaluation: its name in the paper's words, its store key, T (0 = ANN) and how to get it.

    The network is loaded (or trained) on first use of :attr:`model`, so a page whose verdicts are all stored
    never touches a model, and planning (:mod:`snnconv.plan`) touches none at all.
    """

    label: str
    kind: str  # its store kind: "ann", "snn" or "end_to_end"
    key: str
    time_steps: int
    load: Callable[[], SpikingNetwork] = field(repr=False, compare=False)

    @cached_property
    def model(self) -> SpikingNetwork:
        return self.load()

    @property
    def id(self) -> str:
        """``kind/key``: how a plan (:mod:`snnconv.plan`) names the artifact."""
        return f"{self.kind}/{self.key}"


def _subject(label: str, kind: str, config: Any, time_steps: int, ensure: Callable, store: ArtifactStore,
             progress: bool, after: tuple[str, ...] = ()) -> Subject:
    key = artifact_key(kind, config)
    if store.planning:
        store.plan.need(kind, key, f"{kind} {label}", after, lambda: ensure(config, store, progress), store,
                        config)
    return Subject(label, kind, key, time_steps, lambda: ensure(config, store, progress))


@dataclass(frozen=True)
class ConvertedPair:
    """A baseline ANN and the SNN converted and finetuned from it."""

    label: str
    ann: Subject
    snn: Subject


def converted_pair(settings: Settings, objective: str, store: ArtifactStore, progress: bool) -> ConvertedPair:
    """The ANN for ``objective`` and its SNN, as Table 1 trains them (shared through the store)."""
    ann_cfg = ann_config(settings.profile, objective, settings.seed)
    snn_cfg = snn_config(settings.profile, ann_cfg, settings.seed)
    label = objective_label(objective)
    ann = _subject(label, "ann", ann_cfg, 0, ensure_ann, store, progress)
    snn = _subject(label, "snn", snn_cfg, settings.profile.time_steps, ensure_snn, store, progress,
                   (f"ann/{ann.key}",))
    return ConvertedPair(label, ann, snn)


def converted(
    settings: Settings, objective: str, store: ArtifactStore, progress: bool
) -> tuple[Subject, Subject]:
    """The baseline ANN for ``objective`` and the SNN converted from it, as subjects."""
    pair = converted_pair(settings, objective, store, progress)
    return pair.ann, pair.snn


def baseline_ann(settings: Settings, objective: str, store: ArtifactStore, progress: bool) -> Subject:
    """The baseline ANN for ``objective`` alone (no conversion: AT-ε2/ε3 are only evaluated as ANNs)."""
    config = ann_config(settings.profile, objective, settings.seed)
    return _subject(objective_label(objective), "ann", config, 0, ensure_ann, store, progress)


def end_to_end_subject(settings: Settings, method: str, store: ArtifactStore, progress: bool,
                       label: str | None = None, **options: Any) -> Subject:
    """An end-to-end trained SNN as the profile trains it; ``options`` (``time_steps``, ``leak``, ``soft_reset``,
    ``trainable_threshold``) go to :func:`~snnconv.config.end_to_end_config`, e.g. for Fig. 2's LIF variants."""
    config = end_to_end_config(settings.profile, method, settings.seed, **options)
    return _subject(label or END_TO_END[method], "end_to_end", config, config.time_steps, ensure_end_to_end, store,
                    progress)


def twin_snn(settings: Settings, objective: str, store: ArtifactStore, progress: bool) -> Subject:
    """A second SNN from the same baseline ANN, calibrated and finetuned with another seed (the authors'
    BB_SNN source in Table B1)."""
    profile = settings.profile
    ann_cfg = ann_config(profile, objective, settings.seed)
    config = snn_config(profile, ann_cfg, settings.seed + 1)
    return _subject(f"{objective_label(objective)} (seed {settings.seed + 1})", "snn", config, profile.time_steps,
                    ensure_snn, store, progress, (f"ann/{artifact_key('ann', ann_cfg)}",))


def evaluate(
    settings: Settings, store: ArtifactStore, subject: Subject, attack: str, epsilon: float = 0.0,
    steps: int = 1, step_size: float | None = None, source: Subject | None = None, n_test: int | None = None,
    members: tuple[str, ...] = (), per_member: bool = False, progress: bool = True,
    transfer_resisted: str = "highest_loss", corruption: str = "", severity: int = 0, eot: int = 1,
) -> dict:
    """One attack (budget ``epsilon`` in [0, 1] pixel units) on ``subject``; returns its stored record.

    ``n_test`` defaults to the extended test set of the adaptive evaluation; ``members`` are labels (() = all 19).

    With ``source``, the attack runs on the source model and its adversarial images are replayed on
    ``subject`` (a transfer attack). ``attack="corruption"`` with ``corruption`` and ``severity`` classifies the
    test images under that common corruption instead (Tables B6/B7).
    """
    profile = settings.profile
    config = EvaluationConfig(subject.key, profile.dataset, attack, epsilon, steps, subject.time_steps,
                              n_test or profile.n_test_extended, settings.seed, members=members,
                              per_member=per_member, step_size=step_size,
                              source_key=source.key if source else "",
                              source_time_steps=source.time_steps if source else 0,
                              transfer_resisted=transfer_resisted if source else "highest_loss",
                              corruption=corruption, severity=severity, eot=eot)
    key = artifact_key("evaluation", config)
    if store.planning:
        after = tuple(s.id for s in (subject, source) if s is not None)
        need = store.plan.need("evaluation", key, f"{corruption or attack} on {subject.label}", after,
                               lambda: ensure_evaluation(subject.model, config, store, profile.attack_batch,
                                                         progress, source.model if source else None), store,
                               config)
        if not need.stored:
            return planned_record(config)
    return ensure_evaluation(subject.model, config, store, profile.attack_batch, progress,
                             source.model if source else None)



def accuracy_of(record: dict) -> float:
    """A stored verdict's accuracy in %."""
    return 100.0 * record["correct"] / record["n"]


def verdict_row(subject: Subject, attack: str, epsilon: float, record: dict, **extra: Any) -> dict:
    """One stored verdict of ``subject`` as a table row (model, attack, ε, correct, n, per-image ``robust``)."""
    # ``robust``: the per-image verdicts, so two rows measured on the same images can be compared pairedly.
    return dict(model=subject.label, attack=attack, epsilon=epsilon_label(epsilon) if epsilon else "",
                correct=record["correct"], n=record["n"], robust=record["robust"], seconds=record["seconds"],
                commit=record.get("commit", "not recorded"), **extra)


def evaluation_row(
    settings: Settings, store: ArtifactStore, pair: ConvertedPair, model_kind: str, attack: str,
    epsilon: float = 0.0, budget: str | None = None, steps: int = 1, members: tuple[str, ...] = (),
    per_member: bool = False, progress: bool = True,
) -> dict:
    """One attack on the ANN (``model_kind="ann"``) or SNN of ``pair``, as a table row with its record.

    The row's ``budget`` is named by ``epsilon``'s value (:func:`~snnconv.config.budget_name`; ``""`` when clean);
    ``budget``, if given, must be that name (a name by position would join the row with another budget's cell).
    """
    named = budget_name(epsilon) if attack != "clean" else ""
    if budget is not None and budget != named:
        raise ValueError(f"budget={budget!r} does not name ε={epsilon_label(epsilon)}, which is {named!r}: "
                         "leave budget out, it is named by its value.")
    budget = named
    subject = pair.ann if model_kind == "ann" else pair.snn
    record = evaluate(settings, store, subject, attack, epsilon, steps, members=members, per_member=per_member,
                      n_test=settings.profile.n_test, progress=progress)
    return dict(ann_objective=pair.label, model=model_kind, metric="clean" if attack == "clean" else "robust",
                attack=paper_attack_name(attack, steps),
                epsilon=epsilon_label(epsilon) if attack != "clean" else "", budget=budget,
                correct=record["correct"], n=record["n"], robust=record["robust"], seconds=record["seconds"],
                commit=record.get("commit", "not recorded"), record=record)


def paper_attack_name(attack: str, steps: int) -> str:
    """An attack as the paper's tables name it (Sec. 4.3): PGD with its steps (``PGD20``), clean as an empty cell."""
    return {"clean": "", "PGD": f"PGD{steps}"}.get(attack, attack)


def prepare(settings: Settings, store: ArtifactStore | None) -> ArtifactStore:
    """Thread count and a dataset check, before any work starts (a plan needs no data)."""
    torch.set_num_threads(settings.threads)
    store = store or ArtifactStore()
    if not store.planning:
        dataset(settings.profile.dataset, "test")  # a missing data set fails here, before any training
    return store


def planned_record(config: EvaluationConfig) -> dict:
    """What a plan sees in place of a verdict not yet computed: every image robust (so the plan goes on)."""
    n = config.n_test
    members = [m.label for m in members_by_label(config.members)] if config.per_member else []
    return {"correct": n, "clean_correct": n, "n": n, "robust": [True] * n, "fooled_by": [""] * n,
            "member_correct": dict.fromkeys(members, n), "member_robust": {m: [True] * n for m in members},
            "fooled_at": [-1] * n, "seconds": 0.0, "commit": "planned"}


def table1_rows(settings: Settings, store: ArtifactStore | None = None, progress: bool = True) -> list[dict]:
    """Compute (or load) every cell of Table 1; one row per cell with ``correct`` and ``n``."""
    store = prepare(settings, store)
    profile = settings.profile
    rows: list[dict] = []
    for objective in settings.objectives:
        pair = converted_pair(settings, objective, store, progress)
        rows.append(evaluation_row(settings, store, pair, "ann", "clean", progress=progress))
        if profile.autoattack:  # the ANN column: AutoAttack at ε3, whatever budgets the SNN rows sweep
            rows.append(evaluation_row(settings, store, pair, "ann", "AutoAttack", profile.budget("ε3"),
                                       progress=progress))
        rows.append(evaluation_row(settings, store, pair, "snn", "clean", progress=progress))
        for epsilon in profile.epsilons:
            rows.append(evaluation_row(settings, store, pair, "snn", "FGSM", epsilon, progress=progress))
            rows.append(evaluation_row(settings, store, pair, "snn", "PGD", epsilon, steps=profile.pgd_steps,
                                       progress=progress))
    return [{k: v for k, v in row.items() if k != "record"} for row in rows]


def table1_with_strongest(ours: list[dict], strongest: list[dict]) -> list[dict]:
    """Table 1's rows (:func:`table1_rows`) followed by each SNN's row under the strongest known attack
    (:func:`snnconv.audit.strongest_known_rows` for ``"table1"``) in Table 1's columns, every budget named by its
    value; join them with the paper by :func:`snnconv.tables.side_by_side_by_budget`."""
    beyond = [{**row, "ann_objective": row["model"], "model": "snn", "metric": "robust",
               "budget": budget_of(row["epsilon"])} for row in strongest]
    return [*ours, *beyond]


def vanilla_versus_ensemble_rows(
    settings: Settings, store: ArtifactStore | None = None, progress: bool = True
) -> list[dict]:
    """Tables B3/B4: ANN PGD²⁰ and SNN PGD²⁰ with the training surrogate only (vanilla) or the ensemble, at ε3."""
    store = prepare(settings, store)
    profile = settings.profile
    epsilon, steps = profile.budget("ε3"), profile.pgd_steps
    vanilla = (PAPER_ENSEMBLE[0].label,)  # the training surrogate, triangular γw = 1
    rows: list[dict] = []
    for objective in settings.objectives:
        pair = converted_pair(settings, objective, store, progress)
        rows.append(evaluation_row(settings, store, pair, "ann", "clean", progress=progress))
        rows.append(evaluation_row(settings, store, pair, "ann", "PGD", epsilon, steps=steps, progress=progress))
        rows.append(evaluation_row(settings, store, pair, "snn", "clean", progress=progress))
        for members, suffix in ((vanilla, "_vanilla"), ((), "_ensemble")):
            row = evaluation_row(settings, store, pair, "snn", "PGD", epsilon, steps=steps, members=members,
                                 progress=progress)
            rows.append({**row, "attack": row["attack"] + suffix})
    return [{k: v for k, v in row.items() if k != "record"} for row in rows]


#: Fig. 1's baseline ANNs: standard AT at ε1, ε2 and ε3; every SNN converted from them is finetuned at ε1.
BETA_SWEEP_OBJECTIVES = ("at", "at_eps2", "at_eps3")


def beta_sweep_rows(settings: Settings, betas: Any = None, store: ArtifactStore | None = None,
                    progress: bool = True) -> list[dict]:
    """Fig. 1: clean and ε3 ensemble PGD²⁰ accuracy of the SNNs converted from the AT-ε1, AT-ε2 and AT-ε3 ANNs and
    finetuned at ε1 with each β of Eq. 9 (Sec. 5.1), and of SNN-RAT as the reference point, on the same images."""
    store = prepare(settings, store)
    profile = settings.profile
    epsilon, steps = profile.budget("ε3"), profile.pgd_steps
    budget = budget_name(epsilon)
    rows: list[dict] = []

    def attacked(subject: Subject, **extra: Any) -> None:
        for attack in ("clean", "PGD"):
            clean = attack == "clean"
            record = evaluate(settings, store, subject, attack, 0.0 if clean else epsilon, 1 if clean else steps,
                              n_test=profile.n_test, progress=progress)
            rows.append(verdict_row(subject, "" if clean else f"PGD{steps}", 0.0 if clean else epsilon, record,
                             metric="clean" if clean else "robust", budget="" if clean else budget, **extra))

    for label, beta, snn in beta_sweep_subjects(settings, betas, store, progress):
        attacked(snn, ann_objective=label, beta=beta)
    attacked(end_to_end_subject(settings, "snn_rat", store, progress), ann_objective="SNN-RAT", beta=float("nan"))
    return rows


def beta_sweep_subjects(settings: Settings, betas: Any, store: ArtifactStore,
                        progress: bool) -> list[tuple[str, float, Subject]]:
    """Fig. 1's SNNs as ``(baseline ANN label, β, subject)``: converted from each AT ANN of
    :data:`BETA_SWEEP_OBJECTIVES` and finetuned at ε1 with each β of :func:`~snnconv.parameters.parse_betas`."""
    profile = settings.profile
    out = []
    for objective in BETA_SWEEP_OBJECTIVES:
        ann_cfg = ann_config(profile, objective, settings.seed)
        label = objective_label(objective)
        ann = _subject(label, "ann", ann_cfg, 0, ensure_ann, store, progress)
        for beta in parse_betas(betas, settings.profile):
            snn_cfg = snn_config(replace(profile, finetune_trade_off=beta), ann_cfg, settings.seed)
            out.append((label, beta, _subject(f"{label}, β={beta:g}", "snn", snn_cfg, profile.time_steps, ensure_snn,
                                              store, progress, (ann.id,))))
    return out


def ann_robustness_rows(
    settings: Settings, store: ArtifactStore | None = None, progress: bool = True
) -> list[dict]:
    """Table A1: every baseline ANN under FGSM, PGD¹⁰, PGD⁵⁰, APGD-CE (100 steps), Square (5000 queries)
    and AutoAttack, all at ε3. Only the ANNs are needed (AT-ε2/ε3 are never converted here)."""
    store = prepare(settings, store)
    profile = settings.profile
    epsilon = profile.budget("ε3")
    budget = budget_name(epsilon)
    rows: list[dict] = []
    for objective in settings.objectives:
        ann = baseline_ann(settings, objective, store, progress)
        for attack, steps in (("clean", 1), ("FGSM", 1), ("PGD", 10), ("PGD", 50), ("APGD-CE", 100),
                              ("Square", 5000), ("AutoAttack", 1)):
            clean = attack == "clean"
            record = evaluate(settings, store, ann, attack, 0.0 if clean else epsilon, steps, n_test=profile.n_test,
                              progress=progress)
            label = {"clean": "", "PGD": f"PGD{steps}"}.get(attack, attack)
            rows.append(verdict_row(ann, label, 0.0 if clean else epsilon, record,
                                    metric="clean" if clean else "robust", budget="" if clean else budget))
    return [{"ann_objective": row.pop("model"), **row} for row in rows]


def evaluation_images(settings: Settings, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` test images of the profile's data set and their labels, on the compute device."""
    images, labels = dataset(settings.profile.dataset, "test")
    return images[:n].to(device()), labels[:n].to(device())


def _without_attack(settings: Settings, subject: Subject, n_test: int) -> tuple[float, float]:
    """Share of the first ``n_test`` images whose input gradient (training surrogate) is exactly zero, and
    the accuracy (%) under uniform noise at ε3."""
    profile = settings.profile
    simulation, batch = Simulation(subject.time_steps), profile.attack_batch
    images, labels = evaluation_images(settings, n_test)
    norms = input_gradient_norms(subject.model, images, labels, simulation, batch)
    noise = random_noise_accuracy(subject.model, images, labels, profile.budget("ε3"), simulation,
                                  settings.seed)
    return float((norms == 0).float().mean()), noise


def surrogate_member_rows(
    settings: Settings, store: ArtifactStore | None = None, progress: bool = True
) -> list[dict]:
    """Table B2: ε3-FGSM accuracy of each SNN under each ensemble member alone, and under the ensemble."""
    store = prepare(settings, store)
    profile = settings.profile
    rows: list[dict] = []
    for objective in settings.objectives:
        pair = converted_pair(settings, objective, store, progress)
        clean = evaluation_row(settings, store, pair, "snn", "clean", progress=progress)
        each = evaluation_row(settings, store, pair, "snn", "FGSM", profile.budget("ε3"), per_member=True,
                              progress=progress)
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


def table2_rows(settings: Settings, store: ArtifactStore | None = None, progress: bool = True) -> list[dict]:
    """Table 2: SNN-RAT and the converted SNNs under the eight ensemble attacks at ε3."""
    store = prepare(settings, store)
    profile = settings.profile
    epsilon = profile.budget("ε3")
    rows = []
    for subject in table2_subjects(settings, store, progress):
        rows.append(verdict_row(subject, "", 0.0, evaluate(settings, store, subject, "clean", progress=progress),
                         metric="clean"))
        for label, attack, steps, step_size in TABLE2_ATTACKS:
            record = evaluate(settings, store, subject, attack, epsilon, steps or profile.apgd_steps, step_size,
                              progress=progress)
            rows.append(verdict_row(subject, label, epsilon, record, metric="robust"))
    return rows


def table2_subjects(settings: Settings, store: ArtifactStore, progress: bool) -> list[Subject]:
    """Table 2's models: SNN-RAT and the SNNs converted from the ``objectives`` ANNs."""
    return [end_to_end_subject(settings, "snn_rat", store, progress),
            *(converted(settings, o, store, progress)[1] for o in settings.objectives)]


def transfer_rows(settings: Settings, store: ArtifactStore | None = None, progress: bool = True,
                  resisted: str = "highest_loss") -> list[dict]:
    """Table B1: each converted SNN under white-box ensemble PGD²⁰ (WB) and under PGD²⁰ images crafted on a
    second SNN converted from the same ANN and finetuned with another seed (BB_SNN) or on the baseline ANN
    (BB_ANN), at ε1 and ε3. ``resisted`` is :func:`snnconv.attacks.transfer_images`' option: ``"clean"`` gives
    the authors' protocol."""
    parse_transfer_resisted(resisted)
    store = prepare(settings, store)
    profile = settings.profile
    rows = []
    for objective in settings.objectives:
        ann, snn = converted(settings, objective, store, progress)
        twin = twin_snn(settings, objective, store, progress)
        rows.append(verdict_row(snn, "clean", 0.0, evaluate(settings, store, snn, "clean", progress=progress),
                         setting="clean", budget=""))
        for budget in ("ε1", "ε3"):
            epsilon = profile.budget(budget)
            for setting, source in (("WB", None), ("BB_SNN", twin), ("BB_ANN", ann)):
                record = evaluate(settings, store, snn, "PGD", epsilon, profile.pgd_steps, source=source,
                                  progress=progress, transfer_resisted=resisted)
                rows.append(verdict_row(snn, f"PGD{profile.pgd_steps}", epsilon, record, setting=setting,
                                        budget=budget))
    return rows


def square_subjects(settings: Settings, store: ArtifactStore, progress: bool) -> list[Subject]:
    """Fig. 4's models: the AT-ε1 baseline ANN, the vanilla SNN, SNN-RAT and our SNN from AT-ε1."""
    ann, snn = converted(settings, "at", store, progress)
    ann = replace(ann, label="ANN (AT-eps1)")
    vanilla, rat = (end_to_end_subject(settings, m, store, progress) for m in ("vanilla", "snn_rat"))
    return [ann, vanilla, rat, replace(snn, label="Ours (AT-eps1)")]


def efficiency_subjects(settings: Settings, store: ArtifactStore, progress: bool) -> list[Subject]:
    """Fig. 3's models: our SNN from AT-ε1, SNN-RAT and the vanilla SNN."""
    _, vanilla, rat, ours = square_subjects(settings, store, progress)
    return [ours, rat, vanilla]


def spike_count_rows(settings: Settings, store: ArtifactStore | None = None, progress: bool = True) -> list[dict]:
    """Fig. 3: the spikes each of :func:`efficiency_subjects` emits per test image (``counts``, on the profile's
    ``n_test`` images), their mean, the network's neuron count and the active share (Sec. 5.3)."""
    store = prepare(settings, store)
    profile = settings.profile
    subjects = efficiency_subjects(settings, store, progress)
    if store.planning:  # counted on the spot from the models, never stored
        return []
    images, _ = evaluation_images(settings, profile.n_test)
    rows = []
    for subject in subjects:
        counts = spike_counts(subject.model, images, subject.time_steps, profile.attack_batch)
        neurons = subject.model.neuron_count(tuple(images.shape[1:]))
        rows.append({"model": subject.label, "n": len(counts), "neurons": neurons, "time_steps": subject.time_steps,
                     "mean spikes": float(counts.double().mean()),
                     "active (%)": active_share(counts, neurons, subject.time_steps), "counts": counts.tolist()})
    return rows


def corruption_subjects(settings: Settings, store: ArtifactStore, progress: bool) -> list[Subject]:
    """Tables B6/B7's models (Suppl. B.4): the vanilla SNN, SNN-RAT and our SNN from AT-ε1."""
    ours, rat, vanilla = efficiency_subjects(settings, store, progress)
    return [vanilla, rat, ours]


def corruption_rows(settings: Settings, store: ArtifactStore | None = None, progress: bool = True) -> list[dict]:
    """Tables B6/B7 (Suppl. B.4): each of :func:`corruption_subjects` on the profile's first ``n_test`` test
    images, clean and under each common corruption at each severity (Hendrycks & Dietterich 2019); one row per
    model × condition, with the per-image verdicts (``robust``: classified correctly) for paired comparisons."""
    store = prepare(settings, store)
    n_test = settings.profile.n_test
    conditions = [("clean", 0), *((c, s) for c in CORRUPTIONS for s in SEVERITIES)]
    rows = []
    for subject in corruption_subjects(settings, store, progress):
        bar = tqdm(conditions, desc=f"corruptions on {subject.label}", disable=not progress or store.planning,
                   leave=False)
        for corruption, severity in bar:
            if corruption == "clean":
                record = evaluate(settings, store, subject, "clean", n_test=n_test, progress=progress)
            else:
                record = evaluate(settings, store, subject, "corruption", n_test=n_test, progress=progress,
                                  corruption=corruption, severity=severity)
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


def ablation_subjects(settings: Settings, store: ArtifactStore, progress: bool,
                      ablations: tuple[Ablation, ...] = ABLATIONS) -> list[tuple[Ablation, Subject]]:
    """Table B5's models, one per row of ``ablations`` (shared with Table 1 and Fig. 4 where the configs coincide:
    ours, the natural-ANN SNN, the vanilla SNN)."""
    profile = settings.profile
    out = []
    for ablation in ablations:
        config = ablation_config(profile, ablation, settings.seed)
        label = " / ".join(ablation.paper_row.values())
        if isinstance(config, EndToEndConfig):
            subject = _subject(label, "end_to_end", config, config.time_steps, ensure_end_to_end, store, progress)
        else:
            ann = _subject(objective_label(ablation.init), "ann",
                           config.ann, 0, ensure_ann, store, progress)
            subject = _subject(label, "snn", config, config.time_steps, ensure_snn, store, progress, (ann.id,))
        out.append((ablation, subject))
    return out


def ablation_rows(settings: Settings, store: ArtifactStore | None = None, progress: bool = True,
                  ablations: tuple[Ablation, ...] = ABLATIONS) -> list[dict]:
    """Table B5: each ablation's SNN (by default all ten rows of :data:`~snnconv.config.ABLATIONS`) clean and under
    the ε3 ensemble attacks of :data:`ABLATION_ATTACKS`, on the profile's ``n_test`` images; each row carries the
    ablation's cells as the paper prints them."""
    store = prepare(settings, store)
    profile = settings.profile
    epsilon = profile.budget("ε3")
    rows = []
    for ablation, subject in ablation_subjects(settings, store, progress, ablations):
        cells = ablation.paper_row
        record = evaluate(settings, store, subject, "clean", n_test=profile.n_test, progress=progress)
        rows.append(verdict_row(subject, "", 0.0, record, metric="clean", **cells))
        for attack in ABLATION_ATTACKS:
            steps = {"FGSM": 1, "PGD": profile.pgd_steps}.get(attack, profile.apgd_steps)
            record = evaluate(settings, store, subject, attack, epsilon, steps, n_test=profile.n_test,
                              progress=progress)
            rows.append(verdict_row(subject, paper_attack_name(attack, steps), epsilon, record, metric="robust",
                                    **cells))
    return rows


# ------------------------------------------------------------------------ Fig. 2: LIF neurons, latency, BNTT

#: The ensemble on BNTT (Suppl. A.4): the paper's members without the conversion-based approximation, which has
#: no ANN to run for a network trained from scratch with batch norm through time.
BNTT_MEMBERS: tuple[str, ...] = tuple(m.label for m in PAPER_ENSEMBLE if not isinstance(m, ReLUApproximation))


def lif_latency_subjects(settings: Settings, store: ArtifactStore, progress: bool,
                         neurons: tuple[str, ...] = ("IF", "LIF")) -> list[tuple[dict, Subject]]:
    """Fig. 2b's ten models (Sec. 5.2), each with its cells as the paper prints them: the vanilla, RFGSM-trained and
    SNN-RAT end-to-end SNNs and ours with IF neurons at the profile's T; the vanilla SNN and BNTT (Poisson input)
    with LIF neurons at the longer T; RFGSM, SNN-RAT and ours with LIF neurons (τ = ``lif_leak``, soft reset) at
    the profile's T, and ours with LIF neurons at the longer T. Only the models with a neuron in ``neurons`` are
    trained (a BNTT model at the longer T alone costs most of an hour on one CPU thread)."""
    profile, seed = settings.profile, settings.seed
    short, long = profile.time_steps, profile.long_time_steps
    lif = {"leak": profile.lif_leak, "soft_reset": True}

    def cells(method: str, neuron: str, time_steps: int, adversarial: bool, encoding: str = "Direct") -> dict:
        return {"method": method, "input_encoding": encoding, "neuron": neuron, "T": str(time_steps),
                "adversarial_training": "yes" if adversarial else "no"}

    def end_to_end(method: str, label: str, time_steps: int, **options: Any) -> Subject:
        return end_to_end_subject(settings, method, store, progress, label, time_steps=time_steps, **options)

    ann, ours = converted(settings, "at", store, progress)

    def ours_lif(time_steps: int) -> Subject:
        config = replace(snn_config(profile, ann_config(profile, "at", seed), seed), time_steps=time_steps, **lif)
        return _subject(f"Ours (AT-eps1), LIF, T={time_steps}", "snn", config, time_steps, ensure_snn, store,
                        progress, (ann.id,))

    models: list[tuple[dict, Callable[[], Subject]]] = [
        (cells("Vanilla", "IF", short, False), lambda: end_to_end("vanilla", f"Vanilla, IF, T={short}", short)),
        (cells("RFGSM", "IF", short, True), lambda: end_to_end("rfgsm", f"RFGSM, IF, T={short}", short)),
        (cells("SNN-RAT", "IF", short, True), lambda: end_to_end("snn_rat", f"SNN-RAT, IF, T={short}", short)),
        (cells("Ours (AT-eps1)", "IF", short, True), lambda: replace(ours, label=f"Ours (AT-eps1), IF, T={short}")),
        (cells("Vanilla", "LIF", long, False),
         lambda: end_to_end("vanilla", f"Vanilla, LIF, T={long}", long, **lif)),
        (cells("BNTT", "LIF", long, False, "Poisson"), lambda: end_to_end("bntt", f"BNTT, LIF, T={long}", long)),
        (cells("RFGSM", "LIF", short, True), lambda: end_to_end("rfgsm", f"RFGSM, LIF, T={short}", short, **lif)),
        (cells("SNN-RAT", "LIF", short, True),
         lambda: end_to_end("snn_rat", f"SNN-RAT, LIF, T={short}", short, **lif)),
        (cells("Ours (AT-eps1)", "LIF", short, True), lambda: ours_lif(short)),
        (cells("Ours (AT-eps1)", "LIF", long, True), lambda: ours_lif(long)),
    ]
    return [(model_cells, subject()) for model_cells, subject in models if model_cells["neuron"] in neurons]


def fig2b_epsilon(profile: Profile) -> float:
    """Fig. 2b's budget: the paper's ε2 (4/255), whatever ``epsilons`` the profile evaluates."""
    return profile.budget("ε2")


def lif_latency_rows(settings: Settings, store: ArtifactStore | None = None, progress: bool = True,
                     neurons: tuple[str, ...] = ("IF", "LIF")) -> list[dict]:
    """Fig. 2 (Sec. 5.2): each of :func:`lif_latency_subjects` with its neuron in ``neurons`` clean and under the
    ensemble FGSM and PGD at ε2 (Fig. 2b), and the LIF models (Fig. 2a's curves) also under PGD at the other
    budgets; on the adaptive evaluation's first ``n_test_extended`` images. BNTT is attacked with
    :data:`BNTT_MEMBERS`, its Poisson encoding passed straight through and ``eot_draws`` draws per attacker forward
    (Suppl. A.4)."""
    store = prepare(settings, store)
    profile = settings.profile
    middle = fig2b_epsilon(profile)
    rows = []
    for cells, subject in lif_latency_subjects(settings, store, progress, neurons):
        bntt = cells["method"] == "BNTT"
        options = {"members": BNTT_MEMBERS, "eot": profile.eot_draws} if bntt else {}
        record = evaluate(settings, store, subject, "clean", progress=progress)
        rows.append(verdict_row(subject, "", 0.0, record, metric="clean", **cells))
        # PGD at ε2 for every model (Fig. 2b); the LIF models' curves (Fig. 2a) also at every evaluated budget
        pgd = sorted({*profile.epsilons, middle}) if cells["neuron"] == "LIF" else [middle]
        attacks = [("FGSM", middle), *(("PGD", e) for e in pgd)]
        for attack, epsilon in attacks:
            steps = profile.pgd_steps if attack == "PGD" else 1
            record = evaluate(settings, store, subject, attack, epsilon, steps, progress=progress, **options)
            rows.append(verdict_row(subject, paper_attack_name(attack, steps), epsilon, record, metric="robust",
                                    **cells))
    return rows


def square_rows(settings: Settings, store: ArtifactStore | None = None, progress: bool = True) -> list[dict]:
    """Fig. 4: Square-attack accuracy at every query budget of the profile, from one run per model at ε3."""
    store = prepare(settings, store)
    profile = settings.profile
    rows = []
    for subject in square_subjects(settings, store, progress):
        record = evaluate(settings, store, subject, "Square", profile.budget("ε3"), max(profile.square_queries),
                          progress=progress)
        fooled_at = torch.tensor(record["fooled_at"])
        for queries in profile.square_queries:
            robust = (fooled_at < 0) | (fooled_at > queries)  # not yet fooled after this many queries
            rows.append(verdict_row(subject, "Square", profile.budget("ε3"),
                             {**record, "correct": int(robust.sum()), "robust": robust.tolist()}, queries=queries))
    return rows


def diagnostic_rows(
    settings: Settings, store: ArtifactStore, subject: Subject, transfer_from: Subject, progress: bool = True
) -> list[dict]:
    """Every gradient-masking check of :func:`snnconv.diagnostics.diagnose` for ``subject``, from real attack runs
    on the extended test set: ensemble FGSM and PGD at ε3 (PGD also at each evaluated ε, in ascending order, for the
    ordering in ε), PGD at the unbounded budget, uniform noise at ε3, input gradients, PGD images crafted on
    ``transfer_from``, and the Square attack, all at ε3."""
    profile = settings.profile
    epsilon, steps = profile.budget("ε3"), profile.pgd_steps

    def accuracy(attack: str, budget: float = epsilon, count: int = steps, source: Subject | None = None) -> float:
        return accuracy_of(evaluate(settings, store, subject, attack, budget, count, source=source, progress=progress))

    # Computed on the spot from the model, never stored: a plan only needs the model to exist.
    zero_fraction, noise = (0.0, 0.0) if store.planning else _without_attack(settings, subject,
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


def _diagnostics(settings: Settings, store: ArtifactStore, checks: list[tuple[Subject, Subject]],
                 progress: bool) -> list[dict]:
    return [row for subject, source in checks for row in diagnostic_rows(settings, store, subject, source, progress)]


def table2_diagnostics(settings: Settings, store: ArtifactStore | None = None, progress: bool = True):
    """Diagnostics for Table 2's models; transfer images come from the AT-ε1 ANN (SNN-RAT) or the SNN's own ANN."""
    store = prepare(settings, store)
    at_ann = baseline_ann(settings, "at", store, progress)
    checks = [(end_to_end_subject(settings, "snn_rat", store, progress), at_ann)]
    for objective in settings.objectives:
        ann, snn = converted(settings, objective, store, progress)
        checks.append((snn, ann))
    return _diagnostics(settings, store, checks, progress)


def converted_snn_diagnostics(settings: Settings, store: ArtifactStore | None = None, progress: bool = True):
    """Diagnostics for the converted SNNs of Tables 1, B1, B2 and B3/B4 (transfer images from each SNN's own
    baseline ANN)."""
    store = prepare(settings, store)
    pairs = [converted(settings, o, store, progress) for o in settings.objectives]
    return _diagnostics(settings, store, [(snn, ann) for ann, snn in pairs], progress)


def square_diagnostics(settings: Settings, store: ArtifactStore | None = None, progress: bool = True):
    """Diagnostics for Fig. 4's models. Transfer sources: for the ANN, our SNN converted from it (ensemble
    PGD images); for the vanilla SNN, the natural ANN; for SNN-RAT and ours, the AT-ε1 ANN."""
    store = prepare(settings, store)
    ann, vanilla, rat, ours = square_subjects(settings, store, progress)
    natural_ann = baseline_ann(settings, "natural", store, progress)
    checks = [(ann, ours), (vanilla, natural_ann), (rat, ann), (ours, ann)]
    return _diagnostics(settings, store, checks, progress)


def ann_diagnostics(settings: Settings, store: ArtifactStore | None = None, progress: bool = True):
    """Diagnostics for the baseline ANNs of Table A1. Transfer images come from another baseline ANN: the
    natural ANN's for robust ANNs, the AT-ε1 ANN's for the natural one."""
    store = prepare(settings, store)
    checks = [(baseline_ann(settings, o, store, progress),
               baseline_ann(settings, "at" if o == "natural" else "natural", store, progress))
              for o in settings.objectives]
    return _diagnostics(settings, store, checks, progress)


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
