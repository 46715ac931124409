"""The promise of the README, measured as a new user meets it: clone, ``make setup``, ``make book``.

A fresh clone has an empty artifact store (``.snnconv-store/`` is not in git), so its ``make book`` first imports
the published store (``store/<profile>/``) and then renders every page; the book is meant to compute nothing.
This script clones the committed ``HEAD`` of ``--source`` into ``--work``, times ``make setup`` (a virtual
environment from the lock) and then ``make book`` on its own, and writes the clone's page-by-page log
(:mod:`benchmarks.book_run`) to ``--source``'s ``book/measurements/book_run.json`` with what the log cannot see
from the inside: ``setup_s``, ``make_book_s`` (the import of the published store included) and ``computed``, the
artifacts the book added to the store (0 when the published store covers it).

Run it on an otherwise idle machine: ``python -m benchmarks.fresh_clone_book --work /tmp/fresh-book``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

LOG = Path("book/measurements/book_run.json")


def _timed(command: list[str], cwd: Path, log: Path) -> float:
    """Run ``command`` in ``cwd`` with its output appended to ``log``; its wall seconds, or exit on failure."""
    start = time.monotonic()
    with log.open("a") as out:
        done = subprocess.run(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        sys.exit(f"fresh_clone_book: `{' '.join(command)}` failed (exit {done.returncode}); its output is in {log}.")
    return round(time.monotonic() - start, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=Path("."), help="the repository whose HEAD is cloned")
    parser.add_argument("--work", type=Path, required=True, help="an absent or empty folder for the clone")
    parser.add_argument("--profile", default="default")
    args = parser.parse_args(argv)
    source = args.source.resolve()
    if args.work.exists() and any(args.work.iterdir()):
        sys.exit(f"fresh_clone_book: {args.work} is not empty; name an absent or empty folder with --work.")
    args.work.mkdir(parents=True, exist_ok=True)
    output = args.work.parent / f"{args.work.name}.log"
    output.unlink(missing_ok=True)
    subprocess.run(["git", "clone", "--quiet", str(source), str(args.work)], check=True)
    setup_s = _timed(["make", "setup"], args.work, output)
    book_s = _timed(["make", "book", f"PROFILE={args.profile}"], args.work, output)
    run = json.loads((args.work / LOG).read_text())
    run.update(fresh_clone=True, setup_s=setup_s, make_book_s=book_s,
               computed=run["stored_at_end"] - run["stored_at_start"])
    (source / LOG).write_text(json.dumps(run, indent=1) + "\n")
    print(f"fresh_clone_book: make setup {setup_s:.0f} s, make book {book_s:.0f} s "
          f"({run['computed']} artifacts computed); {source / LOG}")
    shutil.rmtree(args.work / ".venv", ignore_errors=True)  # 5 GB; the rest stays for a look at the pages
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
