"""How often each gate is saturated (after Karpathy, Johnson & Fei-Fei 2015, "Visualizing and Understanding
Recurrent Networks", Fig. 3).

Over a held-out passage, a unit's gate is left-saturated at a step when its activation is below 0.1 (shut)
and right-saturated above 0.9 (open). For every layer and gate, the fraction of steps each unit spends in
either state: a forget gate right-saturated nearly always is an integrator that keeps its cell for long; a
gate that is never saturated is a soft, input-driven switch. Karpathy et al. found few left-saturated
forget gates and, in higher layers, gates that are more often saturated either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from charlstm.model import CharRNN
from charlstm.probes.trace import Trace, passage_trace, passage_warmup
from charlstm.vocab import Vocab

SHUT, OPEN = 0.1, 0.9
# The sigmoid gates each cell has, by the names its trace gives them. A coupled cell's input gate is 1 - f,
# so it only mirrors the forget gate (so does a minLSTM's normalised input gate i'); a GRU's candidate n and
# an LSTM's g are tanh values, and a minGRU's and minLSTM's candidates g(x) > 0, not gates.
GATES = {"lstm": ("input", "forget", "output"), "peephole": ("input", "forget", "output"),
         "coupled": ("forget", "output"), "depth-gated": ("input", "forget", "output", "depth"),
         "grid": ("input", "forget", "output", "depth-input", "depth-forget", "depth-output"),
         "gru": ("reset", "update"), "rnn": (), "clockwork": (), "mingru": ("update",), "minlstm": ("forget",)}
NO_GATES = {"rnn": "a plain RNN has no gates: every step overwrites its whole state",
            "clockwork": "a clockwork RNN has no learned gates: its modules update on a fixed schedule"}


@dataclass
class GateStats:
    layer: int
    gate: str
    shut: list[float]     # per unit: fraction of steps with the gate below SHUT
    open: list[float]     # per unit: fraction of steps above OPEN

    @property
    def mean_shut(self) -> float:
        return sum(self.shut) / len(self.shut)

    @property
    def mean_open(self) -> float:
        return sum(self.open) / len(self.open)

    def mostly(self, fractions: list[float]) -> int:
        """Units in that state more than half of the time."""
        return sum(value > 0.5 for value in fractions)

    @property
    def never_saturated(self) -> int:
        """Units saturated (either way) at fewer than 10% of the steps."""
        return sum(s + o < 0.1 for s, o in zip(self.shut, self.open))

    def to_dict(self) -> dict:
        return {"layer": self.layer, "gate": self.gate, "shut": self.shut, "open": self.open,
                "mean_shut": self.mean_shut, "mean_open": self.mean_open, "mostly_shut": self.mostly(self.shut),
                "mostly_open": self.mostly(self.open), "never_saturated": self.never_saturated}


@dataclass
class GateReport:
    cell: str
    positions: int
    stats: list[GateStats]
    note: str = ""        # why there is nothing to show, for a cell without gates

    def to_dict(self) -> dict:
        return {"cell": self.cell, "positions": self.positions, "shut_below": SHUT, "open_above": OPEN,
                "gates": [s.to_dict() for s in self.stats], "note": self.note}


def gate_statistics(trace: Trace, cell: str) -> GateReport:
    """Saturation fractions of every unit's gates over the steps of ``trace``."""
    stats = []
    for name in GATES[cell]:
        values = trace.gates[name]                     # (T, L, H)
        for layer in range(values.size(1)):
            column = values[:, layer]
            if torch.isnan(column).all():              # a gate this layer does not have
                continue
            stats.append(GateStats(layer=layer, gate=name, shut=(column < SHUT).double().mean(0).tolist(),
                                   open=(column > OPEN).double().mean(0).tolist()))
    stats.sort(key=lambda s: (s.layer, GATES[cell].index(s.gate)))
    return GateReport(cell=cell, positions=len(trace.text), stats=stats, note=NO_GATES.get(cell, ""))


def run_gate_statistics(model: CharRNN, vocab: Vocab, text: str, rows: int = 16) -> GateReport:
    """``gate_statistics`` over a held-out passage (``passage_trace``: read in rows, warmed up by the text)."""
    cell = model.config.cell
    if not GATES[cell]:
        return GateReport(cell=cell, positions=0, stats=[], note=NO_GATES[cell])
    return gate_statistics(passage_trace(model, vocab, text, rows=rows, warmup=passage_warmup(text)), cell)
