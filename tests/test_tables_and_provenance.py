"""Published values, Wilson and Newcombe intervals, side-by-side tables, plots and provenance."""

from __future__ import annotations

import io
import math
import re
import subprocess
import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")  # why: tests run headless; the module itself never touches pyplot's backend

from matplotlib.figure import Figure  # noqa: E402

from snnconv.book import plots, published, tables  # noqa: E402
from snnconv.evaluation import statistics  # noqa: E402
from snnconv.foundations import provenance  # noqa: E402

# --------------------------------------------------------------------------------------------------
# published


def test_published_tables_lists_every_shipped_csv() -> None:
    tables = published.published_tables()
    assert {"table1", "table2", "fig2b", "tableA1", "tableB1", "tableB3_B4", "tableB7", "text_values"} <= set(
        tables
    )


def test_published_keeps_strings_and_adds_float() -> None:
    table = published.published("table1")
    assert len(table) == 108
    natural_clean = table[
        (table.ann_objective == "Natural") & (table.model == "ann") & (table.metric == "clean")
    ]
    row = natural_clean.iloc[0]
    assert row["value"] == "95.10"  # trailing zero kept: the printed string
    assert row["attack"] == "" and row["epsilon"] == ""  # clean rows: empty, not NaN
    assert row["published"] == pytest.approx(95.10)
    assert table["published"].dtype == np.float64
    for column in table.columns.drop("published"):
        assert all(isinstance(v, str) for v in table[column]), column


def test_published_keeps_numeric_looking_keys_as_strings() -> None:
    fig2b = published.published("fig2b")
    assert set(fig2b["T"]) == {"8", "30"}


@pytest.mark.parametrize("table", ["table3", "../pyproject", "README"])
def test_published_unknown_table_names_allowed(table: str) -> None:
    with pytest.raises(ValueError, match="table1") as error:
        published.published(table)
    assert repr(table) in str(error.value)


def test_budget_of() -> None:
    assert published.budget_of("2/255") == "ε1"
    assert published.budget_of("4/255") == "ε2"
    assert published.budget_of("8/255") == "ε3"
    assert published.budget_of("") == ""
    assert published.budget_of(float("nan")) == ""
    assert published.budget_of("16/255") == "16/255"  # a new budget keeps its own name
    assert dict(published.EPSILON_BUDGETS) == {"2/255": "ε1", "4/255": "ε2", "8/255": "ε3"}


# --------------------------------------------------------------------------------------------------
# wilson_interval


def test_wilson_half() -> None:
    low, high = statistics.wilson_interval(50, 100)
    assert low == pytest.approx(40.38, abs=0.01)
    assert high == pytest.approx(59.62, abs=0.01)


def test_wilson_zero_correct() -> None:
    # By hand: centre = (0 + 1.96²/20) / (1 + 1.96²/10) = 0.13877, half = 1.96/1.38416 · sqrt(1.96²/400).
    low, high = statistics.wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(27.75, abs=0.01)


def test_wilson_all_correct_mirrors_zero() -> None:
    low, high = statistics.wilson_interval(10, 10)
    assert high == 100.0
    assert low == pytest.approx(72.25, abs=0.01)


def test_wilson_contains_estimate_and_shrinks_with_n() -> None:
    small = statistics.wilson_interval(712, 1000)
    large = statistics.wilson_interval(7120, 10000)
    assert small[0] < 71.2 < small[1]
    assert large[1] - large[0] < small[1] - small[0]


def test_wilson_wider_for_larger_z() -> None:
    narrow = statistics.wilson_interval(30, 100, z=1.0)
    wide = statistics.wilson_interval(30, 100, z=2.576)
    assert wide[0] < narrow[0] and wide[1] > narrow[1]


def test_wilson_accepts_numpy_ints() -> None:
    assert statistics.wilson_interval(np.int64(50), np.int64(100)) == statistics.wilson_interval(50, 100)


@pytest.mark.parametrize(
    ("correct", "n", "z", "word"),
    [(0, 0, 1.96, "n="), (5, -1, 1.96, "n="), (11, 10, 1.96, "correct="), (-1, 10, 1.96, "correct="),
     (2.5, 10, 1.96, "correct="), (1, 10, 0.0, "z="), (1, 10, float("nan"), "z=")],
)  # fmt: skip
def test_wilson_rejects_bad_input(correct: float, n: int, z: float, word: str) -> None:
    with pytest.raises(ValueError, match=re.escape(word)):
        statistics.wilson_interval(correct, n, z)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# side_by_side and format_table


@pytest.fixture
def paper() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "objective": ["AT", "AT", "AT", "TRADES"],
            "attack": ["", "FGSM", "PGD20", "PGD20"],
            "epsilon": ["", "8/255", "8/255", "8/255"],
            "value": ["90.00", "40.50", "13.18", "19.65"],
            "published": [90.0, 40.5, 13.18, 19.65],
        }
    )


@pytest.fixture
def ours() -> pd.DataFrame:
    # Deliberately out of paper order, with a clean row whose keys are missing (None/NaN) and a cell
    # ("MART") that the paper does not have.
    return pd.DataFrame(
        {
            "objective": ["AT", "MART", "AT"],
            "attack": ["PGD20", "PGD20", None],
            "epsilon": ["8/255", "8/255", np.nan],
            "correct": [150, 5, 912],
            "n": [1000, 10, 1000],
        }
    )


def test_side_by_side_columns_and_order(ours: pd.DataFrame, paper: pd.DataFrame) -> None:
    table = tables.side_by_side(ours, paper, on=["objective", "attack", "epsilon"])
    assert list(table.columns) == [
        "objective", "attack", "epsilon", "paper", "ours", "difference", "ci_low", "ci_high", "n",
    ]  # fmt: skip
    assert table["objective"].tolist() == ["AT", "MART", "AT"]  # order of ours, not of the paper
    assert table["paper"].iloc[0] == pytest.approx(13.18)
    assert math.isnan(table["paper"].iloc[1])  # MART: not in the paper
    assert table["paper"].iloc[2] == pytest.approx(90.0)  # missing attack/epsilon match clean rows
    assert table["ours"].tolist() == pytest.approx([15.0, 50.0, 91.2])
    assert table["difference"].iloc[0] == pytest.approx(15.0 - 13.18)
    assert math.isnan(table["difference"].iloc[1])
    assert table["n"].tolist() == [1000, 10, 1000]
    for row in table.itertuples():
        assert (row.ci_low, row.ci_high) == pytest.approx(
            statistics.wilson_interval(round(row.ours * row.n / 100), row.n)
        )
        assert row.ci_low <= row.ours <= row.ci_high


def test_side_by_side_keeps_index_independent(ours: pd.DataFrame, paper: pd.DataFrame) -> None:
    shuffled = ours.set_axis([10, 3, 7])
    table = tables.side_by_side(shuffled, paper, on=["objective", "attack", "epsilon"])
    assert table.index.tolist() == [0, 1, 2]
    assert table["ours"].tolist() == pytest.approx([15.0, 50.0, 91.2])


def test_side_by_side_matches_integral_float_keys() -> None:
    paper = pd.DataFrame({"T": ["8", "30"], "published": [50.0, 60.0]})
    ours = pd.DataFrame({"T": [30.0, 8], "correct": [6, 5], "n": [10, 10]})
    table = tables.side_by_side(ours, paper, on=["T"])
    assert table["paper"].tolist() == [60.0, 50.0]


def test_side_by_side_on_real_paper_table() -> None:
    paper = published.published("table1")
    keys = ["dataset", "architecture", "ann_objective", "model", "metric", "attack", "epsilon"]
    ours = paper.loc[paper.model == "snn", keys].head(3).assign(correct=[9000, 500, 100], n=10000)
    table = tables.side_by_side(ours, paper, on=keys)
    assert table["paper"].tolist() == paper.loc[paper.model == "snn", "published"].head(3).tolist()


def test_side_by_side_rejects_ambiguous_keys(ours: pd.DataFrame, paper: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="does not identify one paper cell"):
        tables.side_by_side(ours, paper, on=["attack"])


def test_side_by_side_rejects_missing_columns(ours: pd.DataFrame, paper: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="ours lacks"):
        tables.side_by_side(ours.drop(columns="n"), paper, on=["objective", "attack", "epsilon"])
    with pytest.raises(ValueError, match="paper lacks"):
        tables.side_by_side(ours, paper.drop(columns="published"), on=["objective", "attack", "epsilon"])


def test_side_by_side_rejects_bad_counts(ours: pd.DataFrame, paper: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="correct="):
        tables.side_by_side(ours.assign(correct=[1, 11, 1]), paper, on=["objective", "attack", "epsilon"])
    with pytest.raises(ValueError, match="n="):
        tables.side_by_side(ours.assign(n=[0, 10, 10]), paper, on=["objective", "attack", "epsilon"])


def test_format_table_inline(ours: pd.DataFrame, paper: pd.DataFrame) -> None:
    shown = tables.format_table(tables.side_by_side(ours, paper, on=["objective", "attack", "epsilon"]))
    assert shown.index.names == ["objective", "attack", "epsilon"]
    assert list(shown.columns) == ["paper", "ours [95% CI]", "ours − paper", "n"]
    first = shown.iloc[0]
    assert first["paper"] == "13.18"
    assert re.fullmatch(r"15\.00 \[\d+\.\d, \d+\.\d\]", first["ours [95% CI]"])
    assert first["ours − paper"] == "+1.82"
    assert first["n"] == "1000"
    assert shown.iloc[1]["paper"] == "—" and shown.iloc[1]["ours − paper"] == "—"
    assert shown.iloc[2]["ours − paper"] == "+1.20"
    assert shown.index[2] == ("AT", "", "")  # missing keys display as the paper's empty cell


def test_format_table_negative_difference_is_signed() -> None:
    paper = pd.DataFrame({"attack": ["FGSM"], "published": [50.0]})
    ours = pd.DataFrame({"attack": ["FGSM"], "correct": [496], "n": [1000]})
    shown = tables.format_table(tables.side_by_side(ours, paper, on=["attack"]))
    assert shown.iloc[0]["ours − paper"] == "-0.40"


def test_format_table_columns_mode(ours: pd.DataFrame, paper: pd.DataFrame) -> None:
    table = tables.side_by_side(ours, paper, on=["objective", "attack", "epsilon"])
    shown = tables.format_table(table, ci="columns", digits=1)
    assert list(shown.columns) == ["paper", "ours", "95% CI low", "95% CI high", "ours − paper", "n"]
    assert shown.iloc[0]["ours"] == "15.0"
    assert shown.iloc[0]["95% CI low"] == f"{table.ci_low.iloc[0]:.1f}"
    with pytest.raises(ValueError, match="ci="):
        tables.format_table(table, ci="bars")


def test_format_table_level_follows_z(ours: pd.DataFrame, paper: pd.DataFrame) -> None:
    table = tables.side_by_side(ours, paper, on=["objective", "attack", "epsilon"], z=2.576)
    assert "ours [99% CI]" in tables.format_table(table).columns


# --------------------------------------------------------------------------------------------------
# plot_side_by_side


def _points(figure: Figure, gid: str) -> int:
    return sum(len(line.get_xdata()) for ax in figure.axes for line in ax.lines if line.get_gid() == gid)


def test_plot_returns_figure_with_one_point_per_row(ours: pd.DataFrame, paper: pd.DataFrame) -> None:
    table = tables.side_by_side(ours, paper, on=["objective", "attack", "epsilon"])
    figure = plots.plot_side_by_side(table, x="attack", hue="objective")
    assert isinstance(figure, Figure)
    assert _points(figure, "ours") == 3
    assert _points(figure, "paper") == 2  # MART has no published value
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["PGD20", "clean"]
    assert ax.get_ylabel() == "accuracy (%)"
    from matplotlib.legend import Legend

    legends = [a for a in ax.artists if isinstance(a, Legend)] + [ax.get_legend()]
    texts = [[t.get_text() for t in legend.get_texts()] for legend in legends]
    assert texts == [["ours (95% CI)", "paper"], ["AT", "MART"]]
    assert ax.get_legend().get_title().get_text() == "objective"
    figure.savefig(io.BytesIO(), format="png")  # renders without pyplot


def test_plot_into_given_axes_without_hue(ours: pd.DataFrame, paper: pd.DataFrame) -> None:
    table = tables.side_by_side(ours, paper, on=["objective", "attack", "epsilon"])
    figure = Figure()
    ax = figure.add_subplot()
    assert plots.plot_side_by_side(table, x=["objective", "attack"], ax=ax) is figure
    assert _points(figure, "ours") == 3
    assert len(ax.get_xticks()) == 3


def test_plot_rejects_unknown_column(ours: pd.DataFrame, paper: pd.DataFrame) -> None:
    table = tables.side_by_side(ours, paper, on=["objective", "attack", "epsilon"])
    with pytest.raises(ValueError, match="dataset"):
        plots.plot_side_by_side(table, x="dataset")


# --------------------------------------------------------------------------------------------------
# provenance


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0.0 s"), (4.24, "4.2 s"), (59.94, "59.9 s"), (60, "1 min 0 s"), (723, "12 min 3 s"),
     (723.4, "12 min 3 s"), (3725, "1 h 2 min 5 s")],
)  # fmt: skip
def test_format_duration(seconds: float, text: str) -> None:
    assert provenance.format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [-1, float("nan"), float("inf")])
def test_format_duration_rejects(seconds: float) -> None:
    with pytest.raises(ValueError, match="seconds="):
        provenance.format_duration(seconds)


@pytest.fixture(scope="module", name="provenance_record")
def _provenance_record() -> provenance.Provenance:
    return provenance.collect_provenance({"epochs": 1, "attack": "PGD20", "epsilon": "8/255"}, "smoke", 723.0)


def test_provenance_commit_is_hex_or_unknown(provenance_record: provenance.Provenance) -> None:
    assert re.fullmatch(r"([0-9a-f]{40}|unknown)(\+dirty)?", provenance_record.commit)


def test_provenance_environment(provenance_record: provenance.Provenance) -> None:
    assert provenance_record.python.endswith(".".join(map(str, sys.version_info[:3])))
    assert set(provenance_record.packages) == set(provenance.PROVENANCE_PACKAGES)
    assert provenance_record.packages["pandas"] == pd.__version__
    assert provenance_record.logical_cores is None or provenance_record.logical_cores >= 1
    assert provenance_record.ram_bytes is None or provenance_record.ram_bytes > 2**20
    assert provenance_record.cpu and provenance_record.gpu
    assert provenance_record.date.endswith("+00:00")


def test_provenance_is_frozen(provenance_record: provenance.Provenance) -> None:
    with pytest.raises(AttributeError):
        provenance_record.profile = "paper"  # type: ignore[misc]
    with pytest.raises(TypeError):
        provenance_record.parameters["epochs"] = 2  # type: ignore[index]


def test_provenance_markdown(provenance_record: provenance.Provenance) -> None:
    text = provenance_record.to_markdown()
    assert text.startswith("### Provenance")
    for row in ("| epochs | `1` |", "| attack | `PGD20` |", "| epsilon | `8/255` |", "| profile | `smoke` |"):
        assert row in text
    assert "| wall time | 12 min 3 s |" in text
    assert provenance_record.commit in text
    assert "torch" in text and "GPU" in text
    assert provenance_record._repr_markdown_() == text


def test_provenance_markdown_escapes_pipes() -> None:
    record = provenance.Provenance(
        commit="unknown", date="2024-01-01T00:00:00+00:00", python="CPython 3.11.7", platform="Linux",
        packages={"torch": "not installed"}, cpu="x", logical_cores=2, torch_threads=None, ram_bytes=None,
        gpu="none", parameters={"members": "a|b"}, profile="smoke", wall_time_s=1.0,
    )  # fmt: skip
    assert "| members | `a\\|b` |" in record.to_markdown()
    assert record.to_dict()["parameters"] == {"members": "a|b"}


def test_provenance_rejects_bad_wall_time() -> None:
    with pytest.raises(ValueError, match="wall_time_s="):
        provenance.collect_provenance({}, "smoke", -1.0)


def test_commit_unknown_outside_git(tmp_path) -> None:
    assert provenance._git_commit(tmp_path) == "unknown"


def test_commit_of_a_git_checkout(tmp_path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    try:
        git("init", "-q")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not available")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "init")
    (tmp_path / "tracked.txt").write_text("a")
    git("add", "tracked.txt")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "file")
    clean = provenance._git_commit(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{40}", clean)
    (tmp_path / "untracked.txt").write_text("b")
    assert provenance._git_commit(tmp_path) == clean  # untracked files do not make a checkout dirty
    (tmp_path / "tracked.txt").write_text("changed")
    assert provenance._git_commit(tmp_path) == clean + "+dirty"


def test_import_is_light() -> None:
    # Measured against the package's own import, so this checks the rendering modules and not snnconv/__init__.py.
    code = (
        "import sys, snnconv; before = set(sys.modules); "
        "import snnconv.book.published, snnconv.evaluation.statistics, snnconv.book.tables, "
        "snnconv.foundations.provenance; "
        "print(sorted({m.split('.')[0] for m in set(sys.modules) - before} & {'torch', 'matplotlib'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_difference_interval_matches_newcombe_worked_example():
    # Newcombe (1998), Table II example (56/70 vs 48/80): difference 0.2, 95% CI 0.0524 to 0.3339.
    low, high = statistics.difference_interval(56, 70, 48, 80)
    assert low == pytest.approx(5.24, abs=0.01)
    assert high == pytest.approx(33.39, abs=0.01)


def test_difference_interval_is_antisymmetric():
    low, high = statistics.difference_interval(30, 100, 60, 100)
    back_low, back_high = statistics.difference_interval(60, 100, 30, 100)
    assert (low, high) == pytest.approx((-back_high, -back_low))


def _verdicts(both: int, only_a: int, only_b: int, neither: int) -> tuple[list[bool], list[bool]]:
    """Per-image verdicts of two attacks (or models) from the four cells of their 2×2 table."""
    a = [True] * both + [True] * only_a + [False] * only_b + [False] * neither
    b = [True] * both + [False] * only_a + [True] * only_b + [False] * neither
    return a, b


def test_paired_comparison_matches_a_hand_computed_table():
    # 100 images: 90 right under both, 8 only under A, 2 only under B. Difference (8 − 2) / 100 = 6 points.
    # Exact McNemar: 2 · P(X ≤ 2), X ~ Bin(10, 1/2) = 2 · (1 + 10 + 45) / 1024 = 0.109375.
    # The interval is Tango's score interval of the table (its equations: tests/test_paired_interval.py); the old
    # conditional one, (10/100)(2π − 1) over Clopper–Pearson of 8/10, ended at 9.50, below what 8 − 2 of 100 allows.
    c = statistics.paired_comparison(*_verdicts(90, 8, 2, 0))
    assert (c.n, c.only_a, c.only_b) == (100, 8, 2)
    assert c.difference == pytest.approx(6.0)
    assert c.p_value == pytest.approx(112 / 1024)
    assert (c.ci_low, c.ci_high) == pytest.approx(statistics.score_interval(8, 2, 100))
    assert c.ci_low < 0 < c.difference < 9.5 < c.ci_high


def test_paired_interval_is_narrower_than_the_unpaired_one_on_correlated_verdicts():
    # Two strong attacks that fail on almost the same images: 1000 images, 600 survive both, 30 survive only A,
    # 10 only B. The pairing removes the 960 concordant images from the uncertainty.
    a, b = _verdicts(600, 30, 10, 360)
    paired = statistics.paired_comparison(a, b)
    low, high = statistics.difference_interval(sum(a), len(a), sum(b), len(b))
    assert paired.difference == pytest.approx(100 * (sum(a) - sum(b)) / len(a))
    assert paired.ci_high - paired.ci_low < 0.5 * (high - low)
    assert paired.ci_low > 0 > low  # measurable only when the pairing is used
    assert paired.p_value < 0.01


def test_paired_comparison_without_discordant_images_is_zero_with_an_interval_around_it():
    c = statistics.paired_comparison(*_verdicts(5, 0, 0, 5))
    assert (c.difference, c.p_value) == (0.0, 1.0)
    assert c.ci_low == pytest.approx(-c.ci_high) and c.ci_high > 10  # ten images cannot show a difference of 0
    with pytest.raises(ValueError, match="one length"):
        statistics.paired_comparison([True, False], [True])


def test_compare_with_baseline_is_paired_and_flags_only_intervals_above_zero():
    natural, at = _verdicts(100, 0, 500, 400)  # natural right on 100, AT on 600, AT ⊇ natural
    ours = pd.DataFrame({"objective": ["Natural", "AT", "Same"], "robust": [natural, at, natural]})
    table = statistics.compare_with_baseline(ours, "objective", "Natural").set_index("objective")
    assert table.loc["AT", "difference"] == pytest.approx(50.0)
    assert table.loc["AT", "Natural"] == pytest.approx(10.0)
    assert bool(table.loc["AT", "better"]) and not bool(table.loc["Same", "better"])
    assert table.loc["Same", "p_value"] == 1.0
    with pytest.raises(ValueError, match="exactly one row"):
        statistics.compare_with_baseline(ours, "objective", "Missing")


def test_paired_dispatches_on_the_kind_of_per_image_series_and_rows_flag_only_intervals_above_zero():
    verdicts = statistics.paired(*_verdicts(600, 30, 10, 360))
    assert isinstance(verdicts, statistics.PairedComparison)
    row = verdicts.row("A", "B", higher="A higher")
    assert list(row) == ["A", "B", "difference", "ci_low", "ci_high", "p_value", "A higher"]
    assert (row["A"], row["B"]) == pytest.approx((63.0, 61.0)) and row["A higher"]
    counts = statistics.paired([3.0, 5.0, 4.0, 6.0], [1.0, 2.0, 4.0, 7.0])
    assert isinstance(counts, statistics.PairedDifference)
    assert counts.difference == pytest.approx(1.0)
    assert not counts.row("A", "B", higher="A higher")["A higher"]  # the t interval straddles zero
    assert "A higher" not in counts.row("A", "B")
