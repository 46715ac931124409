"""A network written for another SNN library, run through snnconv's door ``forward(x, simulation)`` (Sec. 4.3).

snnconv's attacks reach a network through one call, ``model(x, simulation)`` (:class:`~snnconv.attacks.MemberView`,
:func:`~snnconv.attacks.ensemble_robustness`): logits of images ``x`` in [0, 1] for the ensemble member
``simulation.gradient`` over ``simulation.time_steps`` steps. :class:`ForeignNetwork` implements that call around an
unmodified network of another library; a subclass per library (:mod:`snnconv.adapters.snntorch_adapter`,
:mod:`snnconv.adapters.spikingjelly_adapter`) says how its layers are found, reset and given a member's surrogate.
Each call

1. resets every spiking layer to rest (no state survives between inputs, as for the neurons of Eqs. 1–3);
2. when gradients are recorded, gives every spiking layer the member's surrogate (:mod:`snnconv.adapters.members`);
   without gradients (the ensemble's success check) the network runs exactly as its library runs it;
3. runs the time loop — the network's own (``loop="network"``), or the adapter's (``loop="adapter"``): T steps of
   direct coding, the image :math:`x` as the input of every step :math:`t = 1, \\dots, T`;
4. reads the T per-step outputs :math:`o(t)` out into logits (``readout``):

   * ``"mean"`` — :math:`\\frac{1}{T}\\sum_{t=1}^{T} o(t)` (snnconv's default, Eq. 7 averaged),
   * ``"sum"`` — :math:`\\sum_{t=1}^{T} o(t)` (Eq. 7 as printed),
   * ``"last"`` — :math:`o(T)`, e.g. the output layer's membrane after the last step,
   * ``"network"`` — none: the network's output already is the logits ``[B, classes]`` (it reads out itself);
   * ``None`` — ``simulation.readout`` (``"mean"`` or ``"sum"``).

   :math:`o(t)` is what the network returns at step t, or its element ``output_index`` when it returns a tuple (for
   snnTorch's ``(spk, mem)``, 0 reads out output spikes — the mean is then the spike rate — and 1 the membrane).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Literal

import torch
from torch import nn

from snnconv.adapters.members import MemberSpike, OwnSurrogate, adaptable
from snnconv.method.network import Simulation
from snnconv.method.surrogates import BPTT, MemberSwitch

#: Who steps the network over time: the network's own ``forward`` (``"network"``) or the adapter (``"adapter"``).
Loop = Literal["network", "adapter"]
#: How the T per-step outputs become logits (see the module docstring); ``None`` follows ``simulation.readout``.
AdapterReadout = Literal["mean", "sum", "last", "network"]


class ForeignNetwork(nn.Module):
    """Another library's SNN behind ``forward(x, simulation)``: the interface of snnconv's attacks (Sec. 4.3).

    Args:
        network: the library's ``nn.Module``, unchanged (the adapter swaps surrogates only for the duration of a call).
        loop: ``"network"`` if ``network(x)`` runs all T steps itself and returns the per-step outputs
            ``[T, B, ...]`` (or the logits, with ``readout="network"``); ``"adapter"`` if it computes one step (or,
            for SpikingJelly's multi-step mode, takes the whole input sequence) and the adapter runs T steps.
        output_index: the element of a tuple that ``network`` returns to read out; ``None`` if it returns a tensor.
        readout: ``"mean"``, ``"sum"``, ``"last"``, ``"network"``, or ``None`` for ``simulation.readout``. Every
            readout but ``"network"`` checks that the network ran ``simulation.time_steps`` steps; with ``"network"``
            the number of steps is the network's own.
        stochastic: whether the network draws random numbers in its forward (a random input encoding); then attack
            members may not share one forward pass (:attr:`snnconv.method.network.SpikingModel.stochastic`).
    """

    #: The library's name, for messages.
    library: str = "the library"
    #: Whether the library fires at :math:`z \\ge 0` (SpikingJelly) rather than :math:`z > 0` (snnTorch).
    fires_at_zero: bool = False

    def __init__(self, network: nn.Module, loop: Loop = "network", output_index: int | None = None,
                 readout: AdapterReadout | None = None, stochastic: bool = False) -> None:
        super().__init__()
        if loop not in ("network", "adapter"):
            raise ValueError(f"loop must be 'network' or 'adapter', got {loop!r}.")
        if readout not in (None, "mean", "sum", "last", "network"):
            raise ValueError(f"readout must be None, 'mean', 'sum', 'last' or 'network', got {readout!r}.")
        if readout == "network" and loop == "adapter":
            raise ValueError("readout='network' needs loop='network': only a network that loops reads out itself.")
        self.network = network
        self.loop, self.output_index, self.readout, self.stochastic = loop, output_index, readout, stochastic
        if not self.spiking_layers():
            raise ValueError(f"no spiking layer of {self.library} that this adapter supports in {type(network)!r}")

    # The library-specific part.
    def spiking_layers(self) -> list[nn.Module]:
        """The network's spiking layers, in registration order, whose surrogate the adapter swaps (Suppl. A.4)."""
        raise NotImplementedError

    def reset(self) -> None:
        """Every spiking layer back to rest, :math:`v(0) = 0` (the state of Eqs. 1–3 at the start of an input)."""
        raise NotImplementedError

    def threshold(self, layer: nn.Module) -> float | None:
        """The layer's :math:`V_{th}` (Eq. 2), for members with widths in threshold units; ``None`` if it has no
        single threshold."""
        raise NotImplementedError

    def install(self, layer: nn.Module, spike: MemberSpike) -> Any:
        """Make ``layer`` fire through ``spike`` (Eq. 2 with the member's surrogate); return what :meth:`restore`
        needs to undo it."""
        raise NotImplementedError

    def restore(self, layer: nn.Module, saved: Any) -> None:
        """Undo :meth:`install` on ``layer`` (Sec. 4.3: the network is left as its author built it)."""
        raise NotImplementedError

    def run_steps(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        """``loop="adapter"``: T steps of direct coding (Sec. 2.1), the per-step outputs stacked as ``[T, B, ...]``."""
        return torch.stack([self.pick(self.network(x)) for _ in range(steps)])

    # The common part.
    def pick(self, output: Any) -> torch.Tensor:
        """The read-out quantity :math:`o` of one network output (its element ``output_index`` for a tuple, Eq. 7)."""
        if self.output_index is not None:
            return output[self.output_index]
        if not isinstance(output, torch.Tensor):
            raise TypeError(f"the network returned {type(output).__name__}; pick the read-out element with "
                            "output_index (for snnTorch's (spk, mem): 0 = spikes, 1 = membrane).")
        return output

    def forward(self, x: torch.Tensor, simulation: Simulation) -> torch.Tensor:
        """Logits ``[B, classes]`` of images ``x`` for the member ``simulation.gradient`` over
        ``simulation.time_steps`` steps: the door every attack of Sec. 4.3 uses (see the module docstring)."""
        steps, gradient = simulation.time_steps, simulation.gradient
        if steps < 1:
            raise ValueError(f"{self.library}'s network is an SNN: run it with time_steps >= 1, got {steps} "
                             "(time_steps = 0 is the ANN of snnconv's own networks).")
        if not adaptable(gradient):
            raise NotImplementedError(
                f"the member {getattr(gradient, 'label', gradient)!r} needs the neuron's internals; an adapted "
                f"network runs BPTT surrogates and OwnSurrogate (snnconv.adapters.members.SURROGATE_MEMBERS).")
        self.reset()
        try:
            with self.members(gradient if torch.is_grad_enabled() else None):
                if self.loop == "network":
                    outputs = self.pick(self.network(x))
                else:
                    outputs = self.run_steps(x, steps)
        finally:
            self.reset()
        return self.read_out(outputs, simulation)

    @contextlib.contextmanager
    def members(self, gradient: BPTT | MemberSwitch | OwnSurrogate | None) -> Iterator[None]:
        """Every spiking layer fires through a :class:`MemberSpike` of ``gradient`` inside the block; ``None`` and
        :class:`OwnSurrogate` leave the layers' own surrogates (Suppl. A.4). Raises if a layer never fired through
        its member spike function: its gradient would not have followed the member."""
        if gradient is None or isinstance(gradient, OwnSurrogate):
            yield
            return
        layers = self.spiking_layers()
        spikes = [MemberSpike(gradient, self.threshold(layer), self.fires_at_zero) for layer in layers]
        saved = []
        try:
            for layer, spike in zip(layers, spikes, strict=True):
                saved.append((layer, self.install(layer, spike)))
            yield
        finally:
            for layer, state in reversed(saved):
                self.restore(layer, state)
        unused = [type(layer).__name__ for layer, spike in zip(layers, spikes, strict=True) if not spike.calls]
        if unused:
            raise RuntimeError(f"{len(unused)} spiking layers ({', '.join(unused)}) never called their surrogate: "
                               "their gradient would not follow the member (is every layer used in forward?).")

    def read_out(self, outputs: torch.Tensor, simulation: Simulation) -> torch.Tensor:
        """Logits from the per-step outputs ``[T, B, ...]`` by the adapter's readout (Eq. 7; module docstring)."""
        readout = self.readout or simulation.readout
        if readout == "network":
            return outputs
        if outputs.shape[0] != simulation.time_steps:
            raise ValueError(f"the network returned {outputs.shape[0]} steps (its outputs {tuple(outputs.shape)} are "
                             f"read as [T, B, ...]), the simulation asks for T = {simulation.time_steps}.")
        if readout == "mean":
            return outputs.mean(0)
        if readout == "sum":
            return outputs.sum(0)
        return outputs[-1]


class _SpikeModule(nn.Module):
    """A :class:`~snnconv.adapters.members.MemberSpike` as a module (Eq. 2's spike function): ``nn.Module`` accepts
    only a module (or ``None``) under the name of a child module, such as SpikingJelly's ``surrogate_function``."""

    def __init__(self, spike: MemberSpike) -> None:
        super().__init__()
        self.spike = spike

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.spike(z)


def set_spike_function(layer: nn.Module, name: str, spike: Any) -> None:
    """Set the attribute ``name`` of ``layer`` — its spike function :math:`H` of Eq. (2), with its surrogate — to
    ``spike``; a plain callable put where the layer holds a child module is wrapped as one."""
    if name in layer._modules and not isinstance(spike, nn.Module):
        spike = _SpikeModule(spike)
    setattr(layer, name, spike)
