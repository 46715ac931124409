"""Coding efficiency (paper Sec. 5.3, Fig. 3): how many spikes an SNN emits per test sample.

Over all :math:`N` spiking neurons of the network and :math:`T` time steps, one sample can elicit at most
:math:`N \\cdot T` spikes (VGG11: 286,720 IF neurons × 8 ≈ 2.3M). Fig. 3 shows the histogram of the total
count per test sample,

.. math::

    c(\\mathbf{x}) = \\sum_{l=1}^{L-1} \\sum_{t=1}^{T} \\sum_i s^l_i(t), \\qquad
    \\text{active share} = \\frac{\\mathbb{E}_{\\mathbf{x}}[c(\\mathbf{x})]}{N \\cdot T},

and compares the mean count and the active share across training methods (the paper: 148,490 spikes and
6.47 % for ours against 169,566 and 7.39 % for SNN-RAT on CIFAR-10).

Example::

    >>> import torch
    >>> from snnconv.method.models import build
    >>> net = build("vgg_small", "fashion_mnist").eval()
    >>> counts = spike_counts(net, torch.rand(3, 1, 28, 28), time_steps=4)
    >>> counts.shape, bool((counts <= 4 * net.neuron_count((1, 28, 28))).all())
    (torch.Size([3]), True)
"""

from __future__ import annotations

import torch
from torch import nn

from snnconv.method.models import Simulation


@torch.no_grad()
def spike_counts(model: nn.Module, images: torch.Tensor, time_steps: int, batch_size: int = 256) -> torch.Tensor:
    """:math:`c(\\mathbf{x})` of Sec. 5.3 for every image: spikes of all spiking layers over all ``time_steps``."""
    model.eval()
    counts = torch.zeros(len(images), dtype=torch.long)
    batch_counts: list[torch.Tensor] = []

    def count(module: nn.Module, args: tuple, spikes: torch.Tensor) -> None:
        merged = spikes.reshape(time_steps, -1, *spikes.shape[1:])  # [T, B, ...]
        batch_counts.append(merged.sum(dim=[0, *range(2, merged.dim())]).round().long().cpu())

    hooks = [neuron.register_forward_hook(count) for neuron in model.neurons]
    try:
        for start in range(0, len(images), batch_size):
            batch_counts.clear()
            model(images[start : start + batch_size], Simulation(time_steps))
            counts[start : start + batch_size] = torch.stack(batch_counts).sum(0)
    finally:
        for hook in hooks:
            hook.remove()
    return counts


def active_share(counts: torch.Tensor, neurons: int, time_steps: int) -> float:
    """The active share of Sec. 5.3 in percent: the mean count over the :math:`N \\cdot T` possible spikes.

    >>> active_share(torch.tensor([10, 30]), neurons=50, time_steps=4)
    10.0
    """
    return 100.0 * float(counts.double().mean()) / (neurons * time_steps)
