"""``charlstm demo``: the first run.

It trains a small LSTM on the built-in memory corpus for about a minute (so you watch the loss fall and
the samples improve), then puts three models to the same test: "I grew up in France. <filler> I speak
fluent ___", with filler of words and sentence structures no training corpus contains. The models are

* the LSTM that ships with charlstm (``pretrained:memory-lstm``), trained by ``charlstm train --recipe
  memory``: memory across hundreds of characters takes longer than a demo should;
* a vanilla RNN trained the same way (``pretrained:memory-rnn``), the baseline that cannot remember;
* the LSTM you just trained.

``benchmarks/make_pretrained.py`` re-creates the shipped models with the project's own recipe.
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
from charlstm.train import Finished, train
from charlstm.vocab import Vocab

DEMO_DISTANCES = (0, 25, 50, 100, 200, 400)
DEMO_DRAWS = 3                     # filler draws per distance (each shared by all 14 countries)
EXAMPLE_COUNTRIES = ("France", "Germany", "Japan", "Spain", "Greece", "Poland")
EXAMPLE_FILLER_CHARS = 100
SHIPPED = (("LSTM, shipped (charlstm train --recipe memory)", "pretrained:memory-lstm"),
           ("vanilla RNN, shipped (same recipe, --cell rnn)", "pretrained:memory-rnn"))


@dataclass(frozen=True)
class MemoryRow:
    """One model's cue-swap accuracy on unseen filler, by distance."""

    label: str
    accuracy: dict[int, float]       # filler characters -> share of contexts answered with the cue's language


@dataclass(frozen=True)
class Completion:
    """'I grew up in <country>. <filler> I speak fluent ___': each model's pick and its probability."""

    country: str
    expected: str
    picks: dict[str, tuple[str, float]]   # model label -> (picked language, P(right answer))


@dataclass(frozen=True)
class DemoResult:
    training: Finished
    checkpoint: Path
    sample: str
    sample_prompt: str
    rows: list[MemoryRow]
    completions: list[Completion]
    filler: str                           # the example's filler (unseen), shared by every country

    def to_dict(self) -> dict:
        training = self.training
        return {"training": {"run_dir": str(training.out_dir), "steps": training.step, "reason": training.reason,
                             "best_val_loss": training.best_val_loss, "last_val_loss": training.last_val_loss,
                             "elapsed": round(training.elapsed, 3)},
                "checkpoint": str(self.checkpoint),
                "memory": [{"model": row.label, "accuracy_by_distance": row.accuracy} for row in self.rows],
                "example": {"filler": self.filler,
                            "picks": [{"country": c.country, "expected": c.expected,
                                       "picks": {label: {"answer": pick, "p_right": p}
                                                 for label, (pick, p) in c.picks.items()}}
                                      for c in self.completions]},
                "sample": {"prompt": self.sample_prompt, "text": self.sample}}


def memory_row(label: str, model: CharRNN, vocab: Vocab,
               distances: tuple[int, ...] = DEMO_DISTANCES, draws: int = DEMO_DRAWS) -> MemoryRow:
    probe = cue_swap.language_probe(distances=distances, draws=draws, filler=cue_swap.unseen_filler)
    return MemoryRow(label=label, accuracy=cue_swap.run_cue_swap(model, vocab, probe).accuracy_by_distance)


def language_completions(models: dict[str, tuple[CharRNN, Vocab]], countries=EXAMPLE_COUNTRIES,
                         filler_chars: int = EXAMPLE_FILLER_CHARS,
                         seed: int = memory.PROBE_SEED) -> tuple[list[Completion], str]:
    """Each model's answer after the same unseen filler, for a few countries (in the order asked for)."""
    probe = cue_swap.language_probe(filler=cue_swap.unseen_filler)
    filler = probe.filler(random.Random(seed), filler_chars) if filler_chars else ""
    by_label = {cue.label: cue for cue in probe.cues}
    cues = [by_label[country] for country in countries]
    prompts = [cue_swap.context(probe, cue, filler) for cue in cues]
    candidates = probe.all_candidates
    picks: dict[str, list[tuple[str, float]]] = {}
    for label, (model, vocab) in models.items():
        scores = score_continuations(model, vocab, prompts, candidates)
        picks[label] = []
        for cue, row in zip(cues, scores):
            probs = normalise(row)
            best = max(range(len(candidates)), key=probs.__getitem__)
            picks[label].append((candidates[best].rstrip("."), probs[candidates.index(cue.answer)]))
    completions = [Completion(country=cue.label, expected=cue.answer.rstrip("."),
                              picks={label: picks[label][i] for label in models})
                   for i, cue in enumerate(cues)]
    return completions, filler


def run_demo(out_dir: Path | str = Path("checkpoints/demo"), data_dir: Path | str = Path("data"),
             max_time: float | None = None, device: str = "auto", on_event: Callable[[Any], Any] | None = None,
             stop_event: threading.Event | None = None,
             on_stage: Callable[[str], Any] | None = None) -> DemoResult:
    """Train the demo LSTM (replacing an earlier demo run), then test it and the shipped models."""
    stage = on_stage or (lambda text: None)
    corpus = prepare_corpus([recipes.DEMO_CORPUS], data_dir=data_dir)
    config = {**recipes.DEMO_TRAIN, "device": device}
    if max_time is not None:
        config["max_time"] = max_time
    result = train(corpus, out_dir, model=recipes.DEMO_MODEL, config=config, overwrite=True,
                   on_event=on_event, stop_event=stop_event)
    stage("testing memory on filler the models never saw")
    models = {label: load_model(source)[:2] for label, source in SHIPPED}
    own_model, own_vocab, _, path = load_model(out_dir, device="cpu")
    models[f"LSTM you just trained ({result.step} steps)"] = (own_model, own_vocab)
    rows = [memory_row(label, model, vocab) for label, (model, vocab) in models.items()]
    completions, filler = language_completions(models)
    lstm, lstm_vocab = models[SHIPPED[0][0]]
    # A line of the corpus's own, so the model writes whole stories of its choice: a country in the prompt would
    # show one answer, and the table above already shows every country's.
    prompt = memory.STORY_START
    text = sample_text(lstm, lstm_vocab, 300, prompt=prompt, options=SamplingOptions(temperature=0.8), seed=0)
    return DemoResult(training=result, checkpoint=path, sample=text, sample_prompt=prompt, rows=rows,
                      completions=completions, filler=filler)
