"""The code revision's rule: what counts as code that computes a number (snnconv.storage.revision)."""

from __future__ import annotations

import json

import pytest

from snnconv.foundations import paths
from snnconv.storage import published_store, revision


def _edited(file: str, old: str, new: str):
    def read(path: str) -> str | None:
        text = _today(path)
        if path == file:
            assert old in text
            text = text.replace(old, new, 1)
        return text
    return read


def _today(path: str) -> str | None:
    source = paths.PACKAGE / path
    return source.read_text() if source.exists() else None


def test_a_profile_value_is_part_of_the_key_not_of_the_revision():
    base = revision.revision_of(_today)
    assert base == revision.code_revision()
    # A profile's value and a catalogue entry only choose configs, whose every value is in the artifact's key.
    assert revision.revision_of(_edited("experiment/profiles.py", "n_test=2000,", "n_test=3000,")) == base
    assert revision.revision_of(_edited("experiment/config.py", 'MAIN_BASELINES = ("vanilla", "snn_rat")',
                                        'MAIN_BASELINES = ("snn_rat",)')) == base
    # A config class's method builds what computes, so changing it changes the revision; so does any attack code.
    config_class = _edited("experiment/config.py", "class EvaluationConfig:", "class EvaluationConfig:\n    x = 1")
    assert revision.revision_of(config_class) != base
    attack_code = _edited("attacks/ensemble.py", "\n\n\ndef ", "\n\n\ndef _unused():\n    return 1\n\n\ndef ")
    assert revision.revision_of(attack_code) != base
    # The first rule hashed the whole config module.
    legacy = revision.revision_of(_today, legacy=True)
    catalogue = _edited("experiment/config.py", 'MAIN_BASELINES = ("vanilla", "snn_rat")',
                        'MAIN_BASELINES = ("snn_rat",)')
    assert revision.revision_of(catalogue, legacy=True) != legacy
    assert len(legacy) == 16 and not legacy.startswith(revision.RULE)


def test_records_of_the_first_rule_are_judged_by_todays_rule_at_their_commit(monkeypatch):
    calls = {}

    def revision_at(commit: str, legacy: bool = False) -> str | None:
        calls[(commit, legacy)] = True
        return {("abc", False): "2-new", ("abc", True): "old"}.get((commit, legacy))

    monkeypatch.setattr(revision, "revision_at", revision_at)
    assert revision.record_revision({"code": "2-recorded", "commit": "abc"}) == "2-recorded"
    assert revision.record_revision({"code": "old", "commit": "abc"}) == "2-new"
    # Uncommitted changes that left the numerical code alone (same first-rule revision as the commit) ...
    assert revision.record_revision({"code": "old", "commit": "abc+dirty"}) == "2-new"
    # ... and ones that did not: unknown code.
    assert revision.record_revision({"code": "other", "commit": "abc+dirty"}) is None


#: The hash of the key-versioned APGD definitions (revision.KEYED_DEFINITIONS) at each of their key revisions.
APGD_CODE = {1: "5810deff45e22cb2", 2: "40387efa02b40d18"}


def test_a_change_to_apgd_comes_with_a_new_key_revision():
    from snnconv.storage.store import ATTACK_REVISIONS

    revisions = {ATTACK_REVISIONS[name] for name in ("APGD-CE", "APGD-DLR", "APGD-T")}
    assert len(revisions) == 1
    (current,) = revisions
    assert revision.keyed_revision() == APGD_CODE.get(current), (
        "APGD's code changed: bump store.ATTACK_REVISIONS for APGD-CE, APGD-DLR and APGD-T (their stored verdicts are "
        "recomputed under new keys) and pin the new hash here")
    # Left out of the code revision, so that a change to them leaves every other artifact current.
    edited = revision.revision_of(lambda path: (_today(path) or "").replace(
        "momentum = 0.75 if iteration > 0 else 1.0", "momentum = 0.5 if iteration > 0 else 1.0"))
    assert edited == revision.code_revision()


def _equivalences(*pairs: tuple[str, str]) -> tuple[revision.Equivalence, ...]:
    return tuple(revision.Equivalence(new, old, "test", "test") for new, old in pairs)


def test_equivalent_revisions_are_the_same_code_transitively(monkeypatch):
    monkeypatch.setattr(revision, "EQUIVALENCES", _equivalences(("2-b", "2-a"), ("2-c", "2-b"), ("2-y", "2-x")))
    assert revision.same_code("2-a", "2-a") and revision.same_code("2-q", "2-q")
    assert revision.same_code("2-b", "2-a") and revision.same_code("2-a", "2-b")
    assert revision.same_code("2-c", "2-a") and revision.same_code("2-a", "2-c")  # A≡B, B≡C: A≡C
    assert revision.equivalent_revisions("2-c") == {"2-a", "2-b", "2-c"}
    assert revision.equivalent_revisions("2-q") == {"2-q"}
    # Two classes stay apart, and a revision in no entry is only itself.
    assert not revision.same_code("2-a", "2-x") and not revision.same_code("2-y", "2-c")
    assert not revision.same_code("2-a", "2-q") and not revision.same_code("2-q", "2-r")


def test_a_record_of_equivalent_code_is_not_stale(monkeypatch):
    monkeypatch.setattr(revision, "code_revision", lambda: "2-new")
    monkeypatch.setattr(revision, "EQUIVALENCES", _equivalences(("2-new", "2-mid"), ("2-mid", "2-old")))
    assert revision.is_stale({"code": "2-new"}) is False
    assert revision.is_stale({"code": "2-old", "commit": "abc"}) is False
    assert revision.is_stale({"code": "2-other", "commit": "abc"}) is True
    monkeypatch.setattr(revision, "EQUIVALENCES", ())
    assert revision.is_stale({"code": "2-old", "commit": "abc"}) is True


EVIDENCE = paths.PACKAGE.parent / "book" / "measurements" / "revision_equivalence.json"


def test_every_equivalence_rests_on_an_identical_recomputation():
    runs = json.loads(EVIDENCE.read_text())["runs"] if EVIDENCE.exists() else []
    for equivalence in revision.EQUIVALENCES:
        assert equivalence.new.startswith(revision.RULE) and equivalence.old.startswith(revision.RULE)
        assert equivalence.reason and equivalence.evidence
        matching = [run for run in runs if (run["old_revision"], run["new_revision"]) == (equivalence.old,
                                                                                        equivalence.new)]
        assert matching and all(run["identical"] and run["artifacts"] and not run["differences"]
                                for run in matching), (
            f"{equivalence} has no identical run in {EVIDENCE}: run `python -m benchmarks.revision_equivalence "
            "--old COMMIT` with COMMIT the last commit of the old revision")


def test_the_published_store_was_computed_by_this_code_or_code_listed_as_equivalent():
    records = [entry.record for entry in published_store.entries(paths.PACKAGE.parent / "store" / "default")]
    # The records that name a revision of today's rule first: reading an earlier rule's from git takes seconds.
    recorded = {record["code"] for record in records if str(record.get("code", "")).startswith(revision.RULE)}
    current = [code for code in recorded if revision.same_code(code, revision.code_revision())]
    if not current:
        current = [code for record in records if (code := revision.record_revision(record)) is not None
                   and revision.same_code(code, revision.code_revision())]
    assert current, (
        f"The numerical code changed (revision {revision.code_revision()}), and no artifact in store/default was "
        "computed by it or by code listed in revision.EQUIVALENCES, so every published artifact reads as stale. If "
        "the change leaves every number as it was, show it: `python -m benchmarks.revision_equivalence --old "
        "COMMIT` (COMMIT: the last commit before the change; HEAD while it is uncommitted) and add the Equivalence "
        "it prints to revision.EQUIVALENCES. If it changes numbers, recompute and republish the store (make book, "
        "make store-publish).")


def test_a_numerical_module_or_stage_function_written_later_leaves_earlier_revisions_as_they_were():
    # d674fae, before attacks/evaluations.py and pipeline.evaluation_of were written, computed revision
    # 2-618a162a49668d (its records say so); today's rule must still give it that, or its records read as stale.
    old = revision.revision_at("d674fae")
    if old is None:
        pytest.skip("the checkout has no git history to read d674fae from")
    assert old == "2-618a162a49668d"
    # And the later additions count where they exist: an edit to either changes today's revision.
    base = revision.code_revision()
    assert revision.revision_of(_edited("attacks/evaluations.py", '"clean")', '"clear")')) != base
    assert revision.revision_of(_edited("storage/pipeline.py", "case \"AutoAttack\":", "case \"AA\":")) != base
