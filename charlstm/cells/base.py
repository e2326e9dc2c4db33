"""The interface every custom cell shares, and the layer stack that runs it like ``nn.LSTM``.

A cell says, for one layer, how to project a whole window of input at once (``project``: one matmul for
all T steps, the biggest saving over a step-by-step ``nn.LSTMCell`` loop) and how to take one time step
(``cell``: the projected input, the layer's own state and, for a depth-gated cell, the new state of the
layer below in; the output, the new state and the named gate activations out). ``CustomCore`` stacks the
layers with nn.LSTM's calling convention (batch first, state in and out), so ``CharRNN`` runs a custom
cell wherever it runs a fused one:

* ``forward(x (B, T, E), state, lengths)`` -> output (B, T, H), state: layer by layer, each a loop over
  time on its pre-projected window (dropout between layers when training). With ``lengths``, a row's
  state stops changing after its own last character (right-padded batches of different lengths).
* ``step(x (B, E), state)`` -> output (B, H), state, gates per layer: one character, for tests; sampling
  and probes call ``step_parts``, which updates per-layer lists in place (``charlstm.stepper``).
* ``initial_state(B)``: a tuple of (L, B, width) tensors, h first, then the cell state c (or, for the
  clockwork RNN, its clock), so the rest of charlstm handles every cell's state the same way.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from charlstm.dropout import Dropout

StateTuple = tuple[torch.Tensor, ...]


class CustomCore(nn.Module):
    # Names of the gate activations ``cell`` returns (shared by every layer; a layer may add its own).
    gate_names: tuple[str, ...] = ()
    # Whether the state's second tensor is a memory cell (what the units suite reads).
    has_cell_state = True
    # Whether a layer reads the state the layer below reached at the same time step (depth-gated).
    uses_below = False

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.dropout = Dropout(dropout if num_layers > 1 else 0.0)

    # -- what a cell defines ----------------------------------------------------------------------------

    def state_widths(self) -> tuple[int, ...]:
        return self.hidden_size, self.hidden_size

    def project(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        """The input's share of every pre-activation, for any leading shape: x (..., in) -> (..., G*H)."""
        raise NotImplementedError

    def recurrent(self, layer: int) -> tuple[torch.Tensor, ...]:
        """The weights ``cell`` needs, arranged once per call of forward/step (a mask applied, say)."""
        raise NotImplementedError

    def cell(self, layer: int, projected: torch.Tensor, state: StateTuple, weights: tuple[torch.Tensor, ...],
             below: StateTuple | None) -> tuple[torch.Tensor, StateTuple, dict[str, torch.Tensor]]:
        """One time step of one layer: (output h (B, H), new state, gate activations by name)."""
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------------------------

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> StateTuple:
        weight = next(self.parameters())
        device = device if device is not None else weight.device
        return tuple(torch.zeros(self.num_layers, batch_size, width, device=device, dtype=weight.dtype)
                     for width in self.state_widths())

    def forward(self, x: torch.Tensor, state: StateTuple | None = None,
                lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, StateTuple]:
        state = state if state is not None else self.initial_state(x.size(0), x.device)
        inputs = x.transpose(0, 1)  # (T, B, E): each time step one contiguous slice
        steps = inputs.size(0)
        valid = None
        if lengths is not None:
            valid = (torch.arange(steps, device=x.device)[:, None] < lengths.to(x.device)[None, :]).unsqueeze(-1)
        finals: list[StateTuple] = []
        below_states: list[StateTuple] | None = None
        for layer in range(self.num_layers):
            if layer:
                inputs = self.dropout(inputs)
            projected = self.project(layer, inputs)
            weights = self.recurrent(layer)
            own = tuple(part[layer] for part in state)
            outputs, states = [], []
            for t in range(steps):
                below = below_states[t] if below_states is not None else None
                h, new, _ = self.cell(layer, projected[t], own, weights, below)
                if valid is not None:  # padding after a row's end leaves its state as it was
                    new = tuple(torch.where(valid[t], n, o) for n, o in zip(new, own))
                own = new
                outputs.append(h)
                if self.uses_below:
                    states.append(new)
            inputs = torch.stack(outputs)
            below_states = states if self.uses_below else None
            finals.append(own)
        return inputs.transpose(0, 1), tuple(torch.stack(parts) for parts in zip(*finals))

    def step_parts(self, x: torch.Tensor, parts: list[list[torch.Tensor]],
                   gates: list[dict] | None = None) -> torch.Tensor:
        """One character through every layer: x (B, E) -> top output (B, H). ``parts[k][layer]`` is state
        tensor k of a layer, replaced in place; with a list as ``gates``, one dict per layer is appended."""
        below = None
        for layer in range(self.num_layers):
            own = tuple(part[layer] for part in parts)
            x, new, layer_gates = self.cell(layer, self.project(layer, x), own, self.recurrent(layer), below)
            for part, value in zip(parts, new):
                part[layer] = value
            if gates is not None:
                gates.append(layer_gates)
            below = new
        return x

    def step(self, x: torch.Tensor, state: StateTuple) -> tuple[torch.Tensor, StateTuple, list[dict]]:
        """``step_parts`` on a whole state tuple: x (B, E), state -> (output (B, H), new state, gates)."""
        parts = [list(tensor.unbind(0)) for tensor in state]
        gates: list[dict] = []
        output = self.step_parts(x, parts, gates)
        return output, tuple(torch.stack(part) for part in parts), gates

    def _uniform_(self) -> None:
        """nn.LSTM's initialisation: every parameter U(-1/sqrt(H), 1/sqrt(H))."""
        bound = 1 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.uniform_(-bound, bound)
