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
    >>> from snnconv.method.models import build, Simulation
    >>> net = build("vgg_small", "fashion_mnist")
    >>> x = torch.rand(2, 1, 28, 28)
    >>> net(x).shape, net(x, Simulation(time_steps=8)).shape
    (torch.Size([2, 10]), torch.Size([2, 10]))
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from snnconv.datasets.data import DATASETS
from snnconv.foundations.kernels import AveragePool2d
from snnconv.method import residual
from snnconv.method.architectures import ARCHITECTURES, RESIDUAL_ARCHITECTURES, VGG_CONFIGS, BiasMode
from snnconv.method.network import (  # noqa: F401 — re-exported: networks are built and run through this module
    ANN,
    Normalization,
    Readout,
    Simulation,
    SpikingModel,
    direct_coding,
    fire,
    read_out,
)
from snnconv.method.neurons import SpikingNeuron
from snnconv.method.tdbn import TemporalBatchNorm2d


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
            pending.append(AveragePool2d(2))
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
