"""The claims page's rule (snnconv.book.claims) on hand-made verdicts: statuses per seed, verdicts, pooling."""

from __future__ import annotations

import dataclasses
import math

import pytest

from snnconv.book import claims, retests
from snnconv.book.run import Run
from snnconv.experiment import parameters
from snnconv.experiment.parameters import ParameterError, resolve


def _verdicts(n_a_only: int, n_b_only: int, n_both: int = 100) -> tuple[list[bool], list[bool]]:
    """A and B right on ``n_both`` images; only A right on ``n_a_only``, only B on ``n_b_only``."""
    a = [True] * n_both + [True] * n_a_only + [False] * n_b_only
    b = [True] * n_both + [False] * n_a_only + [True] * n_b_only
    return a, b


def _claim(per_seed: dict[int, tuple[int, int]]) -> claims.Claim:
    def comparisons(run):
        return [("A vs B", *_verdicts(*per_seed[run.settings.seed]))]
    return claims.Claim("toy", "A beats B", "nowhere", comparisons=comparisons)


@pytest.fixture
def settings():
    return resolve("smoke")


def test_a_measurable_effect_in_every_seed_holds(settings, tmp_path):
    claim = _claim({0: (30, 0), 1: (25, 1)})
    rows = claims.claim_rows(Run(settings, progress=False), [0, 1], [claim])
    assert [row["status"] for row in rows] == ["for", "for"]
    assert [row["seed"] for row in rows] == [0, 1]
    assert claims.verdicts(rows, [claim])[0]["verdict"] == "holds"


def test_a_reversed_effect_in_every_seed_does_not_hold_and_a_mixed_one_is_inconclusive(settings):
    reversed_ = _claim({0: (0, 30), 1: (1, 25)})
    rows = claims.claim_rows(Run(settings, progress=False), [0, 1], [reversed_])
    assert claims.verdicts(rows, [reversed_])[0]["verdict"] == "does not hold"
    mixed = _claim({0: (30, 0), 1: (2, 3)})  # the second seed's interval straddles zero
    rows = claims.claim_rows(Run(settings, progress=False), [0, 1], [mixed])
    assert [row["status"] for row in rows] == ["for", "unclear"]
    assert claims.verdicts(rows, [mixed])[0]["verdict"] == "inconclusive"


def test_pooling_averages_the_seeds_with_a_t_interval(settings):
    claim = _claim({0: (30, 0), 1: (20, 0), 2: (10, 0)})
    rows = claims.claim_rows(Run(settings, progress=False), [0, 1, 2], [claim])
    differences = [row["difference"] for row in rows]
    (pooled,) = claims.pooled(rows)
    assert pooled["mean difference"] == pytest.approx(sum(differences) / 3)
    assert pooled["ci_low"] < min(differences) and pooled["ci_high"] > max(differences)  # t(2) is wide
    (single,) = claims.pooled(rows[:1])
    assert math.isnan(single["ci_low"])


def test_checks_count_as_for_when_passed_and_against_when_failed(settings):
    def checks(run):
        return [{"model": "AT-eps1", "check": "gradient is not zero", "passed": True, "value": 1.0},
                {"model": "AT-eps1", "check": "Square does not beat PGD", "passed": run.settings.seed == 1,
                 "value": 2.0}]
    claim = claims.Claim("masking", "no masking", "Sec. 5.3", checks=checks)
    rows = claims.claim_rows(Run(settings, progress=False), [0, 1], [claim])
    assert [row["status"] for row in rows] == ["for", "against", "for", "for"]
    assert claims.verdicts(rows, [claim])[0]["verdict"] == "inconclusive"
    rows = claims.claim_rows(Run(settings, progress=False), [0], [claim])
    assert claims.verdicts(rows, [claim])[0]["verdict"] == "does not hold"


@pytest.mark.parametrize("bad", ["", "0,0", "a,b", "-1", [1.5]])
def test_bad_seeds_fail_in_one_sentence(bad):
    with pytest.raises(ParameterError, match="^Parameter seeds="):
        parameters.parse_seeds(bad)


def test_seeds_parse_from_papermill_strings_and_lists():
    assert parameters.parse_seeds("0, 1,2") == (0, 1, 2)
    assert parameters.parse_seeds([3]) == (3,)
    assert parameters.parse_seeds(4) == (4,)
    # No seeds given: the profile's (the smoke profile tests claims over seeds 0 and 1).
    smoke = resolve(profile="smoke").profile
    assert parameters.claim_seeds(None, smoke) == (0, 1) and parameters.claim_seeds("2", smoke) == (2,)


def test_every_claim_has_exactly_one_way_to_be_tested():
    assert len({c.key for c in claims.CLAIMS}) == len(claims.CLAIMS)
    assert all((c.comparisons is None) != (c.checks is None) for c in claims.CLAIMS)


def test_schedule_rows_rerun_a_claim_under_each_schedule(settings):
    def comparisons(run):  # the effect grows with the finetuning epochs
        return [("A vs B", *_verdicts(10 * run.settings.profile.snn_schedule.epochs, 0))]
    claim = claims.Claim("toy", "A beats B", "nowhere", comparisons=comparisons)
    rows = retests.schedule_rows(Run(settings, progress=False), [(1, 1), (1, 3)], [claim])
    assert [(row["SNN epochs"], row["difference"]) for row in rows] == [(1, pytest.approx(100 * 10 / 110)),
                                                                          (3, pytest.approx(100 * 30 / 130))]


def test_schedule_verdicts_say_which_claim_a_longer_schedule_changes(settings):
    def reversed_unless_long(run):  # B wins at 1 epoch; a tie at 3
        epochs = run.settings.profile.snn_schedule.epochs
        return [("A vs B", *_verdicts(0, 30 if epochs == 1 else 0))]
    def always(run):
        return [("C vs D", *_verdicts(30, 0))]
    moving = claims.Claim("moving", "A beats B", "nowhere", comparisons=reversed_unless_long)
    steady = claims.Claim("steady", "C beats D", "nowhere", comparisons=always)
    rows = retests.schedule_rows(Run(settings, progress=False), [(1, 1), (1, 3)], [moving, steady])
    table = retests.schedule_verdicts(rows, [moving, steady])
    assert table == [{"claim": "A beats B", "ANN 1 / SNN 1 epochs": "does not hold",
                      "ANN 1 / SNN 3 epochs": "inconclusive"},
                     {"claim": "C beats D", "ANN 1 / SNN 1 epochs": "holds", "ANN 1 / SNN 3 epochs": "holds"}]
    sentence = retests.budget_sentence(table)
    assert sentence == ("1 of 2 verdicts change with the longer schedules. “A beats B”: *does not hold* with "
                        "ANN 1 / SNN 1 epochs, *inconclusive* with ANN 1 / SNN 3 epochs. “C beats D”: *holds* with "
                        "every schedule.")
    assert retests.budget_sentence(table[1:]) == ("No verdict changes with the longer schedules. "
                                                 "“C beats D”: *holds* with every schedule.")


def test_a_longer_schedule_is_another_model_in_the_store(settings):
    from snnconv.experiment.profiles import ann_config, snn_config
    from snnconv.storage.store import artifact_key

    longer = retests.with_schedule(settings, ann_epochs=4, snn_epochs=2)
    assert longer.profile.ann_schedule.epochs == 4 and longer.profile.snn_schedule.epochs == 2
    assert longer.profile.ann_schedule.learning_rate == settings.profile.ann_schedule.learning_rate
    keys = {artifact_key("snn", snn_config(s.profile, ann_config(s.profile, "at", 0), 0)) for s in (settings, longer)}
    assert len(keys) == 2


@pytest.mark.parametrize("bad", [0, 1, "3", 2.5])
def test_a_sensitivity_schedule_must_be_longer(bad):
    from snnconv.experiment.profiles import PROFILES

    with pytest.raises(ParameterError, match="^Parameter longer_snn_epochs="):
        parameters.sensitivity_schedules(PROFILES["default"], longer_snn_epochs=bad)


def test_the_table1_claim_plans_only_the_attack_it_compares(settings, tmp_path):
    # Table 1's other cells (the ANNs' AutoAttack, the SNNs' FGSM, PGD at the smaller budgets) are not compared.
    from snnconv.storage.plan import planning
    from snnconv.storage.store import ArtifactStore

    store = planning(ArtifactStore(tmp_path))
    (claim,) = [c for c in claims.CLAIMS if c.key == "robust_init"]
    claims.claim_rows(Run(settings, store, progress=False), [0], [claim])
    attacks = {need.label.split(" on ")[0] for need in store.plan.needs.values() if need.kind == "evaluation"}
    assert attacks == {"PGD"}


def test_attack_rows_retest_a_claim_under_the_strongest_known_attack(settings):
    # 40 images: the smoke profile's adaptive evaluation, on which both attacks are compared.
    def paper(run):  # A looks more robust under the paper's attack ...
        return [("A vs B", *_verdicts(30, 0, n_both=10))]
    def strongest(run):  # ... but the stronger attack reverses it
        return [("A vs B, strongest known", *_verdicts(0, 30, n_both=10))]
    fragile = claims.Claim("fragile", "A beats B", "nowhere", comparisons=paper, strongest=strongest)
    rows = retests.attack_rows(Run(settings, progress=False), [fragile])
    assert [(row["attack"], row["status"]) for row in rows] == [(retests.PAPER_ATTACKS, "for"),
                                                                  (retests.STRONGEST_KNOWN, "against")]
    table = retests.attack_verdicts(rows, [fragile])
    assert table == [{"claim": "A beats B", retests.PAPER_ATTACKS: "holds", retests.STRONGEST_KNOWN: "does not hold"}]
    assert retests.attack_sentence(table).startswith("1 of 1 verdicts change under the strongest known attack.")


def test_the_strongest_known_attack_is_the_audits_on_the_models_each_claim_compares(settings, tmp_path):
    # Only claims that compare models under the paper's attack are re-tested; each audits exactly its models, at the
    # budget it compares (Fig. 2b: ε2), sharing the audit's verdicts (Square among them).
    from snnconv.storage.plan import planning
    from snnconv.storage.store import ArtifactStore

    strongest = {c.key: c for c in claims.CLAIMS if c.strongest}
    assert list(strongest) == ["robust_init", "ann_budget_transfers", "vs_snn_rat_robust", "fig2_if",
                               "finetuning_design"]
    eps3 = settings.profile.budget("ε3")
    expected = {"robust_init": ({"Natural", "AT-eps1", "TRADES-eps1", "MART-eps1"}, eps3),
                "vs_snn_rat_robust": ({"AT-eps1", "TRADES-eps1", "MART-eps1", "SNN-RAT"}, eps3),
                "fig2_if": ({"Ours (AT-eps1), IF, T=8", "RFGSM, IF, T=8", "SNN-RAT, IF, T=8"},
                            settings.profile.budget("ε2"))}
    for key, (models, epsilon) in expected.items():
        store = planning(ArtifactStore(tmp_path))
        rows = retests.attack_rows(Run(settings, store, progress=False), [strongest[key]])
        square = [need for need in store.plan.needs.values() if need.label.startswith("Square")]
        assert sorted(need.label.split(" on ")[1] for need in square) == sorted(models), key  # one verdict each
        assert {need.config.epsilon for need in square} == {epsilon}, key
        assert all(row["comparison"].endswith("strongest known") for row in rows
                   if row["attack"] == retests.STRONGEST_KNOWN)
    assert {"Square", "APGD-DLR", "PGD"} <= {need.label.split(" on ")[0] for need in store.plan.needs.values()
                                             if need.kind == "evaluation"}


def test_schedule_costs_add_up_the_recorded_seconds_of_each_schedule(settings, tmp_path):
    from snnconv.storage.store import ArtifactStore

    def comparisons(run):  # one model per finetuning length, and one attack verdict
        epochs = run.settings.profile.snn_schedule.epochs
        if run.store.planning:
            run.store.plan.need("snn", f"model{epochs}", "a model", (), lambda: None, run.store)
            run.store.plan.need("evaluation", f"attack{epochs}", "an attack", (), lambda: None, run.store)
        return [("A vs B", *_verdicts(10, 0))]
    claim = claims.Claim("toy", "A beats B", "nowhere", comparisons=comparisons)
    store = ArtifactStore(tmp_path)
    store.save_json("snn", "model1", {"seconds": 120.0, "threads": 1})
    store.save_json("evaluation", "attack1", {"seconds": 30.0, "threads": 1})
    store.save_json("snn", "model3", {"seconds": 360.0, "threads": 2})
    costs = retests.schedule_costs(Run(settings, store), [(1, 1), (1, 3)], [claim])
    assert costs == [{"ANN epochs": 1, "SNN epochs": 1, "training minutes": 2.0, "attack minutes": 0.5,
                      "threads": "1", "not stored": 0},
                     {"ANN epochs": 1, "SNN epochs": 3, "training minutes": 6.0, "attack minutes": 0.0,
                      "threads": "2", "not stored": 1}]


def test_holm_keeps_many_marginal_comparisons_from_deciding_a_claim(settings):
    # 24 comparisons, each reversed by 12 − 3 images: exact McNemar p ≈ 0.035 alone (each "against" without
    # adjustment), but over a family of 24 none survives Holm, so one seed cannot declare the claim false.
    def many(run):
        return [(f"A{i} vs B", *_verdicts(3, 12)) for i in range(24)]
    claim = claims.Claim("many", "A beats B", "nowhere", comparisons=many)
    rows = claims.claim_rows(Run(settings, progress=False), [0], [claim])
    assert all(row["p_value"] < 0.05 for row in rows)
    assert {row["status"] for row in rows} == {"unclear"}
    assert claims.verdicts(rows, [claim])[0]["verdict"] == "inconclusive"
    # A clear reversal in the same family is still found: Holm decides "against" as well as "for".
    def one_clear(run):
        return [*many(run), ("C vs B", *_verdicts(0, 40))]
    clear = claims.Claim("clear", "A beats B", "nowhere", comparisons=one_clear)
    rows = claims.claim_rows(Run(settings, progress=False), [0], [clear])
    assert [row["status"] for row in rows if row["comparison"] == "C vs B"] == ["against"]
    assert claims.verdicts(rows, [clear])[0]["verdict"] == "does not hold"


def test_a_nested_claim_uses_the_exact_interval_and_refuses_a_reversed_image(settings):
    def nested(run):
        return [("vanilla vs ensemble", *_verdicts(20, 0))]
    claim = claims.Claim("nested", "the ensemble is stronger", "nowhere", comparisons=nested, nested=True)
    (row,) = claims.claim_rows(Run(settings, progress=False), [0], [claim])
    from scipy.stats import beta

    assert row["ci_low"] == pytest.approx(100 * beta.ppf(0.025, 20, 101), abs=1e-6)  # 20 of 120 images
    def broken(run):
        return [("vanilla vs ensemble", *_verdicts(20, 1))]
    with pytest.raises(ValueError, match="right only under B"):
        claims.claim_rows(Run(settings, progress=False), [0], [dataclasses.replace(claim, comparisons=broken)])


def test_every_claim_and_retest_compares_the_same_images_on_both_sides(settings, tmp_path):
    # The paper's attacks run on n_test images, the audit's on the first n_test_extended: a re-test must compare
    # both attacks on the audit's images. A planning store gives each verdict its real length.
    from snnconv.storage.plan import planning
    from snnconv.storage.store import ArtifactStore

    profile = dataclasses.replace(settings.profile, n_test=60, n_test_extended=30)
    wider = dataclasses.replace(settings, profile=profile)
    store = planning(ArtifactStore(tmp_path))
    rows = claims.claim_rows(Run(wider, store, progress=False), [0])
    compared = [row for row in rows if "images" in row]
    assert compared and all(row["images"] in (profile.n_test, profile.n_test_extended) for row in compared)
    rows = retests.attack_rows(Run(wider, store, progress=False))
    by_claim: dict[str, set[int]] = {}
    for row in rows:
        by_claim.setdefault(row["claim"], set()).add(row["images"])
    assert set(by_claim) == {c.key for c in claims.CLAIMS if c.strongest}
    assert all(images == {profile.n_test_extended} for images in by_claim.values()), by_claim
    assert {row["attack"] for row in rows} == {retests.PAPER_ATTACKS, retests.STRONGEST_KNOWN}
