"""Foundations every layer may use: where things live (``paths``), how the hot loops run (``kernels``,
``memory``, ``precision``) and who computed what on which machine (``provenance``). Nothing here knows about
spiking networks or the paper."""
