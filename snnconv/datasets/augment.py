"""Training augmentation (paper Suppl. A.1): random crop with zero padding (a random resized crop for TinyImageNet)
and a horizontal flip, plus, only where the caller asks (the ANNs' adversarial training, never the SNN finetuning),
the authors' cutout."""

from __future__ import annotations

import math

import torch

from snnconv.datasets.specs import DatasetSpec


def _pad_crop(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    n, _, h, w = images.shape
    p = padding
    padded = torch.nn.functional.pad(images, (p, p, p, p))
    dy = torch.randint(0, 2 * p + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * p + 1, (n,), generator=generator)
    return torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])


def random_resized_crop(
    images: torch.Tensor,
    generator: torch.Generator,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> torch.Tensor:
    """Per image, a random crop of random area and aspect ratio, resized back bilinearly (Szegedy et al. 2015).

    TinyImageNet's training augmentation in the authors' notes (Suppl. A.1's data sets): torchvision's
    ``RandomResizedCrop(64)``. As there, up to 10 draws of an area fraction uniform in ``scale`` and a
    log-uniform aspect ratio in ``ratio`` look for a crop that fits; if none does, the largest centre crop
    within ``ratio``. The crop, never larger than the image, is resized to ``[H, W]`` bilinearly, so every
    output value lies within the input's range. All draws come from ``generator``.

    >>> images = torch.rand(2, 3, 64, 64)
    >>> out = random_resized_crop(images, torch.Generator().manual_seed(0))
    >>> out.shape, bool(out.min() >= images.min()), bool(out.max() <= images.max())
    (torch.Size([2, 3, 64, 64]), True, True)
    """
    n, _, height, width = images.shape
    attempts = 10
    area = torch.empty(n, attempts, dtype=torch.float64).uniform_(scale[0], scale[1], generator=generator)
    area *= height * width
    log_ratio = torch.empty(n, attempts, dtype=torch.float64).uniform_(
        math.log(ratio[0]), math.log(ratio[1]), generator=generator
    )
    aspect = torch.exp(log_ratio)
    ws = torch.round(torch.sqrt(area * aspect)).long()
    hs = torch.round(torch.sqrt(area / aspect)).long()
    fits = (ws > 0) & (ws <= width) & (hs > 0) & (hs <= height)
    where = torch.rand(n, 2, dtype=torch.float64, generator=generator)
    # torchvision's fallback: the largest centre crop whose aspect ratio lies within ``ratio``.
    if width / height < min(ratio):
        fallback = (int(round(width / min(ratio))), width)
    elif width / height > max(ratio):
        fallback = (height, int(round(height * max(ratio))))
    else:
        fallback = (height, width)
    out = torch.empty_like(images)
    for k in range(n):
        tries = torch.nonzero(fits[k])
        if len(tries):
            first = tries[0, 0]
            h, w = int(hs[k, first]), int(ws[k, first])
            # floor(u * m) is uniform over 0..m-1, as torch.randint(0, m) in torchvision.
            top = int(where[k, 0] * (height - h + 1))
            left = int(where[k, 1] * (width - w + 1))
        else:
            h, w = fallback
            top, left = (height - h) // 2, (width - w) // 2
        crop = images[k : k + 1, :, top : top + h, left : left + w]
        out[k] = torch.nn.functional.interpolate(crop, size=(height, width), mode="bilinear", align_corners=False)[0]
    return out


def cut_out(images: torch.Tensor, spec: DatasetSpec, generator: torch.Generator) -> torch.Tensor:
    """One ``spec.cutout``-pixel square hole per image, filled with the data set's mean (DeVries & Taylor 2017).

    The authors' cutout for the ANN's adversarial training (authors' notes; Suppl. A.1's ANN): the hole's
    centre is uniform over the image and the hole is clipped at the borders, as in DeVries & Taylor;
    it is filled with ``spec.mean`` rather than 0, so that it is 0 after the model's normalization. An odd
    side is kept exact (DeVries & Taylor's ``y ± side // 2`` would make it one pixel shorter). With
    ``spec.cutout == 0`` the images are returned unchanged and nothing is drawn.

    >>> from snnconv.datasets.data import DATASETS
    >>> spec = DATASETS["cifar10"]
    >>> out = cut_out(torch.ones(1, 3, 32, 32), spec, torch.Generator().manual_seed(0))
    >>> hole = out[0, 0] != 1  # at most 8 x 8 pixels, fewer where clipped at a border
    >>> 0 < int(hole.sum()) <= 64, torch.equal(out[0, :, hole].unique(dim=1).flatten(), torch.tensor(spec.mean))
    (True, True)
    """
    side = spec.cutout
    if side == 0:
        return images
    n, _, h, w = images.shape
    cy = torch.randint(0, h, (n,), generator=generator)
    cx = torch.randint(0, w, (n,), generator=generator)
    rows = torch.arange(h)
    cols = torch.arange(w)
    # Unclipped bounds: comparing with the grid clips the hole at the borders by itself.
    in_rows = (rows >= (cy - side // 2)[:, None]) & (rows < (cy - side // 2 + side)[:, None])
    in_cols = (cols >= (cx - side // 2)[:, None]) & (cols < (cx - side // 2 + side)[:, None])
    hole = (in_rows[:, :, None] & in_cols[:, None, :]).to(images.device)
    mean = torch.tensor(spec.mean, dtype=images.dtype, device=images.device)[None, :, None, None]
    return torch.where(hole[:, None], mean, images)


def augment(
    images: torch.Tensor, spec: DatasetSpec, generator: torch.Generator, *, cutout: bool = False
) -> torch.Tensor:
    """Random crop and (optionally) a horizontal flip per image (Suppl. A.1), then cutout if asked.

    The crop is ``spec.crop``: 'pad', a random crop of the image zero-padded by ``spec.padding`` (the
    finetuning augmentation of Suppl. A.1), or 'resized', :func:`random_resized_crop` (TinyImageNet, the
    authors' notes). ``cutout=True`` adds :func:`cut_out` afterwards, as the authors' ANN adversarial
    training does; the SNN finetuning never asks for it. With ``cutout=False`` the random draws and the
    result are those of the crop and flip alone.
    """
    if spec.crop == "pad":
        cropped = _pad_crop(images, spec.padding, generator)
    elif spec.crop == "resized":
        cropped = random_resized_crop(images, generator)
    else:
        raise ValueError(f"{spec.name}'s crop must be 'pad' or 'resized', got {spec.crop!r}.")
    n = images.shape[0]
    if spec.flip:
        flip = torch.rand(n, generator=generator) < 0.5
        cropped[flip] = cropped[flip].flip(-1)
    return cut_out(cropped, spec, generator) if cutout else cropped
