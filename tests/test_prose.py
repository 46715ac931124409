"""The book's prose types no number that a run produced: results are glued from the executed notebooks.

Every number with a decimal point in ``book/*.md`` — outside glue roles, substitutions, maths and code — must be
a value the paper publishes (``snnconv/book/reference_values``) or a parameter, i.e. a literal in the package's code.
A measured number typed into prose goes stale the moment a result changes; it belongs in a glue role
(``{glue:text}`results/<page>.ipynb::<key>:.1f```) or in ``book/measurements/*.json`` (a ``{{ … }}``
substitution). That the glue references resolve is checked on the built book by ``tools/check_glue.py``.
"""

from __future__ import annotations

import ast
import csv
import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "book").glob("*.md"))

_spec = importlib.util.spec_from_file_location("check_glue", ROOT / "tools" / "check_glue.py")
assert _spec is not None and _spec.loader is not None
check_glue = importlib.util.module_from_spec(_spec)
sys.modules["check_glue"] = check_glue
_spec.loader.exec_module(check_glue)

# Stripped before looking for numbers: what is not typed prose.
NOT_PROSE = [
    re.compile(r"```.*?```", re.S),  # code blocks
    re.compile(r"\$\$.*?\$\$", re.S),  # display maths
    re.compile(r"\$[^$\n]+\$"),  # inline maths
    re.compile(r"\{glue(?::\w+)?\}`[^`]*`"),  # glued results
    re.compile(r"\{\{.*?\}\}"),  # substitutions from book/measurements/*.json
    re.compile(r"`[^`\n]*`"),  # inline code (commands, versions, file names)
    re.compile(r"\]\([^)]*\)"),  # link targets
    re.compile(r"\b(?:Sec|Section|Suppl|Appendix|Table|Fig|Eq|Alg)s?\.? ?[A-Z]?\d+(?:\.\d+)+"),  # section numbers
    re.compile(r"\b\d+\.\d+\.\d+\S*"),  # version numbers
]
DECIMAL = re.compile(r"(?<![\w.])\d*\.\d+(?![\w.])")


def prose_decimals(text: str) -> list[str]:
    """The numbers with a decimal point in ``text`` that are typed prose."""
    for pattern in NOT_PROSE:
        text = pattern.sub(" ", text)
    return DECIMAL.findall(text)


def published_values() -> set[float]:
    values = set()
    for path in (ROOT / "snnconv" / "book" / "reference_values").glob("*.csv"):
        with path.open() as f:
            for row in csv.DictReader(f):
                for cell in row.values():
                    try:
                        values.add(round(float(cell), 6))
                    except (TypeError, ValueError):
                        pass
    return values


def code_literals() -> set[float]:
    """Every number written as a literal in the package: its parameters and constants."""
    values = set()
    for path in (ROOT / "snnconv").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(
                    node.value, bool):
                values.add(round(float(node.value), 6))
    return values


def test_the_prose_scan_sees_typed_numbers_and_skips_what_is_not_prose() -> None:
    text = ("SNN-RAT keeps 62.8 % here; $\\gamma = 0.25$; `torch==2.14.1`; Sec. 5.1; MathJax 3.2.2; "
            "{glue:text}`results/t.ipynb::gap:.1f` points; {{ gpu_check.neurons }}; .5 and 3.")
    assert prose_decimals(text) == ["62.8", ".5"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_number_from_a_run_is_typed_into_the_prose(page: Path) -> None:
    allowed = published_values() | code_literals()
    typed = [n for n in prose_decimals(page.read_text()) if round(float(n), 6) not in allowed]
    assert not typed, (f"{page.name} types {typed}: glue them from the notebook that computes them "
                       "(page.glue / {glue:text}), or they are neither a published value nor a parameter")


def test_every_glue_reference_names_an_existing_notebook() -> None:
    for page in PAGES:
        for reference in check_glue.glue_references(page.name, page.read_text()):
            name = Path(reference.doc).stem
            assert reference.doc == f"results/{name}.ipynb", reference
            assert (ROOT / "notebooks" / f"{name}.ipynb").is_file(), f"{page.name}: no notebook for {reference}"


def test_check_glue_fails_on_a_missing_key_and_a_stale_page(tmp_path: Path) -> None:
    import json

    (tmp_path / "src" / "book" / "results").mkdir(parents=True)
    (tmp_path / "html" / "book").mkdir(parents=True)
    (tmp_path / "src" / "book" / "intro.md").write_text(
        "Gap {glue:text}`results/t.ipynb::gap:.1f` and {glue}`results/t.ipynb::verdict`, "
        "missing {glue:text}`results/t.ipynb::nothing:.1f`.")
    record = "application/papermill.record/"
    outputs = [{"output_type": "display_data", "metadata": {"scrapbook": {"name": "gap"}},
                "data": {record + "text/plain": "3.14159"}},
               {"output_type": "display_data", "metadata": {"scrapbook": {"name": "verdict"}},
                "data": {record + "text/html": "<strong>holds</strong>", record + "text/plain": "<HTML>"}}]
    notebook = {"cells": [{"cell_type": "code", "source": "", "outputs": outputs}]}
    (tmp_path / "src" / "book" / "results" / "t.ipynb").write_text(json.dumps(notebook))
    page = tmp_path / "html" / "book" / "intro.html"
    page.write_text('Gap <span class="pasted-text">3.1</span> and <strong>holds</strong>')
    failures = check_glue.check(tmp_path / "src", tmp_path / "html")
    assert len(failures) == 1 and "'nothing'" in failures[0]
    page.write_text('Gap <span class="pasted-text">2.7</span> and <strong>holds</strong>')
    assert len(check_glue.check(tmp_path / "src", tmp_path / "html")) == 2


def test_check_glue_checks_a_notebooks_own_references_at_its_top(tmp_path: Path) -> None:
    (tmp_path / "src" / "book" / "results").mkdir(parents=True)
    (tmp_path / "html" / "book" / "results").mkdir(parents=True)
    record = "application/papermill.record/"
    top = {"cell_type": "markdown", "source": ["**At this profile**\n", "\n", "- {glue:}`verdict`\n", "- {glue}`gone`"]}
    glued = {"cell_type": "code", "source": "", "outputs": [
        {"output_type": "display_data", "metadata": {"scrapbook": {"name": "verdict"}},
         "data": {record + "text/html": "<strong>holds</strong>", record + "text/plain": "<HTML>"}}]}
    (tmp_path / "src" / "book" / "results" / "t.ipynb").write_text(json.dumps({"cells": [top, glued]}))
    (tmp_path / "html" / "book" / "results" / "t.html").write_text("<p><strong>holds</strong></p>")
    failures = check_glue.check(tmp_path / "src", tmp_path / "html")
    assert failures == ["book/results/t.ipynb: t.ipynb glues no 'gone'."]
    (tmp_path / "html" / "book" / "results" / "t.html").write_text("<p>nothing pasted</p>")
    assert len(check_glue.check(tmp_path / "src", tmp_path / "html")) == 2


def test_every_result_page_quotes_only_verdicts_it_glues() -> None:
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        for reference in check_glue.local_references(notebook, notebook.name):
            assert f'key="{reference.key}"' in code, f"{notebook.name} quotes {reference.key!r} but never glues it"
