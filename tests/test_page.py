"""The page helper that every result notebook calls, and the notebooks as stored sources."""

import base64
import json
import math
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from snnconv.book import page
from snnconv.evaluation import statistics
from snnconv.experiment.parameters import ParameterError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_html_table_has_no_row_numbers_and_marks_booleans():
    frame = pd.DataFrame({"model": ["AT-eps1", "MART-eps1"], "difference": [3.256, -1.0], "holds": [True, False]})
    text = page.html_table(frame)
    assert "<th>model</th><th>difference</th><th>holds</th>" in text
    assert "<td>3.26</td>" in text and "<td>✓</td>" in text and "<td>✗</td>" in text
    assert "True" not in text and "<th></th>" not in text and "<td>0</td>" not in text


def test_html_table_writes_p_values_with_two_significant_digits_and_an_underflow_as_a_bound():
    text = page.html_table(pd.DataFrame({"p_value": [0.012345, 3.1e-23, 0.0]}))
    assert "<td>0.012</td>" in text and "<td>3.1e-23</td>" in text
    assert "<td>&lt; 1e-300</td>" in text and "<td>0</td>" not in text


def test_html_table_writes_huge_values_in_scientific_notation():
    text = page.html_table(pd.DataFrame({"gradient norm": [3.4567e26, 999999.0, 1.5]}), digits=4)
    assert "<td>3.46e+26</td>" in text and "<td>999999.0000</td>" in text and "<td>1.5000</td>" in text


def test_html_table_keeps_named_index_levels_as_columns():
    grid = pd.DataFrame({"check": ["a"], "AT": [True]}).set_index("check")
    assert "<th>check</th><th>AT</th>" in page.html_table(grid)


def test_csv_link_carries_the_table():
    frame = pd.DataFrame({"attack": ["PGD20"], "ours": [71.2]})
    link = page.csv_link(frame, "table1_conversion.csv")
    payload = re.search(r'href="data:text/csv;charset=utf-8;base64,([^"]+)"', link).group(1)
    assert base64.b64decode(payload).decode() == "attack,ours\nPGD20,71.2\n"
    assert 'download="table1_conversion.csv"' in link


def test_papermill_command_reproduces_the_given_parameters():
    command = page.papermill_command("table1_conversion", {"profile": "smoke", "dataset": None,
                                                           "objectives": "natural,at", "seed": 3,
                                                           "paper_dataset": "CIFAR-10"})
    words = shlex.split(command)
    assert words[:5] == [".venv/bin/papermill", "-k", "python3", "notebooks/table1_conversion.ipynb",
                         "book/results/table1_conversion.ipynb"]
    assert words[5:] == ["-p", "profile", "smoke", "-p", "objectives", "natural,at", "-p", "seed", "3",
                         "-p", "paper_dataset", "CIFAR-10"]  # None means "the profile's value": left out


def test_a_page_claim_is_judged_by_holm_over_its_comparisons():
    # Hand-computed Holm: sorted p 0.004, 0.02, 0.03 times 3, 2, 1 -> 0.012, 0.04, 0.04 (running maximum).
    frame = pd.DataFrame({"difference": [2.0, 1.0, 3.0], "p_value": [0.02, 0.03, 0.004]})
    rows, verdict = page.judged(frame)
    assert rows.p_holm.tolist() == pytest.approx([0.04, 0.04, 0.012])
    assert rows.status.tolist() == ["for", "for", "for"] and verdict == "holds"
    sentence = page.verdict_sentence(rows, verdict, "X beats Y", "SNNs")
    assert sentence == ("**The claim holds at this profile** (X beats Y): of 3 SNNs, 3 for it, 0 against it, "
                        "0 unclear (Holm-adjusted over the 3, α = 0.05).")
    # A single comparison is named as one, not as "1 SNNs".
    single, verdict = page.judged(pd.DataFrame({"difference": [-2.0], "p_value": [0.001]}))
    assert page.verdict_sentence(single, verdict, "X beats Y", "SNNs") == (
        "**The claim does not hold at this profile** (X beats Y): its one comparison is against it (one test, "
        "α = 0.05).")
    # Each p-value alone is below 0.05, but four of them at 0.03 are not after Holm: no longer shown.
    marginal, verdict = page.judged(pd.DataFrame({"difference": [1.0] * 4, "p_value": [0.03] * 4}))
    assert set(marginal.status) == {"unclear"} and verdict == "inconclusive"
    assert page.verdict_sentence(marginal, verdict, "X beats Y", "SNNs").startswith(
        "**The claim is inconclusive at this profile**")
    alone, verdict = page.judged(pd.DataFrame({"difference": [1.0] * 4, "p_value": [0.03] * 4}), adjust=False)
    assert set(alone.status) == {"for"} and verdict == "holds"
    # One measurable difference the wrong way refutes a claim, strict or not.
    against = pd.DataFrame({"difference": [2.0, -3.0], "p_value": [0.001, 0.001]})
    assert page.judged(against)[1] == "does not hold"
    assert page.judged(against, expects="at least")[1] == "does not hold"
    assert page.judged(against, expects="lower")[1] == "does not hold"
    # A non-strict claim without a measurable difference the wrong way holds, and the sentence says why.
    rows, verdict = page.judged(pd.DataFrame({"difference": [-0.5, 0.4], "p_value": [0.7, 0.8]}), expects="at most")
    assert verdict == "holds"
    assert "refuted only by a comparison against it" in page.verdict_sentence(rows, verdict, "A ≤ B", "pairs",
                                                                             expects="at most")
    assert page.judged(pd.DataFrame({"difference": [], "p_value": []}))[1] == "inconclusive"
    with pytest.raises(ValueError, match="expects='bigger'"):
        page.judged(frame, expects="bigger")


def test_a_claims_familywise_error_stays_at_alpha_in_both_directions_by_simulation():
    # Under "A equals B" in every comparison, p-values are uniform; the sign of each difference is a coin. Any
    # comparison called for or against is an error: the rule must keep the chance of one at most α per claim.
    rng = np.random.default_rng(5)
    families, size = 4000, 6
    errors = 0
    for _ in range(families):
        _, statuses, _ = statistics.judge(list(rng.choice([-1.0, 1.0], size)), list(rng.uniform(size=size)))
        errors += any(s != "unclear" for s in statuses)
    assert errors / families <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / families)
    # Without the adjustment the same rule errs in about 1 - 0.95^6 = 26 % of the claims.
    unadjusted = sum(any(s != "unclear" for s in statistics.judge([1.0] * size, list(rng.uniform(size=size)),
                                                                  adjust=False)[1]) for _ in range(families))
    assert unadjusted / families > 0.2


def test_start_rejects_an_unknown_paper_dataset_in_one_sentence():
    with pytest.raises(ParameterError, match=r"^Parameter paper_dataset='MNIST' is not allowed: one of \['CIFAR-10'"):
        page.start("table1_conversion", "table1", paper_dataset="MNIST", profile="smoke")


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_are_stored_as_clean_sources(notebook):
    content = json.loads(notebook.read_text())
    code = [cell for cell in content["cells"] if cell["cell_type"] == "code"]
    assert all(cell["outputs"] == [] and cell["execution_count"] is None for cell in code), "stored with outputs"
    assert "parameters" in code[0]["metadata"].get("tags", []), "the first code cell holds the parameters"
    source = "".join("".join(cell["source"]) for cell in code)
    assert f'page.start(\n    "{notebook.stem}"' in source, "the page names itself for its CSV and papermill command"
    # Every result page offers its main table as CSV: a side-by-side table (run.table) or run.show(download=…).
    assert "run.footer(" in source and ("run.table(" in source or "download=" in source)


def test_no_script_writes_the_notebooks():
    scripts = [path for folder in ("snnconv", "tools", "tests") for path in (ROOT / folder).rglob("*.py")]
    writers = [path.relative_to(ROOT) for path in scripts if re.search(r"nbformat\.write|nbf\.write", path.read_text())]
    assert writers == []
