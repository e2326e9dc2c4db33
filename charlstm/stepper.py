"""The network one character at a time, fast: the step that sampling and probes take, on weights arranged
once for it.

Calling the fused ``nn.LSTM`` for a single character costs far more in set-up than in arithmetic (about
5x the step's own work for 2 x 512 on a CPU). ``Stepper`` does the same arithmetic on pre-arranged
weights: the layer-0 input projection of every character is a vocabulary-sized lookup table (embedding x
W_ih + biases, computed once), each layer's step is one call of PyTorch's C++ cell function
(``torch.lstm_cell`` & co.), and a tied head with a projection is one (H, V) matrix. The result equals
``CharRNN.forward`` up to float rounding (a test holds them to 1e-5).

The state is a list of per-layer tensors (``StepState``); ``from_state``/``to_state`` convert to and from
the model's own (L, B, H) layout, so a prompt can be read by the fused core and continued here. A custom
cell (``charlstm.cells``) steps through its own ``step_parts`` on the same per-layer lists.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from charlstm.attention import AttentionStep, RingMemory
from charlstm.model import CharRNN, State

# An LSTM's gates as nn.LSTM packs them: input i, forget f, cell candidate g, output o.
LSTM_GATES = ("input", "forget", "cell", "output")
# A GRU's, as nn.GRU packs them: reset r, update z, candidate n.
GRU_GATES = ("reset", "update", "candidate")


@dataclass
class StepState:
    """``parts[k][layer]``: state tensor k of a layer, (B, width). Part 0 is the hidden state h; part 1,
    where there is one, the cell state c (``has_cell``: ``ModelConfig.has_cell_state``) or a clockwork RNN's
    clock."""
    parts: list[list[torch.Tensor]]
    has_cell: bool = False
    ring: RingMemory | None = None   # the attention's memory, for a model with attention

    @property
    def h(self) -> list[torch.Tensor]:
        return self.parts[0]

    @property
    def c(self) -> list[torch.Tensor] | None:
        return self.parts[1] if self.has_cell else None

    def expand(self, rows: int) -> "StepState":
        """A one-row state copied to ``rows`` rows (streams that share a prompt)."""
        return StepState([[t.expand(rows, -1).contiguous() for t in part] for part in self.parts], self.has_cell,
                         self.ring.expand(rows) if self.ring is not None else None)


# PyTorch's one-step cell functions (what nn.LSTMCell & co. call): each step of a layer is one call into
# C++, where the same arithmetic written as a dozen Python-level tensor operations cost a quarter more.
_CELL_STEPS = {"lstm": torch.lstm_cell, "gru": torch.gru_cell, "rnn": torch.rnn_tanh_cell}


def arranged(matrix: torch.Tensor) -> torch.Tensor:
    """``matrix`` (out, in), as a layer multiplies by it, stored in the layout whose product with one row is
    fastest: on a CPU in fp32 the transpose kept contiguous (a column-major view: with it MKL's GEMM ran a
    2 x 512 step 1.4x faster than on nn.LSTM's row-major weights), otherwise row-major (oneDNN's bf16 product
    ran 16x slower column-major on an AVX2 CPU); ``benchmarks/sampling.py`` measures both. A bias (1-D) is
    the same either way."""
    column_major = matrix.device.type == "cpu" and matrix.dtype == torch.float32
    return matrix.t().contiguous().t() if column_major else matrix.contiguous()


class Stepper:
    """``step(ids (B,), state) -> logits (B, V)``, updating ``state`` in place. Call it under
    ``torch.no_grad()`` or ``torch.inference_mode()``."""

    @torch.no_grad()
    def __init__(self, model: CharRNN):
        config, core = model.config, model.core
        self.cell = config.cell
        self.num_layers = config.num_layers
        self.hidden = config.hidden_size
        self.custom = None if core.fused else core
        self.has_cell = config.has_cell_state
        head = model.head.weight.detach().t()  # (E or H, V)
        if model.projection is not None:
            head = model.projection.weight.detach().t() @ head
        self.head, self.head_bias = arranged(head.t()).t(), model.head.bias.detach()
        self.embedding = model.embedding.weight.detach()
        self.split_state = model.split_state
        self.attention = AttentionStep(model.attention) if model.attention is not None else None
        if self.custom is not None:
            self.recurrent = [tuple(w.detach() for w in self.custom.recurrent(layer)) for layer in range(self.num_layers)]
            return
        weight = lambda name, layer: arranged(getattr(core, f"{name}_l{layer}").detach())  # noqa: E731
        # Layer 0: every character's input projection and input bias, as one table row per character, fed
        # to the cell function as a per-row input bias with an empty input. Its hidden bias folds into the
        # table too, except for a GRU, whose reset gate multiplies the hidden part (bias included) alone.
        fold_hidden_bias = self.cell != "gru"
        input_bias = weight("bias_ih", 0) + (weight("bias_hh", 0) if fold_hidden_bias else 0)
        self.table = torch.addmm(input_bias, self.embedding, weight("weight_ih", 0).t())
        empty = self.table.new_empty(self.table.size(1), 0)
        self.layers = [(empty, weight("weight_hh", 0), None,
                        torch.zeros_like(input_bias) if fold_hidden_bias else weight("bias_hh", 0))]
        # The layer-0 table rides in as a per-row (B, G) input bias, which the fused LSTM and GRU cell kernels
        # off the CPU refuse (they take a 1-D bias). On CUDA a step goes through the fused core instead: a
        # step costs its kernel launches there, not its arithmetic, and cuDNN takes a few for all layers
        # where the cell functions take a dozen per layer (benchmarks/gpu_bench.py measures it). Elsewhere
        # off the CPU (MPS), and wherever gates are asked for, the step is written out gate by gate.
        self.cudnn_core = core if self.table.device.type == "cuda" else None
        self.written_out = self.cell in ("lstm", "gru") and self.table.device.type != "cpu"
        self.layers += [tuple(weight(name, layer) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
                        for layer in range(1, self.num_layers)]

    def initial_state(self, rows: int) -> StepState:
        _, past = self.split_state(None, rows, self.head.device)
        if self.custom is not None:
            return self.from_state(self.custom.initial_state(rows, self.head.device) + past)
        zeros = lambda: [self.table.new_zeros(rows, self.hidden) for _ in range(self.num_layers)]  # noqa: E731
        return StepState([zeros(), zeros()] if self.has_cell else [zeros()], self.has_cell,
                         RingMemory(past, self.head.dtype) if past else None)

    def from_state(self, state: State) -> StepState:
        """The model's state tensors ((L, B, width) each, then the attention's memory) as a ``StepState``."""
        core, past = self.split_state(state, 0, None)
        return StepState([[t.contiguous() for t in tensor] for tensor in core], self.has_cell,
                         RingMemory(past, self.head.dtype) if past else None)

    def to_state(self, state: StepState) -> State:
        past = state.ring.to_memory() if state.ring is not None else ()
        return self._core_state(state) + past

    @staticmethod
    def _core_state(state: StepState) -> State:
        """The core's part of the state as (L, B, width) tensors."""
        return tuple(torch.stack(part) for part in state.parts)

    def _logits(self, x: torch.Tensor, state: StepState) -> torch.Tensor:
        """The head's logits (B, V) from the top layer's output x (B, H), after the attention where the
        model has it."""
        if self.attention is not None:
            x = self.attention(x, state.ring)
        return torch.addmm(self.head_bias, x, self.head)

    def step(self, ids: torch.Tensor, state: StepState, gates: list[dict] | None = None) -> torch.Tensor:
        """Logits (B, V) after the characters ``ids`` (B,); with a list as ``gates``, one dict per layer of
        the gate activations (name -> (B, H): ``LSTM_GATES``, ``GRU_GATES`` or a custom cell's own) is
        appended to it."""
        if self.custom is not None:
            x = self.custom.step_parts(self.embedding[ids], state.parts, gates, self.recurrent)
            return self._logits(x, state)
        if gates is None and self.cudnn_core is not None:
            output, new = self.cudnn_core(self.embedding[ids].unsqueeze(1), self._core_state(state))
            state.parts[:] = [list(tensor.unbind(0)) for tensor in new]
            return self._logits(output[:, 0], state)
        if gates is not None or self.written_out:
            return self._step_with_gates(ids, state, gates if gates is not None else [])
        step = _CELL_STEPS[self.cell]
        x = self.table.new_empty(len(ids), 0)
        for layer, (w_ih, w_hh, b_ih, b_hh) in enumerate(self.layers):
            if layer == 0:
                b_ih = self.table[ids]
            if self.cell == "lstm":
                x, state.c[layer] = step(x, (state.h[layer], state.c[layer]), w_ih, w_hh, b_ih, b_hh)
            else:
                x = step(x, state.h[layer], w_ih, w_hh, b_ih, b_hh)
            state.h[layer] = x
        return self._logits(x, state)

    def _step_with_gates(self, ids: torch.Tensor, state: StepState, gates: list[dict]) -> torch.Tensor:
        """``step`` written out gate by gate, keeping every gate (what probes and the report trace). A plain
        RNN has no gates: it appends an empty dict per layer."""
        if self.cell == "rnn":
            gates += [{} for _ in range(self.num_layers)]
            return self.step(ids, state)
        x = None
        for layer, (w_ih, w_hh, b_ih, b_hh) in enumerate(self.layers):
            hidden = torch.addmm(b_hh, state.h[layer], w_hh.t())
            projected = self.table[ids] if layer == 0 else torch.addmm(b_ih, x, w_ih.t())
            if self.cell == "lstm":
                x = self._lstm(hidden + projected, state.c, layer, gates)
            else:
                x = self._gru(projected, hidden, state.h[layer], gates)
            state.h[layer] = x
        return self._logits(x, state)

    @staticmethod
    def _lstm(pre: torch.Tensor, cells: list[torch.Tensor], layer: int, gates: list[dict]) -> torch.Tensor:
        i, f, g, o = pre.chunk(4, dim=1)   # nn.LSTM's packing order is LSTM_GATES'
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = cells[layer] = f * cells[layer] + i * g
        gates.append(dict(zip(LSTM_GATES, (i, f, g, o))))
        return o * torch.tanh(c)

    @staticmethod
    def _gru(projected: torch.Tensor, hidden: torch.Tensor, h: torch.Tensor, gates: list[dict]) -> torch.Tensor:
        """nn.GRU's step (gates packed r, z, n): the reset gate scales the hidden part, bias included."""
        x_r, x_z, x_n = projected.chunk(3, dim=1)
        h_r, h_z, h_n = hidden.chunk(3, dim=1)
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        gates.append(dict(zip(GRU_GATES, (r, z, n))))
        return (1 - z) * n + z * h
