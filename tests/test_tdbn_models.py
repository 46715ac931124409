import pytest
import torch

from snnconv.method.models import ANN, Simulation, build
from snnconv.method.surrogates import BPTR, ReLUApproximation
from snnconv.method.tdbn import TemporalBatchNorm2d, batch_statistics, reset_running_statistics


def test_tdbn_normalizes_over_time_batch_and_space():
    torch.manual_seed(0)
    bn = TemporalBatchNorm2d(3).double()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        bn.bias.copy_(torch.tensor([0.0, 1.0, -1.0]))
    merged = torch.randn(4 * 5, 3, 6, 6, dtype=torch.float64) * 3 + 2  # T=4, B=5
    out = bn(merged)
    mean = merged.mean(dim=(0, 2, 3), keepdim=True)
    var = merged.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    expected = bn.weight.view(1, -1, 1, 1) * (merged - mean) / torch.sqrt(var + bn.eps) + bn.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(out, expected)
    # running statistics track the spatio-temporal batch statistics (momentum 0.1 from 0/1)
    torch.testing.assert_close(bn.running_mean, 0.1 * mean.flatten())


def test_batch_statistics_mode_ignores_and_keeps_running_stats_in_eval():
    bn = TemporalBatchNorm2d(2).eval()
    x = torch.randn(8, 2, 3, 3) * 5 + 3
    with batch_statistics(bn):
        out = bn(x)
    assert out.mean(dim=(0, 2, 3)).abs().max() < 1e-5
    assert torch.equal(bn.running_mean, torch.zeros(2)) and bn.num_batches_tracked.item() == 0
    assert not bn.batch_statistics_only


def test_reset_running_statistics():
    bn = TemporalBatchNorm2d(2)
    bn(torch.randn(8, 2, 3, 3) + 4)
    reset_running_statistics(torch.nn.Sequential(bn))
    assert torch.equal(bn.running_mean, torch.zeros(2)) and torch.equal(bn.running_var, torch.ones(2))


def test_vgg11_has_286720_if_neurons_in_10_layers():
    net = build("vgg11", "cifar10")
    assert net.neuron_count((3, 32, 32)) == 286_720
    assert len(net.neurons) == 10
    assert net.layer_sizes((3, 32, 32))[:3] == [65_536, 32_768, 65_536]


def test_ann_and_snn_are_one_network_with_one_set_of_names():
    net = build("vgg_small", "fashion_mnist").eval()
    x = torch.rand(3, 1, 28, 28)
    assert net(x).shape == net(x, Simulation(4)).shape == (3, 10)
    names = set(net.state_dict())
    assert any(name.endswith("neuron.threshold") for name in names)
    assert "normalize.mean" in names


def test_readout_sum_is_time_steps_times_mean():
    net = build("vgg_small", "fashion_mnist", bias="none").eval()
    x = torch.rand(2, 1, 28, 28)
    mean = net(x, Simulation(5, readout="mean"))
    torch.testing.assert_close(net(x, Simulation(5, readout="sum")), 5 * mean)


def test_merged_simulation_equals_explicit_per_step_simulation():
    torch.manual_seed(0)
    net = build("vgg_small", "fashion_mnist").double().eval()
    for neuron in net.neurons:
        with torch.no_grad():
            neuron.threshold.fill_(0.3)
    x = torch.rand(2, 1, 28, 28, dtype=torch.float64)
    steps = 4
    # Explicit: every stage keeps its own membrane and runs step by step.
    membranes = [None] * len(net.stages)
    outputs = []
    for _ in range(steps):
        h = net.normalize(x)
        for i, stage in enumerate(net.stages):
            current = stage.block(h)
            if membranes[i] is None:
                membranes[i] = torch.zeros_like(current)
            h, membranes[i] = stage.neuron.step(current, membranes[i])
        outputs.append(net.head(h))
    torch.testing.assert_close(net(x, Simulation(steps)), torch.stack(outputs).mean(0))


def test_relu_approximation_member_runs_the_ann():
    net = build("vgg_small", "fashion_mnist").eval()
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(net(x, Simulation(8, ReLUApproximation())), net(x, ANN))


def test_bptr_member_has_the_same_forward_as_bptt():
    net = build("vgg_small", "fashion_mnist").eval()
    for neuron in net.neurons:
        with torch.no_grad():
            neuron.threshold.fill_(0.3)
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(net(x, Simulation(8, BPTR())), net(x, Simulation(8)))


@pytest.mark.parametrize("kwargs, match", [
    (dict(arch="resnet", dataset="fashion_mnist"), "arch"),
    (dict(arch="vgg11", dataset="mnist"), "dataset"),
])
def test_build_rejects_unknown_choices(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build(**kwargs)


def test_simulation_rejects_negative_time_steps():
    with pytest.raises(ValueError, match="time_steps"):
        Simulation(-1)



@pytest.mark.parametrize("spikes", [True, False], ids=["spikes", "real"])
def test_the_compiled_average_pool_gives_torchs_numbers_forward_and_backward(spikes):
    from snnconv.foundations.kernels import AveragePool2d

    torch.manual_seed(0)
    for shape in [(16, 8, 14, 14), (5, 3, 9, 9), (4, 1, 28, 28)]:
        x = (torch.rand(shape) < 0.3).float() if spikes else torch.randn(shape) * 10
        ours, theirs = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        out, ref = AveragePool2d(2)(ours), torch.nn.AvgPool2d(2)(theirs)
        assert torch.equal(out, ref)
        grad = torch.randn_like(ref)
        assert torch.equal(torch.autograd.grad(out, ours, grad)[0], torch.autograd.grad(ref, theirs, grad)[0])
