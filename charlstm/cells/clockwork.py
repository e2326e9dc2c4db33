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
    has_cell_state = False

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, dropout: float, modules: int):
        super().__init__(input_size, hidden_size, num_layers, dropout)
        sizes = module_sizes(hidden_size, modules)
        periods = torch.tensor([float(2 ** k) for k, size in enumerate(sizes) for _ in range(size)])
        self.register_buffer("periods", periods, persistent=False)            # (H,) each unit's period
        self.register_buffer("connections", (periods[None, :] >= periods[:, None]).float(), persistent=False)
        self.longest = float(2 ** (modules - 1))
        # Units are ordered fast to slow, so the modules that tick at a step are a prefix of the units:
        # active_units[p] is its length at clock p (module k ticks when 2^k divides p).
        self.active_units = [sum(size for k, size in enumerate(sizes) if p % 2 ** k == 0)
                             for p in range(2 ** (modules - 1))]
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

    def forward(self, x: torch.Tensor, state: StateTuple | None = None,
                lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, StateTuple]:
        """When every stream is at the same clock (always so in training), only the modules that tick are
        computed: at a step where modules 0..k tick, the first units of W_H's rows, about a quarter of the
        work on average for equal modules. Otherwise (rows at different clocks, padded rows) the general
        path of ``CustomCore``, which computes every unit and keeps the idle ones."""
        if state is None:
            state = self.initial_state(x.size(0), x.device)
        clock = state[1]
        if lengths is not None or clock.numel() == 0 or not bool((clock == clock.reshape(-1)[0]).all()):
            return super().forward(x, state, lengths)
        start, steps = int(clock.reshape(-1)[0]), x.size(1)
        inputs, finals = x.transpose(0, 1), []
        for layer in range(self.num_layers):
            if layer:
                inputs = self.dropout(inputs)
            projected = self.project(layer, inputs).unbind(0)
            w_t, w = self.recurrent(layer)
            # One slice per prefix length, made once: a slice made per step would cost a full (H, H)
            # zero-filled gradient per step in backward.
            receiving = {active: (w_t[:, :active], w[:active]) for active in set(self.active_units)}
            h, outputs = state[0][layer], []
            for t in range(steps):
                active = self.active_units[(start + t) % len(self.active_units)]
                top = torch.tanh(recurrent(projected[t][:, :active], h, *receiving[active]))
                h = torch.cat([top, h[:, active:]], dim=1) if active < self.hidden_size else top
                outputs.append(h)
            inputs = torch.stack(outputs)
            finals.append(h)
        clock = torch.full_like(clock, float((start + steps) % len(self.active_units)))
        return inputs.transpose(0, 1), (torch.stack(finals), clock)

    def cell(self, layer, projected, state: StateTuple, weights, below):
        h, clock = state
        active = torch.remainder(clock, self.periods) == 0         # (B, H): this module ticks now
        h = torch.where(active, torch.tanh(recurrent(projected, h, *weights)), h)
        return h, (h, torch.remainder(clock + 1, self.longest)), {"active": active.to(h.dtype)}
