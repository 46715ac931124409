import torch
from torch import nn

from snnconv.attacks import AttackSpec, ensemble_robustness, predict
from snnconv.evaluation.diagnostics import (
    Evidence,
    diagnose,
    input_gradient_norms,
    logit_margins,
    random_noise_accuracy,
)
from snnconv.method.models import ANN, Simulation, build


class _ZeroGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return torch.zeros_like(grad)


class Masked(nn.Module):
    """A real network whose input gradient is zero: the textbook case of gradient masking."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x, simulation=ANN):
        return self.inner(_ZeroGradient.apply(x), simulation)


def _evidence(model, x, y, source):
    simulation = Simulation(0)
    clean = 100.0 * float((predict(model, x, simulation) == y).float().mean())

    def accuracy(spec):
        return ensemble_robustness(model, x, y, spec, 0, progress=False).accuracy

    crafted = ensemble_robustness(source, x, y, AttackSpec("PGD", 8 / 255, 5), 0, progress=False,
                                  keep_adversarial=True).adversarial
    zero = float((input_gradient_norms(model, x, y, simulation) == 0).float().mean())
    noise = random_noise_accuracy(model, x, y, 8 / 255, simulation)
    return Evidence(clean, accuracy(AttackSpec("PGD", 8 / 255, 5)), noise,
                    accuracy(AttackSpec("PGD", 1.0, 10)), zero, single_step=accuracy(AttackSpec("FGSM", 8 / 255)),
                    by_epsilon=tuple(accuracy(AttackSpec("PGD", e / 255, 5)) for e in (2, 4, 8)),
                    transfer=100.0 * float((predict(model, crafted, simulation) == y).float().mean()),
                    square=accuracy(AttackSpec("Square", 8 / 255, 200)))


def test_a_masked_model_is_flagged_and_an_honest_one_is_not():
    torch.manual_seed(0)
    net = build("vgg_small", "fashion_mnist").eval()
    x = torch.rand(32, 1, 28, 28)
    y = predict(net, x, Simulation(0))  # clean accuracy 100 %: every sample is worth attacking
    torch.manual_seed(1)
    other = build("vgg_small", "fashion_mnist").eval()  # an independent source for the transfer attack
    # The masked model's forward pass is the honest network's: the same images transfer, Square works.
    masked = {row["check"]: row["passed"] for row in diagnose(_evidence(Masked(net), x, y, source=net))}
    assert not masked["input gradients are not zero"]
    assert not masked["an unbounded attack drives accuracy to about 0"]
    assert not masked["random noise at ε hurts less than the attack"]
    assert not masked["the white-box attack beats the transfer attack"]
    assert not masked["the Square attack does not beat the white-box attack"]
    honest = {row["check"]: row["passed"] for row in diagnose(_evidence(net, x, y, source=other))}
    assert honest["input gradients are not zero"]
    assert honest["an unbounded attack drives accuracy to about 0"]
    assert honest["the iterative attack beats the single-step one"]
    assert honest["accuracy falls as ε grows"]
    assert honest["the white-box attack beats the transfer attack"]
    assert honest["the Square attack does not beat the white-box attack"]


def test_only_measured_checks_are_judged_with_one_slack():
    rows = diagnose(Evidence(clean=90.0, attacked=40.0, weaker={"FGSM": 39.5, "PGD10": 38.0},
                             attacked_name="AutoAttack"))
    verdicts = {row["check"]: row["passed"] for row in rows}
    # 0.5 points weaker than FGSM is within the slack; 2 points weaker than PGD10 is not.
    assert verdicts == {"AutoAttack is at least as strong as FGSM": True,
                        "AutoAttack is at least as strong as PGD10": False}


def test_square_alone_fooling_images_fails_the_per_image_check():
    rows = {row["check"]: row["passed"] for row in diagnose(Evidence(clean=90.0, attacked=50.0, square=52.0,
                                                                    square_only=3.0))}
    assert rows["the Square attack does not beat the white-box attack"]  # in accuracy the white box wins …
    assert not rows["no image is fooled by Square alone"]  # … but Square finds 3 % of images it misses


class FixedLogits(nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, x, simulation=ANN):
        return self.logits[x[:, 0].long()]


def test_the_margin_is_the_true_logit_minus_the_largest_other_in_every_batch():
    logits = torch.tensor([[3.0, 1.0, 2.5], [0.0, 4.0, 4.0], [1.0, -2.0, 0.5], [2.0, 2.0, -1.0]])
    images, labels = torch.arange(4.0)[:, None], torch.tensor([0, 1, 2, 0])
    margins = logit_margins(FixedLogits(logits), images, labels, ANN, batch_size=3)
    torch.testing.assert_close(margins, torch.tensor([0.5, 0.0, -0.5, 0.0]))
