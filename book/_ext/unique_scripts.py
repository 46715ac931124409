"""Sphinx extension: every script appears once per page.

Jupyter Book always loads sphinx-thebe, which registers an inline configuration script
(``const THEBE_JS_URL = ...``) with the application. Sphinx then holds it twice — once from the registry
(filename ``""``) and once from the builder (filename ``None``), which its duplicate check treats as different
— so every page declares the constant twice and the browser logs an uncaught SyntaxError. The browser check
of ``make test`` (tools/check_book.py) fails on that, rightly; this drops the copy.
"""

from __future__ import annotations

from typing import Any


def _unique_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set = set()
    unique = []
    for script in scripts:
        key = (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app: Any) -> dict:
    app.connect("html-page-context", _unique_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
