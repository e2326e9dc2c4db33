"""Sampling text from a trained model: temperature, top-k, top-p (nucleus) or greedy, one character at a time.

The prompt text is fed once (by the fused core) and the state carried, so each new character costs one
step of the network, taken by the fast ``Stepper``, not a re-run of everything so far. Many samples run
as rows of one batch. Each stream draws from its own generator seeded by its seed, by inverse-CDF
sampling of a pre-drawn uniform: the same seed gives the same text whether the stream runs alone or in a
batch, and sampling never disturbs the global random stream (training relies on it).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from charlstm.errors import ConfigError
from charlstm.model import CharRNN
from charlstm.runtime import generator_for
from charlstm.stepper import Stepper, StepState
from charlstm.vocab import Vocab

# Fed (not shown) before every text read from a fresh, zero state. Training carries the state from
# window to window, so a model almost never sees a zero state in mid-line: from one, "ROMEO:" made a
# Shakespeare model babble "&X$Q..." while "\nROMEO:" made it start a speech. A start character puts the
# model where texts begin, at the start of a line.
START_CHARS = ("\n", " ")
# Streams generated together: 256 rows of a 2 x 512 model keep a batch's state and logits under 2 MB.
MAX_ROWS = 256


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
    """Probabilities (..., V) after temperature, top-k and top-p filtering of logits (..., V)."""
    logits = logits.float() / options.temperature
    if options.top_k is not None and options.top_k < logits.size(-1):
        kth = torch.topk(logits, options.top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, -math.inf)
    probs = torch.softmax(logits, dim=-1)
    if options.top_p is not None and options.top_p < 1:
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        # Keep the smallest prefix whose mass reaches top_p: drop a token if the mass before it already does.
        drop = (torch.cumsum(sorted_probs, dim=-1) - sorted_probs) >= options.top_p
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
        probs /= probs.sum(dim=-1, keepdim=True)
    return probs


class Uniforms:
    """U(0, 1) draws for each stream from its own generator seeded by the stream's seed, drawn a block at a
    time: a stream's draws (and so its text) do not depend on which other streams run beside it."""

    BLOCK = 256

    def __init__(self, seeds: Sequence[int], device: torch.device):
        self.generators = [generator_for(seed, torch.device("cpu")) for seed in seeds]
        self.device = device
        self.block = torch.empty(len(seeds), 0)
        self.position = 0

    def next(self) -> torch.Tensor:
        """The next draw of every stream, (B, 1)."""
        if self.position == self.block.size(1):
            self.block = torch.stack([torch.rand(self.BLOCK, generator=g) for g in self.generators]).to(self.device)
            self.position = 0
        self.position += 1
        return self.block[:, self.position - 1:self.position]


def draw(logits: torch.Tensor, options: SamplingOptions, uniforms: Uniforms) -> torch.Tensor:
    """The next character id of every stream, (B,), from logits (B, V): the first id whose cumulative
    probability exceeds the stream's uniform draw (inverse-CDF sampling; a zero-probability id is never
    chosen)."""
    if options.greedy:
        return logits.argmax(dim=-1)
    cumulative = next_char_probs(logits, options).cumsum_(dim=-1)
    threshold = uniforms.next() * cumulative[:, -1:]
    return torch.searchsorted(cumulative, threshold, right=True).squeeze(1).clamp_(max=logits.size(-1) - 1)


def start_id(vocab: Vocab) -> int:
    for char in START_CHARS:
        if char in vocab:
            return vocab.index(char)
    return 0


def context_ids(vocab: Vocab, text: str) -> torch.Tensor:
    """The ids to feed from a zero state for ``text``: the start character, then the text."""
    return torch.cat([torch.tensor([start_id(vocab)]), vocab.encode(text)])


class Streams:
    """Streams of text that continue from call to call: ``read`` text into them, draw the ``next``
    character of each. They share what they read, so a prompt is read once (by the fused core, then the
    state is copied to every stream), and each draws from its own seed's generator: stream ``i`` gives the
    same text as a single stream with seed ``seeds[i]``. The state is kept until ``reset``."""

    def __init__(self, model: CharRNN, vocab: Vocab, options: SamplingOptions = SamplingOptions(),
                 seeds: Sequence[int] = (0,)):
        self.model, self.vocab, self.options = model.eval(), vocab, options
        self.device = next(model.parameters()).device
        self.stepper = Stepper(model)
        self.rows = len(seeds)
        self.reseed(seeds)
        self.reset()

    def reset(self) -> None:
        """Forget everything read and generated: the next text is read from a fresh state."""
        self.state: StepState | None = None
        self.logits: torch.Tensor | None = None

    def reseed(self, seeds: Sequence[int]) -> None:
        if len(seeds) != self.rows:
            raise ConfigError(f"{self.rows} streams need {self.rows} seeds, not {len(seeds)}")
        self.uniforms = Uniforms(seeds, self.device)

    @torch.inference_mode()
    def read(self, text: str) -> None:
        """Feed ``text`` to every stream (after the start character, when the state is fresh)."""
        if self.state is None:
            logits, state = self.model(context_ids(self.vocab, text).view(1, -1).to(self.device))
            self.state = self.stepper.from_state(state).expand(self.rows)
            self.logits = logits[:, -1].expand(self.rows, -1)
        elif text:
            ids = self.vocab.encode(text).to(self.device).expand(self.rows, -1)
            logits, state = self.model(ids, self.stepper.to_state(self.state))
            self.state, self.logits = self.stepper.from_state(state), logits[:, -1]

    @torch.inference_mode()
    def next(self) -> torch.Tensor:
        """Draw each stream's next character id, (rows,), and feed it to the stream."""
        if self.state is None:
            self.read("")
        ids = draw(self.logits, self.options, self.uniforms)
        self.logits = self.stepper.step(ids, self.state)
        return ids


def generate_ids(model: CharRNN, vocab: Vocab, length: int, prompt: str = "",
                 options: SamplingOptions = SamplingOptions(), seeds: Sequence[int] = (0,)) -> Iterator[torch.Tensor]:
    """Yield ``length`` steps of new character ids, (len(seeds),) each: one stream per seed, all continuing
    ``prompt``, stepped on the fast ``Stepper``."""
    if length < 0:
        raise ConfigError(f"--length must be >= 0, not {length}")
    streams = Streams(model, vocab, options, seeds)
    streams.read(prompt)
    for _ in range(length):
        yield streams.next()


def generate(model: CharRNN, vocab: Vocab, length: int, prompt: str = "",
             options: SamplingOptions = SamplingOptions(), seed: int = 0) -> Iterator[str]:
    """Yield ``length`` new characters continuing ``prompt`` (which is not repeated), one at a time."""
    chars = vocab.chars
    for ids in generate_ids(model, vocab, length, prompt, options, (seed,)):
        yield chars[int(ids[0])]


def texts_from_steps(vocab: Vocab, steps: Sequence[torch.Tensor], streams: int) -> list[str]:
    """The texts of ``streams`` streams from ``generate_ids``' steps."""
    if not steps:
        return ["" for _ in range(streams)]
    chars = vocab.chars
    return ["".join(chars[i] for i in row) for row in torch.stack(steps, dim=1).tolist()]


def sample_texts(model: CharRNN, vocab: Vocab, length: int, prompt: str = "",
                 options: SamplingOptions = SamplingOptions(), seeds: Sequence[int] = (0,)) -> list[str]:
    """One sample per seed, generated together as rows of a batch (``MAX_ROWS`` at a time)."""
    texts = []
    for first in range(0, len(seeds), MAX_ROWS):
        batch = seeds[first:first + MAX_ROWS]
        texts += texts_from_steps(vocab, list(generate_ids(model, vocab, length, prompt, options, batch)), len(batch))
    return texts


def sample_text(model: CharRNN, vocab: Vocab, length: int, prompt: str = "",
                options: SamplingOptions = SamplingOptions(), seed: int = 0) -> str:
    """The whole sample as one string (``generate`` streams it)."""
    return sample_texts(model, vocab, length, prompt, options, (seed,))[0]
