"""Compiled kernels of the hot loops: a spiking layer's time loop and 2×2 average pooling.

An SNN step should cost about T ANN steps (book: Performance). On a CPU two things stand in the way: the neuron's
dozen memory-bound elementwise passes per time step, and ATen's average pooling, which on the time-merged spike
tensors ``[T·B, C, H, W]`` took longer than the convolutions around it. :data:`KERNELS` compiles such functions
with ``torch.compile`` on first use — one fused loop instead of many passes — and falls back to eager maths,
with a warning, if compiling fails. Compiled and eager results are the same, bit for bit (tests/test_neurons.py,
tests/test_tdbn_models.py).

Example::

    >>> import torch
    >>> from snnconv.foundations.kernels import AveragePool2d
    >>> AveragePool2d(2)(torch.ones(1, 1, 4, 4)).shape
    torch.Size([1, 1, 2, 2])
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


class Kernels:
    """Functions compiled with ``torch.compile(dynamic=True)`` on first use, one per set of static arguments."""

    def __init__(self) -> None:
        self._compiled: dict[tuple, Callable] = {}
        self.enabled = True

    def get(self, function: Callable, static: dict) -> Callable:
        """``function`` with the keyword arguments ``static`` bound, compiled (eager once compiling has failed)."""
        key = (function.__module__, function.__qualname__, *sorted(static.items()))
        if key not in self._compiled:
            kernel = functools.partial(function, **static)
            self._compiled[key] = torch.compile(kernel, dynamic=True) if self.enabled else kernel
        return self._compiled[key]

    def run(self, function: Callable, static: dict, *args):
        """``function(*args, **static)``, compiled."""
        try:
            return self.get(function, static)(*args)
        except Exception as error:  # noqa: BLE001 — any compiler failure falls back to eager maths
            if not self.enabled:
                raise
            warnings.warn(f"torch.compile failed ({type(error).__name__}); using eager kernels.", stacklevel=2)
            self.enabled = False
            self._compiled.clear()
            return self.get(function, static)(*args)


KERNELS = Kernels()

# All variants of a function share one code object and thus one dynamo cache: surrogate families, reset modes,
# dtypes, tensor ranks (conv vs dense layers) and simulation lengths (T = 8, 30, calibration's steps) need more
# entries than dynamo's default 8. Past the limit a new variant would silently run uncompiled.
torch._dynamo.config.recompile_limit = 256
torch._dynamo.config.accumulated_recompile_limit = 4096


def _average_pool(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    return F.avg_pool2d(x, kernel_size)


class AveragePool2d(nn.AvgPool2d):
    """:class:`torch.nn.AvgPool2d` (square kernel, stride = kernel) through a compiled kernel: the same numbers,
    forward and backward, in a tenth of the time on the time-merged spike tensors of a CPU run."""

    def __init__(self, kernel_size: int) -> None:
        super().__init__(kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return KERNELS.run(_average_pool, {"kernel_size": self.kernel_size}, x)
