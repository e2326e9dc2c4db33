"""Simple features of a text, one value per character, that an interpretable unit might track (Karpathy,
Johnson & Fei-Fei 2015 found cells for quotes, line length and brackets).

Each feature's value at position t describes the text *after reading* character t, which is what the
model's state after that character can know: inside a quotation, inside brackets, how far into its line,
inside a speaker's name line (a line like "ROMEO:" or "First Citizen:", which opens a turn in a play), inside
a word, just after a line break.
"""

from __future__ import annotations

import re

import torch

# A speaker's name line: a capitalised name of up to four words, then a colon, alone on its line.
SPEAKER_LINE = re.compile(r"^[A-Z][A-Za-z'.-]*(?: [A-Za-z'.-]+){0,3}:$")
OPENING, CLOSING = "([{", ")]}"
WORD_JOINERS = "'-"   # inside a word when between letters: "o'er", "well-spoken"


def in_quotes(text: str) -> list[float]:
    """1 from an opening double quote through the character before the closing one (straight quotes
    toggle; curly “ opens and ” closes)."""
    inside, values = False, []
    for char in text:
        if char == '"':
            inside = not inside
        elif char == "“":
            inside = True
        elif char == "”":
            inside = False
        values.append(float(inside))
    return values


def in_brackets(text: str) -> list[float]:
    """1 while at least one (, [ or { is open."""
    depth, values = 0, []
    for char in text:
        if char in OPENING:
            depth += 1
        elif char in CLOSING:
            depth = max(0, depth - 1)
        values.append(float(depth > 0))
    return values


def line_position(text: str) -> list[float]:
    """Characters read since the last line break (0 right after it)."""
    position, values = 0, []
    for char in text:
        position = 0 if char == "\n" else position + 1
        values.append(float(position))
    return values


def speaker_line(text: str) -> list[float]:
    """1 on the characters of a line that names a speaker ("ROMEO:"), colon included."""
    values = []
    for line in text.split("\n"):
        values += [float(bool(SPEAKER_LINE.match(line)))] * len(line) + [0.0]
    return values[:len(text)]


def in_word(text: str) -> list[float]:
    """1 on a letter, and on an apostrophe or hyphen between two letters."""
    return [float(char.isalpha() or (char in WORD_JOINERS and 0 < t < len(text) - 1
                                     and text[t - 1].isalpha() and text[t + 1].isalpha()))
            for t, char in enumerate(text)]


def after_newline(text: str) -> list[float]:
    """1 on a line break: the state after it must know a new line begins."""
    return [float(char == "\n") for char in text]


FEATURES = {"in quotes": in_quotes, "in brackets": in_brackets, "line position": line_position,
            "speaker line": speaker_line, "in word": in_word, "after newline": after_newline}


def text_features(text: str) -> dict[str, torch.Tensor]:
    """Every feature of ``text``, each a (len(text),) float tensor."""
    return {name: torch.tensor(feature(text), dtype=torch.float64) for name, feature in FEATURES.items()}
