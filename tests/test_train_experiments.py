import json

import pytest
import torch

from snnconv import experiments
from snnconv.data import DATASETS, DatasetMissingError, augment, load
from snnconv.experiments import ArtifactStore, ParameterError, artifact_key, table1_settings
from snnconv.models import build
from snnconv.neurons import MIN_THRESHOLD
from snnconv.objectives import Natural
from snnconv.train import Schedule, fit

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
    meta = json.loads((tmp_path / "ck.json").read_text())
    assert len(meta["history"]) == 1
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
    from snnconv.models import Simulation

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
        table1_settings(**kwargs)
    message = str(error.value)
    assert message.count("\n") == 0 and message.endswith(".")
    for name in names:
        assert name in message


def test_parameters_override_the_profile():
    settings = table1_settings("smoke", epsilons="1,3", time_steps=4, n_test=10, objectives=["natural", "at"])
    assert settings.profile.epsilons == (1.0, 3.0)
    assert settings.profile.time_steps == 4 and settings.profile.n_test == 10
    assert settings.objectives == ("natural", "at")


def test_artifact_keys_change_with_any_parameter():
    profile = experiments.PROFILES["default"]
    a = experiments.ann_config(profile, "at", seed=0)
    assert artifact_key("ann", a) == artifact_key("ann", experiments.ann_config(profile, "at", seed=0))
    assert artifact_key("ann", a) != artifact_key("ann", experiments.ann_config(profile, "at", seed=1))
    snn = experiments.snn_config(profile, a, seed=0)
    other = experiments.snn_config(profile, experiments.ann_config(profile, "trades", seed=0), seed=0)
    assert artifact_key("snn", snn) != artifact_key("snn", other)


def test_store_round_trip_is_atomic_and_pickle_free(tmp_path):
    store = ArtifactStore(tmp_path)
    state = {"w": torch.arange(6.0).view(2, 3)}
    assert store.load_weights("ann", "k") is None
    store.save_weights("ann", "k", state, {"note": "x"})
    assert torch.equal(store.load_weights("ann", "k")["w"], state["w"])
    assert store.load_json("ann", "k") == {"note": "x"}
    assert not list(tmp_path.rglob("*.partial"))
    assert {p.suffix for p in tmp_path.rglob("*.*")} == {".safetensors", ".json"}


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
    from snnconv.experiments import EvaluationConfig

    config = EvaluationConfig("k", "fashion_mnist", "FGSM", 8 / 255, 1, 8, 100, 0)
    assert "per_member" not in experiments._plain(config)
    changed = experiments.replace(config, per_member=True)
    assert artifact_key("evaluation", config) != artifact_key("evaluation", changed)


def test_members_are_named_by_label_and_by_the_papers_table_b2_names():
    from snnconv.surrogates import PAPER_ENSEMBLE

    assert experiments.members_by_label(()) == PAPER_ENSEMBLE
    assert experiments.members_by_label(("BPTR",)) == (PAPER_ENSEMBLE[-2],)
    with pytest.raises(ParameterError, match="members"):
        experiments.members_by_label(("sigmoid",))
    names = [experiments.paper_member_name(m) for m in PAPER_ENSEMBLE]
    assert names[0] == ("triangular", "gamma_w=1.0")
    assert ("exponential", "gamma_d=0.3;gamma_s=0.5") in names
    assert names[-3:] == [("STE", ""), ("BPTR", ""), ("conversion", "")]
    from snnconv import report

    table = report.published("tableB2")
    assert set(names) <= set(zip(table["surrogate_family"], table["parameters"], strict=True))
