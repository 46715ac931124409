"""What the whole book costs at a profile, from an empty store: recorded where the store holds it, else estimated.

For every result page, and for the book as a whole (each artifact once, however many pages use it), this plans
the page (:mod:`snnconv.storage.plan`: nothing is computed), adds up the seconds that the store's records say their
artifacts took, and estimates the missing ones from the stored artifacts alike (:mod:`snnconv.storage.cost`). The
budget the project set is the whole default book in two hours on two cores. Run ``make book-cost`` (``python -m
benchmarks.book_cost --profile default --out book/measurements/book_cost.json``) on the machine whose store holds
the profile's artifacts; the Performance page reads the file. Stale artifacts count as stored: their seconds are
what such an artifact costs, and so is the estimate.

It also reads, from the stored ensemble PGD verdicts, where an ensemble attack's passes go: a sample that resists
every member is attacked by all 19 (20 steps each), a sample that the k-th member fools by k. The share of member
runs spent on samples that resist all of them bounds what any member order can save: with the fooling member
always first, the cost would fall to one run per fooled sample.

And it schedules the whole book's cold rebuild (:mod:`snnconv.storage.schedule`): the critical path of its artifact
graph (the longest chain of artifacts each computed from the one before) and, on each number of cores in
:data:`CORES`, the makespan of a list schedule with critical-path priority beside the lower bound max(critical
path, work / cores). Each artifact takes its recorded seconds, or its estimate if it is missing; a missing one
with nothing alike in the store takes zero seconds (so, as for the cold cost, the figures are then lower bounds)
and is counted in ``without_basis``. These are simulations from one-thread seconds, not measurements.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from snnconv.book import pages
from snnconv.cli import book_needs
from snnconv.method.surrogates import PAPER_ENSEMBLE
from snnconv.storage.cost import CostModel
from snnconv.storage.plan import Need
from snnconv.storage.revision import code_revision
from snnconv.storage.schedule import critical_path, list_schedule
from snnconv.storage.store import ArtifactStore

#: The project's budget for the whole default book (issue "Performance"): two hours on two cores.
BUDGET_S = 2 * 3600
#: Pages that extend the paper (not one of its tables or figures): the book is also costed without them.
EXTENSIONS = ("claims", "robustness_audit", "standard_evaluation")
#: The numbers of cores the cold rebuild is simulated on: this machine's two, one large node, a few nodes, a cluster.
CORES = (2, 16, 64, 256)


def need_seconds(need: Need, records: dict[str, dict], costs: CostModel) -> float | None:
    """The recorded seconds of a stored need (``records`` by ``kind/key``), the estimate of a missing one (None:
    nothing alike in the store)."""
    return float(records[need.id]["seconds"]) if need.stored else costs.estimate_need(need).seconds


def cost(needs: dict[str, Need], records: dict[str, dict], costs: CostModel) -> dict:
    """Artifacts, stored and missing, recorded seconds of the stored (``records`` by ``kind/key``), estimated
    seconds of the missing."""
    recorded = estimated = 0.0
    stored = without_basis = 0
    for need in needs.values():
        seconds = need_seconds(need, records, costs)
        if need.stored:
            stored += 1
            recorded += seconds or 0.0
        else:
            without_basis += seconds is None
            estimated += seconds or 0.0
    return {"artifacts": len(needs), "stored": stored, "missing": len(needs) - stored, "recorded_s": recorded,
            "estimated_s": estimated, "without_basis": without_basis, "cold_s": recorded + estimated}


def rebuild(needs: dict[str, Need], records: dict[str, dict], costs: CostModel) -> dict:
    """The cold rebuild of ``needs`` scheduled on each of :data:`CORES`: the critical path (its seconds and its
    artifacts, first to last) and each list schedule's makespan beside max(critical path, work / cores) and
    Graham's bound. A missing artifact without an estimate takes zero seconds there."""
    estimates = {need_id: need_seconds(need, records, costs) for need_id, need in needs.items()}
    seconds = {need_id: estimate or 0.0 for need_id, estimate in estimates.items()}
    after = {need_id: need.after for need_id, need in needs.items()}
    path = critical_path(seconds, after)
    chain = [{"id": need_id, "label": needs[need_id].label, "stored": needs[need_id].stored,
              "seconds": seconds[need_id]} for need_id in path.chain]
    schedules = []
    for cores in CORES:
        schedule = list_schedule(seconds, after, cores)
        schedules.append({"cores": cores, "makespan_s": schedule.makespan, "lower_bound_s": schedule.lower_bound,
                          "graham_bound_s": schedule.graham_bound,
                          "over_lower_bound": schedule.makespan / schedule.lower_bound if schedule.lower_bound
                          else 1.0})
    return {"artifacts": len(needs), "work_s": sum(seconds.values()),
            "without_basis": sum(estimate is None for estimate in estimates.values()),
            "critical_path": {"seconds": path.seconds, "chain": chain}, "schedules": schedules}


def ensemble_passes(records: dict[str, dict]) -> dict:
    """Over the stored paper-ensemble PGD verdicts among ``records``: the share of member runs spent on samples that
    resist every member, and the largest saving any member order could make (runs now / runs with the fooling
    member first)."""
    labels = [member.label for member in PAPER_ENSEMBLE]
    shares, savings = [], []
    total_runs = total_resisted = total_needed = 0
    for record in records.values():
        config, fooled_by = record.get("config", {}), record.get("fooled_by", [])
        if config.get("attack") != "PGD" or config.get("members") or not set(fooled_by) & set(labels):
            continue
        attacked = [who for who in fooled_by if who != "clean"]
        runs = sum(len(labels) if who == "" else labels.index(who) + 1 for who in attacked)
        resisted = len(labels) * attacked.count("")
        needed = resisted + len(attacked) - attacked.count("")
        shares.append(resisted / runs)
        savings.append(runs / needed)
        total_runs, total_resisted, total_needed = total_runs + runs, total_resisted + resisted, total_needed + needed
    if not shares:
        return {"verdicts": 0}
    # One verdict whose every image is fooled would save much by itself; the book's cost is the sum over verdicts.
    return {"verdicts": len(shares), "resisted_share_min": min(shares), "resisted_share_max": max(shares),
            "order_saving_max": max(savings), "resisted_share_all": total_resisted / total_runs,
            "order_saving_all": total_runs / total_needed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--out", type=Path, required=True, help="the JSON report (book/measurements/book_cost.json)")
    args = parser.parse_args(argv)
    store = ArtifactStore()
    records = {f"{kind}/{key}": store.record(kind, key) for kind, key in store.artifacts()}
    costs = CostModel.from_store(store)
    given = {"profile": args.profile}
    report: dict = {"profile": args.profile, "started": time.strftime("%Y-%m-%d %H:%M:%S"), "cpus": os.cpu_count(),
                    "code": code_revision(), "store_artifacts": len(records), "budget_s": BUDGET_S}
    report["pages"] = {page: cost(book_needs([page], given, store), records, costs) for page in pages.PAGES}
    book = book_needs(list(pages.PAGES), given, store)
    report["book"] = cost(book, records, costs)
    paper_pages = [page for page in pages.PAGES if page not in EXTENSIONS]
    report["paper_pages"] = cost(book_needs(paper_pages, given, store), records, costs)
    report["extensions"] = list(EXTENSIONS)
    report["ensemble_pgd"] = ensemble_passes(records)
    report["rebuild"] = rebuild(book, records, costs)
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k not in ("pages", "rebuild")}, indent=1))
    cold = report["rebuild"]
    print(f"the cold rebuild, simulated from one-thread seconds: {cold['work_s'] / 3600:.1f} core-hours; critical "
          f"path {cold['critical_path']['seconds'] / 3600:.2f} h: "
          + " -> ".join(f"{link['label']} ({link['seconds'] / 3600:.2f} h)" for link in cold["critical_path"]["chain"]))
    for schedule in cold["schedules"]:
        print(f"  {schedule['cores']:>4} cores: makespan {schedule['makespan_s'] / 3600:6.2f} h, lower bound "
              f"{schedule['lower_bound_s'] / 3600:6.2f} h (x{schedule['over_lower_bound']:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
