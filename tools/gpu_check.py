"""Prove the paper profile's GPU path on synthetic CIFAR-10-shaped data and time it, in each arithmetic precision.

VGG11 (286,720 IF neurons), T = 8, batch 64, on synthetic images (no dataset needed):

1. conversion with threshold calibration at T_c = 100 (time, peak memory);
2. one robust-finetuning step (Eqs. 9–10) in float32, TF32 and bfloat16 autocast (:mod:`snnconv.foundations.precision`),
   with ``--channels-last`` bfloat16 also with channels-last tensors: the median of timed steps;
3. one finetuning epoch through :func:`snnconv.training.train.fit` itself (782 batches of 64, as CIFAR-10's 50,000
   training images) in the fastest precision; a run that would exceed ``--epoch-budget-s`` stops early and its
   per-batch time is extrapolated (the report says how many batches ran);
4. verdicts on a fixed batch of a learnable synthetic task (each class a smooth random pattern under noise; the
   ANN is first trained on it naturally, then converted): the 19-member ensemble PGD²⁰ in every precision,
   against the float32 verdicts, at the budget where float32 leaves about half the batch robust (chosen with the
   training surrogate alone);
5. a profile of one finetuning step (the kernels that take the time), and one AT-PGD10 ANN step.

Run it as ``python tools/gpu_check.py --out report.json [--profile-out profile.txt]``; the report is rewritten after
every part, so a run cut short keeps what it measured. The Performance page renders
``book/measurements/gpu_check.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
import traceback
import warnings
from collections.abc import Callable

import torch

from snnconv.attacks import AttackSpec, ensemble_robustness, predict
from snnconv.datasets.data import DATASETS
from snnconv.experiment.profiles import PROFILES, ann_config, snn_config
from snnconv.foundations.precision import PRECISIONS, arithmetic
from snnconv.method.convert import Calibration, convert
from snnconv.method.models import Simulation, build
from snnconv.method.neurons import KERNELS, clamp_thresholds
from snnconv.method.surrogates import PAPER_ENSEMBLE, TRAINING_GRADIENT
from snnconv.storage.pipeline import snn_simulation
from snnconv.storage.revision import code_revision
from snnconv.training.objectives import AdversarialTraining, Natural, RobustFinetuning
from snnconv.training.train import Schedule, fit

#: The authors' finetuning epoch (Suppl. A.2, "Computational Overhead": 60 epochs in ~10.5 h, NVIDIA A40 among their
#: GPUs), and the bar of an eighth of it.
AUTHORS_EPOCH_MIN = 10.5
BAR_EPOCH_MIN = AUTHORS_EPOCH_MIN / 8


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def median_step(step: Callable[[], None], device: torch.device, warmup: int, repeats: int) -> float:
    """Median seconds of ``step`` over ``repeats`` calls after ``warmup`` untimed ones (compilation, autotuning)."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()


class Check:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.device = torch.device(args.device)
        self.paper = PROFILES["paper"]
        self.config = snn_config(self.paper, ann_config(self.paper, "at", 0), 0)
        self.precisions = PRECISIONS if self.device.type == "cuda" else ("float32",)
        self.report: dict = {
            "gpu": torch.cuda.get_device_name(0) if self.device.type == "cuda" else "none (CPU)",
            "torch": torch.__version__,
            "code": code_revision(),  # the Performance page says whether this is the code it was built with
            "arch": args.arch,
            "dataset": args.dataset,
            "time_steps": self.config.time_steps,
            "batch_size": self.config.schedule.batch_size,
            "bar_epoch_min": BAR_EPOCH_MIN,
            "authors_epoch_min": AUTHORS_EPOCH_MIN,
        }
        self.spec = DATASETS[args.dataset]
        torch.manual_seed(0)
        self.ann = build(args.arch, args.dataset).to(self.device)
        self.snn = build(args.arch, args.dataset).to(self.device)
        self.report["neurons"] = self.snn.neuron_count(self.spec.shape)
        generator = torch.Generator().manual_seed(0)
        self.patterns = torch.nn.functional.interpolate(
            torch.randn(self.spec.num_classes, self.spec.shape[0], 4, 4, generator=generator),
            size=self.spec.shape[1:], mode="bilinear", align_corners=False)
        self.train_images, self.train_labels = self.task(args.train_images, generator)
        batch = self.config.schedule.batch_size
        self.batches = [self.train_images[i * batch:(i + 1) * batch].to(self.device)
                        for i in range(max(args.calibration_batches, 2))]

    def task(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A learnable synthetic task of CIFAR-10's shape: each class is a smooth random pattern under pixel noise,
        so that a briefly trained network has verdicts that an attack can flip (a random network has none)."""
        labels = torch.randint(0, self.spec.num_classes, (n,), generator=generator)
        noise = torch.rand(n, *self.spec.shape, generator=generator)
        return (0.5 + 0.15 * self.patterns[labels] + 0.5 * (noise - 0.5)).clamp(0.0, 1.0), labels

    def save(self) -> None:
        self.report["compiled_neuron_kernels"] = KERNELS.enabled
        with open(self.args.out, "w") as f:
            json.dump(self.report, f, indent=1)

    def objective(self) -> RobustFinetuning:
        c = self.config
        return RobustFinetuning(c.epsilon, c.step, c.trade_off, snn_simulation(c))

    def calibrate(self) -> None:
        # The ANN learns the synthetic task first (natural training, a few hundred steps), then is converted.
        n = min(len(self.train_images), self.args.ann_images)
        start = time.perf_counter()
        with arithmetic(self.precisions[-1], self.device):
            fit(self.ann, Natural(), self.train_images[:n], self.train_labels[:n],
                Schedule(epochs=1, learning_rate=0.05, weight_decay=5e-4), self.spec, seed=0, progress=False)
        synchronize(self.device)
        self.report["ann_natural_training"] = {"images": n, "seconds": time.perf_counter() - start}
        settings = Calibration(batches=self.args.calibration_batches)
        reset_peak(self.device)
        start = time.perf_counter()
        thresholds = convert(self.snn, self.ann.state_dict(), self.batches[: settings.batches], settings)
        synchronize(self.device)
        self.report.update(calibration_batches=settings.batches, calibration_time_steps=settings.time_steps,
                           calibration_s=time.perf_counter() - start, calibration_peak_gib=peak_gib(self.device),
                           calibrated_thresholds=thresholds)
        self.calibrated = copy.deepcopy(self.snn.state_dict())

    def fresh_snn(self, channels_last: bool = False) -> torch.nn.Module:
        model = build(self.args.arch, self.args.dataset).to(self.device)
        model.load_state_dict(self.calibrated)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model.train()

    def finetuning_steps(self) -> None:
        x, y = self.batches[0], self.train_labels[: len(self.batches[0])].to(self.device)
        variants = list(self.precisions)
        if self.device.type == "cuda" and self.args.channels_last:
            variants.append("bfloat16+channels_last")
        steps = {}
        for name in variants:
            reset_peak(self.device)
            try:
                seconds = median_step(self.finetuning_step(name, x, y), self.device, self.args.warmup, self.args.steps)
                steps[name] = {"step_s": seconds, "peak_gib": peak_gib(self.device),
                               "epoch_min_estimate": seconds * self.batches_per_epoch / 60}
            except Exception as error:  # noqa: BLE001 — a variant that fails is reported, not fatal
                steps[name] = {"error": f"{type(error).__name__}: {error}"[:300]}
            print(name, steps[name], flush=True)
            self.report["finetune_steps"] = steps
            self.save()
        timed = {k: v["step_s"] for k, v in steps.items() if "step_s" in v}
        self.fastest = min(timed, key=timed.get)
        self.report["fastest_precision"] = self.fastest
        # Keys the Reproduce page quotes (the float32 path, as the book's verdicts are computed).
        if "float32" in timed:
            self.report["snn_finetune_step_s"] = timed["float32"]
            self.report["snn_finetune_peak_gib"] = steps["float32"]["peak_gib"]

    def finetuning_step(self, variant: str, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
        """One robust-finetuning step (Eqs. 9–10) of a fresh calibrated SNN, in ``variant``: a precision, with
        ``"+channels_last"`` for channels-last tensors."""
        precision, _, layout = variant.partition("+")
        model = self.fresh_snn(layout == "channels_last")
        inputs = x.contiguous(memory_format=torch.channels_last) if layout else x
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        objective = self.objective()

        def step() -> None:
            with arithmetic(precision, self.device):
                loss = objective(model, inputs, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                clamp_thresholds(model)

        return step

    @property
    def batches_per_epoch(self) -> int:
        return -(-self.args.train_images // self.config.schedule.batch_size)

    def epoch(self) -> None:
        precision, _, layout = self.fastest.partition("+")
        per_batch = self.report["finetune_steps"][self.fastest]["step_s"]
        batches = min(self.batches_per_epoch, max(1, int(self.args.epoch_budget_s / per_batch)))
        n = batches * self.config.schedule.batch_size
        images, labels = self.train_images[:n], self.train_labels[:n]
        model = self.fresh_snn(layout == "channels_last")
        s = self.config.schedule
        schedule = Schedule(epochs=1, learning_rate=s.learning_rate, weight_decay=s.weight_decay,
                            batch_size=s.batch_size, momentum=s.momentum)
        synchronize(self.device)
        start = time.perf_counter()
        with arithmetic(precision, self.device):
            history = fit(model, self.objective(), images, labels, schedule, self.spec, seed=0, progress=False)
        synchronize(self.device)
        seconds = time.perf_counter() - start
        full = seconds * self.batches_per_epoch / batches
        self.report["epoch"] = {
            "precision": self.fastest, "batches_run": batches, "batches_per_epoch": self.batches_per_epoch,
            "seconds_run": seconds, "epoch_min": full / 60, "extrapolated": batches < self.batches_per_epoch,
            "loss": history[-1]["loss"], "meets_bar": full / 60 <= BAR_EPOCH_MIN,
            "estimate_60_epochs_h": full * 60 / 3600,
        }
        self.save()

    def verdicts(self) -> None:
        model = self.fresh_snn().eval()
        n = self.args.attack_images
        x, labels = self.task(n, torch.Generator().manual_seed(1))
        x, labels = x.to(self.device), labels.to(self.device)
        steps = self.config.time_steps
        with arithmetic("float32", self.device):
            clean = predict(model, x, Simulation(steps)).to(self.device)
            # The budget where float32 leaves about half the batch robust, so that flipped verdicts can show.
            fractions = {}
            for budget in (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0):
                result = ensemble_robustness(model, x, labels, AttackSpec("PGD", budget / 255, 20), steps,
                                             (TRAINING_GRADIENT,), progress=False)
                fractions[budget] = float(result.robust.float().mean())
        budget = min(fractions, key=lambda b: abs(fractions[b] - 0.5))
        spec = AttackSpec("PGD", budget / 255, 20)
        out: dict = {"images": n, "clean_correct": int((clean == labels).sum()), "epsilon_255": budget,
                     "robust_fraction_by_budget": fractions, "members": len(PAPER_ENSEMBLE)}
        reference = None
        for precision in self.precisions:
            synchronize(self.device)
            start = time.perf_counter()
            try:
                with arithmetic(precision, self.device):
                    result = ensemble_robustness(model, x, labels, spec, steps, PAPER_ENSEMBLE, progress=False)
            except Exception as error:  # noqa: BLE001 — a precision that fails is reported, not fatal
                out[precision] = {"error": f"{type(error).__name__}: {error}"[:300]}
                continue
            synchronize(self.device)
            robust = result.robust.cpu()
            reference = robust if reference is None else reference
            out[precision] = {"seconds": time.perf_counter() - start, "robust": int(robust.sum()),
                              "differing_verdicts": int((robust != reference).sum())}
            print(precision, out[precision], flush=True)
            self.report["ensemble_pgd20"] = out
            self.save()
        identical = [p for p in self.precisions if out[p].get("differing_verdicts") == 0]
        out["identical_to_float32"] = identical
        out["fastest_identical"] = min(identical, key=lambda p: out[p]["seconds"])
        # Every sample robust means every member attacked every sample: the worst case per image.
        worst = out["float32"]
        if worst.get("robust") == n:
            out["estimate_worst_case_h_per_10k"] = worst["seconds"] * 10_000 / n / 3600
        self.save()

    def profile(self) -> None:
        if self.device.type != "cuda" or not self.args.profile_out:
            return
        x = self.batches[0]
        step = self.finetuning_step(self.fastest, x, self.train_labels[: len(x)].to(self.device))
        for _ in range(2):
            step()
        synchronize(self.device)
        activities = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
        with torch.profiler.profile(activities=activities) as prof:
            for _ in range(3):
                step()
            synchronize(self.device)
        averages = prof.key_averages()
        device_us = sum(getattr(e, "self_device_time_total", 0) for e in averages)
        cpu_us = sum(e.self_cpu_time_total for e in averages)
        # A step whose GPU time is far below its wall time is bound by Python and kernel launches.
        self.report["profile"] = {"precision": self.fastest, "gpu_ms_per_step": device_us / 3e3,
                                  "cpu_ms_per_step_profiled": cpu_us / 3e3}
        self.save()
        lines = [f"{self.fastest}: 3 finetuning steps"]
        for sort in ("self_device_time_total", "self_cpu_time_total"):
            try:
                lines.append(averages.table(sort_by=sort, row_limit=25))
            except Exception as error:  # noqa: BLE001 — the sort key's name differs between torch versions
                lines.append(f"(sort by {sort} failed: {error})")
        with open(self.args.profile_out, "w") as f:
            f.write("\n".join(lines))

    def ann_step(self) -> None:
        x, y = self.batches[0], self.train_labels[: len(self.batches[0])].to(self.device)
        ann = self.ann.train()
        optimizer = torch.optim.SGD(ann.parameters(), lr=0.01, momentum=0.9)
        attack = AdversarialTraining(2 / 255)

        def step():
            loss = attack(ann, x, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        with arithmetic("float32", self.device):
            self.report["ann_at_pgd10_step_s"] = median_step(step, self.device, 2, 5)
        self.report["estimate_ann_200_epochs_h"] = (self.report["ann_at_pgd10_step_s"] * self.batches_per_epoch
                                                    * 200 / 3600)
        self.save()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="the JSON report")
    parser.add_argument("--profile-out", help="a text file for the profiler's table of one finetuning step")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--arch", default="vgg11")
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--calibration-batches", type=int, default=Calibration().batches)
    parser.add_argument("--train-images", type=int, default=50_000)
    parser.add_argument("--ann-images", type=int, default=19_200, help="images of the ANN's natural training")
    parser.add_argument("--attack-images", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="timed finetuning steps per precision")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--channels-last", action="store_true", help="also time bfloat16 with channels-last tensors")
    parser.add_argument("--epoch-budget-s", type=float, default=240.0)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device is visible; run this on a GPU machine (or pass --device cpu to try it out).")
    warnings.simplefilter("default")
    check = Check(args)
    for part in (check.calibrate, check.finetuning_steps, check.epoch, check.verdicts, check.profile,
                 check.ann_step):
        start = time.perf_counter()
        try:
            part()
        except Exception as error:  # noqa: BLE001 — later parts still run; the calibration is needed by all
            if part == check.calibrate:
                raise
            check.report.setdefault("errors", {})[part.__name__] = f"{type(error).__name__}: {error}"[:500]
            traceback.print_exc()
        print(f"{part.__name__}: {time.perf_counter() - start:.1f} s", flush=True)
    check.save()
    print(json.dumps(check.report, indent=1))


if __name__ == "__main__":
    main()
