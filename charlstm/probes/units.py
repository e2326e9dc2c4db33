"""Which units carry the memory, and where the gates open and close.

``trace`` re-runs a model with a memory cell (``lstm``, ``peephole``, ``coupled``, ``depth-gated``) one step
at a time on the sampler's ``Stepper`` (for ``lstm``, what the fused ``nn.LSTM`` computes, gate by gate)
and keeps every cell state c_t, output h_t and gate activation i, f, g, o (a coupled cell's i is 1 - f).

``memory_units`` uses it on the cue-swap contexts: the same filler after each cue, so a unit whose cell
state at the question depends on the cue (and not on the filler) is carrying the cue across it. The
score is the share of that unit's variance explained by the cue (eta squared, 0..1). For the best unit
it returns the whole trace of c_t for each cue and the forget gate along the way: Olah's conveyor belt,
measured.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from charlstm.config import MEMORY_CELLS
from charlstm.errors import ProbeError
from charlstm.model import CharRNN
from charlstm.probes.cue_swap import CueSwapProbe, context, warmed_up
from charlstm.probes.scoring import pad
from charlstm.sample import context_ids
from charlstm.stepper import LSTM_GATES, Stepper
from charlstm.vocab import Vocab


@dataclass
class Trace:
    text: str
    cell: torch.Tensor                            # (T, L, H) cell state after each character
    hidden: torch.Tensor                          # (T, L, H) output after each character
    gates: dict[str, torch.Tensor] = field(default_factory=dict)   # name -> (T, L, H)


def trace(model: CharRNN, vocab: Vocab, text: str) -> Trace:
    """Step an LSTM through ``text`` after the start character sampling feeds (``sample.START_CHARS``),
    keeping every gate (eval mode: no dropout); the start character itself is not part of the trace."""
    return traces(model, vocab, [text])[0]


@torch.no_grad()
def traces(model: CharRNN, vocab: Vocab, texts: Sequence[str]) -> list[Trace]:
    """``trace`` of several texts at once, as rows of one batch (right-padded: a row's steps never depend
    on what follows its end, so each trace is the one it would have alone)."""
    if model.config.cell not in MEMORY_CELLS:
        raise ProbeError(f"the units suite reads a memory cell's state and gates; a {model.config.cell} cell has "
                         f"none (cells with one: {', '.join(MEMORY_CELLS)})")
    model.eval()
    device = model.embedding.weight.device
    ids, lengths = pad([context_ids(vocab, text) for text in texts])
    stepper = Stepper(model)
    state = stepper.initial_state(len(texts))
    cells, hiddens, gates = [], [], {name: [] for name in LSTM_GATES}
    for column in ids.t().to(device):
        layers: list[dict] = []
        stepper.step(column, state, layers)
        cells.append(torch.stack(state.c, dim=1))       # (B, L, H)
        hiddens.append(torch.stack(state.h, dim=1))
        for name in LSTM_GATES:
            gates[name].append(torch.stack([layer[name] for layer in layers], dim=1))
    cell, hidden = torch.stack(cells, dim=1).cpu(), torch.stack(hiddens, dim=1).cpu()    # (B, T, L, H)
    gate = {name: torch.stack(values, dim=1).cpu() for name, values in gates.items()}
    # Step 0 read the start character, which is not part of the trace.
    return [Trace(text=text, cell=cell[row, 1:length], hidden=hidden[row, 1:length],
                  gates={name: values[row, 1:length] for name, values in gate.items()})
            for row, (text, length) in enumerate(zip(texts, lengths.tolist()))]


@dataclass
class MemoryUnit:
    layer: int
    unit: int
    selectivity: float            # share of variance at the question explained by the cue (0..1)
    forget_in_filler: float       # mean forget gate over the filler (1 = keeps everything)
    value_by_cue: dict[str, float]


@dataclass
class UnitsReport:
    distance: int
    units: list[MemoryUnit]
    # The best unit along one context per cue: c_t after each character, and its forget gate.
    best_traces: dict[str, list[float]]
    best_forget: dict[str, list[float]]
    spans: dict[str, tuple[int, int]]   # per cue: (end of cue, start of query) character positions
    texts: dict[str, str] = field(default_factory=dict)   # per cue: the context the traces run along

    def to_dict(self) -> dict:
        return {"distance": self.distance, "units": [unit.__dict__ for unit in self.units],
                "best_traces": self.best_traces, "best_forget": self.best_forget, "spans": self.spans,
                "texts": self.texts}


def memory_units(model: CharRNN, vocab: Vocab, probe: CueSwapProbe, distance: int = 100, draws: int = 3,
                 top: int = 8) -> UnitsReport:
    """Rank units by how much of their cell state at the question, d characters later, the cue determines
    (the cue-explained share of its variance, weighted by how far apart the cues put it)."""
    probe = warmed_up(probe, model, vocab)
    rng = random.Random(probe.seed)
    finals, labels, forget_means, first = [], [], [], {}
    for draw in range(draws):
        filler = probe.filler(rng, distance) if distance > 0 else ""
        texts = [context(probe, cue, filler) for cue in probe.cues]
        for cue, text, result in zip(probe.cues, texts, traces(model, vocab, texts)):
            cue_end = len(probe.prefix) + len(cue.text)
            query_start = len(text) - len(probe.query)
            finals.append(result.cell[-1].flatten())
            labels.append(cue.label)
            filler_f = result.gates["forget"][cue_end:query_start]
            forget_means.append(filler_f.mean(dim=0).flatten() if len(filler_f) else torch.ones_like(finals[-1]))
            if draw == 0:
                first[cue.label] = (result, cue_end, query_start)
    values = torch.stack(finals)                                  # (N, L*H)
    total = values.var(dim=0, unbiased=False)
    group_means = torch.stack([values[[i for i, lab in enumerate(labels) if lab == label]].mean(dim=0)
                               for label in dict.fromkeys(labels)])
    between = group_means.var(dim=0, unbiased=False)
    selectivity = torch.where(total > 1e-6, between / total.clamp_min(1e-12), torch.zeros_like(total))
    forget = torch.stack(forget_means).mean(dim=0)
    hidden = model.config.hidden_size
    # Rank by the spread the cue explains (selectivity x between-cue standard deviation): a saturated unit
    # that barely moves can be perfectly "selective" yet carry nothing worth showing.
    ranked = (selectivity * between.sqrt()).argsort(descending=True)[:top].tolist()
    units = [MemoryUnit(layer=index // hidden, unit=index % hidden, selectivity=float(selectivity[index]),
                        forget_in_filler=float(forget[index]),
                        value_by_cue={label: float(group_means[k, index]) for k, label in
                                      enumerate(dict.fromkeys(labels))})
             for index in ranked]
    best = units[0]
    return UnitsReport(
        distance=distance, units=units,
        best_traces={label: r.cell[:, best.layer, best.unit].tolist() for label, (r, _, _) in first.items()},
        best_forget={label: r.gates["forget"][:, best.layer, best.unit].tolist() for label, (r, _, _) in first.items()},
        spans={label: (cue_end, query_start) for label, (_, cue_end, query_start) in first.items()},
        texts={label: r.text for label, (r, _, _) in first.items()})
