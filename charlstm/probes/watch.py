"""Memory watched while training: a few cue-swap readings (and the subject switch) at every evaluation.

Loss alone does not say when a model starts to remember: the few answer characters barely move it, and it
was seen to keep falling while memory of new text wore away. So, on the built-in memory corpus (or with a
probe file of one's own), every evaluation also measures cue-swap accuracy at a few distances, and the
subject switch, on filler from the validation grammar (``charlstm.corpora.validation``): neither the
training filler nor the probes' unseen filler, so choosing a checkpoint on it flatters neither. The
reading goes beside the loss in ``train``'s log and in ``metrics.jsonl``, and ``charlstm report`` draws
it over the steps: the step where an LSTM "gets it" is visible. The memory recipe keeps as ``best.pt``
the checkpoint whose reading comes closest to what a memory must reach (``--best-on memory``).

A reading costs a few hundred short contexts (about 2 seconds for a 1 x 256 LSTM on a CPU core), and it
draws no random numbers from torch, so watching never changes the training run itself.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path

from charlstm.corpora import is_builtin, parse_builtin
from charlstm.corpora.validation import validation_filler
from charlstm.model import CharRNN
from charlstm.errors import ProbeError
from charlstm.probes.cue_swap import SPAN_ACCURACY, CueSwapProbe, language_probe, run_cue_swap
from charlstm.probes.forgetting import CANDIDATES, forgetting_contexts, run_forgetting
from charlstm.probes.memory_goal import SPAN_TARGET, SWITCH_ACCURACY, SWITCH_AT
from charlstm.vocab import Vocab, describe_chars

DISTANCES = (50, 100, 200, 400)
DRAWS = 4                  # filler draws per distance, each shared by the 14 cues: 56 contexts
SWITCH_DRAWS = 8           # 16 contexts before the switch and 16 after
# Its own seed: the watch reads other filler than the probes even where the grammars share a template.
SEED = 24_680
# The score is the weakest margin to what a memory must reach (charlstm.probes.memory_goal, judged on
# unseen filler at the end), so best.pt is the checkpoint that comes closest to all of it at once, not the
# one with the best average.
CHECKED_FILLER = 20_000    # characters of filler drawn to check that the corpus can spell the watch


@dataclass(frozen=True)
class MemoryWatch:
    """What a run watches: cue-swap probes, and the subject switch when it trains on the memory corpus."""

    probes: tuple[CueSwapProbe, ...]
    switch: bool = False

    def read(self, model: CharRNN, vocab: Vocab) -> dict:
        """One reading: accuracy per probe and distance ({"cue-swap": {"50": 1.0, ...}}), the switch's
        accuracy before and after it, their ``mean``, and ``score``, what ``--best-on memory`` ranks first:
        the weakest margin to what a memory must reach, each accuracy up to SPAN_TARGET characters over
        SPAN_ACCURACY and the switch over SWITCH_ACCURACY, capped at 1 (1: all reached)."""
        reading: dict = {}
        accuracies: list[float] = []
        margins: list[float] = []
        for probe in self.probes:
            report = run_cue_swap(model, vocab, probe, measure_attention=False)
            reading[probe.name] = {str(row.distance): row.accuracy for row in report.rows}
            accuracies += [row.accuracy for row in report.rows]
            margins += [row.accuracy / SPAN_ACCURACY for row in report.rows if row.distance <= SPAN_TARGET]
        if self.switch:
            [row] = run_forgetting(model, vocab, distances=(SWITCH_AT,), draws=SWITCH_DRAWS, seed=SEED,
                                   filler=validation_filler).rows
            reading["switch"] = {"before": row.accuracy_before, "after": row.accuracy_after}
            accuracies += [row.accuracy_before, row.accuracy_after]
            margins.append(row.accuracy_after / SWITCH_ACCURACY)
        reading["mean"] = sum(accuracies) / len(accuracies)
        reading["score"] = min(1.0, *margins) if margins else reading["mean"]
        return reading

    def check(self, vocab: Vocab) -> None:
        """Refuse, before training starts, probes whose text the model cannot read (a long filler draw each,
        so every word of its grammar or list shows up)."""
        for probe in self.probes:
            filler = probe.filler(random.Random(probe.seed), max(CHECKED_FILLER, *probe.distances))
            text = "".join([*(cue.text for cue in probe.cues), filler, probe.query, *probe.all_candidates,
                            probe.prefix or ""])
            _check_text(vocab, text, f"watch probe {probe.name!r}")
        if self.switch:
            prompts, _ = forgetting_contexts(random.Random(SEED), SWITCH_AT, validation_filler)
            _check_text(vocab, "".join(prompts + list(CANDIDATES)), "the watched subject switch")


def _check_text(vocab: Vocab, text: str, what: str) -> None:
    unknown = vocab.unknown(text)
    if unknown:
        raise ProbeError(f"{what}: characters not in the corpus's vocabulary: {describe_chars(unknown)}")


def memory_watch(switch: bool = True) -> MemoryWatch:
    """The watch of a run on the built-in memory corpus: Olah's country cue and, where the corpus tells
    subject stories, the subject switch."""
    probe = replace(language_probe(distances=DISTANCES, draws=DRAWS, filler=validation_filler), seed=SEED)
    return MemoryWatch(probes=(probe,), switch=switch)


def file_watch(path: Path | str) -> MemoryWatch:
    """The watch of a run given ``--watch-probe FILE``: that file's cue-swap probes, as written."""
    from charlstm.probes.custom import load_probe_file

    return MemoryWatch(probes=tuple(load_probe_file(path)))


def watch_for(corpus_name: str, inputs: list[str], watch_probe: str | None) -> MemoryWatch | None:
    """What a run watches: the probe file when one is given, else the memory suite on the built-in memory
    corpus (the switch only where it tells subject stories), else nothing."""
    if watch_probe:
        return file_watch(watch_probe)
    if corpus_name != "memory":
        return None
    specs = [parse_builtin(spec) for spec in inputs if is_builtin(spec)]
    return memory_watch(switch=any(dict(spec.options).get("language", 0) < 1 for spec in specs) or not specs)
