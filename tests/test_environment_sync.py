"""The three places that pin packages must agree.

``requirements.lock`` is the single source of exact pins. ``environment.yml`` (for conda users) must list
every lock line in its ``pip:`` section with the same version and nothing else, except the lock's lines marked
``# no-deps`` (make setup installs them with ``pip install --no-deps``): conda's pip would install those with
their declared dependencies, so they must be absent from the ``pip:`` section and appear instead, with the same
version, as ``# pip install --no-deps name==version`` commands in environment.yml's header. Every direct
dependency declared in ``pyproject.toml`` (``[project].dependencies`` and all
``[project.optional-dependencies]``) must be an exact ``==`` pin equal to the lock's pin.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
ENV = ROOT / "environment.yml"
PYPROJECT = ROOT / "pyproject.toml"
NO_DEPS = re.compile(r"#\s*no-deps\b")
ENV_NO_DEPS_COMMAND = re.compile(r"^#\s*pip install --no-deps (?P<req>\S+==\S+)\s*$")


def _exact_pin(line: str, where: str) -> tuple[str, str]:
    """Return (canonical name, version) of an exact ``name==version`` requirement; fail on anything looser."""
    req = Requirement(line)
    specs = list(req.specifier)
    assert len(specs) == 1 and specs[0].operator == "==", f"{where}: {line!r} is not an exact '==' pin"
    return canonicalize_name(req.name), specs[0].version


def _pins(lines: list[str], where: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in lines:
        name, version = _exact_pin(line, where)
        assert name not in pins, f"{where}: {name} is pinned twice ({pins[name]} and {version})"
        pins[name] = version
    return pins


def _lock_lines(no_deps: bool | None = None) -> list[str]:
    """The lock's requirement lines without comments: all (None), or only those with/without '# no-deps'."""
    lines = []
    for raw in LOCK.read_text(encoding="utf-8").splitlines():
        line, _, comment = raw.partition(" #")
        line = line.strip()
        if line and not line.startswith("#"):
            if no_deps is None or no_deps == bool(NO_DEPS.search("#" + comment)):
                lines.append(line)
    return lines


@pytest.fixture(scope="module")
def lock() -> dict[str, str]:
    pins = _pins(_lock_lines(), "requirements.lock")
    assert pins, "requirements.lock has no pins"
    return pins


@pytest.fixture(scope="module")
def lock_no_deps() -> dict[str, str]:
    return _pins(_lock_lines(no_deps=True), "requirements.lock (# no-deps)")


@pytest.fixture(scope="module")
def env() -> dict:
    data = yaml.safe_load(ENV.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and "dependencies" in data, "environment.yml has no 'dependencies'"
    return data


def _env_pip_lines(env: dict) -> list[str]:
    sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(sections) == 1, "environment.yml must have exactly one 'pip:' section"
    return [str(x) for x in sections[0]]


def test_environment_yml_pins_python_311(env: dict) -> None:
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pythons = [d for d in conda if d.replace(" ", "").startswith("python=")]
    assert pythons == ["python=3.11"], f"environment.yml must pin python=3.11, found {pythons}"
    assert "pip" in conda, "environment.yml must install pip before its pip: section"


def _env_no_deps_lines() -> list[str]:
    lines = [ENV_NO_DEPS_COMMAND.match(raw.strip()) for raw in ENV.read_text(encoding="utf-8").splitlines()]
    return [m["req"] for m in lines if m]


def test_environment_yml_mirrors_lock(lock: dict[str, str], lock_no_deps: dict[str, str], env: dict) -> None:
    env_pins = _pins(_env_pip_lines(env), "environment.yml")
    lock = {n: v for n, v in lock.items() if n not in lock_no_deps}
    problems = [f"{n}=={lock[n]} is missing from environment.yml" for n in sorted(set(lock) - set(env_pins))]
    problems += [f"{n}=={env_pins[n]} is in environment.yml but not in requirements.lock"
                 for n in sorted(set(env_pins) - set(lock))]
    problems += [f"{n}: requirements.lock {lock[n]} != environment.yml {env_pins[n]}"
                 for n in sorted(set(lock) & set(env_pins)) if lock[n] != env_pins[n]]
    assert not problems, "environment.yml and requirements.lock disagree:\n" + "\n".join(problems)


def test_pyproject_direct_dependencies_match_lock(lock: dict[str, str]) -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    groups = {"dependencies": project.get("dependencies", [])}
    for extra, reqs in project.get("optional-dependencies", {}).items():
        groups[f"optional-dependencies.{extra}"] = reqs
    problems = []
    for group, reqs in groups.items():
        for line in reqs:
            if canonicalize_name(Requirement(line).name) == canonicalize_name(project["name"]):
                continue  # self-referencing extras such as "snnconv[book]"
            req = Requirement(line)
            specs = list(req.specifier)
            if len(specs) != 1 or specs[0].operator != "==":
                problems.append(f"[{group}] {line!r} is not an exact '==' pin")
                continue
            name, version = canonicalize_name(req.name), specs[0].version
            if name not in lock:
                problems.append(f"[{group}] {name}=={version} is not in requirements.lock")
            elif lock[name] != version:
                problems.append(f"[{group}] {name}=={version} but requirements.lock has {lock[name]}")
    assert not problems, "pyproject.toml and requirements.lock disagree:\n" + "\n".join(problems)


def test_environment_yml_installs_no_deps_lines_without_deps(lock_no_deps: dict[str, str], env: dict) -> None:
    commands = _pins(_env_no_deps_lines(), "environment.yml (# pip install --no-deps)")
    in_pip_section = set(_pins(_env_pip_lines(env), "environment.yml")) & set(lock_no_deps)
    assert not in_pip_section, f"environment.yml's pip: section holds the lock's no-deps lines {sorted(in_pip_section)}"
    assert commands == lock_no_deps, (
        f"environment.yml's '# pip install --no-deps' commands {commands} != the lock's no-deps lines {lock_no_deps}"
    )
