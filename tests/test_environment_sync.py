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

import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pins import Pin, env_pins, env_pip_sections, lock_pins

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
ENV = ROOT / "environment.yml"
PYPROJECT = ROOT / "pyproject.toml"


def _by_name(pins: list[Pin], where: str) -> dict[str, str]:
    """``{canonical name: version}``; a package pinned twice fails, naming both versions."""
    by_name: dict[str, str] = {}
    for pin in pins:
        assert pin.name not in by_name, f"{where}: {pin.name} is pinned twice ({by_name[pin.name]} and {pin.version})"
        by_name[pin.name] = pin.version
    return by_name


@pytest.fixture(scope="module")
def lock() -> dict[str, str]:
    pins = _by_name(lock_pins(LOCK.read_text(encoding="utf-8")), "requirements.lock")
    assert pins, "requirements.lock has no pins"
    return pins


@pytest.fixture(scope="module")
def lock_no_deps() -> dict[str, str]:
    pins = [p for p in lock_pins(LOCK.read_text(encoding="utf-8")) if p.no_deps]
    return _by_name(pins, "requirements.lock (# no-deps)")


@pytest.fixture(scope="module")
def env() -> dict:
    data = yaml.safe_load(ENV.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and "dependencies" in data, "environment.yml has no 'dependencies'"
    return data


def _env_pip(no_deps: bool) -> dict[str, str]:
    """environment.yml's ``pip:`` section (exactly one), or its ``# pip install --no-deps`` commands."""
    text = ENV.read_text(encoding="utf-8")
    assert len(env_pip_sections(text)) == 1, "environment.yml must have exactly one 'pip:' section"
    where = "environment.yml (# pip install --no-deps)" if no_deps else "environment.yml"
    return _by_name([p for p in env_pins(text) if p.no_deps == no_deps], where)


def test_environment_yml_pins_python_311(env: dict) -> None:
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pythons = [d for d in conda if d.replace(" ", "").startswith("python=")]
    assert pythons == ["python=3.11"], f"environment.yml must pin python=3.11, found {pythons}"
    assert "pip" in conda, "environment.yml must install pip before its pip: section"


def test_environment_yml_mirrors_lock(lock: dict[str, str], lock_no_deps: dict[str, str]) -> None:
    env_pip = _env_pip(no_deps=False)
    lock = {n: v for n, v in lock.items() if n not in lock_no_deps}
    problems = [f"{n}=={lock[n]} is missing from environment.yml" for n in sorted(set(lock) - set(env_pip))]
    problems += [f"{n}=={env_pip[n]} is in environment.yml but not in requirements.lock"
                 for n in sorted(set(env_pip) - set(lock))]
    problems += [f"{n}: requirements.lock {lock[n]} != environment.yml {env_pip[n]}"
                 for n in sorted(set(lock) & set(env_pip)) if lock[n] != env_pip[n]]
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


def test_environment_yml_installs_no_deps_lines_without_deps(lock_no_deps: dict[str, str]) -> None:
    commands = _env_pip(no_deps=True)
    in_pip_section = set(_env_pip(no_deps=False)) & set(lock_no_deps)
    assert not in_pip_section, f"environment.yml's pip: section holds the lock's no-deps lines {sorted(in_pip_section)}"
    assert commands == lock_no_deps, (
        f"environment.yml's '# pip install --no-deps' commands {commands} != the lock's no-deps lines {lock_no_deps}"
    )
