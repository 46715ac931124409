"""Sphinx extension: the measurements in ``book/measurements/*.json`` as MyST substitutions.

A page quotes a measured number as ``{{ gpu_check.calibration_s | round | int }}`` instead of typing it, so
the prose changes when the measurement is re-run (``tools/gpu_check.py`` writes ``gpu_check.json``). Each file
becomes one substitution named after it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from snnconv.storage.revision import code_revision, same_code

MEASUREMENTS = Path(__file__).resolve().parent.parent / "measurements"


def _add_measurements(app: Any, config: Any) -> None:
    substitutions = dict(getattr(config, "myst_substitutions", None) or {})
    for path in sorted(MEASUREMENTS.glob("*.json")):
        measurement = json.loads(path.read_text())
        if "code" in measurement:  # measured with the numerical code this book is built from, or other code
            measurement["code_is_current"] = same_code(measurement["code"], code_revision())
        substitutions[path.stem] = measurement
    config.myst_substitutions = substitutions


def setup(app: Any) -> dict:
    app.connect("config-inited", _add_measurements)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
