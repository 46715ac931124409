"""The adaptive ensemble: one attack run once per surrogate-gradient member, with early exit (Sec. 4.3, A.4).

The ensemble verdict (:func:`ensemble_robustness`): a test sample is robust only if *every* member's
attack fails to change the true SNN's prediction; clean errors count as failures; every member starts
from the original image; a sample fooled by one member is not attacked again. Random starts are
drawn per sample from ``(seed, member, image)``, so a verdict does not depend on the order in which
members run nor on which other samples share its batch.

Example::

    >>> import torch
    >>> from snnconv.method.models import build
    >>> from snnconv.attacks import AttackSpec, ensemble_robustness
    >>> net = build("vgg_small", "fashion_mnist").eval()
    >>> x, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    >>> result = ensemble_robustness(net, x, y, AttackSpec("FGSM", 8 / 255), time_steps=8, progress=False)
    >>> result.n
    4
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import torch
import torch.nn.functional as F
from torch import nn
from torchattacks.attack import Attack
from tqdm import tqdm

from snnconv.attacks.apgd import APGD, SAPGD, TargetedAPGD
from snnconv.attacks.gradient import FGSM, PGD, RFGSM, MemberView, fgsm_step
from snnconv.attacks.square import Square
from snnconv.foundations.paths import PROGRESS_INTERVAL
from snnconv.method.models import Readout, Simulation
from snnconv.method.surrogates import (
    PAPER_ENSEMBLE,
    TRAINING_GRADIENT,
    GradientMode,
    MemberGradient,
    MemberSwitch,
    fresh_statistics,
)

#: An attack's builder: its instance against one member's ``view`` (``seed`` and ``salt``, the member's label, draw its
#: per-sample random starts), with the parameters of the spec.
Builder = Callable[["AttackSpec", nn.Module, int, str], Attack]


def _step_or(spec: AttackSpec, default: float) -> float:
    return default if spec.step_size is None else spec.step_size


#: The one place an attack is registered: each name :class:`AttackSpec` accepts, and how the spec builds it. The
#: order is the tables' (single-step, iterative, adaptive, score-based).
BUILDERS: Mapping[str, Builder] = MappingProxyType({
    "FGSM": lambda spec, view, seed, salt: FGSM(view, spec.epsilon),
    # α = ε/4, the authors' 2.5ε/10.
    "RFGSM": lambda spec, view, seed, salt: RFGSM(view, spec.epsilon, _step_or(spec, spec.epsilon / 4), seed, salt),
    # η = 2.5ε/k (Sec. 4.3); SNN-RAT's PGD⁷ sets its own.
    "PGD": lambda spec, view, seed, salt: PGD(view, spec.epsilon, _step_or(spec, 2.5 * spec.epsilon / spec.steps),
                                              spec.steps, seed, salt),
    "APGD-CE": lambda spec, view, seed, salt: APGD(view, spec.epsilon, spec.steps, "ce", seed, salt),
    "APGD-DLR": lambda spec, view, seed, salt: APGD(view, spec.epsilon, spec.steps, "dlr", seed, salt),
    "APGD-T": lambda spec, view, seed, salt: TargetedAPGD(view, spec.epsilon, spec.steps, spec.targets, seed, salt),
    "SA-PGD": lambda spec, view, seed, salt: SAPGD(view, spec.epsilon, spec.steps, seed, salt),
    "Square": lambda spec, view, seed, salt: Square(view, spec.epsilon, spec.steps, seed),
})
#: The attacks' names, in :data:`BUILDERS`' order.
ATTACKS: tuple[str, ...] = tuple(BUILDERS)


def paper_attack_name(attack: str, steps: int) -> str:
    """An attack as the paper's tables name it (Sec. 4.3): PGD with its steps (``PGD20``), clean as an empty cell,
    any other attack by its name."""
    return {"clean": "", "PGD": f"PGD{steps}"}.get(attack, attack)


@dataclass(frozen=True)
class AttackSpec:
    """One attack algorithm of the ensemble (Sec. 4.3), run once per member by :func:`ensemble_robustness`.

    ``FGSM``; ``RFGSM`` with random step α = ``step_size`` (default ε/4, the authors' 2.5ε/10);
    ``PGD`` with ``steps`` and step ``step_size`` (default 2.5ε/steps; SNN-RAT's PGD⁷ uses η = 0.01);
    ``APGD-CE`` / ``APGD-DLR`` with ``steps`` iterations; ``APGD-T``, targeted APGD with the DLR loss
    towards ``targets`` classes in turn (the paper's "T-APGD-CE"; the authors' code uses targeted DLR);
    ``SA-PGD`` with ``steps`` iterations (:class:`SAPGD`, for the ASSG member; 100 in its paper);
    ``Square`` with ``steps`` queries (:mod:`snnconv.attacks.square`, forward passes of the true network only).
    Every gradient attack draws its random start per sample, so a verdict does not depend on the batch.
    ``name`` is one of :data:`ATTACKS`; :data:`BUILDERS` says how each is built.
    """

    name: str
    epsilon: float
    steps: int = 20
    step_size: float | None = None
    targets: int = 9

    def __post_init__(self) -> None:
        if self.name not in BUILDERS:
            raise ValueError(f"attack must be one of {ATTACKS}, got {self.name!r}.")
        if not self.epsilon >= 0:
            raise ValueError(f"epsilon must be >= 0, got {self.epsilon!r}.")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}.")
        if self.step_size is not None and not self.step_size >= 0:
            raise ValueError(f"step_size must be >= 0, got {self.step_size!r}.")
        if self.targets < 1:
            raise ValueError(f"targets must be >= 1, got {self.targets}.")

    @property
    def label(self) -> str:
        """The attack's name in tables (:func:`paper_attack_name`): ``PGD20`` for PGD with 20 steps, else ``name``."""
        return paper_attack_name(self.name, self.steps)

    def build(self, view: nn.Module, seed: int, salt: str) -> Attack:
        """The attack against one member's ``view``; ``salt`` (the member's label) separates random starts."""
        return BUILDERS[self.name](self, view, seed, salt)


@dataclass(frozen=True)
class EnsembleResult:
    """Per-sample outcome of an ensemble attack, and which member fooled each sample first (Sec. 4.3).

    A sample is robust only if it is classified correctly and no member fooled it; per-member verdicts
    give Table B2, ``fooled_at`` gives Fig. 4's accuracy per query budget.

    Attributes:
        clean_correct: per sample, classified correctly without attack.
        robust: per sample, classified correctly and fooled by no member.
        fooled_by: per sample, the label of the member that fooled it first, ``"clean"`` for a clean error,
            ``""`` if robust.
        members: the member labels, in the order they ran.
        member_robust: with ``per_member=True``, each member's own verdicts over every clean-correct sample.
        fooled_at: for Square, per sample the query after which it was first misclassified (0 for a clean
            error, -1 if never); ``None`` for other attacks.
        adversarial: with ``keep_adversarial=True``, per sample the first member's image that fooled the
            model, else the last member's attempt (replayed on another model by the transfer attacks of
            Table B1).
    """

    clean_correct: torch.Tensor  # bool [n]
    robust: torch.Tensor  # bool [n]
    fooled_by: tuple[str, ...]  # per sample: the member label that fooled it first, "clean" or ""
    members: tuple[str, ...] = field(default=())
    # With per_member=True: each member's own verdicts over every clean-correct sample (Table B2).
    member_robust: dict[str, torch.Tensor] = field(default_factory=dict)
    # Square only: per sample, the query after which it was first misclassified (0 = clean error, -1 = never).
    fooled_at: torch.Tensor | None = None
    # With keep_adversarial=True: per sample, the first member's image that fooled the model, else the
    # last member's attempt (the transfer attacks of Table B1 replay these on another model).
    adversarial: torch.Tensor | None = None

    def accuracy_at(self, queries: int) -> float:
        """Square only: robust accuracy (%) had the attack stopped after ``queries`` queries."""
        if self.fooled_at is None:
            raise ValueError("accuracy_at needs a Square result (fooled_at is recorded by the Square attack).")
        robust = self.clean_correct & ((self.fooled_at < 0) | (self.fooled_at > queries))
        return 100.0 * float(robust.sum()) / self.n

    def member_table(self):
        """One row per member: samples it fooled first, and its own robust accuracy when measured."""
        import pandas as pd

        rows = []
        for label in self.members:
            row = {"member": label, "fooled first": self.fooled_by.count(label)}
            if label in self.member_robust:
                row["robust accuracy (%)"] = 100.0 * float(self.member_robust[label].sum()) / self.n
            rows.append(row)
        return pd.DataFrame(rows)

    @property
    def n(self) -> int:
        """Number of evaluated samples, the denominator of :attr:`accuracy` (clean errors count as failures)."""
        return int(self.robust.numel())

    @property
    def correct(self) -> int:
        """Number of robust samples."""
        return int(self.robust.sum())

    @property
    def accuracy(self) -> float:
        """Robust accuracy (%) over all :attr:`n` samples."""
        return 100.0 * self.correct / self.n


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, simulation: Simulation, batch_size: int = 256) -> torch.Tensor:
    """Class predictions of the true network (eval mode, no gradient), in batches.

    The ensemble's success check (Sec. 4.3): an adversarial image counts only if the SNN as it runs, not
    the attacker's view of it, misclassifies it.
    """
    if not len(images):
        return torch.empty(0, dtype=torch.long)
    return logits(model, images, simulation, batch_size).argmax(1)


@torch.no_grad()
def logits(model: nn.Module, images: torch.Tensor, simulation: Simulation, batch_size: int = 256) -> torch.Tensor:
    """Logits ``[N, classes]`` of the true network (eval mode, no gradient), in batches of N ≥ 1 images (Sec. 4.3)."""
    model.eval()
    return torch.cat([model(images[i : i + batch_size], simulation) for i in range(0, len(images), batch_size)])


class _Tally:
    """The ensemble's running verdicts (Sec. 4.3): which samples are still robust, which member fooled each first,
    each member's own verdicts (``per_member``), and the images kept for transfer attacks."""

    def __init__(self, images: torch.Tensor, clean_correct: torch.Tensor, per_member: bool,
                 keep_adversarial: bool) -> None:
        self.clean_correct, self.per_member = clean_correct, per_member
        self.alive = clean_correct.clone()
        self.fooled_by = ["" if ok else "clean" for ok in clean_correct.tolist()]
        self.member_robust: dict[str, torch.Tensor] = {}
        self.adversarial = images.clone() if keep_adversarial else None

    def attacked(self) -> torch.Tensor:
        """Per sample, whether the next member attacks it: every clean-correct one with ``per_member``, else the
        samples no member has fooled yet."""
        return self.clean_correct if self.per_member else self.alive

    def record(self, label: str, chunk: torch.Tensor, adv: torch.Tensor, fooled: torch.Tensor) -> None:
        """Member ``label``'s attempt ``adv`` on the samples ``chunk``, of which ``fooled`` fooled the true network."""
        if self.adversarial is not None:
            replace = self.alive[chunk]  # keep the first member's success; else the latest attempt
            self.adversarial[chunk[replace]] = adv[replace]
        for i in chunk[fooled & self.alive[chunk]].tolist():
            self.fooled_by[i] = label
        self.alive[chunk[fooled]] = False
        if self.per_member:
            own = self.member_robust.setdefault(label, self.clean_correct.clone())
            own[chunk[fooled]] = False


class _SharedForward:
    """One forward pass of the true SNN on ``images`` through a :class:`MemberSwitch`, differentiated once per
    member: every member of the ensemble FGSM takes its gradient at the clean image (Sec. 4.3)."""

    def __init__(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, rows: torch.Tensor,
                 switch: MemberSwitch, time_steps: int, readout: Readout) -> None:
        self.rows, self.switch = rows, switch
        self.inputs = images.clone().detach().requires_grad_(True)
        # Summed, not averaged: each sample's gradient is its own loss's, whichever samples share the pass.
        self.loss = F.cross_entropy(model(self.inputs, Simulation(time_steps, switch, readout)), labels,
                                    reduction="sum")

    def gradient(self, member: GradientMode, rows: torch.Tensor) -> torch.Tensor:
        """:math:`\\nabla_x \\mathcal{L}_{CE}` under ``member`` for ``rows``, a subset of the pass's rows."""
        self.switch.member = member
        fresh_statistics(member)
        (grad,) = torch.autograd.grad(self.loss, self.inputs, retain_graph=True)
        return grad[torch.isin(self.rows, rows)]


def _shares_forward(model: nn.Module, attack: AttackSpec, time_steps: int, eot: int, member: GradientMode) -> bool:
    """Whether ``member``'s attack can take its gradient from a forward pass shared with other members: FGSM on a
    deterministic SNN, a member that changes only the spiking layers' backward."""
    return (attack.name == "FGSM" and time_steps > 0 and eot == 1 and not getattr(model, "stochastic", False)
            and isinstance(member, MemberGradient))


def ensemble_robustness(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    attack: AttackSpec,
    time_steps: int,
    members: tuple[GradientMode, ...] = PAPER_ENSEMBLE,
    readout: Readout = "mean",
    seed: int = 0,
    batch_size: int = 256,
    progress: bool = True,
    per_member: bool = False,
    keep_adversarial: bool = False,
    eot: int = 1,
) -> EnsembleResult:
    """Robust accuracy of ``model`` under ``attack`` run once per member, with early exit (Sec. 4.3, Suppl. A.4).

    This is the library's entry point for evaluating any network that takes ``(x, Simulation)``.
    ``time_steps=0`` evaluates the ANN: a single member, the ANN's own gradient. ``members=VANILLA``
    is the non-adaptive attack with the training surrogate only (Tables B3/B4). ``per_member=True``
    lets every member attack every clean-correct sample (no early exit between members) and records
    each member's own verdicts (Table B2); the ensemble verdict is the same either way. The Square
    attack uses no gradient, so it runs once, against the true network. ``keep_adversarial=True``
    returns the adversarial images too (for transfer attacks). ``eot > 1`` averages each member's logits over that
    many draws of a random input encoding (:class:`MemberView`); the success check stays one run of the network.

    The ensemble FGSM runs block by block of ``batch_size`` samples, every member in turn on each block, and the
    members that differ only in the spiking layers' backward share one forward pass (:class:`MemberSwitch`): the
    same verdicts at about half the cost.
    """
    model.eval()
    truth = Simulation(time_steps, TRAINING_GRADIENT, readout)
    if time_steps == 0 or attack.name == "Square":
        members = (TRAINING_GRADIENT,)
    labels_of = ["ANN"] if time_steps == 0 else ["Square"] if attack.name == "Square" else [m.label for m in members]
    clean_correct = predict(model, images, truth, batch_size) == labels
    tally = _Tally(images, clean_correct, per_member, keep_adversarial)
    fooled_at = torch.where(clean_correct, -1, 0).cpu() if attack.name == "Square" else None
    adversaries = [attack.build(MemberView(model, Simulation(time_steps, member, readout), eot), seed, salt=label)
                   for member, label in zip(members, labels_of, strict=True)]
    sharing = [_shares_forward(model, attack, time_steps, eot, m) for m in members]
    if sum(sharing) > 1:
        _fgsm_sharing_forwards(model, images, labels, attack.epsilon, members, labels_of, adversaries, sharing, tally,
                               truth, batch_size, progress)
    else:
        _members_in_turn(model, images, labels, attack, members, labels_of, adversaries, tally, fooled_at, truth,
                         batch_size, progress)
    for label in labels_of if per_member else ():
        tally.member_robust.setdefault(label, clean_correct.clone())  # a member that had no sample to attack
    return EnsembleResult(clean_correct, tally.alive, tuple(tally.fooled_by), tuple(labels_of), tally.member_robust,
                          fooled_at, tally.adversarial)


def _fgsm_sharing_forwards(model, images, labels, epsilon, members, labels_of, adversaries, sharing, tally, truth,
                           batch_size, progress) -> None:
    """The ensemble FGSM block by block, every member in turn on each block; the members marked in ``sharing``
    take their gradients from one forward pass of the block (:class:`_SharedForward`)."""
    index = tally.attacked().nonzero().flatten()
    blocks = [index[start : start + batch_size] for start in range(0, len(index), batch_size)]
    switch = MemberSwitch(tuple(m for m, shares in zip(members, sharing, strict=True) if shares))
    for block in tqdm(blocks, desc=f"FGSM ε={epsilon * 255:g}/255 ({len(members)} members)", disable=not progress,
                      mininterval=PROGRESS_INTERVAL):
        forward: _SharedForward | None = None
        for position, (member, label, adversary) in enumerate(zip(members, labels_of, adversaries, strict=True)):
            chunk = block[tally.attacked()[block]]
            if not len(chunk):
                break
            if not sharing[position]:
                fresh_statistics(member)
                adv = adversary(images[chunk], labels[chunk])
            else:
                # A backward costs about a forward per row: pass again on the attacked rows alone once the rows
                # that left the ensemble would cost the remaining members more than that new pass.
                remaining = sum(sharing[position:])
                if forward is None or (len(forward.rows) - len(chunk)) * remaining > len(chunk):
                    forward = _SharedForward(model, images[chunk], labels[chunk], chunk, switch, truth.time_steps,
                                             truth.readout)
                adv = fgsm_step(images[chunk], forward.gradient(member, chunk), epsilon).detach()
            fooled = predict(model, adv, truth, batch_size) != labels[chunk]
            tally.record(label, chunk, adv, fooled)


def _members_in_turn(model, images, labels, attack, members, labels_of, adversaries, tally, fooled_at, truth,
                     batch_size, progress) -> None:
    """Each member in turn on every sample still attacked, in batches; stops once no sample is left."""
    bar = tqdm(total=len(members), desc=f"{attack.label} ε={attack.epsilon * 255:g}/255", disable=not progress,
               mininterval=PROGRESS_INTERVAL)
    for member, label, adversary in zip(members, labels_of, adversaries, strict=True):
        index = tally.attacked().nonzero().flatten()
        for start in range(0, len(index), batch_size):
            chunk = index[start : start + batch_size]
            fresh_statistics(member)
            adv = adversary(images[chunk], labels[chunk])
            fooled = predict(model, adv, truth, batch_size) != labels[chunk]
            if fooled_at is not None:
                fooled_at[chunk.cpu()] = adversary.fooled_at
            tally.record(label, chunk, adv, fooled)
        # refresh=False: the bar redraws on update() at most every PROGRESS_INTERVAL, not on every member.
        bar.set_postfix(robust=int(tally.alive.sum()), refresh=False)
        bar.update(1)
        if not tally.alive.any() and not tally.per_member:
            break
    bar.close()
