"""Datasets, their normalization constants and augmentation (paper Suppl. A.1).

Images are held in memory as float tensors in [0, 1]; normalization happens inside the model. Nothing
but Fashion-MNIST is ever downloaded: a missing data set raises :class:`DatasetMissingError` with one
sentence saying which files to copy where, before any long work. :func:`load` reads, under ``root``:

* Fashion-MNIST (the default profile): ``FashionMNIST/raw/`` (unpacked from Debian's
  ``dataset-fashion-mnist`` package or torchvision's download by ``make setup``);
* CIFAR-10 (the paper profile): ``cifar-10-batches-py/`` (torchvision's python format);
* CIFAR-100: ``cifar-100-python/{train,test,meta}`` (torchvision's python format, fine labels);
* SVHN: ``train_32x32.mat`` and ``test_32x32.mat`` (torchvision's format; digit 0, stored as 10, is 0);
* TinyImageNet: ``tiny-imagenet-200/train/<wnid>/images/*.JPEG`` and either ``tiny-imagenet-200/val/<wnid>/``
  (sorted into class folders, as the authors' ``ImageFolder`` needs) or the official
  ``tiny-imagenet-200/val/images/`` with ``val_annotations.txt``.

:func:`load_corrupted` reads the corruption benchmarks of Tables B6/B7 (Hendrycks & Dietterich 2019) from
``CIFAR-10-C/<corruption>.npy`` and ``CIFAR-100-C/<corruption>.npy`` with their ``labels.npy``.

The training augmentation is :mod:`snnconv.datasets.augment`.

Command line (used by ``make setup``)::

    python -m snnconv.datasets.data --root data     # unpack/download Fashion-MNIST into data/FashionMNIST/raw
"""

from __future__ import annotations

import argparse
import gzip
import shutil
from pathlib import Path

import numpy as np
import torch

from snnconv.datasets.specs import DATASETS

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
_FASHION_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

#: The 15 corruptions of CIFAR-10-C / CIFAR-100-C in the benchmark's order (Hendrycks & Dietterich 2019):
#: noise, blur, weather, digital. Tables B6/B7 report their mean with and without the noise ones.
CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)
#: The noise corruptions, left out of the tables' "without noise" mean.
NOISE_CORRUPTIONS: tuple[str, ...] = CORRUPTIONS[:3]
SEVERITIES = (1, 2, 3, 4, 5)

_CORRUPTED = {
    "cifar10": ("CIFAR-10-C", "https://zenodo.org/record/2535967"),
    "cifar100": ("CIFAR-100-C", "https://zenodo.org/record/3555552"),
}
#: The data sets whose corrupted test sets are published (and read from disk by :func:`load_corrupted`).
CORRUPTED_SETS: tuple[str, ...] = tuple(_CORRUPTED)
_TINY = "tiny-imagenet-200"
# ImageFolder's extensions (lower-cased); TinyImageNet itself only has .JPEG.
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


class DatasetMissingError(FileNotFoundError):
    """A dataset's files are not where the loader looks; the message says how to get them.

    Raised by :func:`load` and :func:`load_corrupted` for the data sets of Suppl. A.1 and Tables B6/B7
    (never downloaded at run time) and for the default profile's Fashion-MNIST before
    :func:`prepare_fashion_mnist` has run.
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


def _hwc_uint8_to_float(data: np.ndarray) -> torch.Tensor:
    """``[N, H, W, C]`` uint8 to ``[N, C, H, W]`` float in [0, 1], as torchvision's ToTensor divides."""
    return torch.from_numpy(np.ascontiguousarray(data)).permute(0, 3, 1, 2).float().div(255).contiguous()


def _missing(paths: list[Path]) -> str:
    """The missing ones of ``paths``, for an error message ('' if all exist)."""
    return ", ".join(str(p) for p in paths if not p.exists())


def _load_cifar100(root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import CIFAR100

    folder = root / "cifar-100-python"
    # torchvision checks the md5 of train, test and meta whichever split is asked for, so all three must be there.
    missing = _missing([folder / name for name in ("train", "test", "meta")])
    if missing:
        raise DatasetMissingError(
            f"CIFAR-100 is not complete in {folder} (missing {missing}): copy the python version of CIFAR-100 "
            f"(cifar-100-python.tar.gz, unpacked) to {root}; it is never downloaded at run time."
        )
    try:
        ds = CIFAR100(str(root), train=train, download=False)
    except RuntimeError as error:  # the only RuntimeErrors torchvision raises here are its md5 checks
        raise DatasetMissingError(
            f"CIFAR-100 in {folder} fails torchvision's md5 check ({error}): copy an intact python version of "
            f"CIFAR-100 (cifar-100-python.tar.gz, unpacked) to {root}; it is never downloaded at run time."
        ) from error
    return _hwc_uint8_to_float(ds.data), torch.tensor(ds.targets, dtype=torch.long)


def _load_svhn(root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import SVHN

    path = root / f"{split}_32x32.mat"
    if not path.exists():
        raise DatasetMissingError(
            f"SVHN's {split} split is not at {path}: copy {path.name} (from ufldl.stanford.edu/housenumbers, "
            f"format 2) to {root}; it is never downloaded at run time."
        )
    try:
        ds = SVHN(str(root), split=split, download=False)
    except RuntimeError as error:  # torchvision's md5 check
        raise DatasetMissingError(
            f"SVHN's {path} fails torchvision's md5 check ({error}): copy an intact {path.name} (from "
            f"ufldl.stanford.edu/housenumbers, format 2) to {root}; it is never downloaded at run time."
        ) from error
    # torchvision already holds [N, C, H, W] uint8 and has mapped the label 10 (digit 0) to 0.
    return torch.from_numpy(ds.data).float().div(255).contiguous(), torch.from_numpy(ds.labels).long()


def _images_in(folder: Path) -> list[Path]:
    """Image files anywhere below ``folder``, sorted, as ImageFolder finds them."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file())


def _tiny_fix(root: Path) -> str:
    return (
        f"copy TinyImageNet (tiny-imagenet-200.zip from cs231n.stanford.edu, unpacked) to {root}; "
        f"it is never downloaded at run time"
    )


def _tiny_files(root: Path, train: bool) -> tuple[list[Path], list[int]]:
    """TinyImageNet's image files and class indices; every file's existence is checked before any is read."""
    base = root / _TINY
    train_dir = base / "train"
    wnids = sorted(d.name for d in train_dir.iterdir() if d.is_dir()) if train_dir.is_dir() else []
    if not wnids:
        # The class index is the wnid's position among the train folders (ImageFolder's), so even the test
        # split needs them.
        raise DatasetMissingError(
            f"TinyImageNet's class folders are not in {train_dir} (train/<wnid>/images/*.JPEG): {_tiny_fix(root)}."
        )
    index = {wnid: i for i, wnid in enumerate(wnids)}
    if train:
        files, labels = [], []
        for wnid in wnids:
            found = _images_in(train_dir / wnid)
            if not found:
                raise DatasetMissingError(
                    f"TinyImageNet's class folder {train_dir / wnid} holds no images: {_tiny_fix(root)}."
                )
            files += found
            labels += [index[wnid]] * len(found)
        return files, labels
    val = base / "val"
    sorted_dirs = sorted(d.name for d in val.iterdir() if d.is_dir() and d.name != "images") if val.is_dir() else []
    if sorted_dirs:  # val sorted into class folders, as the authors' ImageFolder reads it
        unknown = [name for name in sorted_dirs if name not in index]
        if unknown:
            raise ValueError(
                f"TinyImageNet's {val} has class folders that are not in {train_dir}: {', '.join(unknown[:5])}."
            )
        pairs = [(path, index[wnid]) for wnid in sorted_dirs for path in _images_in(val / wnid)]
    else:  # the official layout: val/images/*.JPEG listed with their wnid in val_annotations.txt
        annotations = val / "val_annotations.txt"
        if not annotations.exists() or not (val / "images").is_dir():
            raise DatasetMissingError(
                f"TinyImageNet's validation set is neither sorted into {val}/<wnid>/ nor in the official layout "
                f"({annotations} with {val / 'images'}): {_tiny_fix(root)}."
            )
        pairs = []
        for line in annotations.read_text().splitlines():
            if not line.strip():
                continue
            name, wnid = line.split("\t")[:2]
            if wnid not in index:
                raise ValueError(f"TinyImageNet's {annotations} names the class {wnid!r}, not in {train_dir}.")
            pairs.append((val / "images" / name, index[wnid]))
        # Ordered by class, then file, so that both layouts give the same tensors (ImageFolder's order).
        pairs.sort(key=lambda pair: (pair[1], pair[0].name))
        absent = [path for path, _ in pairs if not path.exists()]
        if absent:
            raise DatasetMissingError(
                f"{len(absent)} of TinyImageNet's validation images listed in {annotations} are missing, e.g. "
                f"{absent[0]}: {_tiny_fix(root)}."
            )
    if not pairs:
        raise DatasetMissingError(f"TinyImageNet's validation set in {val} holds no images: {_tiny_fix(root)}.")
    return [path for path, _ in pairs], [label for _, label in pairs]


def _load_tinyimagenet(root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from PIL import Image

    files, labels = _tiny_files(root, train)
    _, h, w = DATASETS["tinyimagenet"].shape
    # uint8 first: the float tensor of the 100,000 training images alone takes 4.9 GB.
    data = np.empty((len(files), h, w, 3), dtype=np.uint8)
    for i, path in enumerate(files):
        with Image.open(path) as image:
            # Some TinyImageNet JPEGs are greyscale; ImageFolder's loader converts every image to RGB too.
            rgb = image.convert("RGB")
        if rgb.size != (w, h):
            raise ValueError(f"TinyImageNet's {path} is {rgb.size[0]}x{rgb.size[1]} pixels, not {w}x{h}.")
        data[i] = np.asarray(rgb)
    return _hwc_uint8_to_float(data), torch.tensor(labels, dtype=torch.long)


def load(dataset: str, split: str, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``[N, C, H, W]`` as float in [0, 1] and labels ``[N]`` for ``split`` in {'train', 'test'}.

    The data sets of Suppl. A.1, read from disk under ``root`` (never downloaded), and the default
    profile's Fashion-MNIST:

    * ``fashion_mnist``: ``root/FashionMNIST/raw/`` (prepared by ``make setup``);
    * ``cifar10``: ``root/cifar-10-batches-py/`` (torchvision's python format);
    * ``cifar100``: ``root/cifar-100-python/{train,test,meta}`` (torchvision's, md5-checked), fine labels;
    * ``svhn``: ``root/{train,test}_32x32.mat`` (torchvision's, md5-checked), digit 0 labelled 0 (not 10);
    * ``tinyimagenet``: ``root/tiny-imagenet-200/train/<wnid>/images/*.JPEG`` (or ``train/<wnid>/*.JPEG``)
      for 'train'; for 'test' the validation set, either sorted into ``val/<wnid>/`` as the authors'
      ``ImageFolder`` reads it or in the official ``val/images/`` with ``val/val_annotations.txt``. The class
      index is the wnid's position among the sorted train folders (ImageFolder's); images are 64x64 RGB.

    Raises:
        DatasetMissingError: if the files are not under ``root`` (one sentence naming what to copy where),
            before any image is read.
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
                f"`python -m snnconv.datasets.data --root {root}` to unpack or download it."
            )
        ds = FashionMNIST(str(root), train=train, download=False)
        return ds.data.unsqueeze(1).float().div(255), ds.targets.long()
    if dataset == "cifar100":
        return _load_cifar100(root, train)
    if dataset == "svhn":
        return _load_svhn(root, split)
    if dataset == "tinyimagenet":
        return _load_tinyimagenet(root, train)
    from torchvision.datasets import CIFAR10

    if not (root / "cifar-10-batches-py").is_dir():
        raise DatasetMissingError(
            f"CIFAR-10 is not in {root / 'cifar-10-batches-py'}: copy the python version of CIFAR-10 "
            f"(cifar-10-python.tar.gz, unpacked) there; it is never downloaded at run time."
        )
    ds = CIFAR10(str(root), train=train, download=False)
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).float().div(255)
    return images.contiguous(), torch.tensor(ds.targets, dtype=torch.long)


def load_corrupted(dataset: str, corruption: str, severity: int, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """One corruption at one severity of CIFAR-10-C / CIFAR-100-C (Hendrycks & Dietterich 2019), Tables B6/B7.

    Reads ``root/CIFAR-10-C/<corruption>.npy`` (or ``CIFAR-100-C``), ``[5 * M, 32, 32, 3]`` uint8 holding the
    severities 1..5 one after the other (M = 10,000 test images), and ``labels.npy`` beside it; returns
    the rows ``(severity - 1) * M : severity * M`` as float ``[M, 3, 32, 32]`` in [0, 1] and long labels.
    ``dataset`` is 'cifar10' or 'cifar100', ``corruption`` one of :data:`CORRUPTIONS`, ``severity`` in 1..5.

    Raises:
        DatasetMissingError: if the files are not under ``root`` (one sentence naming what to copy where).
        ValueError: for an unknown ``dataset``, ``corruption`` or ``severity``, or files of another shape.
    """
    if dataset not in _CORRUPTED:
        raise ValueError(f"dataset must be one of {tuple(_CORRUPTED)} for the corruption benchmark, got {dataset!r}.")
    if corruption not in CORRUPTIONS:
        raise ValueError(f"corruption must be one of {CORRUPTIONS}, got {corruption!r}.")
    if isinstance(severity, bool) or not isinstance(severity, int | np.integer) or severity not in SEVERITIES:
        raise ValueError(f"severity must be an integer from 1 to 5, got {severity!r}.")
    folder_name, source = _CORRUPTED[dataset]
    folder = root / folder_name
    paths = [folder / f"{corruption}.npy", folder / "labels.npy"]
    missing = _missing(paths)
    if missing:
        raise DatasetMissingError(
            f"{folder_name} is not complete in {folder} (missing {missing}): copy {folder_name} "
            f"({folder_name}.tar from {source}, unpacked) to {root}; it is never downloaded at run time."
        )
    # Memory-mapped: only the asked severity's rows are read.
    data, labels = (np.load(path, mmap_mode="r") for path in paths)
    if data.ndim != 4 or data.shape[1:] != (32, 32, 3) or len(data) % 5 or labels.shape != (len(data),):
        raise ValueError(
            f"{paths[0]} and {paths[1]} are not in {folder_name}'s layout ([5 * M, 32, 32, 3] images, [5 * M] "
            f"labels): got {data.shape} and {labels.shape}."
        )
    rows = slice((severity - 1) * (len(data) // 5), severity * (len(data) // 5))
    return _hwc_uint8_to_float(np.array(data[rows])), torch.from_numpy(np.array(labels[rows])).long()


def main() -> None:
    """Command line ``python -m snnconv.datasets.data --root DIR``, used by ``make setup``: prepares Fashion-MNIST.

    Infrastructure for the data sets of Suppl. A.1 (the default profile's stand-in); no paper equation.
    """
    parser = argparse.ArgumentParser(description="Unpack or download Fashion-MNIST for snnconv.")
    parser.add_argument("--root", type=Path, default=Path("data"))
    print(f"Fashion-MNIST ready in {prepare_fashion_mnist(parser.parse_args().root)}")


if __name__ == "__main__":
    main()
