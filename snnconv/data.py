"""Datasets, their normalization constants and augmentation (paper Suppl. A.1).

Images are held in memory as float tensors in [0, 1]; normalization happens inside the model.
Fashion-MNIST (the default profile) comes from Debian's ``dataset-fashion-mnist`` package or from
torchvision's download; CIFAR-10 (the paper profile) is read from torchvision's on-disk format and is
never downloaded here.

Command line (used by ``make setup``)::

    python -m snnconv.data --root data     # unpack/download Fashion-MNIST into data/FashionMNIST/raw
"""

from __future__ import annotations

import argparse
import gzip
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
_FASHION_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@dataclass(frozen=True)
class DatasetSpec:
    """Shape, classes and the normalization constants the authors use (applied inside the model).

    Suppl. A.1: per-channel normalization with each training set's constants, and the finetuning
    augmentation (random crop with zero padding, horizontal flip).
    """

    name: str
    shape: tuple[int, int, int]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    padding: int  # random-crop padding of the training augmentation
    flip: bool


DATASETS: dict[str, DatasetSpec] = {
    "fashion_mnist": DatasetSpec("Fashion-MNIST", (1, 28, 28), 10, (0.2860,), (0.3530,), 2, True),
    # The authors' CIFAR-10 std is the widespread (0.2023, 0.1994, 0.2010), kept for fidelity.
    "cifar10": DatasetSpec(
        "CIFAR-10", (3, 32, 32), 10, (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010), 4, True
    ),
}


class DatasetMissingError(FileNotFoundError):
    """A dataset's files are not where the loader looks; the message says how to get them.

    Raised by :func:`load` for the data sets of Suppl. A.1 (never downloaded at run time) and for the
    default profile's Fashion-MNIST before :func:`prepare_fashion_mnist` has run.
    """


def _fashion_raw(root: Path) -> Path:
    return root / "FashionMNIST" / "raw"


def prepare_fashion_mnist(root: Path) -> Path:
    """Unpack Debian's Fashion-MNIST into ``root/FashionMNIST/raw`` (or download it); idempotent.

    Fashion-MNIST (Xiao et al. 2017) is the default profile's stand-in for the data sets of Suppl. A.1.
    Returns the ``raw`` directory.
    """
    raw = _fashion_raw(root)
    if all((raw / name).exists() for name in _FASHION_FILES):
        return raw
    if all((DEBIAN_FASHION_MNIST / f"{name}.gz").exists() for name in _FASHION_FILES):
        raw.mkdir(parents=True, exist_ok=True)
        for name in _FASHION_FILES:
            # torchvision needs the unpacked files; a symlink to the .gz is not enough.
            partial = raw / f"{name}.partial"
            with gzip.open(DEBIAN_FASHION_MNIST / f"{name}.gz", "rb") as src, open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst)
            partial.replace(raw / name)
        return raw
    from torchvision.datasets import FashionMNIST

    FashionMNIST(str(root), download=True)
    return raw


def load(dataset: str, split: str, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``[N, C, H, W]`` as float in [0, 1] and labels ``[N]`` for ``split`` in {'train', 'test'}.

    The data sets of Suppl. A.1 that this project can run: CIFAR-10 (torchvision's on-disk format) and
    the default profile's Fashion-MNIST.

    Raises:
        DatasetMissingError: if the files are not under ``root``.
        ValueError: for an unknown ``dataset`` or ``split``.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {tuple(DATASETS)}, got {dataset!r}.")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    train = split == "train"
    if dataset == "fashion_mnist":
        from torchvision.datasets import FashionMNIST

        if not all((_fashion_raw(root) / name).exists() for name in _FASHION_FILES):
            raise DatasetMissingError(
                f"Fashion-MNIST is not in {_fashion_raw(root)}: run `make setup` or "
                f"`python -m snnconv.data --root {root}` to unpack or download it."
            )
        ds = FashionMNIST(str(root), train=train, download=False)
        return ds.data.unsqueeze(1).float().div(255), ds.targets.long()
    from torchvision.datasets import CIFAR10

    if not (root / "cifar-10-batches-py").is_dir():
        raise DatasetMissingError(
            f"CIFAR-10 is not in {root / 'cifar-10-batches-py'}: copy the python version of CIFAR-10 "
            f"(cifar-10-python.tar.gz, unpacked) there; it is never downloaded at run time."
        )
    ds = CIFAR10(str(root), train=train, download=False)
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).float().div(255)
    return images.contiguous(), torch.tensor(ds.targets, dtype=torch.long)


def augment(images: torch.Tensor, spec: DatasetSpec, generator: torch.Generator) -> torch.Tensor:
    """Random crop with zero padding and (optionally) a horizontal flip, per image (Suppl. A.1)."""
    n, _, h, w = images.shape
    p = spec.padding
    padded = torch.nn.functional.pad(images, (p, p, p, p))
    dy = torch.randint(0, 2 * p + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * p + 1, (n,), generator=generator)
    cropped = torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
    if spec.flip:
        flip = torch.rand(n, generator=generator) < 0.5
        cropped[flip] = cropped[flip].flip(-1)
    return cropped


def main() -> None:
    """Command line ``python -m snnconv.data --root DIR``, used by ``make setup``: prepares Fashion-MNIST.

    Infrastructure for the data sets of Suppl. A.1 (the default profile's stand-in); no paper equation.
    """
    parser = argparse.ArgumentParser(description="Unpack or download Fashion-MNIST for snnconv.")
    parser.add_argument("--root", type=Path, default=Path("data"))
    print(f"Fashion-MNIST ready in {prepare_fashion_mnist(parser.parse_args().root)}")


if __name__ == "__main__":
    main()
