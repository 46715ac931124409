"""The one door to an attack: the registry that builds each attack from its spec, the typed evaluation of a stored
verdict, the paper's attack names, and the gradient-sign steps that the attacks and the training objectives share.
Each is checked against values written out by hand here, not against the code it checks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from snnconv import attacks
from snnconv.attacks import (
    APGD,
    ATTACKS,
    FGSM,
    PGD,
    RFGSM,
    SAPGD,
    AttackSpec,
    AutoAttackEvaluation,
    CleanEvaluation,
    CorruptionEvaluation,
    EnsembleEvaluation,
    MemberView,
    Square,
    TargetedAPGD,
    TransferEvaluation,
    paper_attack_name,
    pgd_step,
    rfgsm_start,
    rfgsm_step,
)
from snnconv.datasets.corruptions import corrupt
from snnconv.experiment.config import EvaluationConfig
from snnconv.method.models import Simulation
from snnconv.method.surrogates import BPTR, PAPER_ENSEMBLE
from snnconv.storage.pipeline import evaluation_of
from snnconv.training import objectives
from snnconv.training.objectives import RandomStepAdversarialTraining, RobustFinetuning

EPSILON, SEED, SALT = 8 / 255, 3, "member"

#: Per attack name: the class its spec builds and the attributes the instance must carry, for a spec of ε = 8/255,
#: 5 steps, no step size and 4 targets, written out from the paper's and the authors' settings (Sec. 4.3): RFGSM's
#: α = ε/4, PGD's η = 2.5ε/k; Square counts queries.
EXPECTED: dict[str, tuple[type, dict]] = {
    "FGSM": (FGSM, {"epsilon": EPSILON}),
    "RFGSM": (RFGSM, {"epsilon": EPSILON, "alpha": EPSILON / 4, "seed": SEED, "salt": SALT}),
    "PGD": (PGD, {"epsilon": EPSILON, "step_size": 2.5 * EPSILON / 5, "steps": 5, "seed": SEED, "salt": SALT}),
    "APGD-CE": (APGD, {"epsilon": EPSILON, "steps": 5, "loss": "ce", "seed": SEED, "salt": SALT}),
    "APGD-DLR": (APGD, {"epsilon": EPSILON, "steps": 5, "loss": "dlr", "seed": SEED, "salt": SALT}),
    "APGD-T": (TargetedAPGD, {"epsilon": EPSILON, "steps": 5, "targets": 4, "seed": SEED, "salt": SALT}),
    "SA-PGD": (SAPGD, {"epsilon": EPSILON, "steps": 5, "seed": SEED, "salt": SALT}),
    "Square": (Square, {"epsilon": EPSILON, "queries": 5, "seed": SEED}),
}


class _Linear(nn.Module):
    """A network of the ``forward(x, simulation)`` kind that ignores the simulation: a linear map of the pixels."""

    def __init__(self, pixels: int = 64, classes: int = 3) -> None:
        super().__init__()
        self.linear = nn.Linear(pixels, classes)

    def forward(self, x: torch.Tensor, simulation: Simulation | None = None) -> torch.Tensor:
        return self.linear(x.flatten(1))


@pytest.fixture
def view() -> MemberView:
    return MemberView(_Linear().eval(), Simulation(0))


def test_the_registry_names_the_eight_attacks_in_the_tables_order():
    assert ATTACKS == ("FGSM", "RFGSM", "PGD", "APGD-CE", "APGD-DLR", "APGD-T", "SA-PGD", "Square")


@pytest.mark.parametrize("name", list(EXPECTED))
def test_the_registry_builds_each_attack_with_its_parameters(view, name):
    cls, parameters = EXPECTED[name]
    built = AttackSpec(name, EPSILON, steps=5, targets=4).build(view, SEED, SALT)
    assert type(built) is cls
    assert {attribute: getattr(built, attribute) for attribute in parameters} == parameters


@pytest.mark.parametrize(("name", "attribute"), [("PGD", "step_size"), ("RFGSM", "alpha")])
def test_a_given_step_size_replaces_the_default(view, name, attribute):
    assert getattr(AttackSpec(name, EPSILON, steps=7, step_size=0.01).build(view, SEED, SALT), attribute) == 0.01


def test_an_unknown_attack_is_refused_with_the_registered_names():
    with pytest.raises(ValueError, match="APGD-CE"):
        AttackSpec("CW", EPSILON)


def test_the_paper_names_pgd_by_its_steps_and_clean_by_an_empty_cell():
    assert paper_attack_name("PGD", 20) == "PGD20"
    assert paper_attack_name("PGD", 7) == "PGD7"
    assert paper_attack_name("clean", 1) == ""
    assert [paper_attack_name(name, 100) for name in ("FGSM", "APGD-CE", "Square", "AutoAttack")] == [
        "FGSM", "APGD-CE", "Square", "AutoAttack"]
    assert AttackSpec("PGD", EPSILON, steps=10).label == "PGD10" and AttackSpec("APGD-T", EPSILON).label == "APGD-T"


def _config(attack: str, **changes) -> EvaluationConfig:
    return EvaluationConfig(**{"model_key": "m", "dataset": "fashion_mnist", "attack": attack, "epsilon": EPSILON,
                               "steps": 5, "time_steps": 8, "n_test": 10, "seed": 2, **changes})


def test_evaluation_of_maps_each_kind_of_config_to_its_typed_evaluation():
    assert evaluation_of(_config("clean", epsilon=0.0, steps=1)) == CleanEvaluation(8, "mean")
    assert evaluation_of(_config("clean", time_steps=0, readout="last")) == CleanEvaluation(0, "last")
    assert evaluation_of(_config("corruption", epsilon=0.0, corruption="fog", severity=3)) == CorruptionEvaluation(
        "fashion_mnist", "fog", 3, 2, 8, "mean")
    assert evaluation_of(_config("AutoAttack", time_steps=0)) == AutoAttackEvaluation(EPSILON, 2)
    assert evaluation_of(_config("PGD")) == EnsembleEvaluation(AttackSpec("PGD", EPSILON, 5), 8, PAPER_ENSEMBLE, 2)
    # The evaluation's own fields: members by label, Table B2's per-member verdicts, EOT, SNN-RAT's PGD step.
    assert evaluation_of(_config("FGSM", steps=1, members=("BPTR",), per_member=True, eot=2)) == EnsembleEvaluation(
        AttackSpec("FGSM", EPSILON, 1), 8, (BPTR(),), 2, "mean", True, 2)
    assert evaluation_of(_config("PGD", steps=7, step_size=0.01)).attack == AttackSpec("PGD", EPSILON, 7, 0.01)
    # A source model makes it a transfer attack, crafted at the source's T.
    assert evaluation_of(_config("PGD", source_key="s", source_time_steps=0, transfer_resisted="clean")) == \
        TransferEvaluation(AttackSpec("PGD", EPSILON, 5), 0, 8, PAPER_ENSEMBLE, 2, "mean", "clean")
    with pytest.raises(ValueError, match="attack must be one of"):
        evaluation_of(_config("CW"))


def test_clean_and_corruption_verdicts_are_the_predictions_on_their_images():
    torch.manual_seed(0)
    model = _Linear().eval()
    images, labels = torch.rand(12, 1, 8, 8), torch.arange(12) % 3
    correct = model(images).argmax(1) == labels
    clean = CleanEvaluation(0).run(model, images, labels, batch_size=5)
    assert torch.equal(clean.robust, correct) and torch.equal(clean.clean_correct, correct)
    assert clean.fooled_by == tuple("" if c else "clean" for c in correct.tolist())
    corrupted = corrupt(images, "gaussian_noise", 5, seed=2)
    expected = model(corrupted).argmax(1) == labels
    result = CorruptionEvaluation("fashion_mnist", "gaussian_noise", 5, 2, 0).run(model, images, labels, batch_size=5)
    assert torch.equal(result.robust, expected)
    assert result.fooled_by == tuple("" if c else "corruption" for c in expected.tolist())


def test_a_transfer_evaluation_needs_its_source_model():
    transfer = TransferEvaluation(AttackSpec("FGSM", EPSILON, 1), 0, 0, PAPER_ENSEMBLE, 0)
    with pytest.raises(ValueError, match="source model"):
        transfer.run(_Linear(), torch.rand(2, 1, 8, 8), torch.tensor([0, 1]), batch_size=2)


# Dyadic values, so that every sum below is exact and the expected tensors are exact too.
X = torch.tensor([0.0, 0.5, 0.875, 0.25])


def test_the_pgd_step_is_a_sign_step_projected_onto_the_ball_and_the_image_range():
    x_adv, grad = torch.tensor([0.0625, 0.5625, 0.9375, 0.25]), torch.tensor([-1.0, 2.0, 3.0, 0.0])
    # x̃ + η·sign g = [-0.0625, 0.6875, 1.0625, 0.25]; the ball [x − 0.125, x + 0.125] cuts the second to 0.625,
    # the image range the first to 0 and the third to 1.
    assert torch.equal(pgd_step(x_adv, grad, X, 0.125, 0.125), torch.tensor([0.0, 0.625, 1.0, 0.25]))


def test_the_rfgsm_steps_are_a_random_sign_step_then_a_sign_step_of_epsilon_minus_alpha():
    start = rfgsm_start(X, 0.0625, torch.tensor([-0.3, 0.2, 5.0, -2.0]))
    assert torch.equal(start, torch.tensor([0.0, 0.5625, 0.9375, 0.1875]))  # x + α·sign n, clipped to [0, 1]
    # A step of ε − α = 0.1875: [0.1875, 0.75, 1.125, 0.0], then the ball of ε = 0.25 and [0, 1].
    step = rfgsm_step(start, torch.tensor([1.0, 1.0, 1.0, -1.0]), X, 0.25, 0.0625)
    assert torch.equal(step, torch.tensor([0.1875, 0.75, 1.0, 0.0]))


def test_the_objectives_take_the_attack_packages_steps():
    assert objectives.pgd_step is attacks.pgd_step
    assert objectives.rfgsm_start is attacks.rfgsm_start and objectives.rfgsm_step is attacks.rfgsm_step


@pytest.mark.parametrize("objective", [RandomStepAdversarialTraining(8 / 255, 2 / 255),
                                       RobustFinetuning(8 / 255, 2 / 255, inner_loss="ce", outer="adversarial_ce")],
                         ids=["snn_rat", "robust_finetuning_ce"])
def test_an_rfgsm_objective_trains_on_the_image_of_eq_10_computed_by_hand(objective):
    """Eq. (10) with the CE loss written out: x' = clip(x + α·sign(N(0, I))) from torch's generator, then
    x̃ = clip(min(max(x' + (ε − α)·sign ∇CE, x − ε), x + ε)); both objectives return CE(f(x̃), y) here."""
    torch.manual_seed(1)
    model = _Linear().train()
    x, y = torch.rand(6, 1, 8, 8), torch.arange(6) % 3
    torch.manual_seed(5)
    loss = objective(model, x, y)
    torch.manual_seed(5)
    epsilon, alpha = objective.epsilon, objective.step
    x_rand = torch.clamp(x + alpha * torch.sign(torch.randn_like(x)), 0.0, 1.0).requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x_rand), y), x_rand)
    x_adv = torch.clamp(x_rand.detach() + (epsilon - alpha) * torch.sign(grad), x - epsilon, x + epsilon).clamp(0, 1)
    assert torch.equal(loss, F.cross_entropy(model(x_adv), y))
