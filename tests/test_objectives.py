import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from snnconv.method.models import Simulation, build
from snnconv.training import objectives
from snnconv.training.objectives import (
    MART,
    TRADES,
    AdversarialTraining,
    Natural,
    RobustFinetuning,
    kl_clean_adversarial,
    projected_gradient_ascent,
)


def test_kl_is_clean_given_adversarial_as_in_the_authors_code():
    clean = torch.tensor([[2.0, 0.0]])
    adv = torch.tensor([[0.0, 1.0]])
    p, q = F.softmax(clean, 1)[0], F.softmax(adv, 1)[0]
    expected = sum(p[j] * math.log(p[j] / q[j]) for j in range(2))
    assert kl_clean_adversarial(clean, adv).item() == pytest.approx(float(expected), rel=1e-6)
    assert kl_clean_adversarial(clean, clean).item() == pytest.approx(0.0, abs=1e-7)


def test_projected_gradient_ascent_stays_in_the_ball_and_image_range():
    x = torch.rand(4, 1, 28, 28)
    net = build("vgg_small", "fashion_mnist").eval()
    y = torch.tensor([0, 1, 2, 3])
    adv = projected_gradient_ascent(lambda z: net(z), x, lambda out: F.cross_entropy(out, y), 0.1, 3, x)
    assert (adv - x).abs().max() <= 0.1 + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1


def test_pgd_raises_the_loss():
    torch.manual_seed(0)
    net = build("vgg_small", "fashion_mnist").eval()
    x, y = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    loss = lambda out: F.cross_entropy(out, y)  # noqa: E731
    adv = projected_gradient_ascent(lambda z: net(z), x, loss, 8 / 255, 5, x)
    assert loss(net(adv)) > loss(net(x))


@pytest.mark.parametrize("objective", [Natural(), AdversarialTraining(2 / 255, steps=2), TRADES(2 / 255, steps=2),
                                        MART(2 / 255, steps=2)])
def test_ann_objectives_keep_training_mode(objective):
    net = build("vgg_small", "fashion_mnist").train()
    loss = objective(net, torch.rand(6, 1, 28, 28), torch.randint(0, 10, (6,)))
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert net.training


# ---------------------------------------------------------------------------------- values by hand on a toy problem
# Three samples, three classes, two-pixel images and a linear model z = W x + b: every expected value below is
# computed with numpy from these numbers, not by snnconv.

W = np.array([[1.0, -2.0], [0.5, 1.5], [-1.0, 0.3]])
B = np.array([0.1, -0.2, 0.05])
X = np.array([[0.2, 0.7], [0.9, 0.1], [0.5, 0.5]])
Y = np.array([1, 0, 2])
#: Adversarial images handed to the outer losses (the inner maximization is replaced, see _fixed_inner).
X_ADV = np.array([[0.35, 0.55], [0.75, 0.3], [0.62, 0.41]])


class _Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(W, dtype=torch.float64))
        self.bias = nn.Parameter(torch.tensor(B, dtype=torch.float64))

    def forward(self, x, simulation=None):
        return x.flatten(1) @ self.weight.T + self.bias


def _toy():
    return _Linear().train(), torch.tensor(X).view(3, 1, 1, 2), torch.tensor(Y)


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _kl_rows(p, q):
    """KL(p_i ‖ q_i) per row: Σ_j p_ij log(p_ij / q_ij)."""
    return (p * np.log(p / q)).sum(1)


def _fixed_inner(monkeypatch, x_adv):
    """Replace the inner maximization by one that records its arguments and returns ``x_adv``."""
    calls = []

    def inner(model, simulation, x, loss, epsilon, steps, start):
        calls.append(dict(loss=loss, epsilon=epsilon, steps=steps, start=start.clone(), training=model.training))
        return torch.tensor(x_adv).view_as(x)

    monkeypatch.setattr(objectives, "inner_maximization", inner)
    return calls


def test_trades_is_clean_ce_plus_lambda_times_the_kl_of_clean_to_adversarial(monkeypatch):
    """Eq. (5) as the authors' code: CE(f(x), y) + λ·(1/B)·Σ_i KL(p_{x_i} ‖ p_{x̃_i}); the inner loss is that KL."""
    calls = _fixed_inner(monkeypatch, X_ADV)
    model, x, y = _toy()
    torch.manual_seed(4)
    loss = TRADES(epsilon=0.1, trade_off=6.0, steps=3)(model, x, y)
    p, q = _softmax(X @ W.T + B), _softmax(X_ADV @ W.T + B)
    ce = -np.log(p[np.arange(3), Y]).mean()
    kl = _kl_rows(p, q).mean()
    assert kl > 0.01  # the KL term is not negligible next to the CE term
    assert loss.item() == pytest.approx(ce + 6.0 * kl, rel=1e-10)
    # The inner maximization ascends the same KL (against the clean output, batch mean), from x + 0.001·N(0, I).
    (call,) = calls
    logits = torch.tensor([[0.3, -1.0, 2.0], [1.0, 1.0, 0.0], [-0.5, 0.2, 0.1]], dtype=torch.float64)
    assert call["loss"](logits).item() == pytest.approx(_kl_rows(p, _softmax(logits.numpy())).mean(), rel=1e-10)
    torch.manual_seed(4)
    torch.testing.assert_close(call["start"], x + 0.001 * torch.randn_like(x))
    assert (call["epsilon"], call["steps"], call["training"]) == (0.1, 3, True)


def test_mart_is_boosted_ce_plus_a_kl_weighted_by_one_minus_the_true_probability(monkeypatch):
    """Eq. (6) as the original MART code: BCE(p_x̃, y) + λ·(1/B)·Σ_i KL(p_{x_i} ‖ p_{x̃_i})·(1 − p_{x_i}^{(y_i)}),
    BCE = −log p_x̃^{(y)} − log(1 − max_{k≠y} p_x̃^{(k)}); the inner loss is the summed CE."""
    calls = _fixed_inner(monkeypatch, X_ADV)
    model, x, y = _toy()
    loss = MART(epsilon=0.1, trade_off=4.0, steps=3)(model, x, y)
    p, q = _softmax(X @ W.T + B), _softmax(X_ADV @ W.T + B)
    rows = np.arange(3)
    wrong_q = q.copy()
    wrong_q[rows, Y] = -1.0
    wrong = wrong_q.argmax(1)  # the most probable wrong class, never y
    assert (wrong != Y).all() and (q.argmax(1) == Y).any()  # a sample where the overall argmax would be y
    boosted = (-np.log(q[rows, Y]) - np.log(1.0001 - q[rows, wrong] + 1e-12)).mean()
    weighted = (_kl_rows(p, q) * (1.0000001 - p[rows, Y])).mean()
    assert weighted > 0.01 and not np.isclose(weighted, _kl_rows(p, q).mean(), rtol=0.1)  # the weight matters
    assert loss.item() == pytest.approx(boosted + 4.0 * weighted, rel=1e-10)
    (call,) = calls
    logits = torch.tensor([[0.3, -1.0, 2.0], [1.0, 1.0, 0.0], [-0.5, 0.2, 0.1]], dtype=torch.float64)
    expected_ce = -np.log(_softmax(logits.numpy())[rows, Y]).sum()
    assert call["loss"](logits).item() == pytest.approx(expected_ce, rel=1e-10)


def test_adversarial_training_is_ce_after_pgd_by_hand():
    """Eq. (4): PGD-k (step 2.5ε/k, sign of ∇_x CE = Wᵀ(p − e_y) for the linear model, projection) from
    x + U(−ε, ε), then CE on the result; all written out with numpy."""
    model, x, y = _toy()
    epsilon, steps = 0.1, 3
    torch.manual_seed(7)
    loss = AdversarialTraining(epsilon=epsilon, steps=steps)(model, x, y)
    torch.manual_seed(7)
    start = (x + torch.empty_like(x).uniform_(-epsilon, epsilon)).view(3, 2).numpy()
    adv = np.clip(np.clip(start, X - epsilon, X + epsilon), 0, 1)
    onehot = np.eye(3)[Y]
    for _ in range(steps):
        gradient = (_softmax(adv @ W.T + B) - onehot) @ W
        assert np.abs(gradient).min() > 1e-3  # signs far from a tie
        adv = np.clip(np.clip(adv + 2.5 * epsilon / steps * np.sign(gradient), X - epsilon, X + epsilon), 0, 1)
    expected = -np.log(_softmax(adv @ W.T + B)[np.arange(3), Y]).mean()
    clean = -np.log(_softmax(X @ W.T + B)[np.arange(3), Y]).mean()
    assert expected > clean + 0.05  # the attack raised the loss
    assert loss.item() == pytest.approx(expected, rel=1e-10)


def test_robust_finetuning_kl_path_by_hand():
    """Eqs. (9)–(11) as the authors' code: x' = clip(x + α·sign(N(0, I))), x̃ = Π(x' + (ε − α)·sign ∇_{x'} KL(p_x ‖
    p_{x'})), loss CE(f(x), y) + β·(1/B)·Σ_i KL(p_{x_i} ‖ p_{x̃_i}) — and its gradient reaches the weights
    through both the clean and the adversarial branch (the clean branch is not detached)."""
    model, x, y = _toy()
    epsilon, alpha, beta = 0.2, 0.05, 2.0
    torch.manual_seed(11)
    loss = RobustFinetuning(epsilon=epsilon, step=alpha, trade_off=beta, simulation=Simulation(0))(model, x, y)
    loss.backward()
    torch.manual_seed(11)
    x_rand = np.clip(X + alpha * np.sign(torch.randn_like(x).view(3, 2).numpy()), 0, 1)
    p = _softmax(X @ W.T + B)
    # ∇_{x'} (1/B) Σ_i KL(p_i ‖ q_i(x')) = (1/B) (q − p) W for the linear model
    gradient = (_softmax(x_rand @ W.T + B) - p) @ W / 3
    assert np.abs(gradient).min() > 1e-4
    x_adv = np.clip(np.clip(x_rand + (epsilon - alpha) * np.sign(gradient), X - epsilon, X + epsilon), 0, 1)
    q = _softmax(x_adv @ W.T + B)
    kl = _kl_rows(p, q)
    ce = -np.log(p[np.arange(3), Y]).mean()
    assert loss.item() == pytest.approx(ce + beta * kl.mean(), rel=1e-10)
    # dL/dz (clean) = (p − e_y)/B + β/B · p ⊙ (log p − log q − KL);  dL/dz̃ (adversarial) = β/B · (q − p)
    onehot = np.eye(3)[Y]
    clean = (p - onehot) / 3 + beta / 3 * p * (np.log(p) - np.log(q) - kl[:, None])
    adversarial = beta / 3 * (q - p)
    np.testing.assert_allclose(model.weight.grad.numpy(), clean.T @ X + adversarial.T @ x_adv, rtol=1e-9)
    np.testing.assert_allclose(model.bias.grad.numpy(), (clean + adversarial).sum(0), rtol=1e-9)


def test_robust_finetuning_with_zero_trade_off_is_natural_cross_entropy():
    torch.manual_seed(0)
    net = build("vgg_small", "fashion_mnist").train()
    for neuron in net.neurons:
        with torch.no_grad():
            neuron.threshold.fill_(0.3)
    x, y = torch.rand(4, 1, 28, 28), torch.randint(0, 10, (4,))
    simulation = Simulation(4)
    torch.manual_seed(1)
    natural = Natural(simulation)(net, x, y)
    torch.manual_seed(1)
    finetuning = RobustFinetuning(epsilon=0.0, step=0.0, trade_off=0.0, simulation=simulation)(net, x, y)
    assert finetuning.item() == pytest.approx(natural.item())


def test_robust_finetuning_threshold_gradient_is_that_of_the_loss_assembled_by_hand():
    """The SNN's V_th gradient under Eqs. (9)–(11) equals the gradient of the loss assembled here from the model's
    forward passes: the clean pass in training mode, the RFGSM step on KL(p_x ‖ p_{x'}) in eval mode, the
    adversarial pass in training mode, CE + β·KL. The KL term changes every layer's V_th gradient."""
    torch.manual_seed(0)
    net = build("vgg_small", "fashion_mnist").train()
    for neuron in net.neurons:
        with torch.no_grad():
            neuron.threshold.fill_(0.3)
    hand_net = copy.deepcopy(net)  # the same weights and batch-norm statistics, updated by the same passes
    x, y = torch.rand(4, 1, 28, 28), torch.randint(0, 10, (4,))
    epsilon, step, beta, simulation = 8 / 255, 4 / 255, 2.0, Simulation(4)
    torch.manual_seed(1)
    loss = RobustFinetuning(epsilon=epsilon, step=step, trade_off=beta, simulation=simulation)(net, x, y)
    loss.backward()

    torch.manual_seed(1)
    clean_logits = hand_net(x, simulation)
    hand_net.eval()
    x_rand = (x + step * torch.randn_like(x).sign()).clamp(0, 1).requires_grad_(True)
    p = F.softmax(hand_net(x, simulation), 1).detach()
    inner = (p * (p.log() - F.log_softmax(hand_net(x_rand, simulation), 1))).sum(1).mean()
    (gradient,) = torch.autograd.grad(inner, x_rand)
    x_adv = torch.min(torch.max(x_rand.detach() + (epsilon - step) * gradient.sign(), x - epsilon), x + epsilon)
    hand_net.train()
    adversarial_logits = hand_net(x_adv.clamp(0, 1), simulation)
    log_clean = F.log_softmax(clean_logits, 1)
    kl = (log_clean.exp() * (log_clean - F.log_softmax(adversarial_logits, 1))).sum(1).mean()
    ce = F.cross_entropy(clean_logits, y)
    ce_only = torch.autograd.grad(ce, [n.threshold for n in hand_net.neurons], retain_graph=True)
    hand = ce + beta * kl
    hand.backward()

    assert loss.item() == pytest.approx(hand.item(), rel=1e-6) and kl.item() > 1e-4
    for ours, reference in zip(net.neurons, hand_net.neurons, strict=True):
        assert reference.threshold.grad.abs() > 0
        torch.testing.assert_close(ours.threshold.grad, reference.threshold.grad, rtol=1e-5, atol=1e-8)
    # The β·KL term's share of the V_th gradients is far above the tolerance above: dropping it, detaching a branch
    # or scaling it otherwise fails the comparison.
    kl_share = torch.stack([n.threshold.grad for n in hand_net.neurons]) - torch.stack(ce_only)
    assert kl_share.abs().max() > 5e-4
