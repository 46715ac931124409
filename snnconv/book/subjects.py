"""The models a page evaluates, its *subjects*, and the one door through which a page gets a verdict.

A :class:`Subject` names a model in the paper's words with its store key; it is loaded (or trained) only when
an attack needs it. The functions ending in ``_subjects`` are the catalogue: which models each page evaluates, shared
through the store so that pages that share a model share its artifacts. :func:`evaluate` is the door: one attack
on one subject, loaded from the store or computed, planned when the store is a plan (:mod:`snnconv.storage.plan`).
Each takes the run context (:class:`snnconv.book.run.Run`: settings, store, progress bars) first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import torch

from snnconv.attacks import paper_attack_name
from snnconv.book.run import Run
from snnconv.evaluation.diagnostics import input_gradient_norms, random_noise_accuracy
from snnconv.experiment.config import (
    END_TO_END,
    EndToEndConfig,
    EvaluationConfig,
    budget_name,
    epsilon_label,
    objective_label,
)
from snnconv.experiment.parameters import Settings, parse_betas
from snnconv.experiment.profiles import ABLATIONS, Ablation, ablation_config, ann_config, end_to_end_config, snn_config
from snnconv.method.models import Simulation, SpikingNetwork
from snnconv.storage.pipeline import (
    dataset,
    device,
    ensure_ann,
    ensure_end_to_end,
    ensure_evaluation,
    ensure_snn,
    members_by_label,
)
from snnconv.storage.store import ArtifactStore, artifact_key


@dataclass(frozen=True)
class Subject:
    """A model under evaluation: its name in the paper's words, its store key, T (0 = ANN) and how to get it.

    The network is loaded (or trained) on first use of :attr:`model`, so a page whose verdicts are all stored
    never touches a model, and planning (:mod:`snnconv.storage.plan`) touches none at all.
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
        """``kind/key``: how a plan (:mod:`snnconv.storage.plan`) names the artifact."""
        return f"{self.kind}/{self.key}"


def _subject(run: Run, label: str, kind: str, config: Any, time_steps: int, ensure: Callable,
             after: tuple[str, ...] = ()) -> Subject:
    store, progress = run.store, run.progress
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


def converted_pair(run: Run, objective: str) -> ConvertedPair:
    """The ANN for ``objective`` and its SNN, as Table 1 trains them (shared through the store)."""
    settings = run.settings
    ann_cfg = ann_config(settings.profile, objective, settings.seed)
    snn_cfg = snn_config(settings.profile, ann_cfg, settings.seed)
    label = objective_label(objective)
    ann = _subject(run, label, "ann", ann_cfg, 0, ensure_ann)
    snn = _subject(run, label, "snn", snn_cfg, settings.profile.time_steps, ensure_snn, (f"ann/{ann.key}",))
    return ConvertedPair(label, ann, snn)


def converted(run: Run, objective: str) -> tuple[Subject, Subject]:
    """The baseline ANN for ``objective`` and the SNN converted from it, as subjects."""
    pair = converted_pair(run, objective)
    return pair.ann, pair.snn


def baseline_ann(run: Run, objective: str) -> Subject:
    """The baseline ANN for ``objective`` alone (no conversion: AT-ε2/ε3 are only evaluated as ANNs)."""
    config = ann_config(run.settings.profile, objective, run.settings.seed)
    return _subject(run, objective_label(objective), "ann", config, 0, ensure_ann)


def end_to_end_subject(run: Run, method: str, label: str | None = None, **options: Any) -> Subject:
    """An end-to-end trained SNN as the profile trains it; ``options`` (``time_steps``, ``leak``, ``soft_reset``,
    ``trainable_threshold``) go to :func:`~snnconv.experiment.profiles.end_to_end_config`, e.g. for Fig. 2's LIF
    variants."""
    config = end_to_end_config(run.settings.profile, method, run.settings.seed, **options)
    return _subject(run, label or END_TO_END[method], "end_to_end", config, config.time_steps, ensure_end_to_end)


def twin_snn(run: Run, objective: str) -> Subject:
    """A second SNN from the same baseline ANN, calibrated and finetuned with another seed (the authors'
    BB_SNN source in Table B1)."""
    settings = run.settings
    profile = settings.profile
    ann_cfg = ann_config(profile, objective, settings.seed)
    config = snn_config(profile, ann_cfg, settings.seed + 1)
    return _subject(run, f"{objective_label(objective)} (seed {settings.seed + 1})", "snn", config,
                    profile.time_steps, ensure_snn, (f"ann/{artifact_key('ann', ann_cfg)}",))


def evaluate(
    run: Run, subject: Subject, attack: str, epsilon: float = 0.0, steps: int = 1, step_size: float | None = None,
    source: Subject | None = None, n_test: int | None = None, members: tuple[str, ...] = (),
    per_member: bool = False, transfer_resisted: str = "highest_loss", corruption: str = "", severity: int = 0,
    eot: int = 1,
) -> dict:
    """One attack (budget ``epsilon`` in [0, 1] pixel units) on ``subject``; returns its stored record.

    ``n_test`` defaults to the extended test set of the adaptive evaluation; ``members`` are labels (() = all 19).

    With ``source``, the attack runs on the source model and its adversarial images are replayed on
    ``subject`` (a transfer attack). ``attack="corruption"`` with ``corruption`` and ``severity`` classifies the
    test images under that common corruption instead (Tables B6/B7).
    """
    settings, store, progress = run.settings, run.store, run.progress
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
    run: Run, pair: ConvertedPair, model_kind: str, attack: str, epsilon: float = 0.0, budget: str | None = None,
    steps: int = 1, members: tuple[str, ...] = (), per_member: bool = False,
) -> dict:
    """One attack on the ANN (``model_kind="ann"``) or SNN of ``pair``, as a table row with its record.

    The row's ``budget`` is named by ``epsilon``'s value (:func:`~snnconv.experiment.config.budget_name`; ``""`` when
    clean); ``budget``, if given, must be that name (a name by position would join the row with another budget's cell).
    """
    named = budget_name(epsilon) if attack != "clean" else ""
    if budget is not None and budget != named:
        raise ValueError(f"budget={budget!r} does not name ε={epsilon_label(epsilon)}, which is {named!r}: "
                         "leave budget out, it is named by its value.")
    budget = named
    subject = pair.ann if model_kind == "ann" else pair.snn
    record = evaluate(run, subject, attack, epsilon, steps, members=members, per_member=per_member,
                      n_test=run.settings.profile.n_test)
    return dict(ann_objective=pair.label, model=model_kind, metric="clean" if attack == "clean" else "robust",
                attack=paper_attack_name(attack, steps),
                epsilon=epsilon_label(epsilon) if attack != "clean" else "", budget=budget,
                correct=record["correct"], n=record["n"], robust=record["robust"], seconds=record["seconds"],
                commit=record.get("commit", "not recorded"), record=record)


def prepare(run: Run) -> Run:
    """``run`` ready for work: its thread count set, its store opened (the default store where it has none) and
    the data set checked, before any work starts (a plan needs no data)."""
    torch.set_num_threads(run.settings.threads)
    store = run.store or ArtifactStore()
    if not store.planning:
        dataset(run.settings.profile.dataset, "test")  # a missing data set fails here, before any training
    return replace(run, store=store)


def planned_record(config: EvaluationConfig) -> dict:
    """What a plan sees in place of a verdict not yet computed: every image robust (so the plan goes on)."""
    n = config.n_test
    members = [m.label for m in members_by_label(config.members)] if config.per_member else []
    return {"correct": n, "clean_correct": n, "n": n, "robust": [True] * n, "fooled_by": [""] * n,
            "member_correct": dict.fromkeys(members, n), "member_robust": {m: [True] * n for m in members},
            "fooled_at": [-1] * n, "seconds": 0.0, "commit": "planned"}


#: Fig. 1's baseline ANNs: standard AT at ε1, ε2 and ε3; every SNN converted from them is finetuned at ε1.
BETA_SWEEP_OBJECTIVES = ("at", "at_eps2", "at_eps3")


def beta_sweep_subjects(run: Run, betas: Any) -> list[tuple[str, float, Subject]]:
    """Fig. 1's SNNs as ``(baseline ANN label, β, subject)``: converted from each AT ANN of
    :data:`BETA_SWEEP_OBJECTIVES` and finetuned at ε1 with each β of
    :func:`~snnconv.experiment.parameters.parse_betas`."""
    settings = run.settings
    profile = settings.profile
    out = []
    for objective in BETA_SWEEP_OBJECTIVES:
        ann_cfg = ann_config(profile, objective, settings.seed)
        label = objective_label(objective)
        ann = _subject(run, label, "ann", ann_cfg, 0, ensure_ann)
        for beta in parse_betas(betas, settings.profile):
            snn_cfg = snn_config(replace(profile, finetune_trade_off=beta), ann_cfg, settings.seed)
            out.append((label, beta, _subject(run, f"{label}, β={beta:g}", "snn", snn_cfg, profile.time_steps,
                                              ensure_snn, (ann.id,))))
    return out


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


def table2_subjects(run: Run) -> list[Subject]:
    """Table 2's models: SNN-RAT and the SNNs converted from the ``objectives`` ANNs."""
    return [end_to_end_subject(run, "snn_rat"), *(converted(run, o)[1] for o in run.settings.objectives)]


def square_subjects(run: Run) -> list[Subject]:
    """Fig. 4's models: the AT-ε1 baseline ANN, the vanilla SNN, SNN-RAT and our SNN from AT-ε1."""
    ann, snn = converted(run, "at")
    ann = replace(ann, label="ANN (AT-eps1)")
    vanilla, rat = (end_to_end_subject(run, m) for m in ("vanilla", "snn_rat"))
    return [ann, vanilla, rat, replace(snn, label="Ours (AT-eps1)")]


def efficiency_subjects(run: Run) -> list[Subject]:
    """Fig. 3's models: our SNN from AT-ε1, SNN-RAT and the vanilla SNN."""
    _, vanilla, rat, ours = square_subjects(run)
    return [ours, rat, vanilla]


def corruption_subjects(run: Run) -> list[Subject]:
    """Tables B6/B7's models (Suppl. B.4): the vanilla SNN, SNN-RAT and our SNN from AT-ε1."""
    ours, rat, vanilla = efficiency_subjects(run)
    return [vanilla, rat, ours]


def ablation_subjects(run: Run, ablations: tuple[Ablation, ...] = ABLATIONS) -> list[tuple[Ablation, Subject]]:
    """Table B5's models, one per row of ``ablations`` (shared with Table 1 and Fig. 4 where the configs coincide:
    ours, the natural-ANN SNN, the vanilla SNN)."""
    profile = run.settings.profile
    out = []
    for ablation in ablations:
        config = ablation_config(profile, ablation, run.settings.seed)
        label = " / ".join(ablation.paper_row.values())
        if isinstance(config, EndToEndConfig):
            subject = _subject(run, label, "end_to_end", config, config.time_steps, ensure_end_to_end)
        else:
            ann = _subject(run, objective_label(ablation.init), "ann", config.ann, 0, ensure_ann)
            subject = _subject(run, label, "snn", config, config.time_steps, ensure_snn, (ann.id,))
        out.append((ablation, subject))
    return out


def lif_latency_subjects(run: Run, neurons: tuple[str, ...] = ("IF", "LIF")) -> list[tuple[dict, Subject]]:
    """Fig. 2b's ten models (Sec. 5.2), each with its cells as the paper prints them: the vanilla, RFGSM-trained and
    SNN-RAT end-to-end SNNs and ours with IF neurons at the profile's T; the vanilla SNN and BNTT (Poisson input)
    with LIF neurons at the longer T; RFGSM, SNN-RAT and ours with LIF neurons (τ = ``lif_leak``, soft reset) at
    the profile's T, and ours with LIF neurons at the longer T. Only the models with a neuron in ``neurons`` are
    trained (a BNTT model at the longer T alone costs most of an hour on one CPU thread)."""
    profile, seed = run.settings.profile, run.settings.seed
    short, long = profile.time_steps, profile.long_time_steps
    lif = {"leak": profile.lif_leak, "soft_reset": True}

    def cells(method: str, neuron: str, time_steps: int, adversarial: bool, encoding: str = "Direct") -> dict:
        return {"method": method, "input_encoding": encoding, "neuron": neuron, "T": str(time_steps),
                "adversarial_training": "yes" if adversarial else "no"}

    def end_to_end(method: str, label: str, time_steps: int, **options: Any) -> Subject:
        return end_to_end_subject(run, method, label, time_steps=time_steps, **options)

    ann, ours = converted(run, "at")

    def ours_lif(time_steps: int) -> Subject:
        config = replace(snn_config(profile, ann_config(profile, "at", seed), seed), time_steps=time_steps, **lif)
        return _subject(run, f"Ours (AT-eps1), LIF, T={time_steps}", "snn", config, time_steps, ensure_snn,
                        (ann.id,))

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
