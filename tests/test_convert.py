import pytest
import torch
from torch import nn

from snnconv.method.convert import Calibration, calibrate_thresholds, convert, load_ann_weights, percentile
from snnconv.method.models import Normalization, SpikingNetwork, Stage, build
from snnconv.method.neurons import SpikingNeuron
from snnconv.method.tdbn import TemporalBatchNorm2d


def _toy(weight: float = 1.0) -> SpikingNetwork:
    """Two stages on a 1×2×2 input: identity-like conv + tdBN, then a linear layer."""
    conv = nn.Conv2d(1, 1, kernel_size=1, bias=False)
    linear = nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        conv.weight.fill_(weight)
        linear.weight.fill_(1.0)
    stages = [Stage([conv, TemporalBatchNorm2d(1)], SpikingNeuron()), Stage([nn.Flatten(), linear], SpikingNeuron())]
    return SpikingNetwork(Normalization((0.0,), (1.0,)), stages, [nn.Linear(2, 2)])


def test_percentile_is_nearest_rank():
    values = torch.arange(1, 1001, dtype=torch.float32)
    assert percentile(values, 99.7).item() == 997.0  # k = 1 + round(0.997·999) = 997
    assert percentile(values, 100).item() == 1000.0


def test_first_layer_threshold_is_the_percentile_of_its_normalized_input():
    torch.manual_seed(0)
    net = _toy()
    batches = [torch.rand(16, 1, 2, 2) for _ in range(3)]
    settings = Calibration(time_steps=5, percentile=90.0, batches=3, batch_size=16)
    thresholds = calibrate_thresholds(net, batches, settings)
    # Layer 1's current is BN (batch statistics, φ=1, ω=0) of the input, constant over time:
    expected = max(
        percentile((b - b.mean()) / torch.sqrt(b.var(unbiased=False) + 1e-5), 90.0).item() for b in batches
    )
    assert thresholds[0] == pytest.approx(expected, rel=1e-5)
    assert net.stages[0].neuron.threshold.item() == pytest.approx(expected, rel=1e-5)
    # Layer 2 is calibrated on the spikes of the calibrated layer 1: its current counts spikes (≤ 4).
    assert 0 < thresholds[1] <= 4.0


def test_calibration_leaves_running_statistics_untouched():
    net = _toy()
    calibrate_thresholds(net, [torch.rand(8, 1, 2, 2)], Calibration(time_steps=3, batches=1, batch_size=8))
    bn = net.stages[0].block[1]
    assert bn.num_batches_tracked.item() == 0 and torch.equal(bn.running_mean, torch.zeros(1))


def test_convert_scales_by_kappa_and_resets_running_statistics():
    torch.manual_seed(0)
    ann = _toy(weight=2.0)
    ann(torch.rand(8, 1, 2, 2))  # the ANN's BN tracks statistics that must not be carried over
    snn = _toy(weight=0.0)
    batches = [torch.rand(8, 1, 2, 2)]
    settings = Calibration(time_steps=4, batches=1, batch_size=8, scale=0.3)
    calibrated = convert(snn, ann.state_dict(), batches, settings)
    assert snn.stages[0].block[0].weight.item() == 2.0  # weights copied
    assert [n.threshold.item() for n in snn.neurons] == pytest.approx([0.3 * t for t in calibrated])
    bn = snn.stages[0].block[1]
    assert torch.equal(bn.running_mean, torch.zeros(1)) and torch.equal(bn.running_var, torch.ones(1))


def test_load_rejects_a_different_architecture():
    with pytest.raises(ValueError, match="do not match"):
        load_ann_weights(_toy(), build("vgg_small", "fashion_mnist").state_dict())


def test_convert_checks_the_number_of_batches():
    with pytest.raises(ValueError, match="calibration batches"):
        convert(_toy(), _toy().state_dict(), [torch.rand(4, 1, 2, 2)], Calibration(batches=2))


def test_calibration_settings_are_validated():
    with pytest.raises(ValueError, match="percentile"):
        Calibration(percentile=120)
    with pytest.raises(ValueError, match="time_steps"):
        Calibration(time_steps=0)


def _reference_thresholds(snn, batches, settings):
    """Calibration as first written: every tensor whole, T_c copies of the first current, kthvalue on all entries."""
    from snnconv.method.surrogates import TRAINING_GRADIENT
    from snnconv.method.tdbn import batch_statistics

    steps, thresholds = settings.time_steps, []
    with torch.no_grad(), batch_statistics(snn):
        for layer, stage in enumerate(snn.stages):
            threshold = torch.zeros(())
            for images in batches:
                x = snn.normalize(images)
                for index, earlier in enumerate(snn.stages[:layer]):
                    x = earlier.block(x)
                    if index == 0:
                        x = x.unsqueeze(0).expand(steps, *x.shape).reshape(steps * images.shape[0], *x.shape[1:])
                    x = earlier.neuron(x, steps, TRAINING_GRADIENT)
                current = stage.block(x).reshape(-1)
                rank = 1 + round(0.01 * settings.percentile * (current.numel() - 1))
                threshold = torch.maximum(threshold, current.kthvalue(rank).values)
            stage.neuron.threshold.fill_(threshold.item())
            thresholds.append(threshold.item())
    return thresholds


def test_bounded_memory_calibration_gives_the_reference_thresholds_bit_for_bit(monkeypatch):
    # Small chunks and a small direct-selection limit, so that every bounded-memory path runs on a small network.
    import snnconv.method.convert as convert_module

    monkeypatch.setattr(convert_module, "CONVOLUTION_CHUNK", 48)
    monkeypatch.setattr(convert_module, "DIRECT_SELECTION", 1000)
    settings = Calibration(time_steps=40, batches=2, batch_size=6)
    batches = [torch.rand(6, 1, 28, 28) for _ in range(2)]
    torch.manual_seed(3)
    reference = build("vgg_small", "fashion_mnist").eval()
    bounded = build("vgg_small", "fashion_mnist").eval()
    bounded.load_state_dict(reference.state_dict())
    assert calibrate_thresholds(bounded, batches, settings) == _reference_thresholds(reference, batches, settings)


def test_percentile_narrowing_selects_the_same_entry(monkeypatch):
    import snnconv.method.convert as convert_module

    monkeypatch.setattr(convert_module, "DIRECT_SELECTION", 500)
    for values in (torch.randn(20_000), torch.randint(0, 3, (20_000,)).float(), torch.ones(5_000)):
        for q in (0.0, 50.0, 99.7, 100.0):
            rank = 1 + round(0.01 * q * (values.numel() - 1))
            assert torch.equal(percentile(values, q), values.kthvalue(rank).values)


def test_in_place_and_constant_input_neurons_fire_as_the_forward_does():
    neuron = SpikingNeuron(threshold=0.7)
    for steps in (8, 40):  # the fused kernel and the step-by-step path
        current = torch.randn(steps * 5, 3, 4, 4)
        expected = neuron(current, steps)
        assert torch.equal(neuron.fire_in_place(current.clone(), steps), expected)
        constant = torch.randn(5, 3, 4, 4)
        repeated = constant.unsqueeze(0).expand(steps, *constant.shape).reshape(steps * 5, 3, 4, 4)
        assert torch.equal(neuron.constant_input(constant, steps), neuron(repeated, steps))


def test_returning_freed_memory_restores_the_allocator_setting():
    import ctypes

    from snnconv.foundations import memory

    tcmalloc = memory._tcmalloc()
    if tcmalloc is None:
        with memory.returning_freed_memory():  # another allocator: nothing to switch, nothing breaks
            pass
        return
    value = ctypes.c_size_t(0)

    def current() -> int:
        tcmalloc.MallocExtension_GetNumericProperty(memory._PROPERTY, ctypes.byref(value))
        return value.value

    before = current()
    with memory.returning_freed_memory():
        assert current() == 1
    assert current() == before
