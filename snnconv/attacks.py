"""Adaptive ensemble attacks over surrogate gradients (paper Sec. 4.3, Suppl. A.4).

The SNN's time loop, readout and gradient mode live behind one door: :class:`MemberView` is an
``nn.Module`` whose ``forward(x)`` returns logits of the SNN seen through one *member* (a
:data:`~snnconv.surrogates.GradientMode`). torchattacks' ``Attack.get_logits`` calls exactly that, so
attacks built on torchattacks work unchanged on any member.

The ensemble verdict (:func:`ensemble_robustness`): a test sample is robust only if *every* member's
attack fails to change the true SNN's prediction; clean errors count as failures; every member starts
from the original image; a sample fooled by one member is not attacked again. Random starts are
drawn per sample from ``(seed, member, image)``, so a verdict does not depend on the order in which
members run nor on which other samples share its batch.

Example::

    >>> import torch
    >>> from snnconv.models import build
    >>> from snnconv.attacks import AttackSpec, ensemble_robustness
    >>> net = build("vgg_small", "fashion_mnist").eval()
    >>> x, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    >>> result = ensemble_robustness(net, x, y, AttackSpec("FGSM", 8 / 255), time_steps=8, progress=False)
    >>> result.n
    4
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
import torchattacks
from torch import nn
from torchattacks.attack import Attack
from tqdm import tqdm

from snnconv.models import Readout, Simulation
from snnconv.paths import PROGRESS_INTERVAL
from snnconv.square import Square
from snnconv.surrogates import (
    PAPER_ENSEMBLE,
    TRAINING_GRADIENT,
    GradientMode,
    MemberGradient,
    MemberSwitch,
    fresh_statistics,
)

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
        """Logits of ``x`` under the view's :class:`~snnconv.models.Simulation`; with ``draws > 1`` their mean over
        that many forward passes, each with its own draw of a random input encoding — expectation over
        transformation (EOT, Athalye et al. 2018) for BNTT's Poisson input (Suppl. A.4: two draws)."""
        if self.draws == 1:
            return self.model(x, self.simulation)
        return torch.stack([self.model(x, self.simulation) for _ in range(self.draws)]).mean(0)


def project(x_adv: torch.Tensor, x: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Clip ``x_adv`` onto the ℓ∞ ball of radius ``epsilon`` around ``x`` and onto the image range [0, 1].

    The projection :math:`\\Pi_{\\Delta_\\epsilon^\\infty(x)}` of PGD (Sec. 2.2; Madry et al. 2018).
    """
    return torch.min(torch.max(x_adv, x - epsilon), x + epsilon).clamp(0.0, 1.0)


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
        return (images + self.epsilon * grad.sign()).clamp(0, 1).detach()


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
            adv = project(adv.detach() + self.step_size * grad.sign(), images, self.epsilon)
        return adv.detach()


def dlr_loss(logits: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
    """Difference-of-logits-ratio loss per sample (Croce & Hein 2020), to be *maximized*.

    Untargeted: :math:`-\\frac{z_y - \\max_{i\\ne y} z_i}{z_{\\pi_1} - z_{\\pi_3}}`; targeted at :math:`t`:
    :math:`-\\frac{z_y - z_t}{z_{\\pi_1} - \\frac{1}{2}(z_{\\pi_3} + z_{\\pi_4})}`, with
    :math:`z_{\\pi_k}` the k-th largest logit. Invariant to shifting and scaling the logits.
    """
    ranked = logits.sort(dim=1, descending=True).values
    true = logits.gather(1, labels[:, None]).squeeze(1)
    if targets is None:
        other = torch.where(logits.argmax(1) == labels, ranked[:, 1], ranked[:, 0])
        return -(true - other) / (ranked[:, 0] - ranked[:, 2] + 1e-12)
    target = logits.gather(1, targets[:, None]).squeeze(1)
    return -(true - target) / (ranked[:, 0] - 0.5 * (ranked[:, 2] + ranked[:, 3]) + 1e-12)


def apgd_checkpoints(steps: int) -> list[int]:
    """Iterations after which APGD checks whether to halve its step (Croce & Hein 2020, as their code does).

    The first check comes after :math:`w_1 = \\max(\\lfloor 0.22N \\rfloor, 1)` iterations; the spacing then
    shrinks by :math:`\\max(\\lfloor 0.03N \\rfloor, 1)` per check down to :math:`\\max(\\lfloor 0.06N \\rfloor, 1)`.
    (SA-PGD's :func:`halving_checkpoints` rounds the same fractions of N otherwise; the two agree at N = 100.)

    Example:
        >>> apgd_checkpoints(100)
        [22, 41, 57, 70, 80, 87, 93, 99]
        >>> apgd_checkpoints(10)
        [2, 3, 4, 5, 6, 7, 8, 9, 10]
    """
    spacing, shrink, shortest = (max(int(fraction * steps), 1) for fraction in (0.22, 0.03, 0.06))
    points, at = [], spacing
    while at <= steps:
        points.append(at)
        spacing = max(spacing - shrink, shortest)
        at += spacing
    return points


def halve_step(increases: torch.Tensor, window: int, halved_before: torch.Tensor, best_before: torch.Tensor,
               best: torch.Tensor, rho: float = 0.75) -> torch.Tensor:
    """Per sample, whether APGD halves its step at checkpoint :math:`w_j` (Croce & Hein 2020, conditions 1–2).

    The step is halved when either

    1. :math:`\\sum_{i=w_{j-1}}^{w_j-1} \\mathbb{1}[f(x^{(i+1)}) > f(x^{(i)})] \\le \\rho\\,(w_j - w_{j-1})`
       (``increases`` ≤ ρ·``window``: too few iterations since the last checkpoint raised the loss), or
    2. the step was not halved at :math:`w_{j-1}` (``~halved_before``) and
       :math:`f_{\\max}^{(w_{j-1})} \\ge f_{\\max}^{(w_j)}` (``best_before >= best``: the best loss did not improve).

    The paper writes condition 1 with ``<``; the reference implementation (auto-attack's and torchattacks'
    ``check_oscillation``: ``t <= k * k3``), which the authors' APGD copies, uses ``≤``, as here.
    """
    return (increases <= rho * window) | (~halved_before & (best_before >= best))


class APGD(Attack):
    """Auto-PGD (Croce & Hein 2020): momentum 0.75, step 2ε halved at checkpoints when progress stalls.

    At each checkpoint of :func:`apgd_checkpoints` the step is halved by :func:`halve_step`, and a sample whose
    step is halved restarts from its best point. As in the reference implementation: at the first checkpoint
    the step counts as halved before (condition 2 cannot fire), and the first iteration's loss is compared
    with 0 (the reference's loss history is zero-initialized and read one entry before the first iteration),
    not with the random start's. The random start is drawn per sample. Returns, per sample, the first
    misclassified iterate if any, else the highest-loss one. ``loss`` is ``"ce"`` or ``"dlr"``; ``targets``
    (per sample) switches to the targeted DLR loss. The paper's APGD-CE and APGD-DLR (Sec. 4.3, Table 2).

    Attributes:
        targets: per-sample target classes for the targeted DLR loss, or ``None`` (untargeted).
        fooled: after a call, which images were misclassified at some iterate.
    """

    def __init__(self, model: nn.Module, epsilon: float, steps: int, loss: str, seed: int, salt: str):
        super().__init__("APGD", model)
        self.epsilon, self.steps, self.loss, self.seed, self.salt = epsilon, steps, loss, seed, salt
        self.supported_mode = ["default"]
        self.targets: torch.Tensor | None = None
        self.fooled = torch.empty(0, dtype=torch.bool)  # after a call: which images were misclassified

    def _loss_and_gradient(self, x: torch.Tensor, labels: torch.Tensor):
        x = x.clone().requires_grad_(True)
        logits = self.get_logits(x)
        if self.targets is not None:
            per_sample = dlr_loss(logits, labels, self.targets)
        elif self.loss == "dlr":
            per_sample = dlr_loss(logits, labels)
        else:
            per_sample = nn.functional.cross_entropy(logits, labels, reduction="none")
        (grad,) = torch.autograd.grad(per_sample.sum(), x)
        return per_sample.detach(), grad.detach(), logits.detach().argmax(1) != labels

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        shape = (-1,) + (1,) * (images.dim() - 1)
        noise = per_sample_uniform(images, self.seed, self.salt)
        noise = noise / noise.flatten(1).abs().amax(1).clamp_min(1e-12).view(shape)
        x = project(images + self.epsilon * noise, images, self.epsilon)
        loss, grad, fooled = self._loss_and_gradient(x, labels)
        result = torch.where(fooled.view(shape), x, images)
        found = fooled.clone()
        best_x, best_loss, best_grad = x.clone(), loss.clone(), grad.clone()
        step = torch.full((len(images),), 2 * self.epsilon, device=images.device).view(shape)
        previous = x.clone()
        # The reference's first comparison is f(x^(1)) > 0, and its step counts as halved before the first check.
        previous_loss, increases = torch.zeros_like(loss), torch.zeros_like(loss)
        halved_before, best_before = torch.ones_like(found), best_loss.clone()
        checkpoints, last_check = set(apgd_checkpoints(self.steps)), 0
        for iteration in range(self.steps):
            momentum = 0.75 if iteration > 0 else 1.0
            z = project(x + step * grad.sign(), images, self.epsilon)
            x, previous = project(x + momentum * (z - x) + (1 - momentum) * (x - previous), images, self.epsilon), x
            loss, grad, fooled = self._loss_and_gradient(x, labels)
            newly = fooled & ~found
            result[newly], found = x[newly], found | fooled
            increases += (loss > previous_loss).float()
            previous_loss = loss
            better = loss > best_loss
            best_x[better], best_loss[better], best_grad[better] = x[better], loss[better], grad[better]
            if iteration + 1 in checkpoints:
                reduce = halve_step(increases, iteration + 1 - last_check, halved_before, best_before, best_loss)
                step[reduce] /= 2
                x[reduce], grad[reduce] = best_x[reduce], best_grad[reduce]
                halved_before, best_before = reduce, best_loss.clone()
                increases, last_check = torch.zeros_like(loss), iteration + 1
        self.fooled = found
        return torch.where(found.view(shape), result, best_x).detach()


class TargetedAPGD(Attack):
    """APGD with the targeted DLR loss towards each of ``targets`` classes in turn (the 2nd, 3rd, …
    highest clean logits), stopping for a sample at the first target that fools it (authors' APGDT).

    Croce & Hein 2020's APGD-T; the paper's "T-APGD-CE" with 9 target classes (Sec. 4.3, Table 2),
    which the authors' code runs with the targeted DLR loss.
    """

    def __init__(self, model: nn.Module, epsilon: float, steps: int, targets: int, seed: int, salt: str):
        super().__init__("APGD-T", model)
        self.epsilon, self.steps, self.targets, self.seed, self.salt = epsilon, steps, targets, seed, salt
        self.supported_mode = ["default"]

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            ranked = self.get_logits(images).argsort(dim=1, descending=True)
        result = images.clone()
        alive = torch.ones(len(images), dtype=torch.bool, device=images.device)
        for k in range(1, min(self.targets, ranked.shape[1] - 1) + 1):
            index = alive.nonzero().flatten()
            if len(index) == 0:
                break
            attack = APGD(self.model, self.epsilon, self.steps, "dlr", self.seed, f"{self.salt}:target{k}")
            attack.targets = ranked[index, k]
            result[index] = attack.forward(images[index], labels[index])
            alive[index[attack.fooled]] = False
        return result


ATTACKS = ("FGSM", "RFGSM", "PGD", "APGD-CE", "APGD-DLR", "APGD-T", "SA-PGD", "Square")


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
        step = (images + self.alpha * per_sample_uniform(images, self.seed, self.salt).sign()).clamp(0, 1)
        step.requires_grad_(True)
        loss = nn.functional.cross_entropy(self.get_logits(step), labels)
        (grad,) = torch.autograd.grad(loss, step)
        return project(step.detach() + (self.epsilon - self.alpha) * grad.sign(), images, self.epsilon).detach()


def halving_checkpoints(steps: int) -> list[int]:
    """Iterations after which SA-PGD halves its step: APGD's schedule (Croce & Hein 2020) as SA-PGD uses it.

    The first checkpoint is at :math:`0.22N`; the spacing then shrinks by :math:`0.03N` per checkpoint down
    to :math:`0.06N` (Wang et al. 2025).

    Example:
        >>> halving_checkpoints(100)
        [22, 41, 57, 70, 80, 87, 93, 99]
    """
    points, previous, spacing = [], 0.0, 0.22
    while previous + spacing <= 1.0:
        previous += spacing
        points.append(max(1, round(previous * steps)))
        spacing = max(spacing - 0.03, 0.06)
    return sorted(set(points))


class SAPGD(Attack):
    """SA-PGD (Wang et al. 2025): ℓ∞ PGD for the noisy gradients of SNNs, with adaptive steps.

    From a random start in the ε-ball, per step: the gradient normalized by its mean absolute value per image,
    :math:`g`; moments :math:`m \\leftarrow 0.5\\,m + 0.5\\,g`, :math:`v \\leftarrow 0.8\\,v + 0.2\\,g^2`; step
    :math:`\\delta = \\mathrm{clip}(\\eta\\, m / \\sqrt{v}, -\\eta, \\eta)` with :math:`\\eta = \\epsilon` halved at
    :func:`halving_checkpoints`; projection onto the ball (Eq. 4's :math:`\\Delta_\\epsilon^\\infty`). Returns each
    image's first misclassified iterate, else its highest-loss iterate. With the ASSG member
    (:class:`~snnconv.surrogates.AdaptiveSharpness`) it resets the surrogate's statistics at the start of every run.
    """

    def __init__(self, model: nn.Module, epsilon: float, steps: int, seed: int, salt: str) -> None:
        super().__init__("SA-PGD", model)
        self.epsilon, self.steps, self.seed, self.salt = epsilon, steps, seed, salt
        self.supported_mode = ["default"]

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        gradient = getattr(getattr(self.model, "simulation", None), "gradient", None)
        if gradient is not None:
            fresh_statistics(gradient)  # the statistics belong to this run (this batch, this member)
        images = images.clone().detach()
        adv = (images + self.epsilon * per_sample_uniform(images, self.seed, self.salt)).clamp(0, 1)
        shape = (-1, *([1] * (images.dim() - 1)))
        first_moment, second_moment = torch.zeros_like(images), torch.zeros_like(images)
        eta, checkpoints = self.epsilon, set(halving_checkpoints(self.steps))
        fooled = torch.zeros(len(images), dtype=torch.bool, device=images.device)
        best_loss = torch.full((len(images),), -torch.inf, device=images.device)
        result = adv.clone()
        for step in range(self.steps + 1):  # the last pass only scores the final iterate
            adv.requires_grad_(True)
            logits = self.get_logits(adv)
            loss = nn.functional.cross_entropy(logits, labels, reduction="none")
            with torch.no_grad():
                wrong = logits.argmax(1) != labels
                keep = (wrong & ~fooled) | (~fooled & ~wrong & (loss > best_loss))
                result[keep] = adv.detach()[keep]
                best_loss = torch.where(keep, loss, best_loss)
                fooled |= wrong
            if step == self.steps or fooled.all():
                break
            (grad,) = torch.autograd.grad(loss.sum(), adv)
            with torch.no_grad():
                grad = grad / grad.abs().flatten(1).mean(1).clamp_min(1e-12).view(shape)
                first_moment = 0.5 * first_moment + 0.5 * grad
                second_moment = 0.8 * second_moment + 0.2 * grad * grad
                delta = (eta * first_moment / second_moment.sqrt().clamp_min(1e-12)).clamp(-eta, eta)
                adv = project(adv.detach() + delta, images, self.epsilon)
            if step + 1 in checkpoints:
                eta /= 2
        return result.detach()


@dataclass(frozen=True)
class AttackSpec:
    """One attack algorithm of the ensemble (Sec. 4.3), run once per member by :func:`ensemble_robustness`.

    ``FGSM``; ``RFGSM`` with random step α = ``step_size`` (default ε/4, the authors' 2.5ε/10);
    ``PGD`` with ``steps`` and step ``step_size`` (default 2.5ε/steps; SNN-RAT's PGD⁷ uses η = 0.01);
    ``APGD-CE`` / ``APGD-DLR`` with ``steps`` iterations; ``APGD-T``, targeted APGD with the DLR loss
    towards ``targets`` classes in turn (the paper's "T-APGD-CE"; the authors' code uses targeted DLR);
    ``SA-PGD`` with ``steps`` iterations (:class:`SAPGD`, for the ASSG member; 100 in its paper);
    ``Square`` with ``steps`` queries (:mod:`snnconv.square`, forward passes of the true network only).
    Every gradient attack draws its random start per sample, so a verdict does not depend on the batch.
    """

    name: Literal["FGSM", "RFGSM", "PGD", "APGD-CE", "APGD-DLR", "APGD-T", "SA-PGD", "Square"]
    epsilon: float
    steps: int = 20
    step_size: float | None = None
    targets: int = 9

    def __post_init__(self) -> None:
        if self.name not in ATTACKS:
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
        """The attack's name in tables, ``PGD20`` for PGD with 20 steps, else ``name``."""
        return f"PGD{self.steps}" if self.name == "PGD" else self.name

    def build(self, view: nn.Module, seed: int, salt: str) -> Attack:
        """The attack against one member's ``view``; ``salt`` (the member's label) separates random starts."""
        if self.name == "APGD-T":
            return TargetedAPGD(view, self.epsilon, self.steps, self.targets, seed, salt)
        if self.name.startswith("APGD"):
            return APGD(view, self.epsilon, self.steps, self.name.split("-")[1].lower(), seed, salt)
        if self.name == "Square":
            return Square(view, self.epsilon, self.steps, seed)
        if self.name == "SA-PGD":
            return SAPGD(view, self.epsilon, self.steps, seed, salt)
        if self.name == "FGSM":
            return FGSM(view, self.epsilon)
        if self.name == "RFGSM":
            alpha = self.epsilon / 4 if self.step_size is None else self.step_size
            return RFGSM(view, self.epsilon, alpha, seed, salt)
        step_size = 2.5 * self.epsilon / self.steps if self.step_size is None else self.step_size
        return PGD(view, self.epsilon, step_size, self.steps, seed, salt)


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
                adv = (images[chunk] + epsilon * forward.gradient(member, chunk).sign()).clamp(0, 1).detach()
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


#: What a transfer attack hands the target for an image the source resists: the source's highest-loss
#: attempt (ours), or the clean image (the authors' MultiAttack).
ResistedImage = Literal["highest_loss", "clean"]
RESISTED_IMAGES: tuple[str, ...] = ("highest_loss", "clean")


def transfer_images(
    source: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    attack: AttackSpec,
    time_steps: int,
    members: tuple[GradientMode, ...] = PAPER_ENSEMBLE,
    readout: Readout = "mean",
    seed: int = 0,
    batch_size: int = 256,
    progress: bool = True,
    resisted: ResistedImage = "highest_loss",
) -> torch.Tensor:
    """Adversarial images crafted on ``source`` for a transfer attack (Table B1, Suppl. B.1), one per test image.

    Every member attacks every test image — also those the source already misclassifies, whose clean image
    would otherwise reach the target unperturbed. An image takes the first member's attempt that fools the
    source; for an image the source resists, the attempt with the highest cross-entropy on the source (its
    true forward pass). ``resisted="clean"`` is the authors' MultiAttack instead: an image the source resists
    is replaced by the clean one, so it reaches the target unperturbed (see the deviations page). Members see
    images one by one (per-image random starts), so the result does not depend on member order within "first
    success" ties or on batching.
    """
    if resisted not in RESISTED_IMAGES:
        raise ValueError(f"resisted={resisted!r}: one of {RESISTED_IMAGES}")
    source.eval()
    truth = Simulation(time_steps, TRAINING_GRADIENT, readout)
    if time_steps == 0:
        members = (TRAINING_GRADIENT,)
    labels_of = ["ANN"] if time_steps == 0 else [m.label for m in members]
    crafted = images.clone()
    fooled = torch.zeros(len(images), dtype=torch.bool, device=images.device)
    best_loss = torch.full((len(images),), -torch.inf, device=images.device)
    for member, label in tqdm(list(zip(members, labels_of, strict=True)), desc=f"transfer images {attack.label}",
                              disable=not progress, mininterval=PROGRESS_INTERVAL):
        adversary = attack.build(MemberView(source, Simulation(time_steps, member, readout)), seed, salt=label)
        for start in range(0, len(images), batch_size):
            chunk = torch.arange(start, min(start + batch_size, len(images)), device=images.device)
            fresh_statistics(member)
            adv = adversary(images[chunk], labels[chunk])
            scores = logits(source, adv, truth, batch_size)  # one forward gives both loss and prediction
            loss = F.cross_entropy(scores, labels[chunk], reduction="none")
            fools = scores.argmax(1) != labels[chunk]
            # First success wins; until then keep the highest-loss attempt.
            take = ~fooled[chunk] & (fools | (loss > best_loss[chunk]))
            crafted[chunk[take]] = adv[take]
            best_loss[chunk[take]] = loss[take]
            fooled[chunk] |= fools
    if resisted == "clean":
        crafted[~fooled] = images[~fooled]
    return crafted


def autoattack_robustness(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epsilon: float, seed: int = 0,
    batch_size: int = 256, progress: bool = True,
) -> EnsembleResult:
    """Standard AutoAttack (APGD-CE, APGD-T, FAB-T, Square) on the ANN, via torchattacks.

    Croce & Hein 2020; the baseline ANNs' ε₃ robustness of Table 1 and the AA column of Table A1 (Sec. 4.3).
    """
    model.eval()
    view = MemberView(model, Simulation(0))
    adversary = torchattacks.AutoAttack(view, norm="Linf", eps=epsilon, version="standard",
                                        n_classes=int(model(images[:1]).shape[1]), seed=seed)
    clean_correct = predict(model, images, Simulation(0), batch_size) == labels
    robust = clean_correct.clone()
    index = clean_correct.nonzero().flatten()
    for start in tqdm(range(0, len(index), batch_size), desc=f"AutoAttack ε={epsilon * 255:g}/255",
                      disable=not progress, mininterval=PROGRESS_INTERVAL):
        chunk = index[start : start + batch_size]
        adv = adversary(images[chunk], labels[chunk])
        robust[chunk] = predict(model, adv, Simulation(0), batch_size) == labels[chunk]
    fooled_by = tuple("" if r else ("AutoAttack" if c else "clean")
                      for r, c in zip(robust.tolist(), clean_correct.tolist(), strict=True))
    return EnsembleResult(clean_correct, robust, fooled_by, ("AutoAttack",))
