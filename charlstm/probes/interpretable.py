"""Interpretable units on any text: which units' values track a simple feature of the text
(``charlstm.probes.features``), after Karpathy, Johnson & Fei-Fei 2015.

Every unit's cell state (where the cell has one) and output h is traced over a held-out passage. A unit is
chosen for a feature by the correlation between its value and the feature over the *first* half of the
passage; the correlation reported is the one over the *second* half, which played no part in choosing it
(the best of a thousand units is always somewhat correlated by chance; the second half says whether the
unit really tracks the feature).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from charlstm.errors import ProbeError
from charlstm.model import CharRNN
from charlstm.probes.features import text_features
from charlstm.probes.trace import Trace, passage_trace, passage_warmup
from charlstm.vocab import Vocab

MIN_POSITIONS = 200


@dataclass
class UnitFeature:
    layer: int
    unit: int
    kind: str             # "cell" (cell state c) or "hidden" (output h)
    feature: str
    r_chosen: float       # correlation over the first half (which chose the unit)
    r: float              # correlation over the second half: the reported figure

    @property
    def key(self) -> str:
        return f"{self.layer}:{self.unit} {self.kind}"


@dataclass
class InterpretableReport:
    positions: int                          # characters of held-out text traced (both halves)
    prevalence: dict[str, float]            # per feature: its mean over the passage (share of positions for 0/1)
    best: list[UnitFeature]                 # per feature present in the text: its best unit
    top: list[UnitFeature]                  # the units most correlated with any feature, one entry per unit
    passage: str = ""                       # a stretch of the second half to show the units on
    values: dict[str, list[float]] = field(default_factory=dict)   # unit key -> its value along ``passage``
    absent: list[str] = field(default_factory=list)                # features that never vary in the text

    def to_dict(self) -> dict:
        return {"positions": self.positions, "prevalence": self.prevalence,
                "best": [dict(u.__dict__, key=u.key) for u in self.best],
                "top": [dict(u.__dict__, key=u.key) for u in self.top],
                "absent": self.absent, "passage": self.passage, "values": self.values}


def _standardised(values: torch.Tensor) -> torch.Tensor:
    """Columns with mean 0 and standard deviation 1 (a constant column becomes 0)."""
    centred = values - values.mean(0)
    return centred / centred.pow(2).mean(0).sqrt().clamp_min(1e-12)


def correlations(values: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of every column of ``values`` (N, U) with every column of ``features`` (N, F):
    (U, F)."""
    return _standardised(values.double()).t() @ _standardised(features.double()) / values.size(0)


def rank_units(trace: Trace, top: int = 8, shown: int = 600) -> InterpretableReport:
    """Each feature's best unit (chosen on the first half, measured on the second) and the ``top`` units
    most correlated with any feature; the values of those units along ``shown`` characters of the second half."""
    positions = len(trace.text)
    if positions < MIN_POSITIONS:
        raise ProbeError(f"need at least {MIN_POSITIONS} characters of held-out text to rank units, got {positions}")
    kinds = [("cell", trace.cell)] if trace.cell is not None else []
    kinds.append(("hidden", trace.hidden))
    layers, hidden = trace.hidden.shape[1:]
    values = torch.cat([state.reshape(positions, -1) for _, state in kinds], dim=1)   # (N, kinds*L*H)
    all_features = text_features(trace.text)
    present = {name: f for name, f in all_features.items() if f.min() < f.max()}
    absent = [name for name in all_features if name not in present]
    prevalence = {name: float(f.mean()) for name, f in all_features.items()}
    if not present:
        return InterpretableReport(positions, prevalence, [], [], absent=absent)
    names = list(present)
    features = torch.stack([present[name] for name in names], dim=1)
    half = positions // 2
    chosen = correlations(values[:half], features[:half])       # (U, F)
    held_out = correlations(values[half:], features[half:])

    def entry(column: int, index: int) -> UnitFeature:
        kind, rest = divmod(column, layers * hidden)
        layer, unit = divmod(rest, hidden)
        return UnitFeature(layer=layer, unit=unit, kind=kinds[kind][0], feature=names[index],
                           r_chosen=_finite(chosen[column, index]), r=_finite(held_out[column, index]))

    best = [entry(int(chosen[:, f].abs().argmax()), f) for f in range(len(names))]
    # Each unit's best feature, then the units by that correlation: one line per unit.
    strength, feature_of = chosen.abs().max(dim=1)
    ranked = [entry(column, int(feature_of[column])) for column in strength.argsort(descending=True)[:top].tolist()]
    start = half + max(0, (positions - half - shown) // 2)
    stretch = slice(start, start + shown)
    unit_values = {u.key: dict(kinds)[u.kind][:, u.layer, u.unit][stretch].tolist() for u in [*ranked, *best]}
    return InterpretableReport(positions=positions, prevalence=prevalence, best=best, top=ranked,
                               passage=trace.text[stretch], values=unit_values, absent=absent)


def _finite(value: torch.Tensor) -> float:
    value = float(value.detach())
    return value if math.isfinite(value) else 0.0


def interpretable_units(model: CharRNN, vocab: Vocab, text: str, top: int = 8, rows: int = 16) -> InterpretableReport:
    """``rank_units`` over a held-out ``text`` in the model's vocabulary (read in ``rows`` rows, each warmed
    up by the 100 characters before its piece)."""
    return rank_units(passage_trace(model, vocab, text, rows=rows, warmup=passage_warmup(text)), top=top)
