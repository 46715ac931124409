"""How far the robustness audit's white-box side is from converged: the ensemble APGD-CE at AutoAttack's 100 steps
(the audit runs the authors' 10) on the audit's models, against the audit's per-image worst cases.

Issue 30, item 6. Each (model, budget) is one stored evaluation (the store's key is the config: ``APGD-CE``,
``steps=100``, the paper's 19-member ensemble, the audit's 1,000 images and seed), computed on first use with one
torch thread and loaded afterwards, so the script can be stopped and resumed; ``--compute 0`` only reads what is
stored. For each stored pair it writes, beside the audit's own rows (every audit attack, loaded from the store):
accuracy under APGD-CE¹⁰ and APGD-CE¹⁰⁰, the strongest white-box and strongest known attack before and after
adding APGD-CE¹⁰⁰ to them (per image: robust only if every attack failed), and the images that Square alone fools
before and after::

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.long_horizon_apgd [--compute 1] [--steps 100]

The rows go to ``book/measurements/long_horizon_apgd.json``. The ANNs come first (seconds each), then the SNNs
(about ten one-thread minutes each at the default profile).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from snnconv.book import audit, subjects
from snnconv.book.run import Run
from snnconv.experiment.config import budget_name
from snnconv.experiment.parameters import resolve
from snnconv.foundations import paths
from snnconv.storage.plan import planning
from snnconv.storage.store import ArtifactStore

OUT = paths.project_root() / "book" / "measurements" / "long_horizon_apgd.json"


def _stored(run: Run, subject: subjects.Subject, epsilon: float, steps: int) -> bool:
    plan = planning(run.store)
    subjects.evaluate(Run(run.settings, plan, False), subject, "APGD-CE", epsilon, steps)
    return all(need.stored for need in plan.plan.needs.values())


def _both(a: list[bool], b: list[bool]) -> list[bool]:
    return [x and y for x, y in zip(a, b, strict=True)]


def pair_row(run: Run, subject: subjects.Subject, epsilon: float, steps: int) -> dict:
    """The audit of ``subject`` at ``epsilon`` with and without the long APGD-CE (see the module docstring)."""
    audited = {row["attack"]: row["robust"] for row in audit.audit_rows(run, subject, epsilon)}
    long = subjects.evaluate(run, subject, "APGD-CE", epsilon, steps)
    white, known, square = audited["strongest white-box"], audited["strongest known"], audited["Square"]
    white_after = _both(white, long["robust"])

    def square_only(w: list[bool]) -> int:
        return sum(x and not q for x, q in zip(w, square, strict=True))

    return {"model": subject.label, "budget": budget_name(epsilon), "n": len(white),
            "APGD-CE (audit)": sum(audited["APGD-CE"]), f"APGD-CE{steps}": sum(long["robust"]),
            "strongest white-box": sum(white), "strongest white-box + long": sum(white_after),
            "strongest known": sum(known), "strongest known + long": sum(_both(known, long["robust"])),
            "Square alone": square_only(white), "Square alone + long": square_only(white_after),
            "seconds": long["seconds"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--compute", type=int, default=1, help="1: compute what is missing; 0: read the stored only")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    run = subjects.prepare(Run(resolve(profile="default", seed=0, threads=1), ArtifactStore(), False))
    models = audit.audit_subjects(run)
    rows = []
    for subject in [m for m in models if m.time_steps == 0] + [m for m in models if m.time_steps > 0]:
        for epsilon in sorted(run.settings.profile.epsilons):
            if args.compute or _stored(run, subject, epsilon, args.steps):
                rows.append(pair_row(run, subject, epsilon, args.steps))
                print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    args.out.write_text(json.dumps({"profile": "default", "seed": 0, "steps": args.steps, "rows": rows}, indent=1,
                                   ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
