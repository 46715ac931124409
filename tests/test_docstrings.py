"""Every public piece of the method names the part of the paper it implements (the API reference's promise).

The rule, for each public function and class *defined* in one of the method's modules (imported names are
checked where they are defined): its own docstring contains an anchor matching :data:`ANCHOR`, i.e.

* an equation, algorithm line, section or supplementary section of the paper: "Eq. (8)", "Eqs. (1)–(3)",
  "Algorithm 1, l. 17–28", "Alg. 1", "Sec. 4.3", "Suppl. A.4"; or
* for a helper that follows another work, that work: "Madry et al. 2018", "Croce & Hein 2020".

There is no allow-list. Pure infrastructure (a command-line ``main``, an exception class) has no equation,
so its docstring names the part of the paper's pipeline it serves instead, e.g. "the data sets of
Suppl. A.1" — which satisfies the same rule.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import pkgutil
import re
from pathlib import Path

import snnconv

#: An equation, algorithm, section or supplementary section of the paper, or an "Author et al. YEAR" /
#: "Author & Author YEAR" reference.
ANCHOR = re.compile(r"Eqs?\. ?\(?\d|Algorithm \d|Alg\. \d|Sec\. \d|Suppl\. [A-Z]|et al\. \d{4}|& \w+ \d{4}")

#: The modules of the paper's method (the first section of the API reference).
METHOD_MODULES = (
    "method.surrogates",
    "method.neurons",
    "method.tdbn",
    "method.models",
    "method.convert",
    "training.objectives",
    "training.train",
    "attacks.gradient",
    "attacks.apgd",
    "attacks.ensemble",
    "attacks.transfer",
    "attacks.autoattack",
    "attacks.evaluations",
    "attacks.square",
    "evaluation.diagnostics",
    "evaluation.activity",
    "datasets.data",
    "datasets.augment",
    "datasets.corruptions",
)


def _public_objects(module_name: str) -> dict[str, object]:
    """Public functions and classes defined in ``snnconv.<module_name>`` (not imported into it)."""
    module = importlib.import_module(f"snnconv.{module_name}")
    return {
        f"{module_name}.{attr}": obj
        for attr, obj in vars(module).items()
        if not attr.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and getattr(obj, "__module__", None) == module.__name__
    }


def _own_docstring(obj: object) -> str:
    # obj.__doc__, not inspect.getdoc: getdoc falls back to a base class's docstring, which would let an
    # undocumented subclass (e.g. of torchattacks.Attack or FileNotFoundError) pass on its parent's text.
    return inspect.cleandoc(obj.__doc__) if obj.__doc__ else ""


def test_the_rule_sees_the_public_api():
    objects = {name: obj for module in METHOD_MODULES for name, obj in _public_objects(module).items()}
    # A guard against a filter that silently checks nothing.
    for expected in ("method.convert.convert", "training.objectives.RobustFinetuning",
                     "attacks.ensemble.ensemble_robustness", "datasets.data.main", "datasets.augment.augment"):
        assert expected in objects
    # imported, checked in neurons
    assert "method.models.build" in objects and "method.models.SpikingNeuron" not in objects


def test_every_public_function_and_class_names_its_paper_anchor():
    offenders = []
    for module in METHOD_MODULES:
        for name, obj in _public_objects(module).items():
            doc = _own_docstring(obj)
            if not ANCHOR.search(doc):
                offenders.append(f"  {name}: {doc.splitlines()[0] if doc else '(no docstring)'}")
    assert not offenders, (
        f"{len(offenders)} public objects name no equation, algorithm line, section, supplementary section or "
        f"reference (e.g. 'Eq. (8)', 'Algorithm 1, l. 17–28', 'Sec. 4.3', 'Suppl. A.4', 'Madry et al. 2018', "
        f"'Croce & Hein 2020'; infrastructure names the pipeline part it serves, e.g. 'Suppl. A.1'):\n"
        + "\n".join(offenders)
    )


def test_every_public_module_has_a_module_docstring():
    missing = []
    assert (snnconv.__doc__ or "").strip(), "snnconv/__init__.py has no module docstring"
    # Every module of every sub-package (walk_packages imports the packages, not their modules).
    for info in pkgutil.walk_packages(snnconv.__path__, "snnconv."):
        if info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        # Read the source instead of importing it: a module's docstring must not depend on its imports.
        spec = importlib.util.find_spec(info.name)
        assert spec is not None and spec.origin is not None, info.name
        docstring = ast.get_docstring(ast.parse(Path(spec.origin).read_text(encoding="utf-8")))
        if not (docstring or "").strip():
            missing.append(f"  {info.name} ({spec.origin})")
    assert not missing, "public modules without a module docstring:\n" + "\n".join(missing)
