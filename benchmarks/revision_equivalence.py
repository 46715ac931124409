"""Evidence that two code revisions compute the same artifacts: both compute them, and the results are compared.

An entry of :data:`snnconv.storage.revision.EQUIVALENCES` lets the published store, computed by an older revision, stand
for the running code. It rests on this recomputation, not on a reading of the diff: the code of ``--old`` (checked
out into a temporary git worktree) and the running code each compute the same small set of smoke-profile artifacts
into an empty store of their own, one torch thread each (the thread count changes the last bits of a sum). The
set touches every stage whose code a revision hashes: an adversarially trained ANN, its conversion into an SNN
with threshold calibration and adversarial finetuning, a clean evaluation and two attacks with the paper's
19-member ensemble (PGD, APGD-CE). The two stores must hold the same artifact keys, the same records apart from
provenance (seconds, commit, code revision, device, threads) and the same weights, bit for bit.

The run is recorded in ``book/measurements/revision_equivalence.json`` (a later run of the same two revisions
replaces it), and the script exits non-zero on any difference::

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.revision_equivalence --old COMMIT

On an identical run between two different revisions it prints the :class:`~snnconv.storage.revision.Equivalence` to add.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from snnconv.cli import plan_page
from snnconv.foundations import paths
from snnconv.foundations.provenance import source_commit
from snnconv.storage.revision import code_revision, revision_at
from snnconv.storage.store import ArtifactStore

#: The page whose smoke plan the artifacts are chosen from, and the model they are computed for.
PAGE, PROFILE, MODEL = "table1_conversion", "smoke", "AT-eps1"

#: Record fields that say how, where and by what an artifact was computed, not what it is.
PROVENANCE = frozenset({"seconds", "commit", "code", "device", "threads", "host", "hostname", "started", "finished"})

OUT = paths.project_root() / "book" / "measurements" / "revision_equivalence.json"


def _git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", "-C", str(cwd or paths.project_root()), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def chosen_artifacts() -> list[str]:
    """The artifact ids compared, in the order they are computed (each after what it is computed from): from the
    running code's plan of :data:`PAGE` at the smoke profile, the ANN and the SNN of :data:`MODEL`, and on that SNN
    the clean evaluation, ensemble PGD at the smallest budget and APGD-CE (the paper's ensemble: no members named)."""
    with tempfile.TemporaryDirectory() as empty:
        needs = list(plan_page(PAGE, {"profile": PROFILE}, ArtifactStore(Path(empty))).plan.needs.values())
    ann = next(n for n in needs if n.kind == "ann" and n.label == f"ann {MODEL}")
    snn = next(n for n in needs if n.kind == "snn" and n.label == f"snn {MODEL}")
    on_snn = [n for n in needs if n.kind == "evaluation" and n.after == (snn.id,) and not n.config.members
              and not n.config.source_key and not n.config.corruption]
    chosen = [ann.id, snn.id]
    for attack in ("clean", "PGD", "APGD-CE"):
        candidates = [n for n in on_snn if n.config.attack == attack]
        chosen.append(min(candidates, key=lambda n: n.config.epsilon).id)
    return chosen


def _environment(tree: Path, store: Path) -> dict[str, str]:
    environment = {**os.environ, "SNNCONV_STORE": str(store), "SNNCONV_DATA": str(paths.data_root()),
                   "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(tree)}
    # Run from ``tree``: the package it holds must be the one imported (the editable install points elsewhere).
    imported = subprocess.run([sys.executable, "-c", "import snnconv; print(snnconv.__file__)"], cwd=tree,
                              env=environment, capture_output=True, text=True, check=True).stdout.strip()
    if Path(imported).resolve().parent != (tree / "snnconv").resolve():
        raise RuntimeError(f"from {tree}, Python imports snnconv from {imported}, not from that tree.")
    return environment


def compute(tree: Path, store: Path, artifacts: list[str], log: Path) -> float:
    """Compute ``artifacts`` with the code of ``tree`` into ``store``, one process each; the seconds it took."""
    environment = _environment(tree, store)
    started = time.perf_counter()
    with log.open("w") as output:
        for artifact in artifacts:
            command = [sys.executable, "-m", "snnconv", "compute", PAGE, "-p", "profile", PROFILE, "--only", artifact]
            print(f"  {tree.name}: {artifact}", flush=True)
            if subprocess.run(command, cwd=tree, env=environment, stdout=output, stderr=subprocess.STDOUT).returncode:
                raise RuntimeError(f"computing {artifact} with the code of {tree} failed; see {log}:\n"
                                   + "\n".join(log.read_text().splitlines()[-20:]))
    return time.perf_counter() - started


def _numbers(record: dict) -> dict:
    return {name: value for name, value in record.items() if name not in PROVENANCE}


def _bits(tensor: torch.Tensor) -> bytes:
    return tensor.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def differences(old: ArtifactStore, new: ArtifactStore, artifacts: list[str]) -> dict[str, list[str]]:
    """What differs between the two stores, by artifact id (empty when they hold the same artifacts, bit for bit)."""
    held = {store.root: {f"{kind}/{key}" for kind, key in store.artifacts()} for store in (old, new)}
    found: dict[str, list[str]] = {}
    for artifact in sorted(set(artifacts) | held[old.root] | held[new.root]):
        kind, key = artifact.split("/")
        missing = [side for side, store in (("old", old), ("new", new)) if artifact not in held[store.root]
                   or store.verify(kind, key) != "ok"]
        if missing:
            found[artifact] = [f"not stored (or failed its check) by the {' and '.join(missing)} code"]
            continue
        what: list[str] = []
        old_record, new_record = _numbers(old.record(kind, key)), _numbers(new.record(kind, key))
        what += [f"record field {name!r}" for name in sorted(set(old_record) | set(new_record))
                 if old_record.get(name, ...) != new_record.get(name, ...)]
        weights = [store.root / kind / f"{key}.safetensors" for store in (old, new)]
        if weights[0].exists() != weights[1].exists():
            what.append("weights stored by one code only")
        elif weights[0].exists():
            old_tensors, new_tensors = (load_file(str(path)) for path in weights)
            what += [f"tensor {name!r}" for name in sorted(set(old_tensors) | set(new_tensors))
                     if name not in old_tensors or name not in new_tensors
                     or old_tensors[name].dtype != new_tensors[name].dtype
                     or old_tensors[name].shape != new_tensors[name].shape
                     or _bits(old_tensors[name]) != _bits(new_tensors[name])]
        if what:
            found[artifact] = what
    return found


def record_run(run: dict, out: Path = OUT) -> None:
    """Add ``run`` to the measurement file, replacing an earlier run of the same two revisions."""
    runs = json.loads(out.read_text())["runs"] if out.exists() else []
    pair = (run["old_revision"], run["new_revision"])
    runs = [r for r in runs if (r["old_revision"], r["new_revision"]) != pair] + [run]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"runs": runs}, indent=1, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", required=True, help="the commit whose code the running code is compared with")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    old_commit = _git("rev-parse", "--verify", f"{args.old}^{{commit}}")
    old_revision, new_revision = revision_at(old_commit), code_revision()
    if old_revision is None:
        raise SystemExit(f"revision_equivalence: cannot read the code of {old_commit} from git.")
    artifacts = chosen_artifacts()
    print(f"old {old_commit[:12]} ({old_revision}) vs running code {source_commit()} ({new_revision}): "
          f"{len(artifacts)} {PROFILE} artifacts of {PAGE}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="revision-equivalence-") as scratch:
        scratch_path = Path(scratch)
        worktree = scratch_path / "old"
        _git("worktree", "add", "--detach", str(worktree), old_commit)
        try:
            seconds = {"old": compute(worktree, scratch_path / "old-store", artifacts, scratch_path / "old.log"),
                       "new": compute(paths.project_root(), scratch_path / "new-store", artifacts,
                                      scratch_path / "new.log")}
            found = differences(ArtifactStore(scratch_path / "old-store"), ArtifactStore(scratch_path / "new-store"),
                                artifacts)
        finally:
            _git("worktree", "remove", "--force", str(worktree))
    run = {"old_commit": old_commit, "old_revision": old_revision, "new_commit": source_commit(),
           "new_revision": new_revision, "page": PAGE, "profile": PROFILE, "threads": 1, "artifacts": artifacts,
           "differences": found, "identical": not found, "compute_s": {k: round(v, 1) for k, v in seconds.items()},
           "wall_s": round(time.perf_counter() - started, 1), "date": time.strftime("%Y-%m-%d")}
    record_run(run, args.out)
    for artifact, what in found.items():
        print(f"differs: {artifact}: {', '.join(what)}")
    print(f"{'identical' if not found else 'DIFFERENT'}: {len(artifacts)} artifacts in {run['wall_s']} s; "
          f"recorded in {args.out}")
    if not found and old_revision != new_revision:
        print(f'revision.EQUIVALENCES entry: Equivalence(new="{new_revision}", old="{old_revision}", reason="...", '
              f'evidence="book/measurements/revision_equivalence.json: {len(artifacts)} {PROFILE} artifacts '
              f'recomputed bit for bit from {old_commit[:12]}")')
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
