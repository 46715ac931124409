"""snnconv — adversarially robust spiking neural networks through ANN-to-SNN conversion.

The executable companion to Özdenizci & Legenstein, *Adversarially Robust Spiking Neural Networks
Through Conversion* (TMLR 2024). Modules, one concept each: ``surrogates``, ``neurons``, ``tdbn``,
``models``, ``convert``, ``objectives``, ``train``, ``attacks``, ``data``, ``experiments``, ``report``.
"""

__version__ = "0.1.0"
