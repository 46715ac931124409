"""The attacker's door to an SNN, and the gradient-sign attacks FGSM, RFGSM and PGD (paper Sec. 2.2, 4.3).

The SNN's time loop, readout and gradient mode live behind one door: :class:`MemberView` is an
``nn.Module`` whose ``forward(x)`` returns logits of the SNN seen through one *member* (a
:data:`~snnconv.method.surrogates.GradientMode`). torchattacks' ``Attack.get_logits`` calls exactly that, so
attacks built on torchattacks work unchanged on any member. Random starts are drawn per sample from
``(seed, member, image)`` (:func:`per_sample_uniform`), so a verdict does not depend on which other samples share
its batch.
"""

from __future__ import annotations

import hashlib

import torch
from torch import nn
from torchattacks.attack import Attack

from snnconv.method.models import Simulation
from snnconv.method.surrogates import TRAINING_GRADIENT, GradientMode

#: The non-adaptive attack, with only the surrogate the SNN was trained with (Tables B3/B4, "vanilla").
VANILLA: tuple[GradientMode, ...] = (TRAINING_GRADIENT,)


class MemberView(nn.Module):
    """The network as one attacker sees it: ``forward(x)`` = logits under ``member``'s gradient.

    One member of the adaptive ensemble (Sec. 4.3, Suppl. A.4): the forward is the SNN's (or, for the
    conversion-based approximation, the ANN's), the backward uses the member's gradient mode.
    """

    def __init__(self, model: nn.Module, simulation: Simulation, draws: int = 1) -> None:
        super().__init__()
        self.model = model
        self.simulation = simulation
        self.draws = draws
        # torchattacks restores the view's own mode after an attack, which reaches the wrapped model:
        # the view must mirror the model's mode, or an attack leaves the model in training mode.
        self.train(model.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of ``x`` under the view's :class:`~snnconv.method.models.Simulation`; with ``draws > 1`` their mean
        over that many forward passes, each with its own draw of a random input encoding — expectation over
        transformation (EOT, Athalye et al. 2018) for BNTT's Poisson input (Suppl. A.4: two draws)."""
        if self.draws == 1:
            return self.model(x, self.simulation)
        return torch.stack([self.model(x, self.simulation) for _ in range(self.draws)]).mean(0)


def project(x_adv: torch.Tensor, x: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Clip ``x_adv`` onto the ℓ∞ ball of radius ``epsilon`` around ``x`` and onto the image range [0, 1].

    The projection :math:`\\Pi_{\\Delta_\\epsilon^\\infty(x)}` of PGD (Sec. 2.2; Madry et al. 2018).
    """
    return torch.min(torch.max(x_adv, x - epsilon), x + epsilon).clamp(0.0, 1.0)


# The gradient-sign steps below are shared by the attacks (FGSM, RFGSM, PGD) and the training objectives' inner
# maximizations (training.objectives), so an evaluation attack and the attack a model is trained against take the
# very same step. Each caller draws its own randomness (an attack per sample, an objective from torch's generator).


def fgsm_step(x: torch.Tensor, grad: torch.Tensor, epsilon: float) -> torch.Tensor:
    """FGSM's single step :math:`\\mathrm{clip}_{[0,1]}(x + \\epsilon\\,\\mathrm{sign}\\,g)` with ``grad`` = g
    (Goodfellow et al. 2015; the ensemble FGSM of Sec. 4.3)."""
    return (x + epsilon * grad.sign()).clamp(0, 1)


def pgd_step(x_adv: torch.Tensor, grad: torch.Tensor, x: torch.Tensor, epsilon: float,
             step_size: float) -> torch.Tensor:
    """One ascent step of PGD, :math:`\\Pi_{\\Delta_\\epsilon^\\infty(x)}[\\tilde{x} + \\eta\\,\\mathrm{sign}\\,g]`
    with ``x_adv`` = x̃, ``grad`` = g (the loss's gradient at x̃) and ``step_size`` = η (Sec. 2.2; Madry et al. 2018)."""
    return project(x_adv + step_size * grad.sign(), x, epsilon)


def rfgsm_start(x: torch.Tensor, alpha: float, noise: torch.Tensor) -> torch.Tensor:
    """RFGSM's random step :math:`x' = \\mathrm{clip}_{[0,1]}(x + \\alpha\\,\\mathrm{sign}(n))` (Eq. 10; Tramèr et al.
    2018): ``noise`` = n is a draw of :math:`\\mathcal{N}(0, I)` or of any distribution symmetric about 0, whose
    sign has the same law."""
    return (x + alpha * noise.sign()).clamp(0, 1)


def rfgsm_step(x_rand: torch.Tensor, grad: torch.Tensor, x: torch.Tensor, epsilon: float,
               alpha: float) -> torch.Tensor:
    """RFGSM's gradient step from ``x_rand`` = x', :math:`\\tilde{x} = x' + (\\epsilon-\\alpha)\\,\\mathrm{sign}\\,g`
    projected onto the ε-ball (Eq. 10; Tramèr et al. 2018): a PGD step of size ε − α."""
    return pgd_step(x_rand, grad, x, epsilon, epsilon - alpha)


def per_sample_uniform(images: torch.Tensor, seed: int, salt: str) -> torch.Tensor:
    """Uniform noise in [-1, 1) for each image, determined by ``(seed, salt, image content)`` alone.

    The random starts of the attacks (PGD's :math:`\\delta \\sim \\mathcal{U}(-\\epsilon, \\epsilon)`, Sec. 2.2;
    APGD's; RFGSM's random sign), drawn per sample so that an ensemble verdict (Sec. 4.3) does not
    depend on batch composition or member order.
    """
    pixels = (images.detach() * 255).round().to(torch.int64).flatten(1).cpu()
    noise = torch.empty(images.shape, dtype=images.dtype)
    for i, row in enumerate(pixels):
        digest = hashlib.blake2b(row.numpy().tobytes() + f"{seed}:{salt}".encode(), digest_size=8)
        generator = torch.Generator().manual_seed(int.from_bytes(digest.digest(), "little") >> 1)
        noise[i] = torch.rand(images.shape[1:], generator=generator, dtype=images.dtype) * 2 - 1
    return noise.to(images.device)


class FGSM(Attack):
    """Fast gradient sign method: :math:`\\tilde{x} = x + \\epsilon\\,\\mathrm{sign}\\nabla_x \\mathcal{L}_{CE}`.

    Goodfellow et al. 2015; single step, no random start (Sec. 4.3, Table B2).
    """

    def __init__(self, model: nn.Module, epsilon: float) -> None:
        super().__init__("FGSM", model)
        self.epsilon = epsilon
        self.supported_mode = ["default"]

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        images = images.clone().detach().requires_grad_(True)
        loss = nn.functional.cross_entropy(self.get_logits(images), labels)
        (grad,) = torch.autograd.grad(loss, images)
        return fgsm_step(images, grad, self.epsilon).detach()


class RFGSM(Attack):
    """Random-step FGSM: :math:`x' = x + \\alpha\\,\\mathrm{sign}(\\mathcal{N}(0,I))`, then
    :math:`\\tilde{x} = x' + (\\epsilon-\\alpha)\\,\\mathrm{sign}\\nabla_{x'}\\mathcal{L}_{CE}`.

    Tramèr et al. 2018; Eq. (10) with the cross-entropy loss, as an evaluation attack (Sec. 4.3, Table 2).
    The random sign is drawn per sample, like PGD's start.
    """

    def __init__(self, model: nn.Module, epsilon: float, alpha: float, seed: int, salt: str):
        super().__init__("RFGSM", model)
        self.epsilon, self.alpha, self.seed, self.salt = epsilon, alpha, seed, salt
        self.supported_mode = ["default"]

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # The sign of a symmetric uniform draw has the distribution of sign(N(0, I)).
        step = rfgsm_start(images, self.alpha, per_sample_uniform(images, self.seed, self.salt))
        step.requires_grad_(True)
        loss = nn.functional.cross_entropy(self.get_logits(step), labels)
        (grad,) = torch.autograd.grad(loss, step)
        return rfgsm_step(step.detach(), grad, images, self.epsilon, self.alpha).detach()


class PGD(Attack):
    """PGD-k with a uniform random start in the ε-ball (drawn per sample) and CE ascent (Madry et al. 2018).

    The update of Sec. 2.2, :math:`\\tilde{x}_{k+1} = \\Pi_{\\Delta_\\epsilon^\\infty(x)}[\\tilde{x}_k +
    \\eta\\,\\mathrm{sign}\\nabla \\mathcal{L}_{CE}]`; the paper's step is :math:`\\eta = 2.5\\epsilon/k` (Sec. 4.3).
    """

    def __init__(self, model: nn.Module, epsilon: float, step_size: float, steps: int, seed: int, salt: str):
        super().__init__("PGD", model)
        self.epsilon, self.step_size, self.steps = epsilon, step_size, steps
        self.seed, self.salt = seed, salt
        self.supported_mode = ["default"]

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        start = images + self.epsilon * per_sample_uniform(images, self.seed, self.salt)
        adv = start.clamp(0, 1).detach()
        for _ in range(self.steps):
            adv.requires_grad_(True)
            loss = nn.functional.cross_entropy(self.get_logits(adv), labels)
            (grad,) = torch.autograd.grad(loss, adv)
            adv = pgd_step(adv.detach(), grad, images, self.epsilon, self.step_size)
        return adv.detach()
