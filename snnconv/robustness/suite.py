"""Attack suites as data: which attacks run, in which order, with which members and strengths (the robustness
audit's attacks, ``"full"``, or a standard subset, ``"standard"``)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from snnconv.attacks import AttackSpec
from snnconv.book.audit import audit_attacks, suite_names
from snnconv.experiment.profiles import PROFILES, Profile
from snnconv.method.surrogates import HybridRateTemporal
from snnconv.storage.store import ATTACK_REVISIONS


@dataclass(frozen=True)
class SuiteAttack:
    """One attack of a suite, as the audit describes its attacks (:func:`snnconv.book.audit.audit_attacks`, Sec. 4.3).

    ``attack`` is an :class:`~snnconv.attacks.AttackSpec` name run for ``steps`` steps (queries for Square) through
    the members ``members`` (their labels; ``()``: the ensemble, the paper's 19 members).
    """

    label: str
    attack: str
    steps: int
    members: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        AttackSpec(self.attack, 0.0, self.steps)  # an unknown attack or a bad step count fails here, not mid-run

    @property
    def kind(self) -> str:
        """``"black-box"`` for Square, else ``"white-box"`` (the audit's kinds, Sec. 4.3)."""
        return "black-box" if self.attack == "Square" else "white-box"

    @property
    def batch_dependent(self) -> bool:
        """Whether a verdict depends on the other images of the call (Square's one random stream,
        Andriushchenko et al. 2020 as :mod:`snnconv.attacks.square` draws it): such an attack runs on every correct
        image."""
        return self.attack == "Square"


@dataclass(frozen=True)
class WidthSearch:
    """HART's width chosen per model as its authors (Hao et al. 2024) and the audit do
    (:func:`snnconv.book.audit.hart_search_rows`): PGD of ``steps`` steps at ``epsilon`` through HART(γ) alone for each
    γ
    of ``widths``, on the first ``images`` images; the γ with the lowest accuracy wins (the first on a tie)."""

    widths: tuple[float, ...]
    images: int
    epsilon: float
    steps: int


@dataclass(frozen=True)
class Suite:
    """A named tuple of attacks (Sec. 4.3) and how they were chosen: the attacks' strengths are ``profile``'s;
    ``search`` chooses HART's width for an attack whose members are HART at its default width."""

    name: str
    attacks: tuple[SuiteAttack, ...]
    profile: str = "custom"
    revision: int = 1
    provisional: bool = False
    search: WidthSearch | None = None

    def __post_init__(self) -> None:
        labels = [attack.label for attack in self.attacks]
        if not labels or len(set(labels)) != len(labels):
            raise ValueError(f"a suite needs one or more attacks with distinct labels, got {labels}.")

    @property
    def version(self) -> str:
        """``<name>-<revision>[-provisional]+<digest>``: the digest hashes every attack, its steps, members and
        implementation revision (:data:`snnconv.storage.store.ATTACK_REVISIONS`) and the width search, so a suite that
        runs
        anything else (Sec. 4.3) carries another version."""
        content = {"attacks": [[a.label, a.attack, a.steps, list(a.members), ATTACK_REVISIONS.get(a.attack, 0)]
                               for a in self.attacks],
                   "search": None if self.search is None else asdict(self.search)}
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:8]
        return f"{self.name}-{self.revision}{'-provisional' if self.provisional else ''}+{digest}"


#: The suites by name.
SUITES = ("standard", "full")


#: The standard suite, as the audit's attacks at the default profile, in the order they run: the cheapest subset of
#: the audit's attacks whose worst case stays within one point of the whole audit's on every audited model and budget
#: (the standard-evaluation page's choice at the default profile, ``notebooks/standard_evaluation.ipynb``; the library
#: follows that page). Square runs last (AutoAttack's order, Croce & Hein 2020).
STANDARD_ATTACKS = ("threshold-scaled PGD20", "HART PGD20", "ASSG SA-PGD100", "APGD-CE", "APGD-DLR", "Square")

#: Where :data:`STANDARD_ATTACKS` are named: at this profile's strengths (a label carries its steps).
STANDARD_PROFILE = "default"


def standard_attacks(profile: Profile, spiking: bool) -> tuple[tuple[str, str, int, tuple[str, ...]], ...]:
    """:data:`STANDARD_ATTACKS` among :func:`snnconv.book.audit.audit_attacks` at ``profile``'s strengths (Sec. 4.3).

    The audit lists the same attacks in the same order at every profile, only their steps differ, so an attack is
    found by its place in the default profile's list. An ANN runs the attacks that stand for them
    (:func:`snnconv.book.audit.suite_names`: the same attack through its one gradient); an attack through chosen
    surrogate members has none there."""
    named = [label for label, *_ in audit_attacks(PROFILES[STANDARD_PROFILE], True)]
    unknown = [label for label in STANDARD_ATTACKS if label not in named]
    if unknown:
        raise ValueError(f"{unknown} are not attacks of the audit: one of {named}.")
    spiking_attacks = audit_attacks(profile, True)
    chosen = {spiking_attacks[named.index(label)][0] for label in STANDARD_ATTACKS}
    if spiking:
        return tuple(attack for attack in spiking_attacks if attack[0] in chosen)
    names = suite_names(profile)
    return tuple(attack for attack in audit_attacks(profile, False) if names[attack[0]] in chosen)


def build_suite(name: str, profile: str | Profile = "default", spiking: bool = True) -> Suite:
    """The suite ``name`` at ``profile``'s strengths, for an SNN (``spiking``) or an ANN (Sec. 4.3).

    ``"full"``: every attack of :func:`snnconv.book.audit.audit_attacks` — the audit's own definition, so the two cannot
    drift — with HART's width searched per model (:class:`WidthSearch`, the audit's grid and images).

    ``"standard"``: :func:`standard_attacks`, in the audit's order, with HART's width searched as in ``"full"`` where
    it runs HART. The standard-evaluation page chose them from the audit's stored per-image verdicts by a rule stated
    before the numbers (the cheapest subset within one point of the audit's worst case on every audited model and
    budget) and re-checked them on models that did not choose them; it names the models it could not re-check.
    """
    if name not in SUITES:
        raise ValueError(f"suite={name!r} is not a suite: one of {SUITES} or a Suite.")
    if isinstance(profile, str) and profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is not a profile: one of {tuple(PROFILES)}.")
    chosen = PROFILES[profile] if isinstance(profile, str) else profile
    search = WidthSearch(chosen.hart_widths, chosen.hart_search_images, chosen.budget("ε3"), chosen.pgd_steps)
    hart = HybridRateTemporal().label
    if name == "standard":
        attacks = tuple(SuiteAttack(*attack) for attack in standard_attacks(chosen, spiking))
        searched = spiking and any(attack.members == (hart,) for attack in attacks)
        return Suite(name, attacks, chosen.name, search=search if searched else None)
    attacks = tuple(SuiteAttack(*attack) for attack in audit_attacks(chosen, spiking))
    return Suite(name, attacks, chosen.name, search=search if spiking else None)
