"""Adapters: networks written for other SNN libraries, attacked by snnconv's ensemble unchanged (Sec. 4.3).

snnconv's attacks reach a network only through ``forward(x, simulation)``. An adapter wraps an unmodified network of
another library behind that call, and gives each of its spiking layers each ensemble member's surrogate gradient in
turn (Suppl. A.4):

* :class:`~snnconv.adapters.snntorch_adapter.SnnTorchNetwork` — snnTorch ``Leaky`` / ``Synaptic`` layers;
* :class:`~snnconv.adapters.spikingjelly_adapter.SpikingJellyNetwork` — SpikingJelly's spiking neurons (an optional
  dependency, imported only when used);
* :mod:`snnconv.adapters.members` — the members an adapter runs (:data:`~snnconv.adapters.members.SURROGATE_MEMBERS`,
  :class:`~snnconv.adapters.members.OwnSurrogate`);
* :mod:`snnconv.adapters.foreign` — what every adapter shares: state reset, the time loop, the readout.

Example::

    >>> from snnconv.adapters import SURROGATE_MEMBERS, OwnSurrogate
    >>> len(SURROGATE_MEMBERS), OwnSurrogate().label
    (17, 'own surrogate')
"""

from snnconv.adapters.foreign import ForeignNetwork
from snnconv.adapters.members import SURROGATE_MEMBERS, OwnSurrogate, adaptable
from snnconv.adapters.snntorch_adapter import SnnTorchNetwork

# SpikingJellyNetwork is left out of __all__: a star import must not need the optional SpikingJelly.
__all__ = ["SURROGATE_MEMBERS", "ForeignNetwork", "OwnSurrogate", "SnnTorchNetwork", "adaptable"]


def __getattr__(name: str):
    """``SpikingJellyNetwork`` on first use: SpikingJelly is optional (Sec. 4.3's attacks need no more than torch)."""
    if name == "SpikingJellyNetwork":
        from snnconv.adapters.spikingjelly_adapter import SpikingJellyNetwork

        return SpikingJellyNetwork
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
