"""Saliency: how much an answer's log-probability depends on each earlier character.

For a text and an answer, the gradient of log P(answer | warm-up + text) (teacher forced, the sum over the
answer's characters, as ``charlstm.probes.scoring`` scores it) with respect to the embedding vector fed at
each character of the text. Two numbers per character:

* ``gradient_norm``: the L2 norm of that gradient, how sensitive the answer is to the character;
* ``gradient_x_input``: gradient . embedding, the first-order change in log P if the character's vector
  were scaled to zero (signed: positive means the character supports the answer).

The warm-up is read first without a gradient (its positions are not part of the prompt), and the answer's
own characters are inputs only after the text, so only the text's positions are reported. Gradients decay
with distance, so a per-character *density* over a span (``span_summary``) is the fair way to compare a
short cue with a long filler.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from charlstm.errors import ProbeError
from charlstm.model import CharRNN, repeat_rows
from charlstm.probes.scoring import pad
from charlstm.sample import context_ids
from charlstm.vocab import Vocab


@dataclass
class Saliency:
    text: str                        # the scored text, without the warm-up
    answer: str
    logprob: float                   # log P(answer | warm-up + text), nats
    gradient_norm: list[float]       # per character of text: |d logP / d embedding|
    gradient_x_input: list[float]    # per character of text: d logP / d embedding . embedding

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def top(self, count: int = 3) -> list[tuple[int, float]]:
        """The ``count`` positions of the text with the largest gradient norm, with their share of the total."""
        total = sum(self.gradient_norm) or 1.0
        order = sorted(range(len(self.text)), key=lambda i: -self.gradient_norm[i])[:count]
        return [(i, self.gradient_norm[i] / total) for i in order]


def saliency(model: CharRNN, vocab: Vocab, text: str, answer: str, prefix: str = "") -> Saliency:
    """The saliency of ``answer`` after ``text``, read after the warm-up ``prefix`` (as every probe reads)."""
    return saliencies(model, vocab, [text], [answer], prefix)[0]


def saliencies(model: CharRNN, vocab: Vocab, texts: Sequence[str], answers: Sequence[str],
               prefix: str = "") -> list[Saliency]:
    """``saliency`` of each (text, answer) pair, as rows of one batch: the rows are independent, so the
    gradient of the sum of their log-probabilities is each row's own gradient in its own row."""
    if len(texts) != len(answers):
        raise ProbeError("saliency needs one answer per text")
    if not texts or any(not t for t in texts) or any(not a for a in answers):
        raise ProbeError("saliency needs a non-empty text and a non-empty answer")
    model.eval()   # no dropout: the gradient of the function the probes score
    device = model.embedding.weight.device
    with torch.no_grad():   # the warm-up is not differentiated: read it once, share its state
        _, state = model(context_ids(vocab, prefix).view(1, -1).to(device))
    ids, _ = pad([vocab.encode(t + a[:-1]) for t, a in zip(texts, answers)])
    targets, target_lengths = pad([vocab.encode(a) for a in answers])
    rows, width = len(texts), ids.size(1)
    # The logit at position len(text) - 1 + j predicts answer[j]; padding positions are masked out.
    offsets = torch.arange(targets.size(1))
    positions = (torch.tensor([len(t) - 1 for t in texts])[:, None] + offsets).clamp(max=width - 1)
    mask = (offsets < target_lengths[:, None]).to(device)
    # cuDNN's RNN backward refuses to run in eval mode; the native kernels compute the same function.
    no_cudnn = torch.backends.cudnn.flags(enabled=False) if device.type == "cuda" else contextlib.nullcontext()
    with torch.enable_grad(), no_cudnn:
        x = model.embedding(ids.to(device)).detach().requires_grad_()   # (B, W, E)
        logits, _ = model.from_embeddings(x, repeat_rows(state, rows))
        # float32 at least (a half-precision model's log-softmax), float64 kept exact
        logp = F.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=-1)
        picked = logp[torch.arange(rows)[:, None], positions.to(device), targets.to(device)]   # (B, A)
        totals = torch.where(mask, picked, torch.zeros_like(picked)).sum(dim=1)
        (gradient,) = torch.autograd.grad(totals.sum(), x)
    x = x.detach()
    results = []
    for row, (text, answer) in enumerate(zip(texts, answers)):
        g, e = gradient[row, :len(text)], x[row, :len(text)]
        results.append(Saliency(text=text, answer=answer, logprob=float(totals[row].detach()),
                                gradient_norm=g.norm(dim=-1).tolist(), gradient_x_input=(g * e).sum(dim=-1).tolist()))
    return results


def span_summary(result: Saliency, spans: dict[str, tuple[int, int]]) -> dict[str, dict[str, float]]:
    """For each named span [start, end) of the text: its ``share`` of the gradient norm summed over the whole
    text, and its gradient norm ``per_char`` (the mean over its characters)."""
    total = sum(result.gradient_norm) or 1.0
    summary = {}
    for name, (start, end) in spans.items():
        mass = sum(result.gradient_norm[start:end])
        summary[name] = {"share": mass / total, "per_char": mass / max(1, end - start)}
    return summary


def mean_summary(summaries: Sequence[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """The mean of several ``span_summary`` results over the same span names."""
    return {name: {key: sum(s[name][key] for s in summaries) / len(summaries) for key in values}
            for name, values in summaries[0].items()}
