"""Configurations and profiles: everything that determines a trained model or an attack verdict (paper Sec. 4).

A config is a frozen value; its content hash is the model's or verdict's key in the artifact store
(:mod:`snnconv.store`), so two notebooks that need the same model describe it by the same config and share
it. A :class:`Profile` holds the knobs that differ between a CI smoke run, the CPU book and the paper's
GPU runs; the ``*_config`` functions turn a profile into configs.

Units: every budget ε inside the library is in [0, 1] pixel units (``8 / 255``); only the notebook
parameter ``epsilons`` and the labels shown to readers use the paper's /255 notation
(:func:`epsilon_label`).

Profiles:

* ``smoke`` — Fashion-MNIST subsets, one short epoch: proves every notebook runs (CI).
* ``default`` — Fashion-MNIST in full on a CPU, with the small VGG (``vgg_small``).
* ``paper`` — CIFAR-10 / VGG11 with the paper's hyper-parameters (Sec. 4.2, Suppl. A.2); needs a GPU.

Example:
    >>> profile = PROFILES["default"]
    >>> [epsilon_label(e) for e in profile.epsilons]
    ['2/255', '4/255', '8/255']
    >>> ann_config(profile, "trades", seed=0).trade_off
    6.0
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from snnconv.convert import Calibration
from snnconv.models import BiasMode, Readout, Simulation
from snnconv.objectives import MART, TRADES, AdversarialTraining, Natural
from snnconv.train import Schedule

#: Each baseline ANN: its training loss and the budget it is trained at (index into the profile's ε;
#: None = natural training). The paper's converted SNNs come from the ε1 ANNs; AT-ε2/ε3 appear in Table A1.
OBJECTIVES: dict[str, tuple[str, int | None]] = {
    "natural": ("natural", None), "at": ("at", 0), "trades": ("trades", 0), "mart": ("mart", 0),
    "at_eps2": ("at", 1), "at_eps3": ("at", 2),
}
#: The baseline ANNs that Table 1 converts.
CONVERTED_OBJECTIVES = ("natural", "at", "trades", "mart")
OBJECTIVE_LABELS = {"natural": "Natural", "at": "AT", "trades": "TRADES", "mart": "MART"}
#: The end-to-end trained SNN baselines, by the paper's names.
END_TO_END = {"vanilla": "Vanilla SNN", "snn_rat": "SNN-RAT"}


def epsilon_label(epsilon: float) -> str:
    """A budget in the paper's notation: ``8 / 255`` → ``"8/255"``."""
    return f"{round(epsilon * 255, 4):g}/255"


def objective_label(objective: str) -> str:
    """The paper's name of a baseline ANN: ``Natural``, ``AT-eps1``, ``TRADES-eps1``, ``MART-eps1``, ``AT-eps3``."""
    loss, budget = OBJECTIVES[objective]
    return "Natural" if budget is None else f"{OBJECTIVE_LABELS[loss]}-eps{budget + 1}"


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
    # Cutout in the ANN's training augmentation (authors' notes §5; the paper profile only).
    cutout: bool = field(default=False, metadata={"added_later": True})

    def objective_fn(self) -> Callable:
        """The training loss (Eqs. 4–6) as a callable ``(model, images, labels) -> loss``."""
        if self.objective == "natural":
            return Natural()
        if self.objective == "at":
            return AdversarialTraining(self.epsilon, self.steps)
        if self.objective == "trades":
            return TRADES(self.epsilon, self.trade_off, self.steps)
        return MART(self.epsilon, self.trade_off, self.steps)


@dataclass(frozen=True)
class SNNConfig:
    """Everything that determines a converted and robustly finetuned SNN (Algorithm 1).

    ``leak`` (τ of Eq. 1) and ``soft_reset`` (Eq. 3) configure every spiking layer; the model is built with
    them, conversion keeps them, and they are saved in the model's state dict.
    """

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


@dataclass(frozen=True)
class EvaluationConfig:
    """Everything that determines an attack verdict on a stored model."""

    model_key: str
    dataset: str
    attack: str  # an AttackSpec name, AutoAttack or clean
    epsilon: float  # [0, 1] pixel units
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
    # What a transfer attack hands the target for an image the source resists (attacks.RESISTED_IMAGES).
    transfer_resisted: str = field(default="highest_loss", metadata={"added_later": True})


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
    epsilons: tuple[float, ...]  # ε1, ε2, ε3 in [0, 1] pixel units
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
    sapgd_steps: int = 100  # SA-PGD with the ASSG member, as its paper
    hart_widths: tuple[float, ...] = (0.25, 0.5, 1.0, 1.5, 2.0, 2.5)  # HART's γ grid, searched per model
    hart_search_images: int = 200  # the first test images of the adaptive evaluation used for that search
    square_queries: tuple[int, ...] = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000)
    unbounded: float = 64 / 255  # a budget that can turn any image into another class
    claim_seeds: tuple[int, ...] = (0, 1, 2)  # the seeds over which the claims page tests each claim
    ann_cutout: bool = False  # cutout in the ANNs' adversarial training, as the authors' CIFAR/SVHN/TIN runs
    beta_grid: tuple[float, ...] = (0.5, 2.0, 6.0)  # Fig. 1's β of Eq. 9: below, at and the paper's largest

    def summary(self) -> str:
        """One line naming the data, network and budgets, for the top of a result page."""
        return (f"profile={self.name}: {self.dataset} / {self.arch}, T={self.time_steps}, "
                f"ε={', '.join(epsilon_label(e) for e in self.epsilons)}, n_test={self.n_test}, "
                f"train images={self.train_subset or 'all'}, ANN epochs={self.ann_schedule.epochs}, "
                f"SNN epochs={self.snn_schedule.epochs}; adaptive evaluation: first {self.n_test_extended} test "
                f"images, APGD {self.apgd_steps} steps, Square up to {max(self.square_queries)} queries, "
                f"unbounded budget {epsilon_label(self.unbounded)}")


_PAPER_BUDGETS = (2 / 255, 4 / 255, 8 / 255)

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
        epsilons=_PAPER_BUDGETS,
        n_test_extended=40,
        apgd_steps=3,
        sapgd_steps=5,
        hart_widths=(0.5, 1.0, 2.0),
        hart_search_images=40,
        square_queries=(1, 10, 50),
        claim_seeds=(0, 1),
        beta_grid=(2.0, 6.0),
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
        epsilons=_PAPER_BUDGETS,
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
        epsilons=_PAPER_BUDGETS,
        attack_batch=64,
        n_test_extended=10_000,
        ann_cutout=True,
        beta_grid=(0.5, 1.0, 2.0, 4.0, 6.0, 8.0),
    ),
}
# The paper's other data sets (Sec. 4.1, Suppl. A.2; per-data-set values from the authors' notes §4–5): the same
# paper profile with each data set's network, TRADES λ, finetuning β and α, calibration κ and SNN schedule.
PROFILES.update({
    "paper_svhn": replace(PROFILES["paper"], name="paper_svhn", dataset="svhn", arch="resnet20",
                          trades_trade_off=3.0, finetune_trade_off=4.0, n_test=26_032, n_test_extended=26_032),
    "paper_cifar100": replace(
        PROFILES["paper"], name="paper_cifar100", dataset="cifar100", arch="wrn16_4", trades_trade_off=3.0,
        finetune_trade_off=4.0, finetune_step_fraction=0.2, calibration=Calibration(scale=0.1),
        snn_schedule=Schedule(epochs=80, learning_rate=1e-3, weight_decay=1e-4)),
    "paper_tinyimagenet": replace(
        PROFILES["paper"], name="paper_tinyimagenet", dataset="tinyimagenet", arch="vgg11_tin",
        finetune_trade_off=4.0, finetune_step_fraction=0.2, calibration=Calibration(scale=0.1)),
})


def ann_config(profile: Profile, objective: str, seed: int) -> ANNConfig:
    """The baseline ANN for ``objective`` (a key of :data:`OBJECTIVES`) as ``profile`` trains it."""
    loss, budget = OBJECTIVES[objective]
    trade_off = {"trades": profile.trades_trade_off, "mart": profile.mart_trade_off}.get(loss, 0.0)
    return ANNConfig(
        dataset=profile.dataset,
        arch=profile.arch,
        objective=loss,
        epsilon=0.0 if budget is None else profile.epsilons[budget],
        trade_off=trade_off,
        schedule=profile.ann_schedule,
        train_subset=profile.train_subset,
        seed=seed,
        cutout=profile.ann_cutout,
    )


def snn_config(profile: Profile, ann: ANNConfig, seed: int) -> SNNConfig:
    """The SNN converted from ``ann`` and finetuned at ε1 with α = ε1/2 and the profile's β (Eqs. 9–10)."""
    epsilon = profile.epsilons[0]
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


def end_to_end_config(profile: Profile, method: str, seed: int) -> EndToEndConfig:
    """The baseline as the profile trains it: the ANN's schedule; SNN-RAT at ε1 with α = ε1/2, β = 5e-4."""
    if method not in END_TO_END:
        raise ValueError(f"method={method!r} is not an end-to-end baseline: one of {tuple(END_TO_END)}.")
    adversarial = method == "snn_rat"
    epsilon = profile.epsilons[0] if adversarial else 0.0
    schedule = replace(profile.ann_schedule, weight_decay=0.0) if adversarial else profile.ann_schedule
    return EndToEndConfig(dataset=profile.dataset, arch=profile.arch, method=method, time_steps=profile.time_steps,
                          epsilon=epsilon, step=epsilon / 2, retraction=5e-4 if adversarial else 0.0,
                          schedule=schedule, train_subset=profile.train_subset, seed=seed)
