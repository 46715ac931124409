"""ANN-to-SNN conversion, Algorithm 1 lines 3–16, as four named stages.

1. :func:`load_ann_weights` — copy the ANN's weights and batch-norm affine parameters
   :math:`\\varphi, \\omega` into the SNN; the ANN's running statistics are *not* kept.
2. :func:`calibrate_thresholds` — layer by layer, simulate :math:`T_c` steps of direct coding on a
   few training batches (batch-norm on the batch's own spatio-temporal statistics), record the
   pre-activation (the current entering the neuron) and set :math:`V_{th}^l` to the largest
   :math:`\\rho`-percentile seen over the batches; later layers see spikes of the calibrated earlier ones.
3. :func:`scale_thresholds` — :math:`V_{th}^l \\leftarrow \\kappa V_{th}^l` with :math:`\\kappa<1`, so more
   spikes flow initially.
4. :func:`~snnconv.method.tdbn.reset_running_statistics` — tdBN's running statistics start from scratch and are
   re-estimated on spikes during finetuning.

:func:`convert` runs the four in order. Defaults follow Suppl. A.2: :math:`T_c=100`,
:math:`\\rho=99.7\\%`, 10 batches of 64, :math:`\\kappa=0.3`.
"""

from __future__ import annotations

import torch
from torch import nn
from tqdm import tqdm

from snnconv.foundations.memory import returning_freed_memory
from snnconv.foundations.paths import PROGRESS_INTERVAL
from snnconv.method.calibration import Calibration
from snnconv.method.models import Simulation, SpikingModel, SpikingNetwork
from snnconv.method.neurons import SpikingNeuron
from snnconv.method.surrogates import TRAINING_GRADIENT
from snnconv.method.tdbn import TemporalBatchNorm2d, batch_statistics, reset_running_statistics

_RUNNING_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")


def load_ann_weights(snn: SpikingModel, ann_state: dict[str, torch.Tensor]) -> None:
    """Stage 1, Algorithm 1 l. 3: weights and BN affine parameters from the ANN; its running statistics are dropped.

    Sec. 3.1: the SNN keeps the ANN's :math:`\\mathbf{W}^l` and batch-norm :math:`\\varphi^l, \\omega^l`, but
    not its moving averages. The SNN keeps its own neuron state (threshold, leak :math:`\\tau`, reset
    mode): the ANN's copies of those buffers are placeholders, and copying them would turn a configured
    LIF (:math:`\\tau = 0.99`, soft reset) back into a hard-reset IF neuron.

    Raises:
        ValueError: if the ANN's parameters do not match the SNN's (missing, unexpected or mis-shaped).
    """
    neurons = tuple(f"{name}." for name, module in snn.named_modules() if isinstance(module, SpikingNeuron))
    kept = {k: v for k, v in ann_state.items() if not k.endswith(_RUNNING_STATISTICS) and not k.startswith(neurons)}
    try:
        missing, unexpected = snn.load_state_dict(kept, strict=False)
    except RuntimeError as error:  # shape mismatches
        raise ValueError(f"ANN and SNN do not match: {error}") from None
    missing = [k for k in missing if not k.endswith(_RUNNING_STATISTICS) and not k.startswith(neurons)]
    if missing or unexpected:
        raise ValueError(f"ANN and SNN do not match: missing {missing}, unexpected {unexpected}.")


#: Above this many entries, :func:`percentile` first narrows the search to a bracket of the k-th value.
DIRECT_SELECTION = 1 << 24


def percentile(values: torch.Tensor, q: float) -> torch.Tensor:
    """The ``q``-th percentile of all entries: the ρ-percentile of Algorithm 1, l. 9–10.

    The sorted entry of rank :math:`k = \\mathrm{round}(q/100 \\cdot (n-1))`, as ``torch.quantile`` with
    ``interpolation="nearest"`` computes it, but exact and without its 16M-element limit. ``kthvalue`` on all
    :math:`n` entries would copy them and allocate as many 64-bit indices (GBs for VGG11's calibration), so large
    inputs are first narrowed: bounds from an evenly strided sample bracket the k-th value, the entries outside
    are only counted, and the selection runs on the entries inside — the same entry, in a fraction of the memory.

    >>> percentile(torch.arange(100.0), 99.0)
    tensor(98.)
    """
    flat = values.reshape(-1).float()
    n = flat.numel()
    k = 1 + round(0.01 * q * (n - 1))
    if n <= DIRECT_SELECTION:
        return flat.kthvalue(k).values
    sample = flat[:: max(1, n // (1 << 20))].sort().values
    position = (k - 1) / (n - 1) * (sample.numel() - 1)
    for margin in (1 << 10, 1 << 14, sample.numel()):  # a wider bracket whenever the k-th value fell outside
        low = sample[max(0, int(position) - margin)]
        high = sample[min(sample.numel() - 1, int(position) + 1 + margin)]
        if margin == sample.numel():
            low, high = flat.min(), flat.max()
        parts = flat.split(DIRECT_SELECTION)  # masks of one part at a time, not of all n entries
        below = sum(int((part < low).sum()) for part in parts)
        if below < k <= sum(int((part <= high).sum()) for part in parts):
            inside = torch.cat([part[(part >= low) & (part <= high)] for part in parts])
            return inside.kthvalue(k - below).values
    raise AssertionError("unreachable: the last bracket holds every entry")


#: Images per chunk when calibration convolves the merged :math:`T_c \\cdot B` batch.
CONVOLUTION_CHUNK = 512


def _bounded(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module(x)`` inside calibration, with the same numbers in less memory: a convolution runs over chunks of
    the merged batch into one output (its own buffers would otherwise double the output), and tdBN normalizes
    in place, still with the statistics of the whole merged batch (Eq. 8)."""
    if isinstance(module, nn.Conv2d) and x.shape[0] > CONVOLUTION_CHUNK:
        first = module(x[:CONVOLUTION_CHUNK])
        out = first.new_empty((x.shape[0], *first.shape[1:]))
        out[:CONVOLUTION_CHUNK] = first
        for start in range(CONVOLUTION_CHUNK, x.shape[0], CONVOLUTION_CHUNK):
            out[start : start + CONVOLUTION_CHUNK] = module(x[start : start + CONVOLUTION_CHUNK])
        return out
    if isinstance(module, TemporalBatchNorm2d) and module.batch_statistics_only:
        mean, invstd = x.new_empty(x.shape[1]), x.new_empty(x.shape[1])
        torch.ops.aten.native_batch_norm.out(x, module.weight, module.bias, None, None, True, 0.0, module.eps,
                                             out=x, save_mean=mean, save_invstd=invstd)
        return x
    return module(x)


@torch.no_grad()
def calibrate_thresholds(
    snn: SpikingModel, batches: list[torch.Tensor], settings: Calibration = Calibration(), progress: bool = False
) -> list[float]:
    """Stage 2, Algorithm 1 l. 4–13: each layer's threshold is the max over batches of its ρ-percentile pre-activation.

    Layer by layer (Sec. 3.1), :math:`T_c` steps of direct coding with tdBN on the batch's own statistics;
    later layers see the spikes of the already calibrated ones. The running max starts at 0, as in the
    authors' code (Algorithm 1, l. 9 compares with the current :math:`V_{th}^l`). Returns the calibrated
    thresholds, one per spiking layer, before scaling by κ.

    Memory: the constant input current of the first layer is never replicated over :math:`T_c` (its percentile
    over :math:`T_c` identical copies is its percentile over one, and its neuron reads it without copies), only
    one layer's activations are alive at a time, convolutions run in chunks, tdBN works in place, and the
    percentile selects without copying — all with the same numbers. Each layer still holds all
    :math:`T_c \\cdot B` steps at once, because tdBN normalises with the statistics of the whole merged batch.
    ``make bench`` measures VGG11's peak at :math:`T_c=100`, batch 64 (the book's Performance page).

    The first layer's percentile is taken over one copy of its constant current; over its :math:`T_c` copies, as
    the authors' code takes it, the nearest rank can fall on the adjacent order statistic. Networks other than the
    VGGs (the residual networks) are calibrated by the same rule through hooks on their spiking layers.
    """
    current_of = _stage_current if isinstance(snn, SpikingNetwork) else _hooked_current
    training = snn.training
    snn.eval()  # dropout off; tdBN uses the batch's statistics via batch_statistics()
    thresholds: list[float] = []
    with batch_statistics(snn), returning_freed_memory():
        layers = tqdm(list(enumerate(snn.neurons)), desc="calibrating thresholds", disable=not progress,
                      mininterval=PROGRESS_INTERVAL)
        for layer, neuron in layers:
            # The running max starts at 0, as in the authors' code (Alg. 1 compares with V_th instead).
            threshold = torch.zeros(())
            for images in batches:
                current = current_of(snn, layer, images, settings.time_steps)
                threshold = torch.maximum(threshold, percentile(current, settings.percentile).cpu())
                del current  # at T_c = 100 one layer's merged activations take GBs
            neuron.threshold.fill_(threshold.item())
            thresholds.append(threshold.item())
    snn.train(training)
    return thresholds


def _stage_current(snn: SpikingNetwork, layer: int, images: torch.Tensor, steps: int) -> torch.Tensor:
    """The input current of the VGG's spiking layer ``layer`` over ``steps`` steps, in bounded memory: module by
    module and rebinding ``x``, so that each tensor is freed once the next one exists."""
    x = snn.normalize(images)
    for index, earlier in enumerate(snn.stages[:layer]):
        for module in earlier.block:
            x = _bounded(module, x)
        if index == 0:  # direct coding: a constant current, simulated without T copies of it
            x = earlier.neuron.constant_input(x, steps, TRAINING_GRADIENT)
        else:  # the spikes overwrite the current: tdBN's output is this loop's own tensor
            x = earlier.neuron.fire_in_place(x, steps)
    for module in snn.stages[layer].block:
        x = _bounded(module, x)
    return x


class _Reached(Exception):
    """Raised by a spiking layer's pre-hook once its input current is captured: nothing after it needs to run."""


def _hooked_current(snn: SpikingModel, layer: int, images: torch.Tensor, steps: int) -> torch.Tensor:
    """The input current of spiking layer ``layer`` of any topology (the residual networks), captured by a hook on
    that layer during a whole-network forward pass that stops there. Unlike :func:`_stage_current`, the network's
    own forward keeps each block's tensors alive until it returns (a GPU's memory holds them at the paper profile).
    The first layer's constant current is taken once, as :func:`_stage_current` takes it."""
    captured: list[torch.Tensor] = []

    def capture(module: nn.Module, args: tuple) -> None:
        captured.append(args[0])
        raise _Reached

    hook = snn.neurons[layer].register_forward_pre_hook(capture)
    try:
        snn(images, Simulation(steps))
    except _Reached:
        pass
    finally:
        hook.remove()
    current = captured.pop()
    return current.view(steps, -1, *current.shape[1:])[0] if layer == 0 else current


@torch.no_grad()
def scale_thresholds(snn: SpikingModel, scale: float) -> None:
    """Stage 3, Algorithm 1 l. 14–16: :math:`V_{th}^l \\leftarrow \\kappa V_{th}^l` for every spiking layer.

    Suppl. A.2 uses :math:`\\kappa = 0.3` (CIFAR-10, SVHN) and 0.1 (CIFAR-100, TinyImageNet).
    """
    for neuron in snn.neurons:
        neuron.threshold.mul_(scale)


def convert(
    snn: SpikingModel,
    ann_state: dict[str, torch.Tensor],
    batches: list[torch.Tensor],
    settings: Calibration = Calibration(),
    progress: bool = False,
) -> list[float]:
    """Algorithm 1, lines 3–16: the four stages in order. Returns the calibrated (unscaled) thresholds."""
    if len(batches) != settings.batches:
        raise ValueError(f"expected {settings.batches} calibration batches, got {len(batches)}.")
    load_ann_weights(snn, ann_state)
    thresholds = calibrate_thresholds(snn, batches, settings, progress)
    scale_thresholds(snn, settings.scale)
    reset_running_statistics(snn)
    return thresholds
