"""The everyday probe: score candidate continuations of your own prompt, and of counterfactual versions.

``--swap France=Germany,Spain`` repeats the probe with "France" replaced by each alternative, side by side,
so a glance shows whether the prediction follows the cue. Each report also carries the saliency of every
candidate (``charlstm.probes.saliency``): how much its log-probability depends on each character of the prompt,
and, for a model with attention, where it looked while reading the candidate (``charlstm.probes.looked``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from charlstm.errors import ProbeError
from charlstm.model import CharRNN
from charlstm.probes.looked import Looked, attends, looked
from charlstm.probes.saliency import Saliency, saliencies
from charlstm.probes.scoring import next_char_distribution, normalise, score_continuations
from charlstm.probes.warmup import resolve_warmup
from charlstm.sample import SamplingOptions, sample_text
from charlstm.vocab import Vocab


@dataclass
class PromptReport:
    label: str                          # "original", or the swapped-in word
    prompt: str
    candidates: list[str]
    logprobs: list[float]               # total log-probability of each candidate (nats)
    probabilities: list[float]          # normalised over the candidates
    top_next: list[tuple[str, float]]   # the model's own five likeliest next characters
    greedy: str                         # its greedy continuation
    prefix: str = ""                    # the warm-up read before the prompt
    saliency: list[Saliency] = field(default_factory=list)   # one per candidate, over the prompt's characters
    looked: list[Looked] = field(default_factory=list)       # a model with attention: one per candidate, likewise

    def to_dict(self) -> dict:
        return {**self.__dict__, "saliency": [s.to_dict() for s in self.saliency],
                "looked": [found.to_dict() for found in self.looked]}


def parse_swaps(specs: list[str]) -> list[tuple[str, str]]:
    """["France=Germany,Spain"] -> [("France", "Germany"), ("France", "Spain")]."""
    swaps = []
    for spec in specs:
        original, eq, alternatives = spec.partition("=")
        replacements = [a for a in alternatives.split(",") if a]
        if not eq or not original or not replacements:
            raise ProbeError(f"--swap takes WORD=ALT1,ALT2,... (e.g. France=Germany,Spain), not {spec!r}")
        swaps += [(original, r) for r in replacements]
    return swaps


def probe_prompt(model: CharRNN, vocab: Vocab, prompt: str, candidates: list[str], swaps: list[str] = (),
                 continuation: int = 40, prefix: str | None = None) -> list[PromptReport]:
    """The prompt and each counterfactual (one report each), scored on the same candidates, each read after
    the warm-up ``prefix`` (None: the model's default warm-up, see ``charlstm.probes.warmup``)."""
    if not prompt:
        raise ProbeError("--prompt must not be empty")
    if not candidates:
        raise ProbeError("give at least one candidate (--candidates French,German,...)")
    variants = [("original", prompt)]
    for original, replacement in parse_swaps(list(swaps)):
        if original not in prompt:
            raise ProbeError(f"--swap: {original!r} does not occur in the prompt")
        variants.append((replacement, prompt.replace(original, replacement)))
    for _, text in variants:
        unknown = vocab.unknown(text + "".join(candidates) + (prefix or ""))
        if unknown:
            raise ProbeError(f"characters not in the model's vocabulary: {', '.join(map(repr, sorted(unknown)))}")
    prefix = resolve_warmup(model, vocab, prefix)
    scores = score_continuations(model, vocab, [prefix + text for _, text in variants], candidates)
    # every variant's every candidate in one batched backward pass
    texts, answers = [text for _, text in variants for _ in candidates], [c for _ in variants for c in candidates]
    found = iter(saliencies(model, vocab, texts, answers, prefix=prefix))
    attention = iter(looked(model, vocab, texts, answers, prefix=prefix))
    reports = []
    for (label, text), row in zip(variants, scores):
        probs = next_char_distribution(model, vocab, prefix + text)
        top = probs.topk(min(5, len(vocab)))
        reports.append(PromptReport(
            label=label, prompt=text, candidates=list(candidates), logprobs=row.tolist(),
            probabilities=normalise(row), top_next=[(vocab.chars[i], float(p)) for p, i in zip(top.values, top.indices)],
            greedy=sample_text(model, vocab, continuation, prompt=prefix + text, options=SamplingOptions(greedy=True)),
            prefix=prefix, saliency=[next(found) for _ in candidates],
            looked=[next(attention) for _ in candidates] if attends(model) else []))
    return reports
