"""Table B5's ablations (Suppl. B.3): each row's config, the finetuning variants' losses, fixed thresholds."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from snnconv.book.published import published
from snnconv.experiment.config import EndToEndConfig, SNNConfig
from snnconv.experiment.profiles import (
    ABLATIONS,
    PROFILES,
    Ablation,
    ablation_config,
    ann_config,
    end_to_end_config,
    snn_config,
)
from snnconv.method.models import Simulation, build
from snnconv.storage.store import artifact_key
from snnconv.training.objectives import RobustFinetuning, kl_clean_adversarial

PROFILE = PROFILES["smoke"]


def test_the_ten_rows_are_the_papers_and_share_the_books_models():
    paper = published("tableB5")
    printed = {tuple(r) for r in paper[["baseline_ann", "inner_max_loss", "outer_optimization", "trainable_vth"]]
               .itertuples(index=False)}
    assert {tuple(a.paper_row.values()) for a in ABLATIONS} == printed and len(ABLATIONS) == len(printed) == 10
    configs = [ablation_config(PROFILE, a, seed=0) for a in ABLATIONS]
    # Ours and the natural-ANN row are Table 1's SNNs; the first row is Fig. 4's vanilla SNN (same store keys).
    assert artifact_key("snn", configs[-1]) == artifact_key("snn", snn_config(PROFILE, ann_config(PROFILE, "at", 0), 0))
    assert artifact_key("snn", configs[3]) == artifact_key(
        "snn", snn_config(PROFILE, ann_config(PROFILE, "natural", 0), 0))
    assert configs[0] == end_to_end_config(PROFILE, "vanilla", 0)
    assert len({artifact_key(type(c).__name__, c) for c in configs}) == 10  # ten different models


def test_rows_without_an_ann_train_eq11_end_to_end_with_the_profiles_beta():
    fixed, trainable = (ablation_config(PROFILE, Ablation(None, "kl", "eq11", t), 0) for t in (False, True))
    assert isinstance(fixed, EndToEndConfig) and fixed.method == "robust_finetuning"
    assert (fixed.trainable_threshold, trainable.trainable_threshold) == (False, True)
    assert fixed.trade_off == PROFILE.finetune_trade_off and fixed.epsilon == PROFILE.budget("ε1")
    assert fixed.step == PROFILE.finetune_step_fraction * PROFILE.budget("ε1")


def test_natural_finetuning_row_has_no_budget_and_fixed_row_freezes_thresholds():
    natural = ablation_config(PROFILE, Ablation("at", None, "natural", True), 0)
    assert isinstance(natural, SNNConfig) and (natural.epsilon, natural.trade_off) == (0.0, 0.0)
    fixed = ablation_config(PROFILE, Ablation("at", "kl", "eq11", False), 0)
    assert not fixed.trainable_threshold and fixed.outer == "eq11" and fixed.inner_loss == "kl"


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    net = build("vgg_small", "fashion_mnist").train()
    for neuron in net.neurons:
        with torch.no_grad():
            neuron.threshold.fill_(0.3)
    return net


def test_outer_adversarial_ce_is_the_cross_entropy_on_the_rfgsm_image():
    net, simulation = _net(), Simulation(2)
    x, y = torch.rand(3, 1, 28, 28), torch.tensor([0, 1, 2])
    objective = RobustFinetuning(8 / 255, 4 / 255, 2.0, simulation, inner_loss="ce", outer="adversarial_ce")
    untouched = copy.deepcopy(net)  # a training forward updates the batch norms' running statistics
    torch.manual_seed(5)
    loss = objective(net, x, y)
    net = untouched
    # By hand: x' = x + α sign(N(0, I)); x̃ = x' + (ε − α) sign ∇ CE(f(x'), y) in eval mode, projected.
    torch.manual_seed(5)
    x_rand = (x + 4 / 255 * torch.randn_like(x).sign()).clamp(0, 1).requires_grad_(True)
    net.eval()
    (grad,) = torch.autograd.grad(F.cross_entropy(net(x_rand, simulation), y), x_rand)
    x_adv = torch.min(torch.max(x_rand.detach() + 4 / 255 * grad.sign(), x - 8 / 255), x + 8 / 255).clamp(0, 1)
    net.train()
    assert loss.item() == pytest.approx(F.cross_entropy(net(x_adv, simulation), y).item(), rel=1e-5)


def test_inner_kl_and_ce_craft_different_images_and_eq11_keeps_the_clean_term():
    net, simulation = _net(), Simulation(2)
    x, y = torch.rand(3, 1, 28, 28), torch.tensor([0, 1, 2])
    losses = {}
    for inner in ("kl", "ce"):
        torch.manual_seed(5)
        losses[inner] = RobustFinetuning(8 / 255, 4 / 255, 2.0, simulation, inner_loss=inner)(net, x, y).item()
    clean = F.cross_entropy(net(x, simulation), y).item()
    assert all(loss >= clean - 1e-6 for loss in losses.values())  # CE(x) + β·KL with KL ≥ 0
    assert kl_clean_adversarial(net(x, simulation), net(x, simulation)).item() == pytest.approx(0.0, abs=1e-6)


def test_unknown_variant_is_refused_in_one_sentence():
    with pytest.raises(ValueError, match="inner_loss must be one of"):
        RobustFinetuning(8 / 255, 4 / 255, inner_loss="pgd")


def test_fixed_thresholds_stay_at_their_calibrated_values(tmp_path):
    from snnconv.storage import pipeline
    from snnconv.storage.store import ArtifactStore

    small = replace(PROFILE, train_subset=64, calibration=replace(PROFILE.calibration, batches=1, batch_size=16))
    ann = replace(ann_config(small, "natural", 0), train_subset=64)
    config = replace(snn_config(small, ann, 0), train_subset=64, trainable_threshold=False, time_steps=2)
    torch.set_num_threads(1)
    model = pipeline.ensure_snn(config, ArtifactStore(tmp_path / "store"), progress=False)
    record = ArtifactStore(tmp_path / "store").load_json("snn", artifact_key("snn", config))
    scaled = [small.calibration.scale * v for v in record["calibrated_thresholds"]]
    assert [n.threshold.item() for n in model.neurons] == pytest.approx(scaled, rel=1e-6)
