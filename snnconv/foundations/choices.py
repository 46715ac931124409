"""Named choices that a config takes and a page parameter is checked against, kept here, without torch, because the
layer that acts on them imports torch in its package (``snnconv.attacks``' ``__init__``).

A choice is defined once: the attack checks its argument against the same tuple that
:mod:`snnconv.experiment.parameters` checks a page's parameter against.

Example:
    >>> RESISTED_IMAGES
    ('highest_loss', 'clean')
"""

from __future__ import annotations

from typing import Literal

#: What a transfer attack hands the target for an image the source resists: the source's highest-loss
#: attempt (ours), or the clean image (the authors' MultiAttack); :func:`snnconv.attacks.transfer_images` acts on it.
ResistedImage = Literal["highest_loss", "clean"]
RESISTED_IMAGES: tuple[str, ...] = ("highest_loss", "clean")
