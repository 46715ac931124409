import pytest
import snntorch
import torch

from snnconv.method.neurons import FUSED_STEPS, MIN_THRESHOLD, SpikingNeuron, clamp_thresholds
from snnconv.method.surrogates import BPTR, BPTT, exponential, rectangular, triangular


def _run(neuron, currents):
    """currents: list over t of per-neuron values for a batch of one."""
    x = torch.tensor(currents, dtype=torch.float64).view(len(currents), 1)
    return neuron.double()(x, time_steps=len(currents)).flatten().tolist()


def test_if_hard_reset_trace_by_hand():
    # V_th = 1: v⁻ = 0.6, 1.2 (fire, reset to 0), 0.6, 1.2 (fire), 0.6
    assert _run(SpikingNeuron(threshold=1.0), [0.6] * 5) == [0, 1, 0, 1, 0]


def test_fires_exactly_at_threshold():
    # The paper fires on v − V_th ≥ 0; snnTorch's default uses a strict >.
    assert _run(SpikingNeuron(threshold=0.5), [0.5, 0.0]) == [1, 0]


def test_soft_reset_keeps_the_residual():
    # V_th = 1, I = 0.7: v⁻ = 0.7, 1.4 (fire → 0.4), 1.1 (fire → 0.1), 0.8, 1.5 (fire)
    assert _run(SpikingNeuron(threshold=1.0, soft_reset=True), [0.7] * 5) == [0, 1, 1, 0, 1]


def test_leak_decays_the_membrane():
    # τ = 0.5, I = 0.6, V_th = 1: v⁻ = 0.6, 0.9, 1.05 (fire), 0.6 → never reaches 1.2 like IF would
    assert _run(SpikingNeuron(threshold=1.0, leak=0.5), [0.6] * 4) == [0, 0, 1, 0]
    assert _run(SpikingNeuron(threshold=1.0, leak=1.0), [0.6] * 4) == [0, 1, 0, 1]


def test_state_does_not_survive_between_calls():
    neuron = SpikingNeuron(threshold=1.0)
    assert _run(neuron, [0.6]) == [0]
    assert _run(neuron, [0.6]) == [0]


def test_spikes_match_snntorch_leaky_with_the_papers_spike_function():
    torch.manual_seed(1)
    current = torch.rand(10, 4, 7) * 0.8
    ours = SpikingNeuron(threshold=0.9)(current.reshape(40, 7), time_steps=10).view(10, 4, 7)
    leaky = snntorch.Leaky(beta=1.0, threshold=0.9, reset_mechanism="zero", spike_grad=triangular(1.0))
    membrane = torch.zeros(4, 7)
    reference = []
    for t in range(10):
        spikes, membrane = leaky(current[t], membrane)
        reference.append(spikes)
    assert torch.equal(ours, torch.stack(reference))


@pytest.mark.parametrize("soft_reset", [False, True])
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("leak", [1.0, 0.8])
@pytest.mark.parametrize("surrogate", [triangular(1.0), exponential(0.3, 1.0), rectangular(0.5)])
@pytest.mark.parametrize("steps", [6, FUSED_STEPS + 4])  # one compiled kernel for all steps / step by step
def test_fused_loop_matches_step_by_step_autograd(soft_reset, detach_reset, leak, surrogate, steps):
    torch.manual_seed(0)
    neuron = SpikingNeuron(threshold=0.7, leak=leak, soft_reset=soft_reset, detach_reset=detach_reset).double()
    batch = 5
    current = torch.randn(steps * batch, 3, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(steps * batch, 3, dtype=torch.float64)
    gradient = BPTT(surrogate)
    fused = neuron(current, steps, gradient)
    (fused * weight).sum().backward()
    fused_grads = current.grad.clone(), neuron.threshold.grad.clone()
    current.grad, neuron.threshold.grad = None, None
    membrane, spikes = torch.zeros(batch, 3, dtype=torch.float64), []
    for t in range(steps):
        s, membrane = neuron.step(current.view(steps, batch, 3)[t], membrane, gradient)
        spikes.append(s)
    reference = torch.stack(spikes).reshape(steps * batch, 3)
    (reference * weight).sum().backward()
    assert torch.equal(fused, reference)
    torch.testing.assert_close(fused_grads[0], current.grad)
    torch.testing.assert_close(fused_grads[1], neuron.threshold.grad)


def test_hard_reset_gradient_by_hand():
    # One neuron, V_th = 1, I = (1.2, 0.5), loss = s(2). Step 1 fires (z=0.2); v(1) = 1.2·(1−s1) = 0,
    # v⁻(2) = 0.5, z2 = −0.5 → s2 = 0. With the triangular surrogate (γ=1):
    # ∂s2/∂z2 = 0.5; ∂v⁻(2)/∂I2 = 1 → dL/dI2 = 0.5.
    # dL/dI1 = 0.5 · ∂v(1)/∂I1 = 0.5 · [(1 − s1) − v⁻(1)·σ'(z1)] = 0.5 · (0 − 1.2·0.8) = −0.48.
    neuron = SpikingNeuron(threshold=1.0).double()
    current = torch.tensor([[1.2], [0.5]], dtype=torch.float64, requires_grad=True)
    spikes = neuron(current, 2)
    spikes[1].sum().backward()
    assert current.grad.flatten().tolist() == pytest.approx([-0.48, 0.5])
    # dL/dV_th = −σ'(z2) + 0.5 · (−v⁻(1))·(−σ'(z1)) = −0.5 + 0.5·1.2·0.8 = −0.02
    assert neuron.threshold.grad.item() == pytest.approx(-0.02)


def test_bptr_gradient_is_gated_by_firing_at_least_once():
    neuron = SpikingNeuron(threshold=1.0).double()
    current = torch.tensor([[0.6, 0.1], [0.6, 0.1], [0.6, 0.1]], dtype=torch.float64, requires_grad=True)
    neuron(current, 3, BPTR()).sum().backward()
    # The first neuron fires (at t=2), the second never does.
    assert current.grad[:, 0].tolist() == [1, 1, 1]
    assert current.grad[:, 1].tolist() == [0, 0, 0]
    assert neuron.threshold.grad is None


def test_thresholds_are_clamped_to_the_lower_bound():
    neuron = SpikingNeuron(threshold=0.5)
    with torch.no_grad():
        neuron.threshold.fill_(-1.0)
    clamp_thresholds(torch.nn.Sequential(neuron))
    assert neuron.threshold.item() == pytest.approx(MIN_THRESHOLD)


def test_leak_out_of_range_is_rejected():
    with pytest.raises(ValueError, match="leak"):
        SpikingNeuron(leak=1.5)


def test_leak_and_reset_follow_their_buffers_after_a_load_and_an_in_place_write():
    # The neuron caches both as Python values; a state dict of another neuron and an in-place write must show.
    neuron = SpikingNeuron(threshold=1.0)
    assert neuron.leak == 1.0 and neuron.soft_reset is False
    neuron.load_state_dict(SpikingNeuron(threshold=1.0, leak=0.5, soft_reset=True).state_dict())
    assert neuron.leak == 0.5 and neuron.soft_reset is True
    with torch.no_grad():
        neuron.beta.fill_(0.25)
    assert neuron.leak == 0.25
    current = torch.full((3, 1), 0.6)  # τ = 0.25, soft reset: v = 0.6 → fires? no (0.6 < 1); then 0.75; then 0.7875
    assert neuron(current, time_steps=3).flatten().tolist() == [0.0, 0.0, 0.0]
    neuron.beta = torch.tensor(1.0)  # a replaced buffer (as .to(device) does) is read again
    assert neuron.leak == 1.0
    assert neuron(current, time_steps=3).flatten().tolist() == [0.0, 1.0, 0.0]


def test_built_models_are_not_kept_alive_by_snntorchs_instance_list():
    # snnTorch appends every neuron it constructs to a class-level list; before the fix, a process that built many
    # models (a page, a test session) kept every one of them alive through it.
    import gc
    import weakref

    from snnconv.method.models import build

    instances = snntorch.SpikingNeuron.instances
    before = len(instances)
    for _ in range(50):
        model = build("vgg_small", "fashion_mnist")
    assert len(snntorch.SpikingNeuron.instances) == before
    neuron = weakref.ref(next(m for m in model.modules() if isinstance(m, SpikingNeuron)))
    del model
    gc.collect()
    assert neuron() is None
    # Only our own neurons leave the list: snnTorch's own layers still register (its init_hidden state needs it).
    leaky = snntorch.Leaky(beta=0.5)
    assert instances[-1] is leaky
    SpikingNeuron()
    assert instances[-1] is leaky
    instances.remove(leaky)
