"""Configurations and profiles: everything that determines a trained model or an attack verdict (paper Sec. 4).

A config is a frozen value; its content hash is the model's or verdict's key in the artifact store
(:mod:`snnconv.storage.store`), so two notebooks that need the same model describe it by the same config and share
it. A :class:`~snnconv.experiment.profiles.Profile` holds the knobs that differ between a CI smoke run, the CPU
book and the paper's GPU runs; its ``*_config`` functions turn a profile into these configs.

A config holds values only and builds nothing, so that this module, the profiles and the page parameters import no
torch: the values it names (:class:`~snnconv.method.calibration.Calibration`,
:class:`~snnconv.training.schedule.Schedule`, the bias and readout choices) come from torch-free modules, and the
objectives and simulations it describes are built by :mod:`snnconv.storage.pipeline` (``ann_objective``,
``snn_simulation``, ``snn_objective``).

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

Example:
    >>> budget_name(8 / 255), epsilon_label(1 / 255)
    ('ε3', '1/255')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from snnconv.method.architectures import BiasMode, Readout
from snnconv.method.calibration import Calibration
from snnconv.training.schedule import Schedule

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


@dataclass(frozen=True)
class EndToEndConfig:
    """An SNN trained from scratch through time (BPTT), thresholds fixed at 1: the paper's baselines.

    ``method="vanilla"``: natural cross-entropy; ``"snn_rat"``: SNN-RAT (Ding et al. 2022) — CE on RFGSM
    images (α = ``step``) with a Parseval retraction of coefficient ``retraction`` after every step and no
    weight decay (authors' notes §8); ``"rfgsm"``: "RFGSM based mixed AT" (Fig. 2), half CE on the clean and half
    on the RFGSM images (``clean_weight=0.5``), without the retraction and with weight decay;
    ``"robust_finetuning"``: our objective, Eq. (11), from a random initialization instead of a converted ANN
    (Table B5's rows without ANN initialization), with ``trade_off`` as β; ``"bntt"``: BNTT (Kim & Panda 2021,
    :mod:`snnconv.method.bntt`) trained on the natural CE — Poisson input, batch norm through time, LIF neurons (Fig.
    2).
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
    attack: str  # one of attacks.ATTACKS, AutoAttack, clean or corruption (pipeline.evaluation_of reads it)
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


