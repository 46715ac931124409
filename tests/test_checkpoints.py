"""snnconv.robustness.checkpoints: every model of the book has a name, each name is a model the book plans, the printed
compute command plans it, load returns the stored weights, and the two errors say what to do.

The references are the book's own plan (``snnconv needs`` over every page: what the pages compute, found without
computing), the command line's parser for the printed commands, and the stored safetensors file read here.
"""

from __future__ import annotations

import hashlib
import shlex

import pytest
import torch
from safetensors.torch import load_file

import snnconv
from snnconv.book import pages
from snnconv.book.run import Run
from snnconv.book.subjects import converted, prepare
from snnconv.cli import book_needs, parameter_value, parser, plan_page
from snnconv.experiment.parameters import resolve
from snnconv.experiment.profiles import PROFILES
from snnconv.method.models import Simulation
from snnconv.robustness.checkpoints import Checkpoint, CheckpointMissing, catalogue, load
from snnconv.storage.store import MODEL_KINDS, ArtifactStore

PROFILE = "smoke"


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return catalogue(PROFILE, seed=0)


def test_every_model_the_book_plans_has_a_name_and_every_name_is_planned(rows):
    planned = book_needs(list(pages.PAGES), {"profile": PROFILE}, ArtifactStore())
    models = {need.id for need in planned.values() if need.kind in MODEL_KINDS}
    # The claims page trains its models with every seed of the profile (a twin SNN takes the next seed).
    named = {f"{row['kind']}/{row['key']}" for seed in PROFILES[PROFILE].claim_seeds
             for row in (rows if seed == 0 else catalogue(PROFILE, seed))}
    assert models - named == set()
    assert {f"{row['kind']}/{row['key']}" for row in rows} - models == set()


def test_the_names_the_issue_asks_for_and_shared_models(rows):
    by_name = {row["name"]: row for row in rows}
    assert len(by_name) == len(rows)
    for name in ("ann/at-eps1", "converted/at-eps1", "snn-rat", "vanilla"):
        assert name in by_name
    ours = by_name["converted/at-eps1"]
    assert (ours["kind"], ours["label"], ours["T"], ours["neuron"]) == ("snn", "AT-eps1", 8, "IF, hard reset")
    # One model under two names: Fig. 1 at the profile's β and Table B5's last row are Table 1's SNN.
    assert by_name["converted/at-eps1/beta=2"]["key"] == ours["key"]
    assert by_name["ablation/init=at,inner=kl,outer=eq11,vth=trainable"]["key"] == ours["key"]
    assert by_name["ann/at-eps1"]["T"] == 0 and by_name["bntt"]["T"] == PROFILES[PROFILE].long_time_steps


def test_each_compute_command_plans_its_model(rows):
    store, plans = ArtifactStore(), {}
    for row in [*rows, *catalogue(PROFILE, seed=1)[:3]]:
        words = shlex.split(row["compute"])
        assert words[0] == "snnconv"
        args = parser().parse_args(words[1:])
        given = {name: parameter_value(value) for name, value in args.p}
        signature = (args.page, tuple(sorted(given.items())))
        if signature not in plans:
            plans[signature] = plan_page(args.page, given, store).plan.needs
        assert args.only == f"{row['kind']}/{row['key']}" and args.only in plans[signature], row["name"]


@pytest.fixture(scope="module")
def stored_model():
    """Table 1's AT-ε1 SNN at the smoke profile, from the store (CI's notebooks compute it in the same session with
    the store shared; run alone on an empty store, this trains it first: about a minute)."""
    settings = resolve(profile=PROFILE, threads=torch.get_num_threads())
    subject = converted(prepare(Run(settings, ArtifactStore(), progress=False)), "at")[1]
    subject.model  # noqa: B018 - loads it, or computes and stores it
    return subject


def test_load_returns_the_stored_weights(stored_model, rows):
    network = snnconv.load("converted/at-eps1", profile=PROFILE)
    weights = ArtifactStore().root / "snn" / f"{stored_model.key}.safetensors"
    stored = load_file(str(weights))
    assert set(network.state_dict()) == set(stored)
    assert all(torch.equal(network.state_dict()[name].cpu(), tensor) for name, tensor in stored.items())
    info = network.checkpoint
    assert isinstance(info, Checkpoint) and not network.training
    assert (info.name, info.id, info.time_steps, info.profile, info.seed) == (
        "converted/at-eps1", f"snn/{stored_model.key}", 8, PROFILE, 0)
    assert info.sha256 == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert next(r for r in rows if r["name"] == "converted/at-eps1")["sha256"] == info.sha256
    device = next(network.parameters()).device
    assert network(torch.rand(2, 1, 28, 28, device=device), Simulation(info.time_steps)).shape == (2, 10)


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError) as error:
        load("converted/at-eps9", profile=PROFILE)
    message = str(error.value)
    assert message.startswith("'converted/at-eps9' is not a model of the book: one of ann/natural, ")
    assert "converted/at-eps1, " in message and "snn-rat" in message and "\n" not in message


def test_a_model_not_in_the_store_names_the_command_that_makes_it(tmp_path):
    store = ArtifactStore(tmp_path)
    key = next(r["key"] for r in catalogue(PROFILE, 0, store) if r["name"] == "converted/at-eps1")
    with pytest.raises(CheckpointMissing) as error:
        load("converted/at-eps1", profile=PROFILE, store=store)
    message = str(error.value)
    assert f"`snnconv compute table1_conversion -p profile smoke -p seed 0 --only snn/{key}`." in message
    assert "\n" not in message
    assert not list(tmp_path.rglob("*.safetensors"))  # nothing was trained


def test_an_unknown_profile_is_one_sentence():
    with pytest.raises(ValueError, match="profile='fast' is not allowed"):
        catalogue("fast")
