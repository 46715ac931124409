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
themselves count (values only: the objectives and simulations a config describes are built by the stage functions
``pipeline.ann_objective``, ``snn_simulation`` and ``snn_objective``).

A revision names the rule that computed it (``"2-"``, :data:`RULE`). A record whose revision was computed by an
earlier rule is judged by today's rule applied to the code at its commit.

Records written before revisions were recorded carry only their commit; their revision is recomputed from that
commit's files with ``git show`` (when the checkout has git history), so old artifacts are judged by the same
rule.

The revision cannot tell a change that alters a number from one that provably does not (a fix to a memory leak
in a neuron's constructor, say), and recomputing the whole published store for the latter costs many CPU hours.
So a small, reviewed table, :data:`EQUIVALENCES`, lists pairs of revisions that compute the same artifacts. An
entry is admitted only with evidence by recomputation: ``python -m benchmarks.revision_equivalence --old COMMIT``
computes a fixed set of smoke artifacts (models, conversion, finetuning, attacks) with both codes and compares them
bit for bit, and records the run in ``book/measurements/revision_equivalence.json``; tests/test_revision.py fails
for an entry without an identical run there. Equivalence is transitive, so a chain of such changes keeps the
store current. :func:`same_code` is the one place that decides whether two revisions are the same code.

Example:
    >>> code_revision().startswith(RULE) and len(code_revision())
    16
    >>> is_stale({"code": code_revision()})
    False
    >>> same_code("2-e577fce5e03851", "2-e577fce5e03851"), same_code("2-e577fce5e03851", "2-0000000000000")
    (True, False)
"""

from __future__ import annotations

import ast
import hashlib
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

from snnconv.foundations import paths

#: Modules whose every line can change a stored number: models, neurons, surrogates, conversion, training,
#: attacks and the data they run on. Each is named as it was when the package was one flat folder (the name that
#: qualifies its definitions below) and mapped to the files that hold it now, in the order they are hashed. A
#: commit from before the move is read from ``snnconv/<name>.py``, so its revision is computed as it was then.
NUMERICAL_SOURCES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "attacks": ("attacks/gradient.py", "attacks/apgd.py", "attacks/ensemble.py", "attacks/transfer.py",
                "attacks/autoattack.py"),
    "bntt": ("method/bntt.py",),
    "config": ("experiment/config.py",),
    "convert": ("method/convert.py",),
    "corruptions": ("datasets/corruptions.py",),
    "data": ("datasets/data.py", "datasets/augment.py"),
    # Written after the move (a commit without it computed its verdicts in pipeline.ensure_evaluation, hashed below).
    "evaluations": ("attacks/evaluations.py",),
    # Written when the configs became values (issue 29): the torch-free definitions that the config classes name,
    # moved out of convert, train, data, models, network and attacks (a commit without them hashed them there).
    "architectures": ("method/architectures.py",),
    "calibration": ("method/calibration.py",),
    "choices": ("foundations/choices.py",),
    "specs": ("datasets/specs.py",),
    # Named apart from the flat storage module ``schedule.py`` of earlier commits, which computes nothing.
    "training_schedule": ("training/schedule.py",),
    "kernels": ("foundations/kernels.py",),
    "models": ("method/models.py",),
    "network": ("method/network.py",),
    "neurons": ("method/neurons.py",),
    "objectives": ("training/objectives.py",),
    "residual": ("method/residual.py",),
    "square": ("attacks/square.py",),
    "surrogates": ("method/surrogates.py",),
    "tdbn": ("method/tdbn.py",),
    "train": ("training/train.py",),
})
NUMERICAL_MODULES: tuple[str, ...] = tuple(NUMERICAL_SOURCES)

#: Where the pipeline's stage functions live (before the move: ``pipeline.py``).
PIPELINE_SOURCE = "storage/pipeline.py"

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

#: Stage functions written after :data:`STAGE_FUNCTIONS` was fixed: hashed where the pipeline has them and skipped
#: where it has not (unlike those above, which hash as ``-`` when missing), so that adding one leaves the revision of
#: every earlier commit as it was.
LATER_STAGE_FUNCTIONS: tuple[str, ...] = ("evaluation_of", "ann_objective", "snn_simulation", "snn_objective")


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _running(path: str) -> str | None:
    """The running package's source at ``path`` (relative to the package folder); None when it has no such file."""
    source = paths.PACKAGE / path
    return source.read_text() if source.exists() else None


def _sources(read: Callable[[str], str | None], module: str, files: tuple[str, ...]) -> list[str]:
    """The sources of ``module``: its files in the sub-package layout, else the flat ``<module>.py`` of a commit
    from before the move ("" when that commit had neither: a module that did not exist yet computed nothing)."""
    found = [read(path) for path in files]
    if all(text is not None for text in found):
        return found
    return [read(f"{module}.py") or ""]


def _definitions(read: Callable[[str], str | None], module: str) -> list[tuple[str, ast.stmt]]:
    """``(module.name, node)`` of every top-level statement of numerical ``module`` (in all its files, in order),
    docstrings stripped."""
    return [(f"{module}.{getattr(node, 'name', '')}", node)
            for source in _sources(read, module, NUMERICAL_SOURCES[module])
            for node in _strip_docstrings(ast.parse(source)).body]


def revision_of(read: Callable[[str], str | None], legacy: bool = False) -> str:
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
    pipeline = _strip_docstrings(ast.parse(read(PIPELINE_SOURCE) or read("pipeline.py") or ""))
    functions = {node.name: node for node in pipeline.body if isinstance(node, ast.FunctionDef)}
    for name in STAGE_FUNCTIONS:
        digest.update(ast.dump(functions[name]).encode() if name in functions else b"-")
    for name in LATER_STAGE_FUNCTIONS:
        if name in functions:
            digest.update(ast.dump(functions[name]).encode())
    return digest.hexdigest()[:16] if legacy else RULE + digest.hexdigest()[:16 - len(RULE)]


@cache
def code_revision() -> str:
    """The revision of the code that is running."""
    return revision_of(_running)


def keyed_revision(read: Callable[[str], str | None] | None = None) -> str:
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

    def read(path: str) -> str | None:
        shown = subprocess.run(["git", "-C", str(root), "show", f"{commit}:snnconv/{path}"], capture_output=True,
                               text=True, timeout=30)
        if shown.returncode != 0 and any(m in shown.stderr for m in _NOT_IN_COMMIT):
            return None
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


@dataclass(frozen=True)
class Equivalence:
    """Revision ``new`` computes exactly what revision ``old`` computes: every stored number and every weight, bit
    for bit. ``reason`` says what changed and why that cannot change a number; ``evidence`` names the recomputation
    that showed it (a run in ``book/measurements/revision_equivalence.json``, which tests/test_revision.py checks)."""

    new: str
    old: str
    reason: str
    evidence: str


#: The reviewed revision-neutral changes, oldest first. Add an entry only with an identical run of
#: ``python -m benchmarks.revision_equivalence --old COMMIT`` (COMMIT: the last commit of the old revision).
EQUIVALENCES: tuple[Equivalence, ...] = (
    Equivalence(
        new="2-e78922ea2fe431", old="2-e577fce5e03851",
        reason="neurons.SpikingNeuron leaves snnTorch's class-level list of every neuron ever built (a memory leak); "
               "the list only serves snnTorch's init_hidden state handling, which snnconv never uses",
        evidence="book/measurements/revision_equivalence.json: the run from b854aded74af (5 smoke artifacts of "
                 "table1_conversion: ANN, converted and finetuned SNN, clean, ensemble PGD, APGD-CE), identical"),
    Equivalence(
        new="2-618a162a49668d", old="2-e78922ea2fe431",
        reason="the flat package moved into layer sub-packages: attacks.py split into attacks/gradient, apgd, "
               "ensemble, transfer and autoattack (definitions reordered, none changed), data.py's augmentation "
               "into datasets/augment.py, and data.load's error message names the moved module "
               "(python -m snnconv.datasets.data); imports, which the revision leaves out, changed everywhere",
        evidence="book/measurements/revision_equivalence.json: the run from 2853344bc762 (5 smoke artifacts of "
                 "table1_conversion: ANN, converted and finetuned SNN, clean, ensemble PGD, APGD-CE), identical"),
    Equivalence(
        new="2-2636fa3b7874b7", old="2-618a162a49668d",
        reason="one attack door (issue 29): AttackSpec.build's if-chain became the BUILDERS registry, which builds "
               "the same classes with the same arguments (α = ε/4, η = 2.5ε/k unless given); ensure_evaluation's "
               "branches became typed evaluations (attacks/evaluations.py) chosen by pipeline.evaluation_of, each "
               "running the old branch's calls in the old order; the gradient-sign steps of FGSM, RFGSM, PGD and "
               "of training.objectives moved into attacks.gradient (fgsm_step, pgd_step, rfgsm_start, rfgsm_step) "
               "with the same operations in the same order and the same random draws; AttackSpec.label is "
               "paper_attack_name, a name in progress bars only",
        evidence="book/measurements/revision_equivalence.json: the run from d674fae1cc31 (5 smoke artifacts of "
                 "table1_conversion: ANN, converted and RFGSM-finetuned SNN, clean, ensemble PGD, APGD-CE), "
                 "identical"),
    Equivalence(
        new="2-ab4802d03bc52e", old="2-2636fa3b7874b7",
        reason="configuration as values (issue 29, item 4): the config classes' objective_fn, simulation and "
               "objective became pipeline.ann_objective, snn_simulation and snn_objective with the same "
               "constructor calls and arguments; Calibration (from convert), Schedule (from train), DatasetSpec "
               "and DATASETS (from data), BiasMode, Readout, VGG_CONFIGS and the architecture names (from models "
               "and network) and RESISTED_IMAGES (from attacks.transfer) moved unchanged into torch-free modules "
               "(method/calibration, training/schedule, datasets/specs, method/architectures, "
               "foundations/choices), imported where they were used; no definition changed, so no number can",
        evidence="book/measurements/revision_equivalence.json: the run from 6b07e14916d5 (5 smoke artifacts of "
                 "table1_conversion: ANN, converted and finetuned SNN, clean, ensemble PGD, APGD-CE), identical"),
    Equivalence(
        new="2-c1cdca047b2e58", old="2-ab4802d03bc52e",
        reason="one halving schedule (issue 29): SA-PGD halves its step at apgd_checkpoints instead of its own "
               "rounding of the same fractions of N; the two give the same checkpoints at N = 100 (every stored "
               "SA-PGD verdict: 24 records) and N = 5 (the smoke profile), pinned by "
               "tests/test_stronger_members.py; nothing else in a hashed module changed",
        evidence="book/measurements/revision_equivalence.json: the run from a955baf7c910 (5 smoke artifacts of "
                 "table1_conversion: ANN, converted and finetuned SNN, clean, ensemble PGD, APGD-CE), identical; "
                 "it runs no SA-PGD, whose equality rests on the schedules' equality at the stored N"),
)


@cache
def _classes(equivalences: tuple[Equivalence, ...]) -> dict[str, str]:
    """Each revision named in ``equivalences`` mapped to one representative of its class (union-find), so that
    A≡B and B≡C make A≡C without listing that pair too."""
    parent: dict[str, str] = {}

    def root(revision: str) -> str:
        while parent.setdefault(revision, revision) != revision:
            revision = parent[revision]
        return revision

    for equivalence in equivalences:
        parent[root(equivalence.new)] = root(equivalence.old)
    return {revision: root(revision) for revision in parent}


def equivalent_revisions(revision: str) -> set[str]:
    """Every revision that computes what ``revision`` computes (itself included)."""
    classes = _classes(EQUIVALENCES)
    if revision not in classes:
        return {revision}
    return {other for other, representative in classes.items() if representative == classes[revision]}


def same_code(a: str, b: str) -> bool:
    """Whether revisions ``a`` and ``b`` compute the same numbers: equal, or in one class of :data:`EQUIVALENCES`.
    Every comparison of a record's revision with the running code's goes through here."""
    classes = _classes(EQUIVALENCES)
    return a == b or (a in classes and b in classes and classes[a] == classes[b])


def is_stale(record: dict) -> bool | None:
    """True when the running code would compute ``record`` with different code, None when that is unknown. Code
    listed as equivalent (:func:`same_code`) is not different code: its results are what the running code would
    compute."""
    revision = record_revision(record)
    return None if revision is None else not same_code(revision, code_revision())
