"""What a memory model must reach, measured one way everywhere: the memory recipe's goal.

On filler from the probes' unseen grammar (words and sentence structures no training text contains):
cue-swap accuracy >= 90% at every distance up to 200 characters (a memory span of 200 or more), and >= 80%
of the pronouns right after a change of subject at 100 characters. ``benchmarks/memory_recipes.py`` judges
every seed with ``judge_memory``, the slow test one seed, and the shipped model's test the shipped model,
so a figure in the table, the test and the README is the same measurement.

The switch is read on 64 contexts per distance (32 draws of two subjects): with 16 contexts, one run's
reading at 100 characters moved from 69% to 88% with the draw alone. The watch while training reads the
same thresholds on fewer contexts of another grammar (``charlstm.probes.watch``).
"""

from __future__ import annotations

from dataclasses import dataclass

from charlstm.model import CharRNN
from charlstm.probes.cue_swap import language_probe, run_cue_swap, unseen_filler
from charlstm.probes.forgetting import run_forgetting
from charlstm.vocab import Vocab

SPAN_TARGET = 200           # characters of filler the cue must survive, at cue_swap.SPAN_ACCURACY (90%) or better
SWITCH_AT = 100             # characters of filler after the change of subject
SWITCH_ACCURACY = 0.8
DISTANCES = (0, 25, 50, 100, 200, 400, 800)
DRAWS = 4                   # cue-swap: each draw shared by the 14 cues, 56 contexts per distance
SWITCH_DISTANCES = (0, 25, 50, 100, 200)
SWITCH_DRAWS = 32           # 64 contexts per distance


@dataclass(frozen=True)
class MemoryGoal:
    """A model's reading against the goal, on unseen filler."""

    accuracy: dict[int, float]          # cue-swap: filler characters -> share answered with the cue's language
    span: int                           # the longest distance up to which every reading is >= SPAN_ACCURACY
    switch_before: dict[int, float]     # pronoun accuracy with no change of subject, by distance
    switch_after: dict[int, float]      # and right after one

    @property
    def passed(self) -> bool:
        return self.span >= SPAN_TARGET and self.switch_after[SWITCH_AT] >= SWITCH_ACCURACY


def judge_memory(model: CharRNN, vocab: Vocab) -> MemoryGoal:
    cue_swap = run_cue_swap(model, vocab, language_probe(distances=DISTANCES, draws=DRAWS, filler=unseen_filler),
                            measure_attention=False)
    switch = run_forgetting(model, vocab, distances=SWITCH_DISTANCES, draws=SWITCH_DRAWS, filler=unseen_filler)
    return MemoryGoal(accuracy=cue_swap.accuracy_by_distance, span=cue_swap.memory_span or 0,
                      switch_before={row.distance: row.accuracy_before for row in switch.rows},
                      switch_after={row.distance: row.accuracy_after for row in switch.rows})

