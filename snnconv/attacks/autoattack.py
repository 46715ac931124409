"""Standard AutoAttack on an ANN, through torchattacks (Croce & Hein 2020; Tables 1 and A1)."""

from __future__ import annotations

import torch
import torchattacks
from torch import nn
from tqdm import tqdm

from snnconv.attacks.ensemble import EnsembleResult, predict
from snnconv.attacks.gradient import MemberView
from snnconv.foundations.paths import PROGRESS_INTERVAL
from snnconv.method.models import Simulation


def autoattack_robustness(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epsilon: float, seed: int = 0,
    batch_size: int = 256, progress: bool = True,
) -> EnsembleResult:
    """Standard AutoAttack (APGD-CE, APGD-T, FAB-T, Square) on the ANN, via torchattacks.

    Croce & Hein 2020; the baseline ANNs' ε₃ robustness of Table 1 and the AA column of Table A1 (Sec. 4.3).
    """
    model.eval()
    view = MemberView(model, Simulation(0))
    adversary = torchattacks.AutoAttack(view, norm="Linf", eps=epsilon, version="standard",
                                        n_classes=int(model(images[:1]).shape[1]), seed=seed)
    clean_correct = predict(model, images, Simulation(0), batch_size) == labels
    robust = clean_correct.clone()
    index = clean_correct.nonzero().flatten()
    for start in tqdm(range(0, len(index), batch_size), desc=f"AutoAttack ε={epsilon * 255:g}/255",
                      disable=not progress, mininterval=PROGRESS_INTERVAL):
        chunk = index[start : start + batch_size]
        adv = adversary(images[chunk], labels[chunk])
        robust[chunk] = predict(model, adv, Simulation(0), batch_size) == labels[chunk]
    fooled_by = tuple("" if r else ("AutoAttack" if c else "clean")
                      for r, c in zip(robust.tolist(), clean_correct.tolist(), strict=True))
    return EnsembleResult(clean_correct, robust, fooled_by, ("AutoAttack",))
