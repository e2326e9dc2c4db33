"""Colours for a value per character, shared by the terminal and the HTML report: red for positive, blue
for negative, white at zero (as Karpathy et al. 2015 drew their cells), and a single-hue scale for values
that are never negative (saliency). Torch-free, so the command line can import it at no cost."""

from __future__ import annotations

import math
from collections.abc import Sequence

RGB = tuple[int, int, int]


def diverging(value: float, scale: float) -> RGB:
    """Red (positive) or blue (negative), saturated at ``|value| >= scale``."""
    strength = min(1.0, abs(value) / scale) if scale > 0 else 0.0
    fade = int(255 * (1 - strength))
    return (255, fade, fade) if value >= 0 else (fade, fade, 255)


def sequential(value: float, scale: float) -> RGB:
    """White to orange, saturated at ``value >= scale``."""
    strength = min(1.0, max(0.0, value) / scale) if scale > 0 else 0.0
    return 255, int(255 - 115 * strength), int(255 - 255 * strength)


# Saliency falls off fast with distance, so it is shaded on a log scale, or only the last few characters
# would show: full colour at the largest value, none from LOG_DECADES decades below it.
LOG_DECADES = 2
LOG_SCALE = f"log scale, blank below 1/{10 ** LOG_DECADES:g} of the largest"


def log_levels(values: Sequence[float], decades: int = LOG_DECADES) -> list[float]:
    """Each value's level in [0, 1] on a log scale: 1 at the largest, 0 at ``decades`` decades below it or
    lower (for ``sequential`` with scale 1)."""
    top = max(values, default=0.0) or 1.0
    return [max(0.0, 1 + math.log10(v / top) / decades) if v > 0 else 0.0 for v in values]


def scale_of(values: list[float]) -> float:
    """The largest magnitude, so the strongest value is fully coloured (1 for an all-zero list)."""
    return max((abs(v) for v in values), default=0.0) or 1.0


def shown_char(char: str) -> str:
    """A character as it is drawn tinted: a line break as ⏎ (its colour would otherwise be invisible),
    a tab as →."""
    return {"\n": "⏎", "\t": "→"}.get(char, char)
