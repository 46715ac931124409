"""Integrate-and-fire (IF) and leaky integrate-and-fire (LIF) neurons, paper Eqs. (1)–(3).

For a layer receiving the current :math:`I(t) = \\mathbf{W}\\mathbf{s}^{l-1}(t)` (after tdBN),

.. math::

    v(t^-) &= \\tau\\, v(t-1) + I(t)                                   \\qquad \\text{(1)} \\\\
    s(t)   &= H\\big(v(t^-) - V_{th}\\big),\\; H(z) = \\mathbb{1}[z \\ge 0]     \\qquad \\text{(2)} \\\\
    v(t)   &= v(t^-)\\,(1 - s(t))  \\;\\text{(hard reset)} \\quad\\text{or}\\quad
              v(t^-) - s(t)\\,V_{th} \\;\\text{(soft reset)}                \\qquad \\text{(3)}

with :math:`v(0) = 0` at every call (no state survives between inputs). :math:`\\tau = 1` is the IF
neuron of the paper's main experiments; the TinyImageNet LIF uses :math:`\\tau = 0.99` and soft reset.

:class:`SpikingNeuron` is snnTorch's :class:`snntorch.Leaky` (it keeps Leaky's ``beta``,
``threshold`` and ``reset_mechanism``), with the paper's semantics where snnTorch differs:

* it fires on :math:`z \\ge 0`, snnTorch on :math:`z > 0`;
* the reset is *not* detached, so gradients flow through Eq. (3) as in the authors' code
  (``detach_reset=True`` gives snnTorch's behaviour, as an ablation);
* the reset acts on the current step (snnTorch resets from the previous membrane).

Its ``forward`` simulates all T steps at once on the time-merged tensor ``[T·B, ...]`` with a single
autograd node (less memory than one node per step); :meth:`SpikingNeuron.step` is the same
dynamics for one time step in plain autograd, the readable reference the fused loop is tested against.

Example::

    >>> import torch
    >>> from snnconv.method.neurons import SpikingNeuron
    >>> neuron = SpikingNeuron(threshold=1.0)
    >>> current = torch.tensor([[0.6], [0.6], [0.6], [0.6]])   # T=4, B=1
    >>> neuron(current, time_steps=4).flatten().tolist()
    [0.0, 1.0, 0.0, 1.0]
"""

from __future__ import annotations

import functools
import math

import snntorch
import torch

from snnconv.foundations.kernels import KERNELS
from snnconv.method.surrogates import (
    BPTR,
    BPTT,
    TRAINING_GRADIENT,
    AdaptiveSharpness,
    HybridRateTemporal,
    MemberSwitch,
    PotentialDependent,
    RateGradient,
    SpikingLayerGradient,
    scaled_coefficients,
    surrogate_factor,
)

#: Lower bound of trainable thresholds after every optimizer step (paper Suppl. A.2).
MIN_THRESHOLD = 0.03


class SpikingNeuron(snntorch.Leaky):
    """IF/LIF neuron of Eqs. (1)–(3) with one (learnable) threshold per layer.

    Args:
        threshold: initial :math:`V_{th}` (set by calibration after conversion).
        leak: :math:`\\tau` in Eq. (1); 1.0 is the IF neuron.
        soft_reset: subtract :math:`V_{th}` instead of resetting to zero.
        learn_threshold: make :math:`V_{th}` a trainable parameter.
        detach_reset: stop gradients through the reset term (snnTorch's choice; ablation only).
    """

    def __init__(
        self,
        threshold: float = 1.0,
        leak: float = 1.0,
        soft_reset: bool = False,
        learn_threshold: bool = True,
        detach_reset: bool = False,
    ) -> None:
        if not 0.0 < leak <= 1.0:
            raise ValueError(f"leak must be in (0, 1], got {leak!r}.")
        super().__init__(
            beta=leak,
            threshold=threshold,
            spike_grad=TRAINING_GRADIENT.surrogate,
            learn_threshold=learn_threshold,
            reset_mechanism="subtract" if soft_reset else "zero",
        )
        # snnTorch appends every neuron it constructs to a class-level list that is never emptied, so a process that
        # builds many models (a page, a test session) kept every one of them alive. The list only serves snnTorch's
        # init_hidden=True state handling (reset_hidden, detach_hidden, utils.reset), which snnconv never uses: these
        # neurons hold no state between calls. Removed by identity, from the end, where the parent just put it.
        instances = snntorch.SpikingNeuron.instances
        for index in range(len(instances) - 1, -1, -1):
            if instances[index] is self:
                del instances[index]
                break
        self.detach_reset = detach_reset
        self._host_values: dict[str, tuple[torch.Tensor, int, int, float]] = {}

    # Leak and reset mode live in Leaky's buffers ``beta`` and ``reset_mechanism_val``, so they are part of
    # the state dict: a model reloaded from the store runs with the neuron it was trained with.
    @property
    def leak(self) -> float:
        """:math:`\\tau` of Eq. (1), read from the saved buffer ``beta``."""
        return self._host_value("beta")

    @property
    def soft_reset(self) -> bool:
        """Soft (subtract :math:`V_{th}`) or hard (to zero) reset of Eq. (3), read from the saved buffer."""
        return int(self._host_value("reset_mechanism_val")) == snntorch.SpikingNeuron.reset_dict["subtract"]

    def _host_value(self, name: str) -> float:
        """The one-element buffer ``name`` as a Python number, read again only when the buffer changed (replaced, as
        by ``.to(device)``, or written in place, as by ``load_state_dict``): on a GPU each read waits for all queued
        work, and reading both buffers at every layer's call kept the GPU from running ahead of Python."""
        tensor = getattr(self, name)
        cached = self._host_values.get(name)
        if cached is None or cached[0] is not tensor or cached[1:3] != (tensor.data_ptr(), tensor._version):
            cached = (tensor, tensor.data_ptr(), tensor._version, float(tensor))
            self._host_values[name] = cached
        return cached[3]

    def clamp_threshold(self) -> None:
        """Project :math:`V_{th}` back onto :math:`V_{th} \\ge 0.03` (Suppl. A.2; call after each optimizer step)."""
        with torch.no_grad():
            self.threshold.clamp_(min=MIN_THRESHOLD)

    def step(
        self, current: torch.Tensor, membrane: torch.Tensor, gradient: BPTT = TRAINING_GRADIENT
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One time step of Eqs. (1)–(3) in plain autograd; returns ``(spikes, membrane)``."""
        v_pre = self.leak * membrane + current
        spikes = gradient.surrogate(v_pre - self.threshold)
        reset = spikes.detach() if self.detach_reset else spikes
        if self.soft_reset:
            return spikes, v_pre - reset * self.threshold
        return spikes, v_pre * (1 - reset)

    def forward(  # type: ignore[override]  # multi-step, unlike Leaky's single step
        self, current: torch.Tensor, time_steps: int, gradient: SpikingLayerGradient = TRAINING_GRADIENT
    ) -> torch.Tensor:
        """Simulate ``time_steps`` steps of Eqs. (1)–(3) on the time-merged current ``[T·B, ...]``; returns spikes.

        The backward pass follows ``gradient``: BPTT with its surrogate (Suppl. A.3) or BPTR (Suppl. A.4).
        """
        return self._fire(current.reshape(time_steps, -1, *current.shape[1:]), gradient).reshape(current.shape)

    def _fire(self, shaped: torch.Tensor, gradient: SpikingLayerGradient) -> torch.Tensor:
        """All steps of the current ``[T, B, ...]`` through one :class:`_SpikingLoop` node; spikes ``[T, B, ...]``."""
        if not isinstance(gradient, SpikingLayerGradient):
            raise TypeError(f"a spiking layer needs a spiking-layer gradient mode, got {gradient!r}")
        return _SpikingLoop.apply(shaped, self.threshold.to(shaped.dtype), self.leak, self.soft_reset,
                                  self.detach_reset, gradient, id(self), torch.is_grad_enabled())

    def constant_input(
        self, current: torch.Tensor, time_steps: int, gradient: SpikingLayerGradient = TRAINING_GRADIENT
    ) -> torch.Tensor:
        """:meth:`forward` for a current that is the same at every step (direct coding's first layer), given once
        as ``[B, ...]``: its T copies are never materialized. Returns the spikes ``[T·B, ...]``."""
        spikes = self._fire(current.unsqueeze(0).expand(time_steps, *current.shape), gradient)
        return spikes.reshape(time_steps * current.shape[0], *current.shape[1:])

    @torch.no_grad()
    def fire_in_place(self, current: torch.Tensor, time_steps: int) -> torch.Tensor:
        """:meth:`forward` without gradients that writes the spikes over the time-merged current ``[T·B, ...]`` and
        returns it: step t reads only the current of step t, so threshold calibration needs no second buffer of
        that size. Runs short enough for one fused kernel (see :data:`FUSED_STEPS`) go through :meth:`forward`."""
        if time_steps <= FUSED_STEPS:
            return self.forward(current, time_steps)
        shaped = current.view(time_steps, -1, *current.shape[1:])
        leak = _constant(self.leak, current.dtype, current.device)
        _stepwise_forward(shaped, self.threshold.to(current.dtype), leak, self.soft_reset, False, out=shaped)
        return current

    def rate(self, current: torch.Tensor, time_steps: int) -> torch.Tensor:
        """The firing rate of this neuron over ``time_steps`` steps of the constant input ``current``.

        Forward: Eqs. (1)–(3) simulated exactly (threshold, leak, reset) and the spikes averaged. Backward:
        :math:`\\mathbb{1}[0 < I < V_{th}] / V_{th}`, the derivative of :math:`\\mathrm{clip}(I / V_{th}, 0, 1)`
        (the member :class:`~snnconv.method.surrogates.RateApproximation`).
        """
        return _RateMap.apply(current, self, time_steps)

    @torch.no_grad()
    def potentials(self, current: torch.Tensor, time_steps: int) -> torch.Tensor:
        """:math:`u(t) = v(t^-) - V_{th}` of Eqs. (1)–(3) for the currents ``[T, ...]`` (no gradient); the neuron
        fires where :math:`u(t) \\ge 0`."""
        threshold = self.threshold.detach().to(current.dtype)
        leak = _constant(self.leak, current.dtype, current.device)
        membrane, steps = torch.zeros_like(current[0]), []
        for t in range(time_steps):
            u, _, membrane = _forward_step(membrane, current[t], threshold, leak, self.soft_reset)
            steps.append(u)
        return torch.stack(steps)


class _RateMap(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current, neuron, time_steps):
        threshold = neuron.threshold.detach().to(current.dtype)
        ctx.save_for_backward(current, threshold)
        constant = current.unsqueeze(0).expand(time_steps, *current.shape)
        return (neuron.potentials(constant, time_steps) >= 0).to(current.dtype).mean(0)

    @staticmethod
    def backward(ctx, grad_rate):
        current, threshold = ctx.saved_tensors
        inside = ((current > 0) & (current < threshold)).to(grad_rate.dtype)
        return grad_rate * inside / threshold, None, None


def _membrane_spread(z_all: torch.Tensor) -> torch.Tensor:
    """PDSG's σ for every step: the standard deviation of ``u`` over the steps so far and the spatial positions
    of each image's channel (a dense layer's features count as its positions); 1 where it is 0."""
    positions = tuple(range(3, z_all.dim())) if z_all.dim() > 3 else (2,)
    count = math.prod(z_all.shape[d] for d in positions)
    steps = torch.arange(1, z_all.shape[0] + 1, dtype=z_all.dtype, device=z_all.device)
    steps = steps.view(-1, *([1] * (z_all.dim() - 1))) * count
    mean = z_all.sum(positions, keepdim=True).cumsum(0) / steps
    square = (z_all * z_all).sum(positions, keepdim=True).cumsum(0) / steps
    sigma = (square - mean * mean).clamp_min(0).sqrt()
    return torch.where(sigma > 0, sigma, torch.ones_like(sigma))


def _forward_step(membrane, current, threshold, leak, soft_reset: bool):
    """Eqs. (1)–(3) for one step; returns ``(z, spikes, membrane)``."""
    v_pre = leak * membrane + current
    z = v_pre - threshold
    fired = z >= 0
    spikes = fired.to(current.dtype)
    return z, spikes, (v_pre - spikes * threshold if soft_reset else v_pre.masked_fill(fired, 0.0))


def _backward_step(grad_spikes, grad_membrane, z, threshold, leak, first, second,
                   family: str, soft_reset: bool, detach_reset: bool):
    """BPTT through one step; returns ``(dL/dI(t), dL/dv(t-1), dL/dV_th contribution)``."""
    fired = z >= 0
    grad_s = grad_spikes
    if not detach_reset:
        # The reset of Eq. (3) depends on s, so dL/ds collects the reset path too.
        grad_s = grad_s - grad_membrane * (threshold if soft_reset else z + threshold)
    grad_z = grad_s * surrogate_factor(z, family, first, second)
    if soft_reset:
        grad_v_pre = grad_z + grad_membrane
        grad_threshold = -grad_z.sum() - (grad_membrane * fired).sum()
    else:
        grad_v_pre = grad_z + grad_membrane.masked_fill(fired, 0.0)
        grad_threshold = -grad_z.sum()
    return grad_v_pre, leak * grad_v_pre, grad_threshold


def _forward_loop(current, threshold, leak, soft_reset: bool, keep: bool):
    """All T steps of :func:`_forward_step`; returns ``(z for every step or None, spikes)``.

    Compiled as a whole, this is one call per layer instead of one per step: on small layers the per-call
    overhead, not the arithmetic, is what an SNN step pays on top of T ANN steps (see :data:`FUSED_STEPS`).
    """
    membrane = torch.zeros_like(current[0])
    z_steps, spike_steps = [], []
    for t in range(current.shape[0]):
        z, spikes, membrane = _forward_step(membrane, current[t], threshold, leak, soft_reset)
        spike_steps.append(spikes)
        if keep:
            z_steps.append(z)
    return (torch.stack(z_steps) if keep else None), torch.stack(spike_steps)


def _stepwise_forward(current, threshold, leak, soft_reset: bool, keep: bool, out=None):
    """:func:`_forward_loop` for long runs, one compiled step at a time, written into preallocated outputs: a list
    of T_c = 100 steps and its stacked copy would hold every layer's spikes twice during calibration. ``out`` may
    be ``current`` itself: step t reads only the current of step t before its spikes replace it."""
    spikes = torch.empty(current.shape, dtype=current.dtype, device=current.device) if out is None else out
    z_all = torch.empty_like(spikes) if keep else None
    membrane = torch.zeros_like(current[0])
    for t in range(current.shape[0]):
        z, spikes[t], membrane = _compiled_forward_step(membrane, current[t], threshold, leak, soft_reset)
        if keep:
            z_all[t] = z
    return z_all, spikes


def _backward_loop(grad_spikes, z_all, threshold, leak, first, second, family: str, soft_reset: bool,
                   detach_reset: bool, step=_backward_step):
    """BPTT through all T steps of :func:`_backward_step`; returns ``dL/dI`` and each step's contribution to
    ``dL/dV_th`` (``step`` as in :func:`_forward_loop`)."""
    per_step = first.dim() == z_all.dim()  # PDSG's σ differs per step
    grad_current = [grad_spikes[0]] * z_all.shape[0]
    grad_threshold = [grad_spikes[0].sum()] * z_all.shape[0]
    grad_membrane = torch.zeros_like(grad_spikes[0])  # dL/dv(t), arriving from step t+1
    for t in reversed(range(z_all.shape[0])):
        grad_current[t], grad_membrane, grad_threshold[t] = step(
            grad_spikes[t], grad_membrane, z_all[t], threshold, leak, first[t] if per_step else first, second,
            family, soft_reset, detach_reset)
    return torch.stack(grad_current), torch.stack(grad_threshold)


#: Up to this many time steps a layer's whole simulation is one compiled kernel (the paper's T = 8 and the LIF
#: T = 30 included); longer runs (calibration's T_c = 100) go step by step.
FUSED_STEPS = 32


def _compiled_forward_step(membrane, current, threshold, leak, soft_reset: bool):
    return KERNELS.run(_forward_step, {"soft_reset": soft_reset}, membrane, current, threshold, leak)


def _compiled_backward_step(grad_spikes, grad_membrane, z, threshold, leak, first, second, family: str,
                            soft_reset: bool, detach_reset: bool):
    return KERNELS.run(_backward_step, dict(family=family, soft_reset=soft_reset, detach_reset=detach_reset),
                       grad_spikes, grad_membrane, z, threshold, leak, first, second)


@functools.cache
def _constant(value: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The 0-d tensor ``value`` on ``device``, made once: made at every call, a GPU run would copy it from the host
    each time. Never written to; made outside inference mode so that autograd may save it."""
    with torch.inference_mode(False):
        return torch.tensor(value, dtype=dtype, device=device)


class _SpikingLoop(torch.autograd.Function):
    """All T steps of Eqs. (1)–(3) as one autograd node, with BPTT or BPTR in the backward."""

    @staticmethod
    def forward(ctx, current, threshold, leak, soft_reset, detach_reset, gradient, layer, record):
        # needs_input_grad stays True under torch.no_grad for a threshold that requires grad (and forward always runs
        # without grad): ``record`` is the caller's grad mode, so that predictions and the calibration do not store
        # each step's z for a backward that never comes.
        keep = record and any(ctx.needs_input_grad[:2])
        leak_t = _constant(leak, current.dtype, current.device)
        if current.shape[0] <= FUSED_STEPS:
            z_all, spikes = KERNELS.run(_forward_loop, dict(soft_reset=soft_reset, keep=keep), current, threshold,
                                        leak_t)
        else:  # step by step: a graph unrolled over T_c = 100 calibration steps compiles slowly
            z_all, spikes = _stepwise_forward(current, threshold, leak_t, soft_reset, keep)
        if keep:
            # Only RGA's backward needs the mean input; the others should not pay for it on every step.
            rga = isinstance(gradient, RateGradient) or (isinstance(gradient, MemberSwitch)
                                                         and gradient.needs_mean_current)
            mean_current = current.mean(0) if rga else current.new_empty(0)
            ctx.save_for_backward(z_all, threshold, leak_t, mean_current)
            ctx.config = (soft_reset, detach_reset, gradient, layer)
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes):
        z_all, threshold, leak_t, mean_current = ctx.saved_tensors
        soft_reset, detach_reset, gradient, layer = ctx.config
        if isinstance(gradient, MemberSwitch):  # the member is chosen now, after the shared forward
            gradient = gradient.member
        if isinstance(gradient, BPTR):
            fired_once = (z_all >= 0).any(dim=0, keepdim=True)
            return grad_spikes * fired_once, None, None, None, None, None, None, None
        if isinstance(gradient, RateGradient):
            slope = ((mean_current > 0) & (mean_current < threshold)).to(grad_spikes.dtype) / threshold
            grad = grad_spikes.mean(0) * slope
            return grad.unsqueeze(0).expand_as(grad_spikes).contiguous(), None, None, None, None, None, None, None
        if isinstance(gradient, HybridRateTemporal):
            width = _constant(gradient.width, z_all.dtype, z_all.device)
            grad_z = grad_spikes * surrogate_factor(z_all, "triangular", width, 0.0)  # no path across time
            return (grad_z.mean(0, keepdim=True).expand_as(grad_spikes).contiguous(), None, None, None, None, None,
                    None, None)
        if isinstance(gradient, PotentialDependent):
            family, coefficients = "gaussian", (_membrane_spread(z_all), 0.0)
        elif isinstance(gradient, AdaptiveSharpness):
            sharpness = gradient.statistics.sharpness(layer, z_all, gradient)
            family, coefficients = "arctan", (sharpness, 0.0)
        elif gradient.units == "threshold":
            family, coefficients = gradient.surrogate.family, scaled_coefficients(gradient.surrogate, threshold)
        else:
            family, coefficients = gradient.surrogate.family, gradient.surrogate.coefficients
        first, second = (c.to(z_all.dtype) if isinstance(c, torch.Tensor) else _constant(c, z_all.dtype, z_all.device)
                         for c in coefficients)
        static = dict(family=family, soft_reset=soft_reset, detach_reset=detach_reset)
        if z_all.shape[0] <= FUSED_STEPS:
            grad_current, grad_steps = KERNELS.run(_backward_loop, static, grad_spikes.contiguous(), z_all,
                                                   threshold, leak_t, first, second)
        else:
            grad_current, grad_steps = _backward_loop(grad_spikes, z_all, threshold, leak_t, first, second, **static,
                                                      step=_compiled_backward_step)
        # Summed last step first, as the step-by-step reference does: the same float result, bit for bit.
        grad_threshold = torch.zeros((), dtype=grad_spikes.dtype, device=grad_spikes.device)
        for grad_step in reversed(grad_steps.unbind()):
            grad_threshold = grad_threshold + grad_step
        return grad_current, grad_threshold, None, None, None, None, None, None


def spiking_neurons(module: torch.nn.Module) -> list[SpikingNeuron]:
    """All spiking layers of ``module`` in registration order (forward order for the networks here).

    These are the hidden layers :math:`l = 1, \\dots, L-1` that carry a threshold :math:`V_{th}^l` (Eq. 2);
    the output layer does not spike (Eq. 7).
    """
    return [m for m in module.modules() if isinstance(m, SpikingNeuron)]


def clamp_thresholds(module: torch.nn.Module) -> None:
    """Project every layer's threshold onto :math:`V_{th}^l \\ge 0.03` (Suppl. A.2).

    Applies :meth:`SpikingNeuron.clamp_threshold` to every spiking layer. :func:`snnconv.training.train.fit` calls it
    after every optimizer step, i.e. after the threshold update of Algorithm 1, l. 27.
    """
    for neuron in spiking_neurons(module):
        neuron.clamp_threshold()
