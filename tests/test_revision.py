"""The code revision's rule: what counts as code that computes a number (snnconv.revision)."""

from __future__ import annotations

from snnconv import paths, revision


def _edited(module: str, old: str, new: str):
    def read(path: str) -> str:
        text = (paths.PACKAGE / path).read_text()
        if path == f"{module}.py":
            assert old in text
            text = text.replace(old, new, 1)
        return text
    return read


def _today(path: str) -> str:
    return (paths.PACKAGE / path).read_text()


def test_a_profile_value_is_part_of_the_key_not_of_the_revision():
    base = revision.revision_of(_today)
    assert base == revision.code_revision()
    # A profile's value and a catalogue entry only choose configs, whose every value is in the artifact's key.
    assert revision.revision_of(_edited("config", "n_test=2000,", "n_test=3000,")) == base
    assert revision.revision_of(_edited("config", 'MAIN_BASELINES = ("vanilla", "snn_rat")',
                                        'MAIN_BASELINES = ("snn_rat",)')) == base
    # A config class's method builds what computes, so changing it changes the revision; so does any attack code.
    config_class = _edited("config", "class EvaluationConfig:", "class EvaluationConfig:\n    x = 1")
    assert revision.revision_of(config_class) != base
    attack_code = _edited("attacks", "\n\n\ndef ", "\n\n\ndef _unused():\n    return 1\n\n\ndef ")
    assert revision.revision_of(attack_code) != base
    # The first rule hashed the whole config module.
    legacy = revision.revision_of(_today, legacy=True)
    assert revision.revision_of(_edited("config", "n_test=2000,", "n_test=3000,"), legacy=True) != legacy
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
    from snnconv.store import ATTACK_REVISIONS

    revisions = {ATTACK_REVISIONS[name] for name in ("APGD-CE", "APGD-DLR", "APGD-T")}
    assert len(revisions) == 1
    (current,) = revisions
    assert revision.keyed_revision() == APGD_CODE.get(current), (
        "APGD's code changed: bump store.ATTACK_REVISIONS for APGD-CE, APGD-DLR and APGD-T (their stored verdicts are "
        "recomputed under new keys) and pin the new hash here")
    # Left out of the code revision, so that a change to them leaves every other artifact current.
    edited = revision.revision_of(lambda path: (paths.PACKAGE / path).read_text().replace(
        "momentum = 0.75 if iteration > 0 else 1.0", "momentum = 0.5 if iteration > 0 else 1.0"))
    assert edited == revision.code_revision()
