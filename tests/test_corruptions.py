"""The generated common corruptions (Hendrycks & Dietterich 2019) used for Tables B6/B7 on Fashion-MNIST."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from matplotlib.colors import hsv_to_rgb, rgb_to_hsv
from PIL import Image
from scipy import ndimage

import snnconv.datasets.corruptions as corruptions
from snnconv.datasets.corruptions import DIFFERENCES, RANDOM_CORRUPTIONS, SEVERITY_CONSTANTS, corrupt
from snnconv.datasets.data import CORRUPTIONS, SEVERITIES

torch.set_num_threads(1)

SEED = 7


def blobs(n: int, channels: int, size: int, seed: int = 0) -> torch.Tensor:
    """Natural-looking test images: a few smooth Gaussian blobs on a dark background, stored as uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    cy, cx = rng.uniform(4, size - 4, (2, n, 4, 1, 1, 1))
    width = rng.uniform(2, 6, (n, 4, 1, 1, 1))
    amplitude = rng.uniform(0.3, 0.9, (n, 4, channels, 1, 1))
    images = (amplitude * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width**2))).sum(axis=1)
    return torch.from_numpy(np.rint(np.clip(images, 0, 1) * 255) / 255).float()


GREY = blobs(6, 1, 28)
RGB = blobs(4, 3, 32, seed=1)


def stored(values: np.ndarray) -> np.ndarray:
    """The benchmark's storage: clip to [0, 1], truncate to uint8 (np.uint8), back to [0, 1]."""
    return np.floor(np.clip(values, 0, 1) * 255 + 1e-6) / 255


def assert_uint8_valued(out: torch.Tensor) -> None:
    scaled = out.double() * 255
    assert torch.all((out >= 0) & (out <= 1))
    assert torch.allclose(scaled, scaled.round(), atol=1e-3)


# --- shape, range, quantisation -------------------------------------------------------------------------


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_every_corruption_keeps_shape_dtype_and_range(corruption):
    for images in (GREY, RGB):
        for severity in (1, 5):
            out = corrupt(images, corruption, severity, seed=SEED)
            assert out.shape == images.shape and out.dtype == images.dtype and out.device == images.device
            assert_uint8_valued(out)
            assert not torch.equal(out, images), (corruption, severity)


def test_float64_input_stays_float64_and_empty_batch_is_fine():
    out = corrupt(GREY.double(), "fog", 2, seed=SEED)
    assert out.dtype == torch.float64
    assert_uint8_valued(out)
    assert corrupt(GREY[:0], "snow", 3, seed=SEED).shape == (0, 1, 28, 28)


def test_tables_cover_the_benchmark():
    assert set(SEVERITY_CONSTANTS) == set(CORRUPTIONS)
    assert all(len(values) == len(SEVERITIES) for values in SEVERITY_CONSTANTS.values())
    assert set(DIFFERENCES) <= set(CORRUPTIONS) and set(RANDOM_CORRUPTIONS) <= set(CORRUPTIONS)
    assert all(isinstance(text, str) and text.endswith(".") for text in DIFFERENCES.values())
    # np.arange's float end point: 1.00..1.06 is 7 factors, as in the benchmark's zoom_blur.
    assert [len(z) for z in SEVERITY_CONSTANTS["zoom_blur"]] == [7, 12, 16, 21, 26]
    assert "Hendrycks & Dietterich 2019" in (corrupt.__doc__ or "")
    assert "Hendrycks & Dietterich 2019" in (corruptions.__doc__ or "")


# --- determinism and batch independence -----------------------------------------------------------------


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_same_seed_same_result_and_other_seed_differs_where_random(corruption):
    first = corrupt(GREY, corruption, 3, seed=SEED)
    assert torch.equal(first, corrupt(GREY, corruption, 3, seed=SEED))
    other = corrupt(GREY, corruption, 3, seed=SEED + 1)
    if corruption in RANDOM_CORRUPTIONS:
        assert not torch.equal(first, other)
    else:
        assert torch.equal(first, other)


@pytest.mark.parametrize("corruption", RANDOM_CORRUPTIONS)
def test_an_image_does_not_depend_on_the_rest_of_the_batch(corruption):
    for images in (GREY, RGB):
        whole = corrupt(images, corruption, 4, seed=SEED)
        alone = corrupt(images[2:3], corruption, 4, seed=SEED, offset=2)
        assert torch.equal(alone, whole[2:3])
        # Chunks with their offsets rebuild the whole batch.
        chunks = torch.cat([corrupt(images[:1], corruption, 4, SEED), corrupt(images[1:], corruption, 4, SEED, 1)])
        assert torch.equal(chunks, whole)


@pytest.mark.parametrize("corruption", ["glass_blur", "frost", "elastic_transform", "jpeg_compression"])
def test_internal_chunks_do_not_change_the_result(corruption, monkeypatch):
    whole = corrupt(RGB, corruption, 5, seed=SEED)
    monkeypatch.setattr(corruptions, "_CHUNK", 3)
    assert torch.equal(corrupt(RGB, corruption, 5, seed=SEED), whole)


def test_the_index_selects_the_generator():
    # Image 2 corrupted as if it were image 0 gets image 0's noise, not image 2's.
    whole = corrupt(GREY, "gaussian_noise", 5, seed=SEED)
    alone = corrupt(GREY[2:3], "gaussian_noise", 5, seed=SEED)
    assert not torch.equal(alone, whole[2:3])


# --- severity ---------------------------------------------------------------------------------------------

# Not monotone under the benchmark's own constants (our measurements on smooth blobs):
# * glass_blur: severities 1-3 share one pass of pixel moves with a growing blur σ (0.05, 0.25, 0.4), and the
#   blur smooths the moves' jaggedness back toward the smooth original, so the change stays flat (4-5 likewise,
#   with two passes); only severity 5 > 1 and two passes > one are asserted.
# * frost: severities 3 and 4 blend the same amount of frost (0.4) while 4 keeps less of the image (0.85 vs
#   0.9), which lowers bright pixels and can reduce the absolute change; only 5 > 1 is asserted.
# * elastic_transform: the CIFAR constants shrink the random affine jitter from 0.08·32 to 0.03·32 px with
#   severity while the smoothed elastic field stays about a pixel or less, so the change *decreases* with
#   severity; we assert that, to notice if the constants change.
NOT_MONOTONE = {"glass_blur", "frost", "elastic_transform"}


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_change_grows_with_severity(corruption):
    images = blobs(16, 1, 28, seed=3)
    change = [float((corrupt(images, corruption, s, seed=SEED) - images).abs().mean()) for s in SEVERITIES]
    if corruption == "elastic_transform":
        assert change[4] < change[0], change
    elif corruption in NOT_MONOTONE:
        assert change[4] > change[0], change
        if corruption == "glass_blur":
            assert min(change[3:]) > max(change[:3]), change
    else:
        assert all(a <= b for a, b in zip(change, change[1:], strict=False)), change
        assert change[4] > change[0], change


# --- formulas checked by hand ---------------------------------------------------------------------------


@pytest.mark.parametrize(("severity", "c"), [(1, 0.04), (3, 0.08), (5, 0.10)])
def test_gaussian_noise_is_x_plus_normal_noise(severity, c):
    x = RGB.double().numpy()
    noise = np.stack([np.random.default_rng([SEED, 10 + i]).normal(size=x.shape[1:]) for i in range(len(x))])
    out = corrupt(RGB, "gaussian_noise", severity, seed=SEED, offset=10).double().numpy()
    np.testing.assert_allclose(out, stored(x + c * noise), atol=1e-6)


@pytest.mark.parametrize(("severity", "c"), [(1, 0.75), (2, 0.5), (3, 0.4), (4, 0.3), (5, 0.15)])
def test_contrast_scales_around_the_per_image_mean(severity, c):
    for images in (GREY, RGB):
        x = images.double().numpy()
        means = x.mean(axis=(2, 3), keepdims=True)
        out = corrupt(images, "contrast", severity, seed=SEED).double().numpy()
        np.testing.assert_allclose(out, stored((x - means) * c + means), atol=1e-6)


@pytest.mark.parametrize(("severity", "c"), [(1, 0.05), (5, 0.3)])
def test_brightness_adds_to_the_hsv_value(severity, c):
    # Grey: the value is the intensity itself.
    x = GREY.double().numpy()
    np.testing.assert_allclose(corrupt(GREY, "brightness", severity, SEED).double().numpy(), stored(x + c), atol=1e-6)
    # Colour: a true HSV round trip (matplotlib's), up to one uint8 step where truncation meets rounding error.
    rgb = RGB.clone()
    rgb[0, :, :5, :5] = 0  # black, where hue and saturation are undefined
    hsv = rgb_to_hsv(rgb.double().numpy().transpose(0, 2, 3, 1))
    hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)
    expected = stored(hsv_to_rgb(hsv).transpose(0, 3, 1, 2))
    out = corrupt(rgb, "brightness", severity, SEED).double().numpy()
    assert np.abs(out - expected).max() <= 1 / 255 + 1e-6
    assert np.mean(np.abs(out - expected) > 1e-6) < 0.01


def _pillow_box_matrix(n_in: int, n_out: int) -> np.ndarray:
    # Pillow's BOX filter: output j averages the input pixels whose centres lie in its box (a width of one
    # input pixel when enlarging, i.e. nearest neighbour).
    scale = n_in / n_out
    distance = np.abs(np.arange(n_in)[None] + 0.5 - (np.arange(n_out)[:, None] + 0.5) * scale)
    inside = distance < scale / 2 if scale >= 1 else distance <= 0.5
    return inside / inside.sum(axis=1, keepdims=True)


@pytest.mark.parametrize(("severity", "c"), [(1, 0.95), (3, 0.85), (5, 0.65)])
def test_pixelate_is_a_box_down_and_up_sample(severity, c):
    for images in (GREY, RGB):
        size = images.shape[-1]
        small = int(size * c)
        down, up = _pillow_box_matrix(size, small), _pillow_box_matrix(small, size)
        rounded = lambda v: np.floor(v + 0.5)  # noqa: E731 (Pillow rounds each 8-bit pass half up)
        x = images.double().numpy() * 255
        expected = rounded(up @ rounded(rounded(down @ rounded(x @ down.T)) @ up.T)) / 255
        out = corrupt(images, "pixelate", severity, seed=SEED).double().numpy()
        np.testing.assert_allclose(out, expected, atol=1e-6)


@pytest.mark.parametrize(("severity", "quality"), [(1, 80), (3, 58), (5, 40)])
def test_jpeg_compression_is_pillow_jpeg_at_the_quality(severity, quality):
    for images in (GREY, RGB):
        pixels = np.rint(images.numpy() * 255).astype(np.uint8).transpose(0, 2, 3, 1)
        expected = []
        for image in pixels:
            buffer = io.BytesIO()
            Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(buffer, "JPEG", quality=quality)
            expected.append(np.asarray(Image.open(io.BytesIO(buffer.getvalue()))).reshape(image.shape))
        expected = np.stack(expected).transpose(0, 3, 1, 2) / 255
        out = corrupt(images, "jpeg_compression", severity, seed=SEED).double().numpy()
        np.testing.assert_allclose(out, expected, atol=1e-6)


# --- private pieces against the libraries the benchmark called ------------------------------------------


def test_clipped_zoom_matches_scipy_zoom():
    rng = np.random.default_rng(0)
    for size in (28, 32):
        x = rng.random((2, 3, size, size))
        for factor in (1.0, *SEVERITY_CONSTANTS["zoom_blur"][4][1::5], 1.75, 2.25):
            # The benchmark's clipped_zoom, on one [H, W, C] image.
            crop = int(np.ceil(size / factor))
            top = (size - crop) // 2
            expected = []
            for image in x.transpose(0, 2, 3, 1):
                zoomed = ndimage.zoom(image[top : top + crop, top : top + crop], (factor, factor, 1), order=1)
                trim = (zoomed.shape[0] - size) // 2
                expected.append(zoomed[trim : trim + size, trim : trim + size].transpose(2, 0, 1))
            np.testing.assert_allclose(corruptions._clipped_zoom(x, factor), np.stack(expected), atol=1e-12)


@pytest.mark.parametrize("mode", ["mirror", "reflect"])
def test_bilinear_matches_map_coordinates(mode):
    rng = np.random.default_rng(1)
    x = rng.random((2, 3, 12, 10))
    rows, cols = rng.uniform(-6, 18, (2, 2, 12, 10))
    expected = np.stack(
        [[ndimage.map_coordinates(x[n, c], [rows[n], cols[n]], order=1, mode=mode) for c in range(3)] for n in range(2)]
    )
    np.testing.assert_allclose(corruptions._bilinear(x, rows, cols, mode), expected, atol=1e-12)


def test_glass_blur_moves_pixels_like_the_benchmark_loop():
    # The benchmark's loop on an H×W×3 uint8 array, whose tuple "swap" of NumPy views copies.
    class Fixed:
        def __init__(self, moves):
            self.moves = moves

        def integers(self, low, high, size, dtype=np.int64):
            return self.moves

    rng = np.random.default_rng(2)
    n, h, w, sigma, passes = 2, 12, 11, 0.25, 2
    x = rng.random((n, 3, h, w))
    moves = [rng.integers(-1, 1, size=(passes, 2, h - 2, w - 2)) for _ in range(n)]
    out = corruptions._glass_blur(x, (sigma, 1, passes), [Fixed(m) for m in moves])
    for i in range(n):
        blurred = ndimage.gaussian_filter(x[i], (0, sigma, sigma), mode="nearest", truncate=4.0)
        y = np.floor(blurred * 255 + 1e-6).astype(np.uint8).transpose(1, 2, 0).copy()
        for k in range(passes):
            for row in range(h - 1, 1, -1):
                for col in range(w - 1, 1, -1):
                    dx, dy = moves[i][k, :, row - 2, col - 2]
                    y[row, col], y[row + dy, col + dx] = y[row + dy, col + dx], y[row, col]
        expected = ndimage.gaussian_filter(y.transpose(2, 0, 1) / 255, (0, sigma, sigma), mode="nearest", truncate=4.0)
        np.testing.assert_allclose(out[i], expected, atol=1e-12)


def test_defocus_kernels_are_normalised_disks():
    for radius, alias in SEVERITY_CONSTANTS["defocus_blur"]:
        kernel = corruptions._disk(radius, alias)
        assert kernel.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(kernel, kernel.T)
        assert kernel[kernel.shape[0] // 2, kernel.shape[1] // 2] == kernel.max()


def test_plasma_fractal_spans_zero_to_one():
    maps = corruptions._plasma_fractal([np.random.default_rng(i) for i in range(3)], 32, 2.0)
    assert maps.shape == (3, 32, 32)
    np.testing.assert_allclose(maps.min(axis=(1, 2)), 0)
    np.testing.assert_allclose(maps.max(axis=(1, 2)), 1)


# --- argument errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"corruption": "speckle_noise"}, "corruption"),
        ({"severity": 0}, "severity"),
        ({"severity": 6}, "severity"),
        ({"severity": 2.0}, "severity"),
        ({"severity": True}, "severity"),
        ({"seed": -1}, "seed"),
        ({"offset": -3}, "offset"),
        ({"images": GREY[0]}, "4-D"),
        ({"images": GREY.repeat(1, 2, 1, 1)}, "channels"),
        ({"images": GREY * 2}, r"\[0, 1\]"),
        ({"images": GREY - 0.5}, r"\[0, 1\]"),
        ({"images": torch.full((1, 1, 28, 28), float("nan"))}, r"\[0, 1\]"),
        ({"images": (GREY * 255).to(torch.uint8)}, "floating-point"),
        ({"images": GREY[:, :, :4, :4]}, "8×8"),
    ],
)
def test_bad_arguments_are_named(kwargs, name):
    arguments = {"images": GREY, "corruption": "fog", "severity": 1, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=name):
        corrupt(**arguments)


def test_unknown_corruption_lists_the_valid_ones():
    with pytest.raises(ValueError, match="gaussian_noise, shot_noise"):
        corrupt(GREY, "blur", 1, 0)


def test_images_must_be_a_tensor():
    with pytest.raises(TypeError, match="images"):
        corrupt(GREY.numpy(), "fog", 1, 0)
