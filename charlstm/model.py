"""The network: embedding -> multi-layer recurrent core -> dropout -> linear head over the vocabulary.

The core is PyTorch's fused ``nn.LSTM`` (cuDNN on GPU, oneDNN on CPU), ``nn.GRU`` or ``nn.RNN``, or one
of the custom cells of ``charlstm.cells`` (peephole, coupled, depth-gated, clockwork), which share
nn.LSTM's calling convention. Training a fused core with dropout between layers runs it one layer at a
time (the same kernels and weights) so that the dropout is ours: on a CPU it draws its mask far faster
than nn.LSTM's ``bernoulli_``, and on a GPU it draws from the CUDA generator a checkpoint saves, where
cuDNN's own dropout keeps a cached state that a resumed run could not restore.
Everything else (training, sampling, probes) talks to ``CharRNN`` through ``forward`` and
``initial_state`` and never branches on the cell type.

Shapes: B batch, T time, V vocabulary, L layers, H hidden size, E embedding size.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import nn

from charlstm.config import MEMORY_CELLS, ModelConfig
from charlstm.dropout import Dropout

# An LSTM's state is (h, c), each (L, B, H); a GRU's or RNN's is h alone; a custom cell's is a tuple of
# (L, B, width) tensors, h first (see charlstm.cells.base).
State = torch.Tensor | tuple[torch.Tensor, ...]

_CORES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


# Training layer by layer hands cuDNN each layer's weights apart, which it copies into one buffer per call
# (a small cost, measured in benchmarks/gpu_bench.py) and warns about on every run.
warnings.filterwarnings("ignore", message="RNN module weights are not part of single contiguous chunk")

# The one-layer functions behind nn.LSTM / nn.GRU / nn.RNN, by the module's ``mode``.
_LAYER_FUNCTIONS = {"LSTM": torch.lstm, "GRU": torch.gru, "RNN_TANH": torch.rnn_tanh, "RNN_RELU": torch.rnn_relu}


class CharRNN(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.fused = config.cell in _CORES
        if self.fused:
            self.core = _CORES[config.cell](
                input_size=config.embedding_dim, hidden_size=config.hidden_size, num_layers=config.num_layers,
                dropout=config.dropout if config.num_layers > 1 else 0.0, batch_first=True)
        else:
            from charlstm.cells import build_core  # the custom cells, only when one is used

            self.core = build_core(config)
        self.dropout = Dropout(config.dropout)
        # Tied weights share the embedding matrix (V, E) with the head; a projection bridges H != E.
        needs_projection = config.tie_weights and config.hidden_size != config.embedding_dim
        self.projection = nn.Linear(config.hidden_size, config.embedding_dim, bias=False) if needs_projection else None
        self.head = nn.Linear(config.embedding_dim if config.tie_weights else config.hidden_size, config.vocab_size)
        if config.tie_weights:
            self.head.weight = self.embedding.weight
        if config.cell in MEMORY_CELLS:
            if config.chrono_init:
                self.set_chrono_biases(config.chrono_init)
            else:
                self.set_forget_bias(config.forget_bias)

    def set_forget_bias(self, value: float) -> None:
        """nn.LSTM packs gates (i, f, g, o) and has two bias vectors: their forget slices sum to ``value``."""
        if not self.fused:
            return self.core.set_forget_bias(value)
        hidden = self.config.hidden_size
        with torch.no_grad():
            for layer in range(self.config.num_layers):
                getattr(self.core, f"bias_ih_l{layer}")[hidden:2 * hidden].fill_(value)
                getattr(self.core, f"bias_hh_l{layer}")[hidden:2 * hidden].fill_(0.0)

    def set_chrono_biases(self, max_timescale: int) -> None:
        """Chrono initialisation: unit j starts with forget bias log(u_j), u_j ~ U(1, T-1), and input bias
        -log(u_j), so it keeps its cell for about u_j steps and writes little; long gaps stay learnable."""
        if not self.fused:
            return self.core.set_chrono_biases(max_timescale)
        hidden = self.config.hidden_size
        with torch.no_grad():
            for layer in range(self.config.num_layers):
                timescales = torch.empty(hidden).uniform_(1, max_timescale - 1)
                bias_ih, bias_hh = getattr(self.core, f"bias_ih_l{layer}"), getattr(self.core, f"bias_hh_l{layer}")
                bias_ih[hidden:2 * hidden] = torch.log(timescales)
                bias_ih[:hidden] = -torch.log(timescales)
                bias_hh[:2 * hidden] = 0.0

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """ids (B, T) -> logits (B, T, V) and the state after the last step."""
        if self.fused and self.training and self.core.dropout > 0:
            return self._forward_by_layer(ids, state)
        return self.from_embeddings(self.embedding(ids), state)

    def from_embeddings(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """``forward`` from the embedded characters x (B, T, E) on: what a gradient with respect to the
        input vectors (saliency) is taken through."""
        output, state = self.core(x, state)
        return self._head(self.dropout(output)), state

    def _head(self, output: torch.Tensor) -> torch.Tensor:
        return self.head(self.projection(output) if self.projection is not None else output)

    def _forward_by_layer(self, ids: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """``forward`` with the core run one layer at a time and ``self.dropout`` between layers instead of
        the core's own ``bernoulli_`` masks: same weights, kernels and results but for the masks drawn.
        Time-major (T, B, ...) throughout, as the oneDNN kernels are, so the only transposed tensor is the
        logits' view at the end (V wide, not H)."""
        core, lstm = self.core, isinstance(self.core, nn.LSTM)
        layer_function = _LAYER_FUNCTIONS[core.mode]
        tensors = state_tensors(state if state is not None else self.initial_state(ids.size(0), ids.device))
        output, finals = self.embedding(ids.t()), []
        for layer in range(core.num_layers):
            if layer:
                output = self.dropout(output)
            weights = [getattr(core, f"{name}_l{layer}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            initial = tuple(t[layer:layer + 1] for t in tensors)
            # (input, state, weights, has_biases, num_layers, dropout, train, bidirectional, batch_first)
            output, *final = layer_function(output, initial if lstm else initial[0], weights,
                                            True, 1, 0.0, True, False, False)
            finals.append(final)
        state = tuple(torch.cat(layers) for layers in zip(*finals))
        state = state if lstm else state[0]
        return self._head(self.dropout(output)).transpose(0, 1), state

    def final(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, State]:
        """Right-padded rows of different lengths -> logits (B, V) after each row's own last character, and
        the state there. Rows never see their padding (packed sequences), so each is exact."""
        if not self.fused:
            _, state = self.core(self.embedding(ids), None, lengths)
            return self._head(self.dropout(state[0][-1])), state
        packed = nn.utils.rnn.pack_padded_sequence(self.embedding(ids), lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        _, state = self.core(packed)
        top = state_tensors(state)[0][-1]  # (B, H): the last layer's final output
        return self._head(self.dropout(top)), state

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        device = device or self.embedding.weight.device
        if not self.fused:
            return self.core.initial_state(batch_size, device)
        shape = (self.config.num_layers, batch_size, self.config.hidden_size)
        zeros = torch.zeros(shape, device=device)
        return (zeros, zeros.clone()) if self.config.cell == "lstm" else zeros

    @property
    def num_parameters(self) -> int:
        """Trainable parameters (a clockwork RNN's masked-out recurrent weights are stored, not counted)."""
        return sum(p.numel() for p in self.parameters()) - getattr(self.core, "unused_parameters", 0)


def state_tensors(state: State) -> tuple[torch.Tensor, ...]:
    """A state's tensors, h first: (h, c) for an LSTM, (h,) for a GRU/RNN. With ``map_state`` the only
    code that knows a state is a tensor or a tuple."""
    return state if isinstance(state, tuple) else (state,)


def map_state(state: State, fn: Callable[[torch.Tensor], torch.Tensor]) -> State:
    """``fn`` applied to every tensor of a state, keeping its shape (tuple or tensor)."""
    return tuple(fn(t) for t in state) if isinstance(state, tuple) else fn(state)


def detach_state(state: State) -> State:
    """Cut the graph at a window border while keeping the values (truncated BPTT)."""
    return map_state(state, torch.Tensor.detach)


def state_to(state: State, device: torch.device | str) -> State:
    return map_state(state, lambda t: t.to(device))


def repeat_rows(state: State, copies: int) -> State:
    """Each batch row's state ``copies`` times in a row (rows r*copies .. r*copies + copies - 1 are row r)."""
    return map_state(state, lambda t: t.repeat_interleave(copies, dim=1))
