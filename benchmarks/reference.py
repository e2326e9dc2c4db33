"""The reference second: how long a plain 2 x 512 nn.LSTM training loop (batch 32 x 100 characters, AdamW,
state carried and detached) needs for 13,000 characters on this machine, now.

Machines here differ by 2.5x from one day to the next, so budgets are stated in reference seconds (a
machine where the plain loop trains at 13,000 chars/s has 1 reference second = 1 s), measured at the start
of a benchmark, never in raw seconds.

    python benchmarks/reference.py        # prints the reference second and the plain loop's chars/s
"""

from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

REFERENCE_CHARS = 13_000
BATCH, SEQ, VOCAB = 32, 100, 65


def plain_loop_chars_per_second(steps: int = 6, warmup: int = 2, rounds: int = 3) -> float:
    """Median chars/s of the plain loop over ``rounds`` timings of ``steps`` steps (after ``warmup``)."""
    torch.manual_seed(0)
    embedding, lstm, head = nn.Embedding(VOCAB, 128), nn.LSTM(128, 512, 2, batch_first=True), nn.Linear(512, VOCAB)
    params = [*embedding.parameters(), *lstm.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(params, lr=2e-3)
    inputs, targets = torch.randint(0, VOCAB, (BATCH, SEQ)), torch.randint(0, VOCAB, (BATCH, SEQ))
    state = None
    rates = []
    for _ in range(rounds):
        for step in range(warmup + steps):
            if step == warmup:
                start = time.perf_counter()
            output, state = lstm(embedding(inputs), state)
            state = tuple(s.detach() for s in state)
            loss = F.cross_entropy(head(output).reshape(-1, VOCAB), targets.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
        rates.append(steps * BATCH * SEQ / (time.perf_counter() - start))
        warmup = 0
    return statistics.median(rates)


def reference_second() -> float:
    """Seconds this machine needs for the plain loop to train on 13,000 characters."""
    return REFERENCE_CHARS / plain_loop_chars_per_second()


if __name__ == "__main__":
    rate = plain_loop_chars_per_second()
    print(f"plain 2 x 512 nn.LSTM loop: {rate:,.0f} chars/s; 1 reference second = {REFERENCE_CHARS / rate:.2f} s here")


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), for the first line of a benchmark's output."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """The CPU's model and the instruction set torch's CPU kernels use here, to label a result's row."""
    return f"{cpu_model()}, {torch.backends.cpu.get_cpu_capability()}"
