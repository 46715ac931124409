"""snnconv.evaluate: the suite's worst case against each attack run alone, order and batch independence, the model
card, its CSV, the argument errors, and the bar of issue 30 — the full suite on a checkpoint loaded by name gives the
robustness audit's stored per-image verdicts exactly (smoke profile).

The references are independent of evaluate's own loop: each attack is called directly through
``snnconv.attacks.ensemble_robustness`` on every image (no early exit, another batch size), the intervals are
written out from their formulas, and the checkpoint's SHA-256 is hashed from the file here.
"""

from __future__ import annotations

import hashlib
import importlib
import math

import pandas as pd
import pytest
import snntorch
import torch
from scipy.stats import beta
from torch import nn

import snnconv
from snnconv.adapters import SnnTorchNetwork
from snnconv.attacks import AttackSpec, ensemble_robustness, predict
from snnconv.book.audit import audit_attacks, audit_rows
from snnconv.book.run import Run
from snnconv.book.subjects import converted, evaluation_images, prepare
from snnconv.experiment.parameters import resolve
from snnconv.experiment.profiles import PROFILES
from snnconv.method.models import Simulation
from snnconv.method.surrogates import BPTT, exponential, rectangular, triangular
from snnconv.robustness.card import ModelCard
from snnconv.robustness.evaluation import evaluate
from snnconv.robustness.suite import STANDARD_ATTACKS, Suite, SuiteAttack, build_suite
from snnconv.storage.store import ArtifactStore

T = 4
EPSILON = 2 / 255  # on the conftest network: every attack below fools some images, Square some that no other does
TRIANGULAR, RECTANGULAR, EXPONENTIAL = BPTT(triangular(1.0)), BPTT(rectangular(1.0)), BPTT(exponential(1.0, 1.0))
#: (label, attack, steps, members) of a cheap suite: three white-box attacks through members, then Square.
WHITE_BOX = (("FGSM", "FGSM", 1, (TRIANGULAR, RECTANGULAR)), ("PGD3", "PGD", 3, (TRIANGULAR, RECTANGULAR)),
             ("APGD-CE", "APGD-CE", 2, (EXPONENTIAL,)))
SQUARE = ("Square", "Square", 10, ())


def _suite(attacks, name: str = "tiny") -> Suite:
    return Suite(name, tuple(SuiteAttack(label, attack, steps, tuple(m.label for m in members))
                             for label, attack, steps, members in attacks))


@pytest.fixture
def one_thread():
    """One torch thread for the test, as make test runs it (and as the smoke store was computed); restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_worst_case_is_the_and_of_every_attack_run_alone_on_every_image(snn_and_data, one_thread):
    net, x, y = snn_and_data
    result = evaluate(net, x, y, EPSILON, _suite((*WHITE_BOX, SQUARE)), time_steps=T, batch_size=8, progress=False)

    clean = predict(net, x, Simulation(T)) == y
    expected = clean.clone()
    for (label, attack, steps, members), outcome in zip((*WHITE_BOX, SQUARE), result.attacks, strict=True):
        # White-box: every image, in one batch of 256 (evaluate used batches of 8 on the survivors only). Square:
        # every image in evaluate's batches of 8, the one composition its verdicts are defined for.
        alone = ensemble_robustness(net, x, y, AttackSpec(attack, EPSILON, steps), T, members=members or (TRIANGULAR,),
                                    batch_size=8 if attack == "Square" else 256, progress=False).robust
        expected &= alone
        assert outcome.label == label
        attacked = [i for i, v in enumerate(outcome.robust) if v is not None]
        assert [outcome.robust[i] for i in attacked] == [bool(alone[i]) for i in attacked]
    assert result.worst_case == tuple(expected.tolist())
    assert result.clean == tuple(clean.tolist())
    # The suite must be a test of something: several attacks fool images, Square some that no white-box one does.
    assert sum(outcome.fooled > 0 for outcome in result.attacks) >= 3
    assert 0 < result.card.square_only == sum(w and not s for w, s in zip(
        result.strongest_white_box, result.attack("Square").robust, strict=True))
    assert result.fooled_by.count("clean") == int((~clean).sum())


def test_early_exit_attacks_only_the_images_still_robust(snn_and_data, one_thread):
    net, x, y = snn_and_data
    result = evaluate(net, x, y, EPSILON, _suite(WHITE_BOX), time_steps=T, progress=False)
    robust = list(result.clean)
    for outcome in result.attacks:
        assert [v is not None for v in outcome.robust] == [r or not c for r, c in zip(robust, result.clean,
                                                                                       strict=True)]
        robust = [r and v is not False for r, v in zip(robust, outcome.robust, strict=True)]
    assert tuple(robust) == result.worst_case


def test_verdicts_do_not_depend_on_batch_order_or_attack_order(snn_and_data, one_thread):
    """The white-box attacks' per-image verdicts (Square's depend on its batch: see the module docstring)."""
    net, x, y = snn_and_data
    first = evaluate(net, x, y, EPSILON, _suite(WHITE_BOX), time_steps=T, batch_size=256, progress=False)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(3))
    shuffled = evaluate(net, x[order], y[order], EPSILON, _suite(WHITE_BOX), time_steps=T, batch_size=5,
                        progress=False)
    back = shuffled.to_frame().assign(image=order.tolist()).sort_values("image").reset_index(drop=True)
    pd.testing.assert_frame_equal(back, first.to_frame(), check_dtype=False)
    reordered = evaluate(net, x, y, EPSILON, _suite(WHITE_BOX[::-1]), time_steps=T, progress=False)
    assert reordered.worst_case == first.worst_case


def test_model_card(snn_and_data, tmp_path, one_thread):
    net, x, y = snn_and_data
    weights = tmp_path / "weights.pt"
    torch.save(net.state_dict(), weights)
    result = snnconv.evaluate(net, x, y, EPSILON, _suite((*WHITE_BOX, SQUARE)), time_steps=T, dataset="noise",
                              checkpoint=weights, seed=5, progress=False)
    card, n = result.card, len(x)
    clean, worst = sum(result.clean), sum(result.worst_case)

    def wilson(k: int, z: float = 1.96) -> tuple[float, float]:
        p = k / n
        centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return 100 * (centre - half) / (1 + z * z / n), 100 * (centre + half) / (1 + z * z / n)

    drop = clean - worst  # Clopper–Pearson from the beta quantiles
    assert (card.model, card.architecture, card.neuron) == ("SpikingNetwork", "SpikingNetwork", "IF, hard reset")
    assert (card.dataset, card.time_steps, card.threat_model, card.n, card.seed) == ("noise", T, "L∞", n, 5)
    assert (card.epsilon, card.epsilon_label) == (EPSILON, "2/255")
    assert card.clean_accuracy == 100 * clean / n and card.worst_case_accuracy == 100 * worst / n
    assert (card.clean_ci_low, card.clean_ci_high) == pytest.approx(wilson(clean))
    assert (card.worst_case_ci_low, card.worst_case_ci_high) == pytest.approx(wilson(worst))
    assert card.drop == pytest.approx(100 * drop / n)
    assert (card.drop_ci_low, card.drop_ci_high) == pytest.approx(
        (100 * beta.ppf(0.025, drop, n - drop + 1), 100 * beta.ppf(0.975, drop + 1, n - drop)))
    assert (card.suite, card.attacks) == ("tiny", "FGSM; PGD3; APGD-CE; Square")
    assert card.suite_version.startswith("tiny-1+") and card.attack_profile == "custom"
    assert card.checkpoint == str(weights)
    assert card.checkpoint_sha256 == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert card.code_revision.startswith("2-") and card.snnconv_version == snnconv.__version__
    checks = {row["check"]: row for row in result.diagnostics}
    assert "no image is fooled by Square alone" in checks and "input gradients are not zero" in checks


def test_card_and_verdicts_round_trip_through_csv(snn_and_data, tmp_path, one_thread):
    net, x, y = snn_and_data
    result = evaluate(net, x, y, EPSILON, _suite(WHITE_BOX), time_steps=T, progress=False)
    result.card.to_csv(tmp_path / "card.csv")
    assert ModelCard.read_csv(tmp_path / "card.csv") == result.card
    assert result.card.checkpoint_sha256 == ""  # empty text stays empty text
    result.to_csv(tmp_path / "images.csv")
    table = pd.read_csv(tmp_path / "images.csv", keep_default_na=False)
    assert table["worst case"].tolist() == list(result.worst_case)
    assert table["APGD-CE"].tolist() == ["" if v is None else str(v) for v in result.attack("APGD-CE").robust]


def test_the_named_suites_are_the_audits_attacks():
    # The standard suite is a subset of the audit's attacks (the standard-evaluation page chooses it from them), in
    # the audit's order with Square last, at every profile's strengths; an ANN runs those that stand for them.
    default = [label for label, *_ in audit_attacks(PROFILES["default"], True)]
    assert set(STANDARD_ATTACKS) <= set(default) and STANDARD_ATTACKS[-1] == "Square"
    assert list(STANDARD_ATTACKS) == [label for label in default if label in STANDARD_ATTACKS]
    for profile in ("smoke", "default", "paper"):
        for spiking in (True, False):
            full, standard = (build_suite(name, profile, spiking) for name in ("full", "standard"))
            assert [(a.label, a.attack, a.steps, a.members) for a in full.attacks] == list(
                audit_attacks(PROFILES[profile], spiking))
            assert set(standard.attacks) <= set(full.attacks)
            assert [a for a in full.attacks if a in standard.attacks] == list(standard.attacks)
            assert "provisional" not in standard.version and "provisional" not in full.version
            assert (standard.search is not None) == (spiking and any("HART" in label for label in STANDARD_ATTACKS))
        assert len(build_suite("standard", profile).attacks) == len(STANDARD_ATTACKS)
    assert [a.label for a in build_suite("standard", "default").attacks] == list(STANDARD_ATTACKS)
    assert build_suite("full", "smoke").version != build_suite("full", "default").version


def test_a_named_suite_on_an_ann(snn_and_data, one_thread):
    net, x, y = snn_and_data
    result = evaluate(net, x, y, 8 / 255, "standard", time_steps=0, profile="smoke", progress=False)
    # An ANN has one gradient: the standard suite's attacks through chosen surrogate members do not run on it.
    assert [o.label for o in result.attacks] == [a.label for a in build_suite("standard", "smoke", False).attacks]
    assert [o.steps for o in result.attacks] == [3, 3, 50]  # the smoke profile's APGD steps and Square queries
    assert result.card.neuron == "ReLU (the ANN)" and result.card.suite == "standard"
    assert [o.members for o in result.attacks] == [("ANN",), ("ANN",), ("Square",)]
    assert result.worst_case_accuracy <= result.clean_accuracy


def test_an_adapted_snntorch_network(one_thread):
    torch.manual_seed(0)
    step = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), snntorch.Leaky(beta=0.9, init_hidden=True, output=True))
    net = SnnTorchNetwork(step, loop="adapter", output_index=1)
    x = torch.rand(6, 1, 28, 28)
    y = predict(net, x, Simulation(T))
    suite = Suite("adapted", (SuiteAttack("ensemble FGSM", "FGSM", 1), SuiteAttack("RGA PGD2", "PGD", 2, ("RGA",))))
    result = evaluate(net, x, y, 8 / 255, suite, time_steps=T, progress=False)
    ensemble, rga = result.attacks
    assert ensemble.members[0] == "own surrogate" and len(ensemble.members) == 18  # its own and the 17 adaptable
    assert rga.skipped and rga.members == () and all(v is None for v in rga.robust)
    assert result.card.neuron == "snnTorch Leaky" and result.card.architecture == "SnnTorchNetwork around Sequential"
    assert result.card.attacks == "ensemble FGSM"


@pytest.mark.parametrize("change, words", [
    ({"epsilon": 0.0}, "epsilon=0.0"), ({"epsilon": -0.1}, "epsilon=-0.1"), ({"epsilon": 8}, "epsilon=8"),
    ({"labels": torch.zeros(3, dtype=torch.long)}, "24 images but 3 labels"),
    ({"images": torch.rand(24, 1, 28, 28) * 2}, "must lie in [0, 1]"),
    ({"suite": "strong"}, "suite='strong' is not a suite"), ({"time_steps": None}, "time_steps is needed"),
    ({"profile": "fast"}, "profile='fast' is not a profile"), ({"seed": -1}, "seed=-1 must be an integer >= 0"),
    ({"batch_size": 0}, "batch_size=0 must be an integer >= 1")])
def test_a_bad_argument_is_one_sentence_before_any_attack(snn_and_data, monkeypatch, change, words):
    module = importlib.import_module("snnconv.robustness.evaluation")

    def no_attack(*args, **kwargs):
        raise AssertionError("an attack ran before the arguments were checked")

    monkeypatch.setattr(module, "ensemble_robustness", no_attack)
    monkeypatch.setattr(module, "predict", no_attack)
    net, x, y = snn_and_data
    arguments = {"images": x, "labels": y, "epsilon": EPSILON, "suite": "standard", "time_steps": T, **change}
    with pytest.raises(ValueError) as error:
        evaluate(net, **arguments, progress=False)
    message = str(error.value)
    assert words in message and message.endswith(".") and "\n" not in message


def test_the_progress_bar(snn_and_data, capsys, one_thread):
    net, x, y = snn_and_data
    evaluate(net, x[:4], y[:4], EPSILON, _suite(WHITE_BOX[:1]), time_steps=T, progress=True)
    assert "evaluate (tiny) ε=2/255" in capsys.readouterr().err


def test_full_suite_on_a_named_checkpoint_reproduces_the_audit(one_thread):
    """The bar of issue 30, at the smoke profile: ``snnconv.evaluate`` with the full suite on the AT-ε1 SNN loaded by
    name gives the robustness audit's stored verdicts on the audit's images, image by image: the worst case
    ("strongest known"), the strongest white-box attack, and each attack's verdict wherever evaluate ran it.

    Depends on the smoke store: the model and its audit verdicts at ε2 (CI's claims and robustness-audit notebooks
    compute them in the same session, with the store shared, so here they are loaded; run alone on an empty store,
    ``audit_rows`` computes them first, about two minutes on one thread). The evaluation itself takes ~15 s.
    """
    settings = resolve(profile="smoke", threads=1)
    run = prepare(Run(settings, ArtifactStore(), progress=False))
    subject = converted(run, "at")[1]
    epsilon = settings.profile.budget("ε2")
    stored = {row["attack"]: row["robust"] for row in audit_rows(run, subject, epsilon)}
    images, labels = evaluation_images(settings, settings.profile.n_test_extended)

    result = snnconv.evaluate(snnconv.load("converted/at-eps1", profile="smoke"), images, labels, epsilon,
                              suite="full", progress=False)

    assert result.worst_case == tuple(stored["strongest known"])
    assert result.strongest_white_box == tuple(stored["strongest white-box"])
    assert [o.label for o in result.attacks] == [a for a in stored if a not in (
        "clean", "strongest white-box", "strongest known")]
    for outcome in result.attacks:
        mismatched = [i for i, v in enumerate(outcome.robust) if v is not None and v != stored[outcome.label][i]]
        assert not mismatched, f"{outcome.label} differs from the audit on images {mismatched}"
    assert result.clean == tuple(stored["clean"])
    weights = run.store.root / "snn" / f"{subject.key}.safetensors"
    assert result.card.checkpoint_sha256 == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert (result.card.model, result.card.checkpoint) == ("converted/at-eps1", f"snn/{subject.key}")
    assert (result.card.attack_profile, result.card.time_steps, result.card.dataset) == ("smoke", 8, "fashion_mnist")
