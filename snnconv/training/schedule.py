"""The optimizer and its schedule (Suppl. A.2) as a value, without torch.

A config names its schedule (:class:`~snnconv.experiment.config.ANNConfig` and the others), and a profile is
written and checked, without importing torch; :func:`snnconv.training.train.fit` runs the schedule it describes.

Example:
    >>> Schedule(epochs=5, learning_rate=0.05, weight_decay=5e-4).momentum
    0.9
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """Optimizer and schedule (Suppl. A.2: momentum SGD, cosine annealing, batch 64).

    The momentum, 0.9, is the authors' code's value; the paper does not state it.
    """

    epochs: int
    learning_rate: float
    weight_decay: float
    batch_size: int = 64
    momentum: float = 0.9
    # The authors decay every parameter (thresholds and BN too); by default we decay weights only.
    decay_all_parameters: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1.")
        if self.learning_rate <= 0 or self.weight_decay < 0:
            raise ValueError("learning_rate must be > 0 and weight_decay >= 0.")
