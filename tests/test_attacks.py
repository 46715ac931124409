import pytest
import torch
from torch import nn

from snnconv.attacks import AttackSpec, MemberView, ensemble_robustness, per_sample_uniform, predict
from snnconv.method.models import Simulation, build
from snnconv.method.surrogates import PAPER_ENSEMBLE


@pytest.mark.parametrize("spec", [AttackSpec("PGD", 8 / 255, steps=3), AttackSpec("APGD-CE", 8 / 255, steps=3),
                                  AttackSpec("APGD-T", 8 / 255, steps=2, targets=2), AttackSpec("RFGSM", 8 / 255)],
                         ids=lambda spec: spec.name)
def test_verdicts_do_not_depend_on_member_order(snn_and_data, spec):
    net, x, y = snn_and_data
    members = PAPER_ENSEMBLE[::3]
    forward = ensemble_robustness(net, x, y, spec, time_steps=4, members=members, batch_size=7, progress=False)
    backward = ensemble_robustness(net, x, y, spec, time_steps=4, members=members[::-1], batch_size=5,
                                   progress=False)
    assert torch.equal(forward.robust, backward.robust)
    assert 0 < forward.correct < forward.clean_correct.sum()  # the attack did something, not everything


def test_clean_errors_count_as_failures_and_robust_implies_clean_correct(snn_and_data):
    net, x, y = snn_and_data
    result = ensemble_robustness(net, x, y, AttackSpec("FGSM", 2 / 255), time_steps=4,
                                 members=PAPER_ENSEMBLE[:3], progress=False)
    assert not result.robust[:4].any()
    assert not (result.robust & ~result.clean_correct).any()
    assert result.n == 24
    assert all(result.fooled_by[i] == "clean" for i in range(4))


def test_zero_budget_keeps_every_clean_correct_sample(snn_and_data):
    net, x, y = snn_and_data
    result = ensemble_robustness(net, x, y, AttackSpec("PGD", 0.0, 2), time_steps=4,
                                 members=PAPER_ENSEMBLE[:2], progress=False)
    assert torch.equal(result.robust, result.clean_correct)


def test_a_model_with_zero_gradients_is_not_fooled_by_fgsm_but_by_square():
    """The prediction depends on x (the image's mean brightness decides class 0 or 1), its gradient is 0: FGSM
    cannot move the image, the gradient-free Square attack can."""

    class Masked(nn.Module):
        def forward(self, x, simulation=None):
            brightness = x.detach().flatten(1).mean(1) - 0.5  # no gradient flows through the decision
            logits = torch.stack([10 * brightness, -10 * brightness, torch.zeros_like(brightness)], 1)
            return logits + 0 * x.flatten(1).sum(1, keepdim=True)

    torch.manual_seed(0)
    x = (0.55 + 0.1 * torch.rand(20, 1, 4, 4)).clamp(0, 1)  # mean brightness in (0.55, 0.65): class 0
    y = torch.zeros(20, dtype=torch.long)
    fgsm = ensemble_robustness(Masked(), x, y, AttackSpec("FGSM", 0.3), time_steps=4,
                               members=PAPER_ENSEMBLE[:2], progress=False)
    assert fgsm.clean_correct.all() and fgsm.accuracy == 100.0
    square = ensemble_robustness(Masked(), x, y, AttackSpec("Square", 0.3, steps=200), time_steps=4, progress=False)
    assert square.accuracy < 50.0


def test_attacks_leave_the_model_in_eval_mode(snn_and_data):
    net, x, y = snn_and_data
    ensemble_robustness(net, x[:4], y[:4], AttackSpec("FGSM", 2 / 255), 4, PAPER_ENSEMBLE[:1], progress=False)
    assert not net.training
    assert not MemberView(net, Simulation(4)).training


def test_random_starts_depend_on_the_image_not_on_its_batch():
    x = torch.rand(6, 1, 5, 5)
    whole = per_sample_uniform(x, seed=3, salt="m")
    part = per_sample_uniform(x[[4, 1]], seed=3, salt="m")
    torch.testing.assert_close(part, whole[[4, 1]])
    assert not torch.equal(per_sample_uniform(x, seed=3, salt="other"), whole)
    assert whole.abs().max() <= 1


def test_ann_evaluation_uses_a_single_member():
    net = build("vgg_small", "fashion_mnist").eval()
    x = torch.rand(6, 1, 28, 28)
    y = predict(net, x, Simulation(0))
    result = ensemble_robustness(net, x, y, AttackSpec("FGSM", 8 / 255), time_steps=0, progress=False)
    assert result.members == ("ANN",)


@pytest.mark.parametrize("kwargs, match", [(dict(name="CW", epsilon=0.1), "attack"),
                                           (dict(name="PGD", epsilon=-0.1), "epsilon"),
                                           (dict(name="PGD", epsilon=0.1, steps=0), "steps")])
def test_attack_spec_is_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AttackSpec(**kwargs)


def test_per_member_verdicts_and_with_early_exit_agree(snn_and_data):
    net, x, y = snn_and_data
    members = PAPER_ENSEMBLE[::4]
    spec = AttackSpec("PGD", 8 / 255, steps=2)
    early = ensemble_robustness(net, x, y, spec, time_steps=4, members=members, progress=False)
    each = ensemble_robustness(net, x, y, spec, time_steps=4, members=members, progress=False, per_member=True)
    assert torch.equal(early.robust, each.robust)
    combined = torch.stack(list(each.member_robust.values())).all(dim=0)
    assert torch.equal(combined, each.robust)
    table = each.member_table()
    assert list(table["member"]) == [m.label for m in members]
    assert table["fooled first"].sum() == int((each.clean_correct & ~each.robust).sum())
    # every member alone is at least as weak as the ensemble
    assert (table["robust accuracy (%)"] >= each.accuracy).all()


def test_rfgsm_stays_in_the_ball():
    from snnconv.attacks import RFGSM

    net = build("vgg_small", "fashion_mnist").eval()
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    adv = RFGSM(MemberView(net, Simulation(0)), epsilon=8 / 255, alpha=2 / 255, seed=0, salt="m")(x, y)
    assert (adv - x).abs().max() <= 8 / 255 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert AttackSpec("RFGSM", 8 / 255).label == "RFGSM"
    pgd7 = AttackSpec("PGD", 8 / 255, steps=7, step_size=0.01).build(MemberView(net, Simulation(0)), 0, "m")
    assert pgd7.step_size == 0.01


def test_vanilla_attack_follows_the_gradient_the_snn_is_finetuned_with(snn_and_data):
    """Tables B3/B4's non-adaptive attack: its FGSM image is x + ε·sign ∇_x CE under the gradient of the robust
    finetuning objective (Eqs. 9–10, the surrogate of Eq. 15), and differs from another member's (BPTR)."""
    from snnconv.attacks import VANILLA
    from snnconv.method.surrogates import BPTR
    from snnconv.training.objectives import RobustFinetuning

    net, x, y = snn_and_data
    spec = AttackSpec("FGSM", 8 / 255)
    vanilla = ensemble_robustness(net, x, y, spec, time_steps=4, members=VANILLA, progress=False,
                                  keep_adversarial=True)
    trained_with = Simulation(4, RobustFinetuning(epsilon=2 / 255, step=1 / 255).simulation.gradient)
    inputs = x.clone().requires_grad_(True)
    nn.functional.cross_entropy(net(inputs, trained_with), y).backward()
    expected = (x + 8 / 255 * inputs.grad.sign()).clamp(0, 1)
    attacked = vanilla.clean_correct
    assert torch.equal(vanilla.adversarial[attacked], expected[attacked])
    bptr = ensemble_robustness(net, x, y, spec, time_steps=4, members=(BPTR(),), progress=False,
                               keep_adversarial=True)
    assert not torch.equal(bptr.adversarial[attacked], expected[attacked])


def test_dlr_loss_matches_its_equation_and_ignores_logit_scale():
    from snnconv.attacks import dlr_loss

    z = torch.tensor([[4.0, 1.0, 3.0, 0.0, -1.0], [0.0, 5.0, 2.0, 1.0, 0.5]])
    y = torch.tensor([2, 1])
    # sample 0: true 3, best other 4, z_pi1 - z_pi3 = 4 - 1; sample 1: true 5 (top), other 2, 5 - 1
    torch.testing.assert_close(dlr_loss(z, y), torch.tensor([-(3 - 4) / 3, -(5 - 2) / 4]))
    t = torch.tensor([0, 3])
    # targeted: -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)
    torch.testing.assert_close(dlr_loss(z, y, t), torch.tensor([-(3 - 4) / (4 - 0.5), -(5 - 1) / (5 - 0.75)]))
    torch.testing.assert_close(dlr_loss(3 * z + 7, y, t), dlr_loss(z, y, t))


def _linear_classifier():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 4))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x, simulation=None):
            return self.net(x)

    x = torch.rand(32, 1, 4, 4)
    return Model().eval(), x, predict(Model().eval(), x, Simulation(0))


@pytest.mark.parametrize("name", ["APGD-CE", "APGD-DLR", "APGD-T"])
def test_apgd_stays_in_the_ball_and_is_at_least_as_strong_as_fgsm(name):
    model, x, y = _linear_classifier()
    view = MemberView(model, Simulation(0))
    adv = AttackSpec(name, 0.1, steps=20).build(view, seed=0, salt="m")(x, y)
    assert (adv - x).abs().max() <= 0.1 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    apgd = ensemble_robustness(model, x, y, AttackSpec(name, 0.1, steps=20), time_steps=0, progress=False)
    fgsm = ensemble_robustness(model, x, y, AttackSpec("FGSM", 0.1), time_steps=0, progress=False)
    assert 0 < apgd.correct <= fgsm.correct < 32


def test_square_finds_adversarials_without_gradients_and_records_queries():
    model, x, y = _linear_classifier()
    result = ensemble_robustness(model, x, y, AttackSpec("Square", 0.3, steps=300), time_steps=0, progress=False)
    assert result.members == ("ANN",) and result.fooled_at is not None
    assert result.correct < 32
    # accuracy never rises with the query budget and equals the final verdict at the full budget
    curve = [result.accuracy_at(q) for q in (1, 10, 100, 300)]
    assert curve == sorted(curve, reverse=True) and curve[-1] == result.accuracy
    fooled = result.fooled_at[~result.robust]
    assert ((fooled >= 1) & (fooled <= 300)).all()


def test_square_on_an_snn_runs_once_against_the_true_network(snn_and_data):
    net, x, y = snn_and_data
    result = ensemble_robustness(net, x, y, AttackSpec("Square", 8 / 255, steps=5), time_steps=4, progress=False)
    assert result.members == ("Square",)
    assert (result.fooled_at[:4] == 0).all()  # clean errors


def test_kept_adversarials_are_the_ones_that_fooled(snn_and_data):
    net, x, y = snn_and_data
    result = ensemble_robustness(net, x, y, AttackSpec("PGD", 16 / 255, steps=3), time_steps=4,
                                 members=PAPER_ENSEMBLE[:3], progress=False, keep_adversarial=True)
    adv = result.adversarial
    assert (adv - x).abs().max() <= 16 / 255 + 1e-6
    fooled = result.clean_correct & ~result.robust
    assert fooled.any()
    assert (predict(net, adv[fooled], Simulation(4)) != y[fooled]).all()


def test_transfer_images_are_crafted_on_every_image_and_keep_the_highest_loss_attempt(snn_and_data):
    from snnconv.attacks import transfer_images

    net, x, y = snn_and_data
    spec = AttackSpec("PGD", 8 / 255, steps=2)
    members = PAPER_ENSEMBLE[:3]
    crafted = transfer_images(net, x, y, spec, time_steps=4, members=members, batch_size=7, progress=False)
    # The source's clean errors (the first four images) are perturbed too, not handed over unperturbed.
    assert all((crafted[i] - x[i]).abs().max() > 0 for i in range(4))
    assert (crafted - x).abs().max() <= 8 / 255 + 1e-6
    rebatched = transfer_images(net, x, y, spec, time_steps=4, members=members, batch_size=24, progress=False)
    torch.testing.assert_close(crafted, rebatched)
    # An image the source resists carries the member attempt with the highest loss on the source.
    truth = Simulation(4)
    attempts = [spec.build(MemberView(net, Simulation(4, m)), 0, salt=m.label)(x, y) for m in members]
    with torch.no_grad():
        losses = torch.stack([nn.functional.cross_entropy(net(a, truth), y, reduction="none") for a in attempts])
        fooled = torch.stack([net(a, truth).argmax(1) != y for a in attempts])
    resisted = (~fooled.any(0)).nonzero().flatten()
    assert len(resisted) > 0
    for i in resisted.tolist():
        torch.testing.assert_close(crafted[i], attempts[int(losses[:, i].argmax())][i])


def test_the_ensemble_fgsm_with_a_shared_forward_equals_each_member_alone(snn_and_data):
    """The shared-forward FGSM (one pass, one backward per member) gives every member's own verdicts and images."""
    net, x, y = snn_and_data
    members = (*PAPER_ENSEMBLE[:4], PAPER_ENSEMBLE[-1], *PAPER_ENSEMBLE[14:17])  # incl. ReLU approximation, BPTR
    spec = AttackSpec("FGSM", 4 / 255)
    alone = [ensemble_robustness(net, x, y, spec, time_steps=4, members=(m,), progress=False, keep_adversarial=True)
             for m in members]
    each = ensemble_robustness(net, x, y, spec, time_steps=4, members=members, batch_size=7, progress=False,
                               per_member=True, keep_adversarial=True)
    early = ensemble_robustness(net, x, y, spec, time_steps=4, members=members, batch_size=5, progress=False)
    for member, own in zip(members, alone, strict=True):
        assert torch.equal(each.member_robust[member.label], own.robust)
    robust = torch.stack([own.robust for own in alone]).all(0)
    assert torch.equal(each.robust, robust) and torch.equal(early.robust, robust)
    first = ["clean" if not c else next((m.label for m, own in zip(members, alone, strict=True)
                                         if not own.robust[i]), "") for i, c in enumerate(each.clean_correct)]
    assert list(early.fooled_by) == first == list(each.fooled_by)
    assert 0 < each.correct < int(each.clean_correct.sum())
    # the kept image: the first member's success, else the last member's attempt
    for i, label in enumerate(first):
        source = alone[[m.label for m in members].index(label)] if label not in ("", "clean") else alone[-1]
        if label != "clean":
            assert torch.equal(each.adversarial[i], source.adversarial[i])
