"""An ensemble member's surrogate gradient as the spike function of another library's spiking layer (Sec. 4.3).

Every member of the attack ensemble that :class:`~snnconv.method.surrogates.BPTT` describes differs from the others
only in
:math:`\\partial s/\\partial z` (Suppl. A.4, Eqs. 15–18); the rest of the backward pass is autograd through the
layer's own equations. A library whose layers fire through a swappable spike function — snnTorch's ``spike_grad``,
SpikingJelly's ``surrogate_function`` — can therefore run any such member unchanged: :class:`MemberSpike` keeps the
library's forward (its own firing rule, :math:`z > 0` or :math:`z \\ge 0`) and puts the member's surrogate into the
backward,

.. math::  s = \\mathbb{1}[z > 0] \\;\\text{or}\\; \\mathbb{1}[z \\ge 0], \\qquad
           \\frac{\\partial L}{\\partial z} = \\frac{\\partial L}{\\partial s}\\, g_m(z),

with :math:`g_m` the member's surrogate (Eqs. 15–18), read when the backward runs — so a
:class:`~snnconv.method.surrogates.MemberSwitch` lets the members share one forward pass, as they do for snnconv's own
networks. The members that change more than :math:`\\partial s/\\partial z` (BPTR, the ReLU and rate approximations,
RGA, HART, PDSG, ASSG) need the neuron's internals and are not available through an adapter (:func:`adaptable`).

Example::

    >>> import torch
    >>> from snnconv.adapters.members import MemberSpike
    >>> from snnconv.method.surrogates import BPTT, triangular
    >>> z = torch.tensor([-0.5, 0.0, 0.5], requires_grad=True)
    >>> spike = MemberSpike(BPTT(triangular(1.0)), threshold=1.0, fires_at_zero=False)
    >>> s = spike(z); s.tolist()
    [0.0, 0.0, 1.0]
    >>> s.sum().backward(); z.grad.tolist()
    [0.5, 1.0, 0.5]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from snnconv.method.surrogates import (
    BPTT,
    PAPER_ENSEMBLE,
    GradientMode,
    MemberSwitch,
    scaled_coefficients,
    surrogate_factor,
)


@dataclass(frozen=True)
class OwnSurrogate:
    """The member that keeps every layer's own surrogate: the gradient the library computes by itself.

    For a network trained with, say, snnTorch's arctan surrogate this is the non-adaptive attack of Tables B3/B4
    ("vanilla", Sec. 4.3): the attacker differentiates the network exactly as its author trained it.
    """

    @property
    def label(self) -> str:
        """``"own surrogate"``, the member's name in tables (Table B2)."""
        return "own surrogate"


#: The paper's members that an adapter runs (Suppl. A.4): the 17 surrogates of
#: :data:`~snnconv.method.surrogates.PAPER_ENSEMBLE` (BPTR and the ReLU approximation need a neuron's internals).
SURROGATE_MEMBERS: tuple[GradientMode, ...] = tuple(m for m in PAPER_ENSEMBLE if isinstance(m, BPTT))


def adaptable(member: object) -> bool:
    """Whether an adapter can run ``member`` (Sec. 4.3): a :class:`~snnconv.method.surrogates.BPTT` surrogate (in
    absolute or threshold units), :class:`OwnSurrogate`, or a :class:`~snnconv.method.surrogates.MemberSwitch` of BPTT
    surrogates.

    Example:
        >>> from snnconv.method.surrogates import BPTR, BPTT, exponential
        >>> adaptable(BPTT(exponential(0.3, 2.0))), adaptable(OwnSurrogate()), adaptable(BPTR())
        (True, True, False)
    """
    if isinstance(member, MemberSwitch):
        return all(isinstance(m, BPTT) for m in member.members)
    return isinstance(member, BPTT | OwnSurrogate)


def surrogate_derivative(member: BPTT, z: torch.Tensor, threshold: float | None) -> torch.Tensor:
    """:math:`g_m(z) = \\partial s/\\partial z` of one BPTT member (Eqs. 15–18), for a layer with threshold
    :math:`V_{th}`; ``units="threshold"`` reads the widths in units of :math:`V_{th}`
    (:func:`~snnconv.method.surrogates.scaled_coefficients`), which needs one threshold for the layer."""
    if member.units == "threshold":
        if threshold is None:
            raise ValueError(f"{member.label} reads its width in units of the layer's threshold; this layer has no "
                             "single threshold (Suppl. A.4).")
        first, second = scaled_coefficients(member.surrogate, threshold)
        return surrogate_factor(z, member.surrogate.family, first, second)
    return member.surrogate.factor(z)


class _MemberSpikeFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: torch.Tensor, gradient: BPTT | MemberSwitch, threshold: float | None, fires_at_zero: bool):
        ctx.save_for_backward(z)
        ctx.gradient, ctx.threshold = gradient, threshold
        return (z >= 0 if fires_at_zero else z > 0).to(z.dtype)

    @staticmethod
    def backward(ctx, grad_spikes: torch.Tensor):
        (z,) = ctx.saved_tensors
        member = ctx.gradient.member if isinstance(ctx.gradient, MemberSwitch) else ctx.gradient
        if not isinstance(member, BPTT):
            raise NotImplementedError(f"an adapted layer runs BPTT surrogates only, not {member!r} (Suppl. A.4)")
        return grad_spikes * surrogate_derivative(member, z, ctx.threshold), None, None, None


class MemberSpike:
    """A spike function for one foreign spiking layer: the library's forward, one member's surrogate (Sec. 4.3).

    Called with :math:`z = v - V_{th}` it returns :math:`\\mathbb{1}[z > 0]` (snnTorch) or :math:`\\mathbb{1}[z \\ge 0]`
    (SpikingJelly, ``fires_at_zero=True``) in ``z``'s dtype, and its backward multiplies by the member's
    :func:`surrogate_derivative` (Eqs. 15–18). ``gradient`` may be a :class:`~snnconv.method.surrogates.MemberSwitch`:
    the member is then the switch's member when the backward runs. :attr:`calls` counts the calls, so that an adapter
    can tell a layer that never used it (and whose gradient would not follow the member).
    """

    def __init__(self, gradient: BPTT | MemberSwitch, threshold: float | None, fires_at_zero: bool) -> None:
        if not adaptable(gradient) or isinstance(gradient, OwnSurrogate):
            raise ValueError(f"a member spike function needs BPTT surrogates, got {gradient!r} (Suppl. A.4)")
        members = gradient.members if isinstance(gradient, MemberSwitch) else (gradient,)
        if threshold is None and any(m.units == "threshold" for m in members):
            raise ValueError("members with widths in threshold units need a layer with one threshold (Suppl. A.4).")
        self.gradient, self.fires_at_zero = gradient, fires_at_zero
        self.threshold = None if threshold is None else float(threshold)
        self.calls = 0

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """Forward :math:`s = H(z)`; backward :math:`\\partial L/\\partial z = \\partial L/\\partial s\\, g_m(z)`."""
        self.calls += 1
        return _MemberSpikeFunction.apply(z, self.gradient, self.threshold, self.fires_at_zero)
