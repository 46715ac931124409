"""The cluster path: page plans, the command line and the Snakemake workflow over the artifact store."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from snnconv import cli
from snnconv.book import audit, claims, masking, pages, results, retests, standard, subjects
from snnconv.experiment.parameters import ParameterError
from snnconv.storage import pipeline, published_store
from snnconv.storage.plan import planning
from snnconv.storage.store import ArtifactStore

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


#: The book's modules whose functions that take the run context (snnconv.book.run.Run) ask for models and verdicts.
BOOK_MODULES = {"results": results, "audit": audit, "masking": masking, "claims": claims, "retests": retests,
                "standard": standard, "subjects": subjects}


def _notebook_code(page: str) -> str:
    notebook = json.loads((ROOT / "notebooks" / f"{page}.ipynb").read_text())
    return "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")


def _asks_for_models(source: str) -> set[str]:
    """The book functions that ``source`` calls with the run context: the calls that load, compute or plan
    artifacts."""
    called = set(re.findall(r"\b(results|audit|masking|claims|retests|standard|subjects)\.(\w+)\(", source))
    imported = {(module, name.strip().split(" as ")[0])
                for module, names in re.findall(r"from snnconv\.book\.(\w+) import ([^\n]+)", source)
                if module in BOOK_MODULES for name in names.split(",")}
    return {f"{module}.{name}" for module, name in called | imported
            if inspect.isfunction(function := getattr(BOOK_MODULES[module], name, None))
            and "run" in inspect.signature(function).parameters}


def test_the_check_sees_a_notebook_asking_for_models_itself():
    assert _asks_for_models("ours = results.table1_rows(run.context)") == {"results.table1_rows"}
    assert _asks_for_models("from snnconv.book.audit import square_only_rows") == {"audit.square_only_rows"}
    assert not _asks_for_models("verdicts = claims.verdicts(rows)")  # renders rows: no run context


@pytest.mark.parametrize("page", list(pages.PAGES))
def test_each_notebook_computes_in_one_line_through_its_page_compute(page):
    code = _notebook_code(page)
    assert code.count("run.compute()") == 1, f"{page}: the notebook must call run.compute() exactly once"
    assert not _asks_for_models(code), f"{page}: the notebook asks for models itself: {_asks_for_models(code)}"
    compute = inspect.getsource(pages.PAGES[page])
    assert _asks_for_models(compute), f"{page}: its compute asks for nothing"
    # Every table the notebook reads is one its compute returns.
    shown, returned = set(re.findall(r'computed\["(\w+)"\]', code)), set(re.findall(r'"(\w+)": ', compute))
    assert shown and shown <= returned, f"{page}: the notebook reads {shown - returned}, which its compute lacks"


def test_every_notebook_is_a_page():
    assert set(pages.PAGES) == {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}


def test_page_parameters_are_the_notebooks_and_unknown_names_fail():
    assert pages.defaults("tableB1_transfer")["transfer_resisted"] == "highest_loss"
    assert pages.parameters("fig3_spike_counts", {"seed": 2})["seed"] == 2
    with pytest.raises(ParameterError, match="eps is not a parameter of table1_conversion.*epsilons"):
        pages.parameters("table1_conversion", {"eps": 8})


def test_a_plan_trains_nothing_and_reads_no_data(tmp_path, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("planning must not train, attack or load data")

    for name in ("ensure_ann", "ensure_snn", "ensure_end_to_end", "ensure_evaluation", "dataset"):
        monkeypatch.setattr(subjects, name, forbidden)
    monkeypatch.setattr(pipeline, "dataset", forbidden)
    store = cli.plan_page("table2_vs_snnrat", {"profile": "paper"}, ArtifactStore(tmp_path))  # no CIFAR-10 here
    needs = list(store.plan.needs.values())
    kinds = {n.kind for n in needs}
    assert kinds == {"ann", "snn", "end_to_end", "evaluation"} and not any(n.stored for n in needs)
    snn = next(n for n in needs if n.kind == "snn")
    assert snn.after and snn.after[0].startswith("ann/")
    assert all(n.after for n in needs if n.kind == "evaluation")
    assert not list(tmp_path.rglob("*.json"))


def _cli(*args: str, store: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SNNCONV_STORE": str(store), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "snnconv", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=600)


def test_command_line_plans_computes_one_stage_verifies_imports_and_exports(tmp_path):
    store, other, published = tmp_path / "store", tmp_path / "other", tmp_path / "published"
    listed = _cli("needs", "fig3_spike_counts", "-p", "profile", "smoke", "--json", store=store)
    assert listed.returncode == 0, listed.stderr
    needs = json.loads(listed.stdout)
    ann = next(n for n in needs if n["kind"] == "ann")
    assert {n["status"] for n in needs} == {"missing"}
    computed = _cli("compute", "fig3_spike_counts", "-p", "profile", "smoke", "--only", ann["id"], store=store)
    assert computed.returncode == 0, computed.stderr
    assert (store / f"{ann['id']}.sha256").exists() and len(list(store.rglob("*.sha256"))) == 1
    after = {n["id"]: n["status"] for n in json.loads(_cli("needs", "fig3_spike_counts", "-p", "profile", "smoke",
                                                             "--json", store=store).stdout)}
    assert after[ann["id"]] == "stored"
    assert "1 ok" in _cli("verify", store=store).stdout
    imported = _cli("import", str(store), store=other)
    assert "1 imported" in imported.stdout and (other / f"{ann['id']}.safetensors").exists()
    again = _cli("import", str(store), store=other)
    assert "1 already here" in again.stdout
    typo = _cli("needs", "fig3_spike_counts", "-p", "eps", "8", store=store)
    assert typo.returncode == 2 and "eps" in typo.stderr
    # Export copies what the page uses at these parameters and is stored (the ANN), nothing else and nothing twice.
    (store / "evaluation").mkdir()
    (store / "evaluation" / "unused.json").write_text("{}")
    exported = _cli("export", str(published), "fig3_spike_counts", "-p", "profile", "smoke", store=store)
    assert exported.returncode == 0 and "1 exported" in exported.stdout, exported.stderr
    assert [f"{e.kind}/{e.key}" for e in published_store.entries(published)] == [ann["id"]]
    assert "1 already here" in _cli("export", str(published), "fig3_spike_counts", "-p", "profile", "smoke",
                                    store=store).stdout
    wrong = _cli("export", str(tmp_path / "elsewhere"), "fig3_spike_counts", "-p", "eps", "8", store=store)
    assert wrong.returncode == 2 and "eps" in wrong.stderr and not (tmp_path / "elsewhere").exists()
    # --prune also removes what no page uses (a verdict superseded by a new key revision), never what one does.
    superseded = ArtifactStore(tmp_path / "superseded")
    superseded.save_json("evaluation", "superseded", {"correct": 1})
    published_store.export(superseded, published, [("evaluation", "superseded")])
    pruned = _cli("export", str(published), "fig3_spike_counts", "-p", "profile", "smoke", "--prune", store=store)
    assert pruned.returncode == 0 and "1 pruned" in pruned.stdout, pruned.stdout
    assert sorted(p.relative_to(published) for p in published.rglob("*.*")) == sorted(
        [Path(published_store.RECORDS), Path(f"{ann['id']}.safetensors")])
    # A fresh clone's store imports it, each artifact checked; `snnconv verify FOLDER` checks it in place.
    assert "1 imported" in _cli("import", str(published), store=tmp_path / "fresh").stdout
    assert "1 ok" in _cli("verify", str(published), store=store).stdout


def test_import_refuses_an_artifact_that_fails_its_check(tmp_path):
    source, target = ArtifactStore(tmp_path / "a"), ArtifactStore(tmp_path / "b")
    source.save_json("evaluation", "k", {"correct": 3})
    record = source.root / "evaluation" / "k.json"
    record.write_text(record.read_text().replace("3", "4"))
    result = _cli("import", str(source.root), store=target.root)
    assert "refused" in result.stdout and not target.has("evaluation", "k")


@pytest.mark.skipif(not SNAKEMAKE.exists(), reason="snakemake is installed by make setup")
def test_paper_profile_dry_run_lists_every_stage_with_a_gpu(tmp_path):
    env = {**os.environ, "SNNCONV_STORE": str(tmp_path)}
    run = subprocess.run([str(SNAKEMAKE), "-s", "workflow/Snakefile", "-n", "--config", "profile=paper"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout + run.stderr
    counts = dict(re.findall(r"^(artifact|notebook|book)\s+(\d+)$", out, re.M))
    planned = {need for page in pages.PAGES
               for need in cli.plan_page(page, {"profile": "paper"}, planning(ArtifactStore(tmp_path))).plan.needs}
    assert int(counts["artifact"]) == len(planned) and counts["notebook"] == str(len(pages.PAGES))
    blocks = re.findall(r"^rule artifact:\n(.*?)(?=^\S|\Z)", out, re.M | re.S)
    assert len(blocks) == len(planned)
    assert all(re.search(r"resources: .*\bgpu=1\b", block) for block in blocks)
    kinds = {re.search(r"wildcards: kind=(\w+)", block).group(1) for block in blocks}
    assert kinds == {"ann", "snn", "end_to_end", "evaluation"}


@pytest.mark.skipif(not SNAKEMAKE.exists(), reason="snakemake is installed by make setup")
def test_smoke_workflow_stores_exactly_the_keys_the_notebook_uses(tmp_path):
    # The workflow computes each planned artifact in its own job, then executes the notebook on the same store:
    # had the notebook needed anything the plan missed, it would have computed it and the store would hold more.
    page = "tableB3_vanilla_vs_ensemble"
    store, out = tmp_path / "store", tmp_path / "results"
    env = {**os.environ, "SNNCONV_STORE": str(store), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    run = subprocess.run([str(SNAKEMAKE), "-s", "workflow/Snakefile", "-c2", f"{out}/{page}.ipynb",
                          "--config", "profile=smoke", f"results={out}", 'parameters={"objectives": "at"}',
                          f"pages={page}"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (out / f"{page}.ipynb").exists()
    planned = set(cli.plan_page(page, {"profile": "smoke", "objectives": "at"}, ArtifactStore(store)).plan.needs)
    stored = {f"{kind}/{key}" for kind, key in ArtifactStore(store).artifacts()}
    assert stored == planned
    assert re.search(r"artifact\s+\d+", run.stdout + run.stderr)
