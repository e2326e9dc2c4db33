"""The network: embedding -> multi-layer recurrent core -> dropout -> linear head over the vocabulary.

The core is PyTorch's fused ``nn.LSTM`` (cuDNN on GPU, oneDNN on CPU), or ``nn.GRU`` / ``nn.RNN`` for
comparison. Everything else (training, sampling, probes) talks to ``CharRNN`` through ``forward`` and
``initial_state`` and never branches on the cell type.

Shapes: B batch, T time, V vocabulary, L layers, H hidden size, E embedding size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from charlstm.config import ModelConfig

# An LSTM's state is (h, c), each (L, B, H); a GRU's or RNN's is h alone.
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]

_CORES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class Dropout(nn.Module):
    """Inverted dropout with its mask drawn by ``torch.rand``: same distribution as ``nn.Dropout``, but on
    CPU ``bernoulli_`` (which nn.Dropout uses) costs about 2x more here, 5% of a training step at 2 x 512."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        mask = (torch.rand_like(x) >= self.p).to(x.dtype).mul_(1.0 / (1.0 - self.p))
        return x * mask


class CharRNN(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.core = _CORES[config.cell](
            input_size=config.embedding_dim, hidden_size=config.hidden_size, num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0, batch_first=True)
        self.dropout = Dropout(config.dropout)
        # Tied weights share the embedding matrix (V, E) with the head; a projection bridges H != E.
        needs_projection = config.tie_weights and config.hidden_size != config.embedding_dim
        self.projection = nn.Linear(config.hidden_size, config.embedding_dim, bias=False) if needs_projection else None
        self.head = nn.Linear(config.embedding_dim if config.tie_weights else config.hidden_size, config.vocab_size)
        if config.tie_weights:
            self.head.weight = self.embedding.weight
        if config.cell == "lstm":
            if config.chrono_init:
                self.set_chrono_biases(config.chrono_init)
            else:
                self.set_forget_bias(config.forget_bias)

    def set_forget_bias(self, value: float) -> None:
        """nn.LSTM packs gates (i, f, g, o) and has two bias vectors: their forget slices sum to ``value``."""
        hidden = self.config.hidden_size
        with torch.no_grad():
            for layer in range(self.config.num_layers):
                getattr(self.core, f"bias_ih_l{layer}")[hidden:2 * hidden].fill_(value)
                getattr(self.core, f"bias_hh_l{layer}")[hidden:2 * hidden].fill_(0.0)

    def set_chrono_biases(self, max_timescale: int) -> None:
        """Chrono initialisation: unit j starts with forget bias log(u_j), u_j ~ U(1, T-1), and input bias
        -log(u_j), so it keeps its cell for about u_j steps and writes little; long gaps stay learnable."""
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
        output, state = self.core(self.embedding(ids), state)
        output = self.dropout(output)
        if self.projection is not None:
            output = self.projection(output)
        return self.head(output), state

    def final(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, State]:
        """Right-padded rows of different lengths -> logits (B, V) after each row's own last character, and
        the state there. Rows never see their padding (packed sequences), so each is exact."""
        packed = nn.utils.rnn.pack_padded_sequence(self.embedding(ids), lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        _, state = self.core(packed)
        top = state_tensors(state)[0][-1]  # (B, H): the last layer's final output
        top = self.dropout(top)
        if self.projection is not None:
            top = self.projection(top)
        return self.head(top), state

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        device = device or self.embedding.weight.device
        shape = (self.config.num_layers, batch_size, self.config.hidden_size)
        zeros = torch.zeros(shape, device=device)
        return (zeros, zeros.clone()) if self.config.cell == "lstm" else zeros

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def state_tensors(state: State) -> tuple[torch.Tensor, ...]:
    """A state's tensors, (h, c) for an LSTM or (h,) for a GRU/RNN: with ``map_state`` the only code that
    knows the two shapes."""
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
