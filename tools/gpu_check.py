"""Prove the paper profile's GPU path on synthetic CIFAR-10-shaped data and time its pieces.

VGG11 (286,720 IF neurons), T = 8, batch 64: threshold calibration at T_c = 100 (peak memory), one
AT-PGD10 ANN training step, one robust-finetuning SNN step (Eqs. 9–10), and ensemble PGD²⁰ through
each kind of member (BPTT surrogate, BPTR, ReLU approximation). Writes a JSON report; run it as

    python tools/gpu_check.py --out report.json

It needs no dataset: images are uniform noise and labels are the network's own predictions.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from snnconv.attacks import AttackSpec, ensemble_robustness, predict
from snnconv.convert import Calibration, convert
from snnconv.models import Simulation, build
from snnconv.objectives import AdversarialTraining, RobustFinetuning
from snnconv.surrogates import BPTR, PAPER_ENSEMBLE, TRAINING_GRADIENT, ReLUApproximation


def timed(function, repeats: int = 3) -> float:
    function()  # warm-up (compilation, cuDNN autotuning)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    device = torch.device("cuda")
    report: dict = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}
    torch.manual_seed(0)
    ann = build("vgg11", "cifar10").to(device)
    snn = build("vgg11", "cifar10").to(device)
    report["neurons"] = snn.neuron_count((3, 32, 32))
    batches = [torch.rand(64, 3, 32, 32, device=device) for _ in range(10)]

    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    thresholds = convert(snn, ann.state_dict(), batches, Calibration())
    torch.cuda.synchronize()
    report["calibration_s"] = time.perf_counter() - start
    report["calibration_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    report["calibrated_thresholds"] = thresholds

    x, y = batches[0], torch.randint(0, 10, (64,), device=device)
    ann.train()
    opt_ann = torch.optim.SGD(ann.parameters(), lr=0.01, momentum=0.9)
    at = AdversarialTraining(2 / 255)

    def ann_step():
        loss = at(ann, x, y)
        opt_ann.zero_grad()
        loss.backward()
        opt_ann.step()

    report["ann_at_pgd10_step_s"] = timed(ann_step)

    snn.train()
    opt_snn = torch.optim.SGD(snn.parameters(), lr=1e-3, momentum=0.9)
    finetune = RobustFinetuning(2 / 255, 1 / 255, 2.0, Simulation(8))

    def snn_step():
        loss = finetune(snn, x, y)
        opt_snn.zero_grad()
        loss.backward()
        opt_snn.step()

    torch.cuda.reset_peak_memory_stats()
    report["snn_finetune_step_s"] = timed(snn_step)
    report["snn_finetune_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30

    snn.eval()
    labels = predict(snn, x, Simulation(8))
    spec = AttackSpec("PGD", 8 / 255, 20)
    for name, member in (("bptt", TRAINING_GRADIENT), ("bptr", BPTR()), ("relu", ReLUApproximation())):
        report[f"pgd20_member_{name}_s"] = timed(
            lambda member=member: ensemble_robustness(snn, x, labels, spec, 8, (member,), progress=False), 1
        )
    start = time.perf_counter()
    result = ensemble_robustness(snn, x, labels, spec, 8, PAPER_ENSEMBLE, progress=False)
    torch.cuda.synchronize()
    report["pgd20_ensemble_64_s"] = time.perf_counter() - start
    report["pgd20_ensemble_robust"] = result.correct

    # Extrapolations to the paper profile (CIFAR-10: 782 training batches, 10,000 test images).
    report["estimate_ann_200_epochs_h"] = report["ann_at_pgd10_step_s"] * 782 * 200 / 3600
    report["estimate_snn_60_epochs_h"] = report["snn_finetune_step_s"] * 782 * 60 / 3600
    per_member = (17 * report["pgd20_member_bptt_s"] + report["pgd20_member_bptr_s"]
                  + report["pgd20_member_relu_s"])
    report["estimate_ensemble_pgd20_worst_case_h_per_10k"] = per_member * (10_000 / 64) / 3600
    print(json.dumps(report, indent=1))
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
