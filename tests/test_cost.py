"""Estimating a page's missing work from the recorded cost of stored artifacts (snnconv.storage.cost)."""

from __future__ import annotations

import json

import pytest

from snnconv import cli
from snnconv.storage.cost import CostModel
from snnconv.storage.store import ArtifactStore


def _pgd(model_key: str, n_test: int, epsilon: float = 8 / 255, time_steps: int = 8, seed: int = 0) -> dict:
    return {"model_key": model_key, "attack": "PGD", "epsilon": epsilon, "steps": 20, "time_steps": time_steps,
            "n_test": n_test, "seed": seed, "members": []}


def test_an_estimate_rests_on_the_finest_basis_and_scales_with_the_work():
    model = CostModel([("evaluation", _pgd("a", 1000), "snn", 100.0), ("evaluation", _pgd("b", 1000), "snn", 140.0),
                       ("evaluation", _pgd("c", 1000), "ann", 5.0),
                       ("snn", {"ann": {"objective": "at", "seed": 0}, "schedule": {"epochs": 1}, "time_steps": 8,
                                "seed": 0}, "", 600.0)])
    # Same work on another model, seed and test-set size: the median seconds per image (120 s / 1000) × 2000.
    assert model.estimate("evaluation", _pgd("z", 2000, seed=2), "snn").seconds == pytest.approx(240.0)
    assert model.estimate("evaluation", _pgd("z", 2000), "snn").basis == "same work"
    # Another budget and T = 32 on the same kind of model: scaled by images × steps × time steps.
    other = model.estimate("evaluation", _pgd("z", 500, epsilon=2 / 255, time_steps=32), "snn")
    assert other.basis == "same attack or method" and other.seconds == pytest.approx(120.0 * 0.5 * 4)
    # The ANN's own rate where there is one; a kind of model never attacked borrows any model's rate.
    assert model.estimate("evaluation", _pgd("z", 1000), "ann").seconds == pytest.approx(5.0)
    assert model.estimate("evaluation", _pgd("z", 1000), "end_to_end").basis == "same kind"
    # A model of seed 1 costs what seed 0's did; three times the epochs, three times the cost by method.
    seed_1 = {"ann": {"objective": "at", "seed": 1}, "schedule": {"epochs": 1}, "time_steps": 8, "seed": 1}
    assert model.estimate("snn", seed_1) == model.estimate("snn", {**seed_1, "seed": 0})
    assert model.estimate("snn", seed_1).seconds == 600.0
    longer = model.estimate("snn", {**seed_1, "schedule": {"epochs": 3}})
    assert longer.basis == "same attack or method" and longer.seconds == pytest.approx(1800.0)
    nothing = model.estimate("evaluation", {**_pgd("z", 1000), "attack": "Square"}, "snn")
    assert nothing.seconds is None and nothing.basis == "no stored artifact alike"


def test_the_store_gives_each_verdict_the_kind_of_its_model_and_needs_lists_estimates(tmp_path, monkeypatch, capsys):
    store = ArtifactStore(tmp_path)
    store.save_json("evaluation", "e1", {"config": _pgd("m", 1000), "seconds": 80.0, "inputs": {"snn/m": "digest"}})
    store.save_json("ann", "a1", {"config": {"objective": "at", "arch": "vgg_small", "schedule": {"epochs": 1},
                                             "seed": 0}, "seconds": 30.0})
    costs = CostModel.from_store(store)
    assert costs.estimate("evaluation", _pgd("z", 500), "snn").seconds == pytest.approx(40.0)
    assert costs.estimate("evaluation", _pgd("z", 500), "ann").basis == "same kind"

    monkeypatch.setenv("SNNCONV_STORE", str(tmp_path))
    assert cli.main(["needs", "fig3_spike_counts", "fig1_beta_sweep", "-p", "profile", "smoke", "--estimate",
                     "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len({row["id"] for row in rows}) == len(rows), "a need two pages share is listed once"
    anns = [row for row in rows if row["kind"] == "ann"]
    assert anns and all(row["estimate_s"] > 0 for row in anns), "each ANN estimated from the stored one"
    assert all("basis" in row for row in rows), "every missing artifact says what its estimate rests on"
    assert cli.main(["needs", "fig3_spike_counts", "-p", "profile", "smoke", "--estimate"]) == 0
    assert "an estimate from similar artifacts, not a measurement" in capsys.readouterr().out
