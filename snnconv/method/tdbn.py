"""Threshold-free temporal batch normalization (tdBN), paper Eq. (8).

The weighted spiking inputs of all T steps are normalized together:

.. math::

    \\hat{\\mathbf{S}}^l = \\varphi^l \\cdot
        \\frac{\\bar{\\mathbf{S}}^l - \\mathbb{E}[\\bar{\\mathbf{S}}^l]}
             {\\sqrt{\\mathrm{Var}[\\bar{\\mathbf{S}}^l] + \\vartheta}}
        + \\omega^l, \\qquad \\bar{\\mathbf{S}}^l = [\\bar{s}^l(1), \\dots, \\bar{s}^l(T)],

with :math:`\\mathbb{E}` and :math:`\\mathrm{Var}` taken per channel over time × batch × space. Unlike the
original tdBN there is no :math:`\\alpha V_{th}` scaling: :math:`\\varphi, \\omega` start from the ANN's
batch-norm affine parameters and are finetuned together with the thresholds.

Because the network runs on the time-merged tensor ``[T·B, C, H, W]``, this is a
:class:`torch.nn.BatchNorm2d` over that tensor — the ANN's batch norm, with identical state-dict keys.
What it adds is a *batch-statistics-only* switch used during threshold calibration (Algorithm 1): the
statistics of the current calibration batch are used even in eval mode, and nothing is tracked.

Example::

    >>> import torch
    >>> bn = TemporalBatchNorm2d(3)
    >>> merged = torch.randn(8 * 4, 3, 5, 5)          # T=8 steps of a batch of 4
    >>> bn(merged).mean(dim=(0, 2, 3)).abs().max() < 1e-5
    tensor(True)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn


class TemporalBatchNorm2d(nn.BatchNorm2d):
    """Batch norm over time × batch × space (Eq. 8), with a batch-statistics-only mode."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.batch_statistics_only = False

    def forward(self, merged: torch.Tensor) -> torch.Tensor:
        """Eq. (8) on the time-merged ``[T·B, C, H, W]``; batch statistics only inside :func:`batch_statistics`."""
        if self.batch_statistics_only:
            return F.batch_norm(merged, None, None, self.weight, self.bias, True, 0.0, self.eps)
        return super().forward(merged)


def temporal_batch_norms(module: nn.Module) -> list[TemporalBatchNorm2d]:
    """All tdBN layers (Eq. 8) of ``module``, in registration order."""
    return [m for m in module.modules() if isinstance(m, TemporalBatchNorm2d)]


@contextmanager
def batch_statistics(module: nn.Module) -> Iterator[None]:
    """Within the block, every tdBN layer normalizes with the current batch's statistics only (Sec. 3.1).

    Threshold calibration (Algorithm 1, l. 4–13) normalizes with "inference-time statistics estimated
    spatio-temporally on the current batch"; nothing is tracked meanwhile.
    """
    layers = temporal_batch_norms(module)
    for layer in layers:
        layer.batch_statistics_only = True
    try:
        yield
    finally:
        for layer in layers:
            layer.batch_statistics_only = False


def reset_running_statistics(module: nn.Module) -> None:
    """Forget the tracked mean/variance (to 0/1) so they are re-estimated on spikes during finetuning.

    Sec. 3.1: the ANN's moving averages are not re-used; they are estimated during robust finetuning
    and used at inference (Suppl. A.2, B.3).
    """
    for layer in temporal_batch_norms(module):
        layer.reset_running_stats()
