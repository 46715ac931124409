"""Adapters (snnconv.adapters): snnTorch and SpikingJelly networks attacked by snnconv's ensemble, unchanged.

Every check compares the adapted network with the library running the same network by itself: the forward bit for
bit, the gradient of the member that matches the layers' surrogate bit for bit, and a member's gradient against the
library's own gradient with that member's surrogate written by hand (in the test, not through snnconv's code). The
SpikingJelly tests need spikingjelly, an optional dependency, and are skipped without it.
"""

from __future__ import annotations

import pytest
import snntorch
import torch
from snntorch import surrogate as snn_surrogate
from torch import nn

from snnconv.adapters import SURROGATE_MEMBERS, OwnSurrogate, SnnTorchNetwork, adaptable
from snnconv.adapters.members import MemberSpike
from snnconv.attacks import AttackSpec, MemberView, ensemble_robustness, predict
from snnconv.method.network import Simulation
from snnconv.method.surrogates import (
    BPTR,
    BPTT,
    TRAINING_GRADIENT,
    MemberSwitch,
    ReLUApproximation,
    exponential,
    rectangular,
    triangular,
)

T = 4
EXPONENTIAL = BPTT(exponential(1.0, 2.0))


def _hand_triangular(input_, grad_input, spikes):
    """Eq. (15), written out: max(0, 1 - |z|)."""
    return grad_input * (1.0 - input_.abs()).clamp_min(0.0)


def _hand_exponential(input_, grad_input, spikes):
    """Eq. (17) with γd = 1, γs = 2, written out: 1 · exp(-2|z|)."""
    return grad_input * (1.0 * torch.exp(-2.0 * input_.abs()))


def test_member_spike_fires_by_the_librarys_rule_and_backs_the_members_surrogate():
    z = torch.tensor([-0.25, 0.0, 0.25], requires_grad=True)
    # snnTorch fires on z > 0 (all its surrogates), SpikingJelly on z >= 0 (its heaviside).
    assert torch.equal(MemberSpike(TRAINING_GRADIENT, 1.0, fires_at_zero=False)(z), snn_surrogate.atan()(z))
    assert MemberSpike(TRAINING_GRADIENT, 1.0, fires_at_zero=True)(z).tolist() == [0.0, 1.0, 1.0]
    spike = MemberSpike(BPTT(triangular(0.5), "threshold"), threshold=2.0, fires_at_zero=False)  # γw = 0.5 · 2
    spike(z).sum().backward()
    assert z.grad.tolist() == [0.75, 1.0, 0.75] and spike.calls == 1
    with pytest.raises(ValueError, match="one threshold"):
        MemberSpike(BPTT(triangular(0.5), "threshold"), threshold=None, fires_at_zero=False)


# --- snnTorch networks: a user's own time loop (MLP) and a single-step conv net the adapter steps -------------------

class LoopedMLP(nn.Module):
    """The snnTorch tutorials' pattern: the network runs T steps itself and returns (spk_rec, mem_rec)."""

    def __init__(self, spike_grad) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 64), nn.Linear(64, 32), nn.Linear(32, 10)
        self.lif1 = snntorch.Leaky(beta=0.9, threshold=0.5, spike_grad=spike_grad)
        self.lif2 = snntorch.Leaky(beta=0.8, threshold=0.5, spike_grad=spike_grad, reset_mechanism="zero")
        self.lif3 = snntorch.Leaky(beta=0.9, threshold=0.5, spike_grad=spike_grad, reset_mechanism="none")

    def forward(self, x):
        mem1, mem2, mem3 = self.lif1.reset_mem(), self.lif2.reset_mem(), self.lif3.reset_mem()
        spk_rec, mem_rec = [], []
        for _ in range(T):
            spk1, mem1 = self.lif1(self.fc1(x.flatten(1)), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            spk3, mem3 = self.lif3(self.fc3(spk2), mem3)
            spk_rec.append(spk3)
            mem_rec.append(mem3)
        return torch.stack(spk_rec), torch.stack(mem_rec)


def looped_mlp(spike_grad=None) -> LoopedMLP:
    torch.manual_seed(0)
    return LoopedMLP(snn_surrogate.atan() if spike_grad is None else spike_grad).eval()


def step_conv(spike_grad=None) -> nn.Sequential:
    """One time step of a conv net with hidden state kept in the layers (init_hidden), ending in a Synaptic layer."""
    torch.manual_seed(0)
    grad = snn_surrogate.atan() if spike_grad is None else spike_grad
    return nn.Sequential(
        nn.Conv2d(1, 4, 5, stride=2), snntorch.Leaky(beta=0.9, threshold=0.3, spike_grad=grad, init_hidden=True),
        nn.Flatten(), nn.Linear(4 * 12 * 12, 10),
        snntorch.Synaptic(alpha=0.8, beta=0.9, threshold=0.3, spike_grad=grad, init_hidden=True, output=True),
    ).eval()


def own_looped(net: LoopedMLP, x):
    """snnTorch running the looped MLP by itself; logits = the output membrane's mean over T."""
    return net(x)[1].mean(0)


def own_steps(net: nn.Sequential, x, reset: bool = True):
    """snnTorch running the single-step net by itself for T steps; logits = the output membrane's mean over T."""
    if reset:
        for layer in net.modules():
            if isinstance(layer, snntorch.Leaky | snntorch.Synaptic):
                layer.reset_mem()
    return torch.stack([net(x)[2] for _ in range(T)]).mean(0)


def adapt_looped(net: LoopedMLP) -> SnnTorchNetwork:
    return SnnTorchNetwork(net, loop="network", output_index=1)


def adapt_steps(net: nn.Sequential) -> SnnTorchNetwork:
    return SnnTorchNetwork(net, loop="adapter", output_index=2)  # Synaptic returns (spk, syn, mem)


SNNTORCH_CASES = [(looped_mlp, adapt_looped, own_looped), (step_conv, adapt_steps, own_steps)]


def images(n: int = 6) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def input_gradient(forward, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and ∇x of a fixed, non-trivial loss (a weighted sum of the logits)."""
    x = x.clone().requires_grad_(True)
    logits = forward(x)
    weights = torch.linspace(-1.0, 1.0, logits.shape[1])
    (grad,) = torch.autograd.grad((logits * weights).sum(), x)
    return logits.detach(), grad


@pytest.mark.parametrize(("build", "adapt", "own"), SNNTORCH_CASES)
@pytest.mark.parametrize("member", [TRAINING_GRADIENT, EXPONENTIAL, BPTT(rectangular(0.5))])
def test_snntorch_forward_is_snntorchs_own_bit_for_bit(build, adapt, own, member):
    net = build()
    reference, _ = input_gradient(lambda x: own(net, x), images())
    adapted, grad = input_gradient(lambda x: adapt(net)(x, Simulation(T, member)), images())
    assert torch.equal(adapted, reference)
    assert grad.abs().sum() > 0  # the member's gradient reached the input
    with torch.no_grad():  # the success check: the library's path, untouched
        assert torch.equal(adapt(net)(images(), Simulation(T)), reference)


@pytest.mark.parametrize(("build", "adapt", "own"), SNNTORCH_CASES)
def test_snntorch_training_member_is_snntorchs_own_gradient(build, adapt, own):
    # snnTorch with the training surrogate, Eq. (15), as a custom_surrogate written here: its own autograd gradient.
    library = build(snn_surrogate.custom_surrogate(_hand_triangular))
    _, reference = input_gradient(lambda x: own(library, x), images())
    _, adapted = input_gradient(lambda x: adapt(build())(x, Simulation(T, TRAINING_GRADIENT)), images())
    assert reference.abs().sum() > 0
    assert torch.equal(adapted, reference)


@pytest.mark.parametrize(("build", "adapt", "own"), SNNTORCH_CASES)
def test_snntorch_own_surrogate_member_is_the_librarys_gradient(build, adapt, own):
    net = build()  # arctan, snnTorch's default
    _, reference = input_gradient(lambda x: own(net, x), images())
    _, adapted = input_gradient(lambda x: adapt(net)(x, Simulation(T, OwnSurrogate())), images())
    assert torch.equal(adapted, reference)


@pytest.mark.parametrize(("build", "adapt", "own"), SNNTORCH_CASES)
def test_snntorch_member_reaches_every_layer(build, adapt, own):
    # By hand: every layer given the exponential surrogate through snnTorch's own API. Equal only if the adapter gave
    # each layer that member (a layer left with arctan changes the gradient).
    library = build(snn_surrogate.custom_surrogate(_hand_exponential))
    _, reference = input_gradient(lambda x: own(library, x), images())
    net = build()
    seen = []
    hooks = [layer.register_forward_pre_hook(lambda layer, args: seen.append(layer.spike_grad))
             for layer in net.modules() if isinstance(layer, snntorch.Leaky | snntorch.Synaptic)]
    _, adapted = input_gradient(lambda x: adapt(net)(x, Simulation(T, EXPONENTIAL)), images())
    for hook in hooks:
        hook.remove()
    assert torch.equal(adapted, reference)
    layers = 3 if isinstance(net, LoopedMLP) else 2
    assert len(seen) == layers * T and all(isinstance(s, MemberSpike) and s.gradient == EXPONENTIAL for s in seen)
    _, other = input_gradient(lambda x: adapt(net)(x, Simulation(T, TRAINING_GRADIENT)), images())
    assert not torch.allclose(other, adapted)  # two members, two gradients
    # and the network is left as built
    assert all(not isinstance(m.spike_grad, MemberSpike) for m in net.modules() if hasattr(m, "spike_grad"))


def test_snntorch_threshold_units_read_each_layers_threshold():
    # Every layer of the MLP has U_thr = 0.5: triangular(1) in threshold units is triangular(0.5) in membrane units.
    net = looped_mlp()
    _, scaled = input_gradient(lambda x: adapt_looped(net)(x, Simulation(T, BPTT(triangular(1.0), "threshold"))),
                               images())
    _, absolute = input_gradient(lambda x: adapt_looped(net)(x, Simulation(T, BPTT(triangular(0.5)))), images())
    assert torch.equal(scaled, absolute)


def test_snntorch_state_is_reset_between_calls():
    net = step_conv()
    adapted = adapt_steps(net)
    x = images()
    with torch.no_grad():
        first, second = adapted(x, Simulation(T)), adapted(x, Simulation(T))
        assert torch.equal(first, second)
        # snnTorch by itself, without a reset, carries the state into the next call: the check above could fail.
        assert not torch.equal(own_steps(net, x), own_steps(net, x, reset=False))
    _, grad_first = input_gradient(lambda x: adapted(x, Simulation(T, EXPONENTIAL)), x)
    _, grad_second = input_gradient(lambda x: adapted(x, Simulation(T, EXPONENTIAL)), x)
    assert torch.equal(grad_first, grad_second)


def test_snntorch_members_share_one_forward_through_a_switch():
    net, x = adapt_steps(step_conv()), images().requires_grad_(True)
    members = (TRAINING_GRADIENT, EXPONENTIAL, BPTT(rectangular(0.5)))
    switch = MemberSwitch(members)
    loss = net(x, Simulation(T, switch)).logsumexp(1).sum()
    for member in members:
        switch.member = member
        (shared,) = torch.autograd.grad(loss, x, retain_graph=True)
        (alone,) = torch.autograd.grad(net(x, Simulation(T, member)).logsumexp(1).sum(), x)
        assert torch.equal(shared, alone)


def test_adapter_refuses_what_it_cannot_run():
    net = adapt_looped(looped_mlp())
    x = images(2)
    for member in (BPTR(), ReLUApproximation()):
        assert not adaptable(member)
        with pytest.raises(NotImplementedError, match="internals"):
            net(x, Simulation(T, member))
    with pytest.raises(ValueError, match="time_steps >= 1"):
        net(x, Simulation(0))
    with pytest.raises(ValueError, match="T = 6"):
        net(x, Simulation(6))  # the network loops 4 steps itself
    with pytest.raises(TypeError, match="output_index"):
        SnnTorchNetwork(looped_mlp())(x, Simulation(T))  # a tuple, and no element picked
    with pytest.raises(ValueError, match="no spiking layer"):
        SnnTorchNetwork(nn.Linear(784, 10))
    with pytest.raises(TypeError, match="not supported"):
        SnnTorchNetwork(nn.Sequential(nn.Linear(4, 4), snntorch.Alpha(alpha=0.9, beta=0.8)))
    assert len(SURROGATE_MEMBERS) == 17 and all(adaptable(m) for m in SURROGATE_MEMBERS)


def test_snnconv_attacks_run_through_the_snntorch_adapter():
    net = adapt_steps(step_conv())
    x = torch.rand(12, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    y = predict(net, x, Simulation(T))  # the network's own answers: clean accuracy 100%
    spec = AttackSpec("PGD", 8 / 255, steps=5)
    attack = spec.build(MemberView(net, Simulation(T, TRAINING_GRADIENT)), seed=0, salt="test")
    adversarial = attack(x, y)
    with torch.no_grad():
        clean_loss = nn.functional.cross_entropy(net(x, Simulation(T)), y)
        adversarial_loss = nn.functional.cross_entropy(net(adversarial, Simulation(T)), y)
    assert (adversarial - x).abs().max() <= 8 / 255 + 1e-6
    assert adversarial_loss > clean_loss
    result = ensemble_robustness(net, x, y, spec, time_steps=T, members=SURROGATE_MEMBERS[:2], progress=False)
    assert result.clean_correct.all() and result.accuracy < 100.0
    # FGSM: several members share one forward pass (MemberSwitch), the own surrogate runs on its own.
    result = ensemble_robustness(net, x, y, AttackSpec("FGSM", 8 / 255), time_steps=T,
                                 members=(*SURROGATE_MEMBERS[:3], OwnSurrogate()), progress=False, per_member=True)
    assert result.accuracy < 100.0 and set(result.member_robust) == {m.label for m in SURROGATE_MEMBERS[:3]} | {
        "own surrogate"}


# --- SpikingJelly ----------------------------------------------------------------------------------------------------

@pytest.fixture
def sj():
    """SpikingJelly's activation_based package; the tests are skipped where it is not installed (optional)."""
    pytest.importorskip("spikingjelly", reason="SpikingJelly is optional: pip install --no-deps spikingjelly==2.0.0 "
                                               "loguru")
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    class Namespace:
        pass

    ns = Namespace()
    ns.functional, ns.layer, ns.neuron, ns.surrogate = functional, layer, neuron, surrogate
    return ns


def sj_net(sj, surrogate_function, mode: str = "s", node: str = "LIF"):
    """A tiny conv net; the output layer is linear (it integrates without spiking, as in Eq. 7)."""
    torch.manual_seed(0)

    def spiking():
        if node == "IF":
            return sj.neuron.IFNode(v_threshold=0.3, surrogate_function=surrogate_function, step_mode=mode)
        return sj.neuron.LIFNode(tau=2.0, v_threshold=0.3, v_reset=None, surrogate_function=surrogate_function,
                                 step_mode=mode)

    layer = sj.layer
    return nn.Sequential(
        layer.Conv2d(1, 4, 5, stride=2, step_mode=mode), spiking(), layer.Flatten(step_mode=mode),
        layer.Linear(4 * 12 * 12, 32, step_mode=mode), spiking(), layer.Linear(32, 10, step_mode=mode),
    ).eval()


def sj_own(sj, net, x, mode: str):
    """SpikingJelly running the net by itself: direct coding for T steps, mean of the outputs."""
    sj.functional.reset_net(net)
    if mode == "s":
        outputs = torch.stack([net(x) for _ in range(T)])
    else:
        outputs = net(x.unsqueeze(0).repeat(T, 1, 1, 1, 1))
    sj.functional.reset_net(net)
    return outputs.mean(0)


class _HandExponentialSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return (z >= 0).to(z)

    @staticmethod
    def backward(ctx, grad):
        (z,) = ctx.saved_tensors
        return grad * (1.0 * torch.exp(-2.0 * z.abs()))


class HandExponential(nn.Module):
    """A user's own SpikingJelly surrogate: Heaviside forward, Eq. (17) with γd = 1, γs = 2 backward."""

    def forward(self, z):
        return _HandExponentialSpike.apply(z)


SJ_CASES = [("s", "IF"), ("m", "IF"), ("s", "LIF"), ("m", "LIF")]


@pytest.mark.parametrize(("mode", "node"), SJ_CASES)
def test_spikingjelly_forward_is_its_own_bit_for_bit(sj, mode, node):
    from snnconv.adapters import SpikingJellyNetwork

    # ATan is a built-in: SpikingJelly runs its fused operator; the adapted layers run its Torch reference path.
    net = sj_net(sj, sj.surrogate.ATan(), mode, node)
    reference, _ = input_gradient(lambda x: sj_own(sj, net, x, mode), images())
    adapted, grad = input_gradient(lambda x: SpikingJellyNetwork(net, loop="adapter")(x, Simulation(T, EXPONENTIAL)),
                                   images())
    assert torch.equal(adapted, reference)
    assert grad.abs().sum() > 0
    assert isinstance(net[1].surrogate_function, sj.surrogate.ATan) and not net[1].training  # left as built
    z = torch.tensor([-0.25, 0.0, 0.25])
    assert torch.equal(MemberSpike(EXPONENTIAL, 0.3, fires_at_zero=True)(z), sj.surrogate.ATan()(z))


@pytest.mark.parametrize(("mode", "node"), SJ_CASES)
def test_spikingjelly_training_member_is_its_own_gradient(sj, mode, node):
    from snnconv.adapters import SpikingJellyNetwork

    # PiecewiseQuadratic(α = 1) is max(0, 1 - |z|), the training surrogate of Eq. (15); SpikingJelly computes its
    # gradient in its fused operator (the same products in the same order: equal bit for bit).
    library = sj_net(sj, sj.surrogate.PiecewiseQuadratic(alpha=1.0), mode, node)
    _, reference = input_gradient(lambda x: sj_own(sj, library, x, mode), images())
    adapted_net = SpikingJellyNetwork(sj_net(sj, sj.surrogate.ATan(), mode, node), loop="adapter")
    _, adapted = input_gradient(lambda x: adapted_net(x, Simulation(T, TRAINING_GRADIENT)), images())
    assert reference.abs().sum() > 0
    assert torch.equal(adapted, reference)
    own_net = sj_net(sj, sj.surrogate.ATan(), mode, node)
    _, own = input_gradient(lambda x: sj_own(sj, own_net, x, mode), images())
    _, adapted_own = input_gradient(lambda x: SpikingJellyNetwork(own_net, loop="adapter")(
        x, Simulation(T, OwnSurrogate())), images())
    assert torch.equal(adapted_own, own)


@pytest.mark.parametrize(("mode", "node"), SJ_CASES)
def test_spikingjelly_member_reaches_every_neuron(sj, mode, node):
    from snnconv.adapters import SpikingJellyNetwork

    library = sj_net(sj, HandExponential(), mode, node)
    _, reference = input_gradient(lambda x: sj_own(sj, library, x, mode), images())
    net = sj_net(sj, sj.surrogate.Sigmoid(), mode, node)
    adapted_net = SpikingJellyNetwork(net, loop="adapter")
    _, adapted = input_gradient(lambda x: adapted_net(x, Simulation(T, EXPONENTIAL)), images())
    assert torch.equal(adapted, reference)
    _, other = input_gradient(lambda x: adapted_net(x, Simulation(T, BPTT(rectangular(0.5)))), images())
    assert not torch.allclose(other, adapted)


def test_spikingjelly_network_loop_and_state_reset(sj):
    from snnconv.adapters import SpikingJellyNetwork

    class Looping(nn.Module):
        """The SpikingJelly tutorials' pattern: the network repeats the image over T and returns the mean."""

        def __init__(self):
            super().__init__()
            self.body = sj_net(sj, sj.surrogate.ATan(), "m", "LIF")

        def forward(self, x):
            return self.body(x.unsqueeze(0).repeat(T, 1, 1, 1, 1)).mean(0)

    net = Looping().eval()
    adapted = SpikingJellyNetwork(net, readout="network")
    x = images()
    with torch.no_grad():
        first, second = adapted(x, Simulation(T)), adapted(x, Simulation(T))
        assert torch.equal(first, second)
        sj.functional.reset_net(net)
        assert torch.equal(first, net(x))
        assert not torch.equal(net(x), first)  # without a reset the state carries over: the check above could fail
    _, grad_first = input_gradient(lambda x: adapted(x, Simulation(T, EXPONENTIAL)), x)
    _, grad_second = input_gradient(lambda x: adapted(x, Simulation(T, EXPONENTIAL)), x)
    assert torch.equal(grad_first, grad_second) and grad_first.abs().sum() > 0


def test_spikingjelly_eval_shortcut_does_not_mask_the_gradient(sj):
    from snnconv.adapters import SpikingJellyNetwork

    class EvalShortcutIF(sj.neuron.SimpleIFNode):
        """Fires without its surrogate in eval mode, as IFNode/LIFNode do in SpikingJelly 0.0.0.0.14."""

        def neuronal_fire(self):
            if not self.training:
                return (self.v >= self.v_threshold).to(self.v)
            return super().neuronal_fire()

    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), EvalShortcutIF(v_threshold=0.3),
                        nn.Linear(32, 10)).eval()
    x = images().requires_grad_(True)
    sj.functional.reset_net(net)
    (masked,) = torch.autograd.grad(torch.stack([net(x) for _ in range(T)]).mean(0).sum(), x, allow_unused=True)
    assert masked is None  # the trap: in eval mode the library's own gradient never crosses a spike
    adapted = SpikingJellyNetwork(net, loop="adapter")
    _, through_eval = input_gradient(lambda x: adapted(x, Simulation(T, TRAINING_GRADIENT)), images())
    assert not net[2].training  # only the call put the neuron in training mode
    net.train()
    _, through_train = input_gradient(lambda x: adapted(x, Simulation(T, TRAINING_GRADIENT)), images())
    assert through_eval.abs().sum() > 0 and torch.equal(through_eval, through_train)


def test_spikingjelly_refuses_a_non_spiking_surrogate(sj):
    from snnconv.adapters import SpikingJellyNetwork

    net = sj_net(sj, sj.surrogate.ATan(spiking=False), "s", "IF")
    with pytest.raises(ValueError, match="spiking=False"):
        input_gradient(lambda x: SpikingJellyNetwork(net, loop="adapter")(x, Simulation(T, EXPONENTIAL)), images())


def test_snnconv_attacks_run_through_the_spikingjelly_adapter(sj):
    from snnconv.adapters import SpikingJellyNetwork

    net = SpikingJellyNetwork(sj_net(sj, sj.surrogate.ATan(), "m", "LIF"), loop="adapter")
    x = torch.rand(12, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    y = predict(net, x, Simulation(T))
    result = ensemble_robustness(net, x, y, AttackSpec("PGD", 8 / 255, steps=5), time_steps=T,
                                 members=SURROGATE_MEMBERS[:2], progress=False)
    assert result.clean_correct.all() and result.accuracy < 100.0
