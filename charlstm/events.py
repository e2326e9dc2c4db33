"""Training events: what ``charlstm.train.train`` reports while it runs (it never prints).

The CLI turns them into a progress bar and evaluation lines; tests collect them in lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from charlstm.config import ModelConfig, TrainConfig


@dataclass(frozen=True)
class Started:
    model_config: ModelConfig
    train_config: TrainConfig
    parameters: int
    device: str
    corpus: str
    train_chars: int
    val_chars: int
    windows_per_epoch: int
    total_steps: int | None      # None when only a time budget bounds the run
    start_step: int
    out_dir: Path
    notes: tuple[str, ...] = ()  # things the user should know: a shrunk batch, new characters, ...
    warnings: tuple[str, ...] = ()  # things likely to disappoint: bf16 on hardware that only emulates it


@dataclass(frozen=True)
class Stepped:
    step: int
    loss: float
    lr: float
    progress: float              # fraction of the budget spent, 0..1
    epoch: int
    chars_seen: int              # training characters read so far (a resumed run's earlier ones included)
    elapsed: float               # seconds of training so far (likewise); a view derives its speed from these


@dataclass(frozen=True)
class Evaluated:
    step: int
    train_loss: float | None     # mean since the previous evaluation (nats/char)
    val_loss: float | None       # nats/char on the held-out text
    is_best: bool
    sample: str
    elapsed: float
    memory: dict | None = None   # the watched memory (charlstm.probes.watch), when the run watches one
    val_chars: int = 0           # validation characters read (TrainConfig.eval_chars)


@dataclass(frozen=True)
class Saved:
    path: Path
    step: int


@dataclass(frozen=True)
class Finished:
    """The last event, and what ``train()`` returns."""

    step: int
    reason: str                  # max_steps | epochs | max_time | interrupted | diverged
    best_val_loss: float | None
    last_val_loss: float | None
    elapsed: float
    out_dir: Path
    message: str = ""            # why, when it diverged
    history: tuple[dict, ...] = ()  # the metrics.jsonl records this call wrote, one per evaluation


Event = Started | Stepped | Evaluated | Saved | Finished
