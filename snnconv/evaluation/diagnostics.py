"""Measurements beside robust accuracy: gradient-masking diagnostics (Carlini et al. 2019; paper Suppl. B.1).

A robust accuracy is only believable next to the checks that would expose masked or obfuscated
gradients. Each function here measures one such quantity on real data; :func:`diagnose` turns them
into pass/fail rows — the one implementation of these checks, with one tolerance — so a failing check
is shown next to the number it casts doubt on.

* :func:`input_gradient_norms` — the loss gradient with respect to the input must not vanish;
* :func:`random_noise_accuracy` — uniform noise of the same budget must hurt far less than the attack;
* an unbounded attack (a large ε, e.g. ``AttackSpec("PGD", 64 / 255)``) must drive accuracy to ~0;
* and, given the runs, the orderings: iterative ≤ single-step, white-box ≤ transfer and ≤ Square,
  accuracy non-increasing in ε.

These are the five principles the paper checks in Suppl. B.1 (after Athalye et al. 2018; the transfer
baseline also in Sec. 5.4), plus two checks from the same literature (Athalye et al. 2018; Carlini et al.
2019): input gradients must not vanish, and a query-based black-box attack must not beat the white-box one.

Example::

    >>> import torch
    >>> from snnconv.method.models import Simulation, build
    >>> net = build("vgg_small", "fashion_mnist").eval()
    >>> norms = input_gradient_norms(net, torch.rand(3, 1, 28, 28), torch.tensor([0, 1, 2]), Simulation(0))
    >>> norms.shape
    torch.Size([3])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from snnconv.attacks import per_sample_uniform, predict
from snnconv.method.models import Simulation
from snnconv.method.surrogates import fresh_statistics


def input_gradient_norms(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, simulation: Simulation, batch_size: int = 256
) -> torch.Tensor:
    """:math:`\\|\\nabla_x \\mathcal{L}_{CE}(f(x), y)\\|_1` per image, through ``simulation``'s gradient mode.

    The zero-gradient check for masked gradients (Athalye et al. 2018; Carlini et al. 2019). Runs in batches of
    ``batch_size``; a stateful member (ASSG) starts its statistics afresh for every batch.
    """
    model.eval()
    norms = []
    for i in range(0, len(images), batch_size):
        fresh_statistics(simulation.gradient)
        x = images[i : i + batch_size].clone().requires_grad_(True)
        loss = F.cross_entropy(model(x, simulation), labels[i : i + batch_size], reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
        norms.append(grad.abs().flatten(1).sum(1).detach())
    return torch.cat(norms)


@torch.no_grad()
def logit_margins(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, simulation: Simulation, batch_size: int = 256
) -> torch.Tensor:
    """The clean margin :math:`m(x) = f_y(x) - \\max_{k \\neq y} f_k(x)` per image, in logits: how far the image
    lies from the decision boundary (negative where it is misclassified); the margin that the CW loss drives below
    zero (Carlini & Wagner 2017)."""
    model.eval()
    margins = []
    for i in range(0, len(images), batch_size):
        logits = model(images[i : i + batch_size], simulation)
        y = labels[i : i + batch_size, None]
        true = logits.gather(1, y).squeeze(1)
        margins.append(true - logits.scatter(1, y, float("-inf")).max(1).values)
    return torch.cat(margins)


@torch.no_grad()
def random_noise_accuracy(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epsilon: float, simulation: Simulation,
    seed: int = 0,
) -> float:
    """Accuracy (%) under uniform noise in the ℓ∞ ball of radius ``epsilon`` (drawn per image).

    Principle (5) of Suppl. B.1: random sampling must not find adversarial examples. The paper's
    footnote uses Gaussian noise with standard deviation ε₃ instead.
    """
    noisy = (images + epsilon * per_sample_uniform(images, seed, "random-noise")).clamp(0, 1)
    return 100.0 * float((predict(model, noisy, simulation) == labels).float().mean())


#: Points by which an ordering between two attacks may be inverted before a check fails (they compare finite
#: samples, and a one- or two-image inversion is not evidence of masking).
SLACK = 1.0
#: Points of margin for the checks against noise and the unbounded attack.
TOLERANCE = 5.0


@dataclass(frozen=True)
class Evidence:
    """The measurements that :func:`diagnose` judges (accuracies in %); ``None`` = not measured (Suppl. B.1).

    ``attacked`` is the reference white-box attack at the evaluated budget: the one whose number the page
    reports (the ensemble PGD for SNNs, AutoAttack on Table A1's own rows).
    """

    clean: float
    attacked: float
    random_noise: float | None = None  # uniform noise at the same budget
    unbounded: float | None = None  # the same attack at a budget large enough to change the image class
    zero_gradient_fraction: float | None = None  # share of images whose input gradient is exactly zero
    single_step: float | None = None  # FGSM at the evaluated budget
    by_epsilon: tuple[float, ...] = ()  # the iterative attack at increasing budgets
    transfer: float | None = None  # adversarial images crafted on another model (black box)
    square: float | None = None  # the query-based Square attack (black box)
    square_only: float | None = None  # % of images the Square attack fools and no white-box attack does
    weaker: Mapping[str, float] = field(default_factory=dict)  # other white-box attacks, by name
    attacked_name: str = "the white-box attack"


def diagnose(evidence: Evidence) -> list[dict]:
    """Pass/fail rows (``check``, ``passed``, ``value``) for every check that :class:`Evidence` allows.

    The one implementation of the gradient-masking checks (Carlini et al. 2019, paper Suppl. B.1) that every
    page uses, with one tolerance: orderings between attacks allow :data:`SLACK` points, the noise and
    unbounded checks :data:`TOLERANCE` points.
    """
    e = evidence
    rows = []
    if e.zero_gradient_fraction is not None:
        rows.append({"check": "input gradients are not zero", "passed": e.zero_gradient_fraction < 0.5,
                     "value": f"{100 * e.zero_gradient_fraction:.1f} % of images have a zero gradient"})
    if e.random_noise is not None:
        rows += [
            {"check": "random noise at ε hurts less than the attack",
             "passed": e.random_noise >= e.attacked + TOLERANCE,
             "value": f"noise {e.random_noise:.2f} % vs attack {e.attacked:.2f} %"},
            {"check": "random noise at ε keeps most of the clean accuracy",
             "passed": e.random_noise >= e.clean - 2 * TOLERANCE,
             "value": f"noise {e.random_noise:.2f} % vs clean {e.clean:.2f} %"},
        ]
    if e.unbounded is not None:
        rows.append({"check": "an unbounded attack drives accuracy to about 0", "passed": e.unbounded <= TOLERANCE,
                     "value": f"{e.unbounded:.2f} %"})
    if e.single_step is not None:
        rows.append({"check": "the iterative attack beats the single-step one",
                     "passed": e.attacked <= e.single_step + SLACK,
                     "value": f"iterative {e.attacked:.2f} % vs single-step {e.single_step:.2f} %"})
    for name, accuracy in e.weaker.items():
        rows.append({"check": f"{e.attacked_name} is at least as strong as {name}",
                     "passed": e.attacked <= accuracy + SLACK,
                     "value": f"{e.attacked_name} {e.attacked:.2f} % vs {name} {accuracy:.2f} %"})
    if len(e.by_epsilon) > 1:
        falls = all(b <= a + SLACK for a, b in zip(e.by_epsilon, e.by_epsilon[1:], strict=False))
        rows.append({"check": "accuracy falls as ε grows", "passed": falls,
                     "value": " → ".join(f"{a:.2f} %" for a in e.by_epsilon)})
    if e.transfer is not None:
        rows.append({"check": "the white-box attack beats the transfer attack",
                     "passed": e.attacked <= e.transfer + SLACK,
                     "value": f"white-box {e.attacked:.2f} % vs transfer {e.transfer:.2f} %"})
    if e.square is not None:
        rows.append({"check": "the Square attack does not beat the white-box attack",
                     "passed": e.square >= e.attacked - SLACK,
                     "value": f"Square {e.square:.2f} % vs white-box {e.attacked:.2f} %"})
    if e.square_only is not None:
        rows.append({"check": "no image is fooled by Square alone",
                     "passed": e.square_only <= SLACK,
                     "value": f"{e.square_only:.2f} % of images fooled only by Square"})
    return rows


@torch.no_grad()
def layer_statistics(model: nn.Module, images: torch.Tensor, time_steps: int) -> list[dict]:
    """Per spiking layer, what explains a surrogate's gradient (Suppl. A.4): the threshold, the spread of
    :math:`u(t) = v(t^-) - V_{th}` over time, images and neurons, and the share of :math:`u` inside the support
    of the training surrogate (triangular, :math:`|u| < 1`) and of the narrowest and widest paper widths
    (:math:`|u| < 0.25`, :math:`|u| < 4`)."""
    currents: list[torch.Tensor] = []
    hooks = [n.register_forward_hook(lambda m, args, out: currents.append(args[0].detach())) for n in model.neurons]
    try:
        model.eval()
        model(images, Simulation(time_steps))
    finally:
        for hook in hooks:
            hook.remove()
    rows = []
    for index, (neuron, current) in enumerate(zip(model.neurons, currents, strict=True)):
        u = neuron.potentials(current.reshape(time_steps, -1, *current.shape[1:]), time_steps)
        threshold = neuron.threshold.detach()
        rows.append({"layer": index + 1, "threshold": float(threshold), "spread of u": float(u.std()),
                     "mean |u| / V_th": float(u.abs().mean() / threshold),
                     "|u| < 0.25": float((u.abs() < 0.25).float().mean()),
                     "|u| < 1": float((u.abs() < 1).float().mean()),
                     "|u| < 4": float((u.abs() < 4).float().mean())})
    return rows
