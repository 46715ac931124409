import math

import pytest
import torch
import torch.nn.functional as F

from snnconv.models import Simulation, build
from snnconv.objectives import (
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
def test_ann_objectives_give_a_finite_scalar_and_keep_training_mode(objective):
    net = build("vgg_small", "fashion_mnist").train()
    loss = objective(net, torch.rand(6, 1, 28, 28), torch.randint(0, 10, (6,)))
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert net.training
    loss.backward()


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


def test_robust_finetuning_adds_the_kl_term():
    net = build("vgg_small", "fashion_mnist").train()
    for neuron in net.neurons:
        with torch.no_grad():
            neuron.threshold.fill_(0.3)
    x, y = torch.rand(4, 1, 28, 28), torch.randint(0, 10, (4,))
    loss = RobustFinetuning(epsilon=8 / 255, step=4 / 255, trade_off=2.0, simulation=Simulation(4))(net, x, y)
    loss.backward()
    assert all(n.threshold.grad is not None for n in net.neurons)
