"""Adaptive ensemble attacks over surrogate gradients (paper Sec. 4.3, Suppl. A.4).

Every attack reaches a network through one door, :class:`MemberView` (``forward(x)`` = the SNN's logits under
one surrogate-gradient *member*), so torchattacks-style attacks run unchanged on any member. The modules:

* :mod:`~snnconv.attacks.gradient`: the member view, per-sample random starts, FGSM, RFGSM and PGD;
* :mod:`~snnconv.attacks.apgd`: APGD-CE, APGD-DLR, targeted APGD and SA-PGD;
* :mod:`~snnconv.attacks.square`: the score-based Square attack (forward passes only);
* :mod:`~snnconv.attacks.ensemble`: :class:`AttackSpec` and :func:`ensemble_robustness`, the per-image worst case
  over the members with early exit;
* :mod:`~snnconv.attacks.transfer` and :mod:`~snnconv.attacks.autoattack`: transfer images (Table B1) and
  standard AutoAttack on the ANNs (Tables 1, A1);
* :mod:`~snnconv.attacks.evaluations`: what one stored verdict runs, as a typed value (clean, corruption,
  AutoAttack, transfer, ensemble), each with ``run(...)``.

An attack is registered in one place, :data:`~snnconv.attacks.ensemble.BUILDERS` (name → how an
:class:`AttackSpec` builds it); :data:`ATTACKS` is read from it, and :func:`paper_attack_name` names an attack as
the paper's tables do.

What the package offers is imported here, so ``from snnconv.attacks import AttackSpec, ensemble_robustness``
does not depend on which module an algorithm lives in.
"""

from snnconv.attacks.apgd import APGD, SAPGD, TargetedAPGD, apgd_checkpoints, dlr_loss, halve_step
from snnconv.attacks.autoattack import autoattack_robustness
from snnconv.attacks.ensemble import (
    ATTACKS,
    BUILDERS,
    AttackSpec,
    EnsembleResult,
    ensemble_robustness,
    logits,
    paper_attack_name,
    predict,
)
from snnconv.attacks.evaluations import (
    AutoAttackEvaluation,
    CleanEvaluation,
    CorruptionEvaluation,
    EnsembleEvaluation,
    Evaluation,
    TransferEvaluation,
)
from snnconv.attacks.gradient import (
    FGSM,
    PGD,
    RFGSM,
    VANILLA,
    MemberView,
    fgsm_step,
    per_sample_uniform,
    pgd_step,
    project,
    rfgsm_start,
    rfgsm_step,
)
from snnconv.attacks.square import Square
from snnconv.attacks.transfer import RESISTED_IMAGES, ResistedImage, transfer_images

__all__ = [
    "APGD", "ATTACKS", "BUILDERS", "FGSM", "PGD", "RESISTED_IMAGES", "RFGSM", "SAPGD", "VANILLA", "AttackSpec",
    "AutoAttackEvaluation", "CleanEvaluation", "CorruptionEvaluation", "EnsembleEvaluation", "EnsembleResult",
    "Evaluation", "MemberView", "ResistedImage", "Square", "TargetedAPGD", "TransferEvaluation", "apgd_checkpoints",
    "autoattack_robustness", "dlr_loss", "ensemble_robustness", "fgsm_step", "halve_step",
    "logits", "paper_attack_name", "per_sample_uniform", "pgd_step", "predict", "project", "rfgsm_start",
    "rfgsm_step", "transfer_images",
]
