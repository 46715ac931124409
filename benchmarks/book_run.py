"""The log that ``make book`` writes: what one run of the whole book took, page by page.

``make book`` calls ``start`` before the first notebook, ``page`` after each one and ``finish`` after the book is
built. The log grows in ``_build/book_run.json`` and is moved to ``book/measurements/book_run.json`` (which the
Performance page reads) only when the run finishes, so a failed or interrupted run never stands as a measurement.
A run is *cold* when the artifact store held nothing at its start: only then is its wall time the book's cost from
scratch.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> log, out = folder / "log.json", folder / "book_run.json"
    >>> _ = main(["start", "--log", str(log), "--profile", "smoke"])
    >>> _ = main(["page", "--log", str(log), "--name", "table1_conversion", "--seconds", "12"])
    >>> _ = main(["finish", "--log", str(log), "--seconds", "20", "--out", str(out)])
    >>> report = json.loads(out.read_text())
    >>> report["pages"], report["wall_s"], log.exists()
    ({'table1_conversion': 12.0}, 20.0, False)
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from snnconv.foundations.provenance import source_commit
from snnconv.storage.revision import code_revision
from snnconv.storage.store import ArtifactStore


def _stored() -> int:
    return sum(1 for _ in ArtifactStore().artifacts())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=("start", "page", "finish"))
    parser.add_argument("--log", type=Path, required=True, help="the log of the run in progress")
    parser.add_argument("--profile")
    parser.add_argument("--name", help="the notebook that finished (page)")
    parser.add_argument("--seconds", type=float, help="its wall time (page) or the whole run's (finish)")
    parser.add_argument("--out", type=Path, help="where the finished log goes (finish)")
    args = parser.parse_args(argv)
    if args.step == "start":
        at_start = _stored()
        log = {"profile": args.profile, "started": time.strftime("%Y-%m-%d %H:%M:%S"), "commit": source_commit(),
               "code": code_revision(), "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
               "stored_at_start": at_start, "cold": at_start == 0, "pages": {}}
    else:
        log = json.loads(args.log.read_text())
    if args.step == "page":
        log["pages"][args.name] = args.seconds
    args.log.parent.mkdir(parents=True, exist_ok=True)
    args.log.write_text(json.dumps(log, indent=1))
    if args.step == "finish":
        log.update(wall_s=args.seconds, stored_at_end=_stored())
        args.out.write_text(json.dumps(log, indent=1))
        args.log.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
