"""Devices, seeds and random-number-generator state (saved in checkpoints for exact resume)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from charlstm.errors import ConfigError

# Streams stepped together on one thread (``threads_for_rows``); more than this use every thread.
FEW_ROWS = 4


def select_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU; naming one that is absent is an error."""
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cuda" and not cuda:
        raise ConfigError("--device cuda: no CUDA GPU is available (use --device cpu or auto)")
    if name == "mps" and not mps:
        raise ConfigError("--device mps: Apple's MPS backend is not available (use --device cpu or auto)")
    if name not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"--device must be auto, cpu, cuda or mps, not {name!r}")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def rng_state() -> dict:
    """Every generator training draws from (dropout), as plain tensors a checkpoint can hold."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def generator_for(seed: int, device: torch.device) -> torch.Generator:
    """A private generator (sampling must not disturb training's random stream)."""
    generator = torch.Generator(device=device if device.type != "mps" else "cpu")
    generator.manual_seed(seed)
    return generator


@contextmanager
def threads_for_rows(rows: int, device: torch.device) -> Iterator[None]:
    """Run one step of a few streams on one CPU thread. A single stream's step is a handful of small
    matrix-vector products: waking a second thread for each costs more than it saves, and on a busy machine
    (other processes on the cores) it made one-stream sampling 5x slower. Batches keep every thread."""
    if device.type != "cpu" or rows > FEW_ROWS or torch.get_num_threads() == 1:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
