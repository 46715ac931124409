"""The data sets as values: shape, classes, normalization constants and augmentation settings (Suppl. A.1).

Without torch, so that a page parameter (``dataset``) is checked and a config is written without loading anything;
:mod:`snnconv.datasets.data` loads the images, :mod:`snnconv.datasets.augment` augments them as a spec says, and the
models normalize their input with a spec's ``mean`` and ``std``.

Example:
    >>> DATASETS["cifar10"].shape, DATASETS["fashion_mnist"].num_classes
    ((3, 32, 32), 10)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetSpec:
    """Shape, classes and the normalization constants the authors use (applied inside the model).

    Suppl. A.1: per-channel normalization with each training set's constants, and the finetuning
    augmentation (random crop with zero padding, horizontal flip). Authors' notes: the ANN's adversarial
    training adds cutout, one ``cutout``-pixel square hole filled with ``mean``, and TinyImageNet is
    cropped by a random resized crop (``crop="resized"``) instead of padding (``crop="pad"``).
    """

    name: str
    shape: tuple[int, int, int]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    padding: int  # random-crop padding of the training augmentation
    flip: bool
    cutout: int = 0  # side of the cutout hole in pixels (0: none); applied only on request, see augment
    crop: str = "pad"  # "pad": random crop of the zero-padded image; "resized": random resized crop


DATASETS: dict[str, DatasetSpec] = {
    "fashion_mnist": DatasetSpec("Fashion-MNIST", (1, 28, 28), 10, (0.2860,), (0.3530,), 2, True),
    # The authors' CIFAR-10 std is the widespread (0.2023, 0.1994, 0.2010), kept for fidelity.
    "cifar10": DatasetSpec(
        "CIFAR-10", (3, 32, 32), 10, (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010), 4, True, cutout=8
    ),
    "cifar100": DatasetSpec(
        "CIFAR-100", (3, 32, 32), 100, (0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761), 4, True, cutout=8
    ),
    # The authors flip SVHN's digits too (authors' notes §7); kept for fidelity, listed as a deviation.
    "svhn": DatasetSpec("SVHN", (3, 32, 32), 10, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 4, True, cutout=8),
    # ImageNet's constants; the authors augment TinyImageNet by a random resized crop instead of padding.
    "tinyimagenet": DatasetSpec(
        "TinyImageNet", (3, 64, 64), 200, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 0, True,
        cutout=16, crop="resized",
    ),
}
