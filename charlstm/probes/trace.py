"""Re-running a model one character at a time and keeping what it computes: every layer's output h_t, its
cell state c_t where the cell has one, and every gate activation (an LSTM's i, f, g, o; a GRU's r, z, n; a
custom cell's own). The step is the sampler's ``Stepper`` (for a fused LSTM, what ``nn.LSTM`` computes,
written out gate by gate), in eval mode, so no dropout.

``traces`` reads a few short texts (probe contexts) as rows of one batch; ``passage_trace`` reads one long
text (a held-out passage) cut into rows, each row first reading the text before its own piece so that no
kept position is read from a cold state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from charlstm.model import CharRNN
from charlstm.probes.scoring import pad
from charlstm.sample import context_ids
from charlstm.stepper import Stepper
from charlstm.vocab import Vocab


@dataclass
class Trace:
    text: str
    hidden: torch.Tensor                          # (T, L, H) output after each character
    cell: torch.Tensor | None                     # (T, L, H) cell state after each character, where there is one
    gates: dict[str, torch.Tensor] = field(default_factory=dict)   # name -> (T, L, H); NaN in a layer without it

    @property
    def state(self) -> torch.Tensor:
        """What a unit holds: its cell state where the cell has one (Karpathy et al. read those), else h."""
        return self.cell if self.cell is not None else self.hidden


def trace(model: CharRNN, vocab: Vocab, text: str) -> Trace:
    """Step the model through ``text`` after the start character sampling feeds (``sample.START_CHARS``);
    the start character itself is not part of the trace."""
    return traces(model, vocab, [text])[0]


@torch.no_grad()
def traces(model: CharRNN, vocab: Vocab, texts: Sequence[str]) -> list[Trace]:
    """``trace`` of several texts at once, as rows of one batch (right-padded: a row's steps never depend
    on what follows its end, so each trace is the one it would have alone)."""
    ids, lengths = pad([context_ids(vocab, text) for text in texts])
    hidden, cell, gates = _run(model, ids)
    # Step 0 read the start character, which is not part of the trace.
    return [Trace(text=text, hidden=hidden[row, 1:length], cell=None if cell is None else cell[row, 1:length],
                  gates={name: values[row, 1:length] for name, values in gates.items()})
            for row, (text, length) in enumerate(zip(texts, lengths.tolist()))]


@torch.no_grad()
def passage_warmup(text: str) -> int:
    """How many characters of a held-out passage warm each row up: a tenth of it, at most 100."""
    return min(100, len(text) // 10)


def passage_trace(model: CharRNN, vocab: Vocab, text: str, rows: int = 16, warmup: int = 100) -> Trace:
    """The trace of ``text[warmup:]``, read as ``rows`` pieces side by side (one step per character of a
    piece, not of the whole text). Each row starts ``warmup`` characters before its piece, from the start
    character, and those warm-up steps are dropped: a model trained with carried states reads badly from a
    cold state, and ``warmup`` characters of real text are enough to warm it up."""
    kept = len(text) - warmup
    if kept < 1:
        raise ValueError(f"a passage needs more than {warmup} characters, got {len(text)}")
    rows = max(1, min(rows, kept))
    bounds = [warmup + kept * r // rows for r in range(rows + 1)]
    pieces = [text[start - warmup:end] for start, end in zip(bounds, bounds[1:])]
    ids, lengths = pad([context_ids(vocab, piece) for piece in pieces])
    hidden, cell, gates = _run(model, ids)
    skip = 1 + warmup   # the start character and the warm-up

    def joined(values: torch.Tensor) -> torch.Tensor:
        return torch.cat([values[row, skip:length] for row, length in enumerate(lengths.tolist())])

    return Trace(text=text[warmup:], hidden=joined(hidden), cell=None if cell is None else joined(cell),
                 gates={name: joined(values) for name, values in gates.items()})


def _run(model: CharRNN, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, torch.Tensor]]:
    """Step every row of ``ids`` (B, W) from a zero state: h (B, W, L, H), c or None, gates by name."""
    model.eval()
    stepper = Stepper(model)
    state = stepper.initial_state(len(ids))
    hiddens, cells, gates = [], [], {}
    for column in ids.t().to(model.embedding.weight.device):
        layers: list[dict] = []
        stepper.step(column, state, layers)
        hiddens.append(torch.stack(state.h, dim=1))         # (B, L, H)
        if state.c is not None:
            cells.append(torch.stack(state.c, dim=1))
        # A gate some layers lack (a depth-gated cell's first layer has no layer below) is NaN there.
        for name in dict.fromkeys(name for layer in layers for name in layer):
            values = [layer[name] if name in layer else torch.full_like(state.h[0], float("nan")) for layer in layers]
            gates.setdefault(name, []).append(torch.stack(values, dim=1))
    hidden = torch.stack(hiddens, dim=1).cpu()
    cell = torch.stack(cells, dim=1).cpu() if cells else None
    return hidden, cell, {name: torch.stack(values, dim=1).cpu() for name, values in gates.items()}
