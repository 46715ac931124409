"""The standard suite's selection rule on hand-made verdicts, whose answers are worked out by hand below."""

from __future__ import annotations

import pytest

from snnconv.evaluation.selection import MARGIN, Cover, candidates, choose, comparison_rows, cover_rows, judge_suite

N = 100  # images per cover: one image is one point


def _fools(*ranges: range, clean: int = N) -> tuple[bool, ...]:
    """Per-image verdicts: robust unless the image lies in one of ``ranges`` (or at or beyond ``clean``)."""
    fooled = {i for r in ranges for i in r}
    return tuple(i < clean and i not in fooled for i in range(N))


COSTS = {"cheap": 1.0, "mid": 5.0, "dear": 20.0}

# m1: 90 images right; every attack together fools 0–41, so 48 % resist. "cheap" alone fools 0–40 (49 %: 1 point
# above, exactly the margin), "mid" alone 0–39 (50 %: 2 points above), "dear" alone all of 0–41.
M1 = Cover("m1", "ε3", _fools(clean=90),
           {"cheap": _fools(range(41)), "mid": _fools(range(40)), "dear": _fools(range(42))}, COSTS)
# m2: 80 images right; together 0–29 fooled, 50 % resist. "cheap" alone fools 0–9 (70 %: 20 points above: the
# cheapest attack misses the margin here), "mid" alone 0–29 (0 points), "dear" alone 0–28 (51 %: 1 point above).
M2 = Cover("m2", "ε3", _fools(clean=80),
           {"cheap": _fools(range(10)), "mid": _fools(range(30)), "dear": _fools(range(29))}, COSTS)


def test_the_worst_case_is_clean_and_every_attack_of_the_subset():
    assert M1.correct() == 48 and M2.correct() == 50
    assert M1.correct(("cheap",)) == 49 and M1.correct(("mid",)) == 50 and M1.correct(("cheap", "mid")) == 49
    assert M2.correct(("cheap",)) == 70 and M2.correct(("cheap", "dear")) == 51
    assert M1.correct(()) == 90  # no attack: the clean accuracy
    assert M1.worst_case(("dear",)) == M1.worst_case() == _fools(range(42), clean=90)
    # An attack a model does not have (an ANN has no surrogate members) is not run on it.
    ann = Cover("ann", "ε3", _fools(clean=90), {"mid": _fools(range(40))}, {"mid": 5.0})
    assert ann.correct(("dear",)) == 90 and ann.correct(("dear", "mid")) == 50 and ann.cost(("dear", "mid")) == 5.0


def test_gap_cost_and_margin_in_images():
    assert M1.gap(("cheap",)) == 1.0 and M1.within(("cheap",))  # exactly the margin: within
    assert M1.gap(("mid",)) == 2.0 and not M1.within(("mid",))
    assert M2.gap(("cheap",)) == 20.0 and not M2.within(("cheap",))
    assert not M1.within(("cheap",), margin=0.5)
    assert M1.cost() == 26.0 and M1.cost(("cheap", "mid")) == 6.0
    # At n = 1000 a point is ten images: 10 extra images are within one point, 11 are not.
    big = Cover("big", "ε1", (True,) * 1000, {"a": (False,) * 10 + (True,) * 990, "b": (False,) * 21 + (True,) * 979},
                {"a": 1.0, "b": 1.0})
    assert big.within(("a",)) is False and big.extra_images(("a",)) == 11
    assert Cover("big", "ε1", (True,) * 1000, {"a": (False,) * 11 + (True,) * 989, "b": (False,) * 21 + (True,) * 979},
                 {"a": 1.0, "b": 1.0}).extra_images(("a",)) == 10


def test_the_cheapest_single_attack_misses_on_one_model_so_the_rule_takes_two():
    # Within 1 point on both models: {cheap, mid} (m1: 1 point, m2: 0; cost 12), {dear} (0 and 1; cost 40),
    # {cheap, dear} (42), {mid, dear} (50), all three (52). {cheap} fails on m2, {mid} on m1.
    chosen = choose([M1, M2], ("cheap", "mid", "dear"))
    assert chosen.attacks == ("cheap", "mid") and chosen.cost == 12.0 and chosen.within
    assert chosen.share == pytest.approx(12 / 52) and chosen.largest_gap == 1.0
    judged = {c.attacks: c for c in candidates([M1, M2], ("cheap", "mid", "dear"))}
    assert len(judged) == 7
    assert [a for a, c in judged.items() if c.within] == [("dear",), ("cheap", "mid"), ("cheap", "dear"),
                                                          ("mid", "dear"), ("cheap", "mid", "dear")]
    assert judged[("cheap",)].largest_gap == 20.0
    # Half a point: {cheap, mid} (1 point on m1), {dear} and {cheap, dear} (1 point on m2) fail; {mid, dear} wins.
    assert choose([M1, M2], ("cheap", "mid", "dear"), margin=0.5).attacks == ("mid", "dear")
    assert MARGIN == 1.0


def test_ties_go_to_fewer_attacks_then_to_the_name():
    fools = _fools(range(30))
    same = Cover("m", "ε3", (True,) * N, {"b": fools, "a": fools}, {"b": 2.0, "a": 2.0})
    assert choose([same], ("b", "a")).attacks == ("a",)
    # x and y together fool what z fools, at z's cost: the single attack wins.
    split = Cover("m", "ε3", (True,) * N, {"x": _fools(range(15)), "y": _fools(range(15, 30)), "z": fools},
                  {"x": 1.0, "y": 1.0, "z": 2.0})
    assert choose([split], ("x", "y", "z")).attacks == ("z",)


def test_the_cover_says_which_attack_fools_which_images():
    rows = {row["attack"]: row for row in cover_rows([M1])}
    assert rows["dear"]["fooled"] == 42 and rows["dear"]["fooled by it alone"] == 1  # image 41
    assert rows["cheap"]["fooled"] == 41 and rows["cheap"]["fooled by it alone"] == 0
    assert rows["mid"]["seconds"] == 5.0


def test_each_cover_compared_with_the_exact_nested_interval():
    m1, m2 = comparison_rows([M1, M2], ("cheap", "mid"))
    assert (m1["every attack (%)"], m1["suite (%)"], m1["gap (points)"], m1["extra images"]) == (48.0, 49.0, 1.0, 1)
    assert 0 < m1["ci_low"] < 1.0 < m1["ci_high"] and m1["within margin"]
    assert m1["cost share (%)"] == pytest.approx(100 * 6 / 26)
    assert (m2["gap (points)"], m2["ci_low"]) == (0.0, 0.0)
    assert judge_suite([M1, M2], ("cheap",)).within is False


def test_bad_covers_and_too_many_attacks_fail():
    with pytest.raises(ValueError, match="verdicts and seconds"):
        Cover("m", "ε3", (True,), {"a": (True,)}, {})
    with pytest.raises(ValueError, match="cover the 2 images"):
        Cover("m", "ε3", (True, True), {"a": (True,)}, {"a": 1.0})
    many = tuple(f"a{i}" for i in range(15))
    with pytest.raises(ValueError, match="limited to 14"):
        candidates([M1], many)


def test_the_audits_rows_become_covers_named_by_the_spiking_attacks():
    from snnconv.book import standard
    from snnconv.experiment.profiles import PROFILES

    profile = PROFILES["default"]
    clean, fooled = _fools(clean=90), _fools(range(40))

    def row(model, attack, budget, kind="white-box", seconds=10.0, robust=fooled):
        return {"model": model, "attack": attack, "budget": budget, "kind": kind, "robust": robust,
                "seconds": seconds}

    rows = [row("snn", "clean", "ε1", "clean", robust=clean), row("ann", "clean", "ε1", "clean", robust=clean)]
    for budget in ("ε1", "ε3"):
        rows += [row("snn", "ensemble PGD20", budget), row("snn", "HART PGD20", budget, seconds=2.0),
                 row("snn", "Square", budget, "black-box"), row("snn", "strongest known", budget, "strongest known"),
                 row("ann", "PGD20", budget), row("ann", "Square", budget, "black-box")]
    searches = [{"model": "snn", "seconds": 3.0}, {"model": "snn", "seconds": 5.0}]
    covers = {(c.model, c.budget): c for c in standard.covers(rows, searches, profile)}
    assert set(covers) == {("snn", "ε1"), ("snn", "ε3"), ("ann", "ε1"), ("ann", "ε3")}
    # The ANN's PGD20 stands for the ensemble PGD20; the worst-case rows are not attacks.
    assert covers["ann", "ε1"].attacks == ("ensemble PGD20", "Square")
    assert covers["snn", "ε3"].attacks == ("ensemble PGD20", "HART PGD20", "Square")
    # HART's width search (8 s) is shared by the model's two budgets.
    assert covers["snn", "ε1"].seconds["HART PGD20"] == 2.0 + 4.0 and covers["snn", "ε1"].cost() == 26.0
    assert covers["snn", "ε1"].correct() == 50 and covers["snn", "ε1"].clean == clean
    assert standard.candidate_attacks(profile)[0] == "ensemble PGD20"
    assert standard.searched_attack(profile) == "HART PGD20"


def test_held_out_models_of_another_seed_are_read_only_where_their_audit_is_stored(tmp_path, monkeypatch):
    from snnconv.book import audit, standard
    from snnconv.book.run import Run
    from snnconv.experiment.parameters import resolve
    from snnconv.storage.plan import planning
    from snnconv.storage.store import ArtifactStore

    settings = resolve("smoke")
    store = planning(ArtifactStore(tmp_path))  # nothing stored: seed 0 is planned, seed 1 cannot be read
    held = standard.held_out(Run(settings, store, progress=False), (0, 1))
    audited = {s.label for s in audit.audit_subjects(Run(settings, store, progress=False))}
    seed0 = {row["model"] for row in held.rows}
    assert seed0 and not seed0 & audited and {row["seed"] for row in held.rows} == {0}
    assert {"AT-eps3, β=2", "RFGSM, IF, T=8"} <= seed0
    assert {row["seed"] for row in held.unchecked} == {1} and all(row["verdicts stored"] == 0 for row in held.unchecked)
    assert {f"{label} (seed 1)" for label in audited} <= {row["model"] for row in held.unchecked}
    # Asking about seed 1 put none of its artifacts into the page's plan, and nothing was written.
    assert all(getattr(need.config, "seed", 0) == 0 for need in store.plan.needs.values())
    assert not list(tmp_path.rglob("*.json"))
    # Where another seed's audit is stored, its rows are read like seed 0's, under the model's name and seed.
    monkeypatch.setattr(standard, "_stored", lambda run, subject, epsilon: (1, 1))
    held = standard.held_out(Run(settings, planning(ArtifactStore(tmp_path)), progress=False), (0, 1))
    assert not held.unchecked and "AT-eps1 (seed 1)" in {row["model"] for row in held.rows if row["seed"] == 1}
