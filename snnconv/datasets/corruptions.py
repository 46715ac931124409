"""The 15 common corruptions of CIFAR-10-C, generated for any image size (Hendrycks & Dietterich 2019; Tables B6/B7).

Tables B6/B7 evaluate on CIFAR-10-C / CIFAR-100-C (Hendrycks & Dietterich 2019, "Benchmarking Neural Network
Robustness to Common Corruptions and Perturbations", ICLR 2019): 15 corruptions at 5 severities. No corrupted
Fashion-MNIST exists, so :func:`corrupt` generates them, following the definitions and the severity constants
of the benchmark's CIFAR-10-C generation (our own code: the reference library ``imagecorruptions`` needs
``pkg_resources``, NumPy < 2, scikit-image's removed ``multichannel=`` and images of at least 32×32 pixels).

The CIFAR-10-C constants, severities 1..5 (``x`` is the image in [0, 1]; all in :data:`SEVERITY_CONSTANTS`):

* gaussian_noise: ``x + N(0, c²)`` per value, c = 0.04, 0.06, 0.08, 0.09, 0.10.
* shot_noise: ``Poisson(c·x) / c`` per value, c = 500, 250, 100, 75, 50.
* impulse_noise: salt-and-pepper, each value replaced with probability c (by 0 or 1, even odds),
  c = 0.01, 0.02, 0.03, 0.05, 0.07.
* defocus_blur: correlation with a disk of radius r (17×17 grid, anti-aliased by a 3×3 Gaussian of std a),
  (r, a) = (0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1).
* glass_blur: Gaussian blur of std σ, uint8, ``k`` passes of local pixel moves of at most δ px, blur again,
  (σ, δ, k) = (0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2). As the benchmark's code
  actually does (its "swap" copies), each pass gives every pixel at least 2 px from the top/left border the
  value of itself or its upper, left or upper-left neighbour, uniformly at random.
* motion_blur: ImageMagick-style motion blur (radius, sigma) at an angle ~ U(−45°, 45°),
  (radius, sigma) = (10, 1), (10, 1.5), (10, 2), (10, 2.5), (12, 3).
* zoom_blur: mean of x and its centre zooms by the factors ``np.arange(1, e, 0.01)``,
  e = 1.06, 1.11, 1.16, 1.21, 1.26 (7, 12, 16, 21, 26 factors: NumPy's float end point, as in the benchmark).
* snow: (mean, std, zoom, threshold, blur radius, blur sigma, blend) =
  (0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9), (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
  (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85), (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8).
* frost: ``a·x + b·F`` with a frost texture F in [0, 1], (a, b) = (1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4),
  (0.75, 0.45).
* fog: ``(x + t·P)·max(x) / (max(x) + t)`` with a plasma fractal P of wibble decay d,
  (t, d) = (0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75).
* brightness: HSV value ``V ← min(V + c, 1)``, c = 0.05, 0.1, 0.15, 0.2, 0.3.
* contrast: ``(x − m)·c + m``, m the image's per-channel mean, c = 0.75, 0.5, 0.4, 0.3, 0.15.
* elastic_transform: random affine (corner jitter U(−s, s) px) then a smoothed random displacement field
  (amplitude α px, smoothing std σ px), (α, σ, s) = 32·(0, 0, 0.08), 32·(0.05, 0.2, 0.07),
  32·(0.08, 0.06, 0.06), 32·(0.1, 0.04, 0.05), 32·(0.1, 0.03, 0.03).
* pixelate: box down-sampling to ``int(c·size)`` and box up-sampling back, c = 0.95, 0.9, 0.85, 0.75, 0.65.
* jpeg_compression: Pillow JPEG at quality c = 80, 65, 58, 50, 40.

As in the benchmark, the image is first taken to uint8 (``round(255·x)``) and the corrupted float image is
stored as uint8 by truncation (the benchmark's ``np.uint8`` of its clipped float output), so outputs are
multiples of 1/255 in [0, 1]. Pixel-sized constants are the CIFAR (32 px) values, applied unchanged to other
image sizes. How our generation departs from the benchmark's is in :data:`DIFFERENCES` (per corruption) and
:data:`COMMON_DIFFERENCES` (all of them).

Example (a usage sketch, not a doctest)::

    from snnconv.datasets.corruptions import corrupt
    x_c = corrupt(x_test, "motion_blur", severity=3, seed=0)  # x_test: float [N, 1, 28, 28] in [0, 1]
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from snnconv.datasets.data import CORRUPTIONS, SEVERITIES

#: The benchmark's constants per corruption and severity (index ``severity - 1``), Hendrycks & Dietterich 2019
#: (CIFAR-10-C). elastic_transform's are in pixels (32·fraction, as in the benchmark's CIFAR code).
SEVERITY_CONSTANTS: dict[str, tuple] = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
    "shot_noise": (500, 250, 100, 75, 50),
    "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
    "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
    "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
    "motion_blur": ((10, 1), (10, 1.5), (10, 2), (10, 2.5), (12, 3)),
    "zoom_blur": tuple(tuple(np.arange(1, end, 0.01)) for end in (1.06, 1.11, 1.16, 1.21, 1.26)),
    "snow": (
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
        (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    ),
    "frost": ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)),
    "fog": ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
    "elastic_transform": tuple(
        (32 * a, 32 * s, 32 * j)
        for a, s, j in ((0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03))
    ),
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
    "jpeg_compression": (80, 65, 58, 50, 40),
}

#: The corruptions that draw random numbers in Hendrycks & Dietterich 2019 (the others are deterministic).
RANDOM_CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise", "glass_blur", "motion_blur",
    "snow", "frost", "fog", "elastic_transform",
)

#: Per corruption, one sentence on how our generation differs from Hendrycks & Dietterich 2019's CIFAR-10-C
#: code; corruptions not listed follow it exactly up to the random numbers and floating-point rounding.
DIFFERENCES: dict[str, str] = {
    "impulse_noise": (
        "The benchmark calls scikit-image's random_noise(mode='s&p', amount=c); we draw the same thing ourselves "
        "(each value independently replaced with probability c, by 0 or 1 with even odds), as current "
        "scikit-image does, since scikit-image is not in our environment."
    ),
    "motion_blur": (
        "The benchmark blurs with ImageMagick's motion blur (through Wand); ImageMagick is not available, so we "
        "reimplement its algorithm as we read it (a one-sided line of 2·radius+1 taps with weights "
        "exp(-i²/2σ²), offsets rounded to whole pixels along the random angle, edge pixels replicated), "
        "unverified against ImageMagick's own output."
    ),
    "snow": (
        "The snow layer's streaks use our reimplementation of ImageMagick's motion blur (see motion_blur) "
        "instead of ImageMagick itself; for grey images the 'greyscale' term of the benchmark's whitening "
        "is the image itself."
    ),
    "frost": (
        "The benchmark blends a random crop of one of its frost photographs (shipped with its code, not with "
        "ours); we synthesize a grey frost texture per image instead: a rough plasma fractal (diamond–square, "
        "wibble decay 1.5) for the icy haze plus short bright ice needles along three axes 60° apart at a "
        "random orientation, scaled to a mean of about 0.5 — an approximation not calibrated against the "
        "photographs."
    ),
    "elastic_transform": (
        "OpenCV's affine warp (bilinear, reflect-101 border) is replaced by our own bilinear sampling with the "
        "same border rule, and the pixel constants are the CIFAR ones (32 px × fraction) whatever the image size."
    ),
    "jpeg_compression": (
        "Grey images are saved as single-channel (luma-only) JPEGs, which is what an RGB JPEG of a grey image "
        "amounts to up to the colour-conversion rounding."
    ),
}

#: What differs from Hendrycks & Dietterich 2019's CIFAR-10-C generation for every corruption.
COMMON_DIFFERENCES: str = (
    "Random numbers come from NumPy generators seeded per image with (seed, index), not from the global "
    "NumPy RNG the benchmark used, so individual corrupted images differ while their distribution is the "
    "same; spatial constants are the CIFAR (32 px) values applied unchanged in pixels to 28 px Fashion-MNIST "
    "images (slightly stronger relative to the image); grey (1-channel) images get what the benchmark would "
    "give the 3-channel image with equal channels, except that noise is drawn once per pixel instead of "
    "once per channel."
)

# The quantisation to uint8 truncates like np.uint8; this tolerance keeps an exact k/255 (computed with
# rounding error just below k) at k.
_TRUNCATION_TOLERANCE = 1e-6
# Images per call of a corruption's implementation (a few hundred MB of temporaries at most for 28×28).
_CHUNK = 1000

Array = np.ndarray
Generators = Sequence[np.random.Generator]


def corrupt(images: torch.Tensor, corruption: str, severity: int, seed: int, offset: int = 0) -> torch.Tensor:
    """One common corruption at one severity, as in CIFAR-10-C (Hendrycks & Dietterich 2019), Tables B6/B7.

    ``images`` is float ``[N, C, H, W]`` in [0, 1] with C = 1 or 3 and H, W ≥ 8; the result has the same shape,
    dtype and device, values multiples of 1/255 in [0, 1]: the image is taken to uint8 (``round(255·x)``),
    corrupted by the benchmark's formula with its constants for ``severity`` (see the module docstring and
    :data:`SEVERITY_CONSTANTS`), clipped to [0, 1] and truncated to uint8 as the benchmark stores its data.

    Randomness: image ``i`` of the batch draws from ``numpy.random.default_rng([seed, offset + i])`` only (never
    the global RNG), so its result depends only on (corruption, severity, seed, offset + i, image) — not on
    the other images in the batch. Corrupting a data set in chunks therefore gives the same images as in one
    go when each chunk passes ``offset`` = the index of its first image.

    Args:
        images: float tensor ``[N, C, H, W]`` in [0, 1], C in {1, 3}, H, W ≥ 8.
        corruption: one of :data:`snnconv.datasets.data.CORRUPTIONS`.
        severity: integer from 1 to 5.
        seed: non-negative integer seeding the per-image generators.
        offset: non-negative integer, the data-set index of ``images[0]``.

    Raises:
        TypeError: if ``images`` is not a tensor.
        ValueError: for any other bad argument (one sentence naming it).
    """
    _validate(images, corruption, severity, seed, offset)
    if images.shape[0] == 0:
        return images.clone()
    x = np.rint(images.detach().to("cpu", torch.float64).numpy() * 255) / 255
    random = corruption in RANDOM_CORRUPTIONS
    rngs = [np.random.default_rng([seed, offset + i]) for i in range(len(x))] if random else []
    constants = SEVERITY_CONSTANTS[corruption][severity - 1]
    stored = np.empty_like(x)
    # Images are corrupted independently, so chunks bound the temporaries' memory without changing results.
    for start in range(0, len(x), _CHUNK):
        chunk = slice(start, start + _CHUNK)
        y = _IMPLEMENTATIONS[corruption](x[chunk], constants, rngs[chunk] if random else rngs)
        stored[chunk] = np.floor(np.clip(y, 0.0, 1.0) * 255 + _TRUNCATION_TOLERANCE)
    return torch.from_numpy(stored / 255).to(device=images.device, dtype=images.dtype)


def _validate(images: object, corruption: object, severity: object, seed: object, offset: object) -> None:
    if corruption not in CORRUPTIONS:
        raise ValueError(f"corruption must be one of {', '.join(CORRUPTIONS)}; got {corruption!r}.")
    if not _is_int(severity) or severity not in SEVERITIES:
        raise ValueError(f"severity must be an integer from 1 to 5, got {severity!r}.")
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    if not _is_int(offset) or offset < 0:
        raise ValueError(f"offset must be a non-negative integer (the index of the first image), got {offset!r}.")
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}.")
    if not images.is_floating_point():
        raise ValueError(f"images must be a floating-point tensor with values in [0, 1], got dtype {images.dtype}.")
    if images.dim() != 4:
        raise ValueError(f"images must be 4-D [N, C, H, W], got shape {tuple(images.shape)}.")
    if images.shape[1] not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, got {images.shape[1]} (shape {tuple(images.shape)}).")
    if images.shape[2] < 8 or images.shape[3] < 8:
        raise ValueError(f"images must be at least 8×8 pixels, got {images.shape[2]}×{images.shape[3]}.")
    if images.numel() and not (images.min().item() >= 0 and images.max().item() <= 1):
        raise ValueError(
            f"images must have values in [0, 1], got min {images.min().item()} and max {images.max().item()}."
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------------------------
# The corruptions: each maps x (float64 [N, C, H, W], multiples of 1/255) to an unclipped float image.


def _gaussian_noise(x: Array, c: float, rngs: Generators) -> Array:
    return x + c * np.stack([rng.normal(size=x.shape[1:]) for rng in rngs])


def _shot_noise(x: Array, c: float, rngs: Generators) -> Array:
    return np.stack([rng.poisson(image * c) for rng, image in zip(rngs, x, strict=True)]) / c


def _impulse_noise(x: Array, c: float, rngs: Generators) -> Array:
    u = np.stack([rng.random((2, *x.shape[1:])) for rng in rngs])
    return np.where(u[:, 0] < c, (u[:, 1] < 0.5).astype(np.float64), x)


def _defocus_blur(x: Array, c: tuple[float, float], rngs: Generators) -> Array:
    radius, alias_blur = c
    kernel = _disk(radius, alias_blur)
    # cv2.filter2D's default border is reflect-101, scipy's "mirror".
    return ndimage.correlate(x, kernel[None, None], mode="mirror")


def _disk(radius: float, alias_blur: float) -> Array:
    # The benchmark's disk for radius <= 8 (all CIFAR constants): a 17×17 indicator of the disk, normalised,
    # then anti-aliased by cv2.GaussianBlur with a 3×3 kernel (border reflect-101).
    grid = np.arange(-8, 9)
    rows, cols = np.meshgrid(grid, grid, indexing="ij")
    disk = (rows**2 + cols**2 <= radius**2).astype(np.float64)
    disk /= disk.sum()
    taps = np.exp(-(np.arange(-1, 2) ** 2) / (2 * alias_blur**2))
    taps /= taps.sum()
    disk = ndimage.correlate1d(ndimage.correlate1d(disk, taps, axis=0, mode="mirror"), taps, axis=1, mode="mirror")
    # The support is a few pixels around the centre; trimming the zeros keeps the correlation cheap.
    used = np.nonzero(disk.any(axis=0))[0]
    half = max(8 - used.min(), used.max() - 8)
    return disk[8 - half : 9 + half, 8 - half : 9 + half]


def _glass_blur(x: Array, c: tuple[float, int, int], rngs: Generators) -> Array:
    sigma, delta, iterations = c
    # The benchmark's tuple "swap" `x[h, w], x[h', w'] = x[h', w'], x[h, w]` acts on NumPy views of an
    # H×W×3 array, so it copies (x[h, w] takes x[h', w']'s value, x[h', w'] is unchanged); scanning from the
    # bottom-right with offsets in {-1, 0} (delta = 1) reads only not-yet-written pixels, so one pass is the
    # gather below. We reproduce what the published data set contains. delta > 1 would chain copies.
    assert delta == 1, "the gather form of the benchmark's pixel moves holds for delta = 1 (all CIFAR constants)"
    n, _, h, w = x.shape
    y = np.floor(_skimage_gaussian(x, sigma) * 255 + _TRUNCATION_TOLERANCE) / 255
    # The benchmark's loops: h from H - delta down to delta + 1, w likewise; offsets randint(-delta, delta).
    rows, cols = np.arange(delta + 1, h - delta + 1), np.arange(delta + 1, w - delta + 1)
    shape = (iterations, 2, len(rows), len(cols))
    moves = np.stack([rng.integers(-delta, delta, size=shape, dtype=np.int8) for rng in rngs])
    batch = np.arange(n)[:, None, None]
    for k in range(iterations):
        dx, dy = moves[:, k, 0], moves[:, k, 1]
        moved = y[batch, :, rows[None, :, None] + dy, cols[None, None, :] + dx]  # [N, rows, cols, C]
        y = y.copy()
        y[:, :, rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] = moved.transpose(0, 3, 1, 2)
    return _skimage_gaussian(y, sigma)


def _skimage_gaussian(x: Array, sigma: float) -> Array:
    # skimage.filters.gaussian's defaults in the benchmark: mode "nearest", truncate 4, channels separate.
    return ndimage.gaussian_filter(x, sigma=(0, 0, sigma, sigma), mode="nearest", truncate=4.0)


def _motion_blur(x: Array, c: tuple[float, float], rngs: Generators) -> Array:
    radius, sigma = c
    angles = np.array([rng.uniform(-45, 45) for rng in rngs])
    # ImageMagick writes the blurred PNG as 8-bit, rounding.
    return np.rint(np.clip(_imagemagick_motion_blur(x, radius, sigma, angles), 0, 1) * 255) / 255


def _imagemagick_motion_blur(x: Array, radius: float, sigma: float, angles: Array) -> Array:
    # ImageMagick's MotionBlurImage as we read it: width = 2·ceil(radius) + 1 taps, weight of tap i
    # proportional to exp(-i²/(2σ²)) (one-sided: the blur trails in one direction), tap i read at
    # (column + round(i·cos a), row + round(i·sin a)) with ImageMagick's rounding ceil(v − 0.5), and the
    # default "edge" virtual pixels outside the image.
    n, _, h, w = x.shape
    width = 2 * math.ceil(radius) + 1
    taps = np.arange(width)
    weights = np.exp(-(taps**2) / (2 * sigma**2))
    weights /= weights.sum()
    radians = np.deg2rad(angles)
    dcol = np.ceil(taps[:, None] * np.cos(radians)[None] - 0.5).astype(np.int64)  # [taps, N]
    drow = np.ceil(taps[:, None] * np.sin(radians)[None] - 0.5).astype(np.int64)
    channels_last = x.transpose(0, 2, 3, 1)
    batch = np.arange(n)[:, None, None]
    rows, cols = np.arange(h)[None, :, None], np.arange(w)[None, None, :]
    out = np.zeros((n, h, w, x.shape[1]))
    for t in taps:
        # Weights below 1e-12 of the total change no uint8 value; skipping them saves most taps at small σ.
        if weights[t] < 1e-12:
            continue
        # Clamped indices are the edge virtual pixels, without a padded copy of the batch.
        source_rows = np.clip(rows + drow[t][:, None, None], 0, h - 1)
        source_cols = np.clip(cols + dcol[t][:, None, None], 0, w - 1)
        out += weights[t] * channels_last[batch, source_rows, source_cols]
    return out.transpose(0, 3, 1, 2)


def _zoom_blur(x: Array, c: tuple[float, ...], rngs: Generators) -> Array:
    out = x.copy()
    for factor in c:
        out += _clipped_zoom(x, factor)
    return out / (len(c) + 1)


def _clipped_zoom(x: Array, factor: float) -> Array:
    # The benchmark's clipped_zoom: crop the centre ceil(size / factor), zoom it with
    # scipy.ndimage.zoom(order=1) and trim the centre back to the original size.
    h, w = x.shape[-2:]
    rows = _zoom_rows(h, factor)
    cols = _zoom_rows(w, factor)
    return rows @ x @ cols.T


def _zoom_rows(size: int, factor: float) -> Array:
    # One axis of clipped_zoom as a [size, size] matrix: scipy.ndimage.zoom with order 1 (and its default
    # grid_mode=False) maps output index i of n_out = round(n_in·factor) to input coordinate
    # i·(n_in − 1)/(n_out − 1) and interpolates linearly.
    n_in = math.ceil(size / factor)
    start = (size - n_in) // 2
    n_out = round(n_in * factor)
    trim = (n_out - size) // 2
    coordinate = np.arange(trim, trim + size) * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(size)
    low = np.minimum(np.floor(coordinate).astype(np.int64), n_in - 1)
    frac = coordinate - low
    matrix = np.zeros((size, size))
    index = np.arange(size)
    np.add.at(matrix, (index, start + low), 1 - frac)
    np.add.at(matrix, (index, start + np.minimum(low + 1, n_in - 1)), frac)
    return matrix


def _snow(x: Array, c: tuple[float, ...], rngs: Generators) -> Array:
    mean, std, zoom, threshold, blur_radius, blur_sigma, blend = c
    n, channels, h, w = x.shape
    layer = np.stack([rng.normal(mean, std, size=(1, h, w)) for rng in rngs])
    angles = np.array([rng.uniform(-135, -45) for rng in rngs])
    layer = _clipped_zoom(layer, zoom)
    layer[layer < threshold] = 0
    # The benchmark hands the layer to ImageMagick as an 8-bit PNG (truncated) and reads back 8-bit.
    layer = np.floor(np.clip(layer, 0, 1) * 255) / 255
    layer = np.rint(np.clip(_imagemagick_motion_blur(layer, blur_radius, blur_sigma, angles), 0, 1) * 255) / 255
    # cv2's RGB2GRAY luma; a grey image is its own greyscale.
    grey = x if channels == 1 else np.tensordot(np.array([0.299, 0.587, 0.114]), x, axes=([0], [1]))[:, None]
    whitened = blend * x + (1 - blend) * np.maximum(x, grey * 1.5 + 0.5)
    return whitened + layer + layer[:, :, ::-1, ::-1]


def _frost(x: Array, c: tuple[float, float], rngs: Generators) -> Array:
    image_weight, frost_weight = c
    return image_weight * x + frost_weight * _frost_textures(rngs, *x.shape[-2:])[:, None]


def _frost_textures(rngs: Generators, h: int, w: int) -> Array:
    # Stand-in for the benchmark's frost photographs (see DIFFERENCES): a rough plasma fractal as icy haze
    # plus needles, short bright strokes along the three axes of hexagonal ice at a random orientation.
    n = len(rngs)
    haze = _plasma_fractal(rngs, _map_size(h, w), wibble_decay=1.5)[:, :h, :w]
    count, steps = max(1, round(h * w / 16)), 12
    orientation = np.array([rng.uniform(0, np.pi) for rng in rngs])
    u = np.stack([rng.random((count, 6)) for rng in rngs])  # [N, needles, 6]
    angle = orientation[:, None] + np.floor(3 * u[..., 2]) * np.pi / 3 + 0.2 * (u[..., 3] - 0.5)
    length = 2 + 6 * u[..., 4]
    t = np.linspace(0, 1, steps)
    rows = np.rint(u[..., 0, None] * h + t * (length * np.sin(angle))[..., None]).astype(np.int64)
    cols = np.rint(u[..., 1, None] * w + t * (length * np.cos(angle))[..., None]).astype(np.int64)
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    brightness = np.broadcast_to((0.5 + 0.5 * u[..., 5])[..., None], rows.shape)
    batch = np.broadcast_to(np.arange(n)[:, None, None], rows.shape)
    needles = np.zeros((n, h * w))
    np.maximum.at(needles, (batch[inside], rows[inside] * w + cols[inside]), brightness[inside])
    needles = ndimage.gaussian_filter(needles.reshape(n, h, w), sigma=(0, 0.5, 0.5), mode="nearest")
    return np.clip(0.2 + 0.4 * haze + 0.6 * needles, 0, 1)


def _fog(x: Array, c: tuple[float, float], rngs: Generators) -> Array:
    thickness, wibble_decay = c
    h, w = x.shape[-2:]
    fractal = _plasma_fractal(rngs, _map_size(h, w), wibble_decay)[:, None, :h, :w]
    max_value = x.max(axis=(1, 2, 3), keepdims=True)
    return (x + thickness * fractal) * max_value / (max_value + thickness)


def _map_size(h: int, w: int) -> int:
    # The benchmark's CIFAR fractal is 32×32 (cropped to the image); larger images need a larger power of two.
    return max(32, 1 << (max(h, w) - 1).bit_length())


def _plasma_fractal(rngs: Generators, size: int, wibble_decay: float) -> Array:
    # The benchmark's diamond–square height map, batched over images: per level of step s, each new point is
    # the mean of its 4 neighbours at distance s/2 plus wibble·U(−wibble, wibble) (wibble starts at 100 and is
    # divided by wibble_decay per level); the map is finally scaled to [0, 1]. Each image's uniforms are drawn
    # in one call from its own generator and consumed level by level.
    n = len(rngs)
    levels = []
    step = size
    while step >= 2:
        levels.append(size // step)
        step //= 2
    draws = np.stack([rng.uniform(-1, 1, size=3 * sum(k * k for k in levels)) for rng in rngs])
    used = 0

    def wibbled_mean(total: Array, wibble: float) -> Array:
        nonlocal used
        k = total.shape[1] * total.shape[2]
        noise = draws[:, used : used + k].reshape(total.shape)
        used += k
        return total / 4 + wibble * wibble * noise

    heights = np.zeros((n, size, size))
    step, wibble = size, 100.0
    while step >= 2:
        half = step // 2
        corners = heights[:, 0::step, 0::step]
        square = corners + np.roll(corners, -1, axis=1)
        square = square + np.roll(square, -1, axis=2)
        heights[:, half::step, half::step] = wibbled_mean(square, wibble)
        centres = heights[:, half::step, half::step]
        corners = heights[:, 0::step, 0::step]
        left_right = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=2)
        heights[:, 0::step, half::step] = wibbled_mean(left_right, wibble)
        up_down = centres + np.roll(centres, 1, axis=2) + corners + np.roll(corners, -1, axis=1)
        heights[:, half::step, 0::step] = wibbled_mean(up_down, wibble)
        step //= 2
        wibble /= wibble_decay
    heights -= heights.min(axis=(1, 2), keepdims=True)
    return heights / heights.max(axis=(1, 2), keepdims=True)


def _brightness(x: Array, c: float, rngs: Generators) -> Array:
    # Adding c to HSV's value V = max over channels and converting back scales every channel by V'/V (hue
    # and saturation fixed), and turns black (V = 0, saturation 0) into grey V'; a grey image is its own V.
    value = x.max(axis=1, keepdims=True)
    new_value = np.minimum(value + c, 1.0)
    scale = np.divide(new_value, value, out=np.zeros_like(value), where=value > 0)
    return np.where(value > 0, x * scale, new_value)


def _contrast(x: Array, c: float, rngs: Generators) -> Array:
    means = x.mean(axis=(2, 3), keepdims=True)
    return (x - means) * c + means


def _elastic_transform(x: Array, c: tuple[float, float, float], rngs: Generators) -> Array:
    alpha, sigma, jitter = c
    n, _, h, w = x.shape
    corner_jitter = np.stack([rng.uniform(-jitter, jitter, size=(3, 2)) for rng in rngs])
    fields = np.stack([rng.uniform(-1, 1, size=(2, h, w)) for rng in rngs])  # dx then dy, as in the benchmark
    # The affine part: three points (x, y) around the centre move by the jitter; cv2.warpAffine fills output
    # pixel p from the input at M⁻¹p, M⁻¹ being the affine map from the moved points back to the originals.
    centre = np.array([w // 2, h // 2], dtype=np.float64)
    half = min(h, w) // 3
    original = np.stack([centre + half, centre + [half, -half], centre - half])
    moved = original[None] + corner_jitter
    system = np.concatenate([moved, np.ones((n, 3, 1))], axis=2)  # [N, 3, 3]
    inverse = np.linalg.solve(system, np.broadcast_to(original, (n, 3, 2)))  # [N, 3 (x, y, 1), 2 (x, y)]
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    src_cols = cols * inverse[:, 0, 0, None, None] + rows * inverse[:, 1, 0, None, None] + inverse[:, 2, 0, None, None]
    src_rows = cols * inverse[:, 0, 1, None, None] + rows * inverse[:, 1, 1, None, None] + inverse[:, 2, 1, None, None]
    warped = _bilinear(x, src_rows, src_cols, mode="mirror")
    # The elastic part: skimage gaussian(mode="reflect", truncate=3) of uniform noise, times alpha.
    smooth = ndimage.gaussian_filter(fields, sigma=(0, 0, sigma, sigma), mode="reflect", truncate=3.0) * alpha
    return _bilinear(warped, rows + smooth[:, 1], cols + smooth[:, 0], mode="reflect")


def _bilinear(x: Array, rows: Array, cols: Array, mode: str) -> Array:
    # scipy.ndimage.map_coordinates(order=1) per image and channel, at [N, H, W] positions, with its "mirror"
    # (reflect-101, OpenCV's default) or "reflect" (half-sample symmetric) extension beyond the border.
    n, channels, h, w = x.shape
    flat = x.transpose(0, 2, 3, 1).reshape(n * h * w, channels)
    row0, col0 = np.floor(rows), np.floor(cols)
    row_frac, col_frac = (rows - row0)[..., None], (cols - col0)[..., None]
    row0, col0 = row0.astype(np.int64), col0.astype(np.int64)
    first = (np.arange(n) * (h * w))[:, None, None]
    top, bottom = first + _fold(row0, h, mode) * w, first + _fold(row0 + 1, h, mode) * w
    left, right = _fold(col0, w, mode), _fold(col0 + 1, w, mode)
    upper = flat[top + left] * (1 - col_frac) + flat[top + right] * col_frac
    lower = flat[bottom + left] * (1 - col_frac) + flat[bottom + right] * col_frac
    return (upper * (1 - row_frac) + lower * row_frac).transpose(0, 3, 1, 2)


def _fold(index: Array, size: int, mode: str) -> Array:
    if mode == "mirror":
        period = 2 * size - 2
        index = np.mod(index, period)
        return np.where(index >= size, period - index, index)
    period = 2 * size
    index = np.mod(index, period)
    return np.where(index >= size, period - 1 - index, index)


def _pixelate(x: Array, c: float, rngs: Generators) -> Array:
    h, w = x.shape[-2:]
    small = (int(w * c), int(h * c))
    box = Image.Resampling.BOX
    return _through_pillow(x, lambda image: image.resize(small, box).resize((w, h), box))


def _jpeg_compression(x: Array, c: int, rngs: Generators) -> Array:
    def compress(image: Image.Image) -> Image.Image:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=c)
        buffer.seek(0)
        return Image.open(buffer)

    return _through_pillow(x, compress)


def _through_pillow(x: Array, transform: Callable[[Image.Image], Image.Image]) -> Array:
    # The benchmark applies these two to the PIL image ("L" for grey, "RGB" for colour), per image.
    pixels = np.rint(x * 255).astype(np.uint8).transpose(0, 2, 3, 1)
    out = np.empty_like(pixels)
    for i, image in enumerate(pixels):
        # Pillow infers "L" from a 2-D uint8 array and "RGB" from [H, W, 3].
        result = np.asarray(transform(Image.fromarray(image.squeeze(-1) if x.shape[1] == 1 else image)))
        out[i] = result.reshape(out.shape[1:])
    return out.transpose(0, 3, 1, 2).astype(np.float64) / 255


_IMPLEMENTATIONS: dict[str, Callable[[Array, object, Generators], Array]] = {
    "gaussian_noise": _gaussian_noise,
    "shot_noise": _shot_noise,
    "impulse_noise": _impulse_noise,
    "defocus_blur": _defocus_blur,
    "glass_blur": _glass_blur,
    "motion_blur": _motion_blur,
    "zoom_blur": _zoom_blur,
    "snow": _snow,
    "frost": _frost,
    "fog": _fog,
    "brightness": _brightness,
    "contrast": _contrast,
    "elastic_transform": _elastic_transform,
    "pixelate": _pixelate,
    "jpeg_compression": _jpeg_compression,
}
