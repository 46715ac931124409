"""The compact store format (packed per-image vectors) and the published store: what a fresh clone renders from.

The packed vectors are decoded here with the standard library alone (base64, zlib and bit arithmetic), not with
the numpy code under test; the published store is checked as a fresh clone uses it: imported into an empty
artifact store, whose own SHA-256 check decides.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import zlib
from pathlib import Path

import pytest
import torch

from snnconv import cli
from snnconv.storage import packing, published_store
from snnconv.storage.store import ArtifactStore

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT / "store" / "default"
#: Artifacts of the default book that no session has computed yet, one id per line: the guard below tolerates
#: exactly these (and fails when one of them is published, so that the list only shrinks).
KNOWN_GAPS = PUBLISHED.parent / "default.gaps"


def _bytes(packed: dict) -> bytes:
    return zlib.decompress(base64.b64decode(packed["data"]))


def test_booleans_are_packed_eight_to_a_byte_first_in_the_highest_bit():
    values = ([True] + [False] * 6 + [True]) * 8 + [True, True]  # 66 values: 0x81 eight times, then 0b11000000
    packed = packing.pack({"robust": values})["robust"]
    assert packed["$packed"] == "bits" and packed["n"] == 66
    assert _bytes(packed) == bytes([0x81] * 8 + [0xC0])


def test_strings_are_indices_into_their_labels_in_order_of_first_appearance():
    values = ["", "a", "", "b"] * 20
    packed = packing.pack({"fooled_by": values})["fooled_by"]
    assert packed["labels"] == ["", "a", "b"]
    assert list(_bytes(packed)) == [0, 1, 0, 2] * 20
    many = [f"m{i}" for i in range(300)]  # more labels than one byte can index: two bytes, little-endian
    codes = _bytes(packing.pack({"v": many})["v"])
    assert [int.from_bytes(codes[i:i + 2], "little") for i in range(0, len(codes), 2)] == list(range(300))


def test_integers_are_little_endian_int32_and_larger_ones_stay_plain():
    values = [-1, 0, 631, 2**31 - 1] * 16
    codes = _bytes(packing.pack({"fooled_at": values})["fooled_at"])
    assert [int.from_bytes(codes[i:i + 4], "little", signed=True) for i in range(0, len(codes), 4)] == values
    assert packing.pack({"big": [2**40] * 64})["big"] == [2**40] * 64


def test_short_mixed_float_and_config_lists_stay_plain_and_everything_round_trips():
    rng = random.Random(0)
    record = {"config": {"members": ["a"] * 100, "steps": list(range(100))},
              "history": [0.5] * 100, "mixed": [True, 1] * 40, "short": [True] * 63,
              "member_robust": {"m": [rng.random() < 0.5 for _ in range(2000)]},
              "rows": [{"robust": [True] * 64}], "fooled_by": [rng.choice(["", "x", "y"]) for _ in range(2000)]}
    packed = packing.pack(record)
    assert packed["config"] == record["config"] and packed["history"] == record["history"]
    assert packed["mixed"] == record["mixed"] and packed["short"] == record["short"]
    assert packed["rows"][0]["robust"]["$packed"] == "bits"
    assert packing.unpack(packed) == record
    assert packing.pack(packed) == packed  # packing twice changes nothing
    assert packing.unpack(record) == record  # a record stored before packing is read as it is


def test_a_packed_format_from_a_newer_version_is_named():
    with pytest.raises(ValueError, match="newer snnconv"):
        packing.unpack({"v": {"$packed": "float16", "n": 1, "data": ""}})


def test_the_store_writes_packed_compact_records_and_still_reads_the_earlier_format(tmp_path):
    store = ArtifactStore(tmp_path)
    robust = [i % 3 == 0 for i in range(2000)]
    store.save_json("evaluation", "new", {"n": 2000, "robust": robust})
    text = (tmp_path / "evaluation" / "new.json").read_text()
    assert "\n" not in text and len(text) < 600 and '"$packed":"bits"' in text
    assert store.load_json("evaluation", "new")["robust"] == robust
    (tmp_path / "evaluation" / "old.json").write_text(json.dumps({"n": 2000, "robust": robust}, indent=1))
    assert store.verify("evaluation", "old") == "adopted"
    assert store.load_json("evaluation", "old")["robust"] == robust


def _models_and_verdicts(root: Path) -> ArtifactStore:
    store = ArtifactStore(root)
    store.save_weights("snn", "model", {"w": torch.arange(6.0)}, {"commit": "c", "seconds": 1.0})
    store.save_json("evaluation", "verdict", {"n": 100, "robust": [True, False] * 50, "inputs": store.inputs("model")})
    return store


def test_a_published_store_round_trips_is_byte_stable_and_converts_the_earlier_layout(tmp_path):
    store = _models_and_verdicts(tmp_path / "store")
    published = tmp_path / "published"
    artifacts = [("snn", "model"), ("evaluation", "verdict")]
    assert published_store.export(store, published, artifacts) == {"exported": 2}
    assert sorted(p.relative_to(published) for p in published.rglob("*.*")) == [
        Path(published_store.RECORDS), Path("snn/model.safetensors")]
    first = (published / published_store.RECORDS).read_bytes()
    assert published_store.export(store, published, artifacts) == {"already here": 2}
    assert (published / published_store.RECORDS).read_bytes() == first  # no time stamp: git sees no change
    with gzip.open(published / published_store.RECORDS, "rt") as lines:
        assert [json.loads(line)["key"] for line in lines] == ["verdict", "model"]  # sorted by kind, then key
    fresh = ArtifactStore(tmp_path / "fresh")
    assert published_store.import_into(published, fresh) == {"imported": 2}
    for kind, key in artifacts:
        assert fresh.record(kind, key) == store.record(kind, key) and fresh.verify(kind, key) == "ok"
    assert torch.equal(fresh.load_weights("snn", "model")["w"], torch.arange(6.0))
    # The earlier layout — an artifact store — is converted in place, weights where they were.
    earlier = _models_and_verdicts(tmp_path / "earlier")
    assert published_store.export(store, earlier.root, artifacts)["converted from the earlier layout"] == 2
    assert sorted(p.relative_to(earlier.root) for p in earlier.root.rglob("*.*")) == [
        Path(published_store.RECORDS), Path("snn/model.safetensors")]


@pytest.mark.parametrize("damage", ["record", "weights", "missing weights"])
def test_an_artifact_changed_in_a_commit_is_refused_on_import(tmp_path, damage):
    store = _models_and_verdicts(tmp_path / "store")
    published = tmp_path / "published"
    published_store.export(store, published, [("snn", "model"), ("evaluation", "verdict")])
    records = published / published_store.RECORDS
    if damage == "record":  # one verdict flipped: still valid JSON, and its line still parses
        lines = gzip.decompress(records.read_bytes()).decode()
        entry = published_store.Entry(**json.loads(lines.splitlines()[0]))
        flipped = {**entry.record, "robust": [not r for r in packing.unpack(entry.record)["robust"]]}
        lines = lines.replace(entry.line(), published_store.Entry(entry.kind, entry.key, entry.sha256,
                                                                  packing.pack(flipped)).line())
        records.write_bytes(gzip.compress(lines.encode()))
    elif damage == "weights":
        (published / "snn" / "model.safetensors").write_bytes(b"not weights")
    else:
        (published / "snn" / "model.safetensors").unlink()
    assert published_store.verify(published)["corrupt"] == 1
    fresh = ArtifactStore(tmp_path / "fresh")
    outcomes = published_store.import_into(published, fresh)
    assert outcomes == {"imported": 1, "failed its check": 1}
    assert len(list(fresh.artifacts())) == 1  # the damaged one is not used: quarantined or never written


# ---------------------------------------------------------------------------------- the published store in git


@pytest.fixture(scope="module")
def default_book() -> cli.Coverage:
    return cli.book_coverage(PUBLISHED, {"profile": "default"})


def test_the_published_store_is_intact_and_holds_only_what_the_default_book_uses(default_book):
    assert published_store.is_published_store(PUBLISHED), "store/default/ is a published store (make store-publish)"
    listed = list(published_store.entries(PUBLISHED))
    assert listed, "store/default/ holds the default book's published artifacts"
    damaged = [f"{e.kind}/{e.key}" for e in listed if published_store.check(PUBLISHED, e) is not None]
    assert not damaged, f"do not match their SHA-256: {damaged[:5]}"
    weights = {p.relative_to(PUBLISHED) for p in PUBLISHED.glob("*/*.safetensors")}
    assert weights == {Path(e.kind, e.weights) for e in listed if e.weights}, "a weights file that no record lists"
    unused = {f"{e.kind}/{e.key}" for e in listed} - {need.id for need in default_book.needed}
    assert not unused, f"not used by the default book (make store-publish prunes them): {sorted(unused)[:5]}"


def test_the_guard_passes_on_the_published_store(default_book, capsys):
    _, missing, other_code = default_book
    gaps = set(KNOWN_GAPS.read_text().split()) if KNOWN_GAPS.exists() else set()
    print(f"store/default: {len(missing)} artifacts missing ({len(gaps)} known gaps); "
          f"{len(other_code)} computed by other code")
    new = sorted(f"{n.id} ({n.label})" for n in missing if n.id not in gaps)
    assert not new, f"the default book needs artifacts that store/default lacks: {new[:10]}"
    published = sorted(gaps - {n.id for n in missing})
    assert not published, f"{KNOWN_GAPS.name} lists artifacts that are published now; remove them: {published[:5]}"


def test_the_guard_fails_naming_an_artifact_removed_from_the_published_store(tmp_path, default_book, capsys):
    known = {n.id for n in default_book.missing}
    removed = next(e for e in published_store.entries(PUBLISHED)
                   if e.kind == "evaluation" and f"{e.kind}/{e.key}" not in known)
    cut = tmp_path / "published"
    lines = [e.line() for e in published_store.entries(PUBLISHED) if e != removed]
    cut.mkdir()
    (cut / published_store.RECORDS).write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    for weights in PUBLISHED.glob("*/*.safetensors"):
        (cut / weights.parent.name).mkdir(exist_ok=True)
        (cut / weights.parent.name / weights.name).symlink_to(weights)
    assert cli.main(["verify", str(cut), "--book", "default"]) == 1
    out = capsys.readouterr()
    assert f"missing evaluation/{removed.key}" in out.out and "does not cover the default book" in out.err
    assert f"{len(default_book.missing) + 1} artifacts missing" in out.out
