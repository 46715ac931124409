"""Adaptive ensemble attacks over surrogate gradients (paper Sec. 4.3, Suppl. A.4).

Every attack reaches a network through one door, :class:`MemberView` (``forward(x)`` = the SNN's logits under
one surrogate-gradient *member*), so torchattacks-style attacks run unchanged on any member. The modules:

* :mod:`~snnconv.attacks.gradient`: the member view, per-sample random starts, FGSM, RFGSM and PGD;
* :mod:`~snnconv.attacks.apgd`: APGD-CE, APGD-DLR, targeted APGD and SA-PGD;
* :mod:`~snnconv.attacks.square`: the score-based Square attack (forward passes only);
* :mod:`~snnconv.attacks.ensemble`: :class:`AttackSpec` and :func:`ensemble_robustness`, the per-image worst case
  over the members with early exit;
* :mod:`~snnconv.attacks.transfer` and :mod:`~snnconv.attacks.autoattack`: transfer images (Table B1) and
  standard AutoAttack on the ANNs (Tables 1, A1).

What the package offers is imported here, so ``from snnconv.attacks import AttackSpec, ensemble_robustness``
does not depend on which module an algorithm lives in.
"""

from snnconv.attacks.apgd import APGD, SAPGD, TargetedAPGD, apgd_checkpoints, dlr_loss, halve_step, halving_checkpoints
from snnconv.attacks.autoattack import autoattack_robustness
from snnconv.attacks.ensemble import ATTACKS, AttackSpec, EnsembleResult, ensemble_robustness, logits, predict
from snnconv.attacks.gradient import FGSM, PGD, RFGSM, VANILLA, MemberView, per_sample_uniform, project
from snnconv.attacks.square import Square
from snnconv.attacks.transfer import RESISTED_IMAGES, ResistedImage, transfer_images

__all__ = [
    "APGD", "ATTACKS", "FGSM", "PGD", "RESISTED_IMAGES", "RFGSM", "SAPGD", "VANILLA", "AttackSpec", "EnsembleResult",
    "MemberView", "ResistedImage", "Square", "TargetedAPGD", "apgd_checkpoints", "autoattack_robustness", "dlr_loss",
    "ensemble_robustness", "halve_step", "halving_checkpoints", "logits", "per_sample_uniform", "predict", "project",
    "transfer_images",
]
