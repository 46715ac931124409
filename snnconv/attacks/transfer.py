"""Transfer attacks: adversarial images crafted on one network and replayed on another (Table B1, Suppl. B.1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from snnconv.attacks.ensemble import AttackSpec, logits
from snnconv.attacks.gradient import MemberView
from snnconv.foundations.choices import RESISTED_IMAGES, ResistedImage
from snnconv.foundations.paths import PROGRESS_INTERVAL
from snnconv.method.models import Readout, Simulation
from snnconv.method.surrogates import PAPER_ENSEMBLE, TRAINING_GRADIENT, GradientMode, fresh_statistics


def transfer_images(
    source: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    attack: AttackSpec,
    time_steps: int,
    members: tuple[GradientMode, ...] = PAPER_ENSEMBLE,
    readout: Readout = "mean",
    seed: int = 0,
    batch_size: int = 256,
    progress: bool = True,
    resisted: ResistedImage = "highest_loss",
) -> torch.Tensor:
    """Adversarial images crafted on ``source`` for a transfer attack (Table B1, Suppl. B.1), one per test image.

    Every member attacks every test image — also those the source already misclassifies, whose clean image
    would otherwise reach the target unperturbed. An image takes the first member's attempt that fools the
    source; for an image the source resists, the attempt with the highest cross-entropy on the source (its
    true forward pass). ``resisted="clean"`` is the authors' MultiAttack instead: an image the source resists
    is replaced by the clean one, so it reaches the target unperturbed (see the deviations page). Members see
    images one by one (per-image random starts), so the result does not depend on member order within "first
    success" ties or on batching.
    """
    if resisted not in RESISTED_IMAGES:
        raise ValueError(f"resisted={resisted!r}: one of {RESISTED_IMAGES}")
    source.eval()
    truth = Simulation(time_steps, TRAINING_GRADIENT, readout)
    if time_steps == 0:
        members = (TRAINING_GRADIENT,)
    labels_of = ["ANN"] if time_steps == 0 else [m.label for m in members]
    crafted = images.clone()
    fooled = torch.zeros(len(images), dtype=torch.bool, device=images.device)
    best_loss = torch.full((len(images),), -torch.inf, device=images.device)
    for member, label in tqdm(list(zip(members, labels_of, strict=True)), desc=f"transfer images {attack.label}",
                              disable=not progress, mininterval=PROGRESS_INTERVAL):
        adversary = attack.build(MemberView(source, Simulation(time_steps, member, readout)), seed, salt=label)
        for start in range(0, len(images), batch_size):
            chunk = torch.arange(start, min(start + batch_size, len(images)), device=images.device)
            fresh_statistics(member)
            adv = adversary(images[chunk], labels[chunk])
            scores = logits(source, adv, truth, batch_size)  # one forward gives both loss and prediction
            loss = F.cross_entropy(scores, labels[chunk], reduction="none")
            fools = scores.argmax(1) != labels[chunk]
            # First success wins; until then keep the highest-loss attempt.
            take = ~fooled[chunk] & (fools | (loss > best_loss[chunk]))
            crafted[chunk[take]] = adv[take]
            best_loss[chunk[take]] = loss[take]
            fooled[chunk] |= fools
    if resisted == "clean":
        crafted[~fooled] = images[~fooled]
    return crafted
