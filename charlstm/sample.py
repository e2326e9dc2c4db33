"""Sampling text from a trained model: temperature, top-k, top-p (nucleus) or greedy, one character at a time.

The prime text is fed once and the state carried, so each new character costs one step of the network,
not a re-run of everything so far. Draws come from a private generator seeded by ``seed``: the same seed
gives the same text, and sampling never disturbs the global random stream (training relies on it).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from charlstm.errors import ConfigError
from charlstm.model import CharRNN
from charlstm.runtime import generator_for
from charlstm.vocab import Vocab

# Fed (not shown) before every text read from a fresh, zero state. Training carries the state from
# window to window, so a model almost never sees a zero state in mid-line: from one, "ROMEO:" made a
# Shakespeare model babble "&X$Q..." while "\nROMEO:" made it start a speech. A start character puts the
# model where texts begin, at the start of a line.
START_CHARS = ("\n", " ")


@dataclass(frozen=True)
class SamplingOptions:
    temperature: float = 0.8
    top_k: int | None = None
    top_p: float | None = None
    greedy: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.temperature, (int, float)) and math.isfinite(self.temperature)
                and self.temperature > 0):
            raise ConfigError(f"--temp must be a number > 0, not {self.temperature} (use --greedy for argmax)")
        if self.top_k is not None and self.top_k < 1:
            raise ConfigError(f"--top-k must be at least 1, not {self.top_k}")
        if self.top_p is not None and not (math.isfinite(self.top_p) and 0 < self.top_p <= 1):
            raise ConfigError(f"--top-p must be in (0, 1], not {self.top_p}")


def next_char_probs(logits: torch.Tensor, options: SamplingOptions) -> torch.Tensor:
    """Probabilities (V,) after temperature, top-k and top-p filtering of one step's logits (V,)."""
    logits = logits.float() / options.temperature
    if options.top_k is not None and options.top_k < logits.numel():
        kth = torch.topk(logits, options.top_k).values[-1]
        logits = logits.masked_fill(logits < kth, -math.inf)
    probs = torch.softmax(logits, dim=-1)
    if options.top_p is not None and options.top_p < 1:
        sorted_probs, order = torch.sort(probs, descending=True)
        # Keep the smallest prefix whose mass reaches top_p: drop a token if the mass before it already does.
        drop = (torch.cumsum(sorted_probs, dim=-1) - sorted_probs) >= options.top_p
        sorted_probs[drop] = 0.0
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
        probs /= probs.sum()
    return probs


def start_id(vocab: Vocab) -> int:
    for char in START_CHARS:
        if char in vocab:
            return vocab.index(char)
    return 0


def context_ids(vocab: Vocab, text: str) -> torch.Tensor:
    """The ids to feed from a zero state for ``text``: the start character, then the text."""
    return torch.cat([torch.tensor([start_id(vocab)]), vocab.encode(text)])


@torch.no_grad()
def generate(model: CharRNN, vocab: Vocab, length: int, prime: str = "",
             options: SamplingOptions = SamplingOptions(), seed: int = 0) -> Iterator[str]:
    """Yield ``length`` new characters continuing ``prime`` (which is not repeated)."""
    if length < 0:
        raise ConfigError(f"--length must be >= 0, not {length}")
    device = next(model.parameters()).device
    model.eval()
    prime_ids = context_ids(vocab, prime)
    generator = generator_for(seed, torch.device("cpu"))
    logits, state = model(prime_ids.view(1, -1).to(device))
    for position in range(length):
        step_logits = logits[0, -1].cpu()
        if options.greedy:
            next_id = int(step_logits.argmax())
        else:
            probs = next_char_probs(step_logits, options)
            next_id = int(torch.multinomial(probs, 1, generator=generator))
        yield vocab.chars[next_id]
        if position + 1 < length:
            logits, state = model(torch.tensor([[next_id]], device=device), state)


def sample_text(model: CharRNN, vocab: Vocab, length: int, prime: str = "",
                options: SamplingOptions = SamplingOptions(), seed: int = 0) -> str:
    """The whole sample as one string (``generate`` streams it)."""
    return "".join(generate(model, vocab, length, prime, options, seed))
