"""The data sets of Suppl. A.1 and Tables B6/B7 read from disk, and the authors' cutout and resized crop.

Every test writes its own tiny files in ``tmp_path`` in the on-disk format the loader reads (a few images
per class); nothing is downloaded.
"""

from __future__ import annotations

import csv
import dataclasses
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
import torchvision.datasets.cifar
import torchvision.datasets.svhn
from PIL import Image

from snnconv.datasets.augment import augment, cut_out, random_resized_crop
from snnconv.datasets.data import CORRUPTIONS, DATASETS, NOISE_CORRUPTIONS, DatasetMissingError, load, load_corrupted

CIFAR10 = DATASETS["cifar10"]
TINY = DATASETS["tinyimagenet"]


def _one_sentence(error: pytest.ExceptionInfo, *parts: str) -> str:
    message = str(error.value)
    assert "\n" not in message and message.endswith("."), message
    for part in parts:
        assert part in message, (part, message)
    return message


@pytest.fixture
def no_md5(monkeypatch):
    # The loader keeps torchvision's readers (the authors' code path; their md5 checks catch a truncated copy
    # of the real files), which tiny synthetic files cannot pass: torchvision's CIFAR and SVHN modules both
    # call check_integrity (CIFAR100._check_integrity for train/test and _load_meta for meta), so patch it.
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args, **kwargs: True)
    monkeypatch.setattr(torchvision.datasets.svhn, "check_integrity", lambda *args, **kwargs: True)


# --- CIFAR-100 ------------------------------------------------------------------------------------------


def _write_cifar100(root: Path, n: int = 6) -> dict[str, dict]:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written = {}
    for split in ("train", "test"):
        entry = {
            "data": rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8),  # rows: R plane, G plane, B plane
            "fine_labels": [int(v) for v in rng.integers(0, 100, n)],
            "coarse_labels": [int(v) for v in rng.integers(0, 20, n)],
            "filenames": [f"{split}_{i}.png" for i in range(n)],
        }
        with open(folder / split, "wb") as f:
            pickle.dump(entry, f)
        written[split] = entry
    with open(folder / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"c{i}" for i in range(100)], "coarse_label_names": list("abc")}, f)
    return written


@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar100_reads_torchvisions_pickles_with_fine_labels(tmp_path, no_md5, split):
    written = _write_cifar100(tmp_path)[split]
    images, labels = load("cifar100", split, tmp_path)
    assert images.shape == (6, 3, 32, 32) and images.dtype == torch.float32 and images.is_contiguous()
    expected = torch.from_numpy(written["data"].reshape(-1, 3, 32, 32)).float() / 255
    torch.testing.assert_close(images, expected, rtol=0, atol=0)
    assert labels.dtype == torch.long and labels.tolist() == written["fine_labels"]


def test_cifar100_missing_or_corrupt_files_fail_in_one_sentence(tmp_path):
    with pytest.raises(DatasetMissingError) as error:
        load("cifar100", "train", tmp_path)
    _one_sentence(error, str(tmp_path / "cifar-100-python" / "meta"), "cifar-100-python.tar.gz", "copy")
    _write_cifar100(tmp_path)
    (tmp_path / "cifar-100-python" / "test").unlink()
    with pytest.raises(DatasetMissingError) as error:
        load("cifar100", "train", tmp_path)  # torchvision needs the test file for the train split too
    message = _one_sentence(error, str(tmp_path / "cifar-100-python" / "test"))
    assert "meta" not in message.split("missing")[1].split(")")[0]
    _write_cifar100(tmp_path / "other")
    with pytest.raises(DatasetMissingError) as error:  # the synthetic files fail the real md5 check
        load("cifar100", "test", tmp_path / "other")
    _one_sentence(error, "md5", "cifar-100-python.tar.gz")


# --- SVHN -----------------------------------------------------------------------------------------------


def _write_svhn(root: Path, split: str, y: list[int]) -> np.ndarray:
    x = np.random.default_rng(1).integers(0, 256, (32, 32, 3, len(y)), dtype=np.uint8)
    scipy.io.savemat(root / f"{split}_32x32.mat", {"X": x, "y": np.array(y, dtype=np.uint8)[:, None]})
    return x


def test_svhn_reads_mat_files_and_labels_digit_zero_as_0(tmp_path, no_md5):
    y = [10, 1, 2, 9, 10, 5]
    x = _write_svhn(tmp_path, "test", y)
    images, labels = load("svhn", "test", tmp_path)
    assert images.shape == (6, 3, 32, 32) and images.dtype == torch.float32
    assert 0 <= images.min() and images.max() <= 1
    # X is [H, W, C, N]; image n, channel c, pixel (h, w) is X[h, w, c, n].
    torch.testing.assert_close(images, torch.from_numpy(x).permute(3, 2, 0, 1).float() / 255, rtol=0, atol=0)
    assert labels.dtype == torch.long and labels.tolist() == [0, 1, 2, 9, 0, 5]


def test_svhn_missing_split_fails_in_one_sentence(tmp_path, no_md5):
    _write_svhn(tmp_path, "test", [1, 2])
    with pytest.raises(DatasetMissingError) as error:
        load("svhn", "train", tmp_path)
    _one_sentence(error, str(tmp_path / "train_32x32.mat"), "copy train_32x32.mat", str(tmp_path))


# --- TinyImageNet ---------------------------------------------------------------------------------------

# Made in an unsorted order: the class index must be the position in the *sorted* list of train folders.
WNIDS = ["n03000000", "n01000000", "n02000000"]
SORTED = sorted(WNIDS)


def _colour(wnid: str, k: int) -> tuple[int, int, int]:
    """A flat colour that encodes the class (red) and the image (green); flat colours survive JPEG."""
    return (40 + 80 * SORTED.index(wnid), 30 + 40 * k, 128)


def _jpeg(path: Path, colour: tuple[int, int, int], grey: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (64, 64), colour)
    (image.convert("L") if grey else image).save(path, "JPEG", quality=95)


def _write_tiny(root: Path, val: str) -> Path:
    base = root / "tiny-imagenet-200"
    for wnid in WNIDS:
        # The official layout train/<wnid>/images/*.JPEG, and the flat train/<wnid>/*.JPEG for one class.
        folder = base / "train" / wnid / ("" if wnid == "n02000000" else "images")
        for k in range(2):
            _jpeg(folder / f"{wnid}_{k}.JPEG", _colour(wnid, k), grey=(wnid == "n01000000" and k == 1))
        (base / "train" / wnid / f"{wnid}_boxes.txt").write_text("not an image\n")
    lines = []
    for k, wnid in enumerate(["n02000000", "n03000000", "n01000000", "n02000000"]):
        name = f"val_{k}.JPEG"
        if val == "official":
            _jpeg(base / "val" / "images" / name, _colour(wnid, k))
            lines.append(f"{name}\t{wnid}\t0\t0\t63\t63")
        else:
            _jpeg(base / "val" / wnid / "images" / name, _colour(wnid, k))
    if val == "official":
        (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return base


def _class_of(images: torch.Tensor) -> list[int]:
    """The class encoded in each flat image's red channel (see _colour)."""
    return [round((float(v) * 255 - 40) / 80) for v in images[:, 0].mean(dim=(1, 2))]


def test_tinyimagenet_train_follows_the_sorted_wnids_and_reads_both_train_layouts(tmp_path):
    _write_tiny(tmp_path, "official")
    images, labels = load("tinyimagenet", "train", tmp_path)
    assert images.shape == (6, 3, 64, 64) and images.dtype == torch.float32
    assert 0 <= images.min() and images.max() <= 1
    assert labels.dtype == torch.long and labels.tolist() == [0, 0, 1, 1, 2, 2]
    grey = images[labels == 0][1]  # n01000000_1.JPEG was saved in greyscale: three equal channels
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])
    colour = images[labels != 0]
    assert _class_of(colour) == labels[labels != 0].tolist()


def test_tinyimagenet_val_from_annotations_equals_the_sorted_class_folders(tmp_path):
    _write_tiny(tmp_path / "official", "official")
    _write_tiny(tmp_path / "sorted", "sorted")
    official = load("tinyimagenet", "test", tmp_path / "official")
    by_folder = load("tinyimagenet", "test", tmp_path / "sorted")
    assert official[0].shape == (4, 3, 64, 64)
    # val_annotations.txt: val_0 -> n02 (1), val_1 -> n03 (2), val_2 -> n01 (0), val_3 -> n02 (1); by class, then file.
    assert official[1].tolist() == [0, 1, 1, 2] and _class_of(official[0]) == [0, 1, 1, 2]
    assert torch.equal(official[0], by_folder[0]) and torch.equal(official[1], by_folder[1])


def test_tinyimagenet_missing_files_fail_in_one_sentence_before_reading(tmp_path):
    with pytest.raises(DatasetMissingError) as error:
        load("tinyimagenet", "train", tmp_path)
    _one_sentence(error, str(tmp_path / "tiny-imagenet-200" / "train"), "tiny-imagenet-200.zip", "copy")
    base = _write_tiny(tmp_path, "official")
    (base / "val" / "images" / "val_2.JPEG").unlink()
    with pytest.raises(DatasetMissingError) as error:
        load("tinyimagenet", "test", tmp_path)
    _one_sentence(error, str(base / "val" / "images" / "val_2.JPEG"), "val_annotations.txt", "tiny-imagenet-200.zip")
    (base / "val" / "val_annotations.txt").unlink()
    with pytest.raises(DatasetMissingError) as error:
        load("tinyimagenet", "test", tmp_path)
    _one_sentence(error, str(base / "val" / "val_annotations.txt"), str(base / "val"), "tiny-imagenet-200.zip")


def test_every_dataset_name_has_its_own_loader(tmp_path):
    # Before, any name but fashion_mnist fell into the CIFAR-10 branch; each message names its own data set.
    for dataset, name in [("cifar10", "CIFAR-10 "), ("cifar100", "CIFAR-100"), ("svhn", "SVHN"),
                          ("tinyimagenet", "TinyImageNet")]:
        with pytest.raises(DatasetMissingError) as error:
            load(dataset, "test", tmp_path)
        _one_sentence(error, name, "never downloaded")


# --- CIFAR-10-C / CIFAR-100-C ---------------------------------------------------------------------------


def _write_corrupted(root: Path, folder: str, corruption: str, m: int = 4) -> None:
    (root / folder).mkdir(parents=True)
    # Pixel value 10 * severity + row within the severity, so every slice can be recognised.
    values = np.array([10 * s + i for s in range(1, 6) for i in range(m)], dtype=np.uint8)
    np.save(root / folder / f"{corruption}.npy", np.broadcast_to(values[:, None, None, None], (5 * m, 32, 32, 3)))
    np.save(root / folder / "labels.npy", np.tile(np.arange(m, dtype=np.uint8), 5))


@pytest.mark.parametrize("dataset, folder", [("cifar10", "CIFAR-10-C"), ("cifar100", "CIFAR-100-C")])
@pytest.mark.parametrize("severity", [1, 3, 5])
def test_corrupted_set_slices_its_severity(tmp_path, dataset, folder, severity):
    _write_corrupted(tmp_path, folder, "fog")
    images, labels = load_corrupted(dataset, "fog", severity, tmp_path)
    assert images.shape == (4, 3, 32, 32) and images.dtype == torch.float32
    assert images.amax(dim=(1, 2, 3)).mul(255).round().tolist() == [10 * severity + i for i in range(4)]
    assert labels.dtype == torch.long and labels.tolist() == [0, 1, 2, 3]


def test_corrupted_set_validates_and_fails_in_one_sentence(tmp_path):
    for kwargs, words in [
        (dict(dataset="svhn"), ["cifar10", "svhn"]),
        (dict(corruption="elastic"), ["elastic_transform", "'elastic'"]),
        (dict(severity=0), ["1 to 5", "0"]),
        (dict(severity=6), ["1 to 5", "6"]),
        (dict(severity=2.0), ["1 to 5", "2.0"]),
        (dict(severity=True), ["1 to 5", "True"]),
    ]:
        args = dict(dataset="cifar10", corruption="fog", severity=1, root=tmp_path) | kwargs
        with pytest.raises(ValueError) as error:
            load_corrupted(**args)
        _one_sentence(error, *words)
    with pytest.raises(DatasetMissingError) as error:
        load_corrupted("cifar100", "snow", 2, tmp_path)
    _one_sentence(error, str(tmp_path / "CIFAR-100-C" / "snow.npy"), "CIFAR-100-C.tar", "copy")


def test_the_fifteen_corruptions_are_those_of_tables_b6_and_b7():
    assert len(CORRUPTIONS) == len(set(CORRUPTIONS)) == 15
    assert NOISE_CORRUPTIONS == ("gaussian_noise", "shot_noise", "impulse_noise")
    table = Path(__file__).parents[1] / "snnconv" / "book" / "reference_values" / "tableB6.csv"
    with open(table) as f:
        named = {row["corruption"] for row in csv.DictReader(f)} - {"clean", "all", "all_without_noise"}
    # The tables abbreviate elastic_transform and jpeg_compression.
    assert sorted(next(c for c in CORRUPTIONS if c.startswith(name)) for name in named) == sorted(CORRUPTIONS)


# --- augmentation: cutout and the random resized crop ---------------------------------------------------


def _augment_before_cutout(images, spec, generator):
    """A copy of augment as it was before cutout and the resized crop (pad-and-crop, then flip)."""
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


@pytest.mark.parametrize("dataset", ["fashion_mnist", "cifar10", "cifar100", "svhn"])
def test_augment_without_cutout_is_unchanged_bit_for_bit(dataset):
    spec = DATASETS[dataset]
    images = torch.rand(16, *spec.shape, generator=torch.Generator().manual_seed(0))
    new, old = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    for _ in range(2):  # the generators stay in step too
        assert torch.equal(augment(images, spec, new), _augment_before_cutout(images, spec, old))
    assert torch.equal(new.get_state(), old.get_state())


def test_augment_with_cutout_cuts_after_crop_and_flip():
    images = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    new, old = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    expected = cut_out(_augment_before_cutout(images, CIFAR10, old), CIFAR10, old)
    assert torch.equal(augment(images, CIFAR10, new, cutout=True), expected)
    assert not torch.equal(expected, _augment_before_cutout(images, CIFAR10, torch.Generator().manual_seed(3)))


def _devries_taylor(images, side, mean, generator):
    """DeVries & Taylor's cutout (centre uniform over the image, clipped at the borders), filled with ``mean``."""
    n, _, h, w = images.shape
    cy = torch.randint(0, h, (n,), generator=generator)
    cx = torch.randint(0, w, (n,), generator=generator)
    out = images.clone()
    for i in range(n):
        y1, y2 = np.clip([int(cy[i]) - side // 2, int(cy[i]) + side // 2], 0, h)
        x1, x2 = np.clip([int(cx[i]) - side // 2, int(cx[i]) + side // 2], 0, w)
        out[i, :, y1:y2, x1:x2] = torch.tensor(mean)[:, None, None]
    return out


@pytest.mark.parametrize("dataset, side", [("cifar10", 8), ("svhn", 8), ("cifar100", 8), ("tinyimagenet", 16)])
def test_cutout_is_a_mean_filled_square_clipped_at_the_borders(dataset, side):
    spec = DATASETS[dataset]
    assert spec.cutout == side
    images = torch.full((300, *spec.shape), -1.0)  # a value no mean takes, so the hole is visible
    out = cut_out(images, spec, torch.Generator().manual_seed(1))
    assert torch.equal(out, _devries_taylor(images, side, spec.mean, torch.Generator().manual_seed(1)))
    _, h, w = spec.shape
    hole = out[:, 0] != -1
    rows, cols = hole.any(dim=2), hole.any(dim=1)
    assert torch.equal(hole, rows[:, :, None] & cols[:, None, :])  # a rectangle
    full = (rows.sum(1) == side) & (cols.sum(1) == side)
    clipped = (rows[:, 0] | rows[:, -1] | cols[:, 0] | cols[:, -1]) & ~full
    assert bool((full | clipped).all()) and 0 < int(clipped.sum()) < 300 and int(full.sum()) > 0
    # Filled with the data set's mean: 0 after the model's normalization.
    normalized = (out - torch.tensor(spec.mean)[:, None, None]) / torch.tensor(spec.std)[:, None, None]
    assert normalized.permute(1, 0, 2, 3)[:, hole].abs().max() < 1e-6


def test_cutout_keeps_an_odd_side_and_none_means_no_draw():
    spec = dataclasses.replace(CIFAR10, cutout=5)
    out = cut_out(torch.full((200, 3, 32, 32), -1.0), spec, torch.Generator().manual_seed(0))
    sizes = (out[:, 0] != -1).sum(dim=(1, 2))
    assert int(sizes.max()) == 25 and (sizes > 0).all()
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(4, 1, 28, 28)
    assert DATASETS["fashion_mnist"].cutout == 0
    assert cut_out(images, DATASETS["fashion_mnist"], generator) is images
    assert torch.equal(generator.get_state(), torch.Generator().manual_seed(0).get_state())


def test_random_resized_crop_shape_range_and_seed():
    images = torch.rand(32, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.25
    a = random_resized_crop(images, torch.Generator().manual_seed(5))
    b = random_resized_crop(images, torch.Generator().manual_seed(5))
    c = random_resized_crop(images, torch.Generator().manual_seed(6))
    assert a.shape == images.shape and torch.equal(a, b) and not torch.equal(a, c)
    lo, hi = images.amin(dim=(1, 2, 3)), images.amax(dim=(1, 2, 3))
    assert (a.amin(dim=(1, 2, 3)) >= lo).all() and (a.amax(dim=(1, 2, 3)) <= hi).all()
    assert not torch.equal(a, images)


def test_random_resized_crop_whole_image_and_centre_fallback():
    images = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    # Area 1 and ratio 1: the whole image, resized onto itself unchanged.
    same = random_resized_crop(images, torch.Generator().manual_seed(0), scale=(1.0, 1.0), ratio=(1.0, 1.0))
    torch.testing.assert_close(same, images)
    # Ratio 2 at full area never fits a square image: torchvision's fallback, the centre 64 x 32 crop.
    fallback = random_resized_crop(images, torch.Generator().manual_seed(0), scale=(1.0, 1.0), ratio=(2.0, 2.0))
    centre = torch.nn.functional.interpolate(images[:, :, 16:48, :], size=(64, 64), mode="bilinear")
    torch.testing.assert_close(fallback, centre)


def test_tinyimagenet_augment_uses_the_resized_crop():
    assert TINY.crop == "resized" and all(DATASETS[d].crop == "pad" for d in DATASETS if d != "tinyimagenet")
    images = torch.rand(8, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    a = augment(images, TINY, torch.Generator().manual_seed(2), cutout=True)
    b = augment(images, TINY, torch.Generator().manual_seed(2), cutout=True)
    assert a.shape == images.shape and torch.equal(a, b)
    generator = torch.Generator().manual_seed(2)
    expected = random_resized_crop(images, generator)
    flip = torch.rand(8, generator=generator) < 0.5
    expected[flip] = expected[flip].flip(-1)
    assert torch.equal(a, cut_out(expected, TINY, generator))
    with pytest.raises(ValueError, match="'pad' or 'resized'"):
        augment(images, dataclasses.replace(TINY, crop="centre"), torch.Generator())
