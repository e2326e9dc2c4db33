"""Units of loss. Nats per character (natural log) is the headline; bits per character (bpc) is what
char-rnn papers report: bpc = nats / ln 2. Torch-free, so the command line can import it at no cost."""

from __future__ import annotations

import math


def bits_per_char(nats: float) -> float:
    return nats / math.log(2)
