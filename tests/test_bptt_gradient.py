"""The whole network's input gradient against an explicit per-step autograd loop written here (Suppl. A.3–A.4).

snnconv simulates each spiking layer's T steps as one fused autograd node with a hand-written backward
(:mod:`snnconv.method.neurons`). Here the small VGG is re-run from its weights with plain torch ops — F.conv2d,
F.batch_norm on the running statistics, F.avg_pool2d, F.linear — and a time loop per layer that writes Eqs. (1)–(3)
out step by step, the spike through the custom autograd function below; autograd then does BPTT. The input
gradient of a cross-entropy (and, for BPTT, each layer's threshold gradient) must equal snnconv's:

* BPTT with the triangular (Eq. 15/16), exponential (Eq. 17) and rectangular (Eq. 18) surrogates, the reset not
  detached (the authors' code);
* BPTR (SNN-RAT): the spike's gradient is the identity at the same step, gated by "fired at least once in T",
  with no path through the membrane;
* RGA (Bu et al. 2023): every step's spike carries :math:`\\mathbb{1}[0 < \\bar I < V_{th}]/V_{th}` times the
  time-mean of the spike gradients;

for the IF neuron with hard reset, an LIF neuron (τ = 0.8) with hard reset, and an LIF neuron (τ = 0.9) with soft
reset. Everything runs in float64, so the spikes of both simulations are the same and the gradients agree to 1e-10.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from snnconv.foundations.kernels import AveragePool2d
from snnconv.method.models import Simulation, build
from snnconv.method.surrogates import BPTR, BPTT, RateGradient, exponential, rectangular, triangular
from snnconv.method.tdbn import TemporalBatchNorm2d

T = 4


class HandSpike(torch.autograd.Function):
    """Forward :math:`H(z) = \\mathbb{1}[z \\ge 0]`; backward the surrogate written out here, not snnconv's."""

    @staticmethod
    def forward(ctx, z, family, first, second):
        ctx.save_for_backward(z)
        ctx.shape = (family, first, second)
        return (z >= 0).to(z.dtype)

    @staticmethod
    def backward(ctx, grad):
        (z,) = ctx.saved_tensors
        family, first, second = ctx.shape
        if family == "triangular":  # max(0, γ − |z|) / γ²
            factor = torch.clamp(first - z.abs(), min=0) / first**2
        elif family == "exponential":  # γd · exp(−γs |z|)
            factor = first * torch.exp(-second * z.abs())
        else:  # rectangular: 1[|z| < γ/2] / γ
            factor = (z.abs() < first / 2).to(z.dtype) / first
        return grad * factor, None, None, None


def _block(modules: nn.Sequential, h: torch.Tensor) -> torch.Tensor:
    """A stage's stateless layers with plain torch functions (eval mode: batch norm on its running statistics)."""
    for module in modules:
        if isinstance(module, AveragePool2d):
            h = F.avg_pool2d(h, 2)
        elif isinstance(module, nn.Conv2d):
            h = F.conv2d(h, module.weight, module.bias, padding=1)
        elif isinstance(module, TemporalBatchNorm2d):
            h = F.batch_norm(h, module.running_mean, module.running_var, module.weight, module.bias, False, 0.0,
                             module.eps)
        elif isinstance(module, nn.Flatten):
            h = h.flatten(1)
        elif isinstance(module, nn.Linear):
            h = F.linear(h, module.weight, module.bias)
        else:
            raise AssertionError(f"unexpected layer {module}")
    return h


def _layer(currents: list[torch.Tensor], threshold: torch.Tensor, leak: float, soft: bool, mode) -> list[torch.Tensor]:
    """One spiking layer over T steps, Eqs. (1)–(3) step by step; returns the spikes of every step."""
    membrane = torch.zeros_like(currents[0])
    spikes = []
    if isinstance(mode, BPTT):
        family, (first, second) = mode.surrogate.family, mode.surrogate.coefficients
        for current in currents:
            v_pre = leak * membrane + current  # (1)
            s = HandSpike.apply(v_pre - threshold, family, first, second)  # (2)
            membrane = v_pre - s * threshold if soft else v_pre * (1 - s)  # (3), reset not detached
            spikes.append(s)
        return spikes
    # BPTR and RGA change only the backward: the forward spikes, computed without gradient, carry a straight-through
    # term with the mode's derivative (value 0, gradient as stated).
    with torch.no_grad():
        forward = _layer([c.detach() for c in currents], threshold.detach(), leak, soft, BPTT(triangular(1.0)))
    if isinstance(mode, BPTR):
        fired_once = torch.stack(forward).amax(0)
        return [s + fired_once * (c - c.detach()) for s, c in zip(forward, currents, strict=True)]
    mean = torch.stack(currents).mean(0)  # RGA: Ī = (1/T) Σ_t I(t)
    slope = ((mean > 0) & (mean < threshold)).to(mean.dtype).detach() / threshold.detach()
    return [s + slope * (mean - mean.detach()) for s in forward]


def _hand_logits(model, x: torch.Tensor, thresholds: list[torch.Tensor], mode) -> torch.Tensor:
    """The network of Sec. 3.1 with direct coding and the mean readout (Eq. 7, the authors' code), layer by layer."""
    leak, soft = model.neurons[0].leak, model.neurons[0].soft_reset
    h = (x - model.normalize.mean) / model.normalize.std
    steps = [_block(model.stages[0].block, h)] * T  # direct coding: the same current at every step
    for index, stage in enumerate(model.stages):
        currents = steps if index == 0 else [_block(stage.block, s) for s in steps]
        steps = _layer(currents, thresholds[index], leak, soft, mode)
    head = model.head[-1]
    return torch.stack([F.linear(s, head.weight, head.bias) for s in steps]).mean(0)


@pytest.fixture(scope="module")
def images():
    generator = torch.Generator().manual_seed(3)
    return (torch.rand(3, 1, 28, 28, generator=generator, dtype=torch.float64),
            torch.tensor([1, 4, 7]))


def _network(leak: float, soft: bool):
    torch.manual_seed(0)
    model = build("vgg_small", "fashion_mnist", leak=leak, soft_reset=soft).double().eval()
    with torch.no_grad():
        for neuron, threshold in zip(model.neurons, (0.6, 0.5, 0.3), strict=True):
            neuron.threshold.fill_(threshold)
        for module in model.modules():
            if isinstance(module, TemporalBatchNorm2d):  # running statistics that are not 0/1
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
    return model


NEURONS = {"IF hard reset": (1.0, False), "LIF hard reset": (0.8, False), "LIF soft reset": (0.9, True)}
MODES = {"BPTT triangular": BPTT(triangular(1.0)), "BPTT exponential": BPTT(exponential(0.3, 2.0)),
         "BPTT rectangular": BPTT(rectangular(1.0)), "BPTR": BPTR(), "RGA": RateGradient()}
# The training surrogate on every neuron; the other modes on the IF neuron and on the LIF neuron with soft reset
# (each pair of family and reset is a compiled kernel of its own, and compiling is most of this file's time).
CASES = [("BPTT triangular", neuron) for neuron in NEURONS] + [
    (mode, neuron) for mode in ("BPTT exponential", "BPTT rectangular", "BPTR", "RGA")
    for neuron in ("IF hard reset", "LIF soft reset")]


@pytest.mark.parametrize("mode, neuron", CASES, ids=[f"{m}-{n}" for m, n in CASES])
def test_input_gradient_equals_a_per_step_autograd_loop(images, neuron, mode):
    model = _network(*NEURONS[neuron])
    member = MODES[mode]
    x, y = images
    ours_x = x.clone().requires_grad_(True)
    ours_logits = model(ours_x, Simulation(T, member))
    F.cross_entropy(ours_logits, y, reduction="sum").backward()

    thresholds = [n.threshold.detach().clone().requires_grad_(True) for n in model.neurons]
    hand_x = x.clone().requires_grad_(True)
    hand_logits = _hand_logits(model, hand_x, thresholds, member)
    F.cross_entropy(hand_logits, y, reduction="sum").backward()

    torch.testing.assert_close(ours_logits, hand_logits, rtol=0, atol=1e-12)  # the same forward, spike for spike
    assert hand_x.grad.abs().max() > 1e-6  # the gradient reaches the input: a comparison of something
    torch.testing.assert_close(ours_x.grad, hand_x.grad, rtol=1e-9, atol=1e-12)
    if isinstance(member, BPTT):  # Eq. (14): BPTT reaches every layer's threshold
        for neuron_module, threshold in zip(model.neurons, thresholds, strict=True):
            assert threshold.grad.abs() > 0
            torch.testing.assert_close(neuron_module.threshold.grad, threshold.grad, rtol=1e-9, atol=1e-12)
    else:  # BPTR and RGA give the threshold no gradient
        assert all(n.threshold.grad is None or n.threshold.grad == 0 for n in model.neurons)


def test_the_hand_loop_is_sensitive_to_what_it_checks(images):
    """The comparison above is not vacuous: the modes give different input gradients, and so do the neurons."""
    x, y = images
    gradients = {}
    for name, member in (("triangular", MODES["BPTT triangular"]), ("BPTR", BPTR()), ("RGA", RateGradient())):
        for neuron in ("IF hard reset", "LIF soft reset"):
            leak, soft = NEURONS[neuron]
            model = _network(leak, soft)
            hand_x = x.clone().requires_grad_(True)
            thresholds = [n.threshold.detach().clone() for n in model.neurons]
            F.cross_entropy(_hand_logits(model, hand_x, thresholds, member), y, reduction="sum").backward()
            gradients[name, neuron] = hand_x.grad
    keys = list(gradients)
    for i, first in enumerate(keys):
        for second in keys[i + 1 :]:
            assert not torch.allclose(gradients[first], gradients[second], rtol=1e-3, atol=1e-8), (first, second)
    # every layer spikes somewhere and stays silent somewhere on these images
    model = _network(1.0, False)
    with torch.no_grad():
        h = (x - model.normalize.mean) / model.normalize.std
        steps = [_block(model.stages[0].block, h)] * T
        for index, stage in enumerate(model.stages):
            currents = steps if index == 0 else [_block(stage.block, s) for s in steps]
            steps = _layer(currents, model.neurons[index].threshold, 1.0, False, BPTT(triangular(1.0)))
            rate = torch.stack(steps).mean()
            assert 0.01 < rate < 0.9, (index, rate)
