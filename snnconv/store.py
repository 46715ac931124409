"""The content-addressed artifact store: trained models and attack verdicts, keyed by what determines them.

Every heavy artifact (a trained ANN, a finetuned SNN, an attack verdict) is stored under a key that hashes
its config (:mod:`snnconv.config`) and the store format, so notebooks share models instead of retraining,
a changed parameter never reuses a stale result, and a cluster can pre-compute the store. Weights are
safetensors, records JSON, both written atomically (a killed run leaves no half-written artifact);
nothing is unpickled.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> store = ArtifactStore(Path(tempfile.mkdtemp()))
    >>> store.save_json("evaluation", "abc", {"correct": 3, "n": 4})
    >>> store.load_json("evaluation", "abc")
    {'correct': 3, 'n': 4}
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from snnconv import paths

#: Bumped when a change to the code invalidates stored artifacts.
STORE_FORMAT = 1

#: Bumped per attack when its implementation changes, so only that attack's stored verdicts go stale
#: (1: APGD and Square became snnconv's own, with per-sample starts and recorded queries).
ATTACK_REVISIONS = {"APGD-CE": 1, "APGD-DLR": 1, "APGD-T": 1, "Square": 1}

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


@dataclass(frozen=True)
class ArtifactStore:
    """Content-addressed artifacts: ``<root>/<kind>/<key>.{safetensors,json}``.

    ``ledger`` records every artifact this instance loaded or saved, with the seconds its record says it took
    to compute: summed, that is what the work behind a result page costs from an empty store (its *cold cost*),
    whether this run computed it or loaded it.
    """

    root: Path = field(default_factory=paths.store_root)
    ledger: dict[tuple[str, str], float] = field(default_factory=dict, compare=False, repr=False)

    def _note(self, kind: str, key: str, record: dict | None) -> None:
        if record is not None:
            self.ledger[(kind, key)] = float(record.get("seconds", 0.0))

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

    def load_json(self, kind: str, key: str) -> dict | None:
        path = self._path(kind, key, ".json")
        record = json.loads(path.read_text()) if path.exists() else None
        self._note(kind, key, record)
        return record

    def save_json(self, kind: str, key: str, record: dict) -> None:
        self._write(self._path(kind, key, ".json"), lambda p: p.write_text(json.dumps(record, indent=1)))
        self._note(kind, key, record)

    def load_weights(self, kind: str, key: str) -> dict[str, torch.Tensor] | None:
        path = self._path(kind, key, ".safetensors")
        if not path.exists() or self.load_json(kind, key) is None:
            return None
        return load_file(str(path))

    def save_weights(self, kind: str, key: str, state: dict[str, torch.Tensor], record: dict) -> None:
        tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
        self._write(self._path(kind, key, ".safetensors"), lambda p: save_file(tensors, str(p)))
        self.save_json(kind, key, record)  # written last: its presence marks a complete artifact
