"""The training budget (which limit ends a run, how much of it is spent) and the learning-rate schedule."""

from __future__ import annotations

import math
from dataclasses import dataclass

from charlstm.config import DEFAULT_EPOCHS, TrainConfig


def learning_rate(config: TrainConfig, step: int, progress: float, total_steps: int | None) -> float:
    """Linear warm-up over the first steps, then cosine decay to ``lr * min_lr_ratio`` as progress -> 1."""
    warmup = config.warmup_steps
    if total_steps is not None:
        warmup = min(warmup, max(1, total_steps // 10))
    warm = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    floor = config.min_lr_ratio
    cosine = floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return config.lr * warm * cosine


@dataclass
class Budget:
    """Which limit ends the run and how much of it is spent (drives both stopping and the LR decay)."""

    config: TrainConfig
    windows_per_epoch: int

    @property
    def epochs(self) -> float | None:
        return self.config.epochs if self.config.has_budget else DEFAULT_EPOCHS

    @property
    def total_steps(self) -> int | None:
        limits = [self.config.max_steps]
        if self.epochs is not None:
            limits.append(math.ceil(self.epochs * self.windows_per_epoch))
        limits = [x for x in limits if x is not None]
        return min(limits) if limits else None

    def progress(self, step: int, elapsed: float) -> float:
        fractions = []
        if self.total_steps is not None:
            fractions.append(step / self.total_steps)
        if self.config.max_time is not None:
            fractions.append(elapsed / self.config.max_time)
        return max(fractions)

    def exhausted(self, step: int, elapsed: float) -> str | None:
        if self.config.max_steps is not None and step >= self.config.max_steps:
            return "max_steps"
        if self.epochs is not None and step >= math.ceil(self.epochs * self.windows_per_epoch):
            return "epochs"
        if self.config.max_time is not None and elapsed >= self.config.max_time:
            return "max_time"
        return None
