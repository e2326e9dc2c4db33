"""The network one character at a time, fast: the step that sampling and probes take, on weights arranged
once for it.

Calling the fused ``nn.LSTM`` for a single character costs far more in set-up than in arithmetic (about
5x the step's own work for 2 x 512 on a CPU). ``Stepper`` does the same arithmetic with a few matrix
products on pre-arranged weights: the layer-0 input projection of every character is a vocabulary-sized
lookup table (embedding x W_ih + both biases, computed once), a higher layer multiplies [input, h] by its
two weight matrices stacked into one, and a tied head with a projection is one (H, V) matrix. The result
equals ``CharRNN.forward`` up to float rounding (a test holds them to 1e-5).

The state is a list of per-layer tensors (``StepState``); ``from_state``/``to_state`` convert to and from
the model's own (L, B, H) layout, so a prime can be read by the fused core and continued here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from charlstm.model import CharRNN, State, state_tensors

# An LSTM's gates as nn.LSTM packs them: input i, forget f, cell candidate g, output o.
LSTM_GATES = ("input", "forget", "cell", "output")


@dataclass
class StepState:
    """Per layer: the hidden state h (B, H) and, for an LSTM, the cell state c (B, H)."""
    h: list[torch.Tensor]
    c: list[torch.Tensor] | None

    def expand(self, rows: int) -> "StepState":
        """A one-row state copied to ``rows`` rows (streams that share a prime)."""
        grow = lambda tensors: [t.expand(rows, -1).contiguous() for t in tensors]  # noqa: E731
        return StepState(grow(self.h), None if self.c is None else grow(self.c))


class Stepper:
    """``step(ids (B,), state) -> logits (B, V)``, updating ``state`` in place."""

    @torch.no_grad()
    def __init__(self, model: CharRNN):
        config, core = model.config, model.core
        self.cell = config.cell
        self.num_layers = config.num_layers
        self.hidden = config.hidden_size
        weight = lambda name, layer: getattr(core, f"{name}_l{layer}").detach()  # noqa: E731
        # Layer 0: every character's input projection and both biases, as one table row per character.
        # A GRU keeps its hidden bias apart, because its reset gate multiplies the hidden part alone.
        input_bias = weight("bias_ih", 0) + (weight("bias_hh", 0) if self.cell != "gru" else 0)
        self.table = torch.addmm(input_bias, model.embedding.weight.detach(), weight("weight_ih", 0).t())
        self.w_hh = [weight("weight_hh", layer).t().contiguous() for layer in range(self.num_layers)]
        self.b_hh = [weight("bias_hh", layer) for layer in range(self.num_layers)]
        self.w_ih = [None] + [weight("weight_ih", layer).t().contiguous() for layer in range(1, self.num_layers)]
        self.b_ih = [None] + [weight("bias_ih", layer) for layer in range(1, self.num_layers)]
        if self.cell != "gru":
            # One product per higher layer: [input, h] @ [W_ih; W_hh] + (b_ih + b_hh).
            self.w_cat = [None] + [torch.cat([self.w_ih[l], self.w_hh[l]]) for l in range(1, self.num_layers)]
            self.b_cat = [None] + [self.b_ih[l] + self.b_hh[l] for l in range(1, self.num_layers)]
        head = model.head.weight.detach().t()  # (E or H, V)
        if model.projection is not None:
            head = model.projection.weight.detach().t() @ head
        self.head, self.head_bias = head.contiguous(), model.head.bias.detach()

    def initial_state(self, rows: int) -> StepState:
        zeros = lambda: [self.table.new_zeros(rows, self.hidden) for _ in range(self.num_layers)]  # noqa: E731
        return StepState(zeros(), zeros() if self.cell == "lstm" else None)

    def from_state(self, state: State) -> StepState:
        """The model's (L, B, H) state (or (h, c) pair) as a ``StepState``."""
        layers = [[t.contiguous() for t in tensor] for tensor in state_tensors(state)]
        return StepState(layers[0], layers[1] if len(layers) == 2 else None)

    def to_state(self, state: StepState) -> State:
        h = torch.stack(state.h)
        return (h, torch.stack(state.c)) if state.c is not None else h

    @torch.no_grad()
    def step(self, ids: torch.Tensor, state: StepState, gates: list[dict] | None = None) -> torch.Tensor:
        """Logits (B, V) after the characters ``ids`` (B,); with a list as ``gates``, an LSTM appends one
        dict per layer of its gate activations (``LSTM_GATES`` -> (B, H)) to it."""
        x = None
        for layer in range(self.num_layers):
            h = state.h[layer]
            if self.cell == "gru":
                x = self._gru(layer, ids, x, h)
            else:
                if layer == 0:
                    pre = torch.addmm(self.table[ids], h, self.w_hh[0])
                else:
                    pre = torch.addmm(self.b_cat[layer], torch.cat([x, h], dim=1), self.w_cat[layer])
                if self.cell == "lstm":
                    x = self._lstm(pre, state.c, layer, gates)
                else:
                    x = torch.tanh(pre)
            state.h[layer] = x
        return torch.addmm(self.head_bias, x, self.head)

    def _lstm(self, pre: torch.Tensor, cells: list[torch.Tensor], layer: int, gates: list[dict] | None) -> torch.Tensor:
        i, f, g, o = pre.chunk(4, dim=1)   # nn.LSTM's packing order is LSTM_GATES'
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * cells[layer] + i * g
        cells[layer] = c
        if gates is not None:
            gates.append(dict(zip(LSTM_GATES, (i, f, g, o))))
        return o * torch.tanh(c)

    def _gru(self, layer: int, ids: torch.Tensor, x: torch.Tensor | None, h: torch.Tensor) -> torch.Tensor:
        # nn.GRU's gate order: reset, update, new; the reset gate scales the hidden part of "new" only.
        inp = self.table[ids] if layer == 0 else torch.addmm(self.b_ih[layer], x, self.w_ih[layer])
        hid = torch.addmm(self.b_hh[layer], h, self.w_hh[layer])
        i_r, i_z, i_n = inp.chunk(3, dim=1)
        h_r, h_z, h_n = hid.chunk(3, dim=1)
        r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        return n + z * (h - n)
