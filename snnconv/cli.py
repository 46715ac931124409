"""The command line: ``python -m snnconv`` (or ``snnconv``) — what a page needs, computing it without rendering,
and the store's state.

Commands::

    snnconv pages                                  the result pages
    snnconv needs PAGE [PAGE ...] [-p NAME VALUE ...] [--json] [--estimate]
                                                   every artifact the pages need for these parameters (each once):
                                                   stored or missing, stale or not, what it is computed from, and
                                                   with --estimate how long the missing ones will take, estimated
                                                   from the stored artifacts that did the same work
                                                   (snnconv.storage.cost)
    snnconv compute PAGE [-p NAME VALUE ...] [--only KIND/KEY]
                                                   compute everything the page needs (or one artifact of it) into
                                                   the store, with progress bars, without rendering the page
    snnconv store [--stale] [--manifest]           what the store holds by kind; stale artifacts; the manifest
    snnconv verify [FOLDER] [--book PROFILE]      check every artifact against its SHA-256 (of this store, or of
                                                   the store or published store at FOLDER); with --book, also fail
                                                   naming each artifact that the book at PROFILE needs and the
                                                   published store at FOLDER lacks (make test's guard)
    snnconv import OTHER                           copy the verified artifacts that this store lacks from a
                                                   published store (store/<profile>/) or another artifact store
    snnconv export FOLDER PAGE [PAGE ...] [-p NAME VALUE ...] [--prune]
                                                   write the stored artifacts that the pages use at these parameters
                                                   into the published store at FOLDER (store/<profile>/, which
                                                   make book imports; snnconv.storage.published_store); --prune also
                                                   removes from it what the pages do not use

``-p NAME VALUE`` is papermill's: the value is read as a number when it looks like one, else as text, and a
name that the page's notebook does not declare is an error. ``SNNCONV_STORE`` picks the store.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

from snnconv.book import pages
from snnconv.experiment.parameters import ParameterError
from snnconv.storage import published_store
from snnconv.storage.cost import CostModel
from snnconv.storage.plan import Need, planning
from snnconv.storage.revision import is_stale
from snnconv.storage.store import ArtifactStore


def parameter_value(text: str) -> Any:
    """A ``-p`` value as papermill reads it: an int or float when it looks like one, None/True/False, else text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"None": None, "True": True, "False": False}.get(text, text)


def _given(pairs: list[list[str]] | None) -> dict[str, Any]:
    return {name: parameter_value(value) for name, value in pairs or []}


def plan_page(page: str, given: dict[str, Any], store: ArtifactStore, progress: bool = False) -> ArtifactStore:
    """A planning copy of ``store`` after planning ``page``: its ``plan.needs`` are the page's artifacts, each
    computed with progress bars when ``progress``."""
    planned = planning(store)
    pages.work(page, given, planned, progress=progress)
    return planned


def _staleness(store: ArtifactStore, kind: str, key: str) -> tuple[str, str] | None:
    """None for a stored artifact that the running code computed from the models now stored; otherwise
    ("stale" or "code unknown", why)."""
    record = store.record(kind, key)
    why = store.why_stale(record)
    if why is None:
        return None
    return ("code unknown" if is_stale(record) is None else "stale"), why


def _status(store: ArtifactStore, kind: str, key: str, stored: bool) -> str:
    if not stored:
        return "missing"
    staleness = _staleness(store, kind, key)
    return "stored" if staleness is None else "stored (code unknown)" if staleness[0] == "code unknown" else "stale"


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def book_needs(page_names: list[str], given: dict[str, Any], store: ArtifactStore) -> dict[str, Need]:
    """What the pages need together, each artifact once, in the order the pages first ask for it."""
    planned: dict[str, Need] = {}
    for page in page_names:
        planned.update(plan_page(page, given, store).plan.needs)
    return planned


def needs(args: argparse.Namespace, store: ArtifactStore) -> int:
    planned = book_needs(args.page, _given(args.p), store)
    rows = [{"id": n.id, "kind": n.kind, "label": n.label, "status": _status(store, n.kind, n.key, n.stored),
             "after": list(n.after)} for n in planned.values()]
    if args.estimate:
        costs = CostModel.from_store(store)
        for row, need in zip(rows, planned.values(), strict=True):
            if row["status"] != "stored":
                estimate = costs.estimate_need(need)
                row["estimate_s"], row["basis"] = estimate.seconds, estimate.basis
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for row in rows:
        cost = "" if "estimate_s" not in row else \
            f"  ~{row['estimate_s']:.0f} s ({row['basis']})" if row["estimate_s"] is not None else f"  ({row['basis']})"
        print(f"{row['status']:<22} {row['id']:<32} {row['label']}{cost}")
    counts = Counter(row["status"] for row in rows)
    print(f"{' + '.join(args.page)}: {len(rows)} artifacts — " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    if args.estimate:
        known = [row["estimate_s"] for row in rows if row.get("estimate_s") is not None]
        unknown = sum(1 for row in rows if "estimate_s" in row and row["estimate_s"] is None)
        by_basis = Counter(row["basis"] for row in rows if "basis" in row)
        print(f"to compute: about {_hours(sum(known))} on the machine(s) that computed the stored artifacts, for "
              f"{len(known)} of {len(known) + unknown} artifacts (" + ", ".join(f"{n} {b}" for b, n in by_basis.items())
              + "); an estimate from similar artifacts, not a measurement")
    return 0


def compute(args: argparse.Namespace, store: ArtifactStore) -> int:
    given = _given(args.p)
    if args.only:
        planned = plan_page(args.page, given, store, progress=True)
        planned.plan.run(args.only)
    else:
        pages.work(args.page, given, store, progress=True)
    return 0


def show_store(args: argparse.Namespace, store: ArtifactStore) -> int:
    artifacts = list(store.artifacts())
    print(f"store {store.root}: {len(artifacts)} artifacts")
    for kind, count in Counter(kind for kind, _ in artifacts).items():
        print(f"  {kind:<12} {count}")
    if args.stale:
        for kind, key in artifacts:
            staleness = _staleness(store, kind, key)
            if staleness is not None:
                print(f"{staleness[0]:<13} {kind}/{key} ({staleness[1]})")
    if args.manifest:
        for kind, key in artifacts:
            for name, digest in (store.manifest_entry(kind, key) or {}).items():
                print(f"{digest}  {kind}/{name}")
    return 0


class Coverage(NamedTuple):
    """How a published store covers a book: every artifact the book needs, those it lacks, and which of those it
    holds were computed by other code (stale or code unknown: the pages list them)."""

    needed: list[Need]
    missing: list[Need]
    other_code: list[str]


def book_coverage(published: Path, given: dict[str, Any]) -> Coverage:
    """How the published store at ``published`` covers the whole book at ``given``. Plans against a temporary
    import, so it computes nothing and reads only the published store."""
    with tempfile.TemporaryDirectory() as scratch:
        store = ArtifactStore(Path(scratch))
        published_store.import_into(published, store)
        needed = list(book_needs(list(pages.PAGES), given, store).values())
        other_code = [need.id for need in needed if need.stored and _staleness(store, need.kind, need.key) is not None]
    return Coverage(needed, [need for need in needed if not need.stored], other_code)


def verify(args: argparse.Namespace, store: ArtifactStore) -> int:
    if args.folder is not None and not Path(args.folder).is_dir():
        raise ParameterError(f"{args.folder!r} is not a folder: give an artifact store or a published store "
                             "(store/<profile>/).")
    if args.folder is not None and published_store.is_published_store(Path(args.folder)):
        verdicts = published_store.verify(Path(args.folder))
    else:  # this store, another artifact store, or a published store in the earlier layout
        target = store if args.folder is None else ArtifactStore(Path(args.folder))
        verdicts = Counter(target.verify(kind, key) for kind, key in list(target.artifacts()))
    print(", ".join(f"{n} {v}" for v, n in verdicts.items()) or "empty store")
    if verdicts.get("corrupt"):
        return 1
    if args.book is None:
        return 0
    if args.folder is None or not published_store.is_published_store(Path(args.folder)):
        raise ParameterError("--book checks a published store: give its folder, e.g. "
                             "`snnconv verify store/default --book default`.")
    _, missing, other_code = book_coverage(Path(args.folder), {"profile": args.book})
    print(f"the {args.book} book: {len(missing)} artifacts missing from {args.folder}; {len(other_code)} of those it "
          "holds were computed by other code (the pages list them)")
    for need in missing:
        print(f"missing {need.id:<32} {need.label}")
    if missing:
        print(f"snnconv: {args.folder} does not cover the {args.book} book: compute what is missing (make book "
              f"PROFILE={args.book}) and publish it (make store-publish PROFILE={args.book}).", file=sys.stderr)
    return 1 if missing else 0


def copy_artifact(source: ArtifactStore, target: ArtifactStore, kind: str, key: str) -> str:
    """Copy one artifact from ``source`` to ``target`` if ``target`` lacks it: ``"already here"``, ``"refused (no
    manifest entry or failed its check)"``, ``"copied"`` or ``"failed after copying"``
    (:meth:`~snnconv.storage.store.ArtifactStore.install`: an interrupted copy leaves nothing that looks complete)."""
    if target.has(kind, key):
        return "already here"
    entry = source.manifest_entry(kind, key)
    if entry is None or source.verify(kind, key) != "ok":
        return "refused (no manifest entry or failed its check)"
    files = {name: lambda path, name=name: shutil.copyfile(source.root / kind / name, path) for name in entry}
    return target.install(kind, key, files, entry)


def _report(outcome: Counter[str], verb: str) -> int:
    """Print what :func:`copy_artifact` did, with ``verb`` (import, export) for "copied"; 1 if a copy failed."""
    print(", ".join(f"{n} {f'{verb}ed' if what == 'copied' else what}" for what, n in outcome.items())
          or f"nothing to {verb}")
    return 1 if outcome.get("failed after copying") else 0


def import_store(args: argparse.Namespace, store: ArtifactStore) -> int:
    folder = Path(args.other)
    if not folder.is_dir():
        raise ParameterError(f"Store {args.other!r} is not a folder: give a published store (store/<profile>/) or "
                             "the root of another artifact store.")
    if published_store.is_published_store(folder):
        outcomes = published_store.import_into(folder, store)
        print(", ".join(f"{n} {what}" for what, n in outcomes.items()) or "nothing to import")
        return 1 if outcomes.get("failed its check") else 0
    other = ArtifactStore(folder)
    return _report(Counter(copy_artifact(other, store, kind, key) for kind, key in list(other.artifacts())), "import")


def export_store(args: argparse.Namespace, store: ArtifactStore) -> int:
    folder = Path(args.folder)
    if folder.resolve() == store.root.resolve():
        raise ParameterError(f"{args.folder!r} is the artifact store itself: export into a published store's "
                             "folder (store/<profile>/).")
    planned = book_needs(args.page, _given(args.p), store)  # every parameter is checked before anything is written
    # --prune removes e.g. verdicts superseded by a new key revision of their attack
    outcomes = published_store.export(store, folder, [(n.kind, n.key) for n in planned.values()], prune=args.prune)
    print(", ".join(f"{n} {what}" for what, n in outcomes.items()) or "nothing to export")
    return 0


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="snnconv", description=__doc__.split("\n\n")[0],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = main.add_subparsers(dest="command", required=True)
    commands.add_parser("pages", help="the result pages")
    for name, function, text in (("needs", needs, "what a page needs"), ("compute", compute, "compute a page's work")):
        command = commands.add_parser(name, help=text)
        command.add_argument("page", choices=list(pages.PAGES), nargs="+" if name == "needs" else None)
        command.add_argument("-p", nargs=2, action="append", metavar=("NAME", "VALUE"), help="a notebook parameter")
        command.set_defaults(run=function)
        if name == "needs":
            command.add_argument("--json", action="store_true", help="as JSON (the workflow reads this)")
            command.add_argument("--estimate", action="store_true",
                                 help="estimate the missing artifacts' seconds from the stored ones alike")
        else:
            command.add_argument("--only", metavar="KIND/KEY", help="compute one artifact of the page's plan")
    command = commands.add_parser("store", help="what the store holds")
    command.add_argument("--stale", action="store_true", help="list artifacts computed by other code")
    command.add_argument("--manifest", action="store_true", help="print the manifest (sha256sum format)")
    command.set_defaults(run=show_store)
    command = commands.add_parser("verify", help="check every artifact's SHA-256")
    command.add_argument("folder", nargs="?", help="a published store or another artifact store (default: this one)")
    command.add_argument("--book", metavar="PROFILE",
                         help="also fail naming every artifact that the book at PROFILE needs and FOLDER lacks")
    command.set_defaults(run=verify)
    command = commands.add_parser("import", help="copy verified artifacts from another store")
    command.add_argument("other")
    command.set_defaults(run=import_store)
    command = commands.add_parser("export", help="copy the stored artifacts that pages use into another store")
    command.add_argument("folder")
    command.add_argument("page", choices=list(pages.PAGES), nargs="+")
    command.add_argument("-p", nargs=2, action="append", metavar=("NAME", "VALUE"), help="a notebook parameter")
    command.add_argument("--prune", action="store_true",
                         help="also remove from the folder every artifact that these pages do not use")
    command.set_defaults(run=export_store)
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "pages":
        print("\n".join(pages.PAGES))
        return 0
    try:
        return args.run(args, ArtifactStore())
    except ParameterError as error:
        print(f"snnconv: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
