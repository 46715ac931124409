"""Training objectives: natural, AT, TRADES and MART for ANNs (Eqs. 4–6); robust finetuning for SNNs (Eqs. 9–10).

Every objective is a small immutable value; calling it on ``(model, x, y)`` returns the loss of the
batch. The inner maximization is crafted with the model in eval mode (batch-norm running statistics,
no dropout), the loss is computed in the model's current (training) mode — as in the authors' code.

KL direction: the paper writes :math:`D_{KL}(f(\\tilde{x}) \\| f(x))`; the authors' code (standard
TRADES) computes :math:`KL(p_x \\| p_{\\tilde{x}}) = \\sum_j p_x^{(j)} \\log(p_x^{(j)}/p_{\\tilde{x}}^{(j)})`.
We follow the code; see the deviations page.

Example::

    >>> import torch
    >>> from snnconv.method.models import build
    >>> from snnconv.training.objectives import AdversarialTraining
    >>> net = build("vgg_small", "fashion_mnist").train()
    >>> loss = AdversarialTraining(epsilon=2 / 255)(net, torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3]))
    >>> loss.shape
    torch.Size([])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from snnconv.attacks import pgd_step, project, rfgsm_start, rfgsm_step
from snnconv.method.models import ANN, Simulation

Logits = Callable[[torch.Tensor], torch.Tensor]


@contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode inside the block, the previous mode afterwards.

    The inner maximizations of Eqs. (4) and (10) run in it, as in the authors' code: batch norm on its
    running statistics, no dropout.
    """
    training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(training)


def kl_clean_adversarial(clean_logits: torch.Tensor, adversarial_logits: torch.Tensor) -> torch.Tensor:
    """:math:`\\frac{1}{B}\\sum_i KL(p_{x_i} \\| p_{\\tilde{x}_i})`, the KL term of Eqs. (5), (9) and (12) (batch mean).

    The paper writes :math:`D_{KL}(f(\\tilde{x}) \\| f(x))`; like the authors' code and standard TRADES
    (Zhang et al. 2019) this is :math:`KL(p_x \\| p_{\\tilde{x}})`, summed over classes and averaged over the
    batch (see the module docstring).
    """
    return F.kl_div(
        F.log_softmax(adversarial_logits, dim=1), F.softmax(clean_logits, dim=1), reduction="batchmean"
    )


def projected_gradient_ascent(
    logits: Logits,
    x: torch.Tensor,
    loss: Callable[[torch.Tensor], torch.Tensor],
    epsilon: float,
    steps: int,
    start: torch.Tensor,
) -> torch.Tensor:
    """Sign-gradient ascent of ``loss(logits(x̃))`` in the l∞ ball, step :math:`2.5\\epsilon/k` (Suppl. A.2)."""
    step_size = 2.5 * epsilon / steps
    x_adv = project(start, x, epsilon).detach()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(loss(logits(x_adv)), x_adv)
        x_adv = pgd_step(x_adv.detach(), grad, x, epsilon, step_size).detach()
    return x_adv


def inner_maximization(
    model: nn.Module,
    simulation: Simulation,
    x: torch.Tensor,
    loss: Callable[[torch.Tensor], torch.Tensor],
    epsilon: float,
    steps: int,
    start: torch.Tensor,
) -> torch.Tensor:
    """The inner max of Eq. (4): :func:`projected_gradient_ascent` with the model in eval mode."""
    with evaluation_mode(model):
        return projected_gradient_ascent(lambda z: model(z, simulation), x, loss, epsilon, steps, start)


def _summed_cross_entropy(y: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda logits: F.cross_entropy(logits, y, reduction="sum")


@dataclass(frozen=True)
class Natural:
    """Natural training, :math:`\\mathcal{L}_{CE}(f(x), y)` (Sec. 2.2; :math:`\\mathcal{L}_{CE}` of Eq. 12).

    With an SNN ``simulation`` it trains a vanilla SNN end to end through BPTT (Table B5's first row).
    """

    simulation: Simulation = ANN

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(x, self.simulation), y)


@dataclass(frozen=True)
class AdversarialTraining:
    """Standard AT, Eq. (4): :math:`\\mathcal{L}_{CE}(f(\\tilde{x}), y)` with PGD-k from a uniform start."""

    epsilon: float
    steps: int = 10
    simulation: Simulation = ANN

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        start = x + torch.empty_like(x).uniform_(-self.epsilon, self.epsilon)
        x_adv = inner_maximization(model, self.simulation, x, _summed_cross_entropy(y), self.epsilon, self.steps,
                                   start)
        return F.cross_entropy(model(x_adv, self.simulation), y)


@dataclass(frozen=True)
class TRADES:
    """TRADES, Eq. (5): :math:`\\mathcal{L}_{CE}(f(x),y) + \\lambda\\, KL(p_x \\| p_{\\tilde{x}})`, KL ascent."""

    epsilon: float
    trade_off: float = 6.0  # λ_TRADES
    steps: int = 10
    simulation: Simulation = ANN

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with evaluation_mode(model):
            clean = model(x, self.simulation).detach()
        x_adv = inner_maximization(model, self.simulation, x, lambda out: kl_clean_adversarial(clean, out),
                                   self.epsilon, self.steps, x + 0.001 * torch.randn_like(x))
        clean_logits = model(x, self.simulation)
        return F.cross_entropy(clean_logits, y) + self.trade_off * kl_clean_adversarial(
            clean_logits, model(x_adv, self.simulation)
        )


@dataclass(frozen=True)
class MART:
    """MART, Eq. (6): boosted CE on :math:`\\tilde{x}` + :math:`\\lambda (1-p_x^{(y)}) KL(p_x\\|p_{\\tilde{x}})`."""

    epsilon: float
    trade_off: float = 4.0  # λ_MART
    steps: int = 10
    simulation: Simulation = ANN

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x_adv = inner_maximization(model, self.simulation, x, _summed_cross_entropy(y), self.epsilon, self.steps,
                                   x + 0.001 * torch.randn_like(x))
        clean_logits, adv_logits = model(x, self.simulation), model(x_adv, self.simulation)
        adv_probs = F.softmax(adv_logits, dim=1)
        # Most probable wrong class under the adversarial input, as in the original MART code.
        wrong = adv_probs.masked_fill(F.one_hot(y, adv_probs.shape[1]).bool(), -1.0).argmax(dim=1)
        boosted_ce = F.cross_entropy(adv_logits, y) + F.nll_loss(torch.log(1.0001 - adv_probs + 1e-12), wrong)
        clean_probs = F.softmax(clean_logits, dim=1)
        kl = F.kl_div(F.log_softmax(adv_logits, dim=1), clean_probs, reduction="none").sum(dim=1)
        true_prob = clean_probs.gather(1, y.unsqueeze(1)).squeeze(1)
        return boosted_ce + self.trade_off * (kl * (1.0000001 - true_prob)).mean()


#: Table B5's inner-maximization losses of the RFGSM step: ``kl`` (Eq. 10) and ``ce``
#: (:math:`\mathcal{L}_{CE}(f(x'),y)`).
INNER_LOSSES = ("kl", "ce")
#: Table B5's outer objectives: ``eq11`` (Eq. 9/11, CE on x plus β·KL) and ``adversarial_ce`` (standard AT,
#: :math:`\mathcal{L}_{CE}(f(\tilde{x}),y)`).
OUTER_OBJECTIVES = ("eq11", "adversarial_ce")


@dataclass(frozen=True)
class RobustFinetuning:
    """SNN robust finetuning, Eqs. (9)–(10): :math:`\\mathcal{L}_{CE}(f(x),y) + \\beta\\, KL(p_x\\|p_{\\tilde{x}})`.

    :math:`\\tilde{x} = x' + (\\epsilon-\\alpha)\\,\\mathrm{sign}\\nabla_{x'} KL(p_x \\| p_{x'})`,
    :math:`x' = x + \\alpha\\,\\mathrm{sign}(\\mathcal{N}(0, I))`: one RFGSM step through BPTT.
    ``trade_off=0`` with ``epsilon=0`` is natural finetuning (Table B5's "natural L_CE" row).

    Table B5's ablations (Suppl. B.3): ``inner_loss="ce"`` ascends :math:`\\mathcal{L}_{CE}(f(x'),y)` instead of
    the KL of Eq. (10); ``outer="adversarial_ce"`` minimizes :math:`\\mathcal{L}_{CE}(f(\\tilde{x}),y)` alone (standard
    AT, Eq. 4 with the RFGSM step) instead of Eq. (11).
    """

    epsilon: float
    step: float  # α
    trade_off: float = 2.0  # β
    simulation: Simulation = field(default_factory=lambda: Simulation(time_steps=8))
    inner_loss: str = "kl"
    outer: str = "eq11"

    def __post_init__(self) -> None:
        if self.inner_loss not in INNER_LOSSES or self.outer not in OUTER_OBJECTIVES:
            raise ValueError(f"inner_loss must be one of {INNER_LOSSES} and outer one of {OUTER_OBJECTIVES}, "
                             f"got {self.inner_loss!r} and {self.outer!r}.")

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        natural = self.trade_off == 0 and self.outer == "eq11"
        clean_logits = None if self.outer == "adversarial_ce" else model(x, self.simulation)
        if natural:
            return F.cross_entropy(clean_logits, y)
        with evaluation_mode(model):
            x_rand = rfgsm_start(x, self.step, torch.randn_like(x)).requires_grad_(True)
            if self.inner_loss == "kl":
                clean_eval = model(x, self.simulation).detach()
                inner = kl_clean_adversarial(clean_eval, model(x_rand, self.simulation))
            else:
                inner = F.cross_entropy(model(x_rand, self.simulation), y)
            (grad,) = torch.autograd.grad(inner, x_rand)
            x_adv = rfgsm_step(x_rand.detach(), grad, x, self.epsilon, self.step)
        if self.outer == "adversarial_ce":
            return F.cross_entropy(model(x_adv, self.simulation), y)
        loss = F.cross_entropy(clean_logits, y)
        return loss + self.trade_off * kl_clean_adversarial(clean_logits, model(x_adv, self.simulation))


@dataclass(frozen=True)
class RandomStepAdversarialTraining:
    """SNN-RAT's objective (Ding et al. 2022; authors' notes §8): :math:`(1-w)\\,\\mathcal{L}_{CE}(f(\\tilde{x}),y)
    + w\\,\\mathcal{L}_{CE}(f(x),y)`, with :math:`\\tilde{x}` one RFGSM step through BPTT
    (:math:`x' = x + \\alpha\\,\\mathrm{sign}(\\mathcal{N}(0,I))`,
    :math:`\\tilde{x} = x' + (\\epsilon-\\alpha)\\,\\mathrm{sign}\\nabla_{x'}\\mathcal{L}_{CE}`).

    SNN-RAT's code trains on the adversarial images only, ``clean_weight=0``; the Parseval retraction
    that completes SNN-RAT is applied after each optimizer step (:class:`snnconv.training.train.ParsevalRetraction`).
    """

    epsilon: float
    step: float  # α
    clean_weight: float = 0.0
    simulation: Simulation = field(default_factory=lambda: Simulation(time_steps=8))

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with evaluation_mode(model):
            x_rand = rfgsm_start(x, self.step, torch.randn_like(x)).requires_grad_(True)
            (grad,) = torch.autograd.grad(F.cross_entropy(model(x_rand, self.simulation), y), x_rand)
            x_adv = rfgsm_step(x_rand.detach(), grad, x, self.epsilon, self.step)
        loss = (1 - self.clean_weight) * F.cross_entropy(model(x_adv, self.simulation), y)
        if self.clean_weight > 0:
            loss = loss + self.clean_weight * F.cross_entropy(model(x, self.simulation), y)
        return loss
