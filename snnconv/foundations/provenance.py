"""Provenance: which commit, parameters, software and hardware produced a page's numbers.

Nothing here imports torch at module level: :func:`collect_provenance` imports it on demand, so rendering a
footer stays cheap.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import importlib.metadata
import math
import os
import platform
import subprocess
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

#: Distributions whose versions go into every provenance footer.
PROVENANCE_PACKAGES: tuple[str, ...] = ("torch", "torchvision", "snntorch", "torchattacks", "numpy", "pandas")


def format_duration(seconds: float) -> str:
    """Wall time for humans: ``723`` → "12 min 3 s", ``3725`` → "1 h 2 min 5 s", ``4.2`` → "4.2 s"."""
    if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"seconds={seconds!r} must be a finite number >= 0")
    if seconds < 60:
        return f"{seconds:.1f} s"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min {secs} s"
    return f"{minutes} min {secs} s"


def _format_bytes(size: int | None) -> str:
    return "unknown" if size is None else f"{size / 2**30:.1f} GiB"


def _markdown_cell(value: Any) -> str:
    # A "|" inside a cell would end it; newlines would end the row.
    return str(value).replace("|", "\\|").replace("\n", " ")


@dataclasses.dataclass(frozen=True)
class Provenance:
    """Everything needed to say where a notebook's numbers came from.

    Built by ``collect_provenance``; mappings are read-only views so the record cannot drift after it
    was taken. ``to_dict`` gives a JSON-serialisable copy for result files.
    """

    commit: str
    date: str
    python: str
    platform: str
    packages: Mapping[str, str]
    cpu: str
    logical_cores: int | None
    torch_threads: int | None
    ram_bytes: int | None
    gpu: str
    parameters: Mapping[str, Any]
    profile: str
    wall_time_s: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "packages", MappingProxyType(dict(self.packages)))
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-serialisable copy (mappings become dicts)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["packages"] = dict(self.packages)
        data["parameters"] = dict(self.parameters)
        return data

    def to_markdown(self) -> str:
        """A compact "### Provenance" section: a parameters table and the environment facts."""
        lines = [
            "### Provenance",
            "",
            "| parameter | value |",
            "|---|---|",
            f"| profile | `{self.profile}` |",
        ]
        lines += [f"| {_markdown_cell(k)} | `{_markdown_cell(v)}` |" for k, v in self.parameters.items()
                  if k != "profile"]  # already the first row
        packages = ", ".join(f"{name} {version}" for name, version in self.packages.items())
        cores = "unknown" if self.logical_cores is None else str(self.logical_cores)
        threads = "" if self.torch_threads is None else f", torch threads {self.torch_threads}"
        lines += [
            "",
            "| environment | |",
            "|---|---|",
            f"| commit | `{self.commit}` |",
            f"| date (UTC) | {self.date} |",
            f"| wall time | {format_duration(self.wall_time_s)} |",
            f"| python | {_markdown_cell(self.python)} on {_markdown_cell(self.platform)} |",
            f"| packages | {_markdown_cell(packages)} |",
            f"| CPU | {_markdown_cell(self.cpu)} ({cores} logical cores{threads}) |",
            f"| RAM | {_format_bytes(self.ram_bytes)} |",
            f"| GPU | {_markdown_cell(self.gpu)} |",
        ]
        return "\n".join(lines) + "\n"

    def _repr_markdown_(self) -> str:
        # Lets a notebook cell ending in a Provenance render as the footer.
        return self.to_markdown()


def _git(directory: Path, *args: str) -> str | None:
    """stdout of a git command run in ``directory``, or None when git or the repository is unavailable."""
    try:
        completed = subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout if completed.returncode == 0 else None


def _git_commit(directory: Path) -> str:
    """HEAD of the checkout holding ``directory``, "+dirty" when tracked files changed, else "unknown"."""
    head = _git(directory, "rev-parse", "HEAD")
    if head is None or len(head.strip()) != 40:
        return "unknown"
    # An installed copy under an ignored folder (.venv/ inside a checkout) is not that checkout's code.
    if _git(directory, "check-ignore", "-q", str(directory)) is not None:
        return "unknown"
    status = _git(directory, "status", "--porcelain", "--untracked-files=no")
    return head.strip() + ("+dirty" if status else "")


def source_commit() -> str:
    """The commit of the ``snnconv`` code that is running (``+dirty`` with local changes, or "unknown")."""
    return _git_commit(Path(__file__).resolve().parent)


def _package_versions() -> dict[str, str]:
    versions = {}
    for name in PROVENANCE_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name") and ":" in line:
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _total_ram_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024  # reported in kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _torch_facts() -> tuple[int | None, str]:
    """(torch threads, GPU description); torch is imported only here because it is heavy."""
    try:
        import torch
    except ImportError:
        return None, "none"
    threads = torch.get_num_threads()
    if not torch.cuda.is_available():
        return threads, "none"
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    distinct = list(dict.fromkeys(names))
    gpu = ", ".join(f"{names.count(n)} × {n}" if names.count(n) > 1 else n for n in distinct)
    return threads, gpu


def collect_provenance(parameters: dict[str, Any], profile: str, wall_time_s: float) -> Provenance:
    """Record commit, date, software versions and hardware next to a run's parameters.

    Args:
        parameters: the notebook's effective parameters (after the profile's defaults were applied).
        profile: ``"smoke"``, ``"default"``, ``"paper"`` or a custom name.
        wall_time_s: how long the computation took, in seconds.

    Returns:
        A frozen ``Provenance``; ``commit`` is the 40-hex HEAD of the checkout that contains this
        package (with "+dirty" when tracked files differ from it) or "unknown" outside a git checkout.
    """
    if not isinstance(parameters, Mapping):
        raise ValueError(f"parameters={parameters!r} must be a dict of parameter name → value")
    if not (isinstance(wall_time_s, int | float) and math.isfinite(wall_time_s) and wall_time_s >= 0):
        raise ValueError(f"wall_time_s={wall_time_s!r} must be a finite number of seconds >= 0")
    threads, gpu = _torch_facts()
    return Provenance(
        commit=_git_commit(Path(__file__).resolve().parent),
        date=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        python=f"{platform.python_implementation()} {platform.python_version()}",
        platform=platform.platform(terse=True),
        packages=_package_versions(),
        cpu=_cpu_model(),
        logical_cores=os.cpu_count(),
        torch_threads=threads,
        ram_bytes=_total_ram_bytes(),
        gpu=gpu,
        parameters=dict(parameters),
        profile=str(profile),
        wall_time_s=float(wall_time_s),
    )
