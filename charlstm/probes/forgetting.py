"""The forgetting probe (Olah's forget-gate example): a change of subject must overwrite the memory.

Before the switch:  "Maria is a doctor. <filler d> ___"                    -> "She" beats "He"
After the switch:   "Maria is a doctor. <filler> She ... Then Paul arrived. <filler d> ___"  -> "He" beats "She"

Both pronouns are scored as whole words (with the following space) and compared with each other. A model
that only remembers the first subject passes "before" and fails "after"; one that forgets everything
sits at chance in both.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from charlstm.corpora import memory
from charlstm.model import CharRNN
from charlstm.probes.cue_swap import DEFAULT_DISTANCES, Filler, unseen_filler
from charlstm.probes.scoring import score_continuations
from charlstm.vocab import Vocab

CANDIDATES = tuple(f"{p} " for p in memory.PRONOUNS)   # ("She ", "He ")
# Filler between the first subject and the switch, in the "after" contexts.
FIRST_GAP = 40


@dataclass(frozen=True)
class ForgettingRow:
    distance: int
    accuracy_before: float   # pronoun of the first subject, d characters after it
    accuracy_after: float    # pronoun of the new subject, d characters after the switch
    contexts: int


@dataclass
class ForgettingReport:
    rows: list[ForgettingRow]
    chance: float = 0.5

    def to_dict(self) -> dict:
        return {"chance": self.chance, "rows": [row.__dict__ for row in self.rows]}


def forgetting_contexts(rng: random.Random, distance: int, filler: Filler = unseen_filler,
                        prefix: str = memory.STORY_START) -> tuple[list[str], list[int]]:
    """One 'before' and one 'after' context for each starting gender, with the right pronoun's index."""
    names = (memory.FEMALE_NAMES, memory.MALE_NAMES)
    prompts, truths = [], []
    for first in (0, 1):
        second = 1 - first
        subject = memory.SUBJECT_TEMPLATE.format(name=rng.choice(names[first]), job=rng.choice(memory.JOBS))
        gap = filler(rng, distance) if distance else ""
        prompts.append(prefix + memory.join(subject, gap) + " ")
        truths.append(first)
        action = f"{memory.PRONOUNS[first]} {rng.choice(memory.PRONOUN_ACTIONS)}."
        switch = memory.SWITCH_TEMPLATE.format(name=rng.choice(names[second]))
        lead = filler(rng, FIRST_GAP)
        prompts.append(prefix + memory.join(subject, lead, action, switch, gap) + " ")
        truths.append(second)
    return prompts, truths


def run_forgetting(model: CharRNN, vocab: Vocab, distances: tuple[int, ...] = DEFAULT_DISTANCES,
                   draws: int = 8, seed: int = memory.PROBE_SEED, filler: Filler = unseen_filler,
                   prefix: str = memory.STORY_START) -> ForgettingReport:
    """Accuracy before and after the switch per distance; every context starts after the warm-up ``prefix``
    (the memory corpus's own first line by default)."""
    rng = random.Random(seed)
    rows = []
    for distance in distances:
        prompts, truths = [], []
        for _ in range(draws):
            more_prompts, more_truths = forgetting_contexts(rng, distance, filler, prefix)
            prompts += more_prompts
            truths += more_truths
        best = score_continuations(model, vocab, prompts, CANDIDATES).argmax(dim=1).tolist()
        hits = [b == t for b, t in zip(best, truths)]
        before, after = hits[0::2], hits[1::2]
        rows.append(ForgettingRow(distance=distance, accuracy_before=sum(before) / len(before),
                                  accuracy_after=sum(after) / len(after), contexts=len(prompts)))
    return ForgettingReport(rows=rows)
