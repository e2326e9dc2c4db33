"""Where a model with attention looked (``charlstm.attention``): for a text and an answer, the attention
weight each character of the text received while the model predicted the answer, averaged over the
answer's characters (teacher forced, as ``charlstm.probes.scoring`` scores it). The text's weights, the
warm-up's share and the share on the answer's own earlier characters sum to one.

Unlike saliency (a gradient, falling off with distance), these are the model's own mixing weights: a
weight on the cue 400 characters back is the model reading it back, not a sensitivity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from charlstm.model import CharRNN
from charlstm.probes.scoring import pad
from charlstm.sample import context_ids
from charlstm.vocab import Vocab


@dataclass
class Looked:
    text: str                 # the text, without the warm-up
    answer: str
    weights: list[float]      # per character of the text: the attention it received, mean over the answer
    warmup: float             # the attention on the warm-up (and the start character) before the text
    on_answer: float          # the attention on the answer's own earlier characters

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def share(self, start: int, end: int) -> float:
        return sum(self.weights[start:end])


def attends(model: CharRNN) -> bool:
    return model.attention is not None


# Rows read at once: a row of T characters keeps T x (M + T) weights.
ROWS = 8


def looked(model: CharRNN, vocab: Vocab, texts: Sequence[str], answers: Sequence[str],
           prefix: str = "") -> list[Looked]:
    """``Looked`` for each (text, answer) pair, read after ``prefix`` from a fresh state, ``ROWS`` rows at
    a time; [] for a model without attention."""
    if not attends(model):
        return []
    return [found for first in range(0, len(texts), ROWS)
            for found in _looked(model, vocab, texts[first:first + ROWS], answers[first:first + ROWS], prefix)]


@torch.no_grad()
def _looked(model: CharRNN, vocab: Vocab, texts: Sequence[str], answers: Sequence[str], prefix: str) -> list[Looked]:
    model.eval()
    device = model.embedding.weight.device
    offset = len(context_ids(vocab, prefix))    # the start character and the warm-up come first
    ids, _ = pad([context_ids(vocab, prefix + text + answer[:-1]) for text, answer in zip(texts, answers)])
    ids = ids.to(device)
    core_state, past = model.split_state(None, len(ids), device)
    output, _ = model.core(model.embedding(ids), core_state)
    _, _, weights = model.attention(output, past, keep_weights=True)   # (B, T, M + T), rows right-padded
    slots = model.attention.memory
    results = []
    for row, (text, answer) in enumerate(zip(texts, answers)):
        # The output after the text's last character predicts the answer's first, and so on.
        predicting = offset + len(text) - 1 + torch.arange(len(answer), device=device)
        mean = weights[row, predicting].mean(dim=0)                    # (M + T,)
        on_text = mean[slots + offset:slots + offset + len(text)]
        results.append(Looked(text=text, answer=answer, weights=on_text.tolist(),
                              warmup=float(mean[:slots + offset].sum()),
                              on_answer=float(mean[slots + offset + len(text):].sum())))
    return results


def mean_shares(found: Sequence[Looked], spans: Sequence[dict[str, tuple[int, int]]]) -> dict[str, float]:
    """The mean attention on each named span [start, end) of the texts (and on the warm-up), over texts."""
    names = list(spans[0]) + ["warm-up"]
    totals = dict.fromkeys(names, 0.0)
    for result, span in zip(found, spans):
        for name, (start, end) in span.items():
            totals[name] += result.share(start, end)
        totals["warm-up"] += result.warmup
    return {name: total / len(found) for name, total in totals.items()}
