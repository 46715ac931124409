"""The performance benchmarks of the book's appendix: ratios measured side by side in one process.

Every figure is a *ratio* of two workloads timed in one process, interleaved (A B A B …), as the median of the
per-pair ratios, so a machine that speeds up or slows down during the run moves both halves of a pair alike:

* **P1** — an SNN forward+backward at T = 8 against the same network run as an ANN on the merged T·B batch (the
  physical reference: an SNN step should cost about T ANN steps), for ``vgg_small`` and ``vgg11``, with the
  weights' gradient (training) and with the input's gradient (attacks);
* **P2** — the 19-member ensemble FGSM and PGD²⁰ as :func:`snnconv.attacks.ensemble_robustness` runs it (a
  sample leaves the ensemble the moment a member fools it; FGSM's members share one forward pass) against the
  members run one after another on every sample, with the verdicts checked identical; and the ensemble's cost in
  units of one SNN forward+backward;
* **pooling** — ``vgg_small``'s SNN forward+backward with torch's average pooling against the compiled one of
  :mod:`snnconv.foundations.kernels`, logits and gradients checked identical;
* **side by side** — the throughput of two 1-thread processes at once against one 2-thread process (the workflow's
  artifact jobs against ``make book``), each counting SNN forward+backward passes in the same wall-clock window;
* **calibration** — peak resident memory and time of VGG11's threshold calibration at :math:`T_c = 100` on one
  batch of 64 CIFAR-10-shaped images, in a fresh process (the peak does not grow with the number of batches).

Weights are random (seeded) and the images uniform noise labelled with the network's own predictions: the
benchmarks need no data set and no stored model. Run ``make bench`` (or ``python -m benchmarks.bench --out
book/measurements/bench.json``); the book's Performance page reads that file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from snnconv.attacks import AttackSpec, ensemble_robustness, predict
from snnconv.foundations.kernels import AveragePool2d
from snnconv.method.convert import Calibration, calibrate_thresholds
from snnconv.method.models import Simulation, build
from snnconv.method.surrogates import PAPER_ENSEMBLE, TRAINING_GRADIENT

TIME_STEPS = 8
#: The targets the project set itself (issue "Performance"): P1 at most, P2 speed-ups at least, calibration peak below.
BARS = {"p1_ratio_at_most": 1.15, "p2_fgsm_speedup_at_least": 1.8, "p2_pgd_speedup_at_least": 1.3,
        "calibration_peak_gib_below": 4.0}
SHAPES = {"vgg_small": ("fashion_mnist", (1, 28, 28), 64), "vgg11": ("cifar10", (3, 32, 32), 16)}


def interleaved(first: Callable[[], object], second: Callable[[], object], repeats: int) -> dict:
    """Median seconds of each and the median of the per-pair ratios first/second (one warm-up pair first)."""
    first(), second()
    pairs = []
    for _ in range(repeats):
        start = time.perf_counter()
        first()
        middle = time.perf_counter()
        second()
        pairs.append((middle - start, time.perf_counter() - middle))
    return {"first_s": statistics.median(a for a, _ in pairs), "second_s": statistics.median(b for _, b in pairs),
            "ratio": statistics.median(a / b for a, b in pairs), "repeats": repeats}


def _network(arch: str, threshold: float = 0.5) -> torch.nn.Module:
    torch.manual_seed(0)
    dataset = SHAPES[arch][0]
    model = build(arch, dataset)
    with torch.no_grad():
        for neuron in model.neurons:
            neuron.threshold.fill_(threshold)  # spikes in every layer on random weights and noise
    return model


def input_gradient(model: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor,
                   simulation: Simulation) -> tuple[torch.Tensor, torch.Tensor]:
    """One attack step's work: the logits of ``x`` and the cross-entropy's gradient with respect to ``x``."""
    inputs = x.clone().requires_grad_(True)
    logits = model(inputs, simulation)
    return logits.detach(), torch.autograd.grad(F.cross_entropy(logits, labels), inputs)[0]


def p1(arch: str, mode: str, repeats: int) -> dict:
    """SNN (T = 8) forward+backward over the ANN on the merged T·B batch; ``mode``: "train" or "attack"."""
    _, shape, batch = SHAPES[arch]
    model = _network(arch)
    model.train(mode == "train")
    x = torch.rand(batch, *shape)
    y = torch.randint(0, 10, (batch,))
    merged_x, merged_y = x.repeat(TIME_STEPS, 1, 1, 1), y.repeat(TIME_STEPS)

    def run(inputs: torch.Tensor, labels: torch.Tensor, time_steps: int) -> None:
        simulation = Simulation(time_steps, TRAINING_GRADIENT)
        if mode == "attack":
            input_gradient(model, inputs, labels, simulation)
            return
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(inputs, simulation), labels).backward()

    result = interleaved(lambda: run(x, y, TIME_STEPS), lambda: run(merged_x, merged_y, 0), repeats)
    return {"arch": arch, "mode": mode, "batch": batch, "time_steps": TIME_STEPS, **result}


#: P2's budget: on random weights and noise, 1/255 leaves a share of the samples robust, as a robust model would.
P2_EPSILON = 1 / 255


def p2(attack: str, steps: int, images: int, repeats: int) -> dict:
    """The library's ensemble against the 19 members run one after another on every sample, on ``vgg_small``."""
    model = _network("vgg_small").eval()
    torch.manual_seed(1)
    x = torch.rand(images, 1, 28, 28)
    labels = predict(model, x, Simulation(TIME_STEPS), images)
    spec = AttackSpec(attack, P2_EPSILON, steps)

    def ensemble() -> torch.Tensor:
        return ensemble_robustness(model, x, labels, spec, TIME_STEPS, PAPER_ENSEMBLE, batch_size=images,
                                   progress=False).robust

    def one_after_another() -> torch.Tensor:
        robust = torch.ones(images, dtype=torch.bool)
        for member in PAPER_ENSEMBLE:
            robust &= ensemble_robustness(model, x, labels, spec, TIME_STEPS, (member,), batch_size=images,
                                          progress=False).robust
        return robust

    identical = bool(torch.equal(ensemble(), one_after_another()))
    result = interleaved(one_after_another, ensemble, repeats)

    def forward_backward() -> None:
        input_gradient(model, x, labels, Simulation(TIME_STEPS))

    unit = interleaved(forward_backward, forward_backward, repeats)["first_s"]
    return {"attack": spec.label, "epsilon_255": P2_EPSILON * 255, "members": len(PAPER_ENSEMBLE), "images": images,
            "verdicts_identical": identical,
            "robust": int(ensemble().sum()), "speedup": result["ratio"], "ensemble_s": result["second_s"],
            "one_after_another_s": result["first_s"], "ensemble_in_forward_backwards": result["second_s"] / unit,
            "repeats": repeats}


def pooling(repeats: int) -> dict:
    """``vgg_small``'s SNN forward+backward (T = 8, input gradient) with torch's 2×2 average pooling against the
    compiled pool of :mod:`snnconv.foundations.kernels` that the networks use; logits and gradients checked bit for
    bit."""
    _, shape, batch = SHAPES["vgg_small"]
    ours, theirs = _network("vgg_small").eval(), _network("vgg_small").eval()
    for stage in theirs.stages:
        for index, module in enumerate(stage.block):
            if isinstance(module, AveragePool2d):
                stage.block[index] = torch.nn.AvgPool2d(module.kernel_size)
    x = torch.rand(batch, *shape)
    y = torch.randint(0, 10, (batch,))

    def run(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        return input_gradient(model, x, y, Simulation(TIME_STEPS))

    identical = all(torch.equal(a, b) for a, b in zip(run(ours), run(theirs), strict=True))
    result = interleaved(lambda: run(theirs), lambda: run(ours), repeats)
    return {"arch": "vgg_small", "batch": batch, "time_steps": TIME_STEPS, "identical": identical,
            "torch_s": result["first_s"], "compiled_s": result["second_s"], "speedup": result["ratio"],
            "repeats": repeats}


#: The attack batch of the default profile, for the throughput of processes side by side.
JOB_BATCH = 250


def steps_in_window(threads: int, start: float, seconds: float) -> dict:
    """In this process with ``threads`` torch threads: ``vgg_small``'s SNN forward+backward passes (input gradient,
    batch :data:`JOB_BATCH`) completed between the wall-clock times ``start`` and ``start + seconds``."""
    torch.set_num_threads(threads)
    model = _network("vgg_small").eval()
    x, y = torch.rand(JOB_BATCH, 1, 28, 28), torch.randint(0, 10, (JOB_BATCH,))

    def step() -> None:
        input_gradient(model, x, y, Simulation(TIME_STEPS))

    for _ in range(3):  # compile and warm up before the window opens
        step()
    time.sleep(max(0.0, start - time.time()))
    done, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        step()
        done += 1
    return {"threads": threads, "steps": done, "seconds": time.perf_counter() - began}


def side_by_side(repeats: int, seconds: float = 6.0) -> dict:
    """Throughput of two 1-thread processes running at once against one process with two threads, on this
    machine's cores: how the workflow's artifact jobs (one thread each, ``make workflow``) compare with ``make book``
    (one process, two threads). Each round starts the processes, lets them warm up, and counts the passes each
    completes in the same wall-clock window; the result is the median over rounds of the throughput ratio."""

    def window(threads: int, processes: int) -> float:
        start = time.time() + 25  # after every process has imported torch and warmed up
        children = [subprocess.Popen([sys.executable, "-m", "benchmarks.bench", "--out", "-", "--window",
                                      str(threads), str(start), str(seconds)], stdout=subprocess.PIPE, text=True)
                    for _ in range(processes)]
        counts = [json.loads(child.communicate()[0]) for child in children]
        return sum(c["steps"] / c["seconds"] for c in counts)

    rounds = [(window(1, 2), window(2, 1)) for _ in range(repeats)]
    return {"arch": "vgg_small", "batch": JOB_BATCH, "time_steps": TIME_STEPS, "window_s": seconds,
            "two_single_thread_per_s": statistics.median(a for a, _ in rounds),
            "one_two_thread_per_s": statistics.median(b for _, b in rounds),
            "ratio": statistics.median(a / b for a, b in rounds), "repeats": repeats}


def calibration_peak(batches: int = 1, batch: int = 64) -> dict:
    """VGG11's calibration at T_c = 100 in this process: seconds and peak resident memory (run in a fresh one)."""
    snn = _network("vgg11")
    torch.manual_seed(2)
    data = [torch.rand(batch, 3, 32, 32) for _ in range(batches)]
    start = time.perf_counter()
    calibrate_thresholds(snn, data, Calibration(batches=batches, batch_size=batch))
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: KiB
    return {"time_steps": Calibration().time_steps, "batches": batches, "batch": batch, "seconds": seconds,
            "peak_gib": peak_kib / 2**20}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the JSON report (book/measurements/bench.json)")
    parser.add_argument("--quick", action="store_true", help="few repeats and images: a smoke test, not a figure")
    parser.add_argument("--calibration-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--window", nargs=3, type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.calibration_only:  # the child process of the calibration measurement
        args.out.write_text(json.dumps(calibration_peak()))
        return 0
    if args.window:  # a child process of the side-by-side measurement: threads, start time, seconds
        print(json.dumps(steps_in_window(int(args.window[0]), args.window[1], args.window[2])))
        return 0
    repeats = 2 if args.quick else 7
    report: dict = {"torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.machine(),
                    "cpus": os.cpu_count(), "quick": args.quick, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    report["p1"] = [p1(arch, mode, repeats) for arch in SHAPES for mode in ("train", "attack")]
    images = 16 if args.quick else 64
    report["p2"] = [p2("FGSM", 1, images, max(1, repeats // 2)),
                    p2("PGD", 2 if args.quick else 20, images, max(1, repeats // 2))]
    report["pooling"] = pooling(repeats)
    report["side_by_side"] = side_by_side(1 if args.quick else 3, 2.0 if args.quick else 6.0)
    child = args.out.with_suffix(".calibration.json")
    if not args.quick:
        subprocess.run([sys.executable, "-m", "benchmarks.bench", "--out", str(child), "--calibration-only"],
                       check=True)
        report["calibration"] = json.loads(child.read_text())
        child.unlink()
    report["bars"] = BARS
    report["meets"] = {
        "p1": all(r["ratio"] <= BARS["p1_ratio_at_most"] for r in report["p1"]),
        "p2_fgsm": report["p2"][0]["speedup"] >= BARS["p2_fgsm_speedup_at_least"],
        "p2_pgd": report["p2"][1]["speedup"] >= BARS["p2_pgd_speedup_at_least"],
        "calibration": ("calibration" in report
                        and report["calibration"]["peak_gib"] < BARS["calibration_peak_gib_below"]),
    }
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
