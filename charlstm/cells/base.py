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
from collections.abc import Sequence

import torch
from torch import nn

from charlstm.dropout import Dropout

StateTuple = tuple[torch.Tensor, ...]


class _Recurrent(torch.autograd.Function):
    """bias + h @ W^T, given W^T (H_in, G) and W (G, H_in) both laid out contiguously. A CPU matmul is 2-2.5x
    faster when its right operand is contiguous than when it is a transposed view (32 x 512 by 512 x 2048
    here), and backward needs W where forward needs W^T: autograd alone would use a view in one of them."""

    @staticmethod
    def forward(ctx, bias, h, w_t, w):
        ctx.save_for_backward(h, w)
        return torch.addmm(bias, h, w_t)

    @staticmethod
    def backward(ctx, grad):
        h, w = ctx.saved_tensors
        grad_h = grad @ w if ctx.needs_input_grad[1] else None
        grad_w_t = h.t() @ grad if ctx.needs_input_grad[2] else None
        return grad, grad_h, grad_w_t, None


def recurrent(bias: torch.Tensor, h: torch.Tensor, w_t: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``bias + h @ w_t`` (w_t = W^T carries the gradient; w = W, detached, serves backward)."""
    return _Recurrent.apply(bias, h, w_t, w)


def both_layouts(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(W^T contiguous, W detached and contiguous): the operands ``recurrent`` wants, made once per window."""
    return weight.t().contiguous(), weight.detach().contiguous()


class CustomCore(nn.Module):
    fused = False
    by_layer = False   # dropout between layers is the core's own (see forward)
    # Names of the gate activations ``cell`` returns (shared by every layer; a layer may add its own).
    gate_names: tuple[str, ...] = ()
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
                inputs = self.dropout(inputs, time_dim=0)
            # unbind, not projected[t]: indexing would make backward zero-fill a whole (T, B, G) gradient per step.
            projected = self.project(layer, inputs).unbind(0)
            own = tuple(part[layer] for part in state)
            outputs, own, below_states = self.run_layer(layer, projected, own, below_states, valid)
            inputs = torch.stack(outputs)
            finals.append(own)
        return inputs.transpose(0, 1), tuple(torch.stack(parts) for parts in zip(*finals))

    def run_layer(self, layer: int, projected: Sequence[torch.Tensor], own: StateTuple,
                  below_states: list[StateTuple] | None, valid: torch.Tensor | None
                  ) -> tuple[list[torch.Tensor], StateTuple, list[StateTuple] | None]:
        """One layer over a window: (output per step, final state, the state per step where the layer above
        reads it). ``valid`` (T, B, 1) marks the steps inside each row, for right-padded batches."""
        weights = self.recurrent(layer)
        outputs, states = [], []
        for t, step_input in enumerate(projected):
            below = below_states[t] if below_states is not None else None
            h, new, _ = self.cell(layer, step_input, own, weights, below)
            if valid is not None:  # padding after a row's end leaves its state as it was
                new = tuple(torch.where(valid[t], n, o) for n, o in zip(new, own))
            own = new
            outputs.append(h)
            if self.uses_below:
                states.append(new)
        return outputs, own, states if self.uses_below else None

    def step_parts(self, x: torch.Tensor, parts: list[list[torch.Tensor]], gates: list[dict] | None = None,
                   weights: list[tuple[torch.Tensor, ...]] | None = None) -> torch.Tensor:
        """One character through every layer: x (B, E) -> top output (B, H). ``parts[k][layer]`` is state
        tensor k of a layer, replaced in place; with a list as ``gates``, one dict per layer is appended.
        ``weights``: every layer's ``recurrent(layer)``, when a caller steps many times on fixed weights."""
        below = None
        for layer in range(self.num_layers):
            own = tuple(part[layer] for part in parts)
            recurrent = weights[layer] if weights is not None else self.recurrent(layer)
            x, new, layer_gates = self.cell(layer, self.project(layer, x), own, recurrent, below)
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
