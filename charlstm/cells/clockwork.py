"""Clockwork RNN (Koutník et al. 2014): hidden units in modules that tick at different rates.

The H units of a layer form M modules with periods 1, 2, 4, ..., 2^(M-1) (``--clockwork-modules M``;
units split as evenly as H allows). At time step t a module updates only when its period divides t, and
otherwise keeps its state:
    h_t^(k) = tanh(W_H^(k)·h_{t-1} + W_I^(k)·x_t + b^(k))   if t mod T_k = 0,   else h_{t-1}^(k)
W_H is block-triangular: a module hears modules of its own period and slower ones, never faster ones,
so slow modules keep a long, coarse memory that fast ones read. The clock (t modulo the longest period)
is part of the state, per stream, so it runs on across windows and through sampling.
"""

from __future__ import annotations

import torch
from torch import nn

from charlstm.cells.base import CustomCore, StateTuple


def module_sizes(hidden_size: int, modules: int) -> list[int]:
    return [hidden_size // modules + (k < hidden_size % modules) for k in range(modules)]


class ClockworkRNN(CustomCore):
    gate_names = ("active",)  # 1 where a unit's module ticked at this step: the only "gate" it has
    has_cell_state = False

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, dropout: float, modules: int):
        super().__init__(input_size, hidden_size, num_layers, dropout)
        sizes = module_sizes(hidden_size, modules)
        periods = torch.repeat_interleave(2 ** torch.arange(modules), torch.tensor(sizes)).float()
        self.register_buffer("periods", periods, persistent=False)            # (H,) each unit's period
        self.register_buffer("connections", (periods[None, :] >= periods[:, None]).float(), persistent=False)
        self.longest = float(2 ** (modules - 1))
        inputs = [input_size] + [hidden_size] * (num_layers - 1)
        self.weight_ih = nn.ParameterList(nn.Parameter(torch.empty(hidden_size, size)) for size in inputs)
        self.weight_hh = nn.ParameterList(nn.Parameter(torch.empty(hidden_size, hidden_size)) for _ in inputs)
        self.bias = nn.ParameterList(nn.Parameter(torch.empty(hidden_size)) for _ in inputs)
        self._uniform_()

    def state_widths(self) -> tuple[int, ...]:
        return self.hidden_size, 1  # h, and the clock

    def project(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight_ih[layer], self.bias[layer])

    def recurrent(self, layer: int) -> tuple[torch.Tensor, ...]:
        # connections[i, j] = 1 where unit j's module is at least as slow as unit i's (rows receive).
        return ((self.weight_hh[layer] * self.connections).t(),)

    def cell(self, layer, projected, state: StateTuple, weights, below):
        h, clock = state
        active = torch.remainder(clock, self.periods) == 0         # (B, H): this module ticks now
        h = torch.where(active, torch.tanh(torch.addmm(projected, h, weights[0])), h)
        return h, (h, torch.remainder(clock + 1, self.longest)), {"active": active.to(h.dtype)}
