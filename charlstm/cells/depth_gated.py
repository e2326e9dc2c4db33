"""Depth-gated LSTM (Yao et al. 2015): a depth gate lets a layer's memory cell take in the cell of the
layer below, at the same time step, directly.

For layer l + 1 (its input x_t is layer l's output h_t^l), besides an LSTM's gates:
    d_t = σ(W_d·x_t + p_d ⊙ C_{t-1} + q_d ⊙ C_t^l + b_d)
    C_t = d_t ⊙ C_t^l + f_t ⊙ C_{t-1} + i_t ⊙ C̃_t          h_t = o_t ⊙ tanh(C_t)
(p_d and q_d diagonal, as in the paper). The bottom layer has no layer below: it is a standard LSTM, so
with one layer the whole cell is one. The LSTM gates carry no peepholes here, so that the depth gate is
the only difference from ``lstm``.
"""

from __future__ import annotations

import torch
from torch import nn

from charlstm.cells.base import StateTuple, both_layouts, recurrent
from charlstm.cells.gated import GatedCore


class DepthGatedLSTM(GatedCore):
    gate_names = ("input", "forget", "cell", "output", "depth")
    uses_below = True

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__(input_size, hidden_size, num_layers, dropout)
        # Per layer above the first: rows p_d (own previous cell) and q_d (the cell below).
        self.depth = nn.ParameterList(nn.Parameter(torch.empty(2, hidden_size)) for _ in range(num_layers - 1))
        self._uniform_()

    def input_rows(self, layer: int) -> int:
        return (4 + (layer > 0)) * self.hidden_size

    def recurrent(self, layer: int) -> tuple[torch.Tensor, ...]:
        return both_layouts(self.weight_hh[layer]) + ((self.depth[layer - 1],) if layer else ())

    def cell(self, layer, projected, state: StateTuple, weights, below):
        h, c = state
        hidden = self.hidden_size
        i, f, g, o = recurrent(projected[:, :4 * hidden], h, weights[0], weights[1]).chunk(4, dim=1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        gates = {"input": i, "forget": f, "cell": g, "output": o}
        c_new = f * c + i * g
        if layer:
            p_d, q_d = weights[2]
            c_below = below[1]
            d = torch.sigmoid(projected[:, 4 * hidden:] + p_d * c + q_d * c_below)
            c_new = c_new + d * c_below
            gates["depth"] = d
        h = o * torch.tanh(c_new)
        return h, (h, c_new), gates
