"""The warm-up read before every probe context, so no probe starts from a cold (zero) state.

Training carries the state from window to window, so a model almost never reads text from a zero state:
there it is out of its distribution and reads the first sentence badly (a memory model scored 21% on a
cue with no filler at all when the probe started cold, 100% after one line of ordinary text). Every
probe context (the built-in suites, custom probe files, the prompt probe, the context-usage suite)
therefore starts after a warm-up text.

The default warm-up is the model's own writing: a few hundred characters it samples with a fixed seed,
cut after its last line break, so the context that follows starts a line, as texts in its training
corpus do. It is in the model's own distribution whatever the corpus, and the same every time. A probe
file's ``prefix`` key or the ``--prefix`` option replaces it; ``prefix = ""`` starts cold on purpose.
"""

from __future__ import annotations

from charlstm.model import CharRNN
from charlstm.sample import SamplingOptions, generate
from charlstm.vocab import Vocab

WARMUP_CHARS = 200
WARMUP_SEED = 0
WARMUP_TEMPERATURE = 0.5


def default_warmup(model: CharRNN, vocab: Vocab, chars: int = WARMUP_CHARS) -> str:
    """About ``chars`` characters of whole lines of the model's own text (or, in a vocabulary without a
    line break, of words ending with a space). The first line, read from the zero state, is dropped: it is
    the one the model writes worst. Sampling goes on past ``chars`` until a line ends, up to three times as far."""
    end = "\n" if "\n" in vocab else " "
    text: list[str] = []
    lines = 0
    for char in generate(model, vocab, 3 * chars, options=SamplingOptions(temperature=WARMUP_TEMPERATURE),
                         seed=WARMUP_SEED):
        text.append(char)
        lines += char == end
        if lines >= 2 and len(text) >= chars and char == end:
            break
    sample = "".join(text)
    first, last = sample.find(end), sample.rfind(end)
    return sample[first + 1:last + 1] if first < last else sample[:last + 1]


def resolve_warmup(model: CharRNN, vocab: Vocab, prefix: str | None) -> str:
    """``prefix`` as given (``""`` means a cold start), or the default warm-up when it is None."""
    return default_warmup(model, vocab) if prefix is None else prefix
