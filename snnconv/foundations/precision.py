"""The arithmetic a run uses on a GPU: strict float32, TF32 tensor cores, or bfloat16 autocast.

The book's verdicts are computed in float32. On a GPU, tensor cores make convolutions much faster at a lower
precision, and a spiking layer's threshold test :math:`H(v - V_{th})` can flip where :math:`v` lies within
rounding error of :math:`V_{th}`; so a lower precision is used for a verdict only where it has been checked to give
the same verdicts (``tools/gpu_check.py`` does that on a fixed batch), while training may use it freely — a
finetuning run is stochastic anyway. On a CPU every precision but ``"float32"`` is refused.

Example::

    >>> import torch
    >>> from snnconv.foundations.precision import arithmetic
    >>> with arithmetic("float32", torch.device("cpu")):
    ...     (torch.ones(2) * 3).dtype
    torch.float32
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import torch

Precision = Literal["float32", "tf32", "bfloat16"]

#: Each precision, from the exact to the fastest.
PRECISIONS: tuple[Precision, ...] = ("float32", "tf32", "bfloat16")


@contextmanager
def arithmetic(precision: Precision, device: torch.device) -> Iterator[None]:
    """Run the block in ``precision`` on ``device``; torch's settings are restored afterwards.

    ``"float32"``: no TF32 anywhere (torch's default lets cuDNN convolutions use TF32). ``"tf32"``: convolutions
    and matrix products on TF32 tensor cores, float32 storage. ``"bfloat16"``: autocast to bfloat16 where torch
    deems it safe (convolutions, linear layers), TF32 for the rest. Wrap a whole training step (forward, backward
    and optimizer step, e.g. a call of :func:`snnconv.training.train.fit`) so that the backward pass runs in the same
    arithmetic as the forward.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}.")
    if device.type != "cuda" and precision != "float32":
        raise ValueError(f"precision {precision!r} needs a CUDA device; on {device.type} use 'float32'.")
    saved = torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision()
    fast = precision != "float32"
    torch.backends.cudnn.allow_tf32 = fast
    torch.set_float32_matmul_precision("high" if fast else "highest")
    try:
        if precision == "bfloat16":
            with torch.autocast(device.type, dtype=torch.bfloat16):
                yield
        else:
            yield
    finally:
        torch.backends.cudnn.allow_tf32, matmul = saved
        torch.set_float32_matmul_precision(matmul)

