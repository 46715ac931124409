"""Surrogate gradients of the spike function and the gradient modes of the attack ensemble.

A spiking neuron fires when its membrane potential reaches the threshold (paper Eq. 2):

.. math::  s = H(z), \\qquad z = v(t^-) - V_{th}, \\qquad H(z) = \\mathbb{1}[z \\ge 0].

:math:`H` has no useful derivative, so BPTT replaces :math:`\\partial s/\\partial z` by a *surrogate*
(paper Suppl. A.4):

* triangular, Eq. (16):   :math:`\\frac{1}{\\gamma_w^2}\\max(0, \\gamma_w - |z|)`  (Eq. 15 is :math:`\\gamma_w = 1`)
* exponential, Eq. (17):  :math:`\\gamma_d \\exp(-\\gamma_s |z|)`
* rectangular, Eq. (18):  :math:`\\frac{1}{\\gamma_w}\\mathbb{1}[|z| < \\gamma_w / 2]`
* straight-through:       :math:`1`

Each public constructor returns a :class:`Surrogate` *value*: immutable, hashable, comparable, and
callable as a spike function, so it can be passed wherever snnTorch expects ``spike_grad``::

    >>> import torch
    >>> from snnconv.method.surrogates import triangular
    >>> z = torch.tensor([-0.5, 0.0, 0.5], requires_grad=True)
    >>> spikes = triangular(1.0)(z)
    >>> spikes.tolist()
    [0.0, 1.0, 1.0]
    >>> spikes.sum().backward(); z.grad.tolist()
    [0.5, 1.0, 0.5]

The attack ensemble (paper Sec. 4.3) varies not only the surrogate but the whole way gradients
cross the spiking layers. A :data:`GradientMode` is one of

* :class:`BPTT` — backpropagation through time with a given surrogate,
* :class:`BPTR` — backward pass through rate (SNN-RAT): an identity at the same time step, gated
  by "the neuron fired at least once in T"; no temporal recursion, no gradient to the threshold,
* :class:`ReLUApproximation` — the conversion-based approximation: the network runs as the ReLU ANN
  with the SNN's weights, forward and backward.

:data:`PAPER_ENSEMBLE` lists the 19 members of Suppl. A.4 as data. Beside it, as data too:
:data:`STRONGER_MEMBERS` — attacks published after the paper (:class:`RateApproximation`,
:class:`RateGradient` (RGA), :class:`HybridRateTemporal` (HART), :class:`PotentialDependent` (PDSG),
:class:`AdaptiveSharpness` (ASSG, meant for the SA-PGD attack)) — and
:data:`THRESHOLD_SCALED`, the paper's surrogates with widths in units of each layer's threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch

Family = Literal["triangular", "exponential", "rectangular", "straight_through"]
_SQRT_2PI = math.sqrt(2 * math.pi)


@dataclass(frozen=True)
class Surrogate:
    """A surrogate gradient :math:`\\partial s / \\partial z` as a value: Eqs. (15)–(18) of Suppl. A.4.

    ``width`` is :math:`\\gamma_w` (triangular, rectangular); ``dampening`` and ``steepness`` are
    :math:`\\gamma_d, \\gamma_s` (exponential). Unused fields stay 0. Build it with
    :func:`triangular`, :func:`exponential`, :func:`rectangular` or :func:`straight_through`.
    """

    family: Family
    width: float = 0.0
    dampening: float = 0.0
    steepness: float = 0.0

    def factor(self, z: torch.Tensor) -> torch.Tensor:
        """The surrogate derivative :math:`\\partial s/\\partial z` evaluated at ``z``."""
        first, second = self.coefficients
        return surrogate_factor(z, self.family, first, second)

    @property
    def coefficients(self) -> tuple[float, float]:
        """``(γw, 0)`` for triangular/rectangular, ``(γd, γs)`` for exponential, ``(0, 0)`` otherwise."""
        if self.family == "exponential":
            return self.dampening, self.steepness
        return self.width, 0.0

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """Spike function: forward :math:`H(z) = \\mathbb{1}[z \\ge 0]`, backward ``grad * factor(z)``."""
        return _SpikeFunction.apply(z, self)

    @property
    def label(self) -> str:
        """Short name in the paper's notation, e.g. ``triangular(γw=0.5)``."""
        if self.family in ("triangular", "rectangular"):
            return f"{self.family}(γw={self.width:g})"
        if self.family == "exponential":
            return f"exponential(γd={self.dampening:g}, γs={self.steepness:g})"
        return "straight-through"


def surrogate_factor(z: torch.Tensor, family: Family, first, second) -> torch.Tensor:
    """Eqs. (15)–(18) as one function of ``z``; ``first, second`` are :attr:`Surrogate.coefficients`.

    The coefficients may be floats or 0-dim tensors (tensors let a compiled kernel serve every width).
    """
    if family == "triangular":
        return (first - z.abs()).clamp_min(0.0) / (first * first)
    if family == "exponential":
        return first * torch.exp(-second * z.abs())
    if family == "rectangular":
        return (z.abs() < first / 2).to(z.dtype) / first
    if family == "gaussian":  # PDSG: first = σ, mean σ/2
        return torch.exp(-((z - first / 2) ** 2) / (2 * first * first)) / (_SQRT_2PI * first)
    if family == "arctan":  # ASSG: first = sharpness α
        return first / (2 * (1 + (math.pi * first * z / 2) ** 2))
    return torch.ones_like(z)


class _SpikeFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:
        ctx.save_for_backward(z)
        ctx.surrogate = surrogate
        return (z >= 0).to(z.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (z,) = ctx.saved_tensors
        return grad_output * ctx.surrogate.factor(z), None


def _positive(name: str, value: float) -> float:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}.")
    return float(value)


def triangular(width: float = 1.0) -> Surrogate:
    """Piecewise-linear surrogate, Eq. (16): :math:`\\frac{1}{\\gamma_w^2}\\max(0,\\gamma_w-|z|)`."""
    return Surrogate("triangular", width=_positive("width", width))


def exponential(dampening: float = 0.3, steepness: float = 1.0) -> Surrogate:
    """Exponential surrogate, Eq. (17): :math:`\\gamma_d \\exp(-\\gamma_s |z|)`."""
    return Surrogate(
        "exponential",
        dampening=_positive("dampening", dampening),
        steepness=_positive("steepness", steepness),
    )


def rectangular(width: float = 1.0) -> Surrogate:
    """Rectangular surrogate, Eq. (18): :math:`\\frac{1}{\\gamma_w}\\mathbb{1}[|z| < \\gamma_w/2]`."""
    return Surrogate("rectangular", width=_positive("width", width))


def straight_through() -> Surrogate:
    """Straight-through estimator (Bengio et al. 2013; paper Suppl. A.4): :math:`\\partial s/\\partial z := 1`."""
    return Surrogate("straight_through")


@dataclass(frozen=True)
class BPTT:
    """Backpropagation through time (Suppl. A.3, Eqs. 13–14), with ``surrogate`` standing in for :math:`H'`.

    Gradients run back through the membrane recursion of Eqs. (1)–(3) over all T steps and reach the
    threshold :math:`V_{th}^l` (Eq. 14). ``BPTT(triangular(1.0))`` is the training gradient, Eq. (15).
    """

    surrogate: Surrogate
    #: ``"threshold"`` reads the surrogate's widths in units of each layer's :math:`V_{th}^l`
    #: (:func:`scaled_coefficients`) instead of absolute membrane units; the paper's members are absolute.
    units: Literal["absolute", "threshold"] = "absolute"

    @property
    def label(self) -> str:
        """The surrogate's :attr:`Surrogate.label`, the member's name in tables (Table B2); ``·V_th`` if scaled."""
        return self.surrogate.label + ("·V_th" if self.units == "threshold" else "")


@dataclass(frozen=True)
class BPTR:
    """Backward pass through rate (SNN-RAT, Ding et al. 2022; Suppl. A.4): ``∂L/∂I[t] = ∂L/∂s[t] · 1[mean_t s > 0]``.

    A single straight-through step per layer, gated by "the neuron fired at least once in T": no
    temporal recursion and no gradient to the threshold.
    """

    @property
    def label(self) -> str:
        """``"BPTR"``, the member's name in tables (Table B2)."""
        return "BPTR"


@dataclass(frozen=True)
class ReLUApproximation:
    """Conversion-based approximation (paper Suppl. A.4): run (and differentiate) the network as its ReLU ANN.

    Every spiking layer becomes a ReLU in the forward and the backward pass, with the SNN's weights; an
    earlier attack on SNNs (Sharmin et al. 2019) that the paper found only minimally effective.
    """

    @property
    def label(self) -> str:
        """``"ReLU approximation"``, the member's name in tables (Table B2)."""
        return "ReLU approximation"


def scaled_coefficients(surrogate: Surrogate, threshold: float) -> tuple[float, float]:
    """:attr:`Surrogate.coefficients` of Eqs. (16)–(18) with the widths in units of :math:`V_{th}`.

    For :math:`u = z / V_{th}` the surrogate :math:`g(u)` gives :math:`\\partial s/\\partial z = g(z/V_{th}) / V_{th}`:
    triangular and rectangular of width :math:`\\gamma_w V_{th}` (their :math:`1/\\gamma_w` normalization already
    carries the :math:`1/V_{th}`), exponential with :math:`\\gamma_d / V_{th}` and :math:`\\gamma_s / V_{th}`.

    Example:
        >>> scaled_coefficients(triangular(0.5), threshold=4.0), scaled_coefficients(exponential(0.3, 2.0), 4.0)
        ((2.0, 0.0), (0.075, 0.5))
    """
    first, second = surrogate.coefficients
    if surrogate.family == "exponential":
        return first / threshold, second / threshold
    if surrogate.family == "straight_through":
        return first, second
    return first * threshold, second


@dataclass(frozen=True)
class RateGradient:
    """RGA, the rate gradient approximation (Bu et al. 2023): exact forward, rate-derivative backward.

    A spiking layer's rate is approximately :math:`r = \\mathrm{clip}(\\bar I / V_{th}, 0, 1)` with
    :math:`\\bar I = \\frac{1}{T}\\sum_t I(t)`. Treating every step's spike as that rate,

    .. math::  \\frac{\\partial L}{\\partial I(t)} = \\frac{\\mathbb{1}[0 < \\bar I < V_{th}]}{V_{th}}
               \\cdot \\frac{1}{T}\\sum_\\tau \\frac{\\partial L}{\\partial s(\\tau)}

    for every :math:`t`: no recursion through time and no gradient to the threshold.
    """

    @property
    def label(self) -> str:
        """``"RGA"``."""
        return "RGA"


@dataclass(frozen=True)
class HybridRateTemporal:
    """HART (Hao et al. 2024): triangular surrogate of width :math:`\\gamma`, membrane cut across time, and
    every step's input gradient replaced by its mean over time.

    .. math::  \\frac{\\partial L}{\\partial I(t)} = \\frac{1}{T}\\sum_\\tau \\frac{\\partial L}{\\partial s(\\tau)}
               \\frac{1}{\\gamma^2}\\max(0, \\gamma - |u(\\tau)|)

    The paper's authors tune :math:`\\gamma` per victim model by a grid search.
    """

    width: float = 1.0

    def __post_init__(self) -> None:
        _positive("width", self.width)

    @property
    def label(self) -> str:
        """``"HART(γ=…)"``."""
        return f"HART(γ={self.width:g})"


@dataclass(frozen=True)
class PotentialDependent:
    """PDSG (Lun et al. 2025): a Gaussian surrogate scaled by the spread of the layer's membrane potential.

    .. math::  \\frac{\\partial s}{\\partial u} = \\frac{1}{\\sqrt{2\\pi}\\,\\sigma}
               \\exp\\Bigl(-\\frac{(u - \\sigma/2)^2}{2\\sigma^2}\\Bigr)

    with :math:`\\sigma` the standard deviation of :math:`u(t) = v(t^-) - V_{th}` over the time steps so far
    and the spatial positions of each channel — per image, so that a verdict never depends on which other
    images share its batch (the paper pools over the batch too); :math:`\\sigma := 1` where it is 0. Gradients
    run through time as in BPTT.
    """

    @property
    def label(self) -> str:
        """``"PDSG"``."""
        return "PDSG"


class SharpnessStatistics:
    """ASSG's running statistics (Wang et al. 2025) of :math:`|u|` per neuron and time step, over one attack run.

    Owned by the attack that uses :class:`AdaptiveSharpness` (the SA-PGD attack resets it at the start of every
    run, so nothing carries over from one batch or member to the next); keyed by spiking layer.
    """

    def __init__(self) -> None:
        self._layers: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def reset(self) -> None:
        """Forget everything: the next backward pass starts the statistics afresh."""
        self._layers.clear()

    def sharpness(self, layer: int, u: torch.Tensor, mode: AdaptiveSharpness) -> torch.Tensor:
        """Update the layer's moving averages with this iteration's ``u`` and return α for every entry of ``u``.

        :math:`M \\leftarrow \\beta M + (1-\\beta)|u|`,
        :math:`D \\leftarrow \\beta D + (1-\\beta)\\,\\bigl||u| - M\\bigr|`,
        :math:`\\alpha = a / (M + r D + 10^{-4})` (Wang et al. 2025); the first iteration starts at
        :math:`M = |u|, D = 0`.
        """
        magnitude = u.detach().abs()
        if layer in self._layers and self._layers[layer][0].shape == magnitude.shape:
            mean, spread = self._layers[layer]
            mean = mode.decay * mean + (1 - mode.decay) * magnitude
            spread = mode.decay * spread + (1 - mode.decay) * (magnitude - mean).abs()
        else:
            mean, spread = magnitude, torch.zeros_like(magnitude)
        self._layers[layer] = (mean, spread)
        return mode.scale / (mean + mode.ratio * spread + 1e-4)

    def __len__(self) -> int:
        return len(self._layers)


@dataclass(frozen=True)
class AdaptiveSharpness:
    """ASSG (Wang et al. 2025): an arctan-shaped surrogate whose sharpness adapts per neuron and time step.

    .. math::  \\frac{\\partial s}{\\partial u} = \\frac{\\alpha}{2\\bigl(1 + (\\pi \\alpha u / 2)^2\\bigr)},
               \\qquad \\alpha = \\frac{a}{M + r D + 10^{-4}}

    with :math:`M, D` the moving averages of :math:`|u|` and of its deviation over the attack's iterations
    (:class:`SharpnessStatistics`, decay 0.9, :math:`r = 1.5`): a neuron whose potential sits far from
    threshold gets a wide surrogate, one near threshold a sharp one. Gradients run through time as in BPTT.
    The statistics belong to one attack run; use it with the ``SA-PGD`` attack, which resets them.
    """

    scale: float = 1.0  # a
    ratio: float = 1.5  # r
    decay: float = 0.9
    statistics: SharpnessStatistics = field(default_factory=SharpnessStatistics, compare=False, hash=False,
                                            repr=False)

    @property
    def label(self) -> str:
        """``"ASSG"`` (``"ASSG(a=…)"`` for another scale)."""
        return "ASSG" if self.scale == 1.0 else f"ASSG(a={self.scale:g})"


def fresh_statistics(member: GradientMode) -> None:
    """Start ASSG's statistics (Wang et al. 2025) afresh before ``member`` attacks or measures a new batch.

    They belong to one run on one batch: a verdict or a gradient must not depend on earlier batches. Every other
    member has no state, and this does nothing for it.
    """
    if isinstance(member, AdaptiveSharpness):
        member.statistics.reset()


@dataclass(frozen=True)
class RateApproximation:
    """The network run as its rate map: each spiking layer replaced by the firing rate of its own neuron.

    Forward: the neuron of Eqs. (1)–(3) — with its threshold, leak and reset — simulated for T steps on the
    layer's input held constant, and its spike count divided by T; for a first layer with direct coding
    this is exactly the SNN's rate (an IF neuron with hard reset fires at :math:`1/\\lceil V_{th}/I\\rceil`,
    not :math:`I/V_{th}`). Backward: the smooth straight-through derivative
    :math:`\\mathbb{1}[0 < I < V_{th}] / V_{th}` of :math:`\\mathrm{clip}(I/V_{th}, 0, 1)`. This is BPDA
    (Athalye, Carlini & Wagner 2018) with a rate-matched function in place of the ReLU of
    :class:`ReLUApproximation`.
    """

    @property
    def label(self) -> str:
        """``"rate approximation"``."""
        return "rate approximation"


#: How gradients cross the spiking layers (one member of the attack ensemble, Sec. 4.3).
GradientMode = (BPTT | BPTR | ReLUApproximation | RateGradient | HybridRateTemporal | PotentialDependent
                | AdaptiveSharpness | RateApproximation)
#: The gradient modes that act inside a spiking layer's backward pass (the others change the forward too).
MemberGradient = BPTT | BPTR | RateGradient | HybridRateTemporal | PotentialDependent | AdaptiveSharpness


class MemberSwitch:
    """One forward pass, one backward pass per member: the spiking layers' backward follows :attr:`member`,
    chosen when the backward runs, not when the forward ran.

    Every member in ``members`` shares the SNN's exact forward (only its backward differs, Sec. 4.3), so members
    that take their gradient at the same input (the ensemble FGSM: every member starts from the clean image) can
    share one forward pass and differentiate it once each. Set :attr:`member` before each backward.
    """

    def __init__(self, members: tuple[MemberGradient, ...]) -> None:
        if not members or not all(isinstance(m, MemberGradient) for m in members):
            raise ValueError(f"a member switch needs spiking-layer gradient modes, got {members!r}")
        self.members = members
        self.member: MemberGradient = members[0]

    @property
    def needs_mean_current(self) -> bool:
        """Whether a member (RGA) reads each layer's time-averaged input in its backward."""
        return any(isinstance(m, RateGradient) for m in self.members)


#: What a spiking layer accepts as its gradient mode: one member, or a switch between members.
SpikingLayerGradient = MemberGradient | MemberSwitch

#: The surrogate used for training and finetuning, Eq. (15), i.e. triangular with γw = 1 (paper Suppl. A.2).
TRAINING_GRADIENT = BPTT(triangular(1.0))

#: The 19 members of the paper's ensemble (Suppl. A.4), in the authors' order.
PAPER_ENSEMBLE: tuple[GradientMode, ...] = (
    *(BPTT(triangular(w)) for w in (1.0, 2.0, 3.0, 0.5, 0.25)),
    *(BPTT(exponential(0.3, s)) for s in (0.5, 1.0, 2.0)),
    *(BPTT(exponential(1.0, s)) for s in (0.5, 1.0, 2.0)),
    *(BPTT(rectangular(w)) for w in (0.25, 0.5, 1.0, 2.0, 4.0)),
    BPTT(straight_through()),
    BPTR(),
    ReLUApproximation(),
)

#: Attacks on SNNs published after the paper (``reference/stronger-attacks.md``), as members; HART's width is
#: the default of a per-model search.
STRONGER_MEMBERS: tuple[GradientMode, ...] = (
    RateApproximation(), RateGradient(), HybridRateTemporal(1.0), PotentialDependent(), AdaptiveSharpness(),
)

#: The paper's 17 surrogate members with widths in units of each layer's threshold: does scale alone explain
#: a masked gradient?
THRESHOLD_SCALED: tuple[GradientMode, ...] = tuple(
    BPTT(member.surrogate, units="threshold") for member in PAPER_ENSEMBLE if isinstance(member, BPTT)
)
