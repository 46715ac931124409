"""tools/check_book.py on tiny hand-written "books": a healthy one passes, a broken one fails on every check.

The browser tests need Debian's chromium (/usr/bin/chromium) and the playwright package; they are skipped
with the reason when either is missing. The pure helpers and the usage errors are tested without a browser.
"""

from __future__ import annotations

import base64
import importlib.util
import struct
import sys
import zlib
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "check_book.py"
_spec = importlib.util.spec_from_file_location("check_book", TOOL)
assert _spec is not None and _spec.loader is not None
check_book = importlib.util.module_from_spec(_spec)
sys.modules["check_book"] = check_book  # dataclasses look the module up while the class is created
_spec.loader.exec_module(check_book)

needs_browser = pytest.mark.skipif(
    not check_book.CHROMIUM.is_file() or importlib.util.find_spec("playwright") is None,
    reason=f"needs Chromium at {check_book.CHROMIUM} (apt-get install chromium, or `make setup` as root) "
    "and the playwright package (in requirements.lock)",
)


def _png(width: int = 2, height: int = 2) -> bytes:
    """A valid RGB PNG of the given size (a few dozen bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x20\x60\xa0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _page(body: str, head: str = "") -> str:
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>t</title>{head}</head>\n"
            f"<body>{body}</body></html>\n")


def _write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


# A stand-in for MathJax: typesets .math spans into mjx-container elements some time after the load event and
# resolves MathJax.startup.promise then, so the checker must wait for the promise to see no raw TeX.
FAKE_MATHJAX = """<script>
window.MathJax = {startup: {promise: new Promise((resolve) => setTimeout(() => {
  for (const span of document.querySelectorAll("span.math")) {
    const container = document.createElement("mjx-container");
    container.textContent = span.textContent;
    span.replaceWith(container);
  }
  resolve();
}, 300))}};
</script>"""
CSV_URI = "data:text/csv;charset=utf-8,model%2Caccuracy%0Avgg11%2C0.91%0A"


def _healthy_book(root: Path) -> Path:
    png = base64.b64encode(_png()).decode()
    return _write(root, {
        "index.html": _page(
            "<nav><a href='results/table1.html'>Table 1</a> <a href='https://example.org/x'>elsewhere</a></nav>"
            "<main><h1 id='intro'>Intro</h1>"
            "<p>See <a href='results/table1.html#tab-1'>the table</a>, <a href='#intro'>this page</a>, "
            "<a href='#'>the top</a>, <a href='mailto:a@b.c'>mail</a> and <a href='_static/notes.txt'>notes</a>.</p>"
            "<p>Prices such as $5 and $10 are not maths; neither is $5-$10.</p>"
            "<p>Typeset: <span class='math'>\\(x^2 + \\sqrt{y}\\)</span></p>"
            f"<figure><img alt='dot' src='data:image/png;base64,{png}'></figure>"
            "<pre>$x^2$ and \\(code\\) \\begin{align}</pre><p><code>$y$</code></p></main>",
            head=FAKE_MATHJAX,
        ),
        "results/table1.html": _page(
            "<article class='bd-article'><h1>Table 1</h1><div style='height: 4000px'>(long output)</div>"
            "<img alt='figure, lazy and far below the fold' loading='lazy' src='../_images/figure.png'>"
            "<table id='tab-1' class='snnconv-table'><tr><th>model</th><th>accuracy</th></tr>"
            "<tr><td>vgg11</td><td>0.91</td></tr></table>"
            f"<a download='table1.csv' href='{CSV_URI}'>CSV</a> <a href='../index.html#intro'>back</a></article>"
        ),
        "_images/figure.png": _png(3, 2),
        "_static/notes.txt": "notes\n",
        # Generated pages are not checked (they would fail every check).
        "genindex.html": _page("<script>console.error('not checked')</script>$x^2$"),
        "_static/widget.html": _page("<script>throw new Error('not checked')</script>"),
    })


BROKEN_PAGES = {
    "console.html": ("console", "boom"),
    "exception.html": ("console", "kaboom"),
    "image.html": ("image", "missing.png"),
    "tex.html": ("math", "$x^2$"),
    "missing_page.html": ("link", "nowhere.html"),
    "missing_anchor.html": ("link", "no-such-id"),
    "results/no_table.html": ("result", "no <table>"),
    "math_error.html": ("math", "Undefined control sequence"),
    "external.html": ("request", "https://example.org/lib.js"),
    "redirect.html": ("link", "gone.html"),
}


def _broken_book(root: Path) -> Path:
    links = "".join(f"<a href='{name}'>{name}</a> " for name in BROKEN_PAGES)
    return _write(root, {
        "index.html": _page(f"<main><h1 id='top-heading'>Broken book</h1>{links}</main>"),
        "console.html": _page("<main><p>Console</p><script>console.error('boom')</script></main>"),
        "exception.html": _page("<main><p>Exception</p><script>throw new Error('kaboom')</script></main>"),
        "image.html": _page("<main><img alt='gone' src='missing.png'></main>"),
        "tex.html": _page("<main><p>MathJax never ran: raw $x^2$ here.</p></main>"),
        "missing_page.html": _page("<main><a href='nowhere.html'>a page that was never built</a></main>"),
        "missing_anchor.html": _page("<main><a href='index.html#no-such-id'>a renamed heading</a></main>"),
        "results/no_table.html": _page("<main><p>The notebook failed before its table.</p></main>"),
        "math_error.html": _page("<main><p>Typeset with an error: <mjx-container><mjx-merror "
                                 "data-mjx-error='Undefined control sequence \\foo'>\\foo</mjx-merror>"
                                 "</mjx-container></p></main>"),
        "external.html": _page("<main><p>Loads from a CDN.</p></main>",
                               head="<script src='https://example.org/lib.js'></script>"),
        # A redirect page (like Jupyter Book's root index.html) is not opened; its target must exist.
        "redirect.html": "<!DOCTYPE html><meta http-equiv='Refresh' content='0; url=gone.html' />\n",
    })


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list]:
    base = tmp_path_factory.mktemp("healthy")
    root = _healthy_book(base / "html")
    shots = base / "shots"
    return root, shots, check_book.check_book(root, shots, ["results/*.html"])


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    root = _broken_book(tmp_path_factory.mktemp("broken") / "html")
    return root, check_book.check_book(root, root.parent / "shots", ["results/*.html"])


@needs_browser
def test_healthy_book_passes(healthy: tuple[Path, Path, list]) -> None:
    _, _, failures = healthy
    assert failures == [], "\n".join(map(str, failures))


@needs_browser
def test_healthy_book_screenshots_every_checked_page(healthy: tuple[Path, Path, list]) -> None:
    _, shots, _ = healthy
    written = sorted(p.relative_to(shots).as_posix() for p in shots.rglob("*.png"))
    assert written == ["index.png", "results/table1.png"]
    for png in shots.rglob("*.png"):
        assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 1000


@needs_browser
@pytest.mark.parametrize("page", sorted(BROKEN_PAGES))
def test_broken_book_reports_each_failure_on_its_page(broken: tuple[Path, list], page: str) -> None:
    _, failures = broken
    check, needle = BROKEN_PAGES[page]
    on_page = [f for f in failures if f.page == page]
    assert any(f.check == check and needle in f.message for f in on_page), (
        f"expected a [{check}] failure mentioning {needle!r} on {page}; got:\n" + "\n".join(map(str, failures)))


@needs_browser
def test_broken_book_reports_nothing_else(broken: tuple[Path, list]) -> None:
    _, failures = broken
    assert not [f for f in failures if f.page == "index.html"]
    # The missing image is both a failed request and an empty image; the result page lacks its CSV link too.
    assert {(f.page, f.check) for f in failures} == {(p, c) for p, (c, _) in BROKEN_PAGES.items()} | {
        ("image.html", "request")}
    assert any(f.page == "results/no_table.html" and "CSV" in f.message for f in failures)


@needs_browser
def test_cli_exit_status_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _write(tmp_path / "html", {
        "index.html": _page("<main><a href='results/t.html'>results</a><script>console.error('boom')</script></main>"),
        "results/t.html": _page(f"<main><table class='snnconv-table'><tr><td>1</td></tr></table>"
                                f"<a download href='{CSV_URI}'>CSV</a></main>"),
    })
    shots = tmp_path / "shots"
    status = check_book.main([str(root), "--screenshots", str(shots), "--result-pages", "results/*.html"])
    out = capsys.readouterr().out.splitlines()
    assert status == 1
    assert out[0] == "index.html: [console] console error: boom (index.html:3)"
    assert len(out) == 2 and out[1].startswith("check_book: 2 pages in ") and "1 failed check;" in out[1]
    assert (shots / "index.png").is_file() and (shots / "results" / "t.png").is_file()


@needs_browser
def test_mathjax_that_never_finishes_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check_book, "MATHJAX_TIMEOUT_MS", 300)
    stuck = "<script>window.MathJax = {startup: {promise: new Promise(() => {})}};</script>"
    root = _write(tmp_path / "html", {"index.html": _page("<main><p>Maths: \\(x\\)</p></main>", head=stuck)})
    failures = check_book.check_book(root, tmp_path / "shots", [])
    assert [(f.page, f.check) for f in failures] == [("index.html", "math"), ("index.html", "math")]
    assert "did not finish" in failures[0].message and "\\(x\\)" in failures[1].message


@needs_browser
def test_result_glob_matching_no_page_fails(tmp_path: Path) -> None:
    root = _write(tmp_path / "html", {"index.html": _page("<main><p>No results yet.</p></main>")})
    failures = check_book.check_book(root, tmp_path / "shots", ["results/*.html"])
    assert [(f.page, f.check) for f in failures] == [("", "result")]


@needs_browser
def test_missing_chromium_is_a_setup_error(tmp_path: Path) -> None:
    root = _write(tmp_path / "html", {"index.html": _page("<p>x</p>")})
    with pytest.raises(check_book.SetupError, match="apt-get install chromium"):
        check_book.check_book(root, chromium=tmp_path / "no-chromium")


def test_cli_usage_error_without_index_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "page.html").write_text(_page("<p>x</p>"), encoding="utf-8")
    assert check_book.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "has no index.html" in err and len(err.splitlines()) == 1
    assert check_book.main([str(tmp_path / "missing")]) == 2


def test_find_pages_excludes_generated_pages(tmp_path: Path) -> None:
    names = ["index.html", "book/intro.html", "book/results/t1.html", "genindex.html", "search.html",
             "_static/a.html", "_sources/b.html", "_images/c.html", "_downloads/x/d.html", "book/notes.txt"]
    _write(tmp_path, {name: "x" for name in names})
    assert check_book.find_pages(tmp_path) == ["book/intro.html", "book/results/t1.html", "index.html"]


def test_result_globs_match_from_the_right() -> None:
    assert check_book.is_result_page("book/results/table1_conversion.html", ["results/*.html"])
    assert check_book.is_result_page("results/t.html", ["results/*.html"])
    assert not check_book.is_result_page("book/method.html", ["results/*.html"])


@pytest.mark.parametrize(("text", "found"), [
    ("raw $x^2$ here", ["$x^2$"]),
    ("display $$\\sum_i x_i$$ maths", ["$$\\sum_i x_i$$"]),
    ("inline \\(a+b\\) maths", ["\\(a+b\\) maths"]),
    ("\\begin{align} a &= b", ["\\begin{align}"]),
    ("costs $5 and $10, or $5-$10; a $ sign", []),
    ("plain text with ¶ and € signs", []),
])
def test_find_raw_tex(text: str, found: list[str]) -> None:
    assert check_book.find_raw_tex(text) == found
