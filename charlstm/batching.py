"""Truncated backpropagation through time: the corpus as B contiguous streams read in windows of T.

The ids are cut into ``batch_size`` (B) equal streams, one per row; step k reads columns
``[k*T, k*T + T)`` of every row as input and the same columns shifted by one as targets::

    ids:  a b c d e f g h i j k l m n o p q r s t u v w x      (B = 3 streams of L = 8)

              window 0     window 1
    stream 0: [a b c d]    [e f g h]     targets: [b c d e] [f g h i]
    stream 1: [i j k l]    [m n o p]              [j k l m] [n o p q]
    stream 2: [q r s t]    [u v w x]              [r s t u] [v w x -]  <- the last window is one shorter

Row b of window k+1 continues exactly where row b of window k stopped, so the hidden and cell states of
window k are the right starting state for window k+1: the trainer carries them across (memory can outlive
a window) and detaches them at the border (gradients stop there). Rows are read straight from the
memory-mapped ids; only the B x T window is copied.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Window:
    inputs: torch.Tensor   # (B, T) int64
    targets: torch.Tensor  # (B, T) int64


class StreamBatcher:
    """Windows of B streams over 1-D ids; ``id_map`` re-labels ids into the model's vocabulary."""

    def __init__(self, ids: torch.Tensor, batch_size: int, seq_len: int, id_map: torch.Tensor | None = None,
                 pin_memory: bool = False, rows: slice = slice(None), stream_len: int | None = None):
        if len(ids) < batch_size + 1:
            raise ValueError("fewer characters than streams")
        self.seq_len = seq_len
        # Each stream needs one extra character for the final target, so streams share no text.
        stride = (len(ids) - 1) // batch_size
        # ``stream_len`` shorter than a stream's share reads only the start of each share: B slices spread
        # evenly over the text (a bounded evaluation), as views of the ids, never a copy.
        self.stream_len = stride if stream_len is None else max(1, min(stream_len, stride))
        shape, strides = (batch_size, self.stream_len), (stride * ids.stride(0), ids.stride(0))
        # ``rows``: the streams one process of several reads (charlstm.distributed); the layout of the
        # streams is the same whatever the number of processes.
        self.inputs = ids.as_strided(shape, strides, ids.storage_offset())[rows]
        self.targets = ids.as_strided(shape, strides, ids.storage_offset() + ids.stride(0))[rows]
        self.batch_size = self.inputs.size(0)
        self.id_map = id_map
        # Windows in page-locked memory, so the copy to a GPU can run without blocking the host.
        self.pin_memory = pin_memory

    @property
    def windows_per_epoch(self) -> int:
        return -(-self.stream_len // self.seq_len)

    def window(self, index: int) -> Window:
        start = index * self.seq_len
        stop = min(start + self.seq_len, self.stream_len)
        if not 0 <= start < self.stream_len:
            raise IndexError(f"window {index} is outside the epoch ({self.windows_per_epoch} windows)")
        inputs = self.inputs[:, start:stop].long()
        targets = self.targets[:, start:stop].long()
        if self.id_map is not None:
            inputs, targets = self.id_map[inputs], self.id_map[targets]
        if self.pin_memory:
            inputs, targets = inputs.pin_memory(), targets.pin_memory()
        return Window(inputs=inputs, targets=targets)

    def __iter__(self):
        for index in range(self.windows_per_epoch):
            yield self.window(index)


def fit_batch_size(length: int, batch_size: int, seq_len: int) -> int:
    """The largest batch size <= ``batch_size`` giving streams of at least one full window."""
    return max(1, min(batch_size, (length - 1) // seq_len))
