"""``charlstm demo``: the first run. Train a small LSTM on the built-in memory corpus, then show what it
generates and whether it remembers where "I" grew up when asked which language "I" speak.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charlstm import recipes
from charlstm.checkpoint import load_model
from charlstm.corpora import memory
from charlstm.corpus import prepare_corpus
from charlstm.model import CharRNN
from charlstm.probes import cue_swap
from charlstm.probes.scoring import normalise, score_continuations
from charlstm.sample import SamplingOptions, sample_text
from charlstm.train import TrainResult, train
from charlstm.vocab import Vocab

DEMO_COUNTRIES = ("France", "Germany", "Japan", "Spain", "Greece", "Poland")
# Two minutes of training reliably teaches memory across short filler; the full recipe goes much further
# (charlstm train --recipe memory, then charlstm probe).
DEMO_FILLER_CHARS = 20


@dataclass(frozen=True)
class Completion:
    """'I grew up in <country>. <filler> I speak fluent ___': the model's probability for each language."""

    country: str
    expected: str
    prompt: str
    filler: str
    probabilities: dict[str, float]   # normalised over the candidate languages

    @property
    def predicted(self) -> str:
        return max(self.probabilities, key=self.probabilities.get)


@dataclass(frozen=True)
class DemoResult:
    training: TrainResult
    checkpoint: Path
    sample: str
    completions: list[Completion]


def language_completions(model: CharRNN, vocab: Vocab, corpus_inputs: list[str] | None = None,
                         countries=DEMO_COUNTRIES, filler_chars: int = DEMO_FILLER_CHARS,
                         seed: int = memory.PROBE_SEED) -> list[Completion]:
    """Cue, fresh filler (drawn like the training filler, with a seed never used for training), query;
    every language scored as the continuation."""
    probe = cue_swap.language_probe(filler=cue_swap.training_filler(corpus_inputs))
    filler = probe.filler(random.Random(seed), filler_chars) if filler_chars else ""
    by_label = {cue.label: cue for cue in probe.cues}
    cues = [by_label[country] for country in countries]  # in the order asked for
    prompts = [cue_swap.context(probe, cue, filler) for cue in cues]
    candidates = probe.all_candidates
    scores = score_continuations(model, vocab, prompts, candidates)
    return [Completion(country=cue.label, expected=cue.answer.rstrip("."), prompt=prompt, filler=filler,
                       probabilities={c.rstrip("."): p for c, p in zip(candidates, normalise(row))})
            for cue, prompt, row in zip(cues, prompts, scores)]


def run_demo(out_dir: Path | str = Path("checkpoints/demo"), data_dir: Path | str = Path("data"),
             max_time: float | None = None, device: str = "auto", on_event: Callable[[Any], Any] | None = None,
             stop_event: threading.Event | None = None) -> DemoResult:
    """Train with the demo recipe (replacing an earlier demo run), then sample and probe the best model."""
    corpus = prepare_corpus([recipes.MEMORY_CORPUS], out_dir=data_dir)
    config = {**recipes.DEMO_TRAIN, "device": device}
    if max_time is not None:
        config["max_time"] = max_time
    result = train(corpus, out_dir, model=recipes.DEMO_MODEL, config=config, overwrite=True,
                   on_event=on_event, stop_event=stop_event)
    model, vocab, payload, path = load_model(out_dir, device="cpu")
    text = sample_text(model, vocab, 300, prime=memory.CUE_TEMPLATE.format(country="Japan") + " ",
                       options=SamplingOptions(temperature=0.8), seed=0)
    return DemoResult(training=result, checkpoint=path, sample=text,
                      completions=language_completions(model, vocab, payload["corpus"]["inputs"]))
