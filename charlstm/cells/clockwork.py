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

from charlstm.cells.base import CustomCore, StateTuple, both_layouts, recurrent


def module_sizes(hidden_size: int, modules: int) -> list[int]:
    return [hidden_size // modules + (k < hidden_size % modules) for k in range(modules)]


class ClockworkRNN(CustomCore):
    gate_names = ("active",)  # 1 where a unit's module ticked at this step: the only "gate" it has

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, dropout: float, modules: int):
        super().__init__(input_size, hidden_size, num_layers, dropout)
        sizes = module_sizes(hidden_size, modules)
        periods = torch.tensor([float(2 ** k) for k, size in enumerate(sizes) for _ in range(size)])
        self.register_buffer("periods", periods, persistent=False)            # (H,) each unit's period
        self.register_buffer("connections", (periods[None, :] >= periods[:, None]).float(), persistent=False)
        self.longest = 2 ** (modules - 1)  # the clock counts modulo the longest period
        # Units are ordered fast to slow, so the modules that tick at a step are a prefix of the units:
        # active_units[p] is its length at clock p (module k ticks when 2^k divides p).
        self.active_units = [sum(size for k, size in enumerate(sizes) if p % 2 ** k == 0)
                             for p in range(self.longest)]
        # Recurrent weights the mask zeroes (from faster modules to slower ones): stored, never used.
        self.unused_parameters = num_layers * sum(sizes[i] * sizes[j] for i in range(modules) for j in range(i))
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
        return both_layouts(self.weight_hh[layer] * self.connections)

    def run_layer(self, layer, projected, own: StateTuple, below_states, valid):
        """When every stream is at the same clock (always so in training), only the modules that tick are
        computed: at a step where modules 0..k tick, the first units of W_H's rows, about a quarter of the
        work on average for equal modules. Otherwise (rows at different clocks, padded rows) the general
        path, which computes every unit and keeps the idle ones."""
        h, clock = own
        if valid is not None or not bool((clock == clock.reshape(-1)[0]).all()):
            return super().run_layer(layer, projected, own, below_states, valid)
        start = int(clock.reshape(-1)[0])
        w_t, w = self.recurrent(layer)
        # One slice per prefix length, made once: a slice made per step would cost a full (H, H)
        # zero-filled gradient per step in backward.
        receiving = {active: (w_t[:, :active], w[:active]) for active in set(self.active_units)}
        outputs = []
        for t, step_input in enumerate(projected):
            active = self.active_units[(start + t) % self.longest]
            top = torch.tanh(recurrent(step_input[:, :active], h, *receiving[active]))
            h = torch.cat([top, h[:, active:]], dim=1) if active < self.hidden_size else top
            outputs.append(h)
        return outputs, (h, torch.full_like(clock, float((start + len(projected)) % self.longest))), None

    def cell(self, layer, projected, state: StateTuple, weights, below):
        h, clock = state
        active = torch.remainder(clock, self.periods) == 0         # (B, H): this module ticks now
        h = torch.where(active, torch.tanh(recurrent(projected, h, *weights)), h)
        return h, (h, torch.remainder(clock + 1, self.longest)), {"active": active.to(h.dtype)}
