"""What the LSTM variants share: per layer an input matrix, a recurrent matrix and one bias over their
gates, stacked in ``gate_order``, and the forget-gate initialisations (a constant bias, or chrono)."""

from __future__ import annotations

import torch
from torch import nn

from charlstm.cells.base import CustomCore, both_layouts


class GatedCore(CustomCore):
    # The pre-activations a layer computes from input and recurrent state, in stacking order.
    gate_order: tuple[str, ...] = ("input", "forget", "cell", "output")

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__(input_size, hidden_size, num_layers, dropout)
        rows = len(self.gate_order) * hidden_size
        inputs = [input_size] + [hidden_size] * (num_layers - 1)
        self.weight_ih = nn.ParameterList(nn.Parameter(torch.empty(self.input_rows(layer), size))
                                          for layer, size in enumerate(inputs))
        self.weight_hh = nn.ParameterList(nn.Parameter(torch.empty(rows, hidden_size)) for _ in range(num_layers))
        self.bias = nn.ParameterList(nn.Parameter(torch.empty(self.input_rows(layer))) for layer in range(num_layers))

    def input_rows(self, layer: int) -> int:
        """Rows of a layer's input projection (a depth-gated layer projects its depth gate too)."""
        return len(self.gate_order) * self.hidden_size

    def project(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight_ih[layer], self.bias[layer])

    def recurrent(self, layer: int) -> tuple[torch.Tensor, ...]:
        return both_layouts(self.weight_hh[layer])

    def gate_bias(self, layer: int, gate: str) -> torch.Tensor:
        start = self.gate_order.index(gate) * self.hidden_size
        return self.bias[layer][start:start + self.hidden_size]

    @torch.no_grad()
    def set_forget_bias(self, value: float) -> None:
        for layer in range(self.num_layers):
            self.gate_bias(layer, "forget").fill_(value)

    @torch.no_grad()
    def set_chrono_biases(self, max_timescale: int) -> None:
        """Forget biases log(u), u ~ U(1, T-1), and input biases -log(u) where there is an input gate."""
        for layer in range(self.num_layers):
            timescales = torch.empty(self.hidden_size).uniform_(1, max_timescale - 1)
            self.gate_bias(layer, "forget").copy_(torch.log(timescales))
            if "input" in self.gate_order:
                self.gate_bias(layer, "input").copy_(-torch.log(timescales))
