"""The parameters a reader passes to a result notebook, checked before any work starts.

Every notebook's ``parameters`` cell holds ``profile`` first and then overrides; ``None`` means "the
profile's value". :func:`resolve` turns them into :class:`Settings` — the profile with the overrides
applied — or raises :class:`ParameterError` with one sentence naming the parameter, the value and what is
allowed, so a typo in a papermill ``-p`` costs a second, not an hour of training.

Example:
    >>> settings = resolve(profile="smoke", epsilons="1,8", objectives="at")
    >>> [round(e * 255, 3) for e in settings.profile.epsilons], settings.objectives
    ([1.0, 8.0], ('at',))
    >>> resolve(profile="smok")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    snnconv.experiment.parameters.ParameterError: Parameter profile='smok' is not allowed: one of ('smoke', ...).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from snnconv.datasets.specs import DATASETS
from snnconv.experiment.config import CONVERTED_OBJECTIVES, OBJECTIVES
from snnconv.experiment.profiles import PROFILES, Profile
from snnconv.foundations.choices import RESISTED_IMAGES
from snnconv.method.architectures import ARCHITECTURES


class ParameterError(ValueError):
    """A user-supplied parameter is invalid; the message names it and what is allowed."""


@dataclass(frozen=True)
class Settings:
    """Validated parameters of a result notebook; ``profile`` holds every value after the overrides."""

    profile: Profile
    objectives: tuple[str, ...]
    seed: int
    threads: int


def fail(name: str, value: Any, allowed: str) -> ParameterError:
    """The error for parameter ``name``: ``Parameter name=value is not allowed: <allowed>.``"""
    return ParameterError(f"Parameter {name}={value!r} is not allowed: {allowed}.")


def _as_tuple(value: Any) -> tuple:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(value)


def resolve(
    profile: str = "default",
    dataset: str | None = None,
    arch: str | None = None,
    objectives: Any = CONVERTED_OBJECTIVES,
    epsilons: Any = None,
    time_steps: int | None = None,
    n_test: int | None = None,
    train_subset: int | None = None,
    ann_epochs: int | None = None,
    snn_epochs: int | None = None,
    beta: float | None = None,
    seed: int = 0,
    threads: int | None = None,
) -> Settings:
    """Check every parameter and apply it to the profile; ``None`` means "the profile's value".

    ``epsilons`` is given in the paper's /255 notation (``"2,4,8"``); inside the library budgets are in
    [0, 1] pixel units, sorted and without repeats. They are the budgets evaluated where a page sweeps budgets, each
    named by its value (:func:`snnconv.experiment.config.budget_name`: ``"1,8"`` evaluates 1/255, which the paper does
    not name, and ε3); the paper's named budgets — the baseline ANNs' training budgets, the finetuning's ε1, the pages
    reported at ε3 (or ε2) — stay the paper's values (:meth:`snnconv.experiment.profiles.Profile.budget`).
    """
    if profile not in PROFILES:
        raise fail("profile", profile, f"one of {tuple(PROFILES)}")
    base = PROFILES[profile]
    changes: dict[str, Any] = {}
    if dataset is not None:
        if dataset not in DATASETS:
            raise fail("dataset", dataset, f"one of {tuple(DATASETS)}")
        changes["dataset"] = dataset
    if arch is not None:
        if arch not in ARCHITECTURES:
            raise fail("arch", arch, f"one of {ARCHITECTURES}")
        changes["arch"] = arch
    objectives = _as_tuple(objectives)
    if not objectives or any(o not in OBJECTIVES for o in objectives):
        raise fail("objectives", list(objectives), f"a non-empty subset of {list(OBJECTIVES)}")
    if epsilons is not None:
        try:
            values = tuple(float(e) for e in _as_tuple(epsilons))
        except (TypeError, ValueError):
            values = ()
        if not values or any(not e > 0 or e > 255 for e in values):
            raise fail("epsilons", epsilons, "one or more budgets in /255 units, each in (0, 255]")
        changes["epsilons"] = tuple(e / 255 for e in sorted(set(values)))
    for name, value, low, high in (
        ("time_steps", time_steps, 1, 1000),
        ("n_test", n_test, 1, 10_000),
        ("train_subset", train_subset, 1, 10_000_000),
        ("ann_epochs", ann_epochs, 1, 10_000),
        ("snn_epochs", snn_epochs, 1, 10_000),
    ):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high):
            raise fail(name, value, f"an integer from {low} to {high}")
    if time_steps is not None:
        changes["time_steps"] = time_steps
    if n_test is not None:
        changes["n_test"] = changes["n_test_extended"] = n_test
    if train_subset is not None:
        changes["train_subset"] = train_subset
    if ann_epochs is not None:
        changes["ann_schedule"] = replace(base.ann_schedule, epochs=ann_epochs)
    if snn_epochs is not None:
        changes["snn_schedule"] = replace(base.snn_schedule, epochs=snn_epochs)
    if beta is not None:
        if not isinstance(beta, int | float) or isinstance(beta, bool) or beta < 0:
            raise fail("beta", beta, "a number >= 0")
        changes["finetune_trade_off"] = float(beta)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise fail("seed", seed, "a non-negative integer")
    if threads is None:
        threads = default_threads()
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise fail("threads", threads, "a positive integer")
    return Settings(replace(base, **changes), objectives, seed, threads)


def default_threads() -> int:
    """Torch threads for a page given none: ``OMP_NUM_THREADS`` when it is set — ``make`` sets it, and ``make test``
    runs two one-thread processes side by side on two cores, where a kernel taking every core would oversubscribe
    them — else every core."""
    given = os.environ.get("OMP_NUM_THREADS", "").strip()
    if not given:
        return os.cpu_count() or 1
    if not given.isdigit() or int(given) < 1:
        raise ParameterError(f"OMP_NUM_THREADS is {given!r}, not a positive integer: set it to the number of torch "
                             "threads (e.g. OMP_NUM_THREADS=2), or unset it to use every core.")
    return int(given)


#: The first line of the cell that papermill inserts after a notebook's ``parameters`` cell.
INJECTED_HEADER = "# Parameters"


def _assigned(source: str) -> list[str]:
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [target.id for node in tree.body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)]


def unknown_injected(cells: list[str]) -> tuple[list[str], list[str]]:
    """``(unknown, accepted)`` among the executed ``cells`` (sources in order): the names that papermill's injected
    cell sets although the notebook's ``parameters`` cell (the cell just before it) does not declare them.

    Papermill only warns about such a name and runs the notebook with its default, so a typo such as ``-p eps 8``
    would silently compute the wrong page; :func:`check_injected` makes it an error.

    >>> unknown_injected(["import os\\nprofile = 'default'\\nseed = 0", "# Parameters\\nprofile = 'smoke'\\neps = 8"])
    (['eps'], ['profile', 'seed'])
    """
    for index in range(len(cells) - 1, 0, -1):
        if cells[index].startswith(INJECTED_HEADER):
            accepted = _assigned(cells[index - 1])
            return [n for n in _assigned(cells[index]) if n not in accepted], accepted
    return [], []


def check_injected() -> None:
    """Raise :class:`ParameterError` naming every parameter passed to this notebook (papermill ``-p``) that its
    ``parameters`` cell does not declare; outside an IPython kernel, or when nothing was injected, do nothing."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    history = shell.user_ns.get("In", []) if shell is not None else []
    unknown, accepted = unknown_injected([str(cell) for cell in history])
    if unknown:
        names = ", ".join(unknown)
        raise ParameterError(f"Parameter {names} is not a parameter of this notebook "
                             f"(a typo?): the accepted ones are {', '.join(accepted)}.")


# ---- the parameters of single pages (checked by pages.settings_of before any work, and by the notebooks) ----


def parse_seeds(seeds: Any) -> tuple[int, ...]:
    """The ``seeds`` parameter of the claims page: ``"0,1,2"``, a list of ints, or one int."""
    values = seeds.split(",") if isinstance(seeds, str) else seeds if isinstance(seeds, list | tuple) else [seeds]
    try:
        parsed = tuple(int(str(v).strip()) for v in values)
    except ValueError:
        raise fail("seeds", seeds, 'distinct non-negative integers, e.g. "0,1,2"') from None
    if not parsed or len(set(parsed)) != len(parsed) or min(parsed) < 0:
        raise fail("seeds", seeds, 'distinct non-negative integers, e.g. "0,1,2"')
    return parsed


def claim_seeds(seeds: Any, profile: Profile) -> tuple[int, ...]:
    """The seeds over which the claims page tests each claim: its ``seeds`` parameter (:func:`parse_seeds`), else
    the profile's ``claim_seeds``."""
    return parse_seeds(seeds if seeds is not None else profile.claim_seeds)


def sensitivity_schedules(profile: Profile, longer_ann_epochs: Any = None,
                          longer_snn_epochs: Any = None) -> list[tuple[int, int]]:
    """The claims page's schedules: the profile's, a longer finetuning and longer baselines, as ``(ann_epochs,
    snn_epochs)``. ``None`` picks three times the profile's finetuning epochs and twice its baseline epochs.

    >>> sensitivity_schedules(PROFILES["default"])
    [(5, 1), (5, 3), (10, 1)]
    """
    ann, snn = profile.ann_schedule.epochs, profile.snn_schedule.epochs
    chosen = []
    for name, value, default, base in (("longer_snn_epochs", longer_snn_epochs, 3 * snn, snn),
                                       ("longer_ann_epochs", longer_ann_epochs, 2 * ann, ann)):
        value = default if value is None else value
        if not isinstance(value, int) or isinstance(value, bool) or value <= base:
            raise fail(name, value, f"an integer above the profile's {base} epochs")
        chosen.append(value)
    return [(ann, snn), (ann, chosen[0]), (chosen[1], snn)]


def parse_betas(betas: Any, profile: Profile) -> tuple[float, ...]:
    """Fig. 1's β values of Eq. 9: ``betas`` as ``"0.5,2,6"`` or a sequence, or (``None``) the profile's grid; each
    must be ≥ 0."""
    if betas is None:
        return profile.beta_grid
    try:
        values = tuple(float(b) for b in (betas.split(",") if isinstance(betas, str) else betas))
    except (TypeError, ValueError):
        values = ()
    if not values or any(not b >= 0 for b in values):
        raise fail("betas", betas, 'β values of Eq. 9, each ≥ 0, e.g. "0.5,2,6"')
    return values


def parse_transfer_resisted(resisted: str) -> str:
    """Table B1's ``transfer_resisted``: what a transfer attack hands the target for an image its source resists,
    one of :data:`snnconv.foundations.choices.RESISTED_IMAGES` (see :func:`snnconv.attacks.transfer_images`)."""
    if resisted not in RESISTED_IMAGES:
        raise fail("transfer_resisted", resisted, f"one of {RESISTED_IMAGES}")
    return resisted
