"""Residual spiking networks of the paper profile: ResNet-20 (SVHN) and WRN-16-4 (CIFAR-100), Sec. 4.1.

Built as the authors' code builds them (authors' notes §1), so that conversion (Algorithm 1) meets the same
spiking layers, in the same order, with the same neuron counts:

* **ResNet-20** — a stem Conv3×3(3→16)→tdBN→IF, three stages of three basic blocks (16/32/64 channels at
  32/16/8 px; stages 2 and 3 open with stride 2 and a Conv1×1+tdBN shortcut), global average pooling and
  FC(64→classes). A block is

  .. math::

      \\mathbf{h} = \\mathrm{IF}(\\mathrm{BN}(W_1 \\mathbf{x})), \\qquad
      \\mathbf{y} = \\mathrm{IF}\\big(c_0\\, \\mathrm{sc}(\\mathbf{x}) + c_1\\, \\mathrm{BN}(W_2 \\mathbf{h})\\big),

  with the shortcut :math:`\\mathrm{sc}` and a learnable convex-combination pair :math:`(c_0, c_1)` that starts at
  (0.5, 0.5) and is not constrained.
  19 spiking layers, 188,416 neurons on 32×32 inputs.
* **WRN-16-4** — pre-activation blocks, two per group, widths 16/64/128/256: a stem Conv3×3(3→16), then

  .. math::

      \\mathbf{a} = \\mathrm{IF}(\\mathrm{BN}_1(\\mathbf{x})), \\qquad
      \\mathbf{y} = c_0\\, \\mathrm{sc} + c_1\\, W_2\\, \\mathrm{IF}(\\mathrm{BN}_2(W_1 \\mathbf{a})),

  where the shortcut is :math:`\\mathbf{x}` itself when a block keeps its width and a Conv1×1 of the spikes
  :math:`\\mathbf{a}` when it widens (no spiking layer after the sum); a final tdBN→IF, 8×8 average pooling and
  FC(256→classes). 13 spiking layers, 475,136 neurons on 32×32 inputs.

Both run as ANN or SNN through :class:`snnconv.method.network.Simulation` like the VGGs: the stem's output is the
constant current of direct coding, every spiking layer goes through :func:`snnconv.method.network.fire`, and the output
layer is read out by Eq. 7 (:func:`snnconv.method.network.read_out`).

Example::

    >>> import torch
    >>> from snnconv.method.models import build, Simulation
    >>> net = build("resnet20", "svhn")
    >>> net(torch.rand(2, 3, 32, 32), Simulation(time_steps=2)).shape, len(net.neurons)
    (torch.Size([2, 10]), 19)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from snnconv.datasets.specs import DatasetSpec
from snnconv.method.network import ANN, Normalization, Simulation, SpikingModel, direct_coding, fire, read_out
from snnconv.method.neurons import SpikingNeuron
from snnconv.method.tdbn import TemporalBatchNorm2d

NeuronFactory = Callable[[], SpikingNeuron]


class ConvexCombination(nn.Module):
    """:math:`c_0\\,\\mathbf{a} + c_1\\,\\mathbf{b}` with learnable :math:`(c_0, c_1)`, initialised to (0.5, 0.5) and
    left unconstrained, as the authors' ``ConvexCombination`` merges a shortcut with a residual branch."""

    def __init__(self) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.tensor([0.5, 0.5]))

    def forward(self, shortcut: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.weights[0] * shortcut + self.weights[1] * residual


def _conv(channels_in: int, channels_out: int, kernel: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(channels_in, channels_out, kernel, stride=stride, padding=kernel // 2, bias=False)


class BasicBlock(nn.Module):
    """ResNet-20's block: two 3×3 convolutions with tdBN, a spiking layer after the first and one after the sum."""

    def __init__(self, channels_in: int, channels_out: int, stride: int, neuron: NeuronFactory) -> None:
        super().__init__()
        self.conv1, self.bn1, self.neuron1 = _conv(channels_in, channels_out, 3, stride), \
            TemporalBatchNorm2d(channels_out), neuron()
        self.conv2, self.bn2 = _conv(channels_out, channels_out, 3), TemporalBatchNorm2d(channels_out)
        same = stride == 1 and channels_in == channels_out
        self.shortcut = nn.Identity() if same else nn.Sequential(
            _conv(channels_in, channels_out, 1, stride), TemporalBatchNorm2d(channels_out))
        self.combination = ConvexCombination()
        self.neuron2 = neuron()

    def forward(self, x: torch.Tensor, simulation: Simulation) -> torch.Tensor:
        h = fire(self.neuron1, self.bn1(self.conv1(x)), simulation)
        return fire(self.neuron2, self.combination(self.shortcut(x), self.bn2(self.conv2(h))), simulation)


class WideBlock(nn.Module):
    """WRN's pre-activation block: tdBN→IF→conv, tdBN→IF→conv, summed with the shortcut without a spiking layer."""

    def __init__(self, channels_in: int, channels_out: int, stride: int, neuron: NeuronFactory) -> None:
        super().__init__()
        self.bn1, self.neuron1 = TemporalBatchNorm2d(channels_in), neuron()
        self.conv1 = _conv(channels_in, channels_out, 3, stride)
        self.bn2, self.neuron2 = TemporalBatchNorm2d(channels_out), neuron()
        self.conv2 = _conv(channels_out, channels_out, 3)
        # A block that keeps its width adds its input itself; one that widens projects its spikes (authors' code).
        same = stride == 1 and channels_in == channels_out
        self.shortcut = None if same else _conv(channels_in, channels_out, 1, stride)
        self.combination = ConvexCombination()

    def forward(self, x: torch.Tensor, simulation: Simulation) -> torch.Tensor:
        a = fire(self.neuron1, self.bn1(x), simulation)
        shortcut = x if self.shortcut is None else self.shortcut(a)
        residual = self.conv2(fire(self.neuron2, self.bn2(self.conv1(a)), simulation))
        return self.combination(shortcut, residual)


class ResidualNetwork(SpikingModel):
    """A stem, residual blocks and a head, runnable as ANN or SNN; the stem's output is direct coding's current."""

    def __init__(self, normalize: Normalization, stem: list[nn.Module], stem_neuron: SpikingNeuron | None,
                 blocks: list[nn.Module], head_neuron: SpikingNeuron | None, head_norm: nn.Module | None,
                 pool: nn.Module, classifier: nn.Linear) -> None:
        super().__init__()
        self.normalize = normalize
        self.stem = nn.Sequential(*stem)
        self.stem_neuron = stem_neuron
        self.blocks = nn.ModuleList(blocks)
        self.head_norm = head_norm
        self.head_neuron = head_neuron
        self.pool = pool
        self.classifier = classifier

    def forward(self, x: torch.Tensor, simulation: Simulation = ANN) -> torch.Tensor:
        """Logits ``[B, classes]`` of images ``x`` in [0, 1], run as ``simulation`` says (an SNN reads out by Eq. 7)."""
        batch = x.shape[0]
        x = direct_coding(self.stem(self.normalize(x)), simulation)
        if self.stem_neuron is not None:
            x = fire(self.stem_neuron, x, simulation)
        for block in self.blocks:
            x = block(x, simulation)
        if self.head_neuron is not None:
            x = fire(self.head_neuron, self.head_norm(x), simulation)
        return read_out(self.classifier(self.pool(x).flatten(1)), simulation, batch)


def _groups(block: type[nn.Module], widths: tuple[int, ...], per_group: int, neuron: NeuronFactory) -> list[nn.Module]:
    """Groups of ``per_group`` blocks after the 16-channel stem; every group but the first opens with stride 2."""
    blocks, channels = [], 16
    for group, width in enumerate(widths):
        for index in range(per_group):
            blocks.append(block(channels, width, 2 if group > 0 and index == 0 else 1, neuron))
            channels = width
    return blocks


def _resnet20(spec: DatasetSpec, bias: bool, neuron: NeuronFactory) -> ResidualNetwork:
    blocks = _groups(BasicBlock, (16, 32, 64), 3, neuron)
    return ResidualNetwork(
        Normalization(spec.mean, spec.std), [_conv(spec.shape[0], 16, 3), TemporalBatchNorm2d(16)], neuron(),
        blocks, None, None, nn.AdaptiveAvgPool2d(1), nn.Linear(64, spec.num_classes, bias=bias))


def _wrn16_4(spec: DatasetSpec, bias: bool, neuron: NeuronFactory) -> ResidualNetwork:
    blocks = _groups(WideBlock, (64, 128, 256), 2, neuron)
    return ResidualNetwork(
        Normalization(spec.mean, spec.std), [_conv(spec.shape[0], 16, 3)], None, blocks, neuron(),
        TemporalBatchNorm2d(256), nn.AdaptiveAvgPool2d(1), nn.Linear(256, spec.num_classes, bias=bias))


_BUILDERS = {"resnet20": _resnet20, "wrn16_4": _wrn16_4}


def build(arch: str, spec: DatasetSpec, bias: str, neuron: NeuronFactory) -> ResidualNetwork:
    """``arch`` (``"resnet20"`` or ``"wrn16_4"``) for images of ``spec``; only the output layer may have a bias
    (``bias`` ``"output"`` or ``"all"``), as in the authors' code. Use :func:`snnconv.method.models.build`, which also
    initialises the weights."""
    return _BUILDERS[arch](spec, bias != "none", neuron)
