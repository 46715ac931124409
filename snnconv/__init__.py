"""snnconv — adversarially robust spiking neural networks through ANN-to-SNN conversion.

The executable companion to Özdenizci & Legenstein, *Adversarially Robust Spiking Neural Networks
Through Conversion* (TMLR 2024). Modules, one concept each:

* the method: ``surrogates``, ``neurons``, ``tdbn``, ``models``, ``convert``, ``objectives``, ``train``,
  ``attacks``, ``square``, ``diagnostics``, ``data``;
* from parameters to stored results: ``config``, ``parameters``, ``store``, ``pipeline``, ``results``, ``paths``;
* what a result page renders: ``page``, ``published``, ``statistics``, ``tables``, ``plots``, ``provenance``;
* for a reader's own network and the book's: ``robustness_evaluation`` (``snnconv.evaluate(model, images, labels,
  epsilon)``) and ``checkpoints`` (``snnconv.load(name, profile, seed)``), imported on first use.
"""

import importlib
from typing import Any

__version__ = "0.1.0"

#: What ``snnconv.<name>`` gives on first use, from which module: both import torch and every attack, which
#: ``import snnconv`` alone should not.
_ON_FIRST_USE = {"evaluate": ("snnconv.robustness_evaluation", "evaluate"), "load": ("snnconv.checkpoints", "load")}


def __getattr__(name: str) -> Any:
    if name in _ON_FIRST_USE:
        module, attribute = _ON_FIRST_USE[name]
        return getattr(importlib.import_module(module), attribute)
    if name in ("checkpoints", "robustness_evaluation"):
        return importlib.import_module(f"snnconv.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
