"""PyTorch's fused cores (``nn.LSTM``, ``nn.GRU``, ``nn.RNN``: cuDNN on a GPU, oneDNN on a CPU) behind the
interface every cell shares (``charlstm.cells.base``): a state is a tuple of (L, B, H) tensors, h first
(an LSTM's (h, c), a GRU's or an RNN's (h,)), ``lengths`` marks right-padded rows, and the gate biases are
set by ``set_forget_bias`` and ``set_chrono_biases``. Parameters keep nn.LSTM's names, so checkpoints
load as they are.

Training with dropout between layers runs the core one layer at a time (``run_layer``: the same kernels
and weights) so that the dropout is charlstm's: on a CPU it draws its mask far faster than nn.LSTM's
``bernoulli_``, and on a GPU it draws from the CUDA generator a checkpoint saves, where cuDNN's own
dropout keeps a cached state that a resumed run could not restore. DropConnect on the recurrent matrices
(``weight_drop``, AWD-LSTM's) takes the same path: each layer's W_hh is masked once per window and handed
to the same kernel.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from charlstm.dropout import dropout_mask

StateTuple = tuple[torch.Tensor, ...]

# Training layer by layer hands cuDNN each layer's weights apart, which it copies into one buffer per call
# (a small cost, measured in benchmarks/gpu_bench.py) and warns about on every run.
warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous chunk")

# The one-layer functions behind nn.LSTM / nn.GRU / nn.RNN, by the module's ``mode``.
_LAYER_FUNCTIONS = {"LSTM": torch.lstm, "GRU": torch.gru, "RNN_TANH": torch.rnn_tanh, "RNN_RELU": torch.rnn_relu}


class FusedCore:
    """What the fused cores add to PyTorch's modules (mixed into each, before it)."""

    fused = True
    weight_drop = 0.0   # DropConnect probability on each W_hh while training (set by build_fused_core)

    @property
    def by_layer(self) -> bool:
        """Whether training runs one layer at a time (dropout between layers, or masked recurrent
        weights): see ``run_layer``."""
        return self.training and (self.dropout > 0 or self.weight_drop > 0)

    @property
    def state_count(self) -> int:
        return 2 if self.mode == "LSTM" else 1

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> StateTuple:
        device = device if device is not None else self.weight_hh_l0.device
        shape = (self.num_layers, batch_size, self.hidden_size)
        return tuple(torch.zeros(shape, device=device, dtype=self.weight_hh_l0.dtype) for _ in range(self.state_count))

    def forward(self, x: torch.Tensor, state: StateTuple | None = None,
                lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, StateTuple]:
        """x (B, T, E) -> output (B, T, H), final state; with ``lengths``, each right-padded row's own final
        state (packed, so no row sees its padding; the output is then not returned, None)."""
        native = None if state is None else (state if self.mode == "LSTM" else state[0])
        if lengths is not None:
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            _, final = super().forward(packed, native)
            return None, self._as_tuple(final)
        output, final = super().forward(x, native)
        return output, self._as_tuple(final)

    def run_layer(self, layer: int, x: torch.Tensor, state: StateTuple) -> tuple[torch.Tensor, StateTuple]:
        """One layer over a window, time-major as the oneDNN kernels are: x (T, B, in) and the layer's
        state (each (1, B, H)) -> output (T, B, H) and its final state."""
        weights = [getattr(self, f"{name}_l{layer}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        if self.training and self.weight_drop > 0:
            weights[1] = weights[1] * dropout_mask(weights[1], self.weight_drop)
        # (input, state, weights, has_biases, num_layers, dropout, train, bidirectional, batch_first)
        output, *final = _LAYER_FUNCTIONS[self.mode](x, state if self.mode == "LSTM" else state[0], weights,
                                                     True, 1, 0.0, True, False, False)
        return output, tuple(final)

    def _as_tuple(self, final) -> StateTuple:
        return tuple(final) if self.mode == "LSTM" else (final,)

    def set_forget_bias(self, value: float) -> None:
        """nn.LSTM packs gates (i, f, g, o) and has two bias vectors: their forget slices sum to ``value``."""
        hidden = self.hidden_size
        with torch.no_grad():
            for layer in range(self.num_layers):
                getattr(self, f"bias_ih_l{layer}")[hidden:2 * hidden].fill_(value)
                getattr(self, f"bias_hh_l{layer}")[hidden:2 * hidden].fill_(0.0)

    def set_chrono_biases(self, max_timescale: int) -> None:
        """Chrono initialisation: unit j starts with forget bias log(u_j), u_j ~ U(1, T-1), and input bias
        -log(u_j), so it keeps its cell for about u_j steps and writes little; long gaps stay learnable."""
        hidden = self.hidden_size
        with torch.no_grad():
            for layer in range(self.num_layers):
                timescales = torch.empty(hidden).uniform_(1, max_timescale - 1)
                bias_ih, bias_hh = getattr(self, f"bias_ih_l{layer}"), getattr(self, f"bias_hh_l{layer}")
                bias_ih[hidden:2 * hidden] = torch.log(timescales)
                bias_ih[:hidden] = -torch.log(timescales)
                bias_hh[:2 * hidden] = 0.0


class FusedLSTM(FusedCore, nn.LSTM):
    pass


class FusedGRU(FusedCore, nn.GRU):
    pass


class FusedRNN(FusedCore, nn.RNN):
    pass


FUSED_CORES = {"lstm": FusedLSTM, "gru": FusedGRU, "rnn": FusedRNN}


def build_fused_core(config) -> nn.Module:
    core = FUSED_CORES[config.cell](input_size=config.embedding_dim, hidden_size=config.hidden_size,
                                    num_layers=config.num_layers,
                                    dropout=config.dropout if config.num_layers > 1 else 0.0, batch_first=True)
    core.weight_drop = config.weight_drop
    return core
