"""The content-addressed artifact store: trained models and attack verdicts, keyed by what determines them.

Every heavy artifact (a trained ANN, a finetuned SNN, an attack verdict) is stored under a key that hashes
its config (:mod:`snnconv.experiment.config`) and the store format, so notebooks share models instead of retraining,
a changed parameter never reuses a stale result, and a cluster can pre-compute the store. Weights are
safetensors, records JSON; nothing is unpickled.

Guarantees, for many processes on one store (a cluster's jobs, two notebooks):

* **Atomic.** Every file is written under a temporary name and renamed; an artifact's *manifest entry*
  ``<kind>/<key>.sha256`` (``sha256sum`` format: one line per file) is written last and marks it complete.
  A run killed at any point leaves no file that a later run loads.
* **Checked.** Loading verifies the manifest entry's SHA-256 sums; an artifact that fails is reported, moved
  to ``<root>/corrupt/`` and treated as missing, so it is recomputed and never used. Artifacts stored before
  manifests existed are checked for completeness and then listed (the ``adopted`` count).
* **Computed once.** A miss *claims* the artifact for this process (an exclusive ``flock`` on
  ``<root>/locks/<kind>/<key>.lock``) until the process saves it: another process asking for the same
  artifact waits, then loads what the first one stored. The kernel drops the claim of a killed process.
* **Stale results are named.** Each load checks the record's code revision (:mod:`snnconv.storage.revision`) and the
  artifacts it was computed from (its ``inputs``: an SNN's baseline ANN, an evaluation's model, by the SHA-256
  of their weights); the artifacts computed by other code, or from another version of an input, are listed in
  :attr:`ArtifactStore.stale`, and the result pages say so.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> store = ArtifactStore(Path(tempfile.mkdtemp()))
    >>> store.save_json("evaluation", "abc", {"correct": 3, "n": 4})
    >>> record = store.load_json("evaluation", "abc")
    >>> record["correct"], record["n"], store.verify("evaluation", "abc")
    (3, 4, 'ok')
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from snnconv.foundations import paths
from snnconv.storage import revision
from snnconv.storage.packing import pack, unpack

#: Bumped when a change to the code invalidates stored artifacts.
STORE_FORMAT = 1

#: Bumped per attack when its implementation changes, so only that attack's stored verdicts go stale
#: (1: APGD and Square became snnconv's own, with per-sample starts and recorded queries; 2: APGD's step-halving
#: checkpoints follow the reference implementation — condition 1 with ≤, condition 2 disarmed at the first
#: checkpoint, the first iterate's loss compared with 0 — which changes some APGD verdicts).
ATTACK_REVISIONS = {"APGD-CE": 2, "APGD-DLR": 2, "APGD-T": 2, "Square": 1}

#: Bumped when per-member verdicts gain a field (1: each member's per-image verdicts, for paired comparisons).
MEMBER_REVISION = 1

#: Bumped when the transfer protocol changes (1: every image attacked on the source; a resisted image transfers
#: its highest-loss attempt).
TRANSFER_REVISION = 1


def plain(value: Any) -> Any:
    """A config as JSON-ready dicts and lists (dataclasses are expanded field by field)."""
    if hasattr(value, "__dataclass_fields__"):
        # A field added after artifacts were stored is left out while it has its default, so the
        # keys of those artifacts stay valid (mark it with metadata={"added_later": True}).
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)
                if not (f.metadata.get("added_later") and getattr(value, f.name) == f.default)}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def artifact_key(kind: str, config: Any) -> str:
    """Content hash of everything that determines an artifact (and the store format)."""
    content = {"kind": kind, "format": STORE_FORMAT, "config": plain(config)}
    revision = ATTACK_REVISIONS.get(getattr(config, "attack", ""), 0)
    if revision:
        content["revision"] = revision
    if getattr(config, "per_member", False):
        content["member_revision"] = MEMBER_REVISION
    if getattr(config, "source_key", ""):
        content["transfer_revision"] = TRANSFER_REVISION
    payload = json.dumps(content, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def record_text(record: dict) -> str:
    """A record as it is written to the store: per-image vectors packed (:mod:`snnconv.storage.packing`), compact JSON.
    The same record always gives the same text, so its SHA-256 can be re-checked after a copy re-writes it."""
    return json.dumps(pack(record), separators=(",", ":"))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: The kinds of artifact that hold a model's weights (the inputs of the records computed from them).
MODEL_KINDS = ("ann", "snn", "end_to_end")

#: The files an artifact consists of, by suffix; the manifest entry lists those present.
ARTIFACT_SUFFIXES = (".safetensors", ".json")


@dataclass(frozen=True)
class ArtifactStore:
    """Content-addressed artifacts: ``<root>/<kind>/<key>.{safetensors,json,sha256}``.

    ``ledger`` records every artifact this instance loaded or saved, and the inputs it was computed from, with
    the seconds its record says it took to compute: summed, that is what the work behind a result page costs
    from an empty store (its *cold cost*), whether this run computed it or loaded it. ``stale`` maps each of
    them that the running code would not compute as stored to the reason (:meth:`why_stale`).

    With a :class:`~snnconv.storage.plan.Plan` attached (``plan``), the store only plans: a miss claims nothing.
    """

    root: Path = field(default_factory=paths.store_root)
    ledger: dict[tuple[str, str], float] = field(default_factory=dict, compare=False, repr=False)
    stale: dict[tuple[str, str], str] = field(default_factory=dict, compare=False, repr=False)
    plan: Any = field(default=None, compare=False, repr=False)
    _claims: dict[tuple[str, str], Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def planning(self) -> bool:
        """True while a plan is attached and active: nothing is computed, misses are recorded as needs."""
        return self.plan is not None and self.plan.active

    def _note(self, kind: str, key: str, record: dict | None) -> None:
        if record is None or (kind, key) in self.ledger:
            return
        self.ledger[(kind, key)] = float(record.get("seconds", 0.0))
        why = self.why_stale(record)
        if why is not None:
            self.stale[(kind, key)] = why
        for name in record.get("inputs", {}):  # what it was computed from is part of what it cost
            input_kind, input_key = name.split("/")
            if self.has(input_kind, input_key):
                self._note(input_kind, input_key, self.record(input_kind, input_key))

    def weights_digest(self, kind: str, key: str) -> str | None:
        """The SHA-256 of a stored artifact's weights (from its manifest entry); None when it has none."""
        return (self.manifest_entry(kind, key) or {}).get(f"{key}.safetensors")

    def inputs(self, *keys: str) -> dict[str, str]:
        """``{"kind/key": SHA-256 of its weights}`` of the stored models among ``keys`` (looked up in every kind of
        :data:`MODEL_KINDS`): the ``inputs`` of a record computed from them, so that a later version of one makes
        the record stale. A key that no kind stores is left out."""
        return {f"{kind}/{key}": digest for key in keys for kind in MODEL_KINDS
                if (digest := self.weights_digest(kind, key)) is not None}

    def why_stale(self, record: dict) -> str | None:
        """None when the running code computed ``record`` from the inputs that the store holds now; otherwise
        why not: other code computed it (:func:`snnconv.storage.revision.is_stale`), the code is unknown, or an input
        named in its ``inputs`` is stored in another version (an input that is not stored is not checked)."""
        stale, commit = revision.is_stale(record), str(record.get("commit", "not recorded"))[:12]
        if stale is not False:
            return f"computed by {'other' if stale else 'unknown'} code (commit {commit})"
        changed = []
        for name, digest in record.get("inputs", {}).items():
            stored = self.weights_digest(*name.split("/"))
            if stored is not None and stored != digest:
                changed.append(name)
        return f"computed from another version of {', '.join(changed)}" if changed else None

    def cold_seconds(self, kind: str | None = None) -> float:
        """Seconds that the artifacts in the ledger (of ``kind``, or all) took to compute."""
        return sum(seconds for (k, _), seconds in self.ledger.items() if kind is None or k == kind)

    def _path(self, kind: str, key: str, suffix: str) -> Path:
        return self.root / kind / f"{key}{suffix}"

    def checkpoint(self, kind: str, key: str) -> Path:
        """Where an interrupted training run of this artifact keeps its resumable checkpoint."""
        return self.root / "checkpoints" / kind / key

    def _write(self, path: Path, write: Callable[[Path], None]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + f".{os.getpid()}.partial")
        write(partial)
        partial.replace(path)

    # ---------------------------------------------------------------------------------- the manifest

    def manifest_entry(self, kind: str, key: str) -> dict[str, str] | None:
        """``{file name: SHA-256}`` of a complete artifact, or None when it has no manifest entry."""
        path = self._path(kind, key, ".sha256")
        if not path.exists():
            return None
        return {name: digest for digest, name in (line.split("  ", 1) for line in path.read_text().splitlines())}

    def _list(self, kind: str, key: str) -> None:
        files = [self._path(kind, key, suffix) for suffix in ARTIFACT_SUFFIXES]
        lines = "".join(f"{file_sha256(f)}  {f.name}\n" for f in files if f.exists())
        self._write(self._path(kind, key, ".sha256"), lambda p: p.write_text(lines))

    def verify(self, kind: str, key: str) -> str:
        """``"ok"``, ``"missing"``, ``"adopted"`` (complete, stored before manifests: now listed) or ``"corrupt"``
        (moved to ``<root>/corrupt/``, so that it is recomputed)."""
        record = self._path(kind, key, ".json")
        entry = self.manifest_entry(kind, key)
        if entry is None:
            if not record.exists():
                return "missing"
            try:  # written last before manifests existed: its presence marked a complete artifact
                json.loads(record.read_text())
            except ValueError:
                return self._quarantine(kind, key, "its record is not valid JSON")
            self._list(kind, key)
            return "adopted"
        mismatch = self.mismatch(kind, key)
        return "ok" if mismatch is None else self._quarantine(kind, key, f"{mismatch} does not match its SHA-256 in "
                                                                        "the manifest")

    def mismatch(self, kind: str, key: str) -> str | None:
        """The first file of an artifact with a manifest entry that is missing or does not match its SHA-256 there,
        or None when all match. Only reads: :meth:`verify` is the check that also quarantines."""
        for name, digest in (self.manifest_entry(kind, key) or {}).items():
            path = self.root / kind / name
            if not path.exists() or file_sha256(path) != digest:
                return name
        return None

    def _quarantine(self, kind: str, key: str, why: str) -> str:
        print(f"snnconv store: artifact {kind}/{key} failed its check ({why}); moved to "
              f"{self.root / 'corrupt' / kind}, it will be recomputed.", file=sys.stderr)
        target = self.root / "corrupt" / kind
        target.mkdir(parents=True, exist_ok=True)
        for suffix in (*ARTIFACT_SUFFIXES, ".sha256"):
            path = self._path(kind, key, suffix)
            if path.exists():
                path.replace(target / path.name)
        return "corrupt"

    def install(self, kind: str, key: str, files: dict[str, Callable[[Path], None]], entry: dict[str, str]) -> str:
        """Install an artifact that was computed elsewhere (another store, a published store): ``files`` maps each
        file name to a function that writes it at a given path, ``entry`` is its manifest entry from there. Each
        file is written under a temporary name and renamed, the entry last, and then the store's own check decides:
        ``"copied"``, or ``"failed after copying"`` (the artifact is quarantined, so it is recomputed)."""
        for name, write in files.items():
            self._write(self.root / kind / name, write)
        lines = "".join(f"{digest}  {name}\n" for name, digest in entry.items())
        self._write(self._path(kind, key, ".sha256"), lambda p: p.write_text(lines))
        return "copied" if self.verify(kind, key) == "ok" else "failed after copying"

    def artifacts(self) -> Iterator[tuple[str, str]]:
        """``(kind, key)`` of every artifact with a record, kind by kind."""
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()) if self.root.exists() else ():
            if folder.name in ("checkpoints", "locks", "corrupt"):
                continue
            for record in sorted(folder.glob("*.json")):
                yield folder.name, record.stem

    # ------------------------------------------------------------------------------------ claims

    def claim(self, kind: str, key: str) -> None:
        """Hold this artifact for this process until it is saved (waits while another process holds it)."""
        if (kind, key) in self._claims:
            return
        path = self.root / "locks" / kind / f"{key}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"snnconv store: another process is computing {kind}/{key}; waiting for it.", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        self._claims[(kind, key)] = handle

    def release(self, kind: str, key: str) -> None:
        handle = self._claims.pop((kind, key), None)
        if handle is not None:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def has(self, kind: str, key: str) -> bool:
        """Whether a complete, verified artifact is stored (claims nothing, notes nothing)."""
        return self.verify(kind, key) in ("ok", "adopted")

    def _lookup(self, kind: str, key: str) -> bool:
        """Whether the artifact is stored; on a miss, claim it (unless planning) and look again, because the
        process that held the claim may just have stored it."""
        if self.has(kind, key):
            return True
        if self.planning:
            return False
        self.claim(kind, key)
        return self.has(kind, key)

    # ------------------------------------------------------------------------------ load and save

    def record(self, kind: str, key: str) -> dict:
        """A stored artifact's record as it is on disk: nothing verified, claimed or noted in the ledger (for
        reading the store, not for using an artifact: that is :meth:`load_json`)."""
        return unpack(json.loads(self._path(kind, key, ".json").read_text()))

    def load_json(self, kind: str, key: str) -> dict | None:
        if not self._lookup(kind, key):
            return None
        record = self.record(kind, key)
        self.release(kind, key)
        self._note(kind, key, record)
        return record

    def save_json(self, kind: str, key: str, record: dict) -> None:
        record = {**record, "code": record.get("code", revision.code_revision())}
        self._write(self._path(kind, key, ".json"), lambda p: p.write_text(record_text(record)))
        self._list(kind, key)  # written last: its presence marks a complete artifact
        self.release(kind, key)
        self._note(kind, key, record)

    def load_weights(self, kind: str, key: str) -> dict[str, torch.Tensor] | None:
        if not self._lookup(kind, key) or not self._path(kind, key, ".safetensors").exists():
            return None
        record = self.record(kind, key)
        self.release(kind, key)
        self._note(kind, key, record)
        return load_file(str(self._path(kind, key, ".safetensors")))

    def save_weights(self, kind: str, key: str, state: dict[str, torch.Tensor], record: dict) -> None:
        tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
        self._write(self._path(kind, key, ".safetensors"), lambda p: save_file(tensors, str(p)))
        self.save_json(kind, key, record)
