"""What one stored verdict runs, as a typed value: the evaluations of Sec. 4.3 and Suppl. B behind one door.

A verdict of the store (``pipeline.ensure_evaluation``) is one of five evaluations, each a frozen value whose
``run(model, images, labels, batch_size, progress, source)`` returns the per-image :class:`EnsembleResult`:

* :class:`CleanEvaluation`: the clean prediction (the tables' clean accuracy);
* :class:`CorruptionEvaluation`: the clean prediction on corrupted test images (Tables B6/B7);
* :class:`AutoAttackEvaluation`: standard AutoAttack on an ANN (Tables 1, A1);
* :class:`TransferEvaluation`: an attack crafted on a source model, replayed on the model (Table B1);
* :class:`EnsembleEvaluation`: an attack of :data:`~snnconv.attacks.ensemble.ATTACKS` through the members (Sec. 4.3).

``pipeline.evaluation_of`` is the one place that turns an ``EvaluationConfig`` into one of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from snnconv.attacks.autoattack import autoattack_robustness
from snnconv.attacks.ensemble import AttackSpec, EnsembleResult, ensemble_robustness, predict
from snnconv.attacks.transfer import ResistedImage, transfer_images
from snnconv.datasets.corruptions import corrupt
from snnconv.datasets.data import CORRUPTED_SETS, load_corrupted
from snnconv.foundations import paths
from snnconv.method.models import Readout, Simulation
from snnconv.method.surrogates import GradientMode


def _predicted(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, time_steps: int, readout: Readout,
               batch_size: int, failure: str) -> EnsembleResult:
    """The true network's verdict on ``images`` without attack; a misclassified image is failed by ``failure``."""
    correct = predict(model, images, Simulation(time_steps, readout=readout), batch_size) == labels
    return EnsembleResult(correct, correct, tuple("" if c else failure for c in correct.tolist()))


@dataclass(frozen=True)
class CleanEvaluation:
    """Clean accuracy: the prediction of the model as it runs (T = ``time_steps``, 0 for the ANN), per test image
    (the clean columns of Tables 1–2, Sec. 4.3)."""

    time_steps: int
    readout: Readout = "mean"

    def run(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
            progress: bool = True, source: nn.Module | None = None) -> EnsembleResult:
        """Per-image verdicts on the clean ``images`` (Sec. 4.3); a misclassified image is failed by ``"clean"``."""
        return _predicted(model, images, labels, self.time_steps, self.readout, batch_size, "clean")


@dataclass(frozen=True)
class CorruptionEvaluation:
    """The clean prediction on the test images under ``corruption`` at ``severity`` (Suppl. B.4, Tables B6/B7).

    CIFAR-10/100 read the published CIFAR-10-C / CIFAR-100-C files (Hendrycks & Dietterich 2019); any other data set
    is corrupted by :func:`snnconv.datasets.corruptions.corrupt`, seeded by ``seed``.
    """

    dataset: str
    corruption: str
    severity: int
    seed: int
    time_steps: int
    readout: Readout = "mean"

    def corrupted(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``len(images)`` test images and labels under the corruption (Suppl. B.4), on ``images``'s
        device; ``images`` are the data set's first test images."""
        if self.dataset in CORRUPTED_SETS:
            stored, stored_labels = load_corrupted(self.dataset, self.corruption, self.severity, paths.data_root())
            return stored[: len(images)].to(images.device), stored_labels[: len(images)].to(images.device)
        # corrupt() works on a float64 copy on the CPU and returns on the images' device: the device changes nothing.
        return corrupt(images, self.corruption, self.severity, self.seed), labels

    def run(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
            progress: bool = True, source: nn.Module | None = None) -> EnsembleResult:
        """Per-image verdicts on the corrupted ``images`` (Tables B6/B7); a misclassified image is failed by
        ``"corruption"``."""
        images, labels = self.corrupted(images, labels)
        return _predicted(model, images, labels, self.time_steps, self.readout, batch_size, "corruption")


@dataclass(frozen=True)
class AutoAttackEvaluation:
    """Standard AutoAttack at ``epsilon`` on an ANN (Croce & Hein 2020; Tables 1 and A1)."""

    epsilon: float
    seed: int

    def run(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
            progress: bool = True, source: nn.Module | None = None) -> EnsembleResult:
        """Per-image verdicts of :func:`~snnconv.attacks.autoattack.autoattack_robustness` (Croce & Hein 2020)."""
        return autoattack_robustness(model, images, labels, self.epsilon, self.seed, batch_size, progress)


@dataclass(frozen=True)
class TransferEvaluation:
    """A transfer attack (Table B1, Suppl. B.1): ``attack`` crafted on a source model (T = ``source_time_steps``)
    through ``members``, its images replayed on the model (T = ``time_steps``)."""

    attack: AttackSpec
    source_time_steps: int
    time_steps: int
    members: tuple[GradientMode, ...]
    seed: int
    readout: Readout = "mean"
    resisted: ResistedImage = "highest_loss"

    def run(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
            progress: bool = True, source: nn.Module | None = None) -> EnsembleResult:
        """Per-image verdicts of the model on the images crafted on ``source`` (Table B1): robust when it classifies
        both the clean and the crafted image correctly; a clean error is failed by ``"clean"``, a fooled image by
        ``"transfer"``."""
        if source is None:
            raise ValueError("a transfer evaluation needs the source model it was configured with.")
        crafted = transfer_images(source, images, labels, self.attack, self.source_time_steps, members=self.members,
                                  readout=self.readout, seed=self.seed, batch_size=batch_size, progress=progress,
                                  resisted=self.resisted)
        simulation = Simulation(self.time_steps, readout=self.readout)
        clean = predict(model, images, simulation, batch_size) == labels
        robust = clean & (predict(model, crafted, simulation, batch_size) == labels)
        fooled = tuple("" if r else ("clean" if not c else "transfer")
                       for r, c in zip(robust.tolist(), clean.tolist(), strict=True))
        return EnsembleResult(clean, robust, fooled, ("transfer",))


@dataclass(frozen=True)
class EnsembleEvaluation:
    """``attack`` run once per member of ``members``, the per-image worst case (Sec. 4.3, Suppl. A.4): see
    :func:`~snnconv.attacks.ensemble.ensemble_robustness` for ``per_member`` (Table B2) and ``eot``."""

    attack: AttackSpec
    time_steps: int
    members: tuple[GradientMode, ...]
    seed: int
    readout: Readout = "mean"
    per_member: bool = False
    eot: int = 1

    def run(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
            progress: bool = True, source: nn.Module | None = None) -> EnsembleResult:
        """Per-image verdicts of :func:`~snnconv.attacks.ensemble.ensemble_robustness` (Sec. 4.3)."""
        return ensemble_robustness(model, images, labels, self.attack, self.time_steps, members=self.members,
                                   readout=self.readout, seed=self.seed, batch_size=batch_size, progress=progress,
                                   per_member=self.per_member, eot=self.eot)


#: Any of the five: what ``pipeline.evaluation_of`` returns.
Evaluation = CleanEvaluation | CorruptionEvaluation | AutoAttackEvaluation | TransferEvaluation | EnsembleEvaluation
