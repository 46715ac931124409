import os

import pytest
import torch

from snnconv.attacks import predict
from snnconv.method.models import Simulation, build

# Torch threads of this test process. `make test` runs pytest on two workers (pytest-xdist: PYTEST_XDIST_WORKER is
# set in each) on two cores, each running one thing at a time: a test, or a notebook in the kernel it starts. So each
# worker uses ONE thread (two one-thread processes beat one two-thread process on these small models, and two
# two-thread processes oversubscribe two cores); the kernels follow OMP_NUM_THREADS=1, which make test sets
# (snnconv.experiment.parameters.default_threads). Run without workers, pytest uses two threads; never more
# (oversubscription makes torch 70–100× slower).
THREADS = 1 if os.environ.get("PYTEST_XDIST_WORKER") else min(2, os.cpu_count() or 1)
torch.set_num_threads(THREADS)


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
