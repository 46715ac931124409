"""Networks that run either as a ReLU ANN or as an SNN for T steps, with one set of parameters.

A network is a sequence of *stages* — a stateless block (pooling, dropout, conv/linear, tdBN) followed
by one spiking layer — and a non-spiking output *head*. As an ANN every spiking layer is a ReLU; as an
SNN the input is applied as a constant current for T steps (direct coding), stateless layers run once
on the time-merged tensor ``[T·B, ...]`` and only the neurons loop over time. The output layer
integrates without spiking (paper Eq. 7); the *readout* turns its T outputs into logits:

* ``"mean"`` — :math:`\\frac{1}{T}\\sum_t \\mathbf{W}^L\\mathbf{s}^{L-1}(t) + \\mathbf{b}` (the authors' code; default),
* ``"sum"`` — :math:`\\mathbf{v}^L(T) = \\sum_t \\mathbf{W}^L\\mathbf{s}^{L-1}(t)` (Eq. 7 as printed).

Input normalization sits inside the model, so attacks work in [0, 1] pixel space.

Example::

    >>> import torch
    >>> from snnconv.models import build, Simulation
    >>> net = build("vgg_small", "fashion_mnist")
    >>> x = torch.rand(2, 1, 28, 28)
    >>> net(x).shape, net(x, Simulation(time_steps=8)).shape
    (torch.Size([2, 10]), torch.Size([2, 10]))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from snnconv.data import DATASETS
from snnconv.neurons import SpikingNeuron, spiking_neurons
from snnconv.surrogates import TRAINING_GRADIENT, GradientMode, RateApproximation, ReLUApproximation
from snnconv.tdbn import TemporalBatchNorm2d

Readout = Literal["mean", "sum"]
BiasMode = Literal["none", "output", "all"]


@dataclass(frozen=True)
class Simulation:
    """How to run a network: ``time_steps=0`` is the ReLU ANN, otherwise an SNN for T steps (Sec. 3.1).

    Attributes:
        time_steps: T, the simulation length with direct input coding (T = 8 in the paper, Sec. 4.1);
            0 runs the ANN.
        gradient: how gradients cross the spiking layers: the training surrogate (Eq. 15) or one member
            of the attack ensemble (Sec. 4.3, Suppl. A.4).
        readout: ``"mean"`` (the authors' code) or ``"sum"`` (Eq. 7) of the output layer's T outputs.
    """

    time_steps: int = 0
    gradient: GradientMode = TRAINING_GRADIENT
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

    @property
    def neurons(self) -> list[SpikingNeuron]:
        """The spiking layers in forward order (:func:`~snnconv.neurons.spiking_neurons`)."""
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


class Stage(nn.Module):
    """A stateless block followed by one spiking layer (Eqs. 1–3), a ReLU when run as an ANN.

    Conversion keeps the block's :math:`\\mathbf{W}^l` (and tdBN's :math:`\\varphi^l, \\omega^l`) and
    replaces :math:`\\sigma` in :math:`\\mathbf{a}^l = \\sigma(\\mathbf{W}^l \\mathbf{a}^{l-1})` by the neuron
    (Sec. 3.1).
    """

    def __init__(self, block: list[nn.Module], neuron: SpikingNeuron) -> None:
        super().__init__()
        self.block = nn.Sequential(*block)
        self.neuron = neuron


class SpikingNetwork(SpikingModel):
    """Stages of (block → neuron) and a non-spiking head, runnable as ANN or SNN (Sec. 3.1, Eq. 7): the VGGs.

    As an SNN, the normalized input is applied as a constant current for T steps (direct coding), every
    stage's neuron integrates and fires (Eqs. 1–3), and the head integrates without spiking; the readout
    turns its T outputs into logits (see :class:`Simulation`).
    """

    def __init__(self, normalize: Normalization, stages: list[Stage], head: list[nn.Module]) -> None:
        super().__init__()
        self.normalize = normalize
        self.stages = nn.ModuleList(stages)
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor, simulation: Simulation = ANN) -> torch.Tensor:
        """Logits ``[B, classes]`` of images ``x`` in [0, 1], run as ``simulation`` says (an SNN reads out by Eq. 7)."""
        batch = x.shape[0]
        x = self.normalize(x)
        for index, stage in enumerate(self.stages):
            x = stage.block(x)
            if index == 0:  # the first block sees the same input at every step, so it runs once
                x = direct_coding(x, simulation)
            x = fire(stage.neuron, x, simulation)
        return read_out(self.head(x), simulation, batch)


# Architectures as data: numbers are conv channels, "A" is 2×2 average pooling after the spiking layer.
VGG_CONFIGS: dict[str, dict] = {
    # The default profile's network for 28×28×1 inputs. It averages 2×2 pixel blocks first and is
    # small on purpose: an SNN step costs about T ANN steps, and the 19-member ensemble PGD²⁰ of
    # Table 1 must fit a 2-core CPU (book: deviations page). 4,768 IF neurons.
    "vgg_small": dict(features=("A", 16, "A", 32, "A"), hidden=(64,), dropout=0.0),
    # VGG11 of SNN-RAT / the authors' code for 32×32×3 (Suppl. A.1; 286,720 IF neurons).
    "vgg11": dict(
        features=(64, "A", 128, 256, "A", 512, 512, 512, "A", 512, 512), hidden=(4096, 4096), dropout=0.2
    ),
    # VGG11 of BNTT for 64×64×3 TinyImageNet (authors' notes §1, ``vgg11_tin``): global average pooling before
    # one hidden layer, no dropout; 610,304 IF neurons in 9 spiking layers.
    "vgg11_tin": dict(
        features=(64, "A", 128, "A", 256, 256, "A", 512, 512, "A", 512, 512), hidden=(4096,), dropout=0.0,
        global_pool=True,
    ),
}

#: The residual networks of the paper profile (:mod:`snnconv.residual`): ResNet-20 (SVHN), WRN-16-4 (CIFAR-100).
RESIDUAL_ARCHITECTURES = ("resnet20", "wrn16_4")

ARCHITECTURES = (*VGG_CONFIGS, *RESIDUAL_ARCHITECTURES)


def _vgg(
    features: tuple,
    hidden: tuple[int, ...],
    dropout: float,
    in_channels: int,
    image_size: int,
    num_classes: int,
    bias: BiasMode,
    neuron: Callable[[], SpikingNeuron],
    global_pool: bool = False,
) -> tuple[list[Stage], list[nn.Module]]:
    stages: list[Stage] = []
    pending: list[nn.Module] = []  # stateless ops that open the next block (pooling, flatten, dropout)
    channels, size = in_channels, image_size
    for item in features:
        if item == "A":
            pending.append(nn.AvgPool2d(2))
            size //= 2
            continue
        conv = nn.Conv2d(channels, item, kernel_size=3, padding=1, bias=bias == "all")
        stages.append(Stage([*pending, conv, TemporalBatchNorm2d(item)], neuron()))
        pending, channels = [], item
    if global_pool:
        pending.append(nn.AdaptiveAvgPool2d(1))
        size = 1
    width = channels * size * size
    pending.append(nn.Flatten())
    for units in hidden:
        linear = nn.Linear(width, units, bias=bias == "all")
        stages.append(Stage([*pending, linear], neuron()))
        pending = [nn.Dropout(dropout)] if dropout > 0 else []
        width = units
    head = [*pending, nn.Linear(width, num_classes, bias=bias != "none")]
    return stages, head


def initialize(model: nn.Module) -> None:
    """Kaiming-normal (fan_out, ReLU) convs, BN (1, 0), PyTorch-default linears, zero biases: the networks of Sec. 4.1
    as the authors' code initializes them."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        if isinstance(module, nn.Conv2d | nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)


def build(
    arch: str, dataset: str, bias: BiasMode = "output", leak: float = 1.0, soft_reset: bool = False
) -> SpikingModel:
    """Build ``arch`` for ``dataset``; the same network runs as ANN or SNN (see :class:`Simulation`).

    Every spiking layer gets the neuron of Eqs. (1)–(3) with leak :math:`\\tau` = ``leak`` (1: IF) and the
    given reset; both are saved with the model's state dict.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {ARCHITECTURES}, got {arch!r}.")
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {tuple(DATASETS)}, got {dataset!r}.")
    if bias not in ("none", "output", "all"):
        raise ValueError(f"bias must be 'none', 'output' or 'all', got {bias!r}.")
    spec = DATASETS[dataset]
    if arch in RESIDUAL_ARCHITECTURES:
        from snnconv import residual  # it builds on this module's helpers, so it is imported here, not above

        model = residual.build(arch, spec, bias, lambda: SpikingNeuron(leak=leak, soft_reset=soft_reset))
        initialize(model)
        return model
    stages, head = _vgg(
        **VGG_CONFIGS[arch],
        in_channels=spec.shape[0],
        image_size=spec.shape[1],
        num_classes=spec.num_classes,
        bias=bias,
        neuron=lambda: SpikingNeuron(leak=leak, soft_reset=soft_reset),
    )
    model = SpikingNetwork(Normalization(spec.mean, spec.std), stages, head)
    initialize(model)
    return model
