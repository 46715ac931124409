"""snnTorch networks under snnconv's attacks: every ``Leaky`` and ``Synaptic`` layer takes each member's surrogate.

snnTorch's layers (``snntorch`` 1.0) integrate and fire as

.. math::

    \\text{Leaky:}\\quad U[t] &= \\beta U[t-1] + I[t], \\\\
    \\text{Synaptic:}\\quad I_{syn}[t] &= \\alpha I_{syn}[t-1] + I[t], \\quad U[t] = \\beta U[t-1] + I_{syn}[t], \\\\
    S[t] &= H(U[t] - U_{thr}), \\qquad H(z) = \\mathbb{1}[z > 0],

each followed by the reset snnTorch applies where the neuron fired (subtract :math:`U_{thr}`, to zero, or none);
:math:`\\partial S/\\partial z` is the layer's ``spike_grad``. :class:`SnnTorchNetwork` swaps
``spike_grad`` for a :class:`~snnconv.adapters.members.MemberSpike` of the member (Sec. 4.3, Eqs. 15–18) for the
duration of one call, so the forward stays snnTorch's own, bit for bit.

State. A snnTorch layer keeps its membrane (and synaptic current) in buffers that survive between calls: a second
call with the same batch shape starts where the first ended unless the network resets them. ``utils.reset(net)``
looks only at the network's direct children (a layer nested one module deeper is missed) and resets every layer of
that class ever built; the adapter instead calls ``reset_mem()`` on each of the network's own layers, before and
after every call.

Example::

    >>> import torch, snntorch
    >>> from torch import nn
    >>> from snnconv.adapters.snntorch_adapter import SnnTorchNetwork
    >>> from snnconv.method.network import Simulation
    >>> step = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), snntorch.Leaky(beta=0.9, init_hidden=True, output=True))
    >>> net = SnnTorchNetwork(step, loop="adapter", output_index=1)   # the adapter runs T steps, reads the membrane
    >>> net(torch.rand(2, 1, 28, 28), Simulation(time_steps=4)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from typing import Any

import snntorch
from torch import nn

from snnconv.adapters.foreign import AdapterReadout, ForeignNetwork, Loop, set_spike_function
from snnconv.adapters.members import MemberSpike
from snnconv.method.neurons import SpikingNeuron

#: The snnTorch layers the adapter drives (others raise: their state and firing are not covered).
SUPPORTED_LAYERS: tuple[type[nn.Module], ...] = (snntorch.Leaky, snntorch.Synaptic)


class SnnTorchNetwork(ForeignNetwork):
    """A network built from snnTorch ``Leaky``/``Synaptic`` layers behind ``forward(x, simulation)`` (Sec. 4.3).

    ``loop="network"`` (default): ``network(x)`` steps itself over time and returns the per-step outputs stacked as
    ``[T, B, ...]`` (snnTorch's tutorials return ``torch.stack(spk_rec), torch.stack(mem_rec)``: pick one with
    ``output_index``). ``loop="adapter"``: ``network(x)`` computes one step (layers with ``init_hidden=True``) and the
    adapter runs T steps of direct coding. Readouts, with :math:`o(t)` the picked output at step t:
    :math:`\\frac{1}{T}\\sum_t o(t)` (``"mean"``), :math:`\\sum_t o(t)` (``"sum"``), :math:`o(T)` (``"last"``); see
    :mod:`snnconv.adapters.foreign`. Every ``Leaky``/``Synaptic`` layer is reset before and after each call.
    """

    library = "snnTorch"
    fires_at_zero = False  # snnTorch fires on U - U_thr > 0

    def __init__(self, network: nn.Module, loop: Loop = "network", output_index: int | None = None,
                 readout: AdapterReadout | None = None, stochastic: bool = False) -> None:
        foreign = [m for m in network.modules() if isinstance(m, SpikingNeuron)]
        if foreign:
            raise TypeError("the network holds snnconv's own SpikingNeuron layers: call it directly with "
                            "(x, Simulation), it needs no adapter.")
        other = sorted({type(m).__name__ for m in network.modules()
                        if isinstance(m, snntorch.SpikingNeuron) and not isinstance(m, SUPPORTED_LAYERS)})
        if other:
            raise TypeError(f"snnTorch layers {other} are not supported by the adapter (only Leaky and Synaptic).")
        super().__init__(network, loop, output_index, readout, stochastic)

    def spiking_layers(self) -> list[nn.Module]:
        """Every ``snntorch.Leaky`` and ``snntorch.Synaptic`` of the network, in registration order (Eqs. 1–3)."""
        return [m for m in self.network.modules() if isinstance(m, SUPPORTED_LAYERS)]

    def reset(self) -> None:
        """``reset_mem()`` on each layer: membrane (and synaptic current) to zero, :math:`U[0] = 0` (Eq. 1)."""
        for layer in self.spiking_layers():
            layer.reset_mem()

    def threshold(self, layer: nn.Module) -> float | None:
        """The layer's :math:`U_{thr}` (Eq. 2) as a number; ``None`` for one threshold per neuron."""
        return float(layer.threshold.detach()) if layer.threshold.numel() == 1 else None

    def install(self, layer: nn.Module, spike: MemberSpike) -> Any:
        """Set ``layer.spike_grad`` to the member's spike function (Eq. 2, Suppl. A.4); returns the layer's own."""
        own = layer.spike_grad
        set_spike_function(layer, "spike_grad", spike)
        return own

    def restore(self, layer: nn.Module, saved: Any) -> None:
        """Give ``layer`` its own ``spike_grad`` back (Sec. 4.3)."""
        set_spike_function(layer, "spike_grad", saved)

