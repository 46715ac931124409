"""Load or compute: every model and attack verdict a page needs, from the store or freshly computed.

Data flows one way: config → data → ANN → convert → finetune → evaluate. Each ``ensure_*`` function takes a
config (:mod:`snnconv.experiment.config`), returns the artifact stored under its key (:mod:`snnconv.storage.store`)
when it exists, and otherwise computes it — training with a resumable checkpoint, with progress bars — and stores
it with a record of the commit, device and seconds it took. The rows each result page shows are built
from these artifacts in :mod:`snnconv.book.results`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import cache
from typing import Any

import torch

from snnconv.attacks import (
    AttackSpec,
    AutoAttackEvaluation,
    CleanEvaluation,
    CorruptionEvaluation,
    EnsembleEvaluation,
    Evaluation,
    TransferEvaluation,
)
from snnconv.datasets.data import DATASETS, load
from snnconv.experiment.config import (
    END_TO_END,
    OBJECTIVE_LABELS,
    ANNConfig,
    EndToEndConfig,
    EvaluationConfig,
    SNNConfig,
)
from snnconv.foundations import paths
from snnconv.foundations.provenance import source_commit
from snnconv.method.bntt import build_bntt
from snnconv.method.convert import convert
from snnconv.method.models import Simulation, SpikingNetwork, build
from snnconv.method.surrogates import (
    PAPER_ENSEMBLE,
    STRONGER_MEMBERS,
    THRESHOLD_SCALED,
    GradientMode,
    HybridRateTemporal,
)
from snnconv.storage.store import ArtifactStore, artifact_key, plain
from snnconv.training.objectives import (
    MART,
    TRADES,
    AdversarialTraining,
    Natural,
    RandomStepAdversarialTraining,
    RobustFinetuning,
)
from snnconv.training.train import ParsevalRetraction, fit


def device() -> torch.device:
    """The GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@cache
def dataset(name: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images, labels)`` of a data set split, loaded once per process."""
    return load(name, split, paths.data_root())


def training_data(name: str, subset: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The training set, or a seeded random subset of ``subset`` images."""
    images, labels = dataset(name, "train")
    if subset is None or subset >= len(images):
        return images, labels
    index = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:subset]
    return images[index], labels[index]


def _record(config: Any, started: float, **extra: Any) -> dict:
    # The thread count is provenance, not a key: on a CPU, 1 and 2 torch threads sum a layer's gradient in another
    # order, so a model trained with either differs in the last bits and then, epoch by epoch, in its accuracy.
    return {"config": plain(config), "seconds": round(time.time() - started, 1), "device": str(device()),
            "threads": torch.get_num_threads(), "commit": source_commit(), **extra}


def ann_objective(config: ANNConfig) -> Callable:
    """The baseline ANN's training loss (Eqs. 4–6) as a callable ``(model, images, labels) -> loss``."""
    if config.objective == "natural":
        return Natural()
    if config.objective == "at":
        return AdversarialTraining(config.epsilon, config.steps)
    if config.objective == "trades":
        return TRADES(config.epsilon, config.trade_off, config.steps)
    return MART(config.epsilon, config.trade_off, config.steps)


def snn_simulation(config: SNNConfig) -> Simulation:
    """How the finetuned SNN of ``config`` runs: T = ``time_steps`` with its readout, the training surrogate."""
    return Simulation(config.time_steps, readout=config.readout)


def snn_objective(config: SNNConfig) -> RobustFinetuning:
    """The SNN's finetuning loss (Eqs. 9–11, or a Table B5 ablation of it)."""
    return RobustFinetuning(config.epsilon, config.step, config.trade_off, snn_simulation(config), config.inner_loss,
                            config.outer)


def ensure_ann(config: ANNConfig, store: ArtifactStore, progress: bool = True) -> SpikingNetwork:
    """The trained baseline ANN for ``config`` (Eqs. 4–6): loaded from the store, or trained and stored."""
    key = artifact_key("ann", config)
    torch.manual_seed(config.seed)  # the initialization is part of what the config determines
    model = build(config.arch, config.dataset, config.bias).to(device())
    state = store.load_weights("ann", key)
    if state is None:
        started = time.time()
        images, labels = training_data(config.dataset, config.train_subset, config.seed)
        history = fit(model, ann_objective(config), images, labels, config.schedule, DATASETS[config.dataset],
                      config.seed, store.checkpoint("ann", key),
                      f"ANN {OBJECTIVE_LABELS[config.objective]}", progress, cutout=config.cutout)
        store.save_weights("ann", key, model.state_dict(), _record(config, started, history=history))
        state = model.state_dict()
    model.load_state_dict(state)
    return model.eval()


def calibration_batches(config: SNNConfig) -> list[torch.Tensor]:
    """A seeded sample of training batches for threshold calibration (no augmentation)."""
    images, _ = dataset(config.ann.dataset, "train")
    settings = config.calibration
    generator = torch.Generator().manual_seed(config.seed)
    index = torch.randperm(len(images), generator=generator)[: settings.batches * settings.batch_size]
    return [images[chunk].to(device()) for chunk in index.split(settings.batch_size)]


def ensure_snn(config: SNNConfig, store: ArtifactStore, progress: bool = True) -> SpikingNetwork:
    """The converted (Alg. 1 l.3–16) and robustly finetuned (l.17–28, Eqs. 9–10) SNN for ``config``."""
    key = artifact_key("snn", config)
    model = build(config.ann.arch, config.ann.dataset, config.ann.bias, config.leak, config.soft_reset).to(device())
    for neuron in model.neurons:
        neuron.threshold.requires_grad_(config.trainable_threshold)  # fixed after calibration (Table B5)
    state = store.load_weights("snn", key)
    if state is None:
        ann = ensure_ann(config.ann, store, progress)
        started = time.time()  # the baseline ANN's cost is in its own record, named in this one's inputs
        thresholds = convert(model, ann.state_dict(), calibration_batches(config), config.calibration, progress)
        objective = snn_objective(config)
        images, labels = training_data(config.ann.dataset, config.train_subset, config.seed)
        history = fit(model, objective, images, labels, config.schedule, DATASETS[config.ann.dataset],
                      config.seed, store.checkpoint("snn", key),
                      f"SNN from {OBJECTIVE_LABELS[config.ann.objective]}", progress)
        record = _record(config, started, inputs=store.inputs(artifact_key("ann", config.ann)), history=history,
                         calibrated_thresholds=thresholds, final_thresholds=[n.threshold.item() for n in model.neurons])
        store.save_weights("snn", key, model.state_dict(), record)
        state = model.state_dict()
    model.load_state_dict(state)
    return model.eval()


def ensure_end_to_end(config: EndToEndConfig, store: ArtifactStore, progress: bool = True) -> SpikingNetwork:
    """The end-to-end trained baseline SNN for ``config``: loaded from the store, or trained and stored."""
    key = artifact_key("end_to_end", config)
    torch.manual_seed(config.seed)
    model = (build_bntt(config.dataset, config.time_steps, config.arch) if config.method == "bntt" else
             build(config.arch, config.dataset, config.bias, config.leak, config.soft_reset)).to(device())
    for neuron in model.neurons:
        neuron.threshold.requires_grad_(config.trainable_threshold)  # V_th = 1 fixed, as in SNN-RAT
    state = store.load_weights("end_to_end", key)
    if state is None:
        started = time.time()
        simulation = Simulation(config.time_steps, readout=config.readout)
        after_step = ParsevalRetraction(config.retraction) if config.retraction else None
        objective: Callable
        if config.method in ("snn_rat", "rfgsm"):
            objective = RandomStepAdversarialTraining(config.epsilon, config.step, config.clean_weight, simulation)
        elif config.method == "robust_finetuning":
            objective = RobustFinetuning(config.epsilon, config.step, config.trade_off, simulation)
        else:
            objective = Natural(simulation)
        images, labels = training_data(config.dataset, config.train_subset, config.seed)
        history = fit(model, objective, images, labels, config.schedule, DATASETS[config.dataset], config.seed,
                      store.checkpoint("end_to_end", key), END_TO_END[config.method], progress, after_step)
        store.save_weights("end_to_end", key, model.state_dict(), _record(config, started, history=history))
        state = model.state_dict()
    model.load_state_dict(state)
    return model.eval()


def members_by_label(labels: tuple[str, ...]) -> tuple[GradientMode, ...]:
    """The members named by ``labels`` (their :attr:`label`): the paper's 19, the stronger members published
    after it and the threshold-scaled surrogates; () gives the paper's 19."""
    if not labels:
        return PAPER_ENSEMBLE
    known = {m.label: m for m in (*PAPER_ENSEMBLE, *STRONGER_MEMBERS, *THRESHOLD_SCALED)}
    for label in labels:  # HART at any width, e.g. "HART(γ=0.5)" from the per-model width search
        width = re.fullmatch(r"HART\(γ=([0-9.]+)\)", label)
        if width and float(width.group(1)) > 0:
            known[label] = HybridRateTemporal(float(width.group(1)))
    unknown = [label for label in labels if label not in known]
    if unknown:
        raise ValueError(f"members={list(unknown)!r} are not ensemble members: labels of {list(known)}.")
    return tuple(known[label] for label in labels)


def evaluation_of(config: EvaluationConfig) -> Evaluation:
    """What the verdict of ``config`` runs, as a typed evaluation: the one place that reads an evaluation config.

    ``attack`` names the evaluation: ``"clean"``, ``"corruption"`` (with ``corruption`` and ``severity``),
    ``"AutoAttack"``, or an attack of :data:`~snnconv.attacks.ATTACKS` — replayed from the model under
    ``source_key`` when there is one (a transfer attack), else run through the ensemble of ``members``.
    """
    match config.attack:
        case "clean":
            return CleanEvaluation(config.time_steps, config.readout)
        case "corruption":
            return CorruptionEvaluation(config.dataset, config.corruption, config.severity, config.seed,
                                        config.time_steps, config.readout)
        case "AutoAttack":
            return AutoAttackEvaluation(config.epsilon, config.seed)
    spec = AttackSpec(config.attack, config.epsilon, config.steps, config.step_size)
    if config.source_key:
        return TransferEvaluation(spec, config.source_time_steps, config.time_steps, members_by_label(config.members),
                                  config.seed, config.readout, config.transfer_resisted)  # type: ignore[arg-type]
    return EnsembleEvaluation(spec, config.time_steps, members_by_label(config.members), config.seed, config.readout,
                              config.per_member, config.eot)


def ensure_evaluation(
    model: SpikingNetwork, config: EvaluationConfig, store: ArtifactStore, batch_size: int, progress: bool = True,
    source: SpikingNetwork | None = None,
) -> dict:
    """Per-sample verdicts of one attack on one model (:func:`evaluation_of`): loaded from the store, or computed and
    stored.

    With ``config.source_key``, ``source`` is the model the adversarial images are crafted on (transfer).
    """
    key = artifact_key("evaluation", config)
    record = store.load_json("evaluation", key)
    if record is not None:
        return record
    started = time.time()
    torch.manual_seed(config.seed)  # a random input encoding (BNTT's Poisson spikes) draws from torch's generator
    images, labels = dataset(config.dataset, "test")
    images, labels = images[: config.n_test].to(device()), labels[: config.n_test].to(device())
    result = evaluation_of(config).run(model, images, labels, batch_size, progress, source)
    extra = {} if result.fooled_at is None else {"fooled_at": result.fooled_at.tolist()}
    record = _record(config, started, inputs=store.inputs(*filter(None, (config.model_key, config.source_key))),
                     correct=result.correct, clean_correct=int(result.clean_correct.sum()),
                     n=result.n, robust=result.robust.tolist(), fooled_by=list(result.fooled_by),
                     member_correct={k: int(v.sum()) for k, v in result.member_robust.items()},
                     member_robust={k: v.tolist() for k, v in result.member_robust.items()}, **extra)
    store.save_json("evaluation", key, record)
    return record
