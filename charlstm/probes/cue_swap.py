"""The cue-swap (counterfactual) probe: does the prediction follow a cue given d characters earlier?

For every cue and every distance d, the context is

    cue sentence + whole sentences of fresh filler (about d characters) + query

and every candidate answer is scored by its total log-probability. All cues share the same filler draw,
so the contexts differ *only* in the cue: if the answer changes with the cue, the model remembered it.
Accuracy is the share of contexts whose best candidate is the cue's own answer; the memory span is the
largest distance up to which accuracy stays at or above 90%.

With ``saliency_draws``, the report also says where each right answer's gradient lies at one distance
(``charlstm.probes.saliency``): its share on the cue sentence, the filler and the query, and its density
per character in each (the filler is long, so density is the fair comparison).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from charlstm.corpora import is_builtin, memory, parse_builtin, unseen
from charlstm.errors import ProbeError
from charlstm.model import CharRNN
from charlstm.probes.looked import attends, looked
from charlstm.probes.saliency import Saliency, mean_summary, saliencies, span_summary
from charlstm.probes.scoring import score_continuations
from charlstm.probes.warmup import resolve_warmup
from charlstm.vocab import Vocab

DEFAULT_DISTANCES = (0, 25, 50, 100, 200, 400, 800)
# Far beyond any LSTM's memory; a bound keeps a hostile probe file from asking for gigabytes of filler.
MAX_DISTANCE = 100_000
SPAN_ACCURACY = 0.9
# Saliency is measured at the probe's largest distance up to this one (this one if it has none in 1..100):
# far enough for the filler to be a real gap, near enough for a remembered cue to still be remembered.
SALIENCY_DISTANCE = 100
SALIENCY_DRAWS = 2   # filler draws for saliency in the suite (each cue once per draw): a few backward passes

# A filler source: (random generator, characters wanted) -> whole sentences of about that many characters.
Filler = Callable[[random.Random, int], str]


@dataclass(frozen=True)
class Cue:
    label: str    # what the cue is about, e.g. "France"
    text: str     # the cue sentence, e.g. "I grew up in France."
    answer: str   # the candidate that belongs to it, e.g. "French."


@dataclass(frozen=True)
class CueSwapProbe:
    name: str
    cues: tuple[Cue, ...]
    query: str
    filler: Filler
    candidates: tuple[str, ...] = ()   # all cue answers, plus these distractors
    distances: tuple[int, ...] = DEFAULT_DISTANCES
    draws: int = 4                   # filler draws per distance (each shared by all cues)
    seed: int = memory.PROBE_SEED
    separator: str = " "
    # The warm-up read before every context (see ``charlstm.probes.warmup``): None means the model's own
    # default warm-up, "" a cold start.
    prefix: str | None = None

    @property
    def all_candidates(self) -> tuple[str, ...]:
        answers = tuple(dict.fromkeys(c.answer for c in self.cues))
        return answers + tuple(c for c in self.candidates if c not in answers)


@dataclass(frozen=True)
class DistanceRow:
    distance: int             # filler characters asked for
    filler_chars: float       # filler characters actually used (whole sentences), mean
    cue_to_answer: float      # characters from the end of the cue to the answer, mean
    accuracy: float
    p_correct: float          # mean probability of the right answer, normalised over the candidates
    contexts: int
    # A model with attention: the mean share of its attention on the cue sentence while it answers.
    attention_on_cue: float | None = None


@dataclass
class CueSaliency:
    """Where the right answer's gradient lies in the contexts of one distance (span -> share, per_char)."""
    distance: int
    contexts: int
    mean: dict[str, dict[str, float]]                 # over all contexts: "cue", "filler", "query"
    per_cue: dict[str, dict[str, dict[str, float]]]   # cue label -> the same, over that cue's contexts
    example: Saliency                                 # the first cue's first context, to show
    spans: dict[str, tuple[int, int]]                 # the example's cue, filler and query, [start, end)

    def to_dict(self) -> dict:
        return {**self.__dict__, "example": self.example.to_dict()}


@dataclass
class CueSwapReport:
    name: str
    chance: float
    rows: list[DistanceRow]
    per_cue: dict[str, list[float]] = field(default_factory=dict)   # cue label -> accuracy per distance
    prefix: str = ""   # the warm-up every context started after
    saliency: CueSaliency | None = None

    @property
    def accuracy_by_distance(self) -> dict[int, float]:
        return {row.distance: row.accuracy for row in self.rows}

    @property
    def memory_span(self) -> int | None:
        """Largest distance up to which accuracy stays >= 90% (None if it fails even with no filler)."""
        span = None
        for row in self.rows:
            if row.accuracy < SPAN_ACCURACY:
                break
            span = row.distance
        return span

    def to_dict(self) -> dict:
        return {"name": self.name, "chance": self.chance, "memory_span": self.memory_span,
                "rows": [row.__dict__ for row in self.rows], "per_cue": self.per_cue, "prefix": self.prefix,
                "saliency": self.saliency.to_dict() if self.saliency is not None else None}


def warmed_up(probe: CueSwapProbe, model: CharRNN, vocab: Vocab) -> CueSwapProbe:
    """The probe with its warm-up resolved to text (the model's default warm-up when it has none)."""
    return replace(probe, prefix=resolve_warmup(model, vocab, probe.prefix))


def run_cue_swap(model: CharRNN, vocab: Vocab, probe: CueSwapProbe, saliency_draws: int = 0,
                 measure_attention: bool = True) -> CueSwapReport:
    """Score every cue's contexts at every distance; with ``saliency_draws`` > 0, also the saliency of the
    right answers in that many filler draws at one distance (``cue_saliency``). For a model with attention,
    ``measure_attention`` also reads each context once more for its attention on the cue (callers that keep
    only the accuracy, as the watch at every evaluation, skip it)."""
    probe = warmed_up(probe, model, vocab)
    rng = random.Random(probe.seed)
    candidates = probe.all_candidates
    index = {c: i for i, c in enumerate(candidates)}
    rows, per_cue = [], {cue.label: [] for cue in probe.cues}
    for distance in probe.distances:
        prompts, truths, labels, fillers, gaps = [], [], [], [], []
        for _ in range(probe.draws):
            filler = probe.filler(rng, distance) if distance > 0 else ""
            for cue in probe.cues:
                prompts.append(context(probe, cue, filler))
                truths.append(index[cue.answer])
                labels.append(cue.label)
                fillers.append(filler)
                gaps.append(len(prompts[-1]) - len(probe.prefix) - len(cue.text))
        scores = score_continuations(model, vocab, prompts, candidates)
        probs = scores.double().softmax(dim=1)
        hits = [int(scores[i].argmax()) == t for i, t in enumerate(truths)]
        p_right = [float(probs[i, t]) for i, t in enumerate(truths)]
        rows.append(DistanceRow(distance=distance, filler_chars=sum(map(len, fillers)) / len(fillers),
                                cue_to_answer=sum(gaps) / len(gaps), accuracy=sum(hits) / len(hits),
                                p_correct=sum(p_right) / len(p_right), contexts=len(prompts),
                                attention_on_cue=_attention_on_cue(model, vocab, probe, prompts,
                                                                   [candidates[t] for t in truths], labels)
                                if measure_attention else None))
        for label in per_cue:
            mine = [h for h, lab in zip(hits, labels) if lab == label]
            per_cue[label].append(sum(mine) / len(mine))
    return CueSwapReport(name=probe.name, chance=1 / len(candidates), rows=rows, per_cue=per_cue,
                         prefix=probe.prefix,
                         saliency=cue_saliency(model, vocab, probe, saliency_draws) if saliency_draws > 0 else None)


def cue_saliency(model: CharRNN, vocab: Vocab, probe: CueSwapProbe, draws: int) -> CueSaliency:
    """The saliency of each cue's answer in its context, for ``draws`` filler draws at one distance (one
    batched backward pass): how much of the answer's gradient falls on the cue, the filler and the query."""
    probe = warmed_up(probe, model, vocab)
    distance = max((d for d in probe.distances if 0 < d <= SALIENCY_DISTANCE), default=SALIENCY_DISTANCE)
    rng = random.Random(probe.seed)   # its own draws: the accuracy rows stay what they were without it
    texts, answers, labels, spans = [], [], [], []
    for _ in range(draws):
        filler = probe.filler(rng, distance)
        for cue in probe.cues:
            texts.append(context(probe, cue, filler)[len(probe.prefix):])
            answers.append(cue.answer)
            labels.append(cue.label)
            spans.append(context_spans(probe, cue, texts[-1]))
    results = saliencies(model, vocab, texts, answers, prefix=probe.prefix)
    summaries = [span_summary(result, span) for result, span in zip(results, spans)]
    per_cue = {label: mean_summary([s for s, lab in zip(summaries, labels) if lab == label])
               for label in dict.fromkeys(labels)}
    return CueSaliency(distance=distance, contexts=len(texts), mean=mean_summary(summaries), per_cue=per_cue,
                       example=results[0], spans=spans[0])


def _attention_on_cue(model: CharRNN, vocab: Vocab, probe: CueSwapProbe, prompts: list[str], answers: list[str],
                      labels: list[str]) -> float | None:
    """The mean share of attention on the cue sentence while the right answer is read (None without
    attention)."""
    if not attends(model):
        return None
    texts = [prompt[len(probe.prefix):] for prompt in prompts]
    cues = {cue.label: cue for cue in probe.cues}
    found = looked(model, vocab, texts, answers, prefix=probe.prefix)
    return sum(f.share(*context_spans(probe, cues[label], f.text)["cue"]) for f, label in zip(found, labels)) / len(found)


def context_spans(probe: CueSwapProbe, cue: Cue, text: str) -> dict[str, tuple[int, int]]:
    """The cue sentence, the filler (with the separators around it) and the query in a context without its
    warm-up: [start, end) spans that cover the whole text."""
    return {"cue": (0, len(cue.text)), "filler": (len(cue.text), len(text) - len(probe.query)),
            "query": (len(text) - len(probe.query), len(text))}


def context(probe: CueSwapProbe, cue: Cue, filler: str) -> str:
    """prefix + cue + filler + query, joined by the probe's separator (empty filler leaves no gap)."""
    return (probe.prefix or "") + probe.separator.join(part for part in (cue.text, filler, probe.query) if part)


def unseen_filler(rng: random.Random, chars: int) -> str:
    """Filler from a grammar of its own, with words and sentence structures no generated training corpus
    contains (``charlstm.corpora.unseen``): the test of a memory that holds whatever passes by."""
    return unseen.unseen_filler(rng, chars)


def training_filler(corpus_inputs: list[str] | None) -> Filler:
    """Fresh filler drawn like the model's own training filler (the same mix of sources, a seed never used
    for training); the whole grammar when the model was not trained on a ``builtin:memory`` corpus."""
    specs = [parse_builtin(spec) for spec in corpus_inputs or [] if is_builtin(spec)]
    options = [dict(spec.options) for spec in specs if spec.name == "memory"]
    return memory.filler_mix(options[-1] if options else {}).of_length


FILLERS = ("fresh", "unseen")


def filler_for(kind: str, corpus_inputs: list[str] | None) -> Filler:
    """``fresh``: new draws from the training filler; ``unseen``: new words and structures (see unseen_filler)."""
    if kind not in FILLERS:
        raise ProbeError(f"--filler must be fresh or unseen, not {kind!r}")
    return training_filler(corpus_inputs) if kind == "fresh" else unseen_filler


def language_probe(distances: tuple[int, ...] = DEFAULT_DISTANCES, draws: int = 4,
                   filler: Filler = unseen_filler) -> CueSwapProbe:
    """Olah's example on the built-in memory corpus: "I grew up in France. ... I speak fluent French."."""
    cues = tuple(Cue(label=country, text=memory.CUE_TEMPLATE.format(country=country), answer=f"{language}.")
                 for country, language in memory.COUNTRIES)
    return CueSwapProbe(name="cue-swap", cues=cues, query=memory.LANGUAGE_QUERY, filler=filler,
                        distances=distances, draws=draws, prefix=memory.STORY_START)
