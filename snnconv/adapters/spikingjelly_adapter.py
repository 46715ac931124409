"""SpikingJelly networks under snnconv's attacks: every spiking neuron takes each member's surrogate (Sec. 4.3).

SpikingJelly's neurons (``spikingjelly.activation_based``, version 2.0) charge, fire and reset as

.. math::

    H[t] = f(V[t-1], X[t]), \\qquad S[t] = \\Theta(H[t] - V_{th}), \\qquad
    V[t] = \\begin{cases} V_{reset}\\,S[t] + (1 - S[t])\\,H[t] & \\text{hard reset} \\\\
                         H[t] - V_{th}\\,S[t] & \\text{soft reset} \\end{cases}

(:math:`f(V, X) = V + X` for ``IFNode``, :math:`V + (X - (V - V_{reset}))/\\tau` for ``LIFNode``) with the Heaviside
:math:`\\Theta(z) = \\mathbb{1}[z \\ge 0]`; :math:`\\partial S/\\partial z` is the neuron's ``surrogate_function``.
:class:`SpikingJellyNetwork` swaps ``surrogate_function`` for a :class:`~snnconv.adapters.members.MemberSpike` of the
member (Eqs. 15–18) for the duration of one call. SpikingJelly is an optional dependency: this module imports it
only when an adapter is built.

Three things of SpikingJelly's own an attack has to get past:

* **Built-in surrogates bypass the surrogate object.** With a built-in surrogate (``Sigmoid``, ``ATan``,
  ``PiecewiseQuadratic``, …) ``IFNode``/``LIFNode`` run a registered fused operator that reads only the surrogate's
  class and ``alpha`` and computes the gradient itself; setting other attributes of the surrogate, or calling it,
  changes nothing. A surrogate of another class sends the neuron down its Torch reference path, which calls it:
  that is what the member spike function does. On the CPU the two paths give the same spikes bit for bit (tested);
  on a GPU the fused kernels may round the membrane differently. Either way an attack's success is judged on the
  network as SpikingJelly runs it: without gradients the adapter leaves the neurons' own surrogates in place.
* **The eval() gradient trap.** In SpikingJelly 0.0.0.0.14, ``IFNode``/``LIFNode`` in ``eval()``
  mode skipped the surrogate function altogether: their ``single_step_forward``/``multi_step_forward`` branched on
  ``self.training`` into TorchScript kernels that fire with ``(v >= v_threshold).to(x)``, a comparison without a
  gradient, so an attack on a model in eval mode (where attacks run it) got no gradient through any spike. Version
  2.0.0 dropped that branch (its neurons call the same transition in both modes), but any neuron that keeps such a
  shortcut would silently defeat every member. The adapter puts each swapped neuron (and only it: batch norm and
  dropout stay in the network's mode) into training mode while the member's surrogate is installed, and raises if
  a neuron never called the member's spike function.
* **Non-spiking surrogates.** A surrogate with ``spiking=False`` makes the neuron output the surrogate's smooth
  primitive function instead of spikes: the network is then no SNN, and the adapter refuses it.

State: ``functional.reset_net`` resets every neuron's membrane to its rest value before and after each call.

Example::

    >>> import pytest, torch
    >>> spikingjelly = pytest.importorskip("spikingjelly")   # optional: the example is skipped without it
    >>> from snnconv.adapters.spikingjelly_adapter import SpikingJellyNetwork
    >>> from snnconv.method.network import Simulation
    >>> from spikingjelly.activation_based import layer, neuron
    >>> step = torch.nn.Sequential(layer.Flatten(), layer.Linear(784, 10), neuron.IFNode())
    >>> net = SpikingJellyNetwork(step, loop="adapter")   # single-step neurons: the adapter runs T steps
    >>> net(torch.rand(2, 1, 28, 28), Simulation(time_steps=4)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import importlib
from typing import Any

import torch
from torch import nn

from snnconv.adapters.foreign import AdapterReadout, ForeignNetwork, Loop, set_spike_function
from snnconv.adapters.members import MemberSpike


def _spikingjelly(module: str) -> Any:
    """``spikingjelly.activation_based.<module>``, imported on first use (the optional dependency of Sec. 4.3's
    adapters)."""
    try:
        return importlib.import_module(f"spikingjelly.activation_based.{module}")
    except ImportError as error:
        raise ImportError("the SpikingJelly adapter needs spikingjelly (pip install --no-deps spikingjelly==2.0.0 "
                          "loguru); snnconv does not install it.") from error


class SpikingJellyNetwork(ForeignNetwork):
    """A network built from SpikingJelly neurons behind ``forward(x, simulation)`` (Sec. 4.3).

    ``loop="network"`` (default): ``network(x)`` encodes the image and steps over time itself, returning the per-step
    outputs ``[T, B, ...]`` (or the logits, with ``readout="network"``, e.g. a network that ends in ``.mean(0)``).
    ``loop="adapter"``: direct coding by the adapter — with single-step neurons (``step_mode="s"``) it calls
    ``network(x)`` T times; with multi-step neurons (``step_mode="m"``) it calls ``network`` once on
    ``x.unsqueeze(0).repeat(T, 1, ...)``, the input sequence ``[T, B, ...]``. Readouts, with :math:`o(t)` the output of
    step t: :math:`\\frac{1}{T}\\sum_t o(t)` (``"mean"``), :math:`\\sum_t o(t)` (``"sum"``), :math:`o(T)` (``"last"``);
    see :mod:`snnconv.adapters.foreign`. The swapped neurons are every module with a ``surrogate_function`` that keeps
    membrane state (a ``MemoryModule``); they are reset by ``functional.reset_net`` before and after each call.
    """

    library = "SpikingJelly"
    fires_at_zero = True  # SpikingJelly's heaviside fires on H - V_th >= 0

    def __init__(self, network: nn.Module, loop: Loop = "network", output_index: int | None = None,
                 readout: AdapterReadout | None = None, stochastic: bool = False) -> None:
        _spikingjelly("neuron")  # fail here, with the installation hint, if SpikingJelly is missing
        super().__init__(network, loop, output_index, readout, stochastic)
        modes = {layer.step_mode for layer in self.spiking_layers()}
        if loop == "adapter" and len(modes) > 1:
            raise ValueError("the neurons mix single- and multi-step modes: step the network over time yourself and "
                             "use loop='network'.")
        self.step_mode: str = modes.pop()

    def spiking_layers(self) -> list[nn.Module]:
        """The network's spiking neurons (modules with a ``surrogate_function`` and membrane state), in registration
        order: the layers of Eqs. (1)–(3)."""
        memory = _spikingjelly("base").MemoryModule
        return [m for m in self.network.modules()
                if isinstance(m, memory) and callable(getattr(m, "surrogate_function", None))]

    def reset(self) -> None:
        """``functional.reset_net``: every neuron's membrane to its rest value, :math:`V[0] = V_{reset}` (Eq. 1)."""
        _spikingjelly("functional").reset_net(self.network)

    def threshold(self, layer: nn.Module) -> float | None:
        """The neuron's :math:`V_{th}` (Eq. 2) as a number; ``None`` for one threshold per neuron."""
        threshold = layer.v_threshold
        if isinstance(threshold, torch.Tensor):
            return float(threshold.detach()) if threshold.numel() == 1 else None
        return float(threshold)

    def install(self, layer: nn.Module, spike: MemberSpike) -> Any:
        """Fire through the member's spike function (Eq. 2, Suppl. A.4), in training mode (the eval() trap, module
        docstring); returns the neuron's own surrogate and mode."""
        own = layer.surrogate_function
        if getattr(own, "spiking", True) is False:
            raise ValueError(f"{type(layer).__name__}'s surrogate has spiking=False: the neuron outputs a smooth "
                             "function, not spikes, and the network is not an SNN (set_spiking_mode(True)).")
        saved = (own, layer.training)
        set_spike_function(layer, "surrogate_function", spike)
        layer.train(True)
        return saved

    def restore(self, layer: nn.Module, saved: Any) -> None:
        """Give the neuron its own surrogate and mode back (Sec. 4.3)."""
        own, training = saved
        set_spike_function(layer, "surrogate_function", own)
        layer.train(training)

    def run_steps(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        """Direct coding for T steps (Sec. 2.1): T single-step calls, or one multi-step call on the repeated image;
        the per-step outputs as ``[T, B, ...]``."""
        if self.step_mode == "m":
            return self.pick(self.network(x.unsqueeze(0).repeat(steps, *([1] * x.dim()))))
        return super().run_steps(x, steps)
