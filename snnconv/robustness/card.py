"""What :func:`snnconv.evaluate` returns: each attack's outcome, the model card, and the per-image result."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd

from snnconv.evaluation.statistics import PairedComparison
from snnconv.robustness.suite import Suite


@dataclass(frozen=True)
class AttackOutcome:
    """One attack of the suite on every image (Sec. 4.3): ``robust[i]`` is True or False where it attacked image i or
    i was a clean error (False), None where an earlier attack had fooled i (early exit); ``fooled_by[i]`` the member
    that fooled it. ``skipped`` says why an attack did not run (no member the network can run)."""

    label: str
    attack: str
    steps: int
    kind: str
    members: tuple[str, ...]
    robust: tuple[bool | None, ...]
    fooled_by: tuple[str, ...]
    seconds: float
    skipped: str = ""

    @property
    def attacked(self) -> int:
        """Images this attack ran on (correct and not fooled before)."""
        return sum(1 for verdict, by in zip(self.robust, self.fooled_by, strict=True)
                   if verdict is not None and by != "clean")

    @property
    def fooled(self) -> int:
        """Images this attack fooled."""
        return sum(1 for by in self.fooled_by if by not in ("", "clean"))


@dataclass(frozen=True)
class ModelCard:
    """What a reader needs to know of an evaluated model and its evaluation, in one row (Sec. 4.3; accuracies and
    intervals in %, ε in [0, 1] pixel units): :meth:`to_frame`, :meth:`to_csv` and :meth:`read_csv`.

    ``drop`` is clean minus worst-case accuracy with its exact nested interval (see the module docstring);
    ``square_only`` counts the images that only the black-box Square attack fools (-1: not measured)."""

    model: str
    architecture: str
    dataset: str
    neuron: str
    time_steps: int
    threat_model: str
    epsilon: float
    epsilon_label: str
    n: int
    clean_accuracy: float
    clean_ci_low: float
    clean_ci_high: float
    worst_case_accuracy: float
    worst_case_ci_low: float
    worst_case_ci_high: float
    drop: float
    drop_ci_low: float
    drop_ci_high: float
    square_only: int
    suite: str
    suite_version: str
    attack_profile: str
    attacks: str
    seed: int
    checkpoint: str
    checkpoint_sha256: str
    code_revision: str
    snnconv_version: str

    def to_frame(self) -> pd.DataFrame:
        """The card as one row, a column per field (cards of several models concatenate into one table)."""
        return pd.DataFrame([asdict(self)])

    def to_csv(self, path: str | Path) -> None:
        """Write :meth:`to_frame` as CSV (no index column)."""
        self.to_frame().to_csv(path, index=False)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> ModelCard:
        """The card of a one-row frame as :meth:`to_frame` writes it (each field read back as its declared type)."""
        if len(frame) != 1:
            raise ValueError(f"a model card is one row, got {len(frame)}.")
        row = frame.iloc[0]
        cast = {"int": int, "float": float, "str": str}
        return cls(**{f.name: cast[str(f.type)](row[f.name]) for f in fields(cls)})

    @classmethod
    def read_csv(cls, path: str | Path) -> ModelCard:
        """The card that :meth:`to_csv` wrote to ``path``, exactly (floats round-trip, empty text stays empty)."""
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        return cls.from_frame(frame)


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` measured (Sec. 4.3): per image the clean verdict, each attack's, the strongest white-box
    and the worst case over all attacks (:math:`\\hat r` of the module docstring), which attack fooled it first, the
    width search, the masking diagnostics (:func:`snnconv.evaluation.diagnostics.diagnose`) and the
    :class:`ModelCard`."""

    card: ModelCard
    suite: Suite
    labels: tuple[int, ...]
    clean: tuple[bool, ...]
    attacks: tuple[AttackOutcome, ...]
    strongest_white_box: tuple[bool, ...]
    worst_case: tuple[bool, ...]
    fooled_by: tuple[str, ...]
    drop: PairedComparison
    diagnostics: tuple[dict, ...] = ()
    width_search: tuple[dict, ...] = ()

    @property
    def n(self) -> int:
        """Images evaluated."""
        return len(self.clean)

    @property
    def clean_accuracy(self) -> float:
        """Clean accuracy in %."""
        return 100.0 * sum(self.clean) / self.n

    @property
    def worst_case_accuracy(self) -> float:
        """Accuracy under the worst case over the suite's attacks, in %."""
        return 100.0 * sum(self.worst_case) / self.n

    def attack(self, label: str) -> AttackOutcome:
        """The outcome of the attack called ``label``."""
        for outcome in self.attacks:
            if outcome.label == label:
                return outcome
        raise KeyError(f"{label!r} is not an attack of this evaluation: one of {[a.label for a in self.attacks]}.")

    def to_frame(self) -> pd.DataFrame:
        """One row per image: its label, the clean verdict, each attack's (empty where early exit skipped it), the
        strongest white-box and the worst case, and the attack that fooled it first."""
        table: dict[str, Any] = {"image": range(self.n), "label": self.labels, "clean": self.clean}
        for outcome in self.attacks:
            table[outcome.label] = outcome.robust
        table["strongest white-box"] = self.strongest_white_box
        table["worst case"] = self.worst_case
        table["fooled by"] = self.fooled_by
        return pd.DataFrame(table)

    def to_csv(self, path: str | Path) -> None:
        """Write :meth:`to_frame` as CSV; the model card has its own (``card.to_csv``)."""
        self.to_frame().to_csv(path, index=False)

    def attack_table(self) -> pd.DataFrame:
        """One row per attack in the order they ran: images attacked and fooled, the accuracy once it ran (every
        attack so far), its seconds, and why it was skipped if it was."""
        rows, robust = [], list(self.clean)
        for outcome in self.attacks:
            robust = [r and v is not False for r, v in zip(robust, outcome.robust, strict=True)]
            rows.append({"attack": outcome.label, "kind": outcome.kind, "steps": outcome.steps,
                         "members": len(outcome.members), "attacked": outcome.attacked, "fooled": outcome.fooled,
                         "accuracy so far (%)": 100.0 * sum(robust) / self.n, "seconds": outcome.seconds,
                         "skipped": outcome.skipped})
        return pd.DataFrame(rows)
