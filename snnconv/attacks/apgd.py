"""Auto-PGD with the CE and DLR losses, its targeted variant, and SA-PGD (Croce & Hein 2020; Wang et al. 2025).

APGD's step-halving schedule (:func:`apgd_checkpoints`, :func:`halve_step`) and the two APGD classes are versioned
in the keys of the verdicts they compute (``store.ATTACK_REVISIONS``), so a change to them recomputes only APGD
verdicts.
"""

from __future__ import annotations

import torch
from torch import nn
from torchattacks.attack import Attack

from snnconv.attacks.gradient import per_sample_uniform, project
from snnconv.method.surrogates import fresh_statistics


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
    SA-PGD (:class:`SAPGD`) halves its step on the same schedule, as Wang et al. (2025) take it from APGD.

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


class SAPGD(Attack):
    """SA-PGD (Wang et al. 2025): ℓ∞ PGD for the noisy gradients of SNNs, with adaptive steps.

    From a random start in the ε-ball, per step: the gradient normalized by its mean absolute value per image,
    :math:`g`; moments :math:`m \\leftarrow 0.5\\,m + 0.5\\,g`, :math:`v \\leftarrow 0.8\\,v + 0.2\\,g^2`; step
    :math:`\\delta = \\mathrm{clip}(\\eta\\, m / \\sqrt{v}, -\\eta, \\eta)` with :math:`\\eta = \\epsilon` halved at
    APGD's checkpoints (:func:`apgd_checkpoints`); projection onto the ball (Eq. 4's
    :math:`\\Delta_\\epsilon^\\infty`). Returns each image's first misclassified iterate, else its highest-loss
    iterate. With the ASSG member (:class:`~snnconv.method.surrogates.AdaptiveSharpness`) it resets the surrogate's
    statistics at the start of every run.
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
        eta, checkpoints = self.epsilon, set(apgd_checkpoints(self.steps))
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
