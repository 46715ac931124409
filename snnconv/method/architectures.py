"""The networks as values: the architectures' names and layer plans, and the literal choices of a network's bias
and readout, without torch.

A page parameter (``arch``) is checked and a config is written without building a network;
:func:`snnconv.method.models.build` builds the VGGs of :data:`VGG_CONFIGS` and :mod:`snnconv.method.residual` the
:data:`RESIDUAL_ARCHITECTURES` (tests/test_architectures.py checks that their builders are keyed by these names).

Example:
    >>> ARCHITECTURES
    ('vgg_small', 'vgg11', 'vgg11_tin', 'resnet20', 'wrn16_4')
"""

from __future__ import annotations

from typing import Literal

#: Which layers have a bias: none, only the output layer (the paper's converted networks), or all.
BiasMode = Literal["none", "output", "all"]
#: How the output layer's T outputs become logits (:func:`snnconv.method.network.read_out`, Eq. 7).
Readout = Literal["mean", "sum"]

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
