"""Peephole LSTM (Gers & Schmidhuber 2000): the gates also look at the cell state.

In Olah's notation, with diagonal peephole weights p (one per unit and gate):
    f_t = σ(W_f·[h_{t-1}, x_t] + p_f ⊙ C_{t-1} + b_f)      i_t = σ(W_i·[h_{t-1}, x_t] + p_i ⊙ C_{t-1} + b_i)
    C_t = f_t ⊙ C_{t-1} + i_t ⊙ tanh(W_C·[h_{t-1}, x_t] + b_C)
    o_t = σ(W_o·[h_{t-1}, x_t] + p_o ⊙ C_t + b_o)            h_t = o_t ⊙ tanh(C_t)
The output gate sees the new cell state, as in the post's figure; forget and input gates the old one.
"""

from __future__ import annotations

import torch
from torch import nn

from charlstm.cells.base import StateTuple, both_layouts, recurrent
from charlstm.cells.gated import GatedCore


class PeepholeLSTM(GatedCore):
    gate_names = ("input", "forget", "cell", "output")

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__(input_size, hidden_size, num_layers, dropout)
        # Rows: input, forget, output peepholes.
        self.peephole = nn.ParameterList(nn.Parameter(torch.empty(3, hidden_size)) for _ in range(num_layers))
        self._uniform_()

    def recurrent(self, layer: int) -> tuple[torch.Tensor, ...]:
        return (*both_layouts(self.weight_hh[layer]), self.peephole[layer])

    def cell(self, layer, projected, state: StateTuple, weights, below):
        h, c = state
        w_t, w, (p_i, p_f, p_o) = weights
        i, f, g, o = recurrent(projected, h, w_t, w).chunk(4, dim=1)
        i = torch.sigmoid(i + p_i * c)
        f = torch.sigmoid(f + p_f * c)
        g = torch.tanh(g)
        c = f * c + i * g
        o = torch.sigmoid(o + p_o * c)
        h = o * torch.tanh(c)
        return h, (h, c), {"input": i, "forget": f, "cell": g, "output": o}
