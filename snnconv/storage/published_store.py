"""A profile's published store: the models and verdicts in git that ``make book`` imports, so that a fresh clone
renders the book instead of recomputing it.

Layout of ``store/<profile>/``::

    records.jsonl.gz           one line per artifact, sorted by kind and key (gzip; ``zcat`` reads it):
                               {"kind": …, "key": …, "sha256": {file name: SHA-256}, "record": {…}}
    <kind>/<key>.safetensors   a model's weights (the same path as in an artifact store)

Why one file of records and not one file per artifact as in :class:`~snnconv.storage.store.ArtifactStore`: about 1,700
records of 1–2 kB each (per-image vectors packed, :mod:`snnconv.storage.packing`) would each take a 4 kB disk block, and
their manifest entries as many again. Compressed, the records are a tenth of the weights beside them (much of a
record — its config, its inputs — repeats across records). The file is written without a time stamp, so the same
records give the same bytes and git sees no change.

A line's ``sha256`` is the artifact's manifest entry in an artifact store: the record's SHA-256 is that of its
text as :func:`~snnconv.storage.store.record_text` writes it (compact JSON, which re-serialises to the same bytes).
:func:`import_into` writes the files and then that entry, and the artifact store's own check decides, so a line
or a weights file that was changed or cut short in a commit is refused and recomputed, never used. A published
store in the earlier layout (one ``<key>.json`` and ``<key>.sha256`` per artifact) is still read: it is an
artifact store, and :func:`export` converts it.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> store, published = ArtifactStore(Path(tempfile.mkdtemp())), Path(tempfile.mkdtemp())
    >>> store.save_json("evaluation", "abc", {"correct": 3, "n": 4})
    >>> export(store, published, [("evaluation", "abc")])
    Counter({'exported': 1})
    >>> fresh = ArtifactStore(Path(tempfile.mkdtemp()))
    >>> import_into(published, fresh), fresh.record("evaluation", "abc")["correct"]
    (Counter({'imported': 1}), 3)
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snnconv.storage.store import ArtifactStore, file_sha256, record_text

#: The file of records in a published store; its presence marks the layout.
RECORDS = "records.jsonl.gz"


@dataclass(frozen=True)
class Entry:
    """One artifact of a published store: its record as stored (per-image vectors packed) and manifest entry."""

    kind: str
    key: str
    sha256: dict[str, str]
    record: dict[str, Any]

    @property
    def text(self) -> str:
        """The record's file as an artifact store holds it (what ``sha256[<key>.json]`` was computed from)."""
        return json.dumps(self.record, separators=(",", ":"))

    @property
    def weights(self) -> str | None:
        """The weights file's name, when the artifact has weights."""
        name = f"{self.key}.safetensors"
        return name if name in self.sha256 else None

    def line(self) -> str:
        return json.dumps({"kind": self.kind, "key": self.key, "sha256": self.sha256, "record": self.record},
                          separators=(",", ":"))


def is_published_store(folder: Path) -> bool:
    """Whether ``folder`` holds a published store in this layout (else it may be an artifact store)."""
    return (Path(folder) / RECORDS).is_file()


def entries(folder: Path) -> Iterator[Entry]:
    """The artifacts of the published store at ``folder``, in file order."""
    with gzip.open(Path(folder) / RECORDS, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                item = json.loads(line)
                yield Entry(item["kind"], item["key"], item["sha256"], item["record"])
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"{Path(folder) / RECORDS}, line {number}, is not a published artifact ({error}): "
                                 "restore the file from git (git checkout -- store/) or re-export it.") from None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check(folder: Path, entry: Entry) -> str | None:
    """None when the entry's record and weights match its SHA-256s; otherwise the file that does not."""
    if _sha256(entry.text) != entry.sha256.get(f"{entry.key}.json"):
        return f"{entry.kind}/{entry.key}.json"
    weights = entry.weights
    if weights is not None:
        path = Path(folder) / entry.kind / weights
        if not path.is_file() or file_sha256(path) != entry.sha256[weights]:
            return f"{entry.kind}/{weights}"
    return None


def verify(folder: Path) -> Counter[str]:
    """``{"ok": n, "corrupt": m}`` over the published store at ``folder`` (reads only)."""
    return Counter("ok" if check(folder, entry) is None else "corrupt" for entry in entries(folder))


def _entry_of(store: ArtifactStore, kind: str, key: str) -> Entry:
    text = record_text(store.record(kind, key))  # an earlier, unpacked record is written in today's format
    sha256 = {f"{key}.json": _sha256(text)}
    weights = store.weights_digest(kind, key)
    if weights is not None:
        sha256 = {f"{key}.safetensors": weights, **sha256}
    return Entry(kind, key, sha256, json.loads(text))


def export(store: ArtifactStore, folder: Path, artifacts: Iterable[tuple[str, str]], prune: bool = False
           ) -> Counter[str]:
    """Write the verified ``artifacts`` of ``store`` into the published store at ``folder`` (kept: what it holds
    already, unless ``prune``, which removes every artifact not in ``artifacts``). A folder in the earlier layout
    is converted. The record file is replaced in one rename, after the weights are in place."""
    folder = Path(folder)
    wanted = list(dict.fromkeys(artifacts))
    held: dict[tuple[str, str], Entry] = {}
    earlier = ArtifactStore(folder)
    if is_published_store(folder):
        held = {(e.kind, e.key): e for e in entries(folder)}
    outcomes: Counter[str] = Counter()
    for kind, key in list(earlier.artifacts()):  # the earlier layout: one record file per artifact
        if earlier.verify(kind, key) == "ok":
            held[(kind, key)] = _entry_of(earlier, kind, key)
            outcomes["converted from the earlier layout"] += 1
    for kind, key in wanted:
        if not store.has(kind, key):
            outcomes["not stored here"] += 1
            continue
        entry = _entry_of(store, kind, key)
        if held.get((kind, key)) == entry:
            outcomes["already here"] += 1
            continue
        if entry.weights is not None:
            target = folder / kind / entry.weights
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + f".{os.getpid()}.partial")
            shutil.copyfile(store.root / kind / entry.weights, partial)
            partial.replace(target)
        held[(kind, key)] = entry
        outcomes["exported"] += 1
    if prune:
        used = set(wanted)
        for artifact in [a for a in held if a not in used]:
            del held[artifact]
            outcomes["pruned (no page uses it)"] += 1
    folder.mkdir(parents=True, exist_ok=True)
    records = folder / RECORDS
    partial = records.with_name(records.name + f".{os.getpid()}.partial")
    text = "".join(held[a].line() + "\n" for a in sorted(held)).encode("utf-8")
    with partial.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as compressed:
        compressed.write(text)
    partial.replace(records)
    keep = {folder / e.kind / e.weights for e in held.values() if e.weights is not None}
    for path in folder.glob("*/*"):  # the earlier layout's files, and weights no record lists any more
        if path.is_file() and path not in keep:
            path.unlink()
    return outcomes


def import_into(folder: Path, store: ArtifactStore) -> Counter[str]:
    """Install every artifact of the published store at ``folder`` that ``store`` lacks: ``"imported"``,
    ``"already here"`` or ``"failed its check"`` (refused: the store checks each against its line's SHA-256s)."""
    folder = Path(folder)
    outcomes: Counter[str] = Counter()
    for entry in entries(folder):
        if store.has(entry.kind, entry.key):
            outcomes["already here"] += 1
            continue
        files = {f"{entry.key}.json": lambda path, text=entry.text: path.write_text(text, encoding="utf-8")}
        if entry.weights is not None:
            source = folder / entry.kind / entry.weights
            if not source.is_file():
                outcomes["failed its check"] += 1
                continue
            files[entry.weights] = lambda path, source=source: shutil.copyfile(source, path)
        copied = store.install(entry.kind, entry.key, files, entry.sha256)
        outcomes["imported" if copied == "copied" else "failed its check"] += 1
    return outcomes
