"""Grid LSTM (Kalchbrenner, Danihelka & Graves 2015): LSTM memory along depth as well as along time.

The layers and time steps form a 2-D grid of blocks. The block of layer l at step t gets a hidden vector
and a memory cell from each dimension, h^time, C^time from (l, t-1) and h^depth, C^depth from (l-1, t),
and runs one LSTM transform per dimension, each with its own weights, on their concatenation:
    H = [h^time_{l,t-1}, h^depth_{l-1,t}]
    for d in (time, depth), with W^d, b^d its own:
        i^d, f^d, o^d = σ(W^d·H + b^d);  C̃^d = tanh(W^d_C·H + b^d_C)
        C^d = f^d ⊙ C^d_in + i^d ⊙ C̃^d;   h^d = o^d ⊙ tanh(C^d)
h^time, C^time go on to (l, t+1); h^depth, C^depth up to (l+1, t). The bottom block's h^depth_in is the
embedded character x_t and its C^depth_in is zero; the top block's h^depth is the output the head reads.
Untied: every layer has its own W^time and W^depth (the paper's "tied" grid shares them along depth;
here layer 0 reads x_t, E wide, and the others H wide, as in ``lstm``). Per layer 8H·(in + H + 1)
parameters (in = E at layer 0, H above): twice an LSTM's gates per unit, so ``compare`` picks about
H/√2 units, at the same work per step. With one layer there is no depth memory to carry: the time
dimension is an LSTM (reading x_t), and the output a gated read of [h_{t-1}, x_t], o ⊙ tanh(i ⊙ C̃).

The state is (h^depth, C^time, h^time, C^depth): part 0 is what a layer outputs and part 1 the memory
along time, what ``final``, probes and the units suite read as h and c. Gate names: an LSTM's for the
time dimension (so --forget-bias, --chrono-init and the forget-gate probes work on it), "depth-" ones
for depth. --forget-bias sets both forget gates; --chrono-init only time's (depth has L steps).
"""

from __future__ import annotations

import torch

from charlstm.cells.base import StateTuple, recurrent
from charlstm.cells.gated import GatedCore


class GridLSTM(GatedCore):
    # Time and depth rows side by side per gate, sigmoid gates first: one sigmoid, one tanh and one cell
    # update cover both dimensions, on [C^time, C^depth] (B, 2H).
    gate_order = ("input", "depth-input", "forget", "depth-forget", "output", "depth-output", "cell", "depth-cell")
    gate_names = gate_order
    uses_below = True

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__(input_size, hidden_size, num_layers, dropout)
        self._uniform_()

    def state_widths(self) -> tuple[int, ...]:
        return (self.hidden_size,) * 4   # h^depth, C^time, h^time, C^depth

    @torch.no_grad()
    def set_forget_bias(self, value: float) -> None:
        for layer in range(self.num_layers):
            self.gate_bias(layer, "forget").fill_(value)
            self.gate_bias(layer, "depth-forget").fill_(value)

    def cell(self, layer, projected, state: StateTuple, weights, below):
        _, c_time, h_time, _ = state   # a layer's own h^depth, C^depth feed only the layer above
        hidden = self.hidden_size
        # The input's share (h^depth below, or x_t) is ``projected``; h^time's is the recurrent matmul.
        pre = recurrent(projected, h_time, weights[0], weights[1])
        i, f, o = torch.sigmoid(pre[:, :6 * hidden]).chunk(3, dim=1)
        g = torch.tanh(pre[:, 6 * hidden:])
        c_below = below[3] if below is not None else torch.zeros_like(c_time)
        c = f * torch.cat([c_time, c_below], dim=1) + i * g
        h = o * torch.tanh(c)
        c_time, c_depth = c.chunk(2, dim=1)
        h_time, h_depth = h.chunk(2, dim=1)
        gates = {}
        for name, value in (("input", i), ("forget", f), ("cell", g), ("output", o)):
            gates[name], gates["depth-" + name] = value.chunk(2, dim=1)
        return h_depth, (h_depth, c_time, h_time, c_depth), gates
