"""How long the cold rebuild takes on P cores: the artifact graph as a scheduling problem.

The artifacts a book needs form a directed graph: artifact :math:`i` takes :math:`w_i` seconds on one core and
starts only after every artifact in :math:`\\mathrm{after}(i)` is finished (a verdict after its model, an SNN
after its ANN; :class:`snnconv.storage.plan.Need`). An artifact that ``after`` names but the graph does not hold is
already stored: it is finished at :math:`t = 0`.

* The **remaining path** of an artifact is the longest chain of seconds from its start to the end of the rebuild,

  .. math::
      b(i) = w_i + \\max_{j \\,:\\, i \\in \\mathrm{after}(j)} b(j) \\qquad (\\max \\emptyset = 0),

  and the **critical path** is the longest chain of dependent artifacts, :math:`C = \\max_i b(i)`: no number of
  cores finishes the rebuild sooner.
* The **total work** is :math:`W = \\sum_i w_i`: :math:`P` cores finish it no sooner than :math:`W / P`. Every
  schedule's makespan :math:`T_P` therefore satisfies

  .. math::
      T_P \\geq \\max\\left(C, \\frac{W}{P}\\right).

* The **list schedule** simulated here (one thread per artifact job, as ``make workflow`` runs them) never leaves a
  core idle while an artifact is ready: whenever cores are free, it starts the ready artifacts with the longest
  remaining path :math:`b(i)` first (critical-path priority; ties in the order the graph lists the artifacts).
  Graham (1969) showed that any such schedule finishes within

  .. math::
      T_P \\leq \\frac{W}{P} + \\left(1 - \\frac{1}{P}\\right) C,

  so its makespan lies between the two bounds, and at most :math:`2 - 1/P` times the optimum.

The simulation assumes an artifact takes its recorded seconds whatever else runs beside it: no two jobs slow each
other down (memory bandwidth, a shared disk). It is a plan, not a measurement.

Example:
    >>> seconds = {"ann": 3.0, "snn": 4.0, "pgd": 2.0, "other ann": 5.0}
    >>> after = {"snn": ("ann",), "pgd": ("snn",)}
    >>> critical_path(seconds, after)
    CriticalPath(seconds=9.0, chain=('ann', 'snn', 'pgd'))
    >>> one, two = list_schedule(seconds, after, cores=1), list_schedule(seconds, after, cores=2)
    >>> one.makespan, two.makespan, two.lower_bound
    (14.0, 9.0, 9.0)
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class CriticalPath:
    """The longest chain of dependent artifacts: its seconds :math:`C` and its artifacts, first to last."""

    seconds: float
    chain: tuple[str, ...]


@dataclass(frozen=True)
class Schedule:
    """A list schedule of the graph on ``cores`` cores: its makespan :math:`T_P`, each artifact's start, the total
    work :math:`W`, the critical path :math:`C`, the lower bound :math:`\\max(C, W/P)` and Graham's upper bound
    :math:`W/P + (1 - 1/P) C`."""

    cores: int
    makespan: float
    starts: dict[str, float]
    work: float
    critical_path: float
    lower_bound: float
    graham_bound: float


def _dependencies(seconds: Mapping[str, float], after: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    """Each artifact's dependencies inside the graph: those outside it are stored, finished before the start."""
    negative = [node for node, w in seconds.items() if not w >= 0]
    if negative:
        raise ValueError(f"an artifact takes zero seconds or more, not {seconds[negative[0]]} ({negative[0]}).")
    return {node: tuple(dict.fromkeys(d for d in after.get(node, ()) if d in seconds)) for node in seconds}


def _topological_order(dependencies: Mapping[str, tuple[str, ...]]) -> list[str]:
    """The artifacts with each one after its dependencies (Kahn), in the graph's order where free."""
    waiting = {node: len(deps) for node, deps in dependencies.items()}
    successors: dict[str, list[str]] = {node: [] for node in dependencies}
    for node, deps in dependencies.items():
        for dep in deps:
            successors[dep].append(node)
    order = [node for node, count in waiting.items() if count == 0]
    for node in order:  # grows while it is walked
        for successor in successors[node]:
            waiting[successor] -= 1
            if waiting[successor] == 0:
                order.append(successor)
    if len(order) < len(dependencies):
        stuck = sorted(node for node, count in waiting.items() if count > 0)
        raise ValueError(f"the artifact graph has a cycle: no order computes {len(stuck)} artifacts, among them "
                         f"{', '.join(stuck[:5])} — each waits, directly or not, for itself.")
    return order


def remaining_paths(seconds: Mapping[str, float], after: Mapping[str, Iterable[str]]) -> dict[str, float]:
    """Each artifact's remaining path :math:`b(i) = w_i + \\max_{j: i \\in \\mathrm{after}(j)} b(j)`: the seconds
    from its start to the end of the rebuild along its longest chain of dependants.

    Raises ``ValueError`` where the graph has a cycle."""
    dependencies = _dependencies(seconds, after)
    paths = {node: float(seconds[node]) for node in seconds}
    for node in reversed(_topological_order(dependencies)):
        for dep in dependencies[node]:
            paths[dep] = max(paths[dep], seconds[dep] + paths[node])
    return paths


def critical_path(seconds: Mapping[str, float], after: Mapping[str, Iterable[str]]) -> CriticalPath:
    """The longest chain of dependent artifacts by seconds, :math:`C = \\max_i b(i)`, and the chain itself.

    ``seconds``: artifact id → :math:`w_i`; ``after``: artifact id → the ids it is computed from (missing: none).
    An empty graph has :math:`C = 0` and an empty chain. Raises ``ValueError`` where the graph has a cycle."""
    if not seconds:
        return CriticalPath(0.0, ())
    paths = remaining_paths(seconds, after)
    dependants: dict[str, list[str]] = {node: [] for node in seconds}
    for node, deps in _dependencies(seconds, after).items():
        for dep in deps:
            dependants[dep].append(node)
    # The first of the graph's artifacts on a longest chain, then at each step the dependant that keeps it longest.
    node = max(seconds, key=lambda n: paths[n])
    chain = [node]
    while dependants[node]:
        node = max(dependants[node], key=lambda n: paths[n])
        chain.append(node)
    return CriticalPath(paths[chain[0]], tuple(chain))


def list_schedule(seconds: Mapping[str, float], after: Mapping[str, Iterable[str]], cores: int) -> Schedule:
    """The rebuild's list schedule on ``cores`` cores with critical-path priority, simulated event by event.

    An artifact is *ready* once every artifact it is computed from has finished (those outside the graph at
    :math:`t = 0`). At :math:`t = 0` and whenever artifacts finish (all that finish at the same instant together),
    the free cores start the ready artifacts of longest remaining path :math:`b(i)` first, ties in the graph's
    order; each runs :math:`w_i` seconds on its core. The makespan :math:`T_P` is the time the last one finishes.
    Raises ``ValueError`` where ``cores`` < 1 or the graph has a cycle."""
    if cores < 1:
        raise ValueError(f"a schedule needs at least one core, not {cores}.")
    paths = remaining_paths(seconds, after)
    dependencies = _dependencies(seconds, after)
    position = {node: index for index, node in enumerate(seconds)}
    waiting = {node: len(deps) for node, deps in dependencies.items()}
    dependants: dict[str, list[str]] = {node: [] for node in seconds}
    for node, deps in dependencies.items():
        for dep in deps:
            dependants[dep].append(node)
    ready = [(-paths[node], position[node], node) for node, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    running: list[tuple[float, int, str]] = []
    starts: dict[str, float] = {}
    now = makespan = 0.0
    while ready or running:
        while ready and len(running) < cores:
            _, index, node = heapq.heappop(ready)
            starts[node] = now
            heapq.heappush(running, (now + seconds[node], index, node))
        now = running[0][0]
        # Every artifact that finishes now frees its core before any core is handed out again, so that the
        # choice among the ready artifacts sees all that became ready at this instant.
        while running and running[0][0] == now:
            _, _, node = heapq.heappop(running)
            makespan = max(makespan, now)
            for dependant in dependants[node]:
                waiting[dependant] -= 1
                if waiting[dependant] == 0:
                    heapq.heappush(ready, (-paths[dependant], position[dependant], dependant))
    work = float(sum(seconds.values()))
    longest = max(paths.values(), default=0.0)
    return Schedule(cores=cores, makespan=makespan, starts=starts, work=work, critical_path=longest,
                    lower_bound=max(longest, work / cores), graham_bound=work / cores + (1 - 1 / cores) * longest)
