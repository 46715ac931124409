"""benchmarks/bench.py: its pairing of measurements and the property P2 relies on (same verdicts either way).

Nothing here asserts a duration: timings belong to ``make bench`` and the Performance page.
"""

from __future__ import annotations

import json

import torch

from benchmarks import bench


def test_interleaved_runs_the_two_workloads_in_turn_after_one_warm_up_pair():
    calls: list[str] = []
    result = bench.interleaved(lambda: calls.append("a"), lambda: calls.append("b"), repeats=3)
    assert calls == ["a", "b"] * 4
    assert result["repeats"] == 3 and result["ratio"] > 0 and result["first_s"] >= 0


def test_p2_compares_the_ensemble_with_its_members_one_after_another_on_identical_verdicts():
    torch.set_num_threads(1)
    report = bench.p2("PGD", 2, images=6, repeats=1)
    assert report["verdicts_identical"] is True
    assert report["members"] == 19 and 0 <= report["robust"] <= 6


def test_p2_fgsm_with_its_shared_forward_gives_the_verdicts_of_the_members_one_after_another():
    torch.set_num_threads(1)
    report = bench.p2("FGSM", 1, images=12, repeats=1)
    assert report["verdicts_identical"] is True


def test_the_pooling_benchmark_compares_identical_numbers():
    torch.set_num_threads(1)
    report = bench.pooling(repeats=1)
    assert report["identical"] is True and report["speedup"] > 0


def test_a_side_by_side_window_counts_completed_passes():
    import time

    report = bench.steps_in_window(1, time.time(), 0.2)
    assert report["threads"] == 1 and report["steps"] >= 1 and report["seconds"] >= 0.2


def test_book_cost_adds_recorded_seconds_once_and_reads_where_the_ensembles_passes_go(tmp_path, monkeypatch):
    from benchmarks import book_cost
    from snnconv.method.surrogates import PAPER_ENSEMBLE
    from snnconv.storage.store import ArtifactStore

    first, third = PAPER_ENSEMBLE[0].label, PAPER_ENSEMBLE[2].label
    store = ArtifactStore(tmp_path / "store")
    store.save_json("evaluation", "e", {"config": {"attack": "PGD", "members": [], "n_test": 5}, "seconds": 9.0,
                                        "fooled_by": ["", "", first, third, "clean"]})
    # Two resisting images run all 19 members, the others 1 and 3: 38 of 42 runs; fooling members first: 40.
    passes = book_cost.ensemble_passes({"evaluation/e": store.record("evaluation", "e")})
    assert passes["verdicts"] == 1 and passes["resisted_share_min"] == 38 / 42
    assert passes["order_saving_max"] == 42 / 40
    assert passes["resisted_share_all"] == 38 / 42 and passes["order_saving_all"] == 42 / 40

    monkeypatch.setenv("SNNCONV_STORE", str(tmp_path / "store"))
    out = tmp_path / "book_cost.json"
    assert book_cost.main(["--profile", "smoke", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    book, pages = report["book"], report["pages"]
    assert book["stored"] == 0 and book["missing"] == book["artifacts"] > 0, "the record is not one of the book's"
    assert book["artifacts"] <= sum(page["artifacts"] for page in pages.values()), "shared artifacts count once"
    assert report["paper_pages"]["artifacts"] < book["artifacts"] and report["budget_s"] == 7200


def test_make_books_log_counts_each_page_and_says_whether_the_run_was_cold(tmp_path, monkeypatch):
    from benchmarks import book_run
    from snnconv.storage.store import ArtifactStore

    monkeypatch.setenv("SNNCONV_STORE", str(tmp_path / "store"))
    log, out = tmp_path / "_build" / "book_run.json", tmp_path / "book_run.json"
    assert book_run.main(["start", "--log", str(log), "--profile", "smoke"]) == 0
    ArtifactStore().save_json("evaluation", "k", {"seconds": 1.0})  # what the first page computed
    book_run.main(["page", "--log", str(log), "--name", "table1_conversion", "--seconds", "30"])
    assert not out.exists(), "an unfinished run is no measurement"
    book_run.main(["finish", "--log", str(log), "--seconds", "41", "--out", str(out)])
    report = json.loads(out.read_text())
    assert report["cold"] is True and report["stored_at_start"] == 0 and report["stored_at_end"] == 1
    assert report["pages"] == {"table1_conversion": 30.0} and report["wall_s"] == 41.0 and not log.exists()
    book_run.main(["start", "--log", str(log), "--profile", "smoke"])
    assert json.loads(log.read_text())["cold"] is False, "a store that holds something makes a warm run"
