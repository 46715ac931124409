"""Configurations, profiles, the artifact store and load-or-compute functions (paper Sec. 4).

Data flows one way: config → data → ANN → convert → finetune → evaluate → results. Every heavy
artifact (a trained ANN, a finetuned SNN, an attack verdict) is stored under a key that hashes
everything that determines it, so notebooks share models instead of retraining, a changed parameter
never reuses a stale result, and a cluster can pre-compute the store. Weights are safetensors, results
JSON, both written atomically; nothing is unpickled. The rows each result page shows are built from
these artifacts in :mod:`snnconv.results`.

Profiles:

* ``smoke`` — Fashion-MNIST subsets, one short epoch: proves every notebook runs (CI).
* ``default`` — Fashion-MNIST in full on a CPU, with the small VGG (``vgg_small``).
* ``paper`` — CIFAR-10 / VGG11 with the paper's hyper-parameters (Sec. 4.2, Suppl. A.2); needs a GPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from snnconv import paths
from snnconv.attacks import (
    AttackSpec,
    EnsembleResult,
    autoattack_robustness,
    ensemble_robustness,
    predict,
)
from snnconv.convert import Calibration, convert
from snnconv.data import DATASETS, load
from snnconv.models import ARCHITECTURES, BiasMode, Readout, Simulation, SpikingNetwork, build
from snnconv.objectives import (
    MART,
    TRADES,
    AdversarialTraining,
    Natural,
    RandomStepAdversarialTraining,
    RobustFinetuning,
)
from snnconv.report import source_commit
from snnconv.surrogates import PAPER_ENSEMBLE, GradientMode
from snnconv.train import ParsevalRetraction, Schedule, fit

#: Bumped when a change to the code invalidates stored artifacts.
STORE_FORMAT = 1

#: Each baseline ANN: its training loss and the budget it is trained at (index into the profile's ε;
#: None = natural training). The paper's converted SNNs come from the ε1 ANNs; AT-ε2/ε3 appear in Table A1.
OBJECTIVES: dict[str, tuple[str, int | None]] = {
    "natural": ("natural", None), "at": ("at", 0), "trades": ("trades", 0), "mart": ("mart", 0),
    "at_eps2": ("at", 1), "at_eps3": ("at", 2),
}
TABLE1_OBJECTIVES = ("natural", "at", "trades", "mart")
OBJECTIVE_LABELS = {"natural": "Natural", "at": "AT", "trades": "TRADES", "mart": "MART"}


class ParameterError(ValueError):
    """A user-supplied parameter is invalid; the message names it and what is allowed."""


# ----------------------------------------------------------------------------------------- configs


@dataclass(frozen=True)
class ANNConfig:
    """Everything that determines a trained baseline ANN."""

    dataset: str
    arch: str
    objective: str  # natural | at | trades | mart
    epsilon: float  # training perturbation budget, in [0, 1] pixel units
    trade_off: float  # λ_TRADES or λ_MART (unused otherwise)
    schedule: Schedule
    train_subset: int | None
    seed: int
    bias: BiasMode = "output"
    steps: int = 10

    def objective_fn(self) -> Callable:
        if self.objective == "natural":
            return Natural()
        if self.objective == "at":
            return AdversarialTraining(self.epsilon, self.steps)
        if self.objective == "trades":
            return TRADES(self.epsilon, self.trade_off, self.steps)
        return MART(self.epsilon, self.trade_off, self.steps)


@dataclass(frozen=True)
class SNNConfig:
    """Everything that determines a converted and robustly finetuned SNN (Algorithm 1)."""

    ann: ANNConfig
    calibration: Calibration
    time_steps: int
    epsilon: float  # finetuning ε (always ε1 in the paper)
    step: float  # RFGSM α
    trade_off: float  # β
    schedule: Schedule
    train_subset: int | None
    seed: int
    readout: Readout = "mean"
    leak: float = 1.0
    soft_reset: bool = False

    @property
    def simulation(self) -> Simulation:
        return Simulation(self.time_steps, readout=self.readout)


@dataclass(frozen=True)
class Profile:
    """The knobs that differ between smoke, default and paper runs."""

    name: str
    dataset: str
    arch: str
    train_subset: int | None
    ann_schedule: Schedule
    snn_schedule: Schedule
    calibration: Calibration
    n_test: int
    epsilons: tuple[float, ...]  # ε1, ε2, ε3 in /255 units
    time_steps: int = 8
    trades_trade_off: float = 6.0
    mart_trade_off: float = 4.0
    finetune_trade_off: float = 2.0  # β
    finetune_step_fraction: float = 0.5  # α = fraction · ε1
    pgd_steps: int = 20
    attack_batch: int = 250
    autoattack: bool = True
    # The adaptive evaluation (Table 2, B1, Fig. 4) runs 5–10× the attacks of Table 1 per model.
    n_test_extended: int = 1000
    apgd_steps: int = 10  # the authors' default; AutoAttack's standard is 100
    square_queries: tuple[int, ...] = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000)
    unbounded: float = 64.0  # /255: a budget that can turn any image into another class


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        dataset="fashion_mnist",
        arch="vgg_small",
        train_subset=2000,
        ann_schedule=Schedule(epochs=1, learning_rate=0.05, weight_decay=5e-4),
        snn_schedule=Schedule(epochs=1, learning_rate=1e-3, weight_decay=1e-3),
        calibration=Calibration(time_steps=20, batches=2, batch_size=32),
        n_test=40,
        epsilons=(2.0, 4.0, 8.0),
        n_test_extended=40,
        apgd_steps=3,
        square_queries=(1, 10, 50),
    ),
    "default": Profile(
        name="default",
        dataset="fashion_mnist",
        arch="vgg_small",
        train_subset=None,
        ann_schedule=Schedule(epochs=5, learning_rate=0.05, weight_decay=5e-4),
        snn_schedule=Schedule(epochs=1, learning_rate=1e-3, weight_decay=1e-3),
        calibration=Calibration(),
        n_test=2000,
        epsilons=(2.0, 4.0, 8.0),
    ),
    "paper": Profile(
        name="paper",
        dataset="cifar10",
        arch="vgg11",
        train_subset=None,
        ann_schedule=Schedule(epochs=200, learning_rate=0.1, weight_decay=5e-4),
        snn_schedule=Schedule(epochs=60, learning_rate=1e-3, weight_decay=1e-3),
        calibration=Calibration(),
        n_test=10_000,
        epsilons=(2.0, 4.0, 8.0),
        attack_batch=64,
        n_test_extended=10_000,
    ),
}


def ann_config(profile: Profile, objective: str, seed: int) -> ANNConfig:
    loss, budget = OBJECTIVES[objective]
    trade_off = {"trades": profile.trades_trade_off, "mart": profile.mart_trade_off}.get(loss, 0.0)
    return ANNConfig(
        dataset=profile.dataset,
        arch=profile.arch,
        objective=loss,
        epsilon=0.0 if budget is None else profile.epsilons[budget] / 255,
        trade_off=trade_off,
        schedule=profile.ann_schedule,
        train_subset=profile.train_subset,
        seed=seed,
    )


def snn_config(profile: Profile, ann: ANNConfig, seed: int) -> SNNConfig:
    epsilon = profile.epsilons[0] / 255
    return SNNConfig(
        ann=ann,
        calibration=profile.calibration,
        time_steps=profile.time_steps,
        epsilon=epsilon,
        step=profile.finetune_step_fraction * epsilon,
        trade_off=profile.finetune_trade_off,
        schedule=profile.snn_schedule,
        train_subset=profile.train_subset,
        seed=seed,
    )


END_TO_END = {"vanilla": "Vanilla SNN", "snn_rat": "SNN-RAT"}


@dataclass(frozen=True)
class EndToEndConfig:
    """An SNN trained from scratch through time (BPTT), thresholds fixed at 1: the paper's baselines.

    ``method="vanilla"``: natural cross-entropy; ``"snn_rat"``: SNN-RAT (Ding et al. 2022) — CE on RFGSM
    images (α = ``step``) with a Parseval retraction of coefficient ``retraction`` after every step and no
    weight decay (authors' notes §8).
    """

    dataset: str
    arch: str
    method: str  # vanilla | snn_rat
    time_steps: int
    epsilon: float
    step: float
    retraction: float
    schedule: Schedule
    train_subset: int | None
    seed: int
    bias: BiasMode = "output"
    readout: Readout = "mean"


def end_to_end_config(profile: Profile, method: str, seed: int) -> EndToEndConfig:
    """The baseline as the profile trains it: the ANN's schedule; SNN-RAT at ε1 with α = ε1/2, β = 5e-4."""
    if method not in END_TO_END:
        raise ParameterError(f"Parameter method={method!r} is not allowed: one of {tuple(END_TO_END)}.")
    adversarial = method == "snn_rat"
    epsilon = profile.epsilons[0] / 255 if adversarial else 0.0
    schedule = replace(profile.ann_schedule, weight_decay=0.0) if adversarial else profile.ann_schedule
    return EndToEndConfig(dataset=profile.dataset, arch=profile.arch, method=method, time_steps=profile.time_steps,
                          epsilon=epsilon, step=epsilon / 2, retraction=5e-4 if adversarial else 0.0,
                          schedule=schedule, train_subset=profile.train_subset, seed=seed)


# ------------------------------------------------------------------------------------ the store


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        # A field added after artifacts were stored is left out while it has its default, so the
        # keys of those artifacts stay valid (mark it with metadata={"added_later": True}).
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)
                if not (f.metadata.get("added_later") and getattr(value, f.name) == f.default)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


#: Bumped per attack when its implementation changes, so only that attack's stored verdicts go stale
#: (1: APGD and Square became snnconv's own, with per-sample starts and recorded queries).
ATTACK_REVISIONS = {"APGD-CE": 1, "APGD-DLR": 1, "APGD-T": 1, "Square": 1}


def artifact_key(kind: str, config: Any) -> str:
    """Content hash of everything that determines an artifact (and the store format)."""
    content = {"kind": kind, "format": STORE_FORMAT, "config": _plain(config)}
    revision = ATTACK_REVISIONS.get(getattr(config, "attack", ""), 0)
    if revision:
        content["revision"] = revision
    payload = json.dumps(content, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class ArtifactStore:
    """Content-addressed artifacts: ``<root>/<kind>/<key>.{safetensors,json}``."""

    root: Path = field(default_factory=paths.store_root)

    def _path(self, kind: str, key: str, suffix: str) -> Path:
        return self.root / kind / f"{key}{suffix}"

    def checkpoint(self, kind: str, key: str) -> Path:
        return self.root / "checkpoints" / kind / key

    def _write(self, path: Path, write: Callable[[Path], None]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + f".{os.getpid()}.partial")
        write(partial)
        partial.replace(path)

    def load_json(self, kind: str, key: str) -> dict | None:
        path = self._path(kind, key, ".json")
        return json.loads(path.read_text()) if path.exists() else None

    def save_json(self, kind: str, key: str, record: dict) -> None:
        self._write(self._path(kind, key, ".json"), lambda p: p.write_text(json.dumps(record, indent=1)))

    def load_weights(self, kind: str, key: str) -> dict[str, torch.Tensor] | None:
        path = self._path(kind, key, ".safetensors")
        if not path.exists() or self.load_json(kind, key) is None:
            return None
        return load_file(str(path))

    def save_weights(self, kind: str, key: str, state: dict[str, torch.Tensor], record: dict) -> None:
        tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
        self._write(self._path(kind, key, ".safetensors"), lambda p: save_file(tensors, str(p)))
        self.save_json(kind, key, record)  # written last: its presence marks a complete artifact


# ------------------------------------------------------------------------------ load or compute


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@cache
def dataset(name: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    return load(name, split, paths.data_root())


def _training_data(name: str, subset: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = dataset(name, "train")
    if subset is None or subset >= len(images):
        return images, labels
    index = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:subset]
    return images[index], labels[index]


def _record(config: Any, started: float, **extra: Any) -> dict:
    return {"config": _plain(config), "seconds": round(time.time() - started, 1), "device": str(device()),
            "commit": source_commit(), **extra}


def ensure_ann(config: ANNConfig, store: ArtifactStore, progress: bool = True) -> SpikingNetwork:
    """The trained baseline ANN for ``config``: loaded from the store, or trained and stored."""
    key = artifact_key("ann", config)
    torch.manual_seed(config.seed)  # the initialization is part of what the config determines
    model = build(config.arch, config.dataset, config.bias).to(device())
    state = store.load_weights("ann", key)
    if state is None:
        started = time.time()
        images, labels = _training_data(config.dataset, config.train_subset, config.seed)
        history = fit(model, config.objective_fn(), images, labels, config.schedule, DATASETS[config.dataset],
                      config.seed, store.checkpoint("ann", key),
                      f"ANN {OBJECTIVE_LABELS[config.objective]}", progress)
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
    """The converted (Alg. 1 l.3–16) and robustly finetuned (l.17–28) SNN for ``config``."""
    key = artifact_key("snn", config)
    model = build(config.ann.arch, config.ann.dataset, config.ann.bias).to(device())
    state = store.load_weights("snn", key)
    if state is None:
        started = time.time()
        ann = ensure_ann(config.ann, store, progress)
        for neuron in model.neurons:
            neuron.beta.fill_(config.leak)
            neuron.soft_reset = config.soft_reset
        thresholds = convert(model, ann.state_dict(), calibration_batches(config), config.calibration, progress)
        objective = RobustFinetuning(config.epsilon, config.step, config.trade_off, config.simulation)
        images, labels = _training_data(config.ann.dataset, config.train_subset, config.seed)
        history = fit(model, objective, images, labels, config.schedule, DATASETS[config.ann.dataset],
                      config.seed, store.checkpoint("snn", key),
                      f"SNN from {OBJECTIVE_LABELS[config.ann.objective]}", progress)
        record = _record(config, started, history=history, calibrated_thresholds=thresholds,
                         final_thresholds=[n.threshold.item() for n in model.neurons])
        store.save_weights("snn", key, model.state_dict(), record)
        state = model.state_dict()
    model.load_state_dict(state)
    return model.eval()


def ensure_end_to_end(config: EndToEndConfig, store: ArtifactStore, progress: bool = True) -> SpikingNetwork:
    """The end-to-end trained baseline SNN for ``config``: loaded from the store, or trained and stored."""
    key = artifact_key("end_to_end", config)
    torch.manual_seed(config.seed)
    model = build(config.arch, config.dataset, config.bias).to(device())
    for neuron in model.neurons:
        neuron.threshold.requires_grad_(False)  # V_th = 1, as in SNN-RAT
    state = store.load_weights("end_to_end", key)
    if state is None:
        started = time.time()
        simulation = Simulation(config.time_steps, readout=config.readout)
        if config.method == "snn_rat":
            objective: Callable = RandomStepAdversarialTraining(config.epsilon, config.step, simulation=simulation)
            after_step = ParsevalRetraction(config.retraction)
        else:
            objective, after_step = Natural(simulation), None
        images, labels = _training_data(config.dataset, config.train_subset, config.seed)
        history = fit(model, objective, images, labels, config.schedule, DATASETS[config.dataset], config.seed,
                      store.checkpoint("end_to_end", key), END_TO_END[config.method], progress, after_step)
        store.save_weights("end_to_end", key, model.state_dict(), _record(config, started, history=history))
        state = model.state_dict()
    model.load_state_dict(state)
    return model.eval()


@dataclass(frozen=True)
class EvaluationConfig:
    """Everything that determines an attack verdict on a stored model."""

    model_key: str
    dataset: str
    attack: str  # an AttackSpec name, AutoAttack or clean
    epsilon: float
    steps: int
    time_steps: int  # 0 = ANN
    n_test: int
    seed: int
    readout: Readout = "mean"
    members: tuple[str, ...] = ()  # member labels; () is the paper's 19-member ensemble
    per_member: bool = field(default=False, metadata={"added_later": True})
    step_size: float | None = field(default=None, metadata={"added_later": True})
    # A transfer attack: the adversarial images are crafted on the model stored under source_key.
    source_key: str = field(default="", metadata={"added_later": True})
    source_time_steps: int = field(default=0, metadata={"added_later": True})


def members_by_label(labels: tuple[str, ...]) -> tuple[GradientMode, ...]:
    """The ensemble members named by ``labels`` (their :attr:`label`); () gives all 19."""
    if not labels:
        return PAPER_ENSEMBLE
    known = {m.label: m for m in PAPER_ENSEMBLE}
    unknown = [label for label in labels if label not in known]
    if unknown:
        raise ParameterError(f"Parameter members={list(unknown)!r} is not allowed: labels of {list(known)}.")
    return tuple(known[label] for label in labels)


def ensure_evaluation(
    model: SpikingNetwork, config: EvaluationConfig, store: ArtifactStore, batch_size: int, progress: bool = True,
    source: SpikingNetwork | None = None,
) -> dict:
    """Per-sample verdicts of one attack on one model: loaded from the store, or computed and stored.

    With ``config.source_key``, ``source`` is the model the adversarial images are crafted on (transfer).
    """
    key = artifact_key("evaluation", config)
    record = store.load_json("evaluation", key)
    if record is not None:
        return record
    started = time.time()
    images, labels = dataset(config.dataset, "test")
    images, labels = images[: config.n_test].to(device()), labels[: config.n_test].to(device())
    result: EnsembleResult
    if config.attack == "clean":
        simulation = Simulation(config.time_steps, readout=config.readout)
        correct = predict(model, images, simulation, batch_size) == labels
        result = EnsembleResult(correct, correct, tuple("" if c else "clean" for c in correct.tolist()))
    elif config.attack == "AutoAttack":
        result = autoattack_robustness(model, images, labels, config.epsilon, config.seed, batch_size, progress)
    elif config.source_key:
        if source is None:
            raise ValueError("a transfer evaluation needs the source model it was configured with.")
        spec = AttackSpec(config.attack, config.epsilon, config.steps, config.step_size)
        crafted = ensemble_robustness(source, images, labels, spec, config.source_time_steps,
                                      members=members_by_label(config.members), readout=config.readout,
                                      seed=config.seed, batch_size=batch_size, progress=progress,
                                      keep_adversarial=True)
        simulation = Simulation(config.time_steps, readout=config.readout)
        clean = predict(model, images, simulation, batch_size) == labels
        robust = clean & (predict(model, crafted.adversarial, simulation, batch_size) == labels)
        fooled = tuple("" if r else ("clean" if not c else "transfer")
                       for r, c in zip(robust.tolist(), clean.tolist(), strict=True))
        result = EnsembleResult(clean, robust, fooled, ("transfer",))
    else:
        spec = AttackSpec(config.attack, config.epsilon, config.steps, config.step_size)
        result = ensemble_robustness(model, images, labels, spec, config.time_steps,
                                     members=members_by_label(config.members), readout=config.readout,
                                     seed=config.seed, batch_size=batch_size, progress=progress,
                                     per_member=config.per_member)
    extra = {} if result.fooled_at is None else {"fooled_at": result.fooled_at.tolist()}
    record = _record(config, started, correct=result.correct, clean_correct=int(result.clean_correct.sum()),
                     n=result.n, robust=result.robust.tolist(), fooled_by=list(result.fooled_by),
                     member_correct={k: int(v.sum()) for k, v in result.member_robust.items()}, **extra)
    store.save_json("evaluation", key, record)
    return record


# ------------------------------------------------------------------------- Table 1 (parameters)


@dataclass(frozen=True)
class Table1Settings:
    """Validated parameters of the Table 1 notebook; ``profile`` supplies every default."""

    profile: Profile
    objectives: tuple[str, ...]
    seed: int
    threads: int


def _fail(name: str, value: Any, allowed: str) -> ParameterError:
    return ParameterError(f"Parameter {name}={value!r} is not allowed: {allowed}.")


def _as_tuple(value: Any) -> tuple:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(value)


def table1_settings(
    profile: str = "default",
    dataset: str | None = None,
    arch: str | None = None,
    objectives: Any = TABLE1_OBJECTIVES,
    epsilons: Any = None,
    time_steps: int | None = None,
    n_test: int | None = None,
    train_subset: int | None = None,
    ann_epochs: int | None = None,
    snn_epochs: int | None = None,
    beta: float | None = None,
    seed: int = 0,
    threads: int | None = None,
) -> Table1Settings:
    """Check every parameter before any work starts; ``None`` means "the profile's value"."""
    if profile not in PROFILES:
        raise _fail("profile", profile, f"one of {tuple(PROFILES)}")
    base = PROFILES[profile]
    changes: dict[str, Any] = {}
    if dataset is not None:
        if dataset not in DATASETS:
            raise _fail("dataset", dataset, f"one of {tuple(DATASETS)}")
        changes["dataset"] = dataset
    if arch is not None:
        if arch not in ARCHITECTURES:
            raise _fail("arch", arch, f"one of {ARCHITECTURES}")
        changes["arch"] = arch
    objectives = _as_tuple(objectives)
    if not objectives or any(o not in OBJECTIVES for o in objectives):
        raise _fail("objectives", list(objectives), f"a non-empty subset of {list(OBJECTIVES)}")
    if epsilons is not None:
        try:
            values = tuple(float(e) for e in _as_tuple(epsilons))
        except (TypeError, ValueError):
            values = ()
        if not values or any(not e > 0 or e > 255 for e in values):
            raise _fail("epsilons", epsilons, "one or more budgets in /255 units, each in (0, 255]")
        changes["epsilons"] = values
    budgets = len(changes.get("epsilons", base.epsilons))
    needs = [o for o in objectives if o in OBJECTIVES and (OBJECTIVES[o][1] or 0) >= budgets]
    if needs:
        raise _fail("objectives", list(needs), f"objectives whose training budget is one of the {budgets} epsilons")
    for name, value, low, high in (
        ("time_steps", time_steps, 1, 1000),
        ("n_test", n_test, 1, 10_000),
        ("train_subset", train_subset, 1, 10_000_000),
        ("ann_epochs", ann_epochs, 1, 10_000),
        ("snn_epochs", snn_epochs, 1, 10_000),
    ):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high):
            raise _fail(name, value, f"an integer from {low} to {high}")
    if time_steps is not None:
        changes["time_steps"] = time_steps
    if n_test is not None:
        changes["n_test"] = changes["n_test_extended"] = n_test
    if train_subset is not None:
        changes["train_subset"] = train_subset
    if ann_epochs is not None:
        changes["ann_schedule"] = replace(base.ann_schedule, epochs=ann_epochs)
    if snn_epochs is not None:
        changes["snn_schedule"] = replace(base.snn_schedule, epochs=snn_epochs)
    if beta is not None:
        if not isinstance(beta, int | float) or beta < 0:
            raise _fail("beta", beta, "a number >= 0")
        changes["finetune_trade_off"] = float(beta)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise _fail("seed", seed, "a non-negative integer")
    if threads is None:
        threads = os.cpu_count() or 1
    if not isinstance(threads, int) or threads < 1:
        raise _fail("threads", threads, "a positive integer")
    return Table1Settings(replace(base, **changes), objectives, seed, threads)


def check_inputs(profile: Profile) -> None:
    """Fail fast, before training, when the dataset is missing."""
    dataset(profile.dataset, "test")
