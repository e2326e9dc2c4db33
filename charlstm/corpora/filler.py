"""Filler of a given length made of whole sentences, shared by the probes' and the watch's grammars."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

# Below this many characters left, a short sentence closes the filler, so small gaps stay small.
LONG_SENTENCE = 30


def whole_sentences(rng: random.Random, chars: int, sentence: Callable[[random.Random], str],
                    short: Sequence[str]) -> str:
    """Sentences totalling about ``chars`` characters ("" for 0): ``sentence``'s while more than a long one
    fits, then one of ``short`` that fits (the shortest if none does)."""
    parts: list[str] = []
    total = 0
    while total < chars:
        remaining = chars - total - (1 if parts else 0)
        if remaining >= LONG_SENTENCE:
            parts.append(sentence(rng))
        else:
            fitting = [s for s in short if len(s) <= remaining] or [min(short, key=len)]
            parts.append(rng.choice(fitting))
        total += len(parts[-1]) + (1 if len(parts) > 1 else 0)
    return " ".join(parts)
