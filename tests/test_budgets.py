"""Budgets are named by value, never by position (issue 27, item 4), and Suppl. A.2's finetuning of the AT-ε2/ε3 SNNs.

The paper's ε1, ε2, ε3 are 2/255, 4/255 and 8/255; a profile's ``epsilons`` are the budgets a page sweeps, each named by
its value, and a budget the paper does not use has no paper cell. Everything here plans (no training, no attack).
"""

from dataclasses import replace

import pandas as pd
import pytest

from snnconv.book import audit, results
from snnconv.book.published import EPSILON_BUDGETS, published
from snnconv.book.run import Run
from snnconv.book.tables import side_by_side_by_budget
from snnconv.experiment.config import PAPER_BUDGETS, budget_name, epsilon_label
from snnconv.experiment.parameters import resolve
from snnconv.experiment.profiles import PROFILES, ann_config, end_to_end_config, snn_config
from snnconv.storage.plan import planning
from snnconv.storage.store import ArtifactStore, artifact_key


def test_a_budget_is_named_by_its_value():
    assert [budget_name(e) for e in (2 / 255, 4 / 255, 8 / 255, 1 / 255, 16 / 255)] == \
        ["ε1", "ε2", "ε3", "1/255", "16/255"]
    assert float(8) / 255 == PAPER_BUDGETS["ε3"] and budget_name(float("8") / 255) == "ε3"
    assert dict(EPSILON_BUDGETS) == {epsilon_label(value): name for name, value in PAPER_BUDGETS.items()}
    profile = resolve("smoke", epsilons="8,1").profile  # sorted: the sweeps run in ascending ε
    assert profile.epsilons == (1 / 255, 8 / 255)
    assert profile.budgets == (("1/255", 1 / 255), ("ε3", 8 / 255))
    assert [profile.budget(n) for n in ("ε1", "ε2", "ε3")] == [2 / 255, 4 / 255, 8 / 255]  # not in the sweep: still
    with pytest.raises(ValueError, match="ε4"):
        profile.budget("ε4")
    assert "1/255, 8/255 (ε3)" in profile.summary()


def test_training_and_finetuning_budgets_are_the_papers_named_budgets_whatever_epsilons_sweeps():
    settings = resolve("smoke", epsilons="1,8", objectives="natural,at,at_eps2,at_eps3")  # ε2, ε3 need not be swept
    profile = settings.profile
    assert [ann_config(profile, o, 0).epsilon for o in settings.objectives] == [0.0, 2 / 255, 4 / 255, 8 / 255]
    assert snn_config(profile, ann_config(profile, "at_eps3", 0), 0).epsilon == 2 / 255
    assert end_to_end_config(profile, "snn_rat", 0).epsilon == 2 / 255
    assert results.fig2b_epsilon(profile) == 4 / 255


def test_the_default_profiles_stored_keys_stay_those_of_the_store():
    # The published store holds these (needs lists of default and smoke profiles compared before and after as well).
    profile = PROFILES["default"]
    anns = {o: ann_config(profile, o, seed=0) for o in ("at", "at_eps2", "at_eps3")}
    assert {o: artifact_key("ann", c) for o, c in anns.items()} == {
        "at": "62dc22a28963cbca37ea", "at_eps2": "18e4b3b98041af667fe9", "at_eps3": "0699bd598f2e1c70b9be"}
    assert artifact_key("snn", snn_config(profile, anns["at"], 0)) == "b8062491b02cd8dfa0f4"
    assert artifact_key("snn", snn_config(profile, anns["at_eps3"], 0)) == "41c673560c6e72482bc4"


def test_table1_joins_each_row_with_the_paper_cell_of_its_own_budget(tmp_path):
    # The bar of issue 27: -p epsilons "1,8" at the smoke profile; the 8/255 rows meet the paper's ε3 cells (not its
    # ε2 cells, as by position), the 1/255 rows meet none, and the ANNs' AutoAttack keeps its ε3 cell.
    settings = resolve("smoke", epsilons="1,8", objectives="natural,at")
    run = Run(settings, planning(ArtifactStore(tmp_path)), progress=False)
    ours = results.table1_rows(run)
    strongest = audit.strongest_known_rows(run, "table1")
    rows = pd.DataFrame(results.table1_with_strongest(ours, strongest))
    paper = published("table1").query("dataset == 'CIFAR-10'")
    table = side_by_side_by_budget(rows, paper, ["ann_objective", "model", "metric", "attack", "budget"])
    table["epsilon"] = rows["epsilon"].to_numpy()

    def paper_cell(objective: str, model: str, attack: str, epsilon: str) -> float:
        (value,) = table.loc[(table.ann_objective == objective) & (table.model == model) & (table.attack == attack)
                             & (table.epsilon == epsilon), "paper"]
        return value

    assert set(table.budget) == {"", "1/255", "ε3"}
    cells = (("Natural", "FGSM", 15.71), ("Natural", "PGD20", 0.74), ("AT-eps1", "PGD20", 13.18))
    for objective, attack, value in cells:
        assert paper_cell(objective, "snn", attack, "8/255") == value  # the paper's 8/255 = ε3 cell
        assert pd.isna(paper_cell(objective, "snn", attack, "1/255"))  # 1/255: no paper cell
    assert paper_cell("Natural", "ann", "AutoAttack", "8/255") == 0.0
    assert paper_cell("AT-eps1", "ann", "AutoAttack", "8/255") == 16.64
    strongest_rows = table.loc[table.attack == "strongest known"]
    assert set(strongest_rows.budget) == {"ε3"} and strongest_rows.paper.isna().all()  # beyond the paper
    assert table.loc[table.metric == "clean", "paper"].notna().all()


def test_a_page_the_paper_reports_at_one_budget_keeps_it_and_the_sweeps_follow_epsilons(tmp_path):
    settings = resolve("smoke", epsilons="1,8", objectives="at")
    run = Run(settings, planning(ArtifactStore(tmp_path)), progress=False)
    table2 = results.table2_rows(run)
    assert {row["epsilon"] for row in table2 if row["metric"] == "robust"} == {"8/255"}
    fig2 = results.lif_latency_rows(run, neurons=("IF", "LIF"))
    pgd = {(row["neuron"], row["epsilon"]) for row in fig2 if row["attack"].startswith("PGD")}
    assert {e for n, e in pgd if n == "IF"} == {"4/255"}  # Fig. 2b at ε2, though ε2 is not swept
    assert {e for n, e in pgd if n == "LIF"} == {"1/255", "4/255", "8/255"}  # Fig. 2a's curves: the sweep and ε2
    rows = audit.robustness_audit_rows(run)
    assert list(dict.fromkeys(row["budget"] for row in rows)) == ["1/255", "ε3"]
    assert audit.audit_diagnostics(rows)  # the clean row and the largest budget are found by value, not as "ε1"


def test_the_at_eps2_and_eps3_snns_are_finetuned_as_suppl_a2_says_at_the_paper_profile():
    # Suppl. A.2: "For CIFAR-10 experiments with AT-ε2 and AT-ε3, we used α = ε/4", weight decay 5·10⁻⁴ and 10⁻⁴.
    epsilon1 = 2 / 255
    for name, expected in (
        ("paper", {"at": (epsilon1 / 2, 1e-3), "at_eps2": (epsilon1 / 4, 5e-4), "at_eps3": (epsilon1 / 4, 1e-4)}),
        ("default", {"at": (epsilon1 / 2, 1e-3), "at_eps2": (epsilon1 / 2, 1e-3), "at_eps3": (epsilon1 / 2, 1e-3)}),
    ):
        profile = PROFILES[name]
        for objective, (step, weight_decay) in expected.items():
            config = snn_config(profile, ann_config(profile, objective, 0), 0)
            assert (config.step, config.schedule.weight_decay) == pytest.approx((step, weight_decay)), (name, objective)
            assert config.schedule.epochs == profile.snn_schedule.epochs
    # Fig. 1's SNNs go through snn_config with each β, and keep the exception.
    longer = replace(PROFILES["paper"], finetune_trade_off=6.0)
    assert snn_config(longer, ann_config(longer, "at_eps3", 0), 0).schedule.weight_decay == 1e-4
