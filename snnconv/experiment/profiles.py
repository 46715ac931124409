"""Profiles: the knobs that differ between a CI smoke run, the CPU book and the paper's GPU runs, and
Table B5's ablations.

Profiles:

* ``smoke`` — Fashion-MNIST subsets, one short epoch: proves every notebook runs (CI).
* ``default`` — Fashion-MNIST in full on a CPU, with the small VGG (``vgg_small``).
* ``paper`` — CIFAR-10 / VGG11 with the paper's hyper-parameters (Sec. 4.2, Suppl. A.2); needs a GPU.

The ``*_config`` functions turn a profile into the configs of :mod:`snnconv.experiment.config`, which key the
store.

Example:
    >>> profile = PROFILES["default"]
    >>> [epsilon_label(e) for e in profile.epsilons]
    ['2/255', '4/255', '8/255']
    >>> replace(profile, epsilons=(1 / 255, 8 / 255)).budgets, profile.budget("ε3") == 8 / 255
    ((('1/255', 0.00392156862745098), ('ε3', 0.03137254901960784)), True)
    >>> ann_config(profile, "trades", seed=0).trade_off
    6.0
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from snnconv.experiment.config import (
    END_TO_END,
    OBJECTIVES,
    PAPER_BUDGETS,
    ANNConfig,
    EndToEndConfig,
    SNNConfig,
    budget_name,
    epsilon_label,
    objective_label,
)
from snnconv.method.calibration import Calibration
from snnconv.training.schedule import Schedule


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
    neuron is fixed by :mod:`snnconv.method.bntt`.
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
