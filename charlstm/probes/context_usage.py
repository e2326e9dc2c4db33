"""How much context a model uses, on any text (after Khandelwal et al. 2018, "Sharp Nearby, Fuzzy Far Away").

For each scored position p of held-out text and each context size k, the model starts from its warm-up
state (``charlstm.probes.warmup``: the state after a neutral text of its own, never a zero state, which a
model trained with carried states reads badly) k characters before p and predicts the character at p; the
mean loss over positions is the loss "seeing only k characters". The unlimited loss carries the state
from the warm-up through the whole text. The effective context is the smallest k whose loss is within 1%
of the unlimited loss.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from charlstm.config import ENCODING, VAL_FRACTION
from charlstm.errors import CorpusError, ProbeError
from charlstm.model import CharRNN, State, detach_state, repeat_rows
from charlstm.probes.warmup import resolve_warmup
from charlstm.sample import context_ids
from charlstm.vocab import Vocab

DEFAULT_CONTEXTS = (1, 2, 5, 10, 20, 50, 100, 200, 500)
WITHIN = 0.01
_CHUNK_CHARS = 2**19  # characters per batched forward (rows x k)


@dataclass
class ContextUsageReport:
    contexts: list[int]
    losses: list[float]         # nats/char seeing only k characters, per k
    unlimited: float            # nats/char with the state carried from the start
    positions: int
    prefix: str = ""            # the warm-up every reading started after

    @property
    def effective_context(self) -> int | None:
        """Smallest k within 1% of the unlimited loss (None: more than the largest k tried)."""
        for k, loss in zip(self.contexts, self.losses):
            if loss <= self.unlimited * (1 + WITHIN):
                return k
        return None

    def to_dict(self) -> dict:
        return {"contexts": self.contexts, "losses": self.losses, "unlimited": self.unlimited,
                "effective_context": self.effective_context, "positions": self.positions, "prefix": self.prefix}


@torch.no_grad()
def warm_state(model: CharRNN, vocab: Vocab, prefix: str) -> State | None:
    """The state after reading ``prefix`` from a zero state, after the start character, as every text read
    from a zero state is (None, a zero state, for an empty prefix)."""
    if not prefix:
        return None
    device = next(model.parameters()).device
    _, state = model(context_ids(vocab, prefix).view(1, -1).to(device))
    return state


@torch.no_grad()
def _carried_logprobs(model: CharRNN, ids: torch.Tensor, warm: State | None, window: int = 2000) -> torch.Tensor:
    """log P(ids[t] | ids[:t]) for t >= 1, one stream with the state carried throughout from ``warm``, (N - 1,)."""
    device = next(model.parameters()).device
    state, out = warm, []
    for start in range(0, len(ids) - 1, window):
        chunk = ids[start:start + window + 1].to(device)
        logits, state = model(chunk[:-1].view(1, -1), state)
        state = detach_state(state)
        out.append(F.log_softmax(logits[0].float(), -1).gather(1, chunk[1:, None]).squeeze(1).cpu())
    return torch.cat(out)


@torch.no_grad()
def _windowed_logprobs(model: CharRNN, ids: torch.Tensor, positions: torch.Tensor, k: int,
                       warm: State | None) -> torch.Tensor:
    """log P(ids[p] | ids[p-k:p]) from the ``warm`` state, for each position p, (P,)."""
    device = next(model.parameters()).device
    offsets = torch.arange(-k, 0)
    rows_per_chunk = max(1, _CHUNK_CHARS // k)
    out = []
    for start in range(0, len(positions), rows_per_chunk):
        chosen = positions[start:start + rows_per_chunk]
        windows = ids[chosen[:, None] + offsets[None, :]].to(device)   # (P, k)
        logits, _ = model(windows, None if warm is None else repeat_rows(warm, len(chosen)))
        targets = ids[chosen].to(device)
        out.append(F.log_softmax(logits[:, -1].float(), -1).gather(1, targets[:, None]).squeeze(1).cpu())
    return torch.cat(out)


def run_context_usage(model: CharRNN, vocab: Vocab, ids: torch.Tensor, contexts: tuple[int, ...] = DEFAULT_CONTEXTS,
                      positions: int = 2000, seed: int = 0, prefix: str | None = None) -> ContextUsageReport:
    """Context-usage curve on held-out ids (already in the model's vocabulary), every reading started after
    the warm-up ``prefix`` (None: the model's default warm-up; "": a zero state)."""
    if not contexts or min(contexts) < 1:
        raise ProbeError("context sizes must be whole numbers >= 1")
    model.eval()
    ids = ids.long()
    largest = max(contexts)
    if len(ids) < largest + 2:
        raise CorpusError(f"need more than {largest + 1} characters of held-out text, got {len(ids)}")
    candidates = list(range(largest, len(ids)))
    chosen = torch.tensor(sorted(random.Random(seed).sample(candidates, min(positions, len(candidates)))))
    prefix = resolve_warmup(model, vocab, prefix)
    warm = warm_state(model, vocab, prefix)
    carried = _carried_logprobs(model, ids, warm)         # index t-1 scores ids[t]
    unlimited = float(-carried[chosen - 1].mean())
    losses = [float(-_windowed_logprobs(model, ids, chosen, k, warm).mean()) for k in contexts]
    return ContextUsageReport(contexts=list(contexts), losses=losses, unlimited=unlimited, positions=len(chosen),
                              prefix=prefix)


def skipped_note(skipped: int) -> list[str]:
    """What the user should know when held-out text had characters the model cannot read."""
    return [f"skipped {skipped} character(s) of the held-out text outside the model's vocabulary"] if skipped else []


def held_out_text(payload: dict, vocab, text_path=None, encoding: str = ENCODING, chars: int | None = None
                  ) -> tuple[str, list[str]]:
    """The first ``chars`` characters of ``held_out_ids``, as text, and ``skipped_note``."""
    ids, skipped = held_out_ids(payload, vocab, text_path, encoding)
    return vocab.decode(ids[:chars]), skipped_note(skipped)


def held_out_ids(payload: dict, vocab, text_path=None, encoding: str = ENCODING) -> tuple[torch.Tensor, int]:
    """Held-out ids in the model's vocabulary: from a text file, or the run's own validation split.

    Returns (ids, skipped) where skipped counts characters outside the vocabulary (dropped)."""
    from charlstm.corpus import prepare_corpus, read_text
    from charlstm.vocab import code_points

    if text_path is not None:
        ids, known = vocab.encode_points(code_points(read_text(text_path, encoding)))
        return ids[known], int((~known).sum())
    origin = payload.get("corpus") or {}
    if not origin.get("inputs"):
        raise CorpusError("this checkpoint does not record its corpus; pass --text FILE with held-out text")
    corpus = prepare_corpus(origin["inputs"], val_fraction=origin.get("val_fraction", VAL_FRACTION),
                            encoding=origin.get("encoding", ENCODING))
    return corpus.vocab.ids_in(vocab)[corpus.val.long()], 0
