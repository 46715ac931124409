"""How one network runs as an ANN or as an SNN for T steps (Sec. 3.1), whatever its layers.

A :class:`Simulation` says how to run it; inside a network every spiking layer goes through :func:`fire` (a ReLU
for the ANN, the neuron of Eqs. 1–3 over T steps for the SNN, its rate map for the rate approximation), the first
layer's current is repeated over time by :func:`direct_coding`, and the output layer, which integrates without
spiking, is read out by :func:`read_out` (Eq. 7):

* ``"mean"`` — :math:`\\frac{1}{T}\\sum_t \\mathbf{W}^L\\mathbf{s}^{L-1}(t) + \\mathbf{b}` (the authors' code; default),
* ``"sum"`` — :math:`\\mathbf{v}^L(T) = \\sum_t \\mathbf{W}^L\\mathbf{s}^{L-1}(t)` (Eq. 7 as printed).

The networks themselves are in :mod:`snnconv.method.models` (the VGGs), :mod:`snnconv.method.residual` and
:mod:`snnconv.method.bntt`; each is a :class:`SpikingModel`, with its input :class:`Normalization` inside, so attacks
work in [0, 1] pixels.

Example::

    >>> import torch
    >>> from snnconv.method.network import Simulation, direct_coding
    >>> direct_coding(torch.ones(2, 3), Simulation(time_steps=4)).shape
    torch.Size([8, 3])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from snnconv.method.architectures import Readout
from snnconv.method.neurons import SpikingNeuron, spiking_neurons
from snnconv.method.surrogates import (
    TRAINING_GRADIENT,
    GradientMode,
    MemberSwitch,
    RateApproximation,
    ReLUApproximation,
)


@dataclass(frozen=True)
class Simulation:
    """How to run a network: ``time_steps=0`` is the ReLU ANN, otherwise an SNN for T steps (Sec. 3.1).

    Attributes:
        time_steps: T, the simulation length with direct input coding (T = 8 in the paper, Sec. 4.1);
            0 runs the ANN.
        gradient: how gradients cross the spiking layers: the training surrogate (Eq. 15), one member
            of the attack ensemble (Sec. 4.3, Suppl. A.4), or a :class:`~snnconv.method.surrogates.MemberSwitch`
            between members that share the forward pass.
        readout: ``"mean"`` (the authors' code) or ``"sum"`` (Eq. 7) of the output layer's T outputs.
    """

    time_steps: int = 0
    gradient: GradientMode | MemberSwitch = TRAINING_GRADIENT
    readout: Readout = "mean"

    def __post_init__(self) -> None:
        if self.time_steps < 0:
            raise ValueError(f"time_steps must be >= 0 (0 = ANN), got {self.time_steps}.")
        if self.readout not in ("mean", "sum"):
            raise ValueError(f"readout must be 'mean' or 'sum', got {self.readout!r}.")

    @property
    def runs_as_ann(self) -> bool:
        """True for the ANN and for the conversion-based approximation (ReLUs forward and backward, Suppl. A.4)."""
        return self.time_steps == 0 or isinstance(self.gradient, ReLUApproximation)


ANN = Simulation()


def fire(neuron: SpikingNeuron, current: torch.Tensor, simulation: Simulation) -> torch.Tensor:
    """A spiking layer as ``simulation`` runs it: :math:`\\mathrm{ReLU}` for the ANN (Sec. 3.1), the neuron's rate
    map for the rate approximation, else the neuron over T steps of the time-merged current (Eqs. 1–3)."""
    if simulation.runs_as_ann:
        return F.relu(current)
    if isinstance(simulation.gradient, RateApproximation):
        return neuron.rate(current, simulation.time_steps)
    return neuron(current, simulation.time_steps, simulation.gradient)


def direct_coding(current: torch.Tensor, simulation: Simulation) -> torch.Tensor:
    """The first layer's current ``[B, ...]`` repeated for every time step as ``[T·B, ...]`` (direct coding, Sec. 2.1):
    a network runs its stateless first block once and repeats the result. The ANN and the rate approximation
    run on ``[B, ...]`` and get the current unchanged."""
    if simulation.runs_as_ann or isinstance(simulation.gradient, RateApproximation):
        return current
    steps = simulation.time_steps
    return current.unsqueeze(0).expand(steps, *current.shape).reshape(steps * current.shape[0], *current.shape[1:])


def read_out(output: torch.Tensor, simulation: Simulation, batch: int) -> torch.Tensor:
    """Logits ``[B, classes]`` from the output layer's ``[T·B, classes]`` (Eq. 7, see :class:`Simulation`'s readout).

    The output layer is linear, so under the ANN and the rate approximation (``[B, classes]`` already) reading out
    its T outputs equals reading out the mean rate once: the mean is the output itself, the sum T times it.
    """
    if simulation.runs_as_ann:
        return output
    if isinstance(simulation.gradient, RateApproximation):
        return output if simulation.readout == "mean" else simulation.time_steps * output
    per_step = output.view(simulation.time_steps, batch, -1)
    return per_step.mean(0) if simulation.readout == "mean" else per_step.sum(0)


class SpikingModel(nn.Module):
    """What every network here offers (Sec. 3.1: one set of parameters, run as ANN or SNN): ``forward(x, simulation)``
    on images in [0, 1], its spiking layers in forward order, and their sizes. Subclasses hold ``normalize`` (a
    :class:`Normalization`) as their first operation."""

    normalize: Normalization
    #: Whether ``forward`` draws random numbers (a random input encoding): then two runs on the same input differ,
    #: and attack members may not share one forward pass.
    stochastic: bool = False

    @property
    def neurons(self) -> list[SpikingNeuron]:
        """The spiking layers in forward order (:func:`~snnconv.method.neurons.spiking_neurons`)."""
        return spiking_neurons(self)

    @property
    def shortest_simulation(self) -> Simulation:
        """The shortest run of this network as an SNN: one time step (a network built for a fixed T says so)."""
        return Simulation(time_steps=1)

    def layer_sizes(self, input_shape: tuple[int, ...]) -> list[int]:
        """Number of spiking neurons in each spiking layer for one input of shape ``(C, H, W)``.

        Read off the shortest SNN run on a blank input, from what each spiking layer receives at the first step.
        """
        sizes: list[int] = []
        hooks = [n.register_forward_pre_hook(lambda module, args: sizes.append(args[0][0].numel()))
                 for n in self.neurons]
        training = self.training
        try:
            self.eval()
            with torch.no_grad():
                self(torch.zeros(1, *input_shape, device=self.normalize.mean.device), self.shortest_simulation)
        finally:
            self.train(training)
            for hook in hooks:
                hook.remove()
        return sizes

    def neuron_count(self, input_shape: tuple[int, ...]) -> int:
        """Total number of spiking neurons for one input of shape ``(C, H, W)`` (Fig. 3's denominator)."""
        return sum(self.layer_sizes(input_shape))


class Normalization(nn.Module):
    """``(x - mean) / std`` per channel, as the model's first operation (constants of Suppl. A.1).

    Inside the model, so attacks and ε live in [0, 1] pixel space, as in the authors' code.
    """

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std
