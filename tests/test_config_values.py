"""Configuration as values only (issue 29, item 4): a page parameter is checked and every config is written without
importing torch; the values the configs name are defined once, in torch-free modules, and the objectives and
simulations a config describes are built by the pipeline."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from snnconv.datasets.specs import DATASETS
from snnconv.experiment.config import ANNConfig, EndToEndConfig, EvaluationConfig, SNNConfig
from snnconv.foundations.choices import RESISTED_IMAGES
from snnconv.method import residual
from snnconv.method.architectures import ARCHITECTURES, RESIDUAL_ARCHITECTURES, VGG_CONFIGS
from snnconv.method.calibration import Calibration
from snnconv.training.schedule import Schedule

#: Resolves every profile's settings and writes every config the profiles make, then says which heavy modules
#: were imported.
_WITHOUT_TORCH = """
import sys
import snnconv.experiment.parameters as parameters
from snnconv.experiment import profiles
for name in parameters.PROFILES:
    settings = parameters.resolve(profile=name, epsilons="1,8")
    profile = settings.profile
    for objective in profiles.OBJECTIVES:
        profiles.snn_config(profile, profiles.ann_config(profile, objective, seed=0), seed=0)
    for method in profiles.END_TO_END:
        profiles.end_to_end_config(profile, method, seed=0)
    for ablation in profiles.ABLATIONS:
        profiles.ablation_config(profile, ablation, seed=0)
parameters.parse_transfer_resisted("clean")
print(sorted(name for name in ("torch", "numpy", "safetensors", "snnconv.attacks") if name in sys.modules))
"""


def test_checking_parameters_and_writing_configs_imports_no_torch():
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH"))))}
    shown = subprocess.run([sys.executable, "-c", _WITHOUT_TORCH], capture_output=True, text=True, check=True,
                           cwd=root, env=env)
    assert shown.stdout.strip() == "[]", shown.stdout + shown.stderr


def test_the_config_classes_are_values_without_methods():
    for config in (ANNConfig, SNNConfig, EndToEndConfig, EvaluationConfig):
        assert dataclasses.is_dataclass(config) and config.__dataclass_params__.frozen
        own = {name for name, value in vars(config).items()
               if not name.startswith("__") and (callable(value) or isinstance(value, property))}
        assert not own, f"{config.__name__} builds something: {sorted(own)}"


def test_the_calibration_and_schedule_defaults_are_the_papers():
    # Suppl. A.2: T_c = 100, ρ = 99.7 %, 10 batches of 64, κ = 0.3; momentum SGD with batch 64.
    assert dataclasses.astuple(Calibration()) == (100, 99.7, 10, 64, 0.3)
    schedule = Schedule(epochs=60, learning_rate=1e-3, weight_decay=1e-3)
    assert (schedule.batch_size, schedule.momentum, schedule.decay_all_parameters) == (64, 0.9, False)
    with pytest.raises(ValueError, match="scale"):
        Calibration(scale=0.0)
    with pytest.raises(ValueError, match="learning_rate"):
        Schedule(epochs=1, learning_rate=0.0, weight_decay=0.0)


def test_the_data_set_specs_carry_the_authors_constants():
    assert tuple(DATASETS) == ("fashion_mnist", "cifar10", "cifar100", "svhn", "tinyimagenet")
    fashion, cifar10 = DATASETS["fashion_mnist"], DATASETS["cifar10"]
    assert (fashion.shape, fashion.num_classes, fashion.mean, fashion.std) == ((1, 28, 28), 10, (0.2860,), (0.3530,))
    assert cifar10.std == (0.2023, 0.1994, 0.2010) and (cifar10.padding, cifar10.cutout) == (4, 8)
    assert (DATASETS["tinyimagenet"].crop, DATASETS["tinyimagenet"].num_classes) == ("resized", 200)


def test_the_architecture_names_are_those_the_builders_are_keyed_by():
    assert ARCHITECTURES == ("vgg_small", "vgg11", "vgg11_tin", "resnet20", "wrn16_4")
    assert set(VGG_CONFIGS) | set(RESIDUAL_ARCHITECTURES) == set(ARCHITECTURES)
    assert set(residual._BUILDERS) == set(RESIDUAL_ARCHITECTURES)
    assert RESISTED_IMAGES == ("highest_loss", "clean")


def test_the_moved_values_are_the_ones_the_torch_modules_use():
    from snnconv import attacks
    from snnconv.datasets import data
    from snnconv.method import convert, models, network
    from snnconv.training import train

    assert convert.Calibration is Calibration and train.Schedule is Schedule and data.DATASETS is DATASETS
    assert models.ARCHITECTURES is ARCHITECTURES and models.VGG_CONFIGS is VGG_CONFIGS
    assert attacks.RESISTED_IMAGES is RESISTED_IMAGES
    assert network.Simulation(time_steps=4, readout="sum").readout == "sum"


def test_the_pipeline_builds_the_objectives_a_config_describes():
    from snnconv.experiment.profiles import PROFILES, ann_config, snn_config
    from snnconv.method.network import ANN
    from snnconv.storage.pipeline import ann_objective, snn_objective, snn_simulation
    from snnconv.training.objectives import MART, TRADES, AdversarialTraining, Natural, RobustFinetuning

    profile = PROFILES["smoke"]
    at = ann_config(profile, "at", seed=0)
    assert ann_objective(ann_config(profile, "natural", seed=0)) == Natural()
    assert ann_objective(at) == AdversarialTraining(2 / 255, at.steps, ANN)
    trades = ann_config(profile, "trades", seed=0)
    assert ann_objective(trades) == TRADES(2 / 255, trades.trade_off, trades.steps)
    mart = ann_config(profile, "mart", seed=0)
    assert ann_objective(mart) == MART(2 / 255, mart.trade_off, mart.steps)

    snn = dataclasses.replace(snn_config(profile, at, seed=0), time_steps=5, readout="sum", inner_loss="ce",
                              outer="adversarial_ce")
    simulation = snn_simulation(snn)
    assert (simulation.time_steps, simulation.readout) == (5, "sum")
    objective = snn_objective(snn)
    assert isinstance(objective, RobustFinetuning)
    assert (objective.epsilon, objective.step, objective.trade_off) == (snn.epsilon, snn.step, snn.trade_off)
    assert (objective.simulation, objective.inner_loss, objective.outer) == (simulation, "ce", "adversarial_ce")
