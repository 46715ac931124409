"""How long the missing artifacts of a page will take, estimated from what the store's records cost.

Every record carries the wall-clock seconds its artifact took on the machine that computed it. A missing
artifact is estimated from the stored ones that did the same *work* on another model, seed or test-set size:

* **same work** — the same config but for the model, the seed, the corruption and the number of test images
  (an evaluation, on a model of the same kind: ANN, converted SNN or end-to-end SNN), or the same config but
  for every seed (a model): the median seconds per test image (evaluation) or per model, times the need's;
* **same attack** — the same attack on the same kind of model at another budget, scaled by test images ×
  steps × time steps × input draws (EOT) (an evaluation); the same kind of model by the same method, scaled
  by epochs × time steps;
* **same kind** — the same attack on any kind of model (an ANN counts as one time step), or any model of the
  same kind, scaled the same way;
* otherwise no estimate: the need is counted as *without a basis*.

An estimate is only as good as its basis: the cost of an attack verdict depends on how robust the model is,
since a sample leaves the ensemble when the first member fools it. It is meant to plan a run, not to report one;
the pages report what their artifacts did cost.

Example:
    >>> model = CostModel([("evaluation", {"attack": "PGD", "steps": 20, "n_test": 1000, "time_steps": 8,
    ...                                    "model_key": "a", "seed": 0}, "snn", 100.0)])
    >>> need = ("evaluation", {"attack": "PGD", "steps": 20, "n_test": 500, "time_steps": 8,
    ...                        "model_key": "b", "seed": 1}, "snn")
    >>> model.estimate(*need)
    Estimate(seconds=50.0, basis='same work')
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import median
from typing import Any

from snnconv.storage.plan import Need
from snnconv.storage.store import ArtifactStore, plain

#: Config fields that name *which* model, data or randomness an evaluation uses, not how much work it does.
_IDENTITY = ("model_key", "source_key", "seed", "corruption", "severity", "n_test")


@dataclass(frozen=True)
class Estimate:
    """Estimated seconds of one artifact (None: no stored artifact alike) and on what it is based."""

    seconds: float | None
    basis: str


def _without_seeds(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_seeds(v) for k, v in value.items() if k != "seed"}
    if isinstance(value, list):
        return [_without_seeds(v) for v in value]
    return value


def _epochs(config: dict) -> float:
    return float(config.get("schedule", {}).get("epochs", 1))


def _work(kind: str, config: dict, model_kind: str) -> tuple[tuple[str, float], ...]:
    """(signature, amount of work) of an artifact at each level of :data:`BASES`, finest first."""
    if kind == "evaluation":
        exact = {k: v for k, v in config.items() if k not in _IDENTITY}
        images = float(config.get("n_test", 1))
        amount = (images * max(config.get("steps", 1), 1) * max(config.get("time_steps", 1), 1)
                  * max(config.get("eot", 1), 1))
        return ((json.dumps([kind, model_kind, exact], sort_keys=True), images),
                (json.dumps([kind, model_kind, config.get("attack")]), amount),
                (json.dumps([kind, config.get("attack")]), amount))
    method = config.get("method") or config.get("objective") or config.get("ann", {}).get("objective")
    amount = _epochs(config) * max(config.get("time_steps", 1), 1)
    return ((json.dumps([kind, _without_seeds(config)], sort_keys=True), 1.0),
            (json.dumps([kind, method, config.get("arch") or config.get("ann", {}).get("arch")]), amount),
            (json.dumps([kind]), amount))


#: The levels of likeness an estimate can rest on, finest first.
BASES: tuple[str, ...] = ("same work", "same attack or method", "same kind")


class CostModel:
    """Seconds per unit of work of the stored artifacts, grouped by the work they did."""

    def __init__(self, records: Iterable[tuple[str, dict, str, float]]) -> None:
        """``records``: (kind, config, kind of the evaluated model or "", seconds) of stored artifacts."""
        self._rates: tuple[dict[str, list[float]], ...] = tuple(defaultdict(list) for _ in BASES)
        for kind, config, model_kind, seconds in records:
            if seconds > 0:
                for rates, (signature, amount) in zip(self._rates, _work(kind, config, model_kind), strict=True):
                    rates[signature].append(seconds / amount)

    @classmethod
    def from_store(cls, store: ArtifactStore) -> CostModel:
        """From every record in ``store`` (any code revision: speed changes less often than numbers)."""
        records = []
        for kind, key in store.artifacts():
            record = store.record(kind, key)
            config = record.get("config", {})
            model = next((name.split("/")[0] for name in record.get("inputs", {})
                          if name.endswith("/" + str(config.get("model_key")))), "")
            records.append((kind, config, model, float(record.get("seconds", 0.0))))
        return cls(records)

    def estimate(self, kind: str, config: Any, model_kind: str = "") -> Estimate:
        """The estimated seconds of an artifact of ``kind`` with ``config`` (evaluations: of a ``model_kind``)."""
        config = plain(config)
        for rates, (signature, amount), basis in zip(self._rates, _work(kind, config, model_kind), BASES,
                                                     strict=True):
            if rates.get(signature):
                return Estimate(median(rates[signature]) * amount, basis)
        return Estimate(None, "no stored artifact alike")

    def estimate_need(self, need: Need) -> Estimate:
        """The estimate of a page's need (:mod:`snnconv.storage.plan`); a verdict's model is the first thing it is
        after."""
        return self.estimate(need.kind, need.config, need.after[0].split("/")[0] if need.after else "")
