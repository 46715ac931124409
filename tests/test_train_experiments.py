import hashlib
import json
from dataclasses import replace

import pytest
import torch
from safetensors import safe_open

from snnconv.book import results
from snnconv.datasets.augment import augment
from snnconv.datasets.data import DATASETS, DatasetMissingError, load
from snnconv.experiment.config import EvaluationConfig, objective_label
from snnconv.experiment.parameters import ParameterError, resolve
from snnconv.experiment.profiles import PROFILES, ann_config, end_to_end_config, snn_config
from snnconv.method.convert import Calibration
from snnconv.method.models import build
from snnconv.method.neurons import MIN_THRESHOLD
from snnconv.storage import pipeline, store
from snnconv.storage.revision import code_revision
from snnconv.storage.store import ArtifactStore, artifact_key
from snnconv.training.objectives import Natural
from snnconv.training.train import Schedule, fit

SPEC = DATASETS["fashion_mnist"]


def _data(n=48):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_resumed_training_equals_uninterrupted_training(tmp_path):
    images, labels = _data()
    schedule = Schedule(epochs=2, learning_rate=0.05, weight_decay=5e-4, batch_size=16)
    torch.manual_seed(0)
    straight = build("vgg_small", "fashion_mnist")
    fit(straight, Natural(), images, labels, schedule, SPEC, seed=1, progress=False)

    class Interrupted(Exception):
        pass

    calls = {"n": 0}

    def dies_in_second_epoch(model, x, y):
        calls["n"] += 1
        if calls["n"] == 5:  # 3 batches per epoch: the 2nd batch of epoch 2
            raise Interrupted
        return Natural()(model, x, y)

    torch.manual_seed(0)
    interrupted = build("vgg_small", "fashion_mnist")
    with pytest.raises(Interrupted):
        fit(interrupted, dies_in_second_epoch, images, labels, schedule, SPEC, seed=1,
            checkpoint=tmp_path / "ck", progress=False)
    # Simulate a new process: fresh model, same checkpoint, full schedule.
    resumed = build("vgg_small", "fashion_mnist")
    with safe_open(str(tmp_path / "ck.safetensors"), "pt") as handle:  # one file: weights and history agree
        assert len(json.loads(handle.metadata()["state"])["history"]) == 1
    history = fit(resumed, Natural(), images, labels, schedule, SPEC, seed=1, checkpoint=tmp_path / "ck",
                  progress=False)
    assert len(history) == 2
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)


def test_thresholds_stay_above_the_bound_during_training():
    images, labels = _data(16)
    net = build("vgg_small", "fashion_mnist")
    for neuron in net.neurons:
        with torch.no_grad():
            neuron.threshold.fill_(MIN_THRESHOLD)
    from snnconv.method.models import Simulation

    fit(net, Natural(Simulation(2)), images, labels, Schedule(1, 5.0, 0.0, batch_size=8), SPEC, 0, progress=False)
    assert all(n.threshold.item() >= torch.tensor(MIN_THRESHOLD).item() for n in net.neurons)


def test_augment_keeps_shape_and_is_seeded():
    images, _ = _data(8)
    a = augment(images, SPEC, torch.Generator().manual_seed(3))
    b = augment(images, SPEC, torch.Generator().manual_seed(3))
    assert a.shape == images.shape and torch.equal(a, b)


@pytest.mark.parametrize("kwargs, names", [
    (dict(dataset="imagenet"), ["dataset", "imagenet", "fashion_mnist"]),
    (dict(epsilons="2,-4,8"), ["epsilons", "(0, 255]"]),
    (dict(time_steps=0), ["time_steps", "from 1"]),
    (dict(objectives="natural,adversarial"), ["objectives", "trades"]),
    (dict(profile="fast"), ["profile", "smoke"]),
    (dict(n_test=2.5), ["n_test"]),
])
def test_bad_parameters_fail_with_one_sentence(kwargs, names):
    with pytest.raises(ParameterError) as error:
        resolve(**kwargs)
    message = str(error.value)
    assert message.count("\n") == 0 and message.endswith(".")
    for name in names:
        assert name in message


def test_parameters_override_the_profile():
    settings = resolve("smoke", epsilons="1,3", time_steps=4, n_test=10, objectives=["natural", "at"])
    assert settings.profile.epsilons == (1 / 255, 3 / 255)  # [0, 1] pixel units inside the library
    assert settings.profile.time_steps == 4 and settings.profile.n_test == 10
    assert settings.objectives == ("natural", "at")


def test_artifact_keys_change_with_any_parameter():
    profile = PROFILES["default"]
    a = ann_config(profile, "at", seed=0)
    assert artifact_key("ann", a) == artifact_key("ann", ann_config(profile, "at", seed=0))
    assert artifact_key("ann", a) != artifact_key("ann", ann_config(profile, "at", seed=1))
    snn = snn_config(profile, a, seed=0)
    other = snn_config(profile, ann_config(profile, "trades", seed=0), seed=0)
    assert artifact_key("snn", snn) != artifact_key("snn", other)


def test_store_round_trip_is_atomic_and_pickle_free(tmp_path):
    store = ArtifactStore(tmp_path)
    state = {"w": torch.arange(6.0).view(2, 3)}
    assert store.load_weights("ann", "k") is None
    store.save_weights("ann", "k", state, {"note": "x"})
    assert torch.equal(store.load_weights("ann", "k")["w"], state["w"])
    assert store.load_json("ann", "k") == {"note": "x", "code": code_revision()}
    assert not list(tmp_path.rglob("*.partial"))
    assert {p.suffix for p in (tmp_path / "ann").iterdir()} == {".safetensors", ".json", ".sha256"}


def test_missing_dataset_is_one_clear_sentence(tmp_path):
    with pytest.raises(DatasetMissingError, match="make setup"):
        load("fashion_mnist", "train", tmp_path)
    with pytest.raises(DatasetMissingError, match="never downloaded"):
        load("cifar10", "test", tmp_path)


def test_cifar10_loader_reads_torchvision_format(tmp_path):
    import hashlib
    import pickle

    import numpy as np
    from torchvision.datasets import CIFAR10

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    batches = {name: {"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 3]}
               for name, _ in CIFAR10.train_list + CIFAR10.test_list}
    for name, content in batches.items():
        (folder / name).write_bytes(pickle.dumps(content))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [str(i) for i in range(10)]}))
    # torchvision checks md5 sums of the real files; point it at ours.
    sums = {name: hashlib.md5((folder / name).read_bytes()).hexdigest() for name in batches}
    CIFAR10.train_list = [[n, sums[n]] for n, _ in CIFAR10.train_list]
    CIFAR10.test_list = [[n, sums[n]] for n, _ in CIFAR10.test_list]
    CIFAR10.meta = {**CIFAR10.meta, "md5": hashlib.md5((folder / "batches.meta").read_bytes()).hexdigest()}
    images, labels = load("cifar10", "test", tmp_path)
    assert images.shape == (4, 3, 32, 32) and labels.tolist() == [0, 1, 2, 3]
    assert 0 <= images.min() and images.max() <= 1
    assert images[0, 0, 0, 0].item() == pytest.approx(batches["test_batch"]["data"][0, 0] / 255)


def test_fields_added_later_keep_existing_keys_while_at_their_default():

    config = EvaluationConfig("k", "fashion_mnist", "FGSM", 8 / 255, 1, 8, 100, 0)
    assert "per_member" not in store.plain(config)
    changed = replace(config, per_member=True)
    assert artifact_key("evaluation", config) != artifact_key("evaluation", changed)


def test_members_are_named_by_label_and_by_the_papers_table_b2_names():
    from snnconv.method.surrogates import PAPER_ENSEMBLE

    assert pipeline.members_by_label(()) == PAPER_ENSEMBLE
    assert pipeline.members_by_label(("BPTR",)) == (PAPER_ENSEMBLE[-2],)
    with pytest.raises(ValueError, match="members"):
        pipeline.members_by_label(("sigmoid",))
    names = [results.paper_member_name(m) for m in PAPER_ENSEMBLE]
    assert names[0] == ("triangular", "gamma_w=1.0")
    assert ("exponential", "gamma_d=0.3;gamma_s=0.5") in names
    assert names[-3:] == [("STE", ""), ("BPTR", ""), ("conversion", "")]
    from snnconv.book.published import published

    table = published("tableB2")
    assert set(names) <= set(zip(table["surrogate_family"], table["parameters"], strict=True))


def test_parseval_retraction_fixes_orthonormal_rows_and_pulls_others_towards_them():
    from torch import nn

    from snnconv.training.train import ParsevalRetraction

    layer = nn.Linear(6, 4, bias=False)
    q, _ = torch.linalg.qr(torch.randn(6, 4))
    with torch.no_grad():
        layer.weight.copy_(q.T)  # 4 orthonormal rows
    ParsevalRetraction(beta=0.1)(layer)
    torch.testing.assert_close(layer.weight @ layer.weight.T, torch.eye(4))

    scaled = nn.Conv2d(2, 3, 3, bias=False)
    with torch.no_grad():
        scaled.weight.mul_(5.0)
    flat = scaled.weight.detach().view(3, -1)
    before = torch.linalg.matrix_norm(flat @ flat.T - torch.eye(3))
    w = flat.clone()
    ParsevalRetraction(beta=1e-3)(scaled)
    # exactly (1 + β) W − β W Wᵀ W on the out × (in·k·k) view
    torch.testing.assert_close(scaled.weight.view(3, -1), 1.001 * w - 1e-3 * w @ w.T @ w)
    after = torch.linalg.matrix_norm(scaled.weight.view(3, -1) @ scaled.weight.view(3, -1).T - torch.eye(3))
    assert after < before


def test_parseval_retraction_touches_a_row_subset_of_wide_layers():
    from torch import nn

    from snnconv.training.train import ParsevalRetraction

    layer = nn.Linear(3, 10, bias=False)
    w = layer.weight.detach().clone()
    torch.manual_seed(0)
    ParsevalRetraction(beta=0.5, row_fraction=0.3, all_rows_below=5)(layer)
    changed = (layer.weight != w).any(dim=1)
    assert int(changed.sum()) == 3


def test_snn_rat_objective_is_cross_entropy_on_random_step_adversarials():
    import torch.nn.functional as F

    from snnconv.method.models import Simulation
    from snnconv.training.objectives import RandomStepAdversarialTraining

    torch.manual_seed(0)
    net = build("vgg_small", "fashion_mnist").train()
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    simulation = Simulation(2)
    zero_budget = RandomStepAdversarialTraining(0.0, 0.0, simulation=simulation)(net, x, y)
    torch.testing.assert_close(zero_budget, F.cross_entropy(net(x, simulation), y))
    attacked = RandomStepAdversarialTraining(8 / 255, 4 / 255, simulation=simulation)(net, x, y)
    assert attacked.requires_grad and attacked > zero_budget - 1e-3


def test_end_to_end_baselines_have_fixed_thresholds_and_their_own_keys(tmp_path, monkeypatch):
    profile = PROFILES["smoke"]
    vanilla = end_to_end_config(profile, "vanilla", seed=0)
    rat = end_to_end_config(profile, "snn_rat", seed=0)
    assert vanilla.epsilon == 0 and rat.epsilon == 2 / 255 and rat.schedule.weight_decay == 0
    assert artifact_key("end_to_end", vanilla) != artifact_key("end_to_end", rat)
    with pytest.raises(ValueError, match="method"):
        end_to_end_config(profile, "hire", seed=0)
    images, labels = _data(32)
    monkeypatch.setattr(pipeline, "training_data", lambda *args: (images, labels))
    small = replace(rat, schedule=Schedule(1, 0.05, 0.0, batch_size=16), time_steps=2)
    model = pipeline.ensure_end_to_end(small, ArtifactStore(tmp_path), progress=False)
    assert all(n.threshold.item() == 1.0 for n in model.neurons)
    assert (tmp_path / "end_to_end").is_dir()


def test_reimplemented_attacks_do_not_reuse_stale_verdicts():

    square = EvaluationConfig("k", "fashion_mnist", "Square", 8 / 255, 5000, 0, 2000, 0)
    fgsm = replace(square, attack="FGSM")

    def key_before_revisions(config):
        content = {"kind": "evaluation", "format": store.STORE_FORMAT, "config": store.plain(config)}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:20]

    assert artifact_key("evaluation", square) != key_before_revisions(square)
    assert artifact_key("evaluation", fgsm) == key_before_revisions(fgsm)  # untouched attacks keep their keys
    # Per-member verdicts now store each member's per-image verdicts: only those records go stale.
    assert artifact_key("evaluation", replace(fgsm, per_member=True)) != key_before_revisions(
        replace(fgsm, per_member=True))


def test_apgd_verdicts_from_before_the_reference_checkpoint_rule_are_stale():
    """Revision 2 of the APGD attacks (the reference's step-halving rule) gives their verdicts new keys; Square's
    verdicts keep the keys of revision 1."""
    apgd = EvaluationConfig("k", "fashion_mnist", "APGD-CE", 8 / 255, 10, 8, 1000, 0)

    def key_at_revision(config, revision):
        content = {"kind": "evaluation", "format": store.STORE_FORMAT, "config": store.plain(config),
                   "revision": revision}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:20]

    for name in ("APGD-CE", "APGD-DLR", "APGD-T"):
        config = replace(apgd, attack=name)
        assert artifact_key("evaluation", config) == key_at_revision(config, 2)
        assert artifact_key("evaluation", config) != key_at_revision(config, 1)
    square = replace(apgd, attack="Square", steps=5000)
    assert artifact_key("evaluation", square) == key_at_revision(square, 1)


def test_at_eps2_and_eps3_baselines_train_at_the_larger_budgets():
    profile = PROFILES["default"]
    for objective, label, epsilon in (("at", "AT-eps1", 2), ("at_eps2", "AT-eps2", 4), ("at_eps3", "AT-eps3", 8)):
        config = ann_config(profile, objective, seed=0)
        assert config.objective == "at" and config.epsilon == epsilon / 255
        assert objective_label(objective) == label
    assert objective_label("trades") == "TRADES-eps1"
    assert resolve("smoke").objectives == ("natural", "at", "trades", "mart")
    # The training budgets are the paper's named ones, whatever budgets the pages sweep (tests/test_budgets.py).
    swept = resolve("smoke", objectives="at_eps3", epsilons="2,4").profile
    assert ann_config(swept, "at_eps3", seed=0).epsilon == 8 / 255


def test_a_lif_snn_keeps_its_leak_and_soft_reset_through_conversion_and_a_store_round_trip(tmp_path, monkeypatch):
    images, labels = _data(32)
    monkeypatch.setattr(pipeline, "training_data", lambda *args: (images, labels))
    profile = replace(PROFILES["smoke"], ann_schedule=Schedule(1, 0.05, 5e-4, batch_size=16),
                      snn_schedule=Schedule(1, 1e-3, 1e-3, batch_size=16),
                      calibration=Calibration(time_steps=4, batches=1, batch_size=8), time_steps=3)
    lif = replace(snn_config(profile, ann_config(profile, "natural", seed=0), seed=0), leak=0.99, soft_reset=True)
    artifacts = ArtifactStore(tmp_path)
    trained = pipeline.ensure_snn(lif, artifacts, progress=False)
    reloaded = pipeline.ensure_snn(lif, artifacts, progress=False)  # from the store, no training
    ann = pipeline.ensure_ann(lif.ann, artifacts, progress=False)
    assert [n.leak for n in ann.neurons] == [1.0] * 3 and not any(n.soft_reset for n in ann.neurons)
    for model in (trained, reloaded):
        assert [round(n.leak, 6) for n in model.neurons] == [0.99] * 3
        assert all(n.soft_reset for n in model.neurons)

    def spike_trains(model):
        trains = []
        hooks = [n.register_forward_hook(lambda m, i, out: trains.append(out)) for n in model.neurons]
        with torch.no_grad():
            model(images[:8], pipeline.snn_simulation(lif))
        for hook in hooks:
            hook.remove()
        return trains

    for a, b in zip(spike_trains(trained), spike_trains(reloaded), strict=True):
        assert a.sum() > 0
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # The same weights run as hard-reset IF neurons give other spikes: the check above can fail.
    if_neurons = build("vgg_small", "fashion_mnist")
    if_neurons.load_state_dict({k: v for k, v in reloaded.state_dict().items()
                                if not k.endswith(("beta", "reset_mechanism_val"))}, strict=False)
    if_neurons.eval()
    assert any(not torch.equal(a, b) for a, b in zip(spike_trains(reloaded), spike_trains(if_neurons), strict=True))


def test_the_authors_transfer_protocol_hands_resisted_images_over_clean(snn_and_data):
    from snnconv.attacks import AttackSpec, predict, transfer_images
    from snnconv.method.models import Simulation

    model, images, labels = snn_and_data
    spec = AttackSpec("FGSM", 2 / 255, 1)
    ours = transfer_images(model, images, labels, spec, 4, progress=False)
    authors = transfer_images(model, images, labels, spec, 4, progress=False, resisted="clean")
    fooled = predict(model, ours, Simulation(4), 64) != labels
    assert 0 < int(fooled.sum()) < len(labels)
    assert torch.equal(authors[fooled], ours[fooled])  # a fooling attempt is kept by both protocols
    assert torch.equal(authors[~fooled], images[~fooled]) and not torch.equal(ours[~fooled], images[~fooled])
    with pytest.raises(ValueError, match="resisted="):
        transfer_images(model, images, labels, spec, 4, progress=False, resisted="unperturbed")


def test_the_store_ledger_sums_what_the_used_artifacts_cost_once_each(tmp_path):
    writer = ArtifactStore(tmp_path)
    writer.save_json("evaluation", "a", {"correct": 1, "n": 2, "seconds": 30.0})
    writer.save_weights("snn", "b", {"w": torch.zeros(2)}, {"seconds": 90.0})
    assert writer.cold_seconds() == 120.0
    reader = ArtifactStore(tmp_path)  # a later run that only loads
    assert reader.cold_seconds() == 0.0
    reader.load_json("evaluation", "a")
    reader.load_json("evaluation", "a")
    reader.load_weights("snn", "b")
    assert reader.load_json("evaluation", "missing") is None
    assert reader.cold_seconds() == 120.0 and reader.cold_seconds("snn") == 90.0
