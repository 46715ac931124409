"""The paper's method (Sec. 3): surrogate gradients and their ensemble members (``surrogates``), IF/LIF neurons
(``neurons``), threshold-dependent batch norm (``tdbn``), the layers and models (``network``, ``models``,
``residual``, ``bntt``) and the staged ANN-to-SNN converter (``convert``)."""
