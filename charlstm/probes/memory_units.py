"""Which units carry the memory, and where the gates open and close.

``memory_units`` traces (``charlstm.probes.trace``) a model with a memory cell (``lstm``, ``peephole``,
``coupled``, ``depth-gated``, ``grid``: its memory along time) on the cue-swap contexts: the same filler
after each cue, so a unit whose cell state at the end of the filler depends on the cue (and not on the
filler) has carried the cue across it. It is read before the question: once "I speak fluent " is read,
units that the rest of the network writes with the answer depend on the cue as well, without having
held anything through the filler. The score is the share of that unit's variance explained by the cue
(eta squared, 0..1). For the best unit it returns the whole trace of c_t for each cue and the forget gate
along the way: Olah's conveyor belt, measured.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch

from charlstm.config import MEMORY_CELLS
from charlstm.errors import ProbeError
from charlstm.model import CharRNN
from charlstm.probes.cue_swap import CueSwapProbe, context, warmed_up
from charlstm.probes.trace import traces
from charlstm.vocab import Vocab


@dataclass
class MemoryUnit:
    layer: int
    unit: int
    selectivity: float            # share of variance after the filler explained by the cue (0..1)
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
    """Rank units by how much of their cell state after d characters of filler, before the question, the
    cue determines (the cue-explained share of its variance, weighted by how far apart the cues put it)."""
    if not model.config.has_cell_state:
        raise ProbeError(f"the units suite reads a memory cell's state and gates; a {model.config.cell} cell has "
                         f"none (cells with one: {', '.join(MEMORY_CELLS)})")
    probe = warmed_up(probe, model, vocab)
    rng = random.Random(probe.seed)
    finals, labels, forget_means, first = [], [], [], {}
    for draw in range(draws):
        filler = probe.filler(rng, distance) if distance > 0 else ""
        texts = [context(probe, cue, filler) for cue in probe.cues]
        for cue, text, result in zip(probe.cues, texts, traces(model, vocab, texts)):
            cue_end = len(probe.prefix) + len(cue.text)
            query_start = len(text) - len(probe.query)
            finals.append(result.cell[query_start - 1].flatten())   # after the filler, before the question
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
