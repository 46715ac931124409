"""The published store's size and how fast its records load, in today's format and in the earlier one.

Issue 28's bars for the compact format: ``store/default/`` at most 12 MB on disk (and a fifth of the earlier
layout), and loading no slower. This script measures both on the published store as it is: it imports the store
into a scratch artifact store (today's format: packed vectors, compact JSON), writes the same records a second time
as the earlier format wrote them (plain lists, indented JSON), and loads every record from each through
:meth:`~snnconv.storage.store.ArtifactStore.load_json` (its SHA-256 check included), best of ``--repeats``.

    .venv/bin/python -m benchmarks.store_format [--published store/default] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from snnconv.storage import published_store
from snnconv.storage.store import ArtifactStore


def _disk_bytes(folder: Path) -> int:
    """Bytes on disk as ``du`` counts them (whole blocks), the measure of the bar."""
    return int(subprocess.run(["du", "-sk", str(folder)], capture_output=True, text=True, check=True)
               .stdout.split()[0]) * 1024


def _load_all(store: ArtifactStore) -> float:
    started = time.perf_counter()
    for kind, key in list(store.artifacts()):
        store.load_json(kind, key)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--published", type=Path, default=Path("store/default"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        today = ArtifactStore(Path(scratch) / "today")
        published_store.import_into(args.published, today)
        earlier = ArtifactStore(Path(scratch) / "earlier")
        for kind, key in today.artifacts():
            weights = today.root / kind / f"{key}.safetensors"
            if weights.exists():
                (earlier.root / kind).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(weights, earlier.root / kind / weights.name)
            (earlier.root / kind).mkdir(parents=True, exist_ok=True)
            (earlier.root / kind / f"{key}.json").write_text(json.dumps(today.record(kind, key), indent=1))
            earlier.verify(kind, key)  # lists it in a manifest entry, as the earlier store did
        report = {
            "artifacts": sum(1 for _ in today.artifacts()),
            "published_bytes_on_disk": _disk_bytes(args.published),
            "earlier_layout_bytes_on_disk": _disk_bytes(earlier.root),
            "load_s_today": min(_load_all(ArtifactStore(today.root)) for _ in range(args.repeats)),
            "load_s_earlier": min(_load_all(ArtifactStore(earlier.root)) for _ in range(args.repeats)),
        }
    mb = 1024 * 1024
    print(f"{report['artifacts']} artifacts: published store {report['published_bytes_on_disk'] / mb:.1f} MiB on disk "
          f"(the earlier layout of the same artifacts: {report['earlier_layout_bytes_on_disk'] / mb:.1f} MiB); "
          f"loading every record: {report['load_s_today']:.2f} s (earlier format {report['load_s_earlier']:.2f} s), "
          f"best of {args.repeats}")
    return report


if __name__ == "__main__":
    main()
