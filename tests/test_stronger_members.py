"""Gradient modes published after the paper (RGA, HART, PDSG, the rate approximation) and threshold-scaled widths,
each against its equation on a toy layer, and as ensemble members whose verdicts ignore order and batching."""

import math

import pytest
import torch
from torch import nn

from snnconv.attacks import AttackSpec, MemberView, apgd_checkpoints, ensemble_robustness, per_sample_uniform, project
from snnconv.method.models import Simulation, build
from snnconv.method.neurons import SpikingNeuron, _membrane_spread
from snnconv.method.surrogates import (
    BPTT,
    PAPER_ENSEMBLE,
    STRONGER_MEMBERS,
    THRESHOLD_SCALED,
    AdaptiveSharpness,
    HybridRateTemporal,
    PotentialDependent,
    RateApproximation,
    RateGradient,
    triangular,
)
from snnconv.storage.pipeline import members_by_label

T = 6


def _input_gradient(neuron, current, gradient, weights):
    """d/dI of sum_t weights[t] · s(t) for currents of shape [T, B, ...]."""
    current = current.clone().requires_grad_(True)
    steps = current.shape[0]
    spikes = neuron(current.reshape(-1, *current.shape[2:]), steps, gradient).reshape(current.shape)
    (spikes * weights.view(-1, *([1] * (current.dim() - 1)))).sum().backward()
    return spikes.detach(), current.grad


def test_rga_backward_is_the_analytic_rate_derivative():
    neuron = SpikingNeuron(threshold=2.0).double()
    current = torch.linspace(-1.0, 3.0, 9, dtype=torch.float64).repeat(T, 1).unsqueeze(1)  # [T, 1, 9]
    current = current + 0.3 * torch.randn(current.shape, dtype=torch.float64)  # not constant over time
    weights = torch.arange(1.0, T + 1, dtype=torch.float64)
    _, grad = _input_gradient(neuron, current, RateGradient(), weights)
    mean = current.mean(0)
    expected = weights.mean() * ((mean > 0) & (mean < 2.0)).double() / 2.0  # (1/T) Σ ∂L/∂s · r'(Ī)
    for t in range(T):
        torch.testing.assert_close(grad[t], expected)


def test_hart_input_gradient_is_the_same_time_mean_at_every_step():
    neuron = SpikingNeuron(threshold=1.0).double()
    current = 0.6 * torch.rand(T, 2, 7, dtype=torch.float64)
    weights = torch.randn(T, dtype=torch.float64)
    mode = HybridRateTemporal(width=0.8)
    _, grad = _input_gradient(neuron, current, mode, weights)
    # u(t) from the forward pass, then ∂L/∂s(τ) · tri_γ(u(τ)) averaged over τ, with no path across time.
    membrane, per_step = torch.zeros_like(current[0]), []
    for t in range(T):
        v = membrane + current[t]
        u = v - 1.0
        per_step.append(weights[t] * (0.8 - u.abs()).clamp_min(0) / 0.8**2)
        membrane = v.masked_fill(u >= 0, 0.0)
    expected = torch.stack(per_step).mean(0)
    for t in range(T):
        torch.testing.assert_close(grad[t], expected)


def test_pdsg_sigma_comes_from_the_membrane_of_each_image():
    neuron = SpikingNeuron(threshold=0.5).double()
    current = torch.randn(1, 3, 2, 4, 4, dtype=torch.float64)  # one step, 3 images, 2 channels, 4×4 positions
    _, grad = _input_gradient(neuron, current, PotentialDependent(), torch.ones(1, dtype=torch.float64))
    u = current[0] - 0.5
    sigma = u.std(dim=(2, 3), unbiased=False, keepdim=True)  # over the channel's positions, per image
    density = torch.exp(-((u - sigma / 2) ** 2) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma)
    torch.testing.assert_close(grad[0], density)
    # The spread at step t pools steps 0..t only.
    z = torch.randn(3, 2, 5, dtype=torch.float64)
    torch.testing.assert_close(_membrane_spread(z)[1, 0, 0], z[:2, 0].std(unbiased=False))
    # One image's gradient does not depend on the others in its batch.
    _, alone = _input_gradient(neuron, current[:, :1], PotentialDependent(), torch.ones(1, dtype=torch.float64))
    torch.testing.assert_close(alone[0, 0], grad[0, 0])


@pytest.mark.parametrize("leak, soft_reset", [(1.0, False), (1.0, True), (0.99, True), (0.9, False)])
def test_the_rate_approximation_runs_each_neurons_own_rate_map(leak, soft_reset):
    neuron = SpikingNeuron(threshold=1.0, leak=leak, soft_reset=soft_reset).double()
    current = torch.linspace(-0.5, 1.5, 41, dtype=torch.float64).unsqueeze(0).requires_grad_(True)
    rate = neuron.rate(current, T)
    spikes = neuron(current.detach().expand(T, -1).reshape(T, 41), T)
    torch.testing.assert_close(rate.detach(), spikes.mean(0, keepdim=True))  # the SNN's own rate
    if leak == 1.0 and not soft_reset:
        inside = current.detach() > 0
        period = torch.ceil(1.0 / current.detach()[inside])  # fires every ⌈V_th / I⌉ steps
        assert ((rate.detach()[inside] - 1 / period).abs() <= 1 / T + 1e-12).all()
    rate.sum().backward()
    torch.testing.assert_close(current.grad, ((current > 0) & (current < 1.0)).double().detach())


def test_the_rate_approximation_reads_out_like_the_snn_on_a_first_layer():
    torch.manual_seed(0)
    net = build("vgg_small", "fashion_mnist").eval()
    x = torch.rand(3, 1, 28, 28)
    rate = net.normalize(x)
    rate = net.stages[0].neuron.rate(net.stages[0].block(rate), T)
    spikes = net.stages[0].neuron(net.stages[0].block(net.normalize(x)).repeat(T, 1, 1, 1), T)
    torch.testing.assert_close(rate, spikes.view(T, *rate.shape).mean(0))
    logits = net(x, Simulation(T, RateApproximation()))
    assert logits.shape == (3, 10) and torch.isfinite(logits).all()


def test_threshold_scaled_widths_are_the_absolute_widths_times_the_threshold():
    neuron = SpikingNeuron(threshold=4.0).double()
    current = 5 * torch.rand(T, 1, 8, dtype=torch.float64)
    weights = torch.randn(T, dtype=torch.float64)
    _, scaled = _input_gradient(neuron, current, BPTT(triangular(0.5), units="threshold"), weights)
    _, absolute = _input_gradient(neuron, current, BPTT(triangular(2.0)), weights)
    torch.testing.assert_close(scaled, absolute)
    assert [m.label for m in THRESHOLD_SCALED][:2] == ["triangular(γw=1)·V_th", "triangular(γw=2)·V_th"]


def test_new_members_are_named_by_label():
    labels = tuple(m.label for m in (*STRONGER_MEMBERS, THRESHOLD_SCALED[0]))
    assert members_by_label(labels) == (*STRONGER_MEMBERS, THRESHOLD_SCALED[0])


@pytest.mark.parametrize("member", [*STRONGER_MEMBERS, THRESHOLD_SCALED[3]], ids=lambda m: m.label)
def test_new_members_give_verdicts_independent_of_batching_and_order(snn_and_data, member):
    net, x, y = snn_and_data
    spec = AttackSpec("PGD", 8 / 255, steps=3)
    members = (member, THRESHOLD_SCALED[0])
    first = ensemble_robustness(net, x, y, spec, time_steps=4, members=members, batch_size=7, progress=False)
    second = ensemble_robustness(net, x, y, spec, time_steps=4, members=members[::-1], batch_size=5,
                                 progress=False)
    assert torch.equal(first.robust, second.robust)
    alone = ensemble_robustness(net, x, y, spec, time_steps=4, members=(member,), batch_size=24, progress=False)
    assert alone.correct < alone.clean_correct.sum()  # the member's gradient attacks something


def test_assg_sharpness_follows_its_moving_averages_and_restarts_per_run():
    mode = AdaptiveSharpness(scale=2.0)
    first, second = torch.tensor([0.5, -2.0]), torch.tensor([1.5, 0.0])
    torch.testing.assert_close(mode.statistics.sharpness(7, first, mode), 2.0 / (first.abs() + 1e-4))
    mean = 0.9 * first.abs() + 0.1 * second.abs()
    spread = 0.1 * (second.abs() - mean).abs()
    torch.testing.assert_close(mode.statistics.sharpness(7, second, mode), 2.0 / (mean + 1.5 * spread + 1e-4))
    mode.statistics.reset()
    assert len(mode.statistics) == 0
    torch.testing.assert_close(mode.statistics.sharpness(7, second, mode), 2.0 / (second.abs() + 1e-4))


def test_assg_backward_is_the_arctan_surrogate_at_the_adapted_sharpness():
    neuron = SpikingNeuron(threshold=0.5).double()
    current = torch.randn(1, 4, 6, dtype=torch.float64)  # one step: no recursion through time
    mode = AdaptiveSharpness()
    _, grad = _input_gradient(neuron, current, mode, torch.ones(1, dtype=torch.float64))
    u = current[0] - 0.5
    alpha = 1.0 / (u.abs() + 1e-4)
    torch.testing.assert_close(grad[0], alpha / (2 * (1 + (math.pi * alpha * u / 2) ** 2)))


def test_sa_pgd_stays_in_the_ball_and_does_not_carry_statistics_between_runs(snn_and_data):
    net, x, y = snn_and_data
    spec = AttackSpec("SA-PGD", 8 / 255, steps=5)
    member = AdaptiveSharpness()
    view = MemberView(net, Simulation(4, member))
    attack = spec.build(view, 0, salt=member.label)
    once = attack(x[:6], y[:6])
    assert (once - x[:6]).abs().max() <= 8 / 255 + 1e-6 and once.min() >= 0 and once.max() <= 1
    attack(x[6:12], y[6:12])  # another batch in between
    torch.testing.assert_close(attack(x[:6], y[:6]), once)
    with_assg = ensemble_robustness(net, x, y, spec, time_steps=4, members=(member,), batch_size=24, progress=False)
    assert with_assg.correct < with_assg.clean_correct.sum()


def test_sa_pgd_halves_its_step_on_the_apgd_schedule(monkeypatch):
    """SA-PGD's step η, read off every projection, is halved after iterations 2, 3, …, 10 of 10: APGD's checkpoints
    (Croce & Hein 2020's code: w₁ = ⌊0.22·10⌋ = 2, then one apart). A two-class linear model with the true class
    far ahead is never fooled and has a constant input gradient, so every step is clipped to ±η."""
    import snnconv.attacks.apgd as apgd

    epsilon, steps, moves, previous = 0.25, 10, [], []

    def recorded_project(x, images, eps):
        out = project(x, images, eps)
        moves.append((x - previous[-1]).abs().max().item())
        previous.append(out)
        return out

    model = nn.Linear(12, 2)
    with torch.no_grad():
        model.weight.copy_(torch.linspace(-1, 1, 24).view(2, 12))
        model.bias.copy_(torch.tensor([20.0, 0.0]))  # ahead by ≥ 8: never fooled, gradient not 0
    images, labels = torch.full((3, 12), 0.5), torch.zeros(3, dtype=torch.long)
    previous.append((images + epsilon * per_sample_uniform(images, 0, "s")).clamp(0, 1))
    monkeypatch.setattr(apgd, "project", recorded_project)
    apgd.SAPGD(model, epsilon, steps, 0, "s")(images, labels)
    halved_by_hand = [1, 1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert moves == pytest.approx([epsilon / h for h in halved_by_hand], rel=1e-5)


def test_sa_pgd_schedule_is_the_one_its_stored_verdicts_ran():
    """Every stored SA-PGD verdict ran 100 steps (the smoke profile: 5), where SA-PGD's schedule before it took APGD's
    (rounded fractions 0.22, 0.41, … of N) has the same checkpoints: the change left those verdicts as they are."""
    assert apgd_checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert apgd_checkpoints(5) == [1, 2, 3, 4, 5]


def test_the_strongest_known_attack_is_the_per_image_worst_case():
    from snnconv.book.audit import audit_diagnostics, worst_cases

    def row(attack, kind, robust, budget="ε1"):
        return {"model": "m", "attack": attack, "kind": kind, "robust": robust, "correct": sum(robust),
                "n": len(robust), "seconds": 1.0, "budget": budget}

    rows = [row("clean", "clean", [True, True, True, True]), row("PGD", "white-box", [True, True, False, True]),
            row("APGD", "white-box", [True, False, True, True]), row("Square", "black-box", [False, True, True, True])]
    white, known = worst_cases(rows)
    assert white["robust"] == [True, False, False, True] and white["correct"] == 2
    assert known["robust"] == [False, False, False, True] and known["attack"] == "strongest known"
    checks = {c["check"]: c for c in audit_diagnostics([*rows, white, known])}
    assert not checks["no image is fooled by Square alone"]["passed"]  # image 0: only Square fools it
    assert checks["no image is fooled by Square alone"]["value"].startswith("25.00 %")


def test_masking_remains_only_where_square_beats_every_white_box_attack_by_a_paired_interval():
    from snnconv.book.audit import masking_gap_rows, worst_cases

    def rows_at(budget, white, square):
        rows = [{"model": "m", "attack": "PGD", "kind": "white-box", "robust": white, "correct": sum(white),
                 "n": len(white), "seconds": 1.0, "budget": budget},
                {"model": "m", "attack": "Square", "kind": "black-box", "robust": square, "correct": sum(square),
                 "n": len(square), "seconds": 1.0, "budget": budget}]
        return rows + [{**row, "budget": budget} for row in worst_cases(rows)]

    # ε1: Square alone fools 30 of 100 images, white-box alone none: 30 points, McNemar exact.
    # ε2: 2 images each way: no difference.
    rows = [*rows_at("ε1", [True] * 60 + [False] * 40, [False] * 30 + [True] * 30 + [False] * 40),
            *rows_at("ε2", [True, True, False, False] + [True] * 96, [False, False, True, True] + [True] * 96)]
    gaps = {row["budget"]: row for row in masking_gap_rows(rows)}
    assert gaps["ε1"]["Square stronger by"] == 30.0 and gaps["ε1"]["Square-only images"] == 30
    assert gaps["ε1"]["masking remains"] and gaps["ε1"]["ci_low"] > 20 and gaps["ε1"]["p_value"] < 1e-8
    assert gaps["ε2"]["Square stronger by"] == 0.0 and gaps["ε2"]["Square-only images"] == 2
    assert not gaps["ε2"]["masking remains"] and gaps["ε2"]["ci_low"] < 0 < gaps["ε2"]["ci_high"]


def test_hart_at_any_searched_width_is_named_by_its_label():
    assert members_by_label(("HART(γ=0.5)", "HART(γ=2.5)")) == (HybridRateTemporal(0.5), HybridRateTemporal(2.5))
    with pytest.raises(ValueError, match="members"):
        members_by_label(("HART(γ=-1)",))


def test_a_member_switch_differentiates_one_forward_as_each_member_would(snn_and_data):
    """MemberSwitch: the gradient of a shared forward under member m equals the gradient of m's own run, bit for bit."""
    from snnconv.method.surrogates import BPTR, MemberSwitch

    net, x, y = snn_and_data
    x, y = x[:6], y[:6]
    members = (PAPER_ENSEMBLE[0], PAPER_ENSEMBLE[8], PAPER_ENSEMBLE[12], BPTR(), RateGradient(),
               HybridRateTemporal(0.5), PotentialDependent(), THRESHOLD_SCALED[1])
    switch = MemberSwitch(members)
    shared = x.clone().requires_grad_(True)
    loss = nn.functional.cross_entropy(net(shared, Simulation(4, switch)), y, reduction="sum")
    for member in members:
        switch.member = member
        (together,) = torch.autograd.grad(loss, shared, retain_graph=True)
        alone = x.clone().requires_grad_(True)
        (own,) = torch.autograd.grad(nn.functional.cross_entropy(net(alone, Simulation(4, member)), y,
                                                                 reduction="sum"), alone)
        assert torch.equal(together, own), member.label
        assert together.abs().sum() > 0
    with pytest.raises(ValueError, match="spiking-layer gradient"):
        MemberSwitch((PAPER_ENSEMBLE[-1],))  # the ReLU approximation changes the forward: it cannot share one
