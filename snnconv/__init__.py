"""snnconv — adversarially robust spiking neural networks through ANN-to-SNN conversion.

The executable companion to Özdenizci & Legenstein, *Adversarially Robust Spiking Neural Networks
Through Conversion* (TMLR 2024). The sub-packages are its layers, each importing only those above it in
this list:

* ``foundations``: paths, compiled kernels, memory, precision, provenance;
* ``datasets``: the data sets and their corruptions;
* ``method``: surrogates, IF/LIF neurons, tdBN, the models and the staged converter (paper Sec. 3);
* ``adapters``: other libraries' networks (snnTorch, SpikingJelly) behind the attacks' door;
* ``attacks``: FGSM, RFGSM, PGD, APGD, SA-PGD, Square, the surrogate ensemble, transfer and AutoAttack (Sec. 4.3);
* ``training``: the adversarial objectives and the training loops;
* ``evaluation``: paired statistics and the claim rule, gradient-masking diagnostics, spike activity;
* ``experiment``: the configs and profiles, and every page parameter checked;
* ``storage``: the code revision, the artifact store, planning, cost and the load-or-compute pipeline;
* ``book``: what each page computes and renders beside the paper's values;
* ``robustness``: ``snnconv.evaluate(model, images, labels, epsilon)`` for anyone's network and
  ``snnconv.load(name, profile, seed)`` for the book's models, imported on first use;
* ``cli``: ``python -m snnconv`` (plan, compute, verify, import and export the store).
"""

import importlib
from typing import Any

__version__ = "0.1.0"

#: What ``snnconv.<name>`` gives on first use, from which module: both import torch and every attack, which
#: ``import snnconv`` alone should not.
_ON_FIRST_USE = {"evaluate": ("snnconv.robustness.evaluation", "evaluate"),
                 "load": ("snnconv.robustness.checkpoints", "load")}


def __getattr__(name: str) -> Any:
    if name in _ON_FIRST_USE:
        module, attribute = _ON_FIRST_USE[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
