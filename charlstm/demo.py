"""``charlstm demo``: the first run.

It trains two small models on a short task of the built-in memory corpus ("I grew up in France. <filler
of up to 60 characters> I speak fluent French."), a vanilla RNN and then an LSTM, on the same text for the
same number of steps (a step budget, so the outcome does not depend on the machine), and you watch each
one's memory at every evaluation. Then four models take the same test: "I grew up in France. <filler>
I speak fluent ___", with filler of words and sentence structures no training corpus contains:

* the LSTM and the vanilla RNN you just trained;
* the LSTM that ships with charlstm (``pretrained:memory-lstm``), trained by ``charlstm train --recipe
  memory`` for the long range, and a vanilla RNN trained the same way (``pretrained:memory-rnn``).

Last, the shipped LSTM writes a few stories of its own. ``benchmarks/make_pretrained.py`` re-creates the
shipped models with the project's own recipe.
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
from charlstm.corpora import memory, parse_builtin
from charlstm.corpus import prepare_corpus
from charlstm.model import CharRNN
from charlstm.probes import cue_swap
from charlstm.probes.scoring import normalise, score_continuations
from charlstm.sample import SamplingOptions, sample_texts
from charlstm.train import Finished, train
from charlstm.vocab import Vocab

DEMO_DISTANCES = (0, 25, 50, 100, 200, 400)
DEMO_DRAWS = 3                     # filler draws per distance (each shared by all 14 countries)
EXAMPLE_COUNTRIES = ("France", "Germany", "Japan", "Spain", "Greece", "Poland")
EXAMPLE_FILLER_CHARS = 100
SHIPPED = (("LSTM, shipped (charlstm train --recipe memory)", "pretrained:memory-lstm"),
           ("vanilla RNN, shipped (same recipe, --cell rnn)", "pretrained:memory-rnn"))
# Trained in this order: the LSTM last, so that `charlstm sample` with no checkpoint continues from it.
CELLS = (("rnn", "vanilla RNN"), ("lstm", "LSTM"))
# The shipped LSTM's stories: each prompt a first sentence, the rest of its line the model's own.
STORY_PROMPTS = ("I grew up in Japan.", "Anna is a pilot.", "I grew up in Sweden.")
STORY_LENGTH = 300
STORY_TEMPERATURE = 0.7


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
class Story:
    prompt: str
    text: str          # the model's continuation, up to the end of its line


@dataclass(frozen=True)
class DemoResult:
    trainings: dict[str, Finished]        # cell -> how its training ended
    checkpoints: dict[str, Path]          # cell -> the checkpoint tested
    rows: list[MemoryRow]
    completions: list[Completion]
    filler: str                           # the example's filler (unseen), shared by every country
    stories: list[Story]
    noise: bool                           # the shipped model's corpus has pseudo-word sentences

    def to_dict(self) -> dict:
        return {"training": {cell: {"run_dir": str(t.out_dir), "steps": t.step, "reason": t.reason,
                                    "best_val_loss": t.best_val_loss, "last_val_loss": t.last_val_loss,
                                    "elapsed": round(t.elapsed, 3), "checkpoint": str(self.checkpoints[cell])}
                             for cell, t in self.trainings.items()},
                "memory": [{"model": row.label, "accuracy_by_distance": row.accuracy} for row in self.rows],
                "example": {"filler": self.filler,
                            "picks": [{"country": c.country, "expected": c.expected,
                                       "picks": {label: {"answer": pick, "p_right": p}
                                                 for label, (pick, p) in c.picks.items()}}
                                      for c in self.completions]},
                "stories": [{"prompt": s.prompt, "text": s.text} for s in self.stories]}


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


def stories(model: CharRNN, vocab: Vocab, prompts: tuple[str, ...] = STORY_PROMPTS) -> list[Story]:
    """The model's own continuation of each prompt's line (seeds 0, 1, ...), after the corpus's own first
    line, so that each starts a story as the corpus does."""
    told = []
    for seed, prompt in enumerate(prompts):
        [text] = sample_texts(model, vocab, STORY_LENGTH, prompt=memory.STORY_START + prompt + " ",
                              options=SamplingOptions(temperature=STORY_TEMPERATURE), seeds=(seed,))
        told.append(Story(prompt=prompt, text=text.split("\n", 1)[0]))
    return told


def trained_label(cell: str, steps: int) -> str:
    return f"{dict(CELLS)[cell]} you just trained ({steps} steps, gaps up to {demo_longest()} characters)"


def demo_longest() -> int:
    return dict(parse_builtin(recipes.DEMO_CORPUS).options)["longest"]


def run_demo(out_dir: Path | str = Path("checkpoints/demo"), data_dir: Path | str = Path("data"),
             max_time: float | None = None, device: str = "auto", on_event: Callable[[Any], Any] | None = None,
             stop_event: threading.Event | None = None,
             on_stage: Callable[[str], Any] | None = None) -> DemoResult:
    """Train the demo's RNN and LSTM (replacing an earlier demo's), then test them and the shipped models.
    ``max_time`` caps each training in seconds (the step budget still bounds it); a stop request ends the
    training under way and skips the rest."""
    stage = on_stage or (lambda text: None)
    out_dir = Path(out_dir)
    corpus = prepare_corpus([recipes.DEMO_CORPUS], data_dir=data_dir)
    config = {**recipes.DEMO_TRAIN, "device": device, **({"max_time": max_time} if max_time is not None else {})}
    trainings: dict[str, Finished] = {}
    for cell, name in CELLS:
        if stop_event is not None and stop_event.is_set():
            break
        stage(f"training the {name} on the short task (gaps up to {demo_longest()} characters)")
        trainings[cell] = train(corpus, out_dir / cell, model_config={**recipes.DEMO_MODEL, "cell": cell},
                                train_config=config, overwrite=True, on_event=on_event, stop_event=stop_event)
    stage("testing memory on filler the models never saw")
    models = {label: load_model(source, device="cpu")[:2] for label, source in SHIPPED}
    checkpoints = {}
    for cell, _ in reversed(CELLS):
        if cell in trainings and trainings[cell].step:
            model, vocab, _, checkpoints[cell] = load_model(out_dir / cell, device="cpu")
            models[trained_label(cell, trainings[cell].step)] = (model, vocab)
    rows = [memory_row(label, model, vocab) for label, (model, vocab) in models.items()]
    completions, filler = language_completions(models)
    lstm, lstm_vocab, payload, _ = load_model(SHIPPED[0][1], device="cpu")
    return DemoResult(trainings=trainings, checkpoints=checkpoints, rows=rows, completions=completions,
                      filler=filler, stories=stories(lstm, lstm_vocab), noise=has_noise(payload))


def has_noise(payload: dict) -> bool:
    """Whether a model's training corpus had pseudo-word sentences (its stories may show some)."""
    specs = [parse_builtin(spec) for spec in (payload.get("corpus") or {}).get("inputs", [])
             if str(spec).startswith("builtin:")]
    return any(dict(spec.options).get("noise", 0) > 0 for spec in specs)
