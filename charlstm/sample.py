"""Sampling text from a trained model: temperature, top-k, top-p (nucleus) or greedy, one character at a time.

The prompt text is fed once (by the fused core) and the state carried, so each new character costs one
step of the network, taken by the fast ``Stepper``, not a re-run of everything so far. Many samples run
as rows of one batch. Each stream draws from its own generator seeded by its seed, by inverse-CDF
sampling of a pre-drawn uniform: the same seed gives the same text whether the stream runs alone or in a
batch, and sampling never disturbs the global random stream (training relies on it). A ``Clamp`` holds one
unit at a value while the text is read and generated, to see what the unit does to the text.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from charlstm.config import ModelConfig
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
class Clamp:
    """Hold unit ``unit`` of layer ``layer`` (both from 0) at ``value``, as Radford et al. (2017) steered
    reviews by writing their sentiment unit: the unit's cell state c in a cell that has one
    (``ModelConfig.has_cell_state``), its hidden state h in one that has not (gru, rnn, clockwork). It is written after
    every step, so each following step reads it (the step's own output was computed before the write)."""
    layer: int
    unit: int
    value: float

    def __str__(self) -> str:
        return f"layer {self.layer} unit {self.unit} at {self.value:+.2f}"


CLAMP_FORM = "LAYER:UNIT=VALUE, e.g. 0:42=0.8"


def parse_clamp(spec: str) -> Clamp:
    """``"1:42=0.8"`` -> ``Clamp(1, 42, 0.8)``; anything else is a ConfigError that says what was expected."""
    where, equals, value = spec.partition("=")
    layer, colon, unit = where.partition(":")
    if not (equals and colon):
        raise ConfigError(f"--clamp takes {CLAMP_FORM}, not {spec!r}")
    numbers = []
    for name, text in (("layer", layer), ("unit", unit)):
        if not text.strip().isdecimal():
            raise ConfigError(f"--clamp {spec!r}: the {name} must be a whole number >= 0, not {text!r}")
        numbers.append(int(text))
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ConfigError(f"--clamp {spec!r}: the value must be a finite number, not {value!r}")
    return Clamp(*numbers, number)


def check_clamps(clamps: Sequence[Clamp], config: ModelConfig) -> None:
    """Refuse a clamp the model has no unit for (the limits go in the message)."""
    for clamp in clamps:
        if clamp.layer >= config.num_layers or clamp.unit >= config.hidden_size:
            layers = f"{config.num_layers} layer{'s' if config.num_layers > 1 else ''}"
            raise ConfigError(f"--clamp {clamp.layer}:{clamp.unit}: no such unit: this model has {layers} of "
                              f"{config.hidden_size} units, so LAYER is 0 to {config.num_layers - 1} and UNIT "
                              f"0 to {config.hidden_size - 1}")


def clamp_state(state: StepState, clamps: Sequence[Clamp]) -> None:
    """Write every clamp's value into ``state`` (its c, or h where there is no c). Out of place, so a tensor
    the state shares (a prompt's state expanded to many rows, the fused core's output) is never changed."""
    part = state.parts[1] if state.has_cell else state.parts[0]
    for clamp in clamps:
        held = part[clamp.layer].clone()
        held[:, clamp.unit] = clamp.value
        part[clamp.layer] = held


@dataclass(frozen=True)
class SamplingOptions:
    temperature: float = 0.8
    top_k: int | None = None
    top_p: float | None = None
    greedy: bool = False
    # Units held at a value after every step, while the prompt is read and while sampling.
    clamps: tuple[Clamp, ...] = ()

    def __post_init__(self) -> None:
        if not (isinstance(self.temperature, (int, float)) and math.isfinite(self.temperature)
                and self.temperature > 0):
            raise ConfigError(f"--temp must be a number > 0, not {self.temperature} (use --greedy for argmax)")
        if self.top_k is not None and self.top_k < 1:
            raise ConfigError(f"--top-k must be at least 1, not {self.top_k}")
        if self.top_p is not None and not (math.isfinite(self.top_p) and 0 < self.top_p <= 1):
            raise ConfigError(f"--top-p must be in (0, 1], not {self.top_p}")
        units = [(clamp.layer, clamp.unit) for clamp in self.clamps]
        twice = sorted({unit for unit in units if units.count(unit) > 1})
        if twice:
            raise ConfigError(f"--clamp names layer {twice[0][0]} unit {twice[0][1]} twice: give it one value")


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
    same text as a single stream with seed ``seeds[i]``. The state is kept until ``reset``. The options'
    clamps are written into the state after every step, read or drawn."""

    def __init__(self, model: CharRNN, vocab: Vocab, options: SamplingOptions = SamplingOptions(),
                 seeds: Sequence[int] = (0,)):
        check_clamps(options.clamps, model.config)
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
        if self.options.clamps:
            return self._read_clamped(text)
        if self.state is None:
            logits, state = self.model(context_ids(self.vocab, text).view(1, -1).to(self.device))
            self.state = self.stepper.from_state(state).expand(self.rows)
            self.logits = logits[:, -1].expand(self.rows, -1)
        elif text:
            ids = self.vocab.encode(text).to(self.device).expand(self.rows, -1)
            logits, state = self.model(ids, self.stepper.to_state(self.state))
            self.state, self.logits = self.stepper.from_state(state), logits[:, -1]

    def _read_clamped(self, text: str) -> None:
        """``read`` with clamps: the fused core reads a text in one call, with no way to write a unit
        between its steps, so the text is stepped one character at a time and clamped after each."""
        fresh = self.state is None
        if not (fresh or text):
            return
        ids = context_ids(self.vocab, text) if fresh else self.vocab.encode(text)
        state, rows = (self.stepper.initial_state(1), 1) if fresh else (self.state, self.rows)
        for char in ids.tolist():
            logits = self.stepper.step(torch.full((rows,), char, device=self.device), state)
            clamp_state(state, self.options.clamps)
        if fresh:
            state, logits = state.expand(self.rows), logits.expand(self.rows, -1)
        self.state, self.logits = state, logits

    @torch.inference_mode()
    def next(self) -> torch.Tensor:
        """Draw each stream's next character id, (rows,), and feed it to the stream."""
        if self.state is None:
            self.read("")
        ids = draw(self.logits, self.options, self.uniforms)
        self.logits = self.stepper.step(ids, self.state)
        if self.options.clamps:
            clamp_state(self.state, self.options.clamps)
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


def stream_samples(model: CharRNN, vocab: Vocab, length: int, prompt: str = "",
                   options: SamplingOptions = SamplingOptions(),
                   seeds: Sequence[int] = (0,)) -> Iterator[tuple[int, str, bool]]:
    """One sample per seed, generated as rows of a batch (``MAX_ROWS`` at a time), as (sample index, text,
    whether the sample ends there): the first sample character by character as it is generated, the others
    whole, in order, when their batch is done."""
    for first in range(0, len(seeds), MAX_ROWS):
        batch, steps = seeds[first:first + MAX_ROWS], []
        for ids in generate_ids(model, vocab, length, prompt, options, batch):
            steps.append(ids)
            if first == 0:
                yield 0, vocab.chars[int(ids[0])], False
        for row, text in enumerate(texts_from_steps(vocab, steps, len(batch))):
            yield first + row, "" if first + row == 0 else text, True


def sample_text(model: CharRNN, vocab: Vocab, length: int, prompt: str = "",
                options: SamplingOptions = SamplingOptions(), seed: int = 0) -> str:
    """The whole sample as one string (``generate`` streams it)."""
    return sample_texts(model, vocab, length, prompt, options, (seed,))[0]
