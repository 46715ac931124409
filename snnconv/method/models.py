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
from typing import Literal

import torch
from torch import nn

from snnconv.datasets.data import DATASETS
from snnconv.foundations.kernels import AveragePool2d
from snnconv.method import residual
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

BiasMode = Literal["none", "output", "all"]


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

#: The residual networks of the paper profile (:mod:`snnconv.method.residual`): ResNet-20 (SVHN), WRN-16-4 (CIFAR-100).
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
