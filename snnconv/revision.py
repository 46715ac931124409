"""Which code computed an artifact, and whether today's code would compute it differently (staleness).

A stored artifact's key hashes its config, not the code that computed it, so a fix to a neuron or an attack
would otherwise silently reuse results of the old code. Every record therefore carries a *code revision*: a
hash of the code that determines the numbers — the numerical modules of :data:`NUMERICAL_MODULES` (without
their imports and checkpoint I/O) and the load-or-compute functions of :data:`STAGE_FUNCTIONS` — taken from
their syntax trees without docstrings, so a comment or a docstring does not make results stale, while any
change to what runs does. Rendering, statistics
and the store's bookkeeping are left out: they never change a stored number. So are the profiles, catalogues and
``*_config`` functions of ``config.py``: they only choose the values of a config, and every value of a config is
part of the artifact's key, so a changed value makes another artifact, not a stale one; only the config classes
themselves (whose methods build objectives and simulations) count.

A revision names the rule that computed it (``"2-"``, :data:`RULE`). A record whose revision was computed by an
earlier rule is judged by today's rule applied to the code at its commit.

Records written before revisions were recorded carry only their commit; their revision is recomputed from that
commit's files with ``git show`` (when the checkout has git history), so old artifacts are judged by the same
rule.

Example:
    >>> code_revision().startswith(RULE) and len(code_revision())
    16
    >>> is_stale({"code": code_revision()})
    False
"""

from __future__ import annotations

import ast
import hashlib
import subprocess
from collections.abc import Callable
from functools import cache

from snnconv import paths

#: Modules whose every line can change a stored number: models, neurons, surrogates, conversion, training,
#: attacks and the data they run on.
NUMERICAL_MODULES: tuple[str, ...] = (
    "attacks", "bntt", "config", "convert", "corruptions", "data", "kernels", "models", "network", "neurons",
    "objectives", "residual", "square", "surrogates", "tdbn", "train",
)

#: The rule that computes a revision, as the prefix of the revisions it computes (1: whole numerical modules,
#: without a prefix; 2: the config module's config classes only).
RULE = "2-"

#: The module whose config classes alone count (the rest of it chooses values that enter the keys).
CONFIG_MODULE = "config"

#: Definitions whose every change the store versions in the keys of exactly the verdicts they compute
#: (``store.ATTACK_REVISIONS``: APGD-CE, APGD-DLR, APGD-T), so a change to them needs no other artifact recomputed;
#: left out of the revision. tests/test_revision.py pins their hash to the key revision, so that a change
#: without a new key revision fails.
KEYED_DEFINITIONS: tuple[str, ...] = ("attacks.apgd_checkpoints", "attacks.halve_step", "attacks.APGD",
                                      "attacks.TargetedAPGD")

#: Functions of the numerical modules that only store or load (checkpoints): left out of the revision.
STORAGE_FUNCTIONS: tuple[str, ...] = ("train._save_checkpoint", "train._load_checkpoint")

#: The functions of ``pipeline.py`` that decide how a stored artifact is computed (not how it is stored).
STAGE_FUNCTIONS: tuple[str, ...] = (
    "training_data", "calibration_batches", "ensure_ann", "ensure_snn", "ensure_end_to_end", "members_by_label",
    "ensure_evaluation",
)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _running(path: str) -> str:
    """The running package's source at ``path`` (relative to the package folder)."""
    return (paths.PACKAGE / path).read_text()


def _definitions(read: Callable[[str], str], module: str) -> list[tuple[str, ast.stmt]]:
    """``(module.name, node)`` of every top-level statement of ``module``, docstrings stripped."""
    return [(f"{module}.{getattr(node, 'name', '')}", node)
            for node in _strip_docstrings(ast.parse(read(f"{module}.py"))).body]


def revision_of(read: Callable[[str], str], legacy: bool = False) -> str:
    """The code revision of the sources that ``read`` returns for a path relative to the package folder (with
    ``legacy``, by the first rule: whole numerical modules, no prefix)."""
    digest = hashlib.sha256()
    for name in NUMERICAL_MODULES:
        for qualified, node in _definitions(read, name):
            # Imports compute nothing; the storage functions only move bytes.
            storage, keyed = qualified in STORAGE_FUNCTIONS, not legacy and qualified in KEYED_DEFINITIONS
            if storage or keyed or isinstance(node, ast.Import | ast.ImportFrom):
                continue
            if not legacy and name == CONFIG_MODULE and not (isinstance(node, ast.ClassDef)
                                                             and node.name.endswith("Config")):
                continue
            digest.update(ast.dump(node).encode())
    pipeline = _strip_docstrings(ast.parse(read("pipeline.py")))
    functions = {node.name: node for node in pipeline.body if isinstance(node, ast.FunctionDef)}
    for name in STAGE_FUNCTIONS:
        digest.update(ast.dump(functions[name]).encode() if name in functions else b"-")
    return digest.hexdigest()[:16] if legacy else RULE + digest.hexdigest()[:16 - len(RULE)]


@cache
def code_revision() -> str:
    """The revision of the code that is running."""
    return revision_of(_running)


def keyed_revision(read: Callable[[str], str] | None = None) -> str:
    """The hash of the :data:`KEYED_DEFINITIONS` (of the running code, or of the sources ``read`` returns)."""
    digest = hashlib.sha256()
    for module in dict.fromkeys(name.split(".")[0] for name in KEYED_DEFINITIONS):
        for qualified, node in _definitions(read or _running, module):
            if qualified in KEYED_DEFINITIONS:
                digest.update(ast.dump(node).encode())
    return digest.hexdigest()[:16]


#: What ``git show`` says of a path that a commit does not have.
_NOT_IN_COMMIT = ("does not exist in", "exists on disk, but not in")


@cache
def revision_at(commit: str, legacy: bool = False) -> str | None:
    """The revision of the code at ``commit``, from the checkout's git history; None when it cannot be read."""
    if not commit or commit.endswith("+dirty") or not all(c in "0123456789abcdef" for c in commit):
        return None
    root = paths.PACKAGE.parent

    def read(path: str) -> str:
        shown = subprocess.run(["git", "-C", str(root), "show", f"{commit}:snnconv/{path}"], capture_output=True,
                               text=True, timeout=30)
        if shown.returncode != 0 and any(m in shown.stderr for m in _NOT_IN_COMMIT):
            return ""  # a module that did not exist yet at that commit computed nothing then
        if shown.returncode != 0:
            raise subprocess.CalledProcessError(shown.returncode, shown.args, shown.stdout, shown.stderr)
        return shown.stdout

    try:
        return revision_of(read, legacy)
    except (OSError, subprocess.SubprocessError, SyntaxError):
        return None


def record_revision(record: dict) -> str | None:
    """The code revision that computed ``record`` by today's rule: recorded, or recomputed from its commit (a record
    without one, or with one of an earlier rule); None if unknown."""
    recorded, commit = record.get("code") or "", str(record.get("commit", ""))
    if recorded.startswith(RULE):
        return recorded
    if commit.endswith("+dirty") and recorded:
        # Computed from uncommitted changes: when the revision it recorded by the first rule is that of the commit
        # below them, the changes left the numerical code alone, and the commit's code is the code that ran.
        clean = commit.removesuffix("+dirty")
        return revision_at(clean) if revision_at(clean, legacy=True) == recorded else None
    return revision_at(commit)


def is_stale(record: dict) -> bool | None:
    """True when the running code would compute ``record`` with different code, None when that is unknown."""
    revision = record_revision(record)
    return None if revision is None else revision != code_revision()
