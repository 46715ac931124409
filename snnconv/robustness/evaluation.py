"""Evaluate any spiking network in one call: AutoAttack's shape (Croce & Hein 2020) with the robustness audit's attacks.

``snnconv.evaluate(model, images, labels, epsilon, suite="standard")`` runs a *suite* of attacks — each an attack of
:mod:`snnconv.attacks` run through the surrogate ensemble by :func:`snnconv.attacks.ensemble_robustness` (Sec. 4.3,
Suppl. A.4) — and returns, per image, every attack's verdict and the worst case over them, with a model card.

**The worst case.** With :math:`c_i` whether image :math:`i` is classified correctly and :math:`r_{a,i}` whether it
still is after attack :math:`a`, the image is robust only if every attack failed on it (Carlini et al. 2019), and
the worst-case accuracy is

.. math::  \\hat r_i = c_i \\wedge \\bigwedge_{a} r_{a,i}, \\qquad \\mathrm{acc} = \\frac{1}{n}\\sum_{i=1}^{n} \\hat r_i

Clean and worst-case accuracy carry Wilson intervals; their difference, clean minus worst case, is the binomial
proportion :math:`n_{10}/n` of images that only the attacks turn (no image is right under attack and wrong without
it), with the exact Clopper–Pearson interval (:func:`snnconv.evaluation.statistics.paired_comparison` with
``nested=True``).

**Which images each attack sees.** The white-box attacks run in the suite's order, each on the images that no
earlier attack fooled (early exit): on a deterministic network an image's verdict under these attacks depends only
on the image and the seed (random starts per image, :func:`snnconv.attacks.per_sample_uniform`), so skipping the
images already fooled changes no verdict and :math:`\\hat r` equals the AND of the attacks run on every image. The
Square attack is the exception: :mod:`snnconv.attacks.square` draws one random stream for all images of a call, so its
verdict on an image depends on which images share its batch. It therefore runs last, on every correctly classified
image, in batches of ``batch_size`` in the order given — exactly as the robustness audit runs it
(:func:`snnconv.book.audit.audit_rows`), so that on the audit's images the worst case is the audit's, image by image —
and its own verdicts are complete, so the masking check "images only Square fools" costs nothing more.

**Suites** are data (:class:`Suite`, a tuple of :class:`SuiteAttack`): ``"full"`` is the audit's attacks, read from
:func:`snnconv.book.audit.audit_attacks`, with HART's width searched per model as the audit does; ``"standard"`` is
the cheapest subset of them that stays within one point of the audit's worst case on every audited model and budget,
as the standard-evaluation page chose it from the audit's stored verdicts
(:data:`snnconv.robustness.suite.STANDARD_ATTACKS`). Their strengths (steps, queries) are a profile's
(:mod:`snnconv.experiment.config`).

**Networks.** Any ``nn.Module`` with ``forward(x, simulation)`` (Sec. 3.1): snnconv's own networks, a network of
another library behind :mod:`snnconv.adapters` (then the ensemble is the network's own surrogate and the 17 members an
adapter can run, and attacks whose members need a neuron's internals are skipped, saying so), or a network from
:func:`snnconv.robustness.checkpoints.load`, whose T, profile, seed and checkpoint SHA-256 are read from it.

Example::

    >>> import torch
    >>> from snnconv.robustness.evaluation import evaluate
    >>> from snnconv.robustness.suite import Suite, SuiteAttack
    >>> from snnconv.method.models import build
    >>> net = build("vgg_small", "fashion_mnist").eval()
    >>> tiny = Suite("tiny", (SuiteAttack("PGD2", "PGD", 2, ("triangular(γw=1)",)),))
    >>> result = evaluate(net, torch.rand(3, 1, 28, 28), torch.tensor([0, 1, 2]), 8 / 255, tiny, time_steps=4,
    ...                   progress=False)
    >>> result.n, result.card.threat_model, result.card.suite
    (3, 'L∞', 'tiny')
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from snnconv import __version__
from snnconv.adapters.foreign import ForeignNetwork
from snnconv.adapters.members import SURROGATE_MEMBERS, OwnSurrogate, adaptable
from snnconv.attacks import AttackSpec, ensemble_robustness, predict
from snnconv.evaluation.diagnostics import Evidence, diagnose, input_gradient_norms, random_noise_accuracy
from snnconv.evaluation.statistics import paired_comparison, wilson_interval
from snnconv.experiment.config import epsilon_label
from snnconv.experiment.profiles import PROFILES, Profile
from snnconv.foundations.paths import PROGRESS_INTERVAL
from snnconv.method.models import Simulation
from snnconv.method.surrogates import PAPER_ENSEMBLE, TRAINING_GRADIENT, GradientMode, HybridRateTemporal
from snnconv.robustness.card import AttackOutcome, Evaluation, ModelCard
from snnconv.robustness.checkpoints import Checkpoint, checkpoint_of, neuron_description
from snnconv.robustness.suite import SUITES, Suite, SuiteAttack, WidthSearch, build_suite
from snnconv.storage import revision
from snnconv.storage.pipeline import members_by_label
from snnconv.storage.store import file_sha256

# ------------------------------------------------------------------------------------------------- suites


# ------------------------------------------------------------------------------------------------- results


# ------------------------------------------------------------------------------------------------- evaluate


def _check(model: Any, images: Any, labels: Any, epsilon: Any, suite: Any, time_steps: Any, batch_size: Any,
           seed: Any, eot: Any) -> None:
    """One sentence for the first bad argument of :func:`evaluate`, before any attack runs (Sec. 4.3)."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module with forward(x, simulation), got {type(model).__name__}.")
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or not 0 < epsilon <= 1:
        raise ValueError(f"epsilon={epsilon!r} must lie in (0, 1] pixel units, e.g. 8 / 255 for the paper's ε3.")
    if not isinstance(images, torch.Tensor) or not images.is_floating_point() or images.dim() < 2:
        raise ValueError("images must be a floating-point tensor [N, ...] of images in [0, 1].")
    if not len(images):
        raise ValueError("images is empty: give at least one image.")
    low, high = float(images.min()), float(images.max())
    if low < 0 or high > 1:
        raise ValueError(f"images must lie in [0, 1], found values in [{low:g}, {high:g}].")
    if not isinstance(labels, torch.Tensor) or labels.is_floating_point() or labels.dim() != 1:
        raise ValueError("labels must be a one-dimensional integer tensor, one class per image.")
    if len(labels) != len(images):
        raise ValueError(f"images and labels must be as many: {len(images)} images but {len(labels)} labels.")
    if isinstance(suite, str) and suite not in SUITES:
        raise ValueError(f"suite={suite!r} is not a suite: one of {SUITES} or a Suite.")
    if not isinstance(suite, str | Suite):
        raise ValueError(f"suite must be one of {SUITES} or a Suite, got {type(suite).__name__}.")
    if time_steps is None:
        raise ValueError("time_steps is needed: the network's T (0 for an ANN), or a network from snnconv.load.")
    if isinstance(time_steps, bool) or not isinstance(time_steps, int) or time_steps < 0:
        raise ValueError(f"time_steps={time_steps!r} must be an integer T >= 0 (0 runs the ANN).")
    if isinstance(model, ForeignNetwork) and time_steps == 0:
        raise ValueError(f"{model.library}'s network is an SNN: give its time_steps T >= 1.")
    for name, value, low in (("batch_size", batch_size, 1), ("seed", seed, 0), ("eot", eot, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}={value!r} must be an integer >= {low}.")


def _ensemble(model: nn.Module, given: tuple[GradientMode, ...] | None, info: Checkpoint | None) -> tuple:
    """The members behind an attack's ``()`` (the ensemble, Sec. 4.3): ``given``, a loaded model's own (BNTT's), the
    paper's 19, or for an adapted network its own surrogate and the 17 members an adapter runs."""
    if given is not None:
        return tuple(given)
    if info is not None and info.ensemble:
        return members_by_label(info.ensemble)
    if isinstance(model, ForeignNetwork):
        return (OwnSurrogate(), *SURROGATE_MEMBERS)
    return PAPER_ENSEMBLE


def _description(model: nn.Module, time_steps: int, info: Checkpoint | None) -> tuple[str, str, str]:
    """``(model, architecture, neuron)`` for the card: a loaded checkpoint's, else read from the network."""
    if info is not None:
        return info.name, f"{type(model).__name__} ({info.architecture})", info.neuron
    if isinstance(model, ForeignNetwork):
        layers = ", ".join(dict.fromkeys(type(layer).__name__ for layer in model.spiking_layers()))
        return type(model.network).__name__, f"{type(model).__name__} around {type(model.network).__name__}", \
            f"{model.library} {layers}"
    if time_steps == 0:
        return type(model).__name__, type(model).__name__, "ReLU (the ANN)"
    neurons = getattr(model, "neurons", None) or []
    kinds = dict.fromkeys(neuron_description(n.leak, n.soft_reset) for n in neurons)
    poisson = ", Poisson input" if getattr(model, "stochastic", False) else ""
    return type(model).__name__, type(model).__name__, ("; ".join(kinds) + poisson) if kinds else "not stated"


def _search_width(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, search: WidthSearch,
                  time_steps: int, seed: int, batch_size: int, eot: int) -> tuple[str, list[dict]]:
    """HART's width by :class:`WidthSearch` (Hao et al. 2024): the chosen member's label and one row per width."""
    rows = []
    for width in search.widths:
        member = HybridRateTemporal(width)
        result = ensemble_robustness(model, images[: search.images], labels[: search.images],
                                     AttackSpec("PGD", search.epsilon, search.steps), time_steps, members=(member,),
                                     seed=seed, batch_size=batch_size, progress=False, eot=eot)
        rows.append({"member": member.label, "width": width, "correct": result.correct, "n": result.n})
    best = min(range(len(rows)), key=lambda i: rows[i]["correct"])  # the first in the grid on a tie
    return rows[best]["member"], [{**row, "chosen": i == best} for i, row in enumerate(rows)]


def _diagnostics(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epsilon: float, time_steps: int,
                 seed: int, batch_size: int, clean: torch.Tensor, white: torch.Tensor | None,
                 square: AttackOutcome | None) -> list[dict]:
    """The masking checks against the strongest white-box attack (Carlini et al. 2019; Suppl. B.1) that cost no
    attack: Square against it (accuracy and images only Square fools), uniform noise at ε, zero input gradients."""
    if white is None:
        return []
    n = len(clean)
    gradient = OwnSurrogate() if isinstance(model, ForeignNetwork) else TRAINING_GRADIENT
    simulation = Simulation(time_steps, gradient)  # the training gradient: the one the network was trained with
    norms = input_gradient_norms(model, images, labels, simulation, batch_size)
    noise = random_noise_accuracy(model, images, labels, epsilon, Simulation(time_steps), seed)
    square_robust = None if square is None or square.skipped else torch.tensor([v is True for v in square.robust])
    evidence = Evidence(
        clean=100.0 * int(clean.sum()) / n, attacked=100.0 * int(white.sum()) / n, random_noise=noise,
        zero_gradient_fraction=float((norms == 0).float().mean()),
        square=None if square_robust is None else 100.0 * int(square_robust.sum()) / n,
        square_only=None if square_robust is None else 100.0 * float((white & ~square_robust).sum()) / n,
        attacked_name="the strongest white-box attack")
    return diagnose(evidence)


def evaluate(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    epsilon: float,
    suite: str | Suite = "standard",
    *,
    time_steps: int | None = None,
    profile: str | Profile | None = None,
    seed: int | None = None,
    dataset: str | None = None,
    checkpoint: str | Path | None = None,
    ensemble: tuple[GradientMode, ...] | None = None,
    eot: int | None = None,
    batch_size: int | None = None,
    diagnostics: bool = True,
    progress: bool = True,
) -> Evaluation:
    """Attack ``model`` on ``images`` (in [0, 1]) with ``labels`` at the ℓ∞ budget ``epsilon`` (in [0, 1] pixel units,
    ``8 / 255`` for the paper's ε3) with every attack of ``suite``, and return the per-image worst case with its
    model card (Sec. 4.3; the module docstring says which images each attack sees and why).

    ``suite``: ``"standard"`` (the standard-evaluation page's choice: :func:`build_suite`), ``"full"`` (the
    robustness audit's attacks) or a :class:`Suite`. ``time_steps``: T (0 for an ANN). ``profile``: whose attack
    strengths the named suites use (steps, queries, HART's grid; default ``"default"``). ``seed``: of every random start
    (default 0). A network from :func:`snnconv.robustness.checkpoints.load` supplies T, its profile and seed, its data
    set and SHA-256, and the ensemble the book attacks it with; an argument given here overrides them. ``checkpoint``:
    the file the weights came from, for the card's SHA-256. ``ensemble``: the members behind the suite's ensemble
    attacks; ``eot``: draws per attacker forward for a random input encoding (Suppl. A.4; torch's generator is then
    seeded with ``seed`` first, as the pipeline does). ``batch_size``: images per batch (default: the profile's attack
    batch, as the audit's). ``diagnostics``: also run the masking checks that need no attack
    (:attr:`Evaluation.diagnostics`: Square against the strongest white-box attack, uniform noise at ε, zero input
    gradients; one forward and one backward pass per image). ``progress``: a progress bar over the attacks (and each
    attack's own). A bad argument raises ``ValueError`` with one sentence before any attack runs.
    """
    info = checkpoint_of(model)
    time_steps = info.time_steps if time_steps is None and info is not None else time_steps
    chosen_profile = profile if profile is not None else info.profile if info is not None else "default"
    if isinstance(chosen_profile, str) and chosen_profile not in PROFILES:
        raise ValueError(f"profile={chosen_profile!r} is not a profile: one of {tuple(PROFILES)}.")
    strengths = PROFILES[chosen_profile] if isinstance(chosen_profile, str) else chosen_profile
    batch_size = strengths.attack_batch if batch_size is None else batch_size
    seed = seed if seed is not None else info.seed if info is not None else 0
    eot = eot if eot is not None else info.eot if info is not None else 1
    _check(model, images, labels, epsilon, suite, time_steps, batch_size, seed, eot)
    assert time_steps is not None  # _check says so otherwise
    plan = build_suite(suite, strengths, time_steps > 0) if isinstance(suite, str) else suite
    members = _ensemble(model, ensemble, info)
    adapted = isinstance(model, ForeignNetwork)

    device = next(model.parameters(), torch.empty(0)).device
    images, labels = images.to(device), labels.to(device).long()
    if getattr(model, "stochastic", False):
        torch.manual_seed(seed)  # a random input encoding draws from torch's generator, as the pipeline seeds it
    truth = Simulation(time_steps)
    clean = (predict(model, images, truth, batch_size) == labels).cpu()
    n = len(clean)

    # White-box attacks first, in the suite's order, each on the images still robust; Square last, on every image.
    order = [a for a in plan.attacks if not a.batch_dependent] + [a for a in plan.attacks if a.batch_dependent]
    hart = HybridRateTemporal().label
    search_rows: list[dict] = []
    if plan.search is not None and time_steps > 0 and not adapted and any(a.members == (hart,) for a in order):
        chosen, search_rows = _search_width(model, images, labels, plan.search, time_steps, seed, batch_size, eot)
        order = [SuiteAttack(a.label, a.attack, a.steps, (chosen,)) if a.members == (hart,) else a for a in order]

    alive = clean.clone()
    fooled_first = ["" if ok else "clean" for ok in clean.tolist()]
    outcomes = []
    bar = tqdm(order, desc=f"evaluate ({plan.name}) ε={epsilon_label(epsilon)}", disable=not progress,
               mininterval=PROGRESS_INTERVAL)
    for attack in bar:
        run_members = members if not attack.members else members_by_label(attack.members)
        if adapted:
            run_members = tuple(m for m in run_members if adaptable(m))
        verdicts: list[bool | None] = [False if not ok else None for ok in clean.tolist()]
        by = ["clean" if not ok else "" for ok in clean.tolist()]
        if not run_members:
            outcomes.append(AttackOutcome(attack.label, attack.attack, attack.steps, attack.kind, (), tuple(verdicts),
                                          tuple(by), 0.0, "no member that an adapted network can run"))
            continue
        index = torch.arange(n) if attack.batch_dependent else alive.nonzero().flatten()
        started = time.perf_counter()
        if len(index):
            result = ensemble_robustness(model, images[index.to(device)], labels[index.to(device)],
                                         AttackSpec(attack.attack, epsilon, attack.steps), time_steps,
                                         members=run_members, seed=seed, batch_size=batch_size, progress=progress,
                                         eot=eot)
            for i, robust, fooler in zip(index.tolist(), result.robust.tolist(), result.fooled_by, strict=True):
                verdicts[i], by[i] = robust, fooler
                if not robust and alive[i]:
                    alive[i] = False
                    fooled_first[i] = attack.label
        # What ran, as ensemble_robustness names it: an ANN has one gradient, and Square none.
        ran = ("ANN",) if time_steps == 0 and not attack.batch_dependent else ("Square",) if attack.batch_dependent \
            else tuple(m.label for m in run_members)
        outcomes.append(AttackOutcome(attack.label, attack.attack, attack.steps, attack.kind, ran, tuple(verdicts),
                                      tuple(by), round(time.perf_counter() - started, 3)))
        bar.set_postfix(attack=attack.label, robust=int(alive.sum()), refresh=False)
    bar.close()

    white = [o for o in outcomes if o.kind == "white-box" and not o.skipped]
    strongest = clean.clone()
    for outcome in white:
        strongest &= torch.tensor([v is not False for v in outcome.robust])
    worst = alive
    checks = (_diagnostics(model, images, labels, epsilon, time_steps, seed, batch_size, clean,
                           strongest if white else None, next((o for o in outcomes if o.kind == "black-box"), None))
              if diagnostics else [])
    drop = paired_comparison(clean.tolist(), worst.tolist(), nested=True)
    square = next((o for o in outcomes if o.kind == "black-box" and not o.skipped), None)
    square_only = -1 if square is None or not white else \
        int(sum(s and v is False for s, v in zip(strongest.tolist(), square.robust, strict=True)))
    name, architecture, neuron = _description(model, time_steps, info)
    # The weights' SHA-256: of the file given, else of the stored artifact a loaded checkpoint came from.
    sha256 = file_sha256(Path(checkpoint)) if checkpoint is not None else info.sha256 if info is not None else ""
    clean_low, clean_high = wilson_interval(int(clean.sum()), n)
    worst_low, worst_high = wilson_interval(int(worst.sum()), n)
    card = ModelCard(
        model=name, architecture=architecture, dataset=dataset or (info.dataset if info is not None else ""),
        neuron=neuron, time_steps=time_steps, threat_model="L∞", epsilon=float(epsilon),
        epsilon_label=epsilon_label(epsilon), n=n, clean_accuracy=100.0 * int(clean.sum()) / n,
        clean_ci_low=clean_low, clean_ci_high=clean_high, worst_case_accuracy=100.0 * int(worst.sum()) / n,
        worst_case_ci_low=worst_low, worst_case_ci_high=worst_high, drop=drop.difference, drop_ci_low=drop.ci_low,
        drop_ci_high=drop.ci_high, square_only=square_only, suite=plan.name, suite_version=plan.version,
        attack_profile=plan.profile, attacks="; ".join(o.label for o in outcomes if not o.skipped), seed=seed,
        checkpoint=str(checkpoint) if checkpoint is not None else info.id if info is not None else "",
        checkpoint_sha256=sha256,
        code_revision=revision.code_revision(), snnconv_version=__version__)
    return Evaluation(card, plan, tuple(labels.tolist()), tuple(clean.tolist()), tuple(outcomes),
                      tuple(strongest.tolist()), tuple(worst.tolist()), tuple(fooled_first), drop, tuple(checks),
                      tuple(search_rows))
