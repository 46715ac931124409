"""The cold rebuild on P cores (snnconv.storage.schedule): critical path, list schedule and the bounds around it.

The reference figures are worked out by hand in the comments, not by the code under test. Nothing here times
anything: a schedule is simulated from given seconds.
"""

from __future__ import annotations

import random

import pytest

from snnconv.storage.schedule import critical_path, list_schedule

# Six artifacts: an ANN a (3 s) and an SNN b (2 s); c (4 s) after a; d (1 s) after a and b; e (2 s) after c and d;
# f (5 s) alone.
#
#   a ─┬─> c ──> e        remaining paths b(i) = w_i + the longest remaining path of what waits for i:
#      └─> d ──┘          e = 2, c = 4 + 2 = 6, d = 1 + 2 = 3, a = 3 + max(6, 3) = 9, b = 2 + 3 = 5, f = 5
#   b ───> d
#   f                     critical path a → c → e: 3 + 4 + 2 = 9 s; total work W = 3+2+4+1+2+5 = 17 s
TOY_SECONDS = {"a": 3.0, "b": 2.0, "c": 4.0, "d": 1.0, "e": 2.0, "f": 5.0}
TOY_AFTER = {"c": ("a",), "d": ("a", "b"), "e": ("c", "d")}


def test_the_toy_graphs_critical_path_is_its_longest_chain():
    path = critical_path(TOY_SECONDS, TOY_AFTER)
    assert path.seconds == 9.0 and path.chain == ("a", "c", "e")


def test_the_toy_graph_on_one_two_and_three_cores():
    # One core runs everything in turn: the makespan is the total work, 17 s.
    assert list_schedule(TOY_SECONDS, TOY_AFTER, cores=1).makespan == 17.0
    # Two cores, longest remaining path first (b and f tie at 5: b is listed first):
    #   t=0  a (0–3), b (0–2)           t=2  b done; d still waits for a: f (2–7)
    #   t=3  a done; c (6) before d (3): c (3–7)
    #   t=7  c and f done: d (7–8)      t=8  e (8–10)                            makespan 10 s
    # The bounds: max(C, W/P) = max(9, 8.5) = 9 and Graham's 8.5 + 9 / 2 = 13. (The optimum is 9 — b, d, f on one
    # core, a, c, e on the other — so critical-path priority is a heuristic, not the optimum.)
    two = list_schedule(TOY_SECONDS, TOY_AFTER, cores=2)
    assert two.makespan == 10.0 and two.lower_bound == 9.0 and two.graham_bound == 13.0
    assert two.starts == {"a": 0.0, "b": 0.0, "f": 2.0, "c": 3.0, "d": 7.0, "e": 8.0}
    # Three cores: t=0 a, b, f; t=3 c (3–7) and d (3–4); t=7 e (7–9): makespan 9 s, the critical path itself.
    three = list_schedule(TOY_SECONDS, TOY_AFTER, cores=3)
    assert three.makespan == 9.0 and three.starts["e"] == 7.0
    assert three.work == 17.0 and three.critical_path == 9.0 and three.lower_bound == 9.0


def test_as_many_cores_as_artifacts_finish_with_the_critical_path_and_one_core_with_the_total_work():
    for cores in (len(TOY_SECONDS), 100):
        assert list_schedule(TOY_SECONDS, TOY_AFTER, cores).makespan == 9.0
    chain = {"x": 1.0, "y": 2.0, "z": 3.0}
    assert list_schedule(chain, {"y": ("x",), "z": ("y",)}, cores=8).makespan == 6.0, "a chain cannot go parallel"
    assert list_schedule(chain, {}, cores=1).makespan == 6.0


def test_a_dependency_outside_the_graph_is_stored_and_done_at_the_start():
    # The verdict v (2 s) waits for a stored model that the graph does not hold, and for u (1 s): it starts at 1.
    schedule = list_schedule({"u": 1.0, "v": 2.0}, {"v": ("snn/stored", "u")}, cores=2)
    assert schedule.starts == {"u": 0.0, "v": 1.0} and schedule.makespan == 3.0
    assert critical_path({"v": 2.0}, {"v": ("snn/stored",)}).chain == ("v",)


def test_zero_second_artifacts_and_an_empty_graph():
    # z costs nothing but still orders x before y: the chain x → z → y takes 1 + 0 + 2 = 3 s.
    seconds, after = {"x": 1.0, "z": 0.0, "y": 2.0}, {"z": ("x",), "y": ("z",)}
    assert critical_path(seconds, after).seconds == 3.0
    assert list_schedule(seconds, after, cores=2).makespan == 3.0
    assert list_schedule({"n": 0.0}, {}, cores=2).makespan == 0.0
    assert critical_path({}, {}).seconds == 0.0 and list_schedule({}, {}, cores=4).makespan == 0.0


def test_a_cycle_a_negative_duration_and_no_cores_are_refused():
    with pytest.raises(ValueError, match="cycle"):
        critical_path({"p": 1.0, "q": 1.0, "r": 1.0}, {"p": ("r",), "q": ("p",), "r": ("q",)})
    with pytest.raises(ValueError, match="cycle"):
        list_schedule({"p": 1.0, "s": 2.0}, {"s": ("s",)}, cores=2)
    with pytest.raises(ValueError, match="zero seconds or more"):
        list_schedule({"p": -1.0}, {}, cores=1)
    with pytest.raises(ValueError, match="at least one core"):
        list_schedule(TOY_SECONDS, TOY_AFTER, cores=0)


def _random_graph(rng: random.Random) -> tuple[dict[str, float], dict[str, tuple[str, ...]]]:
    """A random DAG: each artifact depends on some earlier ones (and now and then on a stored one outside)."""
    n = rng.randint(1, 40)
    names = [f"n{i}" for i in range(n)]
    rng.shuffle(names)  # the graph's order is not its topological order
    seconds = {name: float(rng.choice([0, rng.randint(1, 20), rng.randint(1, 500)])) for name in names}
    order = sorted(names, key=lambda name: int(name[1:]))
    after = {}
    for i, name in enumerate(order):
        deps = rng.sample(order[:i], k=rng.randint(0, min(i, 4)))
        if rng.random() < 0.1:
            deps.append("stored/elsewhere")
        after[name] = tuple(deps)
    return seconds, after


def _longest_chain_ending_at(node: str, seconds, after, memo) -> float:
    """Longest chain ending at ``node``, by recursion over what it is after: the reverse of the code's direction."""
    if node not in memo:
        memo[node] = seconds[node] + max((_longest_chain_ending_at(d, seconds, after, memo)
                                          for d in after.get(node, ()) if d in seconds), default=0.0)
    return memo[node]


@pytest.mark.parametrize("seed", range(200))
def test_every_random_schedule_is_valid_and_lies_between_the_lower_bound_and_grahams(seed):
    rng = random.Random(seed)
    seconds, after = _random_graph(rng)
    memo: dict[str, float] = {}
    longest = max(_longest_chain_ending_at(node, seconds, after, memo) for node in seconds)
    path = critical_path(seconds, after)
    assert path.seconds == longest
    assert sum(seconds[n] for n in path.chain) == longest
    assert all(earlier in after[later] for earlier, later in zip(path.chain, path.chain[1:], strict=False))

    work = sum(seconds.values())
    for cores in (1, 2, 3, rng.randint(4, 50)):
        schedule = list_schedule(seconds, after, cores)
        finish = {node: schedule.starts[node] + seconds[node] for node in seconds}
        assert set(schedule.starts) == set(seconds), "every artifact is computed"
        for node, deps in after.items():
            assert all(schedule.starts[node] >= finish[d] for d in deps if d in seconds), "after what it needs"
        for t in schedule.starts.values():
            assert sum(schedule.starts[n] <= t < finish[n] for n in seconds) <= cores, "never more jobs than cores"
        assert schedule.makespan == max(finish.values())
        # max(C, W/P) <= T_P <= W/P + (1 - 1/P) C, times P: integer seconds keep both sides exact.
        assert schedule.makespan >= longest and cores * schedule.makespan >= work
        assert cores * schedule.makespan <= work + (cores - 1) * longest
        assert schedule.lower_bound == max(longest, work / cores)
        if cores == 1:
            assert schedule.makespan == work
        if cores >= len(seconds):
            assert schedule.makespan == longest
