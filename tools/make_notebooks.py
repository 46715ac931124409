"""Write the result notebooks under notebooks/ (stored without outputs). Re-run after editing a cell here.

All notebooks share one parameters cell (profile first; every other parameter overrides the profile),
one set-up cell that validates the parameters before any work, and one provenance ending.
"""

import textwrap
from pathlib import Path

import nbformat as nbf

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


class Builder:
    def __init__(self) -> None:
        self.cells: list = []

    def md(self, text: str) -> None:
        self.cells.append(nbf.v4.new_markdown_cell(textwrap.dedent(text).strip()))

    def code(self, text: str, **kw) -> None:
        self.cells.append(nbf.v4.new_code_cell(textwrap.dedent(text).strip(), **kw))

    def write(self, name: str) -> None:
        nb = nbf.v4.new_notebook(cells=self.cells)
        for index, cell in enumerate(nb.cells):
            cell.id = f"{name}-{index}"  # stable ids: regenerating a notebook changes only what changed
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.metadata["language_info"] = {"name": "python"}
        (NOTEBOOKS / f"{name}.ipynb").write_text(nbf.writes(nb))


def parameters_and_setup(nb: Builder, objectives: str, table: str) -> None:
    nb.code(f"""
import os

profile = os.environ.get("SNNCONV_PROFILE", "default")  # smoke | default | paper
dataset = None  # None: the profile's dataset (fashion_mnist or cifar10)
arch = None  # None: the profile's network (vgg_small or vgg11)
objectives = "{objectives}"  # baseline-ANN training objectives
epsilons = None  # ε1,ε2,ε3 in /255 units, e.g. "2,4,8"; None: the profile's
time_steps = None  # T; None: 8
n_test = None  # test images evaluated; None: the profile's
train_subset = None  # training images used; None: the profile's
ann_epochs = None
snn_epochs = None
beta = None  # β of the finetuning objective (Eq. 9); None: 2
seed = 0
threads = None  # torch threads; None: all cores
paper_dataset = "CIFAR-10"  # which published rows to compare with
""", metadata={"tags": ["parameters"]})
    nb.code(f"""
%matplotlib inline
import dataclasses
import time

import pandas as pd
from IPython.display import Markdown, display

from snnconv import experiments, report, results

pd.set_option("display.max_rows", 200)  # show every row of the side-by-side tables
started = time.time()
parameters = dict(profile=profile, dataset=dataset, arch=arch, objectives=objectives, epsilons=epsilons,
                  time_steps=time_steps, n_test=n_test, train_subset=train_subset, ann_epochs=ann_epochs,
                  snn_epochs=snn_epochs, beta=beta, seed=seed, threads=threads)
# Every parameter is checked here, before any training or attack starts.
settings = experiments.table1_settings(**parameters)
provenance = report.collect_provenance(parameters, settings.profile.name, 0.0)  # the code as it starts
paper = report.published("{table}")
if "dataset" in paper and paper_dataset not in set(paper.dataset):
    raise experiments.ParameterError(
        f"Parameter paper_dataset={{paper_dataset!r}} is not allowed: one of {{sorted(set(paper.dataset))}}.")
used = settings.profile
print(f"profile={{used.name}}: {{used.dataset}} / {{used.arch}}, T={{used.time_steps}}, "
      f"ε={{', '.join(f'{{e:g}}/255' for e in used.epsilons)}}, n_test={{used.n_test}}, "
      f"train images={{used.train_subset or 'all'}}, ANN epochs={{used.ann_schedule.epochs}}, "
      f"SNN epochs={{used.snn_schedule.epochs}}")
""")


def provenance_ending(nb: Builder) -> None:
    nb.md("""
## Where the numbers come from

The attack verdicts above were computed — or loaded from the artifact store — by the code at the commits
listed here, with the seconds they took; the provenance footer below describes this run of the notebook.
""")
    nb.code("""
computed = ours.groupby("commit").agg(cells=("n", "size"), attack_seconds=("seconds", "sum"))
display(computed)
dataclasses.replace(provenance, wall_time_s=time.time() - started)
""", metadata={"tags": ["hide-input"]})


def table1() -> None:
    nb = Builder()
    md, code = nb.md, nb.code
    md("""
    # Table 1 — Converting robust ANNs into robust SNNs

    Paper claim (Sec. 5.1, Table 1): SNNs converted from adversarially trained ANNs (AT, TRADES, MART at
    $\\epsilon_1$) and then robustly finetuned (Eqs. 9–10) are far more robust than the SNN converted from a
    naturally trained ANN, under white-box **ensemble** attacks over 19 surrogate-gradient members, at
    $\\epsilon_1, \\epsilon_2, \\epsilon_3$. Each row below: the baseline ANN's clean and $\\epsilon_3$-AutoAttack
    accuracy, then the converted SNN's clean accuracy and ensemble FGSM / PGD²⁰ accuracy.

    **How to read it.** *paper* is the published value for the same objective (CIFAR-10 / VGG11 by default:
    the paper has no Fashion-MNIST rows, so at the default profile the comparison is qualitative — the
    *pattern* across objectives is what should reproduce, not the numbers). *ours* carries a 95 % Wilson
    interval over the evaluated test images. Parameters, commit and hardware are in the provenance footer.
    """)

    parameters_and_setup(nb, "natural,at,trades,mart", "table1")
    md("""
    ## Compute

    Models and attack verdicts are loaded from the artifact store when they exist for exactly these
    parameters, and trained or attacked otherwise (progress bars go to stderr).
    """)

    code("""
    ours = pd.DataFrame(results.table1_rows(settings))
    keys = ["ann_objective", "model", "metric", "attack", "budget"]
    reference = paper.loc[paper.dataset == paper_dataset].assign(budget=lambda d: d.epsilon.map(report.budget_of))
    table = report.side_by_side(ours, reference, on=keys)
    table.insert(len(keys), "epsilon", ours["epsilon"].values)
    """)

    md("""
    ## Table 1, ours beside the paper

    Budgets are matched by name ($\\epsilon_1, \\epsilon_2, \\epsilon_3$); the *epsilon* column gives ours.
    """)

    code("""
    report.format_table(table)
    """, metadata={"tags": ["full-width", "hide-input"]})

    md("""
    ## The paper's first claim

    *SNNs converted from AT / TRADES / MART ANNs are more robust to $\\epsilon_3$ ensemble PGD²⁰ than the
    SNN converted from the naturally trained ANN.* Below: each SNN's $\\epsilon_3$-PGD²⁰ accuracy minus the
    natural one's, with a 95 % Newcombe interval for the difference; *better* means the whole interval is
    above zero.
    """)

    code("""
    last = f"ε{len(used.epsilons)}"
    pgd = ours.loc[(ours.model == "snn") & (ours.attack == f"PGD{used.pgd_steps}") & (ours.budget == last)]
    if "Natural" in set(pgd.ann_objective) and len(pgd) > 1:
        claim = report.compare_with_baseline(pgd, "ann_objective", "Natural")
        display(claim.round(2))
        verdict = "holds" if claim.better.all() else "does NOT hold"
        display(Markdown(f"**At this profile the claim {verdict}** for "
                         f"{int(claim.better.sum())} of {len(claim)} robust objectives "
                         f"(n = {int(pgd.n.iloc[0])} test images)."))
    else:
        print("The claim needs the natural objective and at least one robust one in `objectives`.")
    """, metadata={"tags": ["hide-input"]})

    md("""
    ## Gradient-masking checks

    What this table can check by itself: the iterative attack is never weaker than the single-step one, and
    accuracy never rises with the budget. A failed check is shown, not hidden (transfer and query-based
    checks belong to the adaptive-evaluation pages).
    """)

    code("""
    report.masking_checks(ours)
    """, metadata={"tags": ["hide-input"]})

    md("""
    Measured beside the table, for each SNN: the input gradient through the training surrogate is not
    zero, uniform noise at $\\epsilon_3$ hurts far less than the attack, and the same ensemble PGD at an
    unbounded budget (64/255) drives accuracy to about zero.
    """)

    code("""
    diagnostics = pd.DataFrame(results.masking_diagnostics_rows(settings))
    display(diagnostics)
    failed = int((~diagnostics.passed).sum())
    display(Markdown(f"**{failed} diagnostic(s) failed.**" if failed else "**All diagnostics passed.**"))
    """, metadata={"tags": ["hide-input"]})

    md("""
    ## Robust accuracy against the perturbation budget
    """)

    code("""
    snn = table.loc[(table.model == "snn") & (table.metric == "robust")]
    report.plot_side_by_side(snn, x=["attack", "budget"], hue="ann_objective")
    """, metadata={"tags": ["hide-input"]})

    diagnostics_section(nb, "converted_snn_diagnostics", "PGD²⁰ images crafted on each SNN's baseline ANN")
    provenance_ending(nb)
    nb.write("table1_conversion")


def vanilla_versus_ensemble() -> None:
    nb = Builder()
    nb.md("""
    # Tables B3/B4 — Attacks with the training surrogate only overestimate SNN robustness

    Paper claim (Suppl. B.2, Tables B3/B4): a PGD²⁰ attack through the surrogate the SNN was finetuned with
    (*vanilla*: triangular, $\\gamma_w = 1$) leaves far more test images correctly classified than the
    adaptive ensemble over 19 surrogate members; the SNNs' ensemble accuracy is below their ANNs' PGD²⁰
    accuracy. All attacks at $\\epsilon_3$. The models are Table 1's, shared through the artifact store.
    """)
    parameters_and_setup(nb, "at,trades,mart", "tableB3_B4")
    nb.md("""
    ## Compute
    """)
    nb.code("""
    ours = pd.DataFrame(results.vanilla_versus_ensemble_rows(settings))
    keys = ["ann_objective", "model", "metric", "attack"]
    table = report.side_by_side(ours, paper.loc[paper.dataset == paper_dataset], on=keys)
    """)
    nb.md("""
    ## Tables B3/B4, ours beside the paper
    """)
    nb.code("""
    report.format_table(table)
    """, metadata={"tags": ["full-width", "hide-input"]})
    nb.md("""
    ## The claim: ensemble ≤ vanilla for every SNN

    Ensemble accuracy minus vanilla accuracy for each SNN, with a 95 % Newcombe interval (conservative: both
    are measured on the same images). *ensemble ≤ vanilla* compares the measured accuracies;
    *measurably stronger* means the whole interval lies below zero.
    """)
    nb.code("""
    snn = ours.loc[ours.model == "snn"]
    rows = []
    for objective, group in snn.groupby("ann_objective", sort=False):
        pair = group.loc[group.attack.str.endswith(("_vanilla", "_ensemble"))]
        if len(pair) == 2:
            rows.append(report.compare_with_baseline(pair, "attack", pair.attack.iloc[0]).assign(
                ann_objective=objective))
    claim = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    if len(claim):
        vanilla = [c for c in claim.columns if c.endswith("_vanilla")][0]
        claim = claim.rename(columns={"accuracy": "ensemble", vanilla: "vanilla"})
        claim["ensemble ≤ vanilla"] = claim.difference <= 0
        claim["measurably stronger"] = claim.ci_high < 0
        display(claim[["ann_objective", "vanilla", "ensemble", "difference", "ci_low", "ci_high",
                       "ensemble ≤ vanilla", "measurably stronger"]].round(2))
        verdict = "holds" if claim["ensemble ≤ vanilla"].all() else "does NOT hold"
        display(Markdown(f"**At this profile the claim {verdict}** for "
                         f"{int(claim['ensemble ≤ vanilla'].sum())} of {len(claim)} SNNs."))
    """, metadata={"tags": ["hide-input"]})
    nb.code("""
    report.plot_side_by_side(table.loc[table.metric == "robust"], x=["model", "attack"], hue="ann_objective")
    """, metadata={"tags": ["hide-input"]})
    diagnostics_section(nb, "converted_snn_diagnostics", "PGD²⁰ images crafted on each SNN's baseline ANN")
    provenance_ending(nb)
    nb.write("tableB3_vanilla_vs_ensemble")


def surrogate_members() -> None:
    nb = Builder()
    nb.md("""
    # Table B2 — FGSM through each surrogate member alone

    Paper claim (Suppl. B.2, Table B2): the success of an attack on an SNN depends on the surrogate
    gradient the adversary uses; no single member is as strong as the ensemble, and the strongest member
    differs between models. Each SNN of Table 1 is attacked with $\\epsilon_3$-FGSM through each of the 19
    members on every clean-correct test image (no early exit between members). The paper's values are
    CIFAR-10 / VGG11.
    """)
    parameters_and_setup(nb, "natural,at,trades,mart", "tableB2")
    nb.md("""
    ## Compute
    """)
    nb.code("""
    ours = pd.DataFrame(results.surrogate_member_rows(settings)).rename(columns={"family": "surrogate_family"})
    table = report.side_by_side(ours, paper, on=["model", "surrogate_family", "parameters"])
    """)
    nb.md("""
    ## Table B2, ours beside the paper
    """)
    nb.code("""
    report.format_table(table)
    """, metadata={"tags": ["full-width", "hide-input"]})
    nb.md("""
    ## The claim: the strongest single member is weaker than the ensemble

    For each SNN: the lowest accuracy any single member reaches, minus the ensemble's accuracy, with a 95 %
    Newcombe interval. The ensemble is at least as strong by construction (a sample is robust only if every
    member fails); the question is by how much.
    """)
    nb.code("""
    rows = []
    for model, group in ours.groupby("model", sort=False):
        members = group.loc[~group.member.isin(["clean", "ensemble"])]
        strongest = members.loc[members.correct.idxmin()]
        ensemble = group.loc[group.member == "ensemble"].iloc[0]
        low, high = report.difference_interval(int(strongest.correct), int(strongest.n),
                                               int(ensemble.correct), int(ensemble.n))
        rows.append({"model": model, "strongest member": strongest.member,
                     "member": 100 * strongest.correct / strongest.n, "ensemble": 100 * ensemble.correct / ensemble.n,
                     "difference": 100 * (strongest.correct - ensemble.correct) / ensemble.n,
                     "ci_low": low, "ci_high": high, "ensemble stronger": strongest.correct > ensemble.correct})
    claim = pd.DataFrame(rows)
    display(claim.round(2))
    verdict = "holds" if claim["ensemble stronger"].all() else "does NOT hold"
    display(Markdown(f"**At this profile the claim {verdict}** for {int(claim['ensemble stronger'].sum())} "
                     f"of {len(claim)} SNNs."))
    """, metadata={"tags": ["hide-input"]})
    nb.code("""
    members = table.loc[~table.surrogate_family.isin(["clean"])]
    report.plot_side_by_side(members, x=["surrogate_family", "parameters"], hue="model")
    """, metadata={"tags": ["hide-input"]})
    diagnostics_section(nb, "converted_snn_diagnostics", "PGD²⁰ images crafted on each SNN's baseline ANN")
    provenance_ending(nb)
    nb.write("tableB2_surrogate_members")


def ann_robustness() -> None:
    nb = Builder()
    nb.md("""
    # Table A1 — How robust are the baseline ANNs?

    Paper (Suppl. A.2, Table A1): the baseline ANNs under FGSM, PGD¹⁰, PGD⁵⁰, APGD-CE, the query-based
    Square attack (5000 queries) and AutoAttack, all at $\\epsilon_3$ (PGD step $2.5\\epsilon/k$). Iterative
    attacks must beat FGSM, AutoAttack must be the strongest, and the black-box Square attack must not beat
    the white-box ones — otherwise the ANN's gradients are masked. The ε1 ANNs are Table 1's; AT-ε2 and
    AT-ε3 are trained with standard AT at $\\epsilon_2$ and $\\epsilon_3$. APGD-CE runs 100 iterations and
    Square is `snnconv`'s own implementation (see the method page).
    """)
    parameters_and_setup(nb, "natural,at,trades,mart,at_eps2,at_eps3", "tableA1")
    nb.md("""
    ## Compute
    """)
    nb.code("""
    ours = pd.DataFrame(results.ann_robustness_rows(settings))
    keys = ["ann_objective", "metric", "attack"]
    table = report.side_by_side(ours, paper.loc[paper.dataset == paper_dataset], on=keys)
    """)
    nb.md("""
    ## Table A1, ours beside the paper
    """)
    nb.code("""
    report.format_table(table)
    """, metadata={"tags": ["full-width", "hide-input"]})
    nb.md("""
    ## Gradient-masking checks

    For each ANN: AutoAttack must be at least as strong as every other attack, each iterative attack at
    least as strong as FGSM, and the black-box Square attack must not beat the white-box APGD-CE. As on the
    diagnostics of the SNN pages, an ordering allows one point of slack (a one- or two-image inversion on a
    finite sample is not evidence of masking); the accuracies are shown so the margins can be read.
    """)
    nb.code("""
    robust = ours.loc[ours.metric == "robust"].assign(accuracy=lambda d: 100 * d.correct / d.n)
    accuracy = robust.pivot_table(index="ann_objective", columns="attack", values="accuracy", sort=False)
    slack = 1.0
    checks = pd.DataFrame({
        "AutoAttack strongest": accuracy["AutoAttack"] <= accuracy.min(axis=1) + slack,
        "PGD ≤ FGSM": accuracy.filter(like="PGD").max(axis=1) <= accuracy["FGSM"] + slack,
        "white-box APGD-CE ≤ Square": accuracy["APGD-CE"] <= accuracy["Square"] + slack,
    })
    display(accuracy.round(2))
    display(checks)
    failed = int((~checks).sum().sum())
    display(Markdown(f"**{failed} check(s) failed.**" if failed else "**All checks passed.**"))
    """, metadata={"tags": ["hide-input"]})
    nb.code("""
    report.plot_side_by_side(table.loc[table.metric == "robust"], x="attack", hue="ann_objective")
    """, metadata={"tags": ["hide-input"]})
    diagnostics_section(nb, "ann_diagnostics",
                        "PGD²⁰ images crafted on the natural ANN, or on the AT-ε1 ANN for the natural one")
    provenance_ending(nb)
    nb.write("tableA1_ann_robustness")


def extended_setup(nb: Builder) -> None:
    nb.code("""
    print(f"adaptive evaluation: first {used.n_test_extended} test images, APGD {used.apgd_steps} steps, "
          f"Square up to {max(used.square_queries)} queries, unbounded budget {used.unbounded:g}/255")
    """)


def diagnostics_section(nb: Builder, function: str, sources: str) -> None:
    nb.md(f"""
    ## Gradient-masking diagnostics

    For every model on this page, from real attack runs on the profile's first `n_test_extended` test
    images (1,000 at the default profile; Carlini et al. 2019):
    the input gradient is not zero; uniform noise at $\\epsilon_3$ hurts far less than the attack and keeps
    most of the clean accuracy; the ensemble PGD at an unbounded budget drives accuracy to about zero; the
    iterative attack beats FGSM; accuracy falls as $\\epsilon$ grows; the white-box attack beats a transfer
    attack ({sources}); the query-based Square attack does not beat the white-box ensemble. Orderings
    allow one point of slack. A failed check is flagged here, not hidden.
    """)
    nb.code(f"""
    diagnostics = pd.DataFrame(results.{function}(settings))
    checks, models = list(diagnostics.check.unique()), list(diagnostics.model.unique())
    display(diagnostics.pivot(index="check", columns="model", values="passed").loc[checks, models])
    failed = diagnostics.loc[~diagnostics.passed]
    display(Markdown(f"**{{len(failed)}} diagnostic(s) failed:** " + "; ".join(failed.model + ": " + failed.check)
                     if len(failed) else "**All diagnostics passed.**"))
    display(diagnostics.pivot(index="check", columns="model", values="value").loc[checks, models])
    """, metadata={"tags": ["hide-input"]})


def table2_versus_snn_rat() -> None:
    nb = Builder()
    nb.md("""
    # Table 2 — Converted SNNs against SNN-RAT under eight ensemble attacks

    Paper claim (Sec. 5.2, Table 2): SNNs converted from AT / TRADES / MART ANNs ($\\epsilon_1$) and robustly
    finetuned are both more accurate and more robust than SNN-RAT — an SNN adversarially trained end to end
    through time with a Parseval (orthogonality) constraint — under every attack at $\\epsilon_3$: FGSM,
    RFGSM, PGD⁷ ($\\eta = 0.01$), PGD²⁰, PGD⁴⁰, APGD-DLR, APGD-CE and targeted APGD over 9 target classes.
    Every attack is an ensemble over the 19 surrogate-gradient members (a sample is robust only if no
    member fools it).

    **Our T-APGD-CE row** runs targeted APGD with the targeted **DLR** loss, as the authors' code does
    (the paper's name says CE; authors' notes §9.6). APGD runs the authors' default number of steps
    (10 at the default profile). **SNN-RAT** is trained by snnconv through the same training loop and
    artifact store (BPTT at T = 8, CE on RFGSM images at $\\epsilon_1$, Parseval retraction β = 5·10⁻⁴
    after each step, $V_{th} = 1$ fixed, the ANN baselines' schedule) — not loaded from the published
    checkpoint, which is CIFAR-10 only.
    """)
    parameters_and_setup(nb, "at,trades,mart", "table2")
    extended_setup(nb)
    nb.md("""
    ## Compute
    """)
    nb.code("""
    ours = pd.DataFrame(results.table2_rows(settings)).rename(columns={"model": "method"})
    keys = ["method", "metric", "attack"]
    table = report.side_by_side(ours, paper.loc[paper.dataset == paper_dataset], on=keys)
    """)
    nb.md("""
    ## Table 2, ours beside the paper
    """)
    nb.code("""
    report.format_table(table)
    """, metadata={"tags": ["full-width", "hide-input"]})
    nb.md("""
    ## The claim: every converted SNN is more robust than SNN-RAT under every attack

    Each converted SNN's accuracy minus SNN-RAT's, per attack, with a 95 % Newcombe interval;
    *better* means the whole interval lies above zero.
    """)
    nb.code("""
    rows = []
    for attack, group in ours.groupby("attack", sort=False):
        if "SNN-RAT" in set(group.method) and len(group) > 1:
            rows.append(report.compare_with_baseline(group, "method", "SNN-RAT").assign(attack=attack or "clean"))
    claim = pd.concat(rows, ignore_index=True)
    order, methods = list(claim.attack.unique()), list(claim.method.unique())
    for values in ("difference", "better"):
        display(claim.pivot(index="attack", columns="method", values=values).loc[order, methods].round(2))
    robust = claim.loc[claim.attack != "clean"]
    verdict = "holds" if (robust.difference > 0).all() else "does NOT hold"
    display(Markdown(f"**At this profile the claim {verdict}**: the converted SNNs are more robust than SNN-RAT "
                     f"in {int((robust.difference > 0).sum())} of {len(robust)} (model, attack) pairs, measurably "
                     f"(interval above 0) in {int(robust.better.sum())}; n = {int(ours.n.iloc[0])} test images."))
    """, metadata={"tags": ["hide-input"]})
    nb.code("""
    report.plot_side_by_side(table.loc[table.metric == "robust"], x="attack", hue="method")
    """, metadata={"tags": ["hide-input"]})
    diagnostics_section(nb, "table2_diagnostics",
                        "PGD²⁰ images crafted on the AT-ε1 ANN for SNN-RAT, on each SNN's own baseline ANN otherwise")
    provenance_ending(nb)
    nb.write("table2_vs_snnrat")


def transfer() -> None:
    nb = Builder()
    nb.md("""
    # Table B1 — White-box attacks beat transfer attacks

    Paper (Suppl. B.1, Table B1): adversarial images crafted with PGD²⁰ on another model succeed less often
    than the white-box ensemble PGD²⁰ on the SNN itself — so the white-box numbers are the binding ones.
    *WB*: the ensemble attack on the SNN. *BB_SNN*: ensemble PGD²⁰ images crafted on a second SNN converted
    from the same baseline ANN and calibrated and finetuned with another seed (as the authors' code does).
    *BB_ANN*: PGD²⁰ images crafted on the SNN's own baseline ANN. Budgets $\\epsilon_1$ and $\\epsilon_3$.
    For each image the ensemble transfers the first member's image that fooled the source SNN, else the
    last member's attempt.
    """)
    parameters_and_setup(nb, "natural,at,trades,mart", "tableB1")
    extended_setup(nb)
    nb.md("""
    ## Compute
    """)
    nb.code("""
    ours = pd.DataFrame(results.transfer_rows(settings)).rename(columns={"model": "ann_objective"})
    ours["metric"] = ours.setting.map(lambda s: "clean" if s == "clean" else "robust")
    keys = ["ann_objective", "metric", "setting", "budget"]
    reference = paper.loc[paper.dataset == paper_dataset].assign(budget=lambda d: d.epsilon.map(report.budget_of))
    table = report.side_by_side(ours, reference, on=keys)
    table.insert(len(keys), "epsilon", ours["epsilon"].values)
    """)
    nb.md("""
    ## Table B1, ours beside the paper
    """)
    nb.code("""
    report.format_table(table)
    """, metadata={"tags": ["full-width", "hide-input"]})
    nb.md("""
    ## The claim: the white-box attack is the strongest

    For each SNN and budget: white-box accuracy minus each transfer accuracy, with a 95 % Newcombe interval.
    *WB ≤ transfer* compares the measured accuracies; *measurably stronger* means the interval lies below 0.
    """)
    nb.code("""
    rows = []
    attacked = ours.loc[ours.setting != "clean"]
    for (objective, budget), group in attacked.groupby(["ann_objective", "budget"], sort=False):
        for setting in ("BB_SNN", "BB_ANN"):
            pair = group.loc[group.setting.isin([setting, "WB"])]
            compared = report.compare_with_baseline(pair, "setting", setting)
            rows.append(compared.assign(ann_objective=objective, budget=budget, transfer=setting))
    claim = pd.concat(rows, ignore_index=True)
    claim["WB ≤ transfer"] = claim.difference <= 0
    claim["measurably stronger"] = claim.ci_high < 0
    display(claim[["ann_objective", "budget", "transfer", "difference", "ci_low", "ci_high", "WB ≤ transfer",
                   "measurably stronger"]].round(2))
    verdict = "holds" if claim["WB ≤ transfer"].all() else "does NOT hold"
    display(Markdown(f"**At this profile the claim {verdict}** in {int(claim['WB ≤ transfer'].sum())} of "
                     f"{len(claim)} comparisons."))
    """, metadata={"tags": ["hide-input"]})
    nb.code("""
    report.plot_side_by_side(table.loc[table.metric == "robust"], x=["budget", "setting"], hue="ann_objective")
    """, metadata={"tags": ["hide-input"]})
    diagnostics_section(nb, "converted_snn_diagnostics", "PGD²⁰ images crafted on each SNN's baseline ANN")
    provenance_ending(nb)
    nb.write("tableB1_transfer")


def square_queries() -> None:
    nb = Builder()
    nb.md("""
    # Fig. 4 — Square attack: accuracy against the number of queries

    Paper (Sec. 5.4, Fig. 4): under the query-based black-box Square attack, the converted SNN (AT-$\\epsilon_1$)
    keeps more accuracy than SNN-RAT at 5000 queries (CIFAR-10: 50.2 vs 46.3), and beyond about 1000
    queries the baseline ANN is less robust than the SNNs. Four models: the AT-$\\epsilon_1$ baseline ANN,
    an end-to-end vanilla SNN (BPTT, natural loss), SNN-RAT, and ours. The paper does not state the
    budget; we use $\\epsilon_3$. One Square run per model with the largest query budget gives every smaller
    budget: an image counts as robust at $q$ queries if it was not yet misclassified after $q$ queries
    (the window-size schedule is the largest budget's). Only the published 5000-query values exist as
    numbers; the rest of the paper's figure is a plot.
    """)
    parameters_and_setup(nb, "at", "text_values")
    extended_setup(nb)
    nb.md("""
    ## Compute
    """)
    nb.code("""
    ours = pd.DataFrame(results.square_rows(settings))
    ours["accuracy"] = 100 * ours.correct / ours.n
    figure = paper.loc[paper.artifact.str.startswith("Fig. 4") & paper.quantity.str.startswith("robust accuracy")]
    figure = figure.assign(dataset=figure.condition.str.split(" ").str[0],
                           model=figure.condition.str.split("; ").str[2], queries=5000)
    """)
    nb.md("""
    ## Accuracy against queries
    """)
    nb.code("""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for model, group in ours.groupby("model", sort=False):
        low, high = zip(*(report.wilson_interval(int(c), int(n)) for c, n in zip(group.correct, group.n)))
        line, = ax.plot(group.queries, group.accuracy, marker="o", label=model)
        ax.fill_between(group.queries, low, high, color=line.get_color(), alpha=0.15)
    for _, row in figure.loc[figure.dataset == paper_dataset].iterrows():
        ax.scatter([row.queries], [row.published], marker="x", s=60, color="black")
        ax.annotate(f"paper, {paper_dataset}: {row.model}", (row.queries, row.published), textcoords="offset points",
                    xytext=(-175, -3), fontsize=8)
    ax.set(xscale="log", xlabel="Square-attack queries", ylabel="robust accuracy (%)",
           title=f"{used.dataset}, ε = {used.epsilons[-1]:g}/255 (ours: lines with 95 % Wilson bands)")
    ax.legend()
    plt.show()
    """, metadata={"tags": ["hide-input"]})
    nb.code("""
    curve = ours.pivot(index="queries", columns="model", values="accuracy")
    display(curve.round(2))
    """, metadata={"tags": ["hide-input"]})
    nb.md("""
    ## The claims

    1. At the largest budget our SNN (AT-$\\epsilon_1$) is more robust than SNN-RAT (paper, 5000 queries:
       50.2 vs 46.3 on CIFAR-10). 2. From about 1000 queries on, the baseline ANN is less robust than our SNN.
    Differences carry 95 % Newcombe intervals (*better*: the whole interval above zero).
    """)
    nb.code("""
    last = ours.loc[ours.queries == ours.queries.max()]
    first = report.compare_with_baseline(last.loc[last.model.isin(["Ours (AT-eps1)", "SNN-RAT"])], "model", "SNN-RAT")
    display(first.round(2))
    display(figure[["dataset", "model", "queries", "value"]].rename(columns={"value": "paper"}))
    late = ours.loc[ours.queries >= min(1000, ours.queries.max())]  # small profiles stop before 1000
    second = pd.concat([report.compare_with_baseline(g.loc[g.model.isin(["Ours (AT-eps1)", "ANN (AT-eps1)"])],
                                                     "model", "ANN (AT-eps1)").assign(queries=q)
                        for q, g in late.groupby("queries")], ignore_index=True)
    display(second.round(2))
    for name, result in (("ours > SNN-RAT at the largest budget", first), ("ours > ANN from 1000 queries", second)):
        holds = bool((result.difference > 0).all())
        display(Markdown(f"**{name}: {'holds' if holds else 'does NOT hold'}** "
                         f"({int(result.better.sum())} of {len(result)} measurably)."))
    """, metadata={"tags": ["hide-input"]})
    diagnostics_section(nb, "square_diagnostics",
                        "for the ANN, ensemble PGD²⁰ images crafted on our SNN converted from it; for the "
                        "vanilla SNN, PGD²⁰ images of the natural ANN; otherwise of the AT-ε1 ANN")
    provenance_ending(nb)
    nb.write("fig4_square_queries")


if __name__ == "__main__":
    table1()
    vanilla_versus_ensemble()
    surrogate_members()
    ann_robustness()
    table2_versus_snn_rat()
    transfer()
    square_queries()
