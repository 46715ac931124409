"""Check that the book's prose quotes the executed notebooks correctly: every glue reference resolves.

The intro and deviations pages quote results with MyST-NB's cross-document glue roles, e.g.
``{glue:text}`results/table1_conversion.ipynb::gap_min:.1f``` or
``{glue}`results/fig4_square_queries.ipynb::verdict_ann```.
Jupyter Book only *warns* when a key is missing and then silently drops the number from the sentence. This
tool makes that an error. For every such reference in ``<src>/book/*.md`` it checks that

1. the executed notebook ``<src>/book/<path>`` exists and glued ``<key>`` (a ``scrapbook`` output);
2. the built page ``<html>/book/<page>.html`` shows the value: for ``glue:text`` the value formatted with the
   reference's format spec, in a ``pasted-text`` span; for ``glue`` the glued HTML.

It checks the same of every same-notebook reference (``{glue}`verdict```) in the Markdown cells of the executed
notebooks ``<src>/book/results/*.ipynb``: a result page quotes its own verdicts at its top, before the cells that
glue them.

Usage::

    python tools/check_glue.py SRC HTML

where SRC is the folder holding ``_toc.yml`` and ``book/`` (with the executed ``book/results/*.ipynb``) and HTML
the built ``_build/html``. Prints one line per failure and a summary; exits 1 on any failure, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import ast
import html
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: ``{glue}`doc::key``` and ``{glue:text}`doc::key:fmt``` (the cross-document forms of MyST-NB 1.x).
GLUE_ROLE = re.compile(r"\{glue(?::(?P<kind>text|any))?\}`(?P<doc>[^`:]+)::(?P<key>[^`:]+)(?::(?P<fmt>[^`]*))?`")
#: ``{glue}`key``` and ``{glue:text}`key:fmt``` (a key glued by the same notebook).
LOCAL_ROLE = re.compile(r"\{glue(?::(?P<kind>text|any)?)?\}`(?P<key>[^`:]+)(?::(?P<fmt>[^`:][^`]*))?`")
PREFIX = "application/papermill.record/"


@dataclass(frozen=True)
class GlueReference:
    page: str  # the Markdown file, relative to SRC
    doc: str  # the notebook, relative to the page's folder
    key: str
    kind: str  # "text" or "any"
    fmt: str


def glue_references(page: str, text: str) -> list[GlueReference]:
    """Every cross-document glue role in ``text`` (a Markdown page's source).

    >>> [r.key for r in glue_references("book/x.md", "a {glue:text}`results/t.ipynb::gap:.1f` b")]
    ['gap']
    """
    return [GlueReference(page, m["doc"], m["key"], m["kind"] or "any", m["fmt"] or "")
            for m in GLUE_ROLE.finditer(text)]


def local_references(notebook: Path, relative: str) -> list[GlueReference]:
    """Every same-notebook glue role in the Markdown cells of ``notebook`` (``relative``: its path under SRC)."""
    cells = json.loads(notebook.read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return [GlueReference(relative, notebook.name, m["key"], m["kind"] or "any", m["fmt"] or "")
            for m in LOCAL_ROLE.finditer(text)]


def glued_values(notebook: Path) -> dict[str, dict]:
    """The glued outputs of an executed notebook, by key (their MIME bundles, prefix removed)."""
    values = {}
    for cell in json.loads(notebook.read_text())["cells"]:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                values[name] = {mime.removeprefix(PREFIX): data for mime, data in output.get("data", {}).items()}
    return values


def expected_html(reference: GlueReference, bundle: dict) -> str:
    """What the built page must contain for ``reference`` given the glued bundle."""
    if reference.kind == "text":
        value = ast.literal_eval(bundle["text/plain"])
        text = format(value, reference.fmt) if reference.fmt else str(value)
        return f'<span class="pasted-text">{html.escape(text)}</span>'
    if "text/html" in bundle:
        return bundle["text/html"]
    return html.escape(bundle["text/plain"])


def check(src: Path, built: Path) -> list[str]:
    """Failures (one sentence each) for every glue reference of ``src/book/*.md`` and of the executed notebooks'
    Markdown cells against ``built``."""
    references = []
    for page in sorted((src / "book").glob("*.md")):
        references += glue_references(page.relative_to(src).as_posix(), page.read_text())
    for notebook in sorted((src / "book" / "results").glob("*.ipynb")):
        references += local_references(notebook, notebook.relative_to(src).as_posix())
    failures = []
    cache: dict[Path, dict[str, dict]] = {}
    for reference in references:
        page = src / reference.page
        notebook = page.parent / reference.doc
        if not notebook.is_file():
            failures.append(f"{reference.page}: {reference.doc} was not executed (no {notebook}).")
            continue
        values = cache.setdefault(notebook, glued_values(notebook))
        if reference.key not in values:
            failures.append(f"{reference.page}: {reference.doc} glues no {reference.key!r}.")
            continue
        shown = built / Path(reference.page).with_suffix(".html")
        want = expected_html(reference, values[reference.key])
        if not shown.is_file() or want not in shown.read_text():
            failures.append(f"{reference.page}: the built page does not show {reference.key!r} as {want[:80]!r}.")
    return failures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("html", type=Path)
    args = parser.parse_args(argv)
    if not (args.src / "book").is_dir() or not args.html.is_dir():
        print(f"check_glue: need SRC with book/ and a built HTML folder, got {args.src} and {args.html}.")
        return 2
    failures = check(args.src, args.html)
    for failure in failures:
        print(f"check_glue: {failure}")
    count = sum(len(glue_references("", p.read_text())) for p in (args.src / "book").glob("*.md"))
    count += sum(len(local_references(n, "")) for n in (args.src / "book" / "results").glob("*.ipynb"))
    print(f"check_glue: {count} glue references, {len(failures)} failed.")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
