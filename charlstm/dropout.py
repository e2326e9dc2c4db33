"""Inverted dropout with a cheap mask, shared by the fused cores' layer-by-layer path and the custom cells."""

from __future__ import annotations

import torch
from torch import nn

# Dropout masks are drawn as 16-bit random integers, four from each 64-bit draw.
_MASK_BITS = 16


class Dropout(nn.Module):
    """Inverted dropout whose mask costs a quarter of a random draw per element.

    ``nn.Dropout`` calls ``bernoulli_`` and ``torch.rand`` draws one float per element; on CPU both are
    serial loops over the generator, 3-5% of a 2 x 512 training step per mask. Here each element keeps
    its value when a 16-bit slice of a 64-bit random integer clears a threshold: dropout probability
    ``round(p * 65536) / 65536`` (within 8e-6 of p) and survivors scaled by the exact inverse, so the
    expected output is the input, as with nn.Dropout.

    With ``locked``, one mask serves every time step of a window (variational dropout, AWD-LSTM's "locked"
    dropout): the caller names the time dimension, and the mask is drawn with size 1 there.
    """

    def __init__(self, p: float, locked: bool = False):
        super().__init__()
        self.p, self.locked = p, locked

    def forward(self, x: torch.Tensor, time_dim: int | None = None) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.locked and time_dim is not None:
            return x * dropout_mask(x.narrow(time_dim, 0, 1), self.p)
        return x * dropout_mask(x, self.p)


def dropout_mask(x: torch.Tensor, p: float) -> torch.Tensor:
    """0 with probability about ``p`` (see Dropout), else 1 / (1 - that probability); x's shape and dtype."""
    levels = 1 << _MASK_BITS
    dropped = min(round(p * levels), levels - 1)  # how many of the 65,536 values drop an element
    count = x.numel()
    draws = torch.empty(-(-count // 4), dtype=torch.int64, device=x.device).random_(-2**63, None)
    keep = draws.view(torch.int16)[:count].view(x.shape) >= dropped - levels // 2
    return keep.to(x.dtype).mul_(levels / (levels - dropped))
