"""What every result page repeats, one line each in a notebook: parameters, tables, claims, diagnostics, footer.

A result notebook computes its rows in plain sight (:mod:`snnconv.book.results`) and hands them to a
:class:`Page` for rendering:

* :func:`start` checks every parameter before any work (one sentence naming a bad one), sets the torch
  thread count, checks that the data set is there, loads the paper's values and prints the profile;
* :meth:`Page.table` shows the side-by-side table and offers it as CSV;
* :meth:`Page.claim` judges a claim's comparisons as one family by the rule the page stated before the
  numbers (Holm-adjusted exact tests: each comparison for, against or unclear; the claim holds, does not hold
  or is inconclusive, :func:`snnconv.evaluation.statistics.judge`) and shows them with one verdict sentence;
* :meth:`Page.diagnostics` shows the gradient-masking checks (:func:`snnconv.evaluation.diagnostics.diagnose`) as a
  ✓/✗ grid, names every failed check, and keeps the measured values one click away;
* :meth:`Page.footer` says which commits computed the numbers, the papermill command that reproduces the
  page, and the provenance (parameters, software, hardware, wall time);
* :meth:`Page.glue` hands a number or a sentence to the book's prose (MyST-NB glue): the intro and deviations
  pages quote results as ``{glue:text}`results/<page>.ipynb::<key>:.1f``` instead of typing them, so a
  re-run updates the prose too. :meth:`Page.claim` and :meth:`Page.diagnostics` glue their verdict sentences
  when given a ``key``.

Everything renders as plain HTML or Markdown without random ids, so the output is the same in Jupyter, in
the book and in a diff.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"model": ["AT-eps1", "TRADES-eps1"], "difference": [3.25, 1.5], "p_value": [0.001, 0.2]})
    >>> rows, verdict = judged(frame)
    >>> print(verdict_sentence(rows, verdict, "converted SNNs beat the natural one", "SNNs"))
    **The claim is inconclusive at this profile** (converted SNNs beat the natural one): of 2 SNNs, 1 for it, 0 \
against it, 1 unclear (Holm-adjusted over the 2, α = 0.05).
"""

from __future__ import annotations

import base64
import dataclasses
import html
import re
import shlex
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pandas as pd

from snnconv.book.pages import Tables, compute
from snnconv.book.published import published
from snnconv.book.run import Run
from snnconv.book.tables import RESULT_COLUMNS, format_table
from snnconv.evaluation.statistics import ALPHA, EXPECTATIONS, judge
from snnconv.experiment.parameters import Settings, check_injected, fail, resolve
from snnconv.foundations.provenance import Provenance, collect_provenance
from snnconv.storage.store import ArtifactStore

#: How a boolean reads on a page.
MARKS = {True: "✓", False: "✗"}


#: From this magnitude on, a table cell is written in scientific notation with three significant digits.
LARGE = 1e6


def _cell(value: Any, digits: int) -> str:
    if isinstance(value, bool):
        return MARKS[value]
    if isinstance(value, float):
        if pd.isna(value):
            return "—"
        # A fixed number of decimals turns 1e26 (an exploding surrogate gradient) into 27 digits of noise.
        return f"{value:.3g}" if abs(value) >= LARGE else f"{value:.{digits}f}"
    return str(value)


def _p_value(value: Any) -> str:
    # p-values span orders of magnitude: two significant digits instead of two decimals; one below the
    # smallest double (a large sample's tests underflow to 0) is a bound, not zero.
    if isinstance(value, float) and value == 0.0:
        return "< 1e-300"
    return f"{value:.2g}" if isinstance(value, float) else _cell(value, 2)


def html_table(frame: pd.DataFrame, digits: int = 2) -> str:
    """``frame`` as a plain HTML table: no row numbers, booleans as ✓/✗, floats with ``digits`` decimals."""
    flat = frame.reset_index() if any(name is not None for name in frame.index.names) else frame
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in flat.columns)
    formats = [_p_value if column == "p_value" else (lambda v: _cell(v, digits)) for column in flat.columns]
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for fmt, v in zip(formats, row, strict=True)) + "</tr>"
        for row in flat.itertuples(index=False)
    )
    return f'<table class="snnconv-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def csv_link(frame: pd.DataFrame, filename: str) -> str:
    """An HTML link that downloads ``frame`` as ``filename`` (the CSV travels inside the page as a data URI)."""
    payload = base64.b64encode(frame.to_csv(index=False).encode()).decode()
    return (f'<p><a download="{html.escape(filename)}" href="data:text/csv;charset=utf-8;base64,{payload}">'
            f"Download this table as CSV ({html.escape(filename)})</a></p>")


def judged(frame: pd.DataFrame, expects: str = "higher", adjust: bool = True,
           difference: str = "difference") -> tuple[pd.DataFrame, str]:
    """``frame`` (one row per comparison, with A − B in the column ``difference`` and its ``p_value``) with each
    comparison's Holm-adjusted p-value (``p_holm``) and ``status``, and the claim's verdict:
    :func:`snnconv.evaluation.statistics.judge`, the same rule as the claims page's, on one seed."""
    adjusted, statuses, verdict = judge(list(frame[difference]), list(frame["p_value"]), expects, ALPHA, adjust)
    return frame.assign(p_holm=adjusted, status=statuses), verdict


def verdict_sentence(frame: pd.DataFrame, verdict: str, statement: str, unit: str, expects: str = "higher",
                     adjust: bool = True) -> str:
    """One sentence: the claim's verdict (from :func:`judged`) and how many of its comparisons are for it, against
    it or unclear."""
    counts = Counter(frame["status"])
    said = {"holds": "holds", "does not hold": "does not hold", "inconclusive": "is inconclusive"}[verdict]
    family = (f"Holm-adjusted over the {len(frame)}" if adjust and len(frame) > 1 else "each read alone"
              if len(frame) > 1 else "one test")
    if len(frame) == 1:  # "of 1 comparisons" would misname a single test
        status = frame["status"].iloc[0]
        tally = f"its one comparison is {status if status == 'unclear' else f'{status} it'}"
    else:
        tally = (f"of {len(frame)} {unit}, {counts['for']} for it, {counts['against']} against it, "
                 f"{counts['unclear']} unclear")
    sentence = f"**The claim {said} at this profile** ({statement}): {tally} ({family}, α = {ALPHA:g})"
    if not EXPECTATIONS[expects][1]:
        sentence += f"; a claim that A is {expects} B is refuted only by a comparison against it"
    return sentence + "."


def verdict_html(frame: pd.DataFrame, verdict: str, statement: str, unit: str, expects: str = "higher",
                 adjust: bool = True) -> str:
    """:func:`verdict_sentence` as inline HTML, for quoting in the book's prose."""
    return inline_html(verdict_sentence(frame, verdict, statement, unit, expects, adjust))


def inline_html(sentence: str) -> str:
    """A Markdown sentence as inline HTML for the book's prose: escaped, ``**bold**`` and ``*italic*`` kept.

    >>> inline_html("**The claim holds** (*a* < b)")
    '<strong>The claim holds</strong> (<em>a</em> &lt; b)'
    """
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(sentence))
    return re.sub(r"\*(.+?)\*", r"<em>\1</em>", escaped)


def key_name(label: str) -> str:
    """A model or attack label as part of a glue key: ``AT-eps1`` → ``at_eps1``.

    >>> key_name("SNN-RAT (T=8)")
    'snn_rat_t_8'
    """
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def _code_of(commit: str) -> str:
    """"this code", "other code" or "unknown" (uncommitted changes, or no git history to read it from)."""
    from snnconv.storage.revision import code_revision, revision_at, same_code

    revision = revision_at(commit)
    return "unknown" if revision is None else ("this code" if same_code(revision, code_revision()) else "other code")


def _display(*objects: Any) -> None:
    from IPython.display import display

    display(*objects)


def _html(text: str) -> Any:
    from IPython.display import HTML

    return HTML(text)


def _markdown(text: str) -> Any:
    from IPython.display import Markdown

    return Markdown(text)


def papermill_command(notebook: str, parameters: Mapping[str, Any]) -> str:
    """The shell command that re-executes ``notebooks/<notebook>.ipynb`` with these parameters."""
    words = [".venv/bin/papermill", "-k", "python3", f"notebooks/{notebook}.ipynb", f"book/results/{notebook}.ipynb"]
    for name, value in parameters.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            value = ",".join(str(v) for v in value)
        words += ["-p", name, str(value)]
    return " ".join(shlex.quote(word) for word in words)


@dataclasses.dataclass
class Page:
    """One executing result notebook: its name, parameters, settings, the paper's values and provenance."""

    notebook: str
    parameters: dict[str, Any]
    settings: Settings
    paper: pd.DataFrame
    provenance: Provenance
    started: float
    store: ArtifactStore = dataclasses.field(default_factory=ArtifactStore)  # pass it on: its ledger is the cost
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # the page's own parameters (not settings)

    @property
    def context(self) -> Run:
        """The run context of the page's compute (:class:`snnconv.book.run.Run`): settings, store, progress bars on,
        the page's own parameters."""
        return Run(self.settings, self.store, True, self.extra)

    def compute(self) -> Tables:
        """Every table this page shows, by name (:func:`snnconv.book.pages.compute`): its models and verdicts loaded
        from the store, or computed. A notebook calls it once; the command line and the workflow call the same
        function."""
        return compute(self.notebook, self.context)

    def table(self, table: pd.DataFrame) -> None:
        """Show a ``side_by_side`` table (ours, paper, difference, interval) and offer it as CSV."""
        _display(_html(html_table(format_table(table))))
        numbers = table.copy()
        percentages = [c for c in RESULT_COLUMNS if c != "n"]
        numbers[percentages] = numbers[percentages].round(4)
        _display(_html(csv_link(numbers, f"{self.notebook}.csv")))

    def show(self, frame: pd.DataFrame, digits: int = 2, download: str | None = None) -> None:
        """Show any table the page computed, rendered like every other table of the book; with ``download`` (a
        file name) also offer it as CSV."""
        _display(_html(html_table(frame, digits)))
        if download is not None:
            _display(_html(csv_link(frame, download)))

    def glue(self, key: str, value: Any) -> None:
        """Make ``value`` quotable from the book's prose under ``key`` (not shown on this page).

        A number is glued as a plain float (the prose picks the format, e.g. ``:.1f``), a string as inline HTML
        (quoted with the ``{glue}`` role).
        """
        from myst_nb import glue

        if not re.fullmatch(r"[a-z0-9_]+", key):
            raise ValueError(f"glue key {key!r}: use lower-case letters, digits and _ (see page.key_name).")
        if isinstance(value, str):
            glue(key, _html(value), display=False)
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"glue {key!r}: a number or a sentence, not {type(value).__name__}")
        else:
            glue(key, float(value), display=False)

    def glue_accuracies(self, rows: pd.DataFrame, *columns: str) -> None:
        """Glue every row's accuracy (%) under the key formed by its ``columns``, e.g. ``AT-eps1``, ``PGD20``, ``ε3`` →
        ``at_eps1_pgd20_eps3``; an empty cell (a clean row's attack) reads ``clean``."""
        for _, row in rows.iterrows():
            key = "_".join(key_name(str(row[c]).replace("ε", "eps") or "clean") for c in columns)
            self.glue(key, 100.0 * row["correct"] / row["n"])

    def say(self, sentence: str, key: str | None = None) -> None:
        """Show a sentence the page computed (Markdown, ``**bold**`` and ``*italic*``); glue it as ``key`` if given."""
        _display(_markdown(sentence))
        if key is not None:
            self.glue(key, inline_html(sentence))

    def claim(self, frame: pd.DataFrame, statement: str, unit: str = "comparisons", expects: str = "higher",
              adjust: bool = True, key: str | None = None, difference: str = "difference") -> pd.DataFrame:
        """Judge a claim's comparisons as one family (:func:`judged`: A − B per row, ``expects`` what the claim says
        of it), show them with their adjusted p-values and statuses and the verdict sentence; glue the sentence as
        ``key`` if given; ``difference`` names the column that holds A − B. Returns the judged rows."""
        rows, verdict = judged(frame, expects, adjust, difference)
        _display(_html(html_table(rows)))
        _display(_markdown(verdict_sentence(rows, verdict, statement, unit, expects, adjust)))
        if key is not None:
            self.glue(key, verdict_html(rows, verdict, statement, unit, expects, adjust))
        return rows

    def diagnostics(self, rows: list[dict], key: str | None = None) -> None:
        """Show :func:`snnconv.evaluation.diagnostics.diagnose` rows (with a ``model`` key) as a ✓/✗ grid, checks ×
        models; glue the summary sentence as ``key`` if given."""
        frame = pd.DataFrame(rows)
        checks, models = list(dict.fromkeys(frame.check)), list(dict.fromkeys(frame.model))
        grid = frame.pivot(index="check", columns="model", values="passed").reindex(index=checks, columns=models)
        _display(_html(html_table(grid.map(lambda v: "" if pd.isna(v) else MARKS[bool(v)]))))
        failed = frame.loc[~frame.passed.astype(bool)]
        if len(failed):
            items = "\n".join(f"- {row.model}: {row.check} ({row.value})" for row in failed.itertuples())
            _display(_markdown(f"**{len(failed)} of {len(frame)} diagnostics failed:**\n\n{items}"))
            summary = (f"<strong>{len(failed)} of {len(frame)} diagnostics failed</strong>: "
                       + "; ".join(html.escape(f"{row.model}: {row.check}") for row in failed.itertuples()))
        else:
            summary = f"<strong>All {len(frame)} diagnostics passed</strong> for {len(models)} models"
            _display(_markdown(f"**All {len(frame)} diagnostics passed** for {len(models)} models."))
        if key is not None:
            self.glue(key, summary)
        values = frame.pivot(index="check", columns="model", values="value").reindex(index=checks, columns=models)
        _display(_html(f"<details><summary>Measured values</summary>{html_table(values.fillna(''))}</details>"))

    def footer(self, ours: pd.DataFrame | None = None) -> Provenance:
        """The commits that computed the rows of ``ours``, the reproducing command and the provenance."""
        if ours is not None and {"commit", "seconds"} <= set(ours.columns):
            computed = ours.groupby("commit", sort=False).agg(cells=("n", "size"), attack_seconds=("seconds", "sum"))
            computed["code"] = [_code_of(commit) for commit in computed.index]
            _display(_markdown("Attack verdicts computed (or loaded from the artifact store) by the code at "
                               "(*code*: whether that commit's numerical code is the running code's):"))
            _display(_html(html_table(computed, digits=1)))
        cold = self.store.cold_seconds()
        if self.store.ledger:
            listed = ", ".join(f"{n} {kind}" for kind, n in Counter(kind for kind, _ in self.store.ledger).items())
            _display(_markdown(f"**Cold cost of this page:** {cold / 60:.1f} min — the recorded compute time of every "
                               f"stored artifact it used ({listed}), whether this run computed or loaded them; "
                               f"each artifact's record names the machine that computed it."))
            self.glue("cold_minutes", cold / 60)
        if self.store.stale:
            reasons = "; ".join(sorted(set(self.store.stale.values())))
            _display(_markdown(
                f"**{len(self.store.stale)} of the {len(self.store.ledger)} stored artifacts behind this page were not "
                f"computed by the code that is running from the models now stored** ({reasons}); their "
                f"numbers may differ from what this code would compute. `python -m snnconv store --stale` lists them; "
                f"delete them to recompute."))
        command = papermill_command(self.notebook, self.parameters)
        _display(_markdown(f"Reproduce this page from the repository root (after `make setup`):\n\n```bash\n"
                           f"{command}\n```"))
        return dataclasses.replace(self.provenance, wall_time_s=time.time() - self.started)


def start(notebook: str, published_table: str, paper_dataset: str | None = None,
          extra: Mapping[str, Any] | None = None, **parameters: Any) -> Page:
    """Check the notebook's parameters, prepare the run and load the paper's values of ``published_table``.

    ``extra`` holds the page's own parameters (already checked by the page, e.g. the claims page's ``seeds``):
    they are not profile settings but belong in the reproducing command and the provenance.

    Raises :class:`~snnconv.experiment.parameters.ParameterError` — before any training or attack — for a bad parameter
    or a papermill ``-p`` name that the notebook's ``parameters`` cell does not declare,
    and :class:`~snnconv.datasets.data.DatasetMissingError` when the profile's data set is not on disk.
    """
    from snnconv.book.subjects import prepare

    started = time.time()
    check_injected()  # papermill only warns about an unknown -p name and runs with the default
    settings = resolve(**parameters)
    paper = published(published_table)
    if "dataset" in paper.columns:
        if paper_dataset not in set(paper.dataset):
            raise fail("paper_dataset", paper_dataset, f"one of {sorted(set(paper.dataset))}")
        paper = paper.loc[paper.dataset == paper_dataset]
    # threads; a missing data set fails here, not after an hour of training
    store = prepare(Run(settings, ArtifactStore())).store
    arguments = {**parameters, **(extra or {}), "paper_dataset": paper_dataset}
    provenance = collect_provenance(arguments, settings.profile.name, 0.0)  # the code as it starts
    print(settings.profile.summary())
    return Page(notebook, arguments, settings, paper, provenance, started, store, dict(extra or {}))
