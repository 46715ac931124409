"""The paper profile's architectures: neuron counts as the authors' code builds them, residual wiring, conversion.

Counts from the authors' notes §1: ResNet-20 188,416 (19 spiking layers), WRN-16-4 475,136 (13), VGG11 for
TinyImageNet 610,304 (9), VGG11 for CIFAR 286,720 (10).
"""

import copy

import pytest
import torch
from torch import nn

from snnconv.datasets.data import DATASETS
from snnconv.method.convert import Calibration, calibrate_thresholds, convert
from snnconv.method.models import ARCHITECTURES, Simulation, build
from snnconv.method.network import Normalization
from snnconv.method.neurons import SpikingNeuron
from snnconv.method.residual import BasicBlock, ConvexCombination, ResidualNetwork
from snnconv.method.surrogates import RateApproximation

COUNTS = {
    ("resnet20", "svhn"): (188_416, 19),
    ("wrn16_4", "cifar100"): (475_136, 13),
    ("vgg11_tin", "tinyimagenet"): (610_304, 9),
    ("vgg11", "cifar10"): (286_720, 10),
}


@pytest.mark.parametrize(("arch", "dataset"), list(COUNTS))
def test_neuron_counts_match_the_authors_networks(arch, dataset):
    total, layers = COUNTS[(arch, dataset)]
    sizes = build(arch, dataset).layer_sizes(DATASETS[dataset].shape)
    assert (sum(sizes), len(sizes)) == (total, layers)


def test_wrn_layer_sizes_per_group_as_the_authors_notes_list_them():
    sizes = build("wrn16_4", "cifar100").layer_sizes((3, 32, 32))
    assert sizes == [16_384, *[65_536] * 3, 65_536, *[32_768] * 3, 32_768, *[16_384] * 3, 16_384]


def test_resnet_layer_sizes_per_stage():
    sizes = build("resnet20", "svhn").layer_sizes((3, 32, 32))
    assert sizes == [16_384, *[16_384] * 6, *[8_192] * 6, *[4_096] * 6]


def test_convex_combination_starts_at_one_half_each_and_learns():
    combination = ConvexCombination()
    a, b = torch.ones(2), 3 * torch.ones(2)
    out = combination(a, b)
    assert torch.equal(out, torch.full((2,), 2.0))
    out.sum().backward()
    assert torch.equal(combination.weights.grad, torch.tensor([2.0, 6.0]))


def test_a_widening_wrn_block_projects_its_spikes_and_a_same_width_block_adds_its_input():
    net = build("wrn16_4", "cifar100").eval()
    widening, same = net.blocks[0], net.blocks[1]
    seen = {}
    widening.neuron1.register_forward_hook(lambda m, args, out: seen.__setitem__("spikes", out))
    widening.shortcut.register_forward_pre_hook(lambda m, args: seen.__setitem__("shortcut_in", args[0]))
    assert same.shortcut is None
    with torch.no_grad():
        net(torch.rand(2, 3, 32, 32), Simulation(time_steps=3))
    assert torch.equal(seen["shortcut_in"], seen["spikes"])
    assert set(seen["spikes"].unique().tolist()) <= {0.0, 1.0}


def test_calibration_through_hooks_equals_the_layer_by_layer_path_bit_for_bit(monkeypatch):
    import snnconv.method.convert as convert_module

    torch.manual_seed(0)
    net = build("vgg_small", "fashion_mnist")
    batches = [torch.rand(8, 1, 28, 28) for _ in range(2)]
    settings = Calibration(time_steps=12, batches=2, batch_size=8)
    layer_by_layer = calibrate_thresholds(copy.deepcopy(net), batches, settings)
    monkeypatch.setattr(convert_module, "_stage_current", convert_module._hooked_current)  # the VGG, through hooks
    assert calibrate_thresholds(copy.deepcopy(net), batches, settings) == layer_by_layer


@pytest.mark.parametrize(("arch", "dataset"), [("resnet20", "svhn"), ("wrn16_4", "cifar100")])
def test_residual_networks_convert_from_their_ann(arch, dataset):
    torch.manual_seed(0)
    ann, snn = build(arch, dataset), build(arch, dataset)
    batches = [torch.rand(2, 3, 32, 32)]
    thresholds = convert(snn, ann.state_dict(), batches, Calibration(time_steps=4, batches=1, batch_size=2))
    assert len(thresholds) == len(snn.neurons) and all(t > 0 for t in thresholds)
    assert [n.threshold.item() for n in snn.neurons] == pytest.approx([0.3 * t for t in thresholds])
    for name, value in ann.state_dict().items():
        if name.endswith("weight") and "neuron" not in name:
            assert torch.equal(snn.state_dict()[name], value)
    # The converted SNN: direct coding (a constant first current) and input gradients through every layer. In
    # training mode, because conversion resets tdBN's running statistics that finetuning then collects.
    snn.train()
    currents = []
    snn.neurons[0].register_forward_pre_hook(lambda m, args: currents.append(args[0]))
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    logits = snn(x, Simulation(time_steps=4))
    first = currents[0].view(4, 2, *currents[0].shape[1:])
    assert all(torch.equal(first[t], first[0]) for t in range(4))
    logits.sum().backward()
    assert x.grad.abs().sum() > 0
    rates = snn(x, Simulation(time_steps=4, gradient=RateApproximation()))
    assert rates.shape == logits.shape == (2, DATASETS[dataset].num_classes)


def test_an_unknown_architecture_lists_every_known_one():
    with pytest.raises(ValueError, match="resnet20.*wrn16_4"):
        build("resnet18", "cifar10")
    assert {"vgg11_tin", "resnet20", "wrn16_4"} <= set(ARCHITECTURES)


def test_poisson_encoding_fires_each_pixel_at_its_intensity_and_passes_gradients_straight_through():
    from snnconv.method.bntt import poisson_encoding

    torch.manual_seed(0)
    steps = 4000
    intensities = torch.tensor([[[[0.0, 0.1, 0.5, 0.9, 1.0]]]], requires_grad=True)
    spikes = poisson_encoding(intensities, steps)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    rates = spikes.detach().view(steps, -1).mean(0)
    expected = intensities.detach().flatten()
    tolerance = 4 * torch.sqrt(expected * (1 - expected) / steps)  # four binomial standard errors
    assert ((rates - expected).abs() <= tolerance).all()
    spikes.sum().backward()
    assert torch.equal(intensities.grad, torch.full_like(intensities, float(steps)))


def test_bntt_network_normalizes_each_step_on_its_own_and_runs_only_as_built():
    from snnconv.method.bntt import BNTT_LEAK, build_bntt

    net = build_bntt("tinyimagenet", time_steps=3)
    assert net.neuron_count((3, 64, 64)) == 610_304
    for neuron in net.neurons:
        assert neuron.leak == pytest.approx(BNTT_LEAK) and neuron.soft_reset and not neuron.threshold.requires_grad
    norm = net.layers[0].norm
    merged = torch.cat([torch.randn(2, 64, 4, 4) * (t + 1) + 5 * t for t in range(3)])
    out = norm.train()(merged).view(3, 2, 64, 4, 4)
    for t in range(3):  # each step normalized with its own statistics
        assert out[t].mean(dim=(0, 2, 3)).abs().max() < 1e-4
    with pytest.raises(ValueError, match="runs only as an SNN of T = 3 steps"):
        net(torch.rand(1, 3, 64, 64), Simulation(time_steps=8))


def test_the_svhn_paper_profile_trains_converts_and_finetunes_resnet20_from_files_on_disk(tmp_path, monkeypatch):
    # The whole paper-profile path on a tiny SVHN written here: loader, ANN training with cutout, conversion of a
    # residual network through hooks, robust finetuning, the store. Only the sizes are cut down.
    from dataclasses import replace

    import numpy as np
    from scipy.io import savemat

    from snnconv.experiment.profiles import PROFILES, ann_config, snn_config
    from snnconv.storage import pipeline
    from snnconv.storage.store import ArtifactStore, artifact_key
    from snnconv.training.train import Schedule

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        savemat(tmp_path / f"{split}_32x32.mat", {"X": rng.integers(0, 256, (32, 32, 3, 24), dtype=np.uint8),
                                                  "y": rng.integers(1, 11, (24, 1))})
    monkeypatch.setenv("SNNCONV_DATA", str(tmp_path))
    import torchvision

    # torchvision checks the md5 sums of the real files; these are written here.
    monkeypatch.setattr(torchvision.datasets.svhn, "check_integrity", lambda *args, **kwargs: True)
    profile = replace(PROFILES["paper_svhn"], train_subset=8,
                      ann_schedule=Schedule(epochs=1, learning_rate=0.05, weight_decay=5e-4, batch_size=8),
                      snn_schedule=Schedule(epochs=1, learning_rate=1e-3, weight_decay=1e-3, batch_size=8),
                      calibration=Calibration(time_steps=4, batches=1, batch_size=8), time_steps=2)
    ann_settings = ann_config(profile, "natural", 0)
    assert ann_settings.cutout and ann_settings.arch == "resnet20"
    store = ArtifactStore(tmp_path / "store")
    snn = pipeline.ensure_snn(snn_config(profile, ann_settings, 0), store, progress=False)
    assert type(snn).__name__ == "ResidualNetwork" and len(snn.neurons) == 19
    assert all(n.threshold.item() > 0 for n in snn.neurons)
    assert store.has("ann", artifact_key("ann", ann_settings))


def _tiny_residual_network() -> ResidualNetwork:
    """One-channel ResNet block on 1×1 images with fixed weights (3×3 kernels: only the centre tap meets a 1×1
    image): stem x ↦ x, no stem neuron, so the block reads the images themselves as direct coding's current."""
    stem = nn.Conv2d(1, 1, 1, bias=False)
    block = BasicBlock(1, 1, 1, SpikingNeuron)
    with torch.no_grad():
        stem.weight.fill_(1.0)
        for conv in (block.conv1, block.conv2):
            conv.weight.zero_()
            conv.weight[0, 0, 1, 1] = 1.0
        block.bn1.weight.fill_(2.0)
        block.bn1.bias.fill_(2.0)
        block.bn2.weight.fill_(1.0)
        block.bn2.bias.fill_(0.0)
    return ResidualNetwork(Normalization((0.0,), (1.0,)), [stem], None, [block], None, None, nn.AdaptiveAvgPool2d(1),
                           nn.Linear(1, 2))


def test_the_second_activation_of_a_residual_block_is_calibrated_on_the_sum_of_shortcut_and_branch():
    # Two images x = 3 and x = 1, T_c = 4, ρ = 100 % (the maximum), c = (0.5, 0.5), all by hand (tdBN's ϑ = 1e-5
    # moves each value by less than 1e-4 relative):
    # act1 reads BN1(x): batch mean 2, variance 1, so φ·(±1) + ω = 2·(±1) + 2 = 4 and 0 → V_th(act1) = 4;
    #   with it, image 3 fires at every step and image 1 never.
    # act2 reads c0·x + c1·BN2(h): h = 1, 1, 1, 1 and 0, 0, 0, 0 → batch mean 0.5, variance 0.25 → BN2(h) = +1, -1;
    #   0.5·3 + 0.5·1 = 2 and 0.5·1 + 0.5·(-1) = 0 → V_th(act2) = 2.
    # Not the branch alone (0.5 or 1), not the shortcut alone (1.5 or 3), not after the activation (≤ 1), and not the
    # authors' code's max with act1's percentiles (max(4, 2) = 4; authors' notes §3).
    net = _tiny_residual_network()
    images = torch.tensor([3.0, 1.0]).view(2, 1, 1, 1)
    thresholds = calibrate_thresholds(net, [images], Calibration(time_steps=4, percentile=100.0, batches=1,
                                                                 batch_size=2))
    assert thresholds == pytest.approx([4.0, 2.0], rel=1e-4)
    block = net.blocks[0]
    assert [block.neuron1.threshold.item(), block.neuron2.threshold.item()] == pytest.approx([4.0, 2.0], rel=1e-4)
