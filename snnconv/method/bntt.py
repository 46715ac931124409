"""BNTT's spiking VGG11 with Poisson rate coding: the TinyImageNet baseline of Fig. 2 (Kim & Panda 2021, Suppl. A.4).

The paper compares its converted SNNs on TinyImageNet with BNTT, a network trained from scratch that "claimed
robustness benefits through its batch-norm mechanism combined with Poisson input encoding" (Sec. 4.4). It has the
layout of the TinyImageNet VGG11 (``vgg11_tin``: 610,304 neurons in 9 spiking layers) and differs in three ways:

* **Poisson rate coding** instead of direct coding: at every step each pixel of intensity :math:`x_i \\in [0, 1]`
  spikes with probability :math:`x_i`, :math:`s^0_i(t) = \\mathbb{1}[u_i(t) < x_i]`, :math:`u_i(t) \\sim U(0, 1)`, so
  its rate over T steps estimates :math:`x_i`. The encoding has no gradient; an attack uses the gradient that
  reaches the first convolution's input as if it were the gradient of :math:`\\mathbf{x}` (straight through,
  :math:`\\partial s^0_i(t) / \\partial x_i := 1`), the substitute of Suppl. A.4, and averages over draws (EOT).
* **Batch norm through time**: every spiking layer's current is normalized per time step with that step's
  own statistics and scale, :math:`\\hat{I}(t) = \\gamma_t (I(t) - \\mu_t) / \\sqrt{\\sigma_t^2 + \\epsilon}`, without
  a shift (BNTT learns one :math:`\\gamma_t` per step and channel instead of tdBN's shared affine map, Eq. 8).
* **LIF neurons** with :math:`\\tau = 0.99`, soft reset and a fixed threshold :math:`V_{th} = 1` (Fig. 2: "SNNs with
  LIF neurons use soft-reset as in [19]"), at T = 30 in Fig. 2.

It runs only as an SNN with the number of steps it was built for (its batch norms are per step).

Example::

    >>> import torch
    >>> from snnconv.method.bntt import build_bntt
    >>> from snnconv.method.models import Simulation
    >>> net = build_bntt("tinyimagenet", time_steps=2)
    >>> net(torch.rand(2, 3, 64, 64), Simulation(time_steps=2)).shape
    torch.Size([2, 200])
"""

from __future__ import annotations

import torch
from torch import nn

from snnconv.datasets.data import DATASETS
from snnconv.foundations.kernels import AveragePool2d
from snnconv.method.architectures import VGG_CONFIGS
from snnconv.method.models import initialize
from snnconv.method.network import Normalization, Simulation, SpikingModel, fire, read_out
from snnconv.method.neurons import SpikingNeuron
from snnconv.method.surrogates import RateApproximation

#: BNTT's LIF neuron (Kim & Panda 2021; Fig. 2 of the paper): leak, reset and its fixed threshold.
BNTT_LEAK, BNTT_THRESHOLD = 0.99, 1.0


def poisson_encoding(images: torch.Tensor, time_steps: int) -> torch.Tensor:
    """Rate coding of intensities in [0, 1]: ``[T·B, C, H, W]`` spikes, each pixel firing with probability equal to its
    intensity at every step; the gradient passes straight through to ``images`` (Suppl. A.4's substitute)."""
    repeated = images.unsqueeze(0).expand(time_steps, *images.shape)
    spikes = (torch.rand_like(repeated) < repeated).to(images.dtype)
    # Forward: the spikes; backward: the identity, so each step's gradient reaches the intensities.
    return (repeated + (spikes - repeated).detach()).reshape(time_steps * images.shape[0], *images.shape[1:])


class BatchNormThroughTime(nn.Module):
    """One batch norm per time step, scale only (BNTT, Kim & Panda 2021): step t of the merged ``[T·B, ...]`` tensor
    uses norm t."""

    def __init__(self, features: int, time_steps: int, dimensions: int) -> None:
        super().__init__()
        norm = nn.BatchNorm2d if dimensions == 2 else nn.BatchNorm1d
        self.norms = nn.ModuleList(norm(features, eps=1e-4) for _ in range(time_steps))
        for batch_norm in self.norms:
            batch_norm.bias = None  # BNTT learns no shift

    def forward(self, merged: torch.Tensor) -> torch.Tensor:
        steps = merged.view(len(self.norms), -1, *merged.shape[1:]).unbind(0)
        return torch.cat([norm(step) for norm, step in zip(self.norms, steps, strict=True)])


class BNTTLayer(nn.Module):
    """Convolution or linear map, batch norm through time, LIF neuron (Eqs. 1–3 with BNTT's leak and soft reset)."""

    def __init__(self, weights: nn.Module, features: int, time_steps: int, dimensions: int) -> None:
        super().__init__()
        self.weights = weights
        self.norm = BatchNormThroughTime(features, time_steps, dimensions)
        self.neuron = SpikingNeuron(BNTT_THRESHOLD, leak=BNTT_LEAK, soft_reset=True, learn_threshold=False)

    def forward(self, spikes: torch.Tensor, simulation: Simulation) -> torch.Tensor:
        return fire(self.neuron, self.norm(self.weights(spikes)), simulation)


class BNTTNetwork(SpikingModel):
    """The TinyImageNet VGG11 with Poisson input, batch norm through time and LIF neurons (Kim & Panda 2021; Fig. 2)."""

    stochastic = True  # every forward draws its own Poisson input

    def __init__(self, layers: list[nn.Module], classifier: nn.Linear, time_steps: int, channels: int) -> None:
        super().__init__()
        self.normalize = Normalization((0.0,) * channels, (1.0,) * channels)  # rate coding reads raw intensities
        self.layers = nn.ModuleList(layers)
        self.classifier = classifier
        self.time_steps = time_steps

    @property
    def shortest_simulation(self) -> Simulation:
        """Its batch norms are per step, so it runs only for the T steps it was built for."""
        return Simulation(self.time_steps)

    def forward(self, x: torch.Tensor, simulation: Simulation | None = None) -> torch.Tensor:
        """Logits ``[B, classes]``, the mean of the output layer over the T steps the network was built for."""
        simulation = Simulation(self.time_steps) if simulation is None else simulation
        if simulation.runs_as_ann or isinstance(simulation.gradient, RateApproximation) \
                or simulation.time_steps != self.time_steps:
            raise ValueError(f"BNTT's network runs only as an SNN of T = {self.time_steps} steps (one batch norm per "
                             f"step); run it with Simulation(time_steps={self.time_steps}) and a spiking-layer "
                             f"gradient, got {simulation}.")
        spikes = poisson_encoding(self.normalize(x), self.time_steps)
        for layer in self.layers:
            spikes = layer(spikes, simulation) if isinstance(layer, BNTTLayer) else layer(spikes)
        return read_out(self.classifier(spikes), simulation, x.shape[0])


def build_bntt(dataset: str = "tinyimagenet", time_steps: int = 30, arch: str = "vgg11_tin") -> BNTTNetwork:
    """BNTT's network for ``dataset`` with batch norms for ``time_steps`` steps (Kim & Panda 2021; Sec. 4.4): the
    ``vgg11_tin`` layout of the paper, or another VGG layout of :data:`~snnconv.method.models.VGG_CONFIGS` (the CPU
    profiles' ``vgg_small``) with the same three changes — Poisson input, batch norm through time, LIF neurons."""
    spec = DATASETS[dataset]
    config = VGG_CONFIGS[arch]
    layers: list[nn.Module] = []
    channels, size = spec.shape[0], spec.shape[1]
    for item in config["features"]:
        if item == "A":
            layers.append(AveragePool2d(2))
            size //= 2
            continue
        conv = nn.Conv2d(channels, item, kernel_size=3, padding=1, bias=False)
        layers.append(BNTTLayer(conv, item, time_steps, dimensions=2))
        channels = item
    if config.get("global_pool"):
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    else:
        layers.append(nn.Flatten())
        channels *= size * size
    for units in config["hidden"]:
        layers.append(BNTTLayer(nn.Linear(channels, units, bias=False), units, time_steps, dimensions=1))
        channels = units
    model = BNTTNetwork(layers, nn.Linear(channels, spec.num_classes, bias=False), time_steps, spec.shape[0])
    initialize(model)
    return model
