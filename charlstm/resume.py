"""Continuing a run from its ``last.pt``: the training state a checkpoint holds beside the weights (which
``charlstm.start`` loads), checked and put back before the loop starts.

A damaged or hand-edited checkpoint raises KeyError, TypeError or ValueError here, which the trainer turns
into one clear error line (``charlstm.start.unusable``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from charlstm.config import TrainConfig
from charlstm.corpus import Corpus
from charlstm.distributed import World
from charlstm.model import CharRNN, State, map_state, state_to


@dataclass
class Progress:
    """Where training stands; saved in every checkpoint."""

    step: int = 0
    epoch: int = 0
    window: int = 0
    elapsed: float = 0.0
    chars_seen: int = 0
    val_loss: float | None = None
    best_val_loss: float | None = None   # the validation loss of best.pt
    best_memory: float | None = None     # the watched memory score of best.pt (``best_on="memory"``)
    best_memory_mean: float | None = None   # and its mean accuracy, which breaks a tie in the score

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def checked_progress(data: dict) -> Progress:
    progress = Progress(**data)
    counters = (progress.step, progress.epoch, progress.window, progress.chars_seen)
    losses = (progress.val_loss, progress.best_val_loss, progress.best_memory, progress.best_memory_mean)
    valid = (all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counters)
             and isinstance(progress.elapsed, (int, float))
             and all(v is None or isinstance(v, (int, float)) for v in losses))
    if not valid:
        raise ValueError(f"impossible progress record {data}")
    return progress


def restore_optimizer(optimizer: torch.optim.Optimizer, saved: dict, config: TrainConfig) -> None:
    """Load a saved optimizer state, keeping this run's fused-kernel choice, ``--weight-decay`` and ``--beta2``."""
    fused = [group["fused"] for group in optimizer.param_groups]
    optimizer.load_state_dict(saved)
    for group, setting in zip(optimizer.param_groups, fused):  # loading copied the saved run's flag
        group["fused"] = setting
        # A run saved on the CPU left its step counters there; fused AdamW wants them beside the weights.
        if setting:
            for parameter in group["params"]:
                state = optimizer.state.get(parameter, {})
                if "step" in state:
                    state["step"] = state["step"].to(parameter.device, torch.float32)
    optimizer.param_groups[0]["weight_decay"] = config.weight_decay  # a changed --weight-decay applies
    for group in optimizer.param_groups:
        group["betas"] = (group["betas"][0], config.beta2)


def carried_state(payload: dict, model: CharRNN, config: TrainConfig, corpus: Corpus, world: World,
                  device: torch.device) -> State | None:
    """This rank's share of the saved carried state, or None when the batch layout or the corpus changed
    since the checkpoint (the data position then restarts with a fresh state)."""
    saved_config = payload.get("train_config") or {}
    same_layout = (saved_config.get("batch_size") == config.batch_size and saved_config.get("seq_len") == config.seq_len
                   and (payload.get("corpus") or {}).get("train_chars") == len(corpus.train))
    if not same_layout or payload.get("state") is None:
        return None
    saved = payload["state"]
    expected = model.initial_state(config.batch_size, "meta")
    fits = (isinstance(saved, (list, tuple)) and len(saved) == len(expected)
            and all(isinstance(s, torch.Tensor) and s.shape == e.shape and s.dtype == e.dtype
                    for s, e in zip(saved, expected)))
    if not fits:
        raise ValueError("the carried hidden state does not fit the model")
    rows = world.rows(config.batch_size)
    return map_state(state_to(tuple(saved), device), lambda t: t[:, rows].contiguous())


def rank_rng(payload: dict, world: World) -> tuple[dict, str | None]:
    """The RNG state this rank resumes with, and a note when the process count changed."""
    ranks = payload.get("rank_rng") or [payload["rng"]]
    if len(ranks) == world.size:
        return ranks[world.rank], None
    return payload["rng"], (f"the run was saved by {len(ranks)} process(es) and resumes on {world.size}: data, "
                               f"streams and carried state continue exactly; dropout masks are drawn afresh")
