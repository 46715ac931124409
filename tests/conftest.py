import os

import pytest
import torch

from snnconv.attacks import predict
from snnconv.models import Simulation, build

# Two torch threads on two cores; never more (oversubscription makes torch 70–100× slower).
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def snn_and_data():
    """A small SNN with low thresholds, 24 random images and labels it mostly gets right (4 clean errors)."""
    torch.manual_seed(0)
    net = build("vgg_small", "fashion_mnist").eval()
    for neuron in net.neurons:
        with torch.no_grad():
            neuron.threshold.fill_(0.2)
    x = torch.rand(24, 1, 28, 28)
    # Labels the network gets right on clean inputs for most samples, so attacks have work to do.
    y = predict(net, x, Simulation(4))
    y[:4] = (y[:4] + 1) % 10  # a few clean errors
    return net, x, y
