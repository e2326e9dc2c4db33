"""Exact scoring of continuations: the total log-probability (nats) a model gives a string after a prompt.

The prompt is run once; every candidate is then scored from the prompt's final state in one padded batch,
so scoring N candidates costs one pass over the prompt plus one over the longest candidate.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from charlstm.errors import ConfigError
from charlstm.model import CharRNN, State
from charlstm.sample import start_id
from charlstm.vocab import Vocab


def _repeat_state(state: State, copies: int) -> State:
    if isinstance(state, tuple):
        return tuple(s.repeat(1, copies, 1) for s in state)
    return state.repeat(1, copies, 1)


@torch.no_grad()
def prompt_state(model: CharRNN, vocab: Vocab, prompt: str) -> tuple[torch.Tensor, State]:
    """Log-probabilities (V,) of the next character after ``prompt``, and the state there."""
    model.eval()
    device = next(model.parameters()).device
    ids = vocab.encode(prompt) if prompt else torch.tensor([start_id(vocab)])
    logits, state = model(ids.view(1, -1).to(device))
    return F.log_softmax(logits[0, -1].float(), dim=-1), state


@torch.no_grad()
def continuation_logprobs(model: CharRNN, vocab: Vocab, prompt: str, candidates: Sequence[str]) -> list[float]:
    """log P(candidate | prompt) for each candidate: the sum over its characters, in nats."""
    if not candidates or any(not c for c in candidates):
        raise ConfigError("candidates must be non-empty strings")
    first, state = prompt_state(model, vocab, prompt)
    device = first.device
    encoded = [vocab.encode(c) for c in candidates]
    width = max(len(ids) for ids in encoded)
    batch = torch.zeros(len(encoded), width, dtype=torch.long)
    mask = torch.zeros(len(encoded), width, dtype=torch.bool)
    for row, ids in enumerate(encoded):
        batch[row, :len(ids)] = ids
        mask[row, :len(ids)] = True
    batch, mask = batch.to(device), mask.to(device)
    logp = torch.empty(len(encoded), width, device=device)
    logp[:, 0] = first[batch[:, 0]]
    if width > 1:
        logits, _ = model(batch[:, :-1], _repeat_state(state, len(encoded)))
        logp[:, 1:] = F.log_softmax(logits.float(), dim=-1).gather(2, batch[:, 1:, None]).squeeze(2)
    return logp.masked_fill(~mask, 0.0).sum(dim=1).tolist()


def normalise(logprobs: Sequence[float]) -> list[float]:
    """Probabilities over the candidates alone (a softmax of their total log-probabilities)."""
    return torch.softmax(torch.tensor(logprobs, dtype=torch.float64), dim=0).tolist()
