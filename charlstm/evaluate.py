"""Loss on held-out text, in nats per character and bits per character (bpc = nats / ln 2)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from charlstm.batching import StreamBatcher
from charlstm.errors import CorpusError
from charlstm.model import CharRNN, detach_state
from charlstm.loss_units import bits_per_char
from charlstm.vocab import Vocab, code_points

# Evaluation streams are at least this long, so few characters are scored from a cold (zero) state.
MIN_STREAM_CHARS = 1000


@dataclass(frozen=True)
class EvalReport:
    nats_per_char: float
    chars: int
    unknown: Counter = field(default_factory=Counter)

    @property
    def bits_per_char(self) -> float:
        return bits_per_char(self.nats_per_char)

    def to_dict(self) -> dict:
        return {"nats_per_char": self.nats_per_char, "bits_per_char": self.bits_per_char, "chars": self.chars,
                "unknown_chars": sum(self.unknown.values()), "unknown": dict(self.unknown)}


def evaluation_layout(length: int, batch_size: int, chars: int | None = None) -> tuple[int, int]:
    """(streams, characters per stream) an evaluation of ``length`` ids reads: up to ``batch_size`` streams
    of at least ``MIN_STREAM_CHARS``, covering the whole text, or with ``chars`` about that many characters:
    the start of each stream's share, so the slices spread evenly over the text (the same every time)."""
    streams = max(1, min(batch_size, (length - 1) // MIN_STREAM_CHARS))
    share = (length - 1) // streams
    return streams, share if not chars else max(1, min(share, chars // streams))


@torch.no_grad()
def mean_loss(model: CharRNN, ids: torch.Tensor, batch_size: int = 32, seq_len: int = 200,
              id_map: torch.Tensor | None = None, chars: int | None = None) -> float:
    """Mean next-character loss (nats) over ``ids``, read as streams with the state carried throughout;
    with ``chars``, over about that many characters spread over ``ids`` (``evaluation_layout``)."""
    if len(ids) < 2:
        raise CorpusError("need at least two characters to evaluate")
    streams, stream_len = evaluation_layout(len(ids), batch_size, chars)
    batcher = StreamBatcher(ids, streams, seq_len, id_map, stream_len=stream_len)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    state = model.initial_state(streams, device)
    total, count = 0.0, 0
    for window in batcher:
        logits, state = model(window.inputs.to(device), state)
        state = detach_state(state)
        targets = window.targets.to(device)
        # .float(): under a bf16 autocast the logits are bf16; the loss is summed in fp32.
        total += F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1),
                                 reduction="sum").item()
        count += targets.numel()
    model.train(was_training)
    return total / count


def evaluate_text(model: CharRNN, vocab: Vocab, text: str) -> EvalReport:
    """Loss of ``text``; characters outside the vocabulary are counted, reported and skipped."""
    points = code_points(text)
    ids, known = vocab.encode_points(points)
    unknown = Counter(chr(p) for p in points[~known].tolist())
    ids = ids[known]
    if len(ids) < 2:
        raise CorpusError("the text has fewer than two characters the model knows")
    return EvalReport(nats_per_char=mean_loss(model, ids), chars=len(ids), unknown=unknown)
