"""Fig. 2's models and BNTT's attack (Sec. 5.2, Suppl. A.4): configs, BNTT on any VGG layout, EOT."""

from __future__ import annotations

import pytest
import torch

from snnconv.attacks import MemberView, ensemble_robustness
from snnconv.book.results import BNTT_MEMBERS
from snnconv.experiment.profiles import PROFILES, end_to_end_config
from snnconv.method.bntt import build_bntt
from snnconv.method.models import Simulation, build
from snnconv.method.surrogates import PAPER_ENSEMBLE, TRAINING_GRADIENT

PROFILE = PROFILES["smoke"]


def test_rfgsm_is_mixed_at_without_retraction_and_bntt_is_natural():
    rfgsm = end_to_end_config(PROFILE, "rfgsm", 0)
    rat = end_to_end_config(PROFILE, "snn_rat", 0)
    assert (rfgsm.clean_weight, rfgsm.retraction, rfgsm.epsilon) == (0.5, 0.0, PROFILE.budget("ε1"))
    assert rfgsm.schedule.weight_decay == PROFILE.ann_schedule.weight_decay and rat.schedule.weight_decay == 0.0
    bntt = end_to_end_config(PROFILE, "bntt", 0, time_steps=30)
    assert (bntt.epsilon, bntt.time_steps) == (0.0, 30)
    lif = end_to_end_config(PROFILE, "vanilla", 0, time_steps=30, leak=0.99, soft_reset=True)
    assert (lif.leak, lif.soft_reset) == (0.99, True)
    # The IF baselines keep the keys they were stored under (new fields at their defaults are left out).
    assert end_to_end_config(PROFILE, "vanilla", 0) == end_to_end_config(PROFILE, "vanilla", 0, time_steps=8)


def test_bntt_on_the_small_vgg_has_its_neuron_count_and_poisson_input():
    net = build_bntt("fashion_mnist", time_steps=3, arch="vgg_small")
    assert net.neuron_count((1, 28, 28)) == build("vgg_small", "fashion_mnist").neuron_count((1, 28, 28))
    net.train()  # each step normalized by its batch statistics, so that spikes reach the output untrained
    x = torch.rand(8, 1, 28, 28)
    torch.manual_seed(0)
    a = net(x, Simulation(3))
    torch.manual_seed(1)
    b = net(x, Simulation(3))
    assert a.shape == (8, 10) and a.abs().sum() > 0 and not torch.equal(a, b)  # a new Poisson draw per forward


def test_eot_view_averages_the_logits_of_its_draws():
    net = build_bntt("fashion_mnist", time_steps=2, arch="vgg_small").eval()
    x = torch.rand(3, 1, 28, 28)
    simulation = Simulation(2)
    torch.manual_seed(4)
    averaged = MemberView(net, simulation, draws=2)(x)
    torch.manual_seed(4)
    draws = [net(x, simulation) for _ in range(2)]
    assert torch.allclose(averaged, (draws[0] + draws[1]) / 2)
    torch.manual_seed(4)
    assert torch.equal(MemberView(net, simulation)(x), draws[0])  # one draw: the network itself


def test_bntt_members_leave_out_only_the_conversion_based_approximation():
    assert len(BNTT_MEMBERS) == len(PAPER_ENSEMBLE) - 1
    net = build_bntt("fashion_mnist", time_steps=2, arch="vgg_small").eval()
    with pytest.raises(ValueError, match="runs only as an SNN"):
        net(torch.rand(1, 1, 28, 28), Simulation(0))
    from snnconv.attacks import AttackSpec
    from snnconv.storage.pipeline import members_by_label

    images, labels = torch.rand(4, 1, 28, 28), torch.randint(0, 10, (4,))
    torch.manual_seed(0)
    result = ensemble_robustness(net, images, labels, AttackSpec("FGSM", 8 / 255), 2,
                                 members=members_by_label(BNTT_MEMBERS[:2]), progress=False, eot=2)
    assert result.n == 4 and TRAINING_GRADIENT.label in BNTT_MEMBERS


def test_the_if_models_of_fig2_are_planned_without_training_the_lif_models(tmp_path):
    # The claims page tests only Fig. 2's IF comparison; a BNTT model at the longer T costs most of an hour.
    from snnconv.book.results import lif_latency_rows
    from snnconv.book.run import Run
    from snnconv.experiment.parameters import resolve
    from snnconv.storage.plan import planning
    from snnconv.storage.store import ArtifactStore

    def planned_models(neurons: tuple[str, ...]) -> set[str]:
        store = planning(ArtifactStore(tmp_path))
        lif_latency_rows(Run(resolve("smoke"), store, progress=False), neurons=neurons)
        return {need.label for need in store.plan.needs.values() if need.kind != "evaluation"}

    if_only, both = planned_models(("IF",)), planned_models(("IF", "LIF"))
    assert not any("LIF" in label for label in if_only)
    assert {label for label in both if "BNTT" in label} and if_only < both
