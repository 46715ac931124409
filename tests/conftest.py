import os

import pytest
import torch

# Two torch threads on two cores; never more (oversubscription makes torch 70–100× slower).
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
