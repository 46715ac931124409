"""The threshold-calibration settings of Algorithm 1 (lines 3–16) as a value, without torch.

A config names its calibration (:class:`~snnconv.experiment.config.SNNConfig`), and a page parameter is checked
against it, without building a network; :mod:`snnconv.method.convert` runs the calibration it describes.

Example:
    >>> Calibration().time_steps, Calibration(scale=0.1).scale
    (100, 0.1)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Calibration:
    """Threshold-calibration settings of Algorithm 1 (defaults: Suppl. A.2)."""

    time_steps: int = 100  # T_c
    percentile: float = 99.7  # ρ
    batches: int = 10
    batch_size: int = 64
    scale: float = 0.3  # κ

    def __post_init__(self) -> None:
        if self.time_steps < 1:
            raise ValueError(f"calibration time_steps must be >= 1, got {self.time_steps}.")
        if not 0 < self.percentile <= 100:
            raise ValueError(f"calibration percentile must be in (0, 100], got {self.percentile}.")
        if self.batches < 1 or self.batch_size < 1:
            raise ValueError("calibration needs at least one batch of at least one image.")
        if not 0 < self.scale:
            raise ValueError(f"calibration scale κ must be > 0, got {self.scale}.")
