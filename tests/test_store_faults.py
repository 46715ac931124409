"""The store under faults and concurrency: killed runs resume to the same numbers, two processes compute an
artifact once, corrupt files are never used, stale results are named."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from snnconv.storage.revision import code_revision, is_stale
from snnconv.storage.store import ArtifactStore

ROOT = Path(__file__).resolve().parents[1]

# One child process per stage; it prints the SHA-256 of what it computed. Small schedules keep each run to seconds:
# three epochs, so that there are checkpoints to kill between.
STAGE = textwrap.dedent("""
    import hashlib, json, sys
    from dataclasses import replace
    import torch
    torch.set_num_threads(1)
    from snnconv.storage import pipeline
    from snnconv.experiment.config import EvaluationConfig
    from snnconv.experiment.profiles import ann_config, snn_config
    from snnconv.experiment.profiles import PROFILES
    from snnconv.storage.store import ArtifactStore, artifact_key

    stage, root = sys.argv[1], sys.argv[2]
    store = ArtifactStore(__import__("pathlib").Path(root))
    profile = PROFILES["smoke"]
    ann = replace(ann_config(profile, "at", 0), train_subset=96,
                  schedule=replace(profile.ann_schedule, epochs=3, batch_size=32))
    snn = replace(snn_config(profile, ann, 0), train_subset=64,
                  schedule=replace(profile.snn_schedule, epochs=3, batch_size=32))
    if stage == "ann":
        state = pipeline.ensure_ann(ann, store, progress=False).state_dict()
    elif stage == "snn":
        state = pipeline.ensure_snn(snn, store, progress=False).state_dict()
    else:
        model = pipeline.ensure_snn(snn, store, progress=False)
        config = EvaluationConfig(artifact_key("snn", snn), profile.dataset, "PGD", 3 / 255, 5, profile.time_steps,
                                  48, 0)
        record = pipeline.ensure_evaluation(model, config, store, batch_size=8, progress=False)
        print(hashlib.sha256(json.dumps(record["robust"]).encode()).hexdigest())
        sys.exit(0)
    digest = hashlib.sha256()
    for name, tensor in sorted(state.items()):
        digest.update(name.encode() + tensor.detach().cpu().numpy().tobytes())
    print(digest.hexdigest())
""")


def _child(stage: str, root: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", STAGE, stage, str(root)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def _finish(stage: str, root: Path) -> str:
    process = _child(stage, root)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-2000:]
    return out.split()[-1]


def _kill_when(process: subprocess.Popen, ready) -> None:
    deadline = time.time() + 300
    while not ready() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()


def _checkpoint_epochs(root: Path, kind: str) -> int:
    from safetensors import safe_open

    for path in (root / "checkpoints" / kind).glob("*.safetensors"):
        try:
            with safe_open(str(path), "pt") as handle:
                return len(json.loads(handle.metadata()["state"])["history"])
        except Exception:  # being renamed into place this instant
            return 0
    return 0


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("straight")
    return {stage: _finish(stage, root) for stage in ("ann", "snn", "evaluation")}


@pytest.mark.parametrize("stage, kind, point", [
    ("ann", "ann", "after one epoch"),
    ("ann", "ann", "after two epochs"),
    ("ann", "ann", "at start"),
    ("snn", "snn", "after one epoch"),
    ("snn", "snn", "after two epochs"),
    ("evaluation", "evaluation", "mid-attack"),
])
def test_killed_run_resumes_to_the_same_numbers(tmp_path, uninterrupted, stage, kind, point):
    if stage != "ann":  # the earlier stages are already stored: the kill hits this stage's own work
        _finish("ann" if stage == "snn" else "snn", tmp_path)
    process = _child(stage, tmp_path)
    if point == "at start":
        _kill_when(process, lambda: True)
    elif point == "mid-attack":
        started = time.time()
        _kill_when(process, lambda: time.time() - started > 4)
    else:
        epochs = 1 if point == "after one epoch" else 2
        _kill_when(process, lambda: _checkpoint_epochs(tmp_path, kind) >= epochs)
    assert not (tmp_path / kind).exists() or not list((tmp_path / kind).glob("*.sha256")), "killed before storing"
    assert _finish(stage, tmp_path) == uninterrupted[stage]
    assert not list(tmp_path.rglob(f"{kind}/*.partial"))


def test_two_processes_compute_one_artifact_once(tmp_path):
    script = textwrap.dedent("""
        import json, os, sys, time
        from pathlib import Path
        from snnconv.storage.store import ArtifactStore
        store = ArtifactStore(Path(sys.argv[1]))
        record = store.load_json("evaluation", "same")
        if record is None:  # this process holds the claim: compute slowly, then store
            Path(sys.argv[1], f"computing.{os.getpid()}").touch()
            time.sleep(2)
            store.save_json("evaluation", "same", {"by": os.getpid()})
            record = store.load_json("evaluation", "same")
        print(json.dumps(record))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in processes]
    records = [json.loads(out.split("\n")[-2]) for out, _ in outputs]
    assert records[0] == records[1]
    assert len(list(tmp_path.glob("computing.*"))) == 1
    assert any("another process is computing" in err for _, err in outputs)


def test_corrupt_artifact_is_reported_and_never_used(tmp_path, capsys):
    store = ArtifactStore(tmp_path)
    store.save_json("evaluation", "k", {"correct": 3})
    path = tmp_path / "evaluation" / "k.json"
    path.write_text(path.read_text().replace("3", "4"))  # a flipped digit: still valid JSON
    assert store.load_json("evaluation", "k") is None
    assert "failed its check" in capsys.readouterr().err
    assert (tmp_path / "corrupt" / "evaluation" / "k.json").exists() and not path.exists()
    store.release("evaluation", "k")


def test_artifact_from_before_manifests_is_adopted_and_a_torn_one_is_not(tmp_path):
    store = ArtifactStore(tmp_path)
    (tmp_path / "evaluation").mkdir()
    (tmp_path / "evaluation" / "old.json").write_text(json.dumps({"correct": 1}))
    (tmp_path / "evaluation" / "torn.json").write_text('{"correct": ')
    assert store.verify("evaluation", "old") == "adopted"
    assert store.verify("evaluation", "old") == "ok"
    assert store.verify("evaluation", "torn") == "corrupt"


def test_stale_artifacts_are_named(tmp_path):
    store = ArtifactStore(tmp_path)
    store.save_json("evaluation", "now", {"commit": "abc"})
    store.save_json("evaluation", "old", {"commit": "abc", "code": "0" * 16})
    store.save_json("evaluation", "unknown", {"commit": "abc+dirty", "code": ""})
    assert is_stale(store.load_json("evaluation", "now")) is False
    assert store.load_json("evaluation", "old")["code"] != code_revision()
    store.load_json("evaluation", "unknown")
    assert set(store.stale) == {("evaluation", "old"), ("evaluation", "unknown")}


def test_a_record_computed_from_another_version_of_its_model_is_stale_and_its_models_cost_counts(tmp_path):
    import torch

    store = ArtifactStore(tmp_path)
    store.save_weights("ann", "a", {"w": torch.zeros(2)}, {"commit": "abc", "seconds": 100.0})
    store.save_weights("snn", "s", {"w": torch.ones(2)}, {"commit": "abc", "seconds": 20.0,
                                                         "inputs": store.inputs("a", "not-stored")})
    store.save_json("evaluation", "e", {"commit": "abc", "seconds": 3.0, "inputs": store.inputs("s")})
    assert list(store.inputs("a")) == ["ann/a"]  # found by key alone; a key that is not stored is left out

    reader = ArtifactStore(tmp_path)
    reader.load_json("evaluation", "e")  # noting the verdict notes the models it was computed from
    assert reader.cold_seconds() == 123.0 and not reader.stale

    store.save_weights("ann", "a", {"w": torch.full((2,), 2.0)}, {"commit": "abc", "seconds": 90.0})  # recomputed
    reader = ArtifactStore(tmp_path)
    reader.load_json("evaluation", "e")
    assert reader.stale == {("snn", "s"): "computed from another version of ann/a"}
    assert reader.cold_seconds() == 113.0


def test_manifest_is_sha256sum_compatible(tmp_path):
    store = ArtifactStore(tmp_path)
    store.save_json("evaluation", "k", {"correct": 3})
    line = (tmp_path / "evaluation" / "k.sha256").read_text().split()
    assert line == [hashlib.sha256((tmp_path / "evaluation" / "k.json").read_bytes()).hexdigest(), "k.json"]


def test_a_record_names_the_thread_count_that_computed_it(tmp_path):
    # 1 and 2 CPU threads give models that differ in the last bits and then in accuracy: the record says which.
    _finish("ann", tmp_path)
    store = ArtifactStore(tmp_path)
    (kind, key), = store.artifacts()
    assert store.record(kind, key)["threads"] == 1
