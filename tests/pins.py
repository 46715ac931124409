"""The pins of ``requirements.lock`` and ``environment.yml``, read in one place for the tests that check them
(``test_lock.py``: no denied version; ``test_environment_sync.py``: the files agree).

A lock line ``name==version`` may end in a ``# no-deps`` comment: make setup installs it without its declared
dependencies, and environment.yml then lists it, not in its ``pip:`` section, but as a
``# pip install --no-deps name==version`` command in its header. Every pin must be exact (``==``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

NO_DEPS = re.compile(r"#\s*no-deps\b")
ENV_NO_DEPS_COMMAND = re.compile(r"^#\s*pip install --no-deps (?P<req>\S+==\S+)\s*$")


class Pin(NamedTuple):
    name: str  # canonical
    version: str
    line: str
    no_deps: bool


def exact_pin(text: str, where: str, no_deps: bool = False) -> Pin:
    """The pin of an exact ``name==version`` requirement; an assertion error names anything looser."""
    req = Requirement(text)
    specs = list(req.specifier)
    assert len(specs) == 1 and specs[0].operator == "==", f"{where}: {text!r} is not an exact '==' pin"
    return Pin(canonicalize_name(req.name), specs[0].version, text, no_deps)


def lock_pins(text: str, where: str = "requirements.lock") -> list[Pin]:
    """The pins of a lock file's text; a trailing ``# no-deps`` comment marks a pin installed without its deps."""
    pins = []
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        requirement, _, comment = stripped.partition("#")
        pins.append(exact_pin(requirement.strip(), where, no_deps=bool(NO_DEPS.search("#" + comment))))
    return pins


def env_pip_sections(text: str) -> list[list[str]]:
    """The ``pip:`` sections of an environment.yml's text, each as its list of lines."""
    data = yaml.safe_load(text)
    return [[str(line) for line in d["pip"]] for d in data["dependencies"] if isinstance(d, dict) and "pip" in d]


def env_pins(text: str, where: str = "environment.yml") -> list[Pin]:
    """The pins of an environment.yml's text: its ``pip:`` section (``no_deps`` false) and its
    ``# pip install --no-deps`` commands (``no_deps`` true)."""
    pins = [exact_pin(line, where) for section in env_pip_sections(text) for line in section]
    for raw in text.splitlines():
        m = ENV_NO_DEPS_COMMAND.match(raw.strip())
        if m:
            pins.append(exact_pin(m["req"], where, no_deps=True))
    return pins
