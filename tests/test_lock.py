"""The lock is clean: no denied version, and its "# no-deps" lines are exactly the ones that need the marker.

``requirements.deny`` lists package versions that must never be pinned (published CVEs, or versions that only came
with torchattacks' exact pins). ``requirements.lock`` and ``environment.yml`` (its ``pip:`` section and the
``pip install --no-deps name==version`` commands in its header) must hold none of them; names are compared
normalized (``Requests`` and ``requests``, ``python_dateutil`` and ``python-dateutil`` are one package).

make setup installs the lock's lines marked ``# no-deps`` without their declared dependencies. The last tests read
the installed packages' metadata (no network) to check that every other locked package's dependencies are met by
the lock's own pins, and that each marked package really declares a dependency the lock does not satisfy.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pins import Pin, env_pins, lock_pins

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
ENV = ROOT / "environment.yml"
DENY = ROOT / "requirements.deny"

# `pip freeze` (how the lock is regenerated) leaves these out, so the resolver installs them unpinned when a locked
# package needs them (torch and sphinx-togglebutton need setuptools; sphinx-togglebutton needs wheel).
FREEZE_OMITS = frozenset({"pip", "setuptools", "wheel", "distribute"})


def deny_list(text: str) -> list[Requirement]:
    """The entries of a deny-list's text: one requirement (normally ``name==version``) a non-comment line."""
    return [Requirement(line.strip()) for line in text.splitlines() if line.strip() and not line.startswith("#")]


def denied(pins: list[Pin], deny: list[Requirement]) -> list[str]:
    """Each pin that a deny-list entry matches (same normalized name, version inside its specifier)."""
    hits = []
    for pin in pins:
        for entry in deny:
            if canonicalize_name(entry.name) == pin.name and entry.specifier.contains(pin.version, prereleases=True):
                hits.append(f"{pin.line} (denied by {entry})")
    return hits


# ---- the check itself --------------------------------------------------------------------------------------------

SMALL_DENY = "# why\nrequests==2.25.1\n# why\nPython_Dateutil==2.8.0\n# a range\nurllib3<2.5\n"


def test_check_catches_a_denied_pin_whatever_its_spelling() -> None:
    lock = "# header\nRequests==2.25.1\nidna==3.21\npython.dateutil==2.8.0  # comment\nURLLIB3==1.26.20  # no-deps\n"
    hits = denied(lock_pins(lock), deny_list(SMALL_DENY))
    assert len(hits) == 3, hits
    assert hits[0].startswith("Requests==2.25.1") and hits[1].startswith("python.dateutil==2.8.0")
    assert hits[2].startswith("URLLIB3==1.26.20")


def test_check_passes_versions_outside_the_deny_list() -> None:
    lock = "requests==2.34.2\npython-dateutil==4.0.0\nurllib3==2.8.0\nrequests-toolbelt==2.25.1\n"
    assert denied(lock_pins(lock), deny_list(SMALL_DENY)) == []


def test_check_catches_a_denied_pin_in_environment_yml() -> None:
    env = (
        "# header\n#   pip install --no-deps Requests==2.25.1\n"
        "dependencies:\n  - python=3.11\n  - pip\n  - pip:\n      - idna==3.21\n      - urllib3==1.26.20\n"
    )
    hits = denied(env_pins(env), deny_list(SMALL_DENY))
    assert sorted(h.split(" ")[0] for h in hits) == ["Requests==2.25.1", "urllib3==1.26.20"]


def test_lock_parser_reads_the_no_deps_marker_and_refuses_loose_pins() -> None:
    pins = lock_pins("a==1\nb==2  # no-deps: why\nc==3  # a comment\n")
    assert [(p.name, p.no_deps) for p in pins] == [("a", False), ("b", True), ("c", False)]
    with pytest.raises(AssertionError, match="not an exact"):
        lock_pins("requests>=2.32\n")


# ---- the repository's files --------------------------------------------------------------------------------------


def test_deny_list_entries_are_well_formed() -> None:
    lines = DENY.read_text(encoding="utf-8").splitlines()
    entries = deny_list("\n".join(lines))
    assert entries, "requirements.deny has no entries"
    names = [(canonicalize_name(e.name), str(e.specifier)) for e in entries]
    assert len(set(names)) == len(names), "requirements.deny lists an entry twice"
    for i, line in enumerate(lines):
        if line.strip() and not line.startswith("#"):
            assert i > 0 and lines[i - 1].startswith("#"), f"requirements.deny: {line!r} has no comment line saying why"


def test_lock_holds_no_denied_version() -> None:
    hits = denied(lock_pins(LOCK.read_text(encoding="utf-8")), deny_list(DENY.read_text(encoding="utf-8")))
    assert not hits, "requirements.lock pins denied versions (see requirements.deny):\n" + "\n".join(hits)


def test_environment_yml_holds_no_denied_version() -> None:
    hits = denied(env_pins(ENV.read_text(encoding="utf-8")), deny_list(DENY.read_text(encoding="utf-8")))
    assert not hits, "environment.yml pins denied versions (see requirements.deny):\n" + "\n".join(hits)


# ---- the "# no-deps" marker against the installed metadata ------------------------------------------------------


def _unmet(pin: Pin, lock: dict[str, str]) -> tuple[list[str], list[str]] | None:
    """(dependencies missing from the lock, dependencies whose locked version does not fit) of ``pin``'s
    installed distribution; None when it is not installed at the locked version (nothing to read)."""
    try:
        dist = metadata.distribution(pin.name)
    except metadata.PackageNotFoundError:
        return None
    if dist.version != pin.version:
        return None
    env = {**default_environment(), "extra": ""}
    missing, mismatched = [], []
    for text in dist.requires or []:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        if name in FREEZE_OMITS and name not in lock:
            continue
        if name not in lock:
            missing.append(text)
        elif not req.specifier.contains(lock[name], prereleases=True):
            mismatched.append(f"{text} (lock: {lock[name]})")
    return missing, mismatched


def test_every_locked_dependency_is_met_by_the_lock_except_no_deps_lines() -> None:
    pins = lock_pins(LOCK.read_text(encoding="utf-8"))
    lock = {p.name: p.version for p in pins}
    problems = []
    for pin in pins:
        unmet = _unmet(pin, lock)
        if unmet is None:
            continue
        missing, mismatched = unmet
        if not pin.no_deps:  # a no-deps line is installed without its declared dependencies: neither is needed
            problems += [f"{pin.line}: needs {m}, which the lock does not pin" for m in missing]
            problems += [f"{pin.line}: needs {m} (mark it '# no-deps' or fix the pins)" for m in mismatched]
    assert not problems, "requirements.lock is not self-consistent:\n" + "\n".join(problems)


def test_each_no_deps_line_needs_its_marker() -> None:
    pins = lock_pins(LOCK.read_text(encoding="utf-8"))
    lock = {p.name: p.version for p in pins}
    marked = [p for p in pins if p.no_deps]
    assert [p.name for p in marked] == ["spikingjelly", "torchattacks"], \
        "expected spikingjelly and torchattacks as the only '# no-deps' lines"
    for pin in marked:
        unmet = _unmet(pin, lock)
        if unmet is None:
            pytest.skip(f"{pin.name} {pin.version} is not installed here")
        assert unmet[0] or unmet[1], \
            f"{pin.line}: every declared dependency is locked and fits; drop the '# no-deps' marker"
