"""Devices, seeds and random-number-generator state (saved in checkpoints for exact resume)."""

from __future__ import annotations

import functools
import random
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import torch

from charlstm.errors import ConfigError

# /proc/cpuinfo flags of a CPU that multiplies bf16 natively (x86 AVX-512 BF16 or AMX; Arm's BF16 extension).
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
PRECISION_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


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


def autocast(precision: str, device: torch.device) -> AbstractContextManager:
    """The context a forward pass runs in: bf16 or fp16 autocast on ``device``, or nothing for fp32."""
    if precision in ("bf16", "fp16"):
        return torch.autocast(device_type=device.type, dtype=PRECISION_DTYPES[precision])
    return nullcontext()


def check_precision(precision: str, device: torch.device, cell: str = "lstm") -> None:
    """fp16 trains only on CUDA: its range needs a gradient scaler, and CPUs have no fast fp16 arithmetic.
    bf16 on a CPU needs kernels that oneDNN builds only where the CPU has AVX-512 (its fused LSTM refuses
    bf16 on an AVX2-only CPU): tried once on a tiny model, refused with one line where it fails."""
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(f"--precision fp16 needs a CUDA GPU (this run is on {device.type}); "
                          f"use bf16 or fp32 there")
    if precision == "bf16" and device.type == "cpu" and not cpu_runs_bf16(cell):
        raise ConfigError(f"--precision bf16: this CPU cannot run a {cell} cell in bf16 (oneDNN's bf16 kernels "
                          f"need AVX-512); train in fp32")


@functools.lru_cache(maxsize=None)
def cpu_runs_bf16(cell: str) -> bool:
    """Whether a tiny model of ``cell`` runs forward under bf16 autocast on this CPU."""
    from charlstm.config import ModelConfig
    from charlstm.model import CharRNN

    with torch.random.fork_rng(devices=[]):   # the tiny model's weights must not move training's RNG
        model = CharRNN(ModelConfig(vocab_size=4, cell=cell, num_layers=2, hidden_size=8, embedding_dim=4,
                                    clockwork_modules=2))
        try:
            with torch.no_grad(), torch.autocast(device_type="cpu", dtype=torch.bfloat16):
                model(torch.zeros(1, 2, dtype=torch.long))
        except RuntimeError:
            return False
    return True


def bf16_warning(device: torch.device) -> str | None:
    """Why training in bf16 would be slow (or, on CUDA, learn badly) on ``device``, or None where it is fine."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False):
        return ("cuDNN's bf16 LSTM learned far slower than fp32 on an H200 (3 x 1024: 2.37 against 1.42 nats/char "
                "after 170 steps; benchmarks/README.md); --precision fp16 matched fp32 at the same speed")
    return emulated_bf16(device)


def emulated_bf16(device: torch.device) -> str | None:
    """Why bf16 arithmetic would be emulated, and so likely slower than fp32, on ``device``; None where it is
    native (AVX-512 BF16 or AMX on a CPU, Ampere or later on CUDA) or the device is neither."""
    if device.type == "cuda" and not torch.cuda.is_bf16_supported(including_emulation=False):
        return (f"{torch.cuda.get_device_name(device)} has no native bf16: --precision bf16 is emulated and "
                f"likely slower than fp32")
    if device.type == "cpu":
        flags = cpu_flags()
        if not flags:
            return "cannot tell whether this CPU has native bf16 (no /proc/cpuinfo): --precision bf16 may be slower"
        if not flags & NATIVE_BF16_FLAGS:
            return ("this CPU has no native bf16 (no AVX-512 BF16 or AMX): --precision bf16 is emulated and likely "
                    "slower than fp32")
    return None


def cast_for_inference(model: torch.nn.Module, precision: str) -> str | None:
    """Cast ``model``'s weights (in place) to ``precision`` for sampling, probes and evaluation: every step
    then computes in that dtype, the state included, and only the final softmax in float32. Returns why it
    may be slower than fp32 here (``emulated_bf16``), or None. fp16 is CUDA's alone, as for training."""
    from charlstm.config import PRECISIONS

    if precision not in PRECISIONS:
        raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    device = next(model.parameters()).device
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError(f"--precision fp16 needs a CUDA GPU (this model is on {device.type}); use bf16 or fp32")
    model.to(PRECISION_DTYPES[precision])
    return emulated_bf16(device) if precision == "bf16" else None


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags (x86 ``flags``, Arm ``Features``); empty where /proc/cpuinfo is absent."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


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
