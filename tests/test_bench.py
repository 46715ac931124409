"""benchmarks/bench.py: its pairing of measurements and the property P2 relies on (same verdicts either way).

Nothing here asserts a duration: timings belong to ``make bench`` and the Performance page.
"""

from __future__ import annotations

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
