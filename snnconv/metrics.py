"""Measurements beside robust accuracy: gradient-masking diagnostics (Carlini et al. 2019; paper Sec. 5.4).

A robust accuracy is only believable next to the checks that would expose masked or obfuscated
gradients. Each function here measures one such quantity on real data; :func:`diagnose` turns them
into pass/fail rows, so a failing check is shown next to the number it casts doubt on.

* :func:`input_gradient_norms` — the loss gradient with respect to the input must not vanish;
* :func:`random_noise_accuracy` — uniform noise of the same budget must hurt far less than the attack;
* an unbounded attack (a large ε, e.g. ``AttackSpec("PGD", 64 / 255)``) must drive accuracy to ~0;
* and, given the runs, the orderings: iterative ≤ single-step, white-box ≤ transfer and ≤ Square,
  accuracy non-increasing in ε.

Example::

    >>> import torch
    >>> from snnconv.models import Simulation, build
    >>> net = build("vgg_small", "fashion_mnist").eval()
    >>> norms = input_gradient_norms(net, torch.rand(3, 1, 28, 28), torch.tensor([0, 1, 2]), Simulation(0))
    >>> norms.shape
    torch.Size([3])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from snnconv.attacks import per_sample_uniform, predict
from snnconv.models import Simulation


def input_gradient_norms(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, simulation: Simulation
) -> torch.Tensor:
    """:math:`\\|\\nabla_x \\mathcal{L}_{CE}(f(x), y)\\|_1` per image, through ``simulation``'s gradient mode."""
    model.eval()
    x = images.clone().requires_grad_(True)
    loss = F.cross_entropy(model(x, simulation), labels, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return grad.abs().flatten(1).sum(1).detach()


@torch.no_grad()
def random_noise_accuracy(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epsilon: float, simulation: Simulation,
    seed: int = 0,
) -> float:
    """Accuracy (%) under uniform noise in the ℓ∞ ball of radius ``epsilon`` (drawn per image)."""
    noisy = (images + epsilon * per_sample_uniform(images, seed, "random-noise")).clamp(0, 1)
    return 100.0 * float((predict(model, noisy, simulation) == labels).float().mean())


@dataclass(frozen=True)
class Evidence:
    """The measurements that :func:`diagnose` judges (accuracies in %); ``None`` = not measured."""

    clean: float
    attacked: float  # the white-box (ensemble) iterative attack at the evaluated budget
    random_noise: float  # uniform noise at the same budget
    unbounded: float  # the same attack at a budget large enough to change the image class
    zero_gradient_fraction: float  # share of images whose input gradient is exactly zero
    single_step: float | None = None  # FGSM at the evaluated budget
    by_epsilon: tuple[float, ...] = ()  # the iterative attack at increasing budgets
    transfer: float | None = None  # adversarial images crafted on another model (black box)
    square: float | None = None  # the query-based Square attack (black box)


def diagnose(evidence: Evidence, tolerance: float = 5.0) -> list[dict]:
    """Pass/fail rows for the checks that :class:`Evidence` allows; ``tolerance`` is in points.

    Orderings between attacks (iterative vs single-step, white-box vs black-box, budgets) allow one
    point of slack: they compare finite samples, and a one-image inversion is not evidence of masking.
    """
    e, slack = evidence, 1.0
    rows = [
        {"check": "input gradients are not zero", "passed": e.zero_gradient_fraction < 0.5,
         "value": f"{100 * e.zero_gradient_fraction:.1f} % of images have a zero gradient"},
        {"check": "random noise at ε hurts less than the attack", "passed": e.random_noise >= e.attacked + tolerance,
         "value": f"noise {e.random_noise:.2f} % vs attack {e.attacked:.2f} %"},
        {"check": "random noise at ε keeps most of the clean accuracy",
         "passed": e.random_noise >= e.clean - 2 * tolerance,
         "value": f"noise {e.random_noise:.2f} % vs clean {e.clean:.2f} %"},
        {"check": "an unbounded attack drives accuracy to about 0", "passed": e.unbounded <= tolerance,
         "value": f"{e.unbounded:.2f} %"},
    ]
    if e.single_step is not None:
        rows.append({"check": "the iterative attack beats the single-step one",
                     "passed": e.attacked <= e.single_step + slack,
                     "value": f"iterative {e.attacked:.2f} % vs single-step {e.single_step:.2f} %"})
    if len(e.by_epsilon) > 1:
        falls = all(b <= a + slack for a, b in zip(e.by_epsilon, e.by_epsilon[1:], strict=False))
        rows.append({"check": "accuracy falls as ε grows", "passed": falls,
                     "value": " → ".join(f"{a:.2f} %" for a in e.by_epsilon)})
    if e.transfer is not None:
        rows.append({"check": "the white-box attack beats the transfer attack",
                     "passed": e.attacked <= e.transfer + slack,
                     "value": f"white-box {e.attacked:.2f} % vs transfer {e.transfer:.2f} %"})
    if e.square is not None:
        rows.append({"check": "the Square attack does not beat the white-box attack",
                     "passed": e.square >= e.attacked - slack,
                     "value": f"Square {e.square:.2f} % vs white-box {e.attacked:.2f} %"})
    return rows
