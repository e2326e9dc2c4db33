"""Shared rendering helpers: rich on stderr (so stdout carries only generated text or JSON)."""

from __future__ import annotations

import json
import math
import sys
import time
from typing import Any

from rich.console import Console

from charlstm.loss_units import bits_per_char

console = Console(stderr=True, highlight=False, soft_wrap=True)
# What a command was asked to show (help pages): stdout, so it pipes into a pager or a file.
stdout_console = Console(highlight=False)
SPARK = "▁▂▃▄▅▆▇█"


def note(message: str) -> None:
    console.print(f"[dim]{message}[/]")


def warn(message: str) -> None:
    console.print(f"[yellow]warning:[/] {message}")


def print_json(data: Any) -> None:
    """Machine-readable output on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def nats(value: float | None) -> str:
    """A loss in both units, the headline metric first."""
    if value is None:
        return "-"
    return f"{value:.4f} nats/char ({bits_per_char(value):.3f} bpc)"


def sparkline(values: list[float], low: float | None = None, high: float | None = None) -> str:
    """Values as block characters, scaled to [low, high] (the data's range by default)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return ""
    low = min(finite) if low is None else low
    high = max(finite) if high is None else high
    span = (high - low) or 1.0
    out = []
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(" ")
        else:
            out.append(SPARK[min(len(SPARK) - 1, max(0, int((v - low) / span * (len(SPARK) - 1) + 0.5)))])
    return "".join(out)


def human_count(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


class LiveWriter:
    """Streamed text, flushed at each newline and at least every ``interval`` seconds: a flush per
    character (a system call each) cost more than a fast model's step."""

    def __init__(self, out, interval: float = 0.05):
        self.out, self.interval = out, interval
        self.flushed = time.monotonic()

    def write(self, text: str) -> None:
        self.out.write(text)
        now = time.monotonic()
        if "\n" in text or now - self.flushed >= self.interval:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        self.out.flush()
        self.flushed = time.monotonic() if now is None else now


def tinted(text: str, values: list[float], scale: float | None = None, single_sign: bool = False):
    """``text`` as a rich Text, each character's background coloured by its value (``charlstm.tint``);
    line breaks are drawn as ⏎ and kept."""
    from rich.text import Text

    from charlstm.tint import diverging, scale_of, sequential, shown_char

    colour = sequential if single_sign else diverging
    scale = scale_of(values) if scale is None else scale
    out = Text()
    for char, value in zip(text, values):
        out.append(shown_char(char), style="black on rgb({},{},{})".format(*colour(value, scale)))
        if char == "\n":
            out.append("\n")
    return out
