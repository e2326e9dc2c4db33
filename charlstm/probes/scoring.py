"""Exact scoring of continuations: the total log-probability (nats) a model gives a string after a prompt.

Prompts of different lengths run together as packed sequences (no row sees another's padding); every
candidate is then scored from its prompt's final state in one padded batch. The result is exactly
sum_i log P(candidate[i] | prompt + candidate[:i]), the same as feeding the text one character at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from charlstm.errors import ConfigError
from charlstm.model import CharRNN, repeat_rows
from charlstm.sample import context_ids
from charlstm.vocab import Vocab


def pad(rows: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad 1-D id tensors with 0 -> (ids (N, W), lengths (N,))."""
    lengths = torch.tensor([len(r) for r in rows])
    ids = torch.zeros(len(rows), int(lengths.max()), dtype=torch.long)
    for index, row in enumerate(rows):
        ids[index, :len(row)] = row
    return ids, lengths


@torch.no_grad()
def score_continuations(model: CharRNN, vocab: Vocab, prompts: Sequence[str], candidates: Sequence[str],
                        batch_size: int = 64) -> torch.Tensor:
    """log P(candidate | prompt) in nats for every prompt and candidate: a (len(prompts), len(candidates))
    tensor. Each prompt is read from a fresh state after the start character, as sampling reads a prompt."""
    if not candidates or any(not c for c in candidates):
        raise ConfigError("candidates must be non-empty strings")
    model.eval()
    device = next(model.parameters()).device
    cand_ids, cand_lengths = pad([vocab.encode(c) for c in candidates])
    cand_ids, cand_lengths = cand_ids.to(device), cand_lengths.to(device)
    n_cand, width = cand_ids.shape
    mask = torch.arange(width, device=device)[None, :] < cand_lengths[:, None]  # (C, W)
    out = []
    for start in range(0, len(prompts), batch_size):
        chunk = [context_ids(vocab, p) for p in prompts[start:start + batch_size]]
        ids, lengths = pad(chunk)
        logits, state = model.final(ids.to(device), lengths)
        rows = len(chunk)
        logp = torch.empty(rows, n_cand, width, device=device)
        logp[:, :, 0] = F.log_softmax(logits.float(), dim=-1)[:, cand_ids[:, 0]]
        if width > 1:
            inputs = cand_ids[:, :-1].repeat(rows, 1)  # (rows * C, W - 1): row r's candidates are r*C..r*C+C-1
            step_logits, _ = model(inputs, repeat_rows(state, n_cand))
            targets = cand_ids[:, 1:].repeat(rows, 1)
            picked = F.log_softmax(step_logits.float(), dim=-1).gather(2, targets[:, :, None]).squeeze(2)
            logp[:, :, 1:] = picked.view(rows, n_cand, width - 1)
        out.append(logp.masked_fill(~mask, 0.0).sum(dim=2))
    return torch.cat(out).cpu()


def continuation_logprobs(model: CharRNN, vocab: Vocab, prompt: str, candidates: Sequence[str]) -> list[float]:
    """log P(candidate | prompt) for each candidate, for one prompt."""
    return score_continuations(model, vocab, [prompt], candidates)[0].tolist()


def normalise(logprobs: Sequence[float] | torch.Tensor) -> list[float]:
    """Probabilities over the candidates alone (a softmax of their total log-probabilities)."""
    return torch.softmax(torch.as_tensor(logprobs, dtype=torch.float64), dim=-1).tolist()


@torch.no_grad()
def next_char_distribution(model: CharRNN, vocab: Vocab, prompt: str) -> torch.Tensor:
    """P(next character | prompt) over the vocabulary, (V,)."""
    model.eval()
    device = next(model.parameters()).device
    ids = context_ids(vocab, prompt)   # after the start character, as sampling reads a prompt
    logits, _ = model.final(ids.view(1, -1).to(device), torch.tensor([len(ids)]))
    return torch.softmax(logits[0].float(), dim=-1).cpu()
