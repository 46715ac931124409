"""One training loop for every objective (Alg. 1 lines 17–28 for SNNs; Eq. 4 for ANNs).

Momentum SGD with a cosine learning-rate schedule, thresholds projected onto :math:`V_{th}\\ge 0.03`
after every optimizer step, a progress bar, a checkpoint after each epoch (safetensors + JSON, written
atomically) and resumption from the last complete epoch. Each epoch draws its shuffling, augmentation
and attack noise from a seed derived from ``(seed, epoch)``, so an interrupted and resumed run
follows the same sequence as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

from snnconv.datasets.augment import augment
from snnconv.datasets.specs import DatasetSpec
from snnconv.foundations.paths import PROGRESS_INTERVAL
from snnconv.method.neurons import clamp_thresholds
from snnconv.training.schedule import Schedule

Objective = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ParsevalRetraction:
    """SNN-RAT's orthogonality constraint, after every optimizer step: :math:`W \\leftarrow (1+\\beta)W -
    \\beta\\, W W^\\top W` for each conv (viewed as out × in·k·k) and linear weight (Cisse et al. 2017).

    Layers with at least ``all_rows_below`` outputs retract a random ``row_fraction`` of their rows per step,
    as SNN-RAT's code does. The fixed points are matrices with orthonormal rows.
    """

    beta: float = 5e-4
    row_fraction: float = 0.3
    all_rows_below: int = 200

    @torch.no_grad()
    def __call__(self, model: nn.Module) -> None:
        """Retract every conv and linear weight of ``model`` once, in place."""
        for module in model.modules():
            if not isinstance(module, nn.Conv2d | nn.Linear):
                continue
            weight = module.weight.view(module.weight.shape[0], -1)
            rows = weight.shape[0]
            if rows >= self.all_rows_below:
                index = torch.randperm(rows, device=weight.device)[: int(self.row_fraction * rows)]
                part = weight[index]
                weight[index] = (1 + self.beta) * part - self.beta * part @ part.T @ part
            else:
                weight.copy_((1 + self.beta) * weight - self.beta * weight @ weight.T @ weight)


def _parameter_groups(model: nn.Module, schedule: Schedule) -> list[dict]:
    if schedule.decay_all_parameters:
        return [{"params": list(model.parameters()), "weight_decay": schedule.weight_decay}]
    decayed, plain = [], []
    for name, parameter in model.named_parameters():
        is_weight = name.endswith("weight") and parameter.ndim > 1  # conv/linear weights, not BN
        (decayed if is_weight else plain).append(parameter)
    return [
        {"params": decayed, "weight_decay": schedule.weight_decay},
        {"params": plain, "weight_decay": 0.0},
    ]


def _save_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
    # One file, renamed into place: weights, momentum and the epoch history can never disagree, whenever the
    # process is killed (two files renamed one after the other could).
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    for index, parameter in enumerate(p for g in optimizer.param_groups for p in g["params"]):
        buffer = optimizer.state.get(parameter, {}).get("momentum_buffer")
        if buffer is not None:
            tensors[f"momentum.{index}"] = buffer.contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    save_file(tensors, str(partial), metadata={"state": json.dumps(state)})
    partial.replace(path.with_suffix(".safetensors"))


def _load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict | None:
    weights = path.with_suffix(".safetensors")
    if not weights.exists():
        return None
    with safe_open(str(weights), "pt") as handle:
        state = (handle.metadata() or {}).get("state")
    if state is None:  # a checkpoint of the two-file layout: its history is the JSON beside it
        meta = path.with_suffix(".json")
        if not meta.exists():
            return None
        state = meta.read_text()
    tensors = load_file(str(weights))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    for index, parameter in enumerate(p for g in optimizer.param_groups for p in g["params"]):
        if f"momentum.{index}" in tensors:
            optimizer.state[parameter]["momentum_buffer"] = tensors[f"momentum.{index}"].to(parameter.device)
    return json.loads(state)


def fit(
    model: nn.Module,
    objective: Objective,
    images: torch.Tensor,
    labels: torch.Tensor,
    schedule: Schedule,
    spec: DatasetSpec,
    seed: int,
    checkpoint: Path | None = None,
    description: str = "training",
    progress: bool = True,
    after_step: Callable[[nn.Module], None] | None = None,
    cutout: bool = False,
) -> list[dict]:
    """Train ``model`` in place on ``objective``; returns the per-epoch history (epoch, mean loss).

    For an SNN with :class:`~snnconv.training.objectives.RobustFinetuning` this is the robust finetuning loop of
    Algorithm 1, l. 17–28 (Sec. 3.2); for an ANN it is the outer minimization of Eq. (4). Optimizer and
    schedule follow Suppl. A.2; the cosine learning rate is annealed per iteration (the authors' code
    steps it per epoch). After every optimizer step the thresholds are projected onto
    :math:`V_{th}^l \\ge 0.03`.

    With ``checkpoint`` (a path without suffix), each finished epoch is saved there and a later call
    resumes after the last saved epoch. ``after_step`` runs after every optimizer step (e.g. a
    :class:`ParsevalRetraction`), before the thresholds are projected. ``cutout`` adds the data set's cutout hole
    to the augmentation (:func:`snnconv.datasets.augment.cut_out`; the authors' ANN training, never the SNN finetuning).
    """
    device = next(model.parameters()).device
    optimizer = torch.optim.SGD(
        _parameter_groups(model, schedule), lr=schedule.learning_rate, momentum=schedule.momentum
    )
    state = _load_checkpoint(checkpoint, model, optimizer) if checkpoint else None
    history: list[dict] = state["history"] if state else []
    batches_per_epoch = math.ceil(len(images) / schedule.batch_size)
    total = schedule.epochs * batches_per_epoch
    bar = tqdm(total=total, initial=len(history) * batches_per_epoch, desc=description, disable=not progress,
               mininterval=PROGRESS_INTERVAL)
    for epoch in range(len(history), schedule.epochs):
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        torch.manual_seed(seed * 100_003 + epoch)  # attack noise and dropout inside the objective
        order = torch.randperm(len(images), generator=generator)
        model.train()
        loss_sum, seen = 0.0, 0
        for batch in range(batches_per_epoch):
            step = epoch * batches_per_epoch + batch
            # Cosine annealing per iteration: with few epochs a per-epoch step would be too coarse.
            for group in optimizer.param_groups:
                group["lr"] = 0.5 * schedule.learning_rate * (1 + math.cos(math.pi * step / total))
            index = order[batch * schedule.batch_size : (batch + 1) * schedule.batch_size]
            x = augment(images[index], spec, generator, cutout=cutout).to(device)
            y = labels[index].to(device)
            loss = objective(model, x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if after_step is not None:
                after_step(model)
            clamp_thresholds(model)
            loss_sum += loss.item() * len(y)
            seen += len(y)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss_sum / seen:.3f}", refresh=False)
            bar.update(1)
        history.append({"epoch": epoch + 1, "loss": loss_sum / seen})
        if checkpoint:
            _save_checkpoint(checkpoint, model, optimizer, {"history": history, "schedule": asdict(schedule)})
    bar.close()
    return history
