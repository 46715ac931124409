"""snnconv — adversarially robust spiking neural networks through ANN-to-SNN conversion.

The executable companion to Özdenizci & Legenstein, *Adversarially Robust Spiking Neural Networks
Through Conversion* (TMLR 2024). Modules, one concept each:

* the method: ``surrogates``, ``neurons``, ``tdbn``, ``models``, ``convert``, ``objectives``, ``train``,
  ``attacks``, ``square``, ``diagnostics``, ``data``;
* from parameters to stored results: ``config``, ``parameters``, ``store``, ``pipeline``, ``results``, ``paths``;
* what a result page renders: ``page``, ``published``, ``statistics``, ``tables``, ``plots``, ``provenance``.
"""

__version__ = "0.1.0"
