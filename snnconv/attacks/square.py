"""Square attack (Andriushchenko et al. 2020), ℓ∞, margin loss: a query-based black-box attack.

The adversary only sees the network's logits: no gradient, no surrogate. Starting from random vertical
stripes of ±ε, each query changes one square window of every still-unfooled image to a random ±ε per
channel and keeps the change if the margin :math:`z_y - \\max_{i\\ne y} z_i` drops. The window's area is
a fraction :math:`p` of the image that halves on the reference implementation's schedule (rescaled to
10,000 iterations), starting at :math:`p_{init} = 0.8`.

:class:`Square` records, per image, the query at which the image was first misclassified
(:attr:`Square.fooled_at`), so one run with the largest budget gives the accuracy at every smaller
budget (Fig. 4). A smaller budget read off this way follows the largest budget's window schedule, not
the schedule a separate run with that budget would use.

Example::

    >>> import torch
    >>> from snnconv.method.models import build
    >>> net = build("vgg_small", "fashion_mnist").eval()
    >>> attack = Square(net, 8 / 255, queries=20, seed=0)
    >>> adv = attack(torch.rand(2, 1, 28, 28), torch.tensor([0, 1]))
    >>> attack.fooled_at.shape
    torch.Size([2])
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torchattacks.attack import Attack

#: Iterations (rescaled to 10,000) after which the window fraction p is halved once more.
HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def window_fraction(p_init: float, iteration: int, iterations: int) -> float:
    """Fraction :math:`p` of the image a square covers at ``iteration`` of ``iterations``.

    Andriushchenko et al. 2020's schedule: :math:`p_{init}` halved after each of :data:`HALVINGS`, with the
    iteration rescaled to 10,000.
    """
    rescaled = int(iteration / iterations * 10_000)
    return p_init / 2 ** sum(rescaled > boundary for boundary in HALVINGS)


def margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """:math:`z_y - \\max_{i\\ne y} z_i`, the margin loss the Square attack lowers (Andriushchenko et al. 2020).

    ≤ 0 means misclassified.
    """
    true = logits.gather(1, labels[:, None]).squeeze(1)
    return true - logits.scatter(1, labels[:, None], -torch.inf).amax(1)


class Square(Attack):
    """ℓ∞ Square attack with ``queries`` forward passes per image (the first is the random start).

    Andriushchenko et al. 2020; the paper's query-based black-box attack (Sec. 4.3, Sec. 5.4, Fig. 4,
    Table A1 with 5000 queries).

    Attributes:
        fooled_at: after a call, per image the number of queries after which it was first misclassified,
            or -1 if it never was.
    """

    def __init__(self, model: nn.Module, epsilon: float, queries: int, seed: int, p_init: float = 0.8) -> None:
        super().__init__("Square", model)
        self.epsilon, self.queries, self.seed, self.p_init = epsilon, queries, seed, p_init
        self.supported_mode = ["default"]
        self.fooled_at = torch.empty(0, dtype=torch.long)

    @torch.no_grad()
    def _margin(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return margin(self.get_logits(x), labels)

    def _signs(self, shape: tuple[int, ...], generator: torch.Generator, like: torch.Tensor) -> torch.Tensor:
        return (torch.randint(0, 2, shape, generator=generator) * 2 - 1).to(like)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed)
        n, channels, height, width = images.shape
        best = (images + self.epsilon * self._signs((n, channels, 1, width), generator, images)).clamp(0, 1)
        best_margin = self._margin(best, labels)
        fooled_at = torch.full((n,), -1, dtype=torch.long)
        fooled_at[(best_margin <= 0).cpu()] = 1
        for iteration in range(self.queries - 1):
            active = (best_margin > 0).nonzero().flatten()
            if len(active) == 0:
                break
            p = window_fraction(self.p_init, iteration, self.queries)
            size = min(max(round(math.sqrt(p * height * width)), 1), height - 1)
            top = int(torch.randint(0, height - size, (1,), generator=generator))
            left = int(torch.randint(0, width - size, (1,), generator=generator))
            x, current = images[active], best[active]
            delta = current - x
            window = (slice(None), slice(None), slice(top, top + size), slice(left, left + size))
            redraw = torch.ones(len(active), dtype=torch.bool, device=images.device)
            for _ in range(10):  # redraw the signs of images whose window would not change
                signs = self.epsilon * self._signs((int(redraw.sum()), channels, 1, 1), generator, images)
                delta[redraw.nonzero().flatten(), :, top : top + size, left : left + size] = signs
                moved = ((x[window] + delta[window]).clamp(0, 1) - current[window]).abs().flatten(1).sum(1)
                redraw = moved < 1e-7
                if not redraw.any():
                    break
            candidate = (x + delta).clamp(0, 1)
            candidate_margin = self._margin(candidate, labels[active])
            improved = candidate_margin < best_margin[active]
            best[active[improved]] = candidate[improved]
            best_margin[active[improved]] = candidate_margin[improved]
            newly = active[candidate_margin <= 0].cpu()
            fooled_at[newly] = iteration + 2
        self.fooled_at = fooled_at
        return best.detach()
