"""Coupled input and forget gates: "only forget when we put something new in" (Olah; Greff et al.'s CIFG).

    f_t = σ(W_f·[h_{t-1}, x_t] + b_f)
    C_t = f_t ⊙ C_{t-1} + (1 − f_t) ⊙ tanh(W_C·[h_{t-1}, x_t] + b_C)
    o_t = σ(W_o·[h_{t-1}, x_t] + b_o)            h_t = o_t ⊙ tanh(C_t)
Three gates' weights instead of four: a quarter fewer parameters per unit. The input gate it reports is
1 − f_t, so probes read it like any LSTM's.
"""

from __future__ import annotations

import torch

from charlstm.cells.base import StateTuple, recurrent
from charlstm.cells.gated import GatedCore


class CoupledLSTM(GatedCore):
    gate_order = ("forget", "cell", "output")
    gate_names = ("input", "forget", "cell", "output")

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__(input_size, hidden_size, num_layers, dropout)
        self._uniform_()

    def cell(self, layer, projected, state: StateTuple, weights, below):
        h, c = state
        f, g, o = recurrent(projected, h, *weights).chunk(3, dim=1)
        f, g, o = torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        # f * c + (1 - f) * g in one operation, in the carried state's precision (bf16 gates under autocast)
        c = torch.lerp(g.to(c.dtype), c, f.to(c.dtype))
        h = o * torch.tanh(c)
        return h, (h, c), {"input": 1 - f, "forget": f, "cell": g, "output": o}
