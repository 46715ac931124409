"""Configurations and profiles: everything that determines a trained model or an attack verdict (paper Sec. 4).

A config is a frozen value; its content hash is the model's or verdict's key in the artifact store
(:mod:`snnconv.store`), so two notebooks that need the same model describe it by the same config and share
it. A :class:`Profile` holds the knobs that differ between a CI smoke run, the CPU book and the paper's
GPU runs; the ``*_config`` functions turn a profile into configs.

Units: every budget ε inside the library is in [0, 1] pixel units (``8 / 255``); only the notebook
parameter ``epsilons`` and the labels shown to readers use the paper's /255 notation
(:func:`epsilon_label`).

Budgets are named by value, never by position: the paper's ε1, ε2, ε3 are 2/255, 4/255 and 8/255
(:data:`PAPER_BUDGETS`, Sec. 4.3) whatever a profile evaluates. A profile's ``epsilons`` are the budgets evaluated
where a page sweeps budgets (Table 1's SNN rows, Fig. 2a, the robustness audit, the diagnostics' ordering in ε);
each is named by its value (:func:`budget_name`: ``8/255`` → ``"ε3"``; a budget the paper does not use, such as
``1/255``, is named by its label and has no paper cell). What the paper fixes at a named budget stays there:
the baseline ANNs' training budgets (AT-ε1, AT-ε2, AT-ε3), the finetuning and end-to-end baselines at ε1, and the
pages and checks the paper reports at one budget (ε3; Fig. 2b at ε2), through :meth:`Profile.budget`.

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
    >>> replace(profile, epsilons=(1 / 255, 8 / 255)).budgets, profile.budget("ε3") == 8 / 255
    ((('1/255', 0.00392156862745098), ('ε3', 0.03137254901960784)), True)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from snnconv.convert import Calibration
from snnconv.models import BiasMode, Readout, Simulation
from snnconv.objectives import MART, TRADES, AdversarialTraining, Natural, RobustFinetuning
from snnconv.train import Schedule

#: The paper's three l∞ budgets by name (Sec. 4.3), in [0, 1] pixel units. A budget is named by its value
#: (:func:`budget_name`), and every place that means "the paper's ε3" asks for it by name (:meth:`Profile.budget`).
PAPER_BUDGETS: Mapping[str, float] = MappingProxyType({"ε1": 2 / 255, "ε2": 4 / 255, "ε3": 8 / 255})

#: Each baseline ANN: its training loss and the paper's budget it is trained at (a name of :data:`PAPER_BUDGETS`;
#: None = natural training). The paper's converted SNNs come from the ε1 ANNs; AT-ε2/ε3 appear in Fig. 1 and
#: Table A1.
OBJECTIVES: dict[str, tuple[str, str | None]] = {
    "natural": ("natural", None), "at": ("at", "ε1"), "trades": ("trades", "ε1"), "mart": ("mart", "ε1"),
    "at_eps2": ("at", "ε2"), "at_eps3": ("at", "ε3"),
}
#: The baseline ANNs that Table 1 converts.
CONVERTED_OBJECTIVES = ("natural", "at", "trades", "mart")
OBJECTIVE_LABELS = {"natural": "Natural", "at": "AT", "trades": "TRADES", "mart": "MART"}
#: The end-to-end trained SNN baselines, by the paper's names.
END_TO_END = {"vanilla": "Vanilla SNN", "snn_rat": "SNN-RAT", "rfgsm": "RFGSM SNN",
              "robust_finetuning": "SNN trained with Eq. 11", "bntt": "BNTT"}
#: The end-to-end baselines of the main comparisons (Table 2, Figs. 3–4, the robustness audit).
MAIN_BASELINES = ("vanilla", "snn_rat")


def epsilon_label(epsilon: float) -> str:
    """A budget in the paper's notation: ``8 / 255`` → ``"8/255"``."""
    return f"{round(epsilon * 255, 4):g}/255"


def budget_name(epsilon: float) -> str:
    """A budget's name, from its value: the paper's ``"ε1"``, ``"ε2"``, ``"ε3"`` for 2/255, 4/255, 8/255, else its
    label (``1 / 255`` → ``"1/255"``), which no paper cell carries.

    >>> budget_name(8 / 255), budget_name(1 / 255)
    ('ε3', '1/255')
    """
    label = epsilon_label(epsilon)
    return next((name for name, value in PAPER_BUDGETS.items() if epsilon_label(value) == label), label)


def objective_label(objective: str) -> str:
    """The paper's name of a baseline ANN: ``Natural``, ``AT-eps1``, ``TRADES-eps1``, ``MART-eps1``, ``AT-eps3``."""
    loss, budget = OBJECTIVES[objective]
    return "Natural" if budget is None else f"{OBJECTIVE_LABELS[loss]}-{budget.replace('ε', 'eps')}"


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
    # Table B5's ablations of the finetuning (objectives.RobustFinetuning); the defaults are ours (Eqs. 9–11).
    inner_loss: str = field(default="kl", metadata={"added_later": True})
    outer: str = field(default="eq11", metadata={"added_later": True})
    trainable_threshold: bool = field(default=True, metadata={"added_later": True})

    @property
    def simulation(self) -> Simulation:
        return Simulation(self.time_steps, readout=self.readout)

    def objective(self) -> RobustFinetuning:
        """The finetuning loss (Eqs. 9–11, or a Table B5 ablation of it)."""
        return RobustFinetuning(self.epsilon, self.step, self.trade_off, self.simulation, self.inner_loss, self.outer)


@dataclass(frozen=True)
class EndToEndConfig:
    """An SNN trained from scratch through time (BPTT), thresholds fixed at 1: the paper's baselines.

    ``method="vanilla"``: natural cross-entropy; ``"snn_rat"``: SNN-RAT (Ding et al. 2022) — CE on RFGSM
    images (α = ``step``) with a Parseval retraction of coefficient ``retraction`` after every step and no
    weight decay (authors' notes §8); ``"rfgsm"``: "RFGSM based mixed AT" (Fig. 2), half CE on the clean and half
    on the RFGSM images (``clean_weight=0.5``), without the retraction and with weight decay;
    ``"robust_finetuning"``: our objective, Eq. (11), from a random initialization instead of a converted ANN
    (Table B5's rows without ANN initialization), with ``trade_off`` as β; ``"bntt"``: BNTT (Kim & Panda 2021,
    :mod:`snnconv.bntt`) trained on the natural CE — Poisson input, batch norm through time, LIF neurons (Fig. 2).
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
    trade_off: float = field(default=0.0, metadata={"added_later": True})  # β of "robust_finetuning"
    trainable_threshold: bool = field(default=False, metadata={"added_later": True})
    leak: float = field(default=1.0, metadata={"added_later": True})  # τ of Eq. (1); LIF below 1 (Fig. 2)
    soft_reset: bool = field(default=False, metadata={"added_later": True})
    clean_weight: float = field(default=0.0, metadata={"added_later": True})  # w of the RFGSM objectives


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
    # attack="corruption": a common corruption (data.CORRUPTIONS) at a severity 1..5 instead of an attack (B6/B7).
    corruption: str = field(default="", metadata={"added_later": True})
    severity: int = field(default=0, metadata={"added_later": True})
    # Draws per attacker forward (EOT) for a network with a random input encoding (BNTT, Suppl. A.4).
    eot: int = field(default=1, metadata={"added_later": True})


@dataclass(frozen=True)
class Ablation:
    """One row of Table B5 (Suppl. B.3): how the SNN is initialized and finetuned, in the paper's words.

    ``init`` is the baseline ANN's objective (a key of :data:`OBJECTIVES`) whose conversion starts the
    finetuning, or ``None`` for an SNN trained end to end from a random initialization; ``inner_loss`` is the
    RFGSM step's loss (``"kl"``, Eq. 10; ``"ce"``; ``None``: no adversarial images); ``outer`` the minimized loss
    (``"natural"``, ``"adversarial_ce"`` or ``"eq11"``); ``trainable_threshold`` whether V_th is trained.
    """

    init: str | None
    inner_loss: str | None
    outer: str
    trainable_threshold: bool

    @property
    def paper_row(self) -> dict[str, str]:
        """The row's cells as Table B5 prints them (the keys of ``published("tableB5")``)."""
        return {"baseline_ann": "none" if self.init is None else objective_label(self.init),
                "inner_max_loss": {None: "none", "kl": "D_KL(f(x')||f(x))", "ce": "L_CE(f(x'),y)"}[self.inner_loss],
                "outer_optimization": {"natural": "L_CE(f(x),y)", "adversarial_ce": "L_CE(f(x_adv),y)",
                                       "eq11": "Eq. (11)"}[self.outer],
                "trainable_vth": "yes" if self.trainable_threshold else "no"}


#: Table B5's ten rows, in the paper's order; the last is ours (Eqs. 9–11 from the AT-ε1 ANN).
ABLATIONS: tuple[Ablation, ...] = (
    Ablation(None, None, "natural", False),  # the vanilla SNN
    Ablation(None, "kl", "eq11", False),
    Ablation(None, "kl", "eq11", True),
    Ablation("natural", "kl", "eq11", True),
    Ablation("at", None, "natural", True),
    Ablation("at", "ce", "adversarial_ce", True),
    Ablation("at", "kl", "adversarial_ce", True),
    Ablation("at", "ce", "eq11", True),
    Ablation("at", "kl", "eq11", False),
    Ablation("at", "kl", "eq11", True),
)


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
    # The budgets evaluated where a page sweeps budgets, ascending, in [0, 1] pixel units; each is named by its value
    # (``budgets``). The paper's named budgets (training, finetuning, one-budget pages) are ``budget(name)``.
    epsilons: tuple[float, ...]
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
    lif_leak: float = 0.99  # Fig. 2's LIF neurons: τ of Eq. (1), with soft reset
    long_time_steps: int = 30  # Fig. 2's longer simulation (LIF models and BNTT)
    eot_draws: int = 2  # EOT draws per attacker forward on BNTT's Poisson input (Suppl. A.4)
    # Suppl. A.2 (CIFAR-10): the SNNs converted from the AT-ε2 and AT-ε3 ANNs (Fig. 1) are finetuned with their own
    # RFGSM α and weight decay, as (objective, α / ε1, weight decay); an objective not listed is finetuned with
    # ``finetune_step_fraction`` and ``snn_schedule``'s decay. Empty at the CPU profiles (book/deviations.md).
    finetune_by_objective: tuple[tuple[str, float, float], ...] = ()

    @property
    def budgets(self) -> tuple[tuple[str, float], ...]:
        """The evaluated budgets as ``(name, value)`` pairs, each named by its value (:func:`budget_name`)."""
        return tuple((budget_name(epsilon), epsilon) for epsilon in self.epsilons)

    def budget(self, name: str) -> float:
        """The paper's budget called ``name`` (``"ε1"``, ``"ε2"`` or ``"ε3"``), whether or not ``epsilons`` evaluates
        it: the ANNs' training budgets, the finetuning's ε1 and the pages the paper reports at one budget."""
        if name not in PAPER_BUDGETS:
            raise ValueError(f"budget {name!r} is not one of the paper's named budgets {tuple(PAPER_BUDGETS)}.")
        return PAPER_BUDGETS[name]

    def summary(self) -> str:
        """One line naming the data, network and budgets, for the top of a result page."""
        return (f"profile={self.name}: {self.dataset} / {self.arch}, T={self.time_steps}, "
                f"ε={', '.join(_shown(name, e) for name, e in self.budgets)}, n_test={self.n_test}, "
                f"train images={self.train_subset or 'all'}, ANN epochs={self.ann_schedule.epochs}, "
                f"SNN epochs={self.snn_schedule.epochs}; adaptive evaluation: first {self.n_test_extended} test "
                f"images, APGD {self.apgd_steps} steps, Square up to {max(self.square_queries)} queries, "
                f"unbounded budget {epsilon_label(self.unbounded)}")


def _shown(name: str, epsilon: float) -> str:
    """A budget for a reader: ``8/255 (ε3)``, or ``1/255`` for a budget the paper does not name."""
    label = epsilon_label(epsilon)
    return label if name == label else f"{label} ({name})"


_PAPER_BUDGETS = tuple(PAPER_BUDGETS.values())

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
        long_time_steps=12,
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
        # Suppl. A.2: "For CIFAR-10 experiments with AT-ε2 and AT-ε3, we used α = ε/4" (ε = ε1, the finetuning budget)
        # and "weight decay parameters of 0.0005 and 0.0001 during post-conversion finetuning of AT-ε2 and AT-ε3".
        finetune_by_objective=(("at_eps2", 0.25, 5e-4), ("at_eps3", 0.25, 1e-4)),
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
        epsilon=0.0 if budget is None else profile.budget(budget),
        trade_off=trade_off,
        schedule=profile.ann_schedule,
        train_subset=profile.train_subset,
        seed=seed,
        cutout=profile.ann_cutout,
    )


def objective_of(profile: Profile, ann: ANNConfig) -> str | None:
    """The key of :data:`OBJECTIVES` whose baseline ANN ``ann`` is under ``profile`` (its loss and training budget),
    or None for an ANN that no objective trains."""
    for objective, (loss, budget) in OBJECTIVES.items():
        if loss == ann.objective and ann.epsilon == (0.0 if budget is None else profile.budget(budget)):
            return objective
    return None


def snn_config(profile: Profile, ann: ANNConfig, seed: int) -> SNNConfig:
    """The SNN converted from ``ann`` and finetuned at ε1 with α = ``finetune_step_fraction`` · ε1 (ε1/2 by default)
    and the profile's β (Eqs. 9–10); an ANN of ``finetune_by_objective`` gets its own α and weight decay."""
    epsilon = profile.budget("ε1")
    step_fraction, schedule = profile.finetune_step_fraction, profile.snn_schedule
    for objective, fraction, weight_decay in profile.finetune_by_objective:
        if objective == objective_of(profile, ann):
            step_fraction, schedule = fraction, replace(schedule, weight_decay=weight_decay)
    return SNNConfig(
        ann=ann,
        calibration=profile.calibration,
        time_steps=profile.time_steps,
        epsilon=epsilon,
        step=step_fraction * epsilon,
        trade_off=profile.finetune_trade_off,
        schedule=schedule,
        train_subset=profile.train_subset,
        seed=seed,
    )


def ablation_config(profile: Profile, ablation: Ablation, seed: int) -> SNNConfig | EndToEndConfig:
    """The model of one Table B5 row: an end-to-end config without ANN initialization, else the converted SNN's
    config with the row's finetuning (ours and the natural-ANN row are exactly Table 1's SNNs)."""
    if ablation.init is None:
        if ablation.outer == "natural":
            return end_to_end_config(profile, "vanilla", seed)
        return end_to_end_config(profile, "robust_finetuning", seed, trainable_threshold=ablation.trainable_threshold)
    config = snn_config(profile, ann_config(profile, ablation.init, seed), seed)
    if ablation.outer == "natural":  # RobustFinetuning with β = 0 and no budget: the natural CE
        return replace(config, epsilon=0.0, step=0.0, trade_off=0.0, trainable_threshold=ablation.trainable_threshold)
    return replace(config, inner_loss=ablation.inner_loss or "kl", outer=ablation.outer,
                   trainable_threshold=ablation.trainable_threshold)


def end_to_end_config(profile: Profile, method: str, seed: int, *, time_steps: int | None = None, leak: float = 1.0,
                      soft_reset: bool = False, trainable_threshold: bool = False) -> EndToEndConfig:
    """The baseline as the profile trains it: the ANN's schedule; SNN-RAT at ε1 with α = ε1/2, β = 5e-4.

    ``"rfgsm"`` mixes clean and RFGSM images half and half, without the retraction and with weight decay (Fig. 2);
    ``"robust_finetuning"`` trains Eq. (11) with the profile's β and α from a random initialization (Table B5).
    ``time_steps`` (default: the profile's), ``leak`` and ``soft_reset`` give the LIF variants of Fig. 2; BNTT's
    neuron is fixed by :mod:`snnconv.bntt`.
    """
    if method not in END_TO_END:
        raise ValueError(f"method={method!r} is not an end-to-end baseline: one of {tuple(END_TO_END)}.")
    epsilon = 0.0 if method in ("vanilla", "bntt") else profile.budget("ε1")
    rat = method == "snn_rat"
    ours = method == "robust_finetuning"
    schedule = replace(profile.ann_schedule, weight_decay=0.0) if rat else profile.ann_schedule
    return EndToEndConfig(dataset=profile.dataset, arch=profile.arch, method=method,
                          time_steps=time_steps or profile.time_steps, epsilon=epsilon,
                          step=profile.finetune_step_fraction * epsilon if ours else epsilon / 2,
                          retraction=5e-4 if rat else 0.0, schedule=schedule, train_subset=profile.train_subset,
                          seed=seed, trade_off=profile.finetune_trade_off if ours else 0.0,
                          trainable_threshold=trainable_threshold, leak=leak, soft_reset=soft_reset,
                          clean_weight=0.5 if method == "rfgsm" else 0.0)
