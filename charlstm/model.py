"""The network: embedding -> multi-layer recurrent core -> dropout -> linear head over the vocabulary.

The core is any cell of ``charlstm.cells``: PyTorch's fused ``nn.LSTM`` (cuDNN on GPU, oneDNN on CPU),
``nn.GRU`` or ``nn.RNN`` (``charlstm.cells.fused``), or one of charlstm's own (peephole, coupled,
depth-gated, clockwork, grid, mingru, minlstm). Every core shares one interface, and every state is a tuple of (L, B, width)
tensors, h first, so training, sampling and probes never branch on the cell type. With
``attention_memory``, the top layer's output also attends over its own last M outputs before the head
(``charlstm.attention``).

Shapes: B batch, T time, V vocabulary, L layers, H hidden size, E embedding size.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from charlstm.attention import PastAttention
from charlstm.cells import build_core
from charlstm.config import ModelConfig
from charlstm.dropout import Dropout, dropout_mask

# An LSTM's state is (h, c), each (L, B, H); a GRU's or RNN's is (h,); a custom cell's a tuple of
# (L, B, width) tensors, h first (see charlstm.cells.base). A model with attention adds its memory after
# the core's: keys and values (M, B, d) and a count (1, B, 1) (charlstm.attention). Every tensor's
# dimension 1 is the batch.
State = tuple[torch.Tensor, ...]


class CharRNN(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.core = build_core(config)
        self.dropout = Dropout(config.dropout, locked=config.locked_dropout)
        # Tied weights share the embedding matrix (V, E) with the head; a projection bridges H != E.
        needs_projection = config.tie_weights and config.hidden_size != config.embedding_dim
        self.projection = nn.Linear(config.hidden_size, config.embedding_dim, bias=False) if needs_projection else None
        self.head = nn.Linear(config.embedding_dim if config.tie_weights else config.hidden_size, config.vocab_size)
        self.attention = (PastAttention(config.hidden_size, config.attention_memory, config.attention_kind)
                          if config.attention_memory else None)
        if config.tie_weights:
            self.head.weight = self.embedding.weight
        if config.has_cell_state:
            if config.chrono_init:
                self.core.set_chrono_biases(config.chrono_init)
            else:
                self.core.set_forget_bias(config.forget_bias)

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """ids (B, T) -> logits (B, T, V) and the state after the last step."""
        if self.core.by_layer:
            return self._forward_by_layer(ids, state)
        return self.from_embeddings(self._embed(ids), state)

    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        """The characters' embeddings; while training with ``embedding_dropout``, some characters' rows are
        zeroed for the whole window (and the others scaled up), as AWD-LSTM drops words."""
        p = self.config.embedding_dropout
        if not self.training or p == 0:
            return self.embedding(ids)
        weight = self.embedding.weight
        return nn.functional.embedding(ids, weight * dropout_mask(weight[:, :1], p))

    def from_embeddings(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """``forward`` from the embedded characters x (B, T, E) on: what a gradient with respect to the
        input vectors (saliency) is taken through."""
        core_state, past = self.split_state(state, x.size(0), x.device)
        output, core_state = self.core(x, core_state)
        output, past = self._attend(output, past)
        return self._head(self.dropout(output, time_dim=1)), core_state + past

    def _head(self, output: torch.Tensor) -> torch.Tensor:
        return self.head(self.projection(output) if self.projection is not None else output)

    def _attend(self, output: torch.Tensor, past: State, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, State]:
        """The top layer's output (B, T, H) with the attention over its past mixed in (charlstm.attention),
        and the attention's memory after it; as it was, with no memory, for a model without attention."""
        if self.attention is None:
            return output, ()
        output, past, _ = self.attention(output, past, lengths)
        return output, past

    def _forward_by_layer(self, ids: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """``forward`` with the core run one layer at a time (``run_layer``) and ``self.dropout`` between
        layers instead of the core's own masks: same weights, kernels and results but for the masks drawn.
        Time-major (T, B, ...) throughout, as the oneDNN kernels are, so the only transposed tensor is the
        logits' view at the end (V wide, not H)."""
        state, past = self.split_state(state, ids.size(0), ids.device)
        state = state if state is not None else self.core.initial_state(ids.size(0), ids.device)
        output, finals = self._embed(ids.t()), []
        for layer in range(self.config.num_layers):
            if layer:
                output = self.dropout(output, time_dim=0)
            output, final = self.core.run_layer(layer, output, tuple(t[layer:layer + 1] for t in state))
            finals.append(final)
        state = tuple(torch.cat(layers) for layers in zip(*finals))
        if self.attention is not None:   # attention reads batch first: (B, T, H) views in and out
            output, past = self._attend(output.transpose(0, 1), past)
            output = output.transpose(0, 1)
        return self._head(self.dropout(output, time_dim=0)).transpose(0, 1), state + past

    def final(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, State]:
        """Right-padded rows of different lengths -> logits (B, V) after each row's own last character, and
        the state there. Rows never see their padding, so each is exact."""
        x = self.embedding(ids)
        _, state = self.core(x, None, lengths)
        if self.attention is None:
            return self._head(self.dropout(state[0][-1])), state
        # The packed run above gives each row's own final state but no outputs; the attention needs every
        # output up to each row's end, which a plain run gives (padding comes after, so it is never seen).
        output, _ = self.core(x)
        _, past = self.split_state(None, ids.size(0), ids.device)
        output, past = self._attend(output, past, lengths)
        last = output[torch.arange(len(ids), device=output.device), lengths.to(output.device) - 1]
        return self._head(self.dropout(last)), state + past

    def split_state(self, state: State | None, batch_size: int, device) -> tuple[State | None, State]:
        """(the core's state, the attention's memory: () without attention). For None: None for the core
        (it starts from zeros itself) and a fresh memory."""
        if state is None:
            fresh = self.attention.initial_state(batch_size, device) if self.attention is not None else ()
            return None, fresh
        count = len(state) - (3 if self.attention is not None else 0)
        return tuple(state[:count]), tuple(state[count:])

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        device = device or self.embedding.weight.device
        state = self.core.initial_state(batch_size, device)
        return state + (self.attention.initial_state(batch_size, device) if self.attention is not None else ())

    @property
    def num_parameters(self) -> int:
        """Trainable parameters (a clockwork RNN's masked-out recurrent weights are stored, not counted)."""
        return sum(p.numel() for p in self.parameters()) - getattr(self.core, "unused_parameters", 0)


def map_state(state: State, fn: Callable[[torch.Tensor], torch.Tensor]) -> State:
    """``fn`` applied to every tensor of a state."""
    return tuple(fn(t) for t in state)


def detach_state(state: State) -> State:
    """Cut the graph at a window border while keeping the values (truncated BPTT)."""
    return map_state(state, torch.Tensor.detach)


def state_to(state: State, device: torch.device | str) -> State:
    return map_state(state, lambda t: t.to(device))


def repeat_rows(state: State, copies: int) -> State:
    """Each batch row's state ``copies`` times in a row (rows r*copies .. r*copies + copies - 1 are row r)."""
    return map_state(state, lambda t: t.repeat_interleave(copies, dim=1))
