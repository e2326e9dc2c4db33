"""Frozen configuration dataclasses, validated when built.

One name per concept everywhere: a field here is the CLI flag (``hidden_size`` -> ``--hidden-size``), the key
in every checkpoint and the word in the README. Defaults are the settings that reach about 1.45 nats/char on
tiny-shakespeare in 10 minutes on 2 CPU cores.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from charlstm.errors import ConfigError

# Fused PyTorch cores first, then the custom cells of charlstm.cells (kept in step with CUSTOM_CELLS).
CELLS = ("lstm", "gru", "rnn", "peephole", "coupled", "depth-gated", "clockwork", "grid", "mingru", "minlstm")
FUSED_CELLS = CELLS[:3]
# Cells with a memory cell c_t and LSTM gates (the forget gate among them): where --forget-bias and
# --chrono-init mean something, and what the units suite reads.
MEMORY_CELLS = ("lstm", "peephole", "coupled", "depth-gated", "grid")
# A clockwork module's period doubles from one to the next: 16 modules reach 32,768 steps.
MAX_CLOCKWORK_MODULES = 16
# A window of T characters scores T x (M + T) pairs per stream: past this the scores outgrow any batch.
MAX_ATTENTION_MEMORY = 16384
ATTENTION_KINDS = ("softmax", "stick-breaking")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "bf16", "fp16")
# What best.pt is chosen on: the validation loss, or the memory watched at each evaluation (the best
# reading, ties to the lower loss; see charlstm.probes.watch).
BEST_ON = ("loss", "memory")
# Used only when no stopping rule (max_steps, epochs, max_time) is given at all.
DEFAULT_EPOCHS = 10
# How a corpus is prepared unless told otherwise: the last 5% of each file held out, read as UTF-8.
VAL_FRACTION = 0.05
ENCODING = "utf-8"
# Where runs go (checkpoints/CORPUS_NAME) and where commands look for the newest one.
RUNS_ROOT = Path("checkpoints")
# How much a probe measures: filler draws per distance (cue-swap; forgetting draws twice as many) and scored
# positions for the context suite. The report runs every suite at once, so it measures less of each.
PROBE_DRAWS, PROBE_POSITIONS = 4, 2000
REPORT_DRAWS, REPORT_POSITIONS, REPORT_CHARS = 2, 400, 6000


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


# What each annotated field type accepts (the annotations are strings under ``from __future__``); a
# config file or a Python caller can hand any value, and the checks below would fail on the wrong kind
# with a TypeError, not a clear message.
_KINDS = {"int": ((int,), "an integer"), "float": ((int, float), "a number"), "bool": ((bool,), "true or false"),
          "str": ((str,), "a string")}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_kinds(config: Any) -> None:
    for f in fields(config):
        value = getattr(config, f.name)
        kind, _, optional = f.type.partition(" | ")
        if optional and value is None:
            continue
        accepted, word = _KINDS[kind]
        if not isinstance(value, accepted) or (isinstance(value, bool) and kind != "bool"):
            raise ConfigError(f"{flag(f.name)} must be {word}, not {value!r}")


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    cell: str = "lstm"
    num_layers: int = 2
    hidden_size: int = 512
    embedding_dim: int = 128
    dropout: float = 0.2
    tie_weights: bool = False
    # Sum of the two forget-gate bias slices of nn.LSTM; 1 keeps memory by default (Gers et al. 2000).
    forget_bias: float = 1.0
    # Chrono initialisation (Tallec & Ollivier 2018) when > 0: forget biases log(U(1, T-1)), input biases
    # their negatives, so units start with memory timescales spread up to T characters.
    chrono_init: int = 0
    # Clockwork RNN only: hidden units in this many modules with periods 1, 2, 4, ... (charlstm.cells.clockwork).
    clockwork_modules: int = 8
    # Attention over the last this many outputs of the top layer (charlstm.attention; 0: none).
    attention_memory: int = 0
    # How the attention weighs its memory: softmax (SHA-RNN), or stick-breaking (the latest match wins).
    attention_kind: str = "softmax"
    # AWD-LSTM's regularisers (Merity et al. 2018), all off by default. DropConnect on the recurrent matrices
    # W_hh of a fused cell: one mask per window, so the fused kernel still runs every step.
    weight_drop: float = 0.0
    # Whole characters dropped from the input: one mask over the embedding matrix's rows per window.
    embedding_dropout: float = 0.0
    # One --dropout mask per window, shared by all its time steps (variational dropout), not one per step.
    locked_dropout: bool = False

    def __post_init__(self) -> None:
        _check_kinds(self)
        _require(self.vocab_size >= 1, "vocab_size must be at least 1")
        _require(self.cell in CELLS, f"--cell must be one of {', '.join(CELLS)}, not {self.cell!r}")
        _require(self.num_layers >= 1, "--num-layers must be at least 1")
        _require(self.hidden_size >= 1, "--hidden-size must be at least 1")
        _require(self.embedding_dim >= 1, "--embedding-dim must be at least 1")
        for name in ("dropout", "weight_drop", "embedding_dropout"):
            _require(_finite(getattr(self, name)) and 0 <= getattr(self, name) < 1, f"{flag(name)} must be in [0, 1)")
        _require(self.weight_drop == 0 or self.cell in FUSED_CELLS,
                 f"--weight-drop drops weights of the fused cells ({', '.join(FUSED_CELLS)}), not of a {self.cell} cell")
        _require(_finite(self.forget_bias), "--forget-bias must be a finite number")
        _require(self.chrono_init == 0 or self.chrono_init >= 3, "--chrono-init must be 0 (off) or at least 3")
        _require(self.chrono_init == 0 or self.cell in MEMORY_CELLS,
                 f"--chrono-init sets the forget-gate biases of {', '.join(MEMORY_CELLS)}, not of a {self.cell} cell")
        _require(self.cell != "clockwork" or 1 <= self.clockwork_modules <= min(MAX_CLOCKWORK_MODULES, self.hidden_size),
                 f"--clockwork-modules must be between 1 and {MAX_CLOCKWORK_MODULES} and at most --hidden-size")
        _require(self.attention_kind in ATTENTION_KINDS,
                 f"--attention-kind must be one of {', '.join(ATTENTION_KINDS)}, not {self.attention_kind!r}")
        _require(0 <= self.attention_memory <= MAX_ATTENTION_MEMORY,
                 f"--attention-memory must be 0 (none) to {MAX_ATTENTION_MEMORY:,} characters")

    @property
    def has_cell_state(self) -> bool:
        """Whether the cell keeps a cell state c beside h (the LSTM family, ``MEMORY_CELLS``)."""
        return self.cell in MEMORY_CELLS

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        return cls(**_known_fields(cls, data))


@dataclass(frozen=True)
class TrainConfig:
    seq_len: int = 100
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.1
    # AdamW's second-moment decay: 0.999 (PyTorch's) averages squared gradients over ~1,000 steps, so after
    # a quiet stretch one large gradient moves the weights far; 0.95 adapts within ~20 steps.
    beta2: float = 0.999
    warmup_steps: int = 100
    # The cosine decay ends at lr * min_lr_ratio when the run's budget is spent.
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    max_steps: int | None = None
    epochs: float | None = None
    max_time: float | None = None
    eval_every: int = 250
    # Validation characters each evaluation reads, spread over the split and the same every time: None
    # chooses about 30% of the characters trained between two evaluations (an evaluation's forward pass
    # costs about a third of a training step's per character, so evaluating takes about a tenth of the
    # time); 0 reads the whole split. Splits under the bound are read whole.
    eval_chars: int | None = None
    sample_length: int = 200
    seed: int = 1337
    device: str = "auto"
    # A NaN/inf loss or gradient either stops the run (keeping the last good checkpoint) or skips the step.
    on_divergence: str = "stop"
    # bf16: forward and loss under torch.autocast(bfloat16) on the run's device; weights, optimizer state,
    # carried state and checkpoints stay fp32.
    precision: str = "fp32"
    # A cue-swap probe file (TOML) read at every evaluation; a run on the built-in memory corpus watches
    # its own memory suite without one (charlstm.probes.watch).
    watch_probe: str | None = None
    best_on: str = "loss"
    # Evaluate and keep the mean of the weights at the last K evaluations (charlstm.averaging); 1: the
    # weights as trained.
    average_evals: int = 1
    # The chance, at each window border, that a stream drops its carried state and starts the next window
    # from a fresh (zero) one, as sampling and evaluation do. Without it a stream starts fresh once an epoch,
    # and a model trained on few long streams can need thousands of characters from a fresh state to reach
    # its loss (benchmarks/README.md, "Fresh starts").
    fresh_starts: float = 0.0

    def __post_init__(self) -> None:
        _check_kinds(self)
        _require(self.seq_len >= 1, "--seq-len must be at least 1")
        _require(self.batch_size >= 1, "--batch-size must be at least 1")
        _require(_finite(self.lr) and self.lr > 0, "--lr must be a positive number")
        _require(_finite(self.weight_decay) and self.weight_decay >= 0, "--weight-decay must be >= 0")
        _require(_finite(self.beta2) and 0 <= self.beta2 < 1, "--beta2 must be in [0, 1)")
        _require(self.warmup_steps >= 0, "--warmup-steps must be >= 0")
        _require(_finite(self.min_lr_ratio) and 0 <= self.min_lr_ratio <= 1, "--min-lr-ratio must be in [0, 1]")
        _require(_finite(self.grad_clip) and self.grad_clip > 0, "--grad-clip must be a positive number")
        _require(self.max_steps is None or self.max_steps >= 1, "--max-steps must be at least 1")
        _require(self.epochs is None or (_finite(self.epochs) and self.epochs > 0), "--epochs must be positive")
        _require(self.max_time is None or (_finite(self.max_time) and self.max_time > 0),
                 "--max-time must be a positive number of seconds")
        _require(self.eval_every >= 1, "--eval-every must be at least 1")
        _require(self.eval_chars is None or self.eval_chars >= 0, "--eval-chars must be 0 (all) or more")
        _require(self.sample_length >= 0, "sample_length must be >= 0")
        _require(self.device in DEVICES, f"--device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        _require(self.on_divergence in ("stop", "skip"), "--on-divergence must be stop or skip")
        _require(self.precision in PRECISIONS,
                 f"--precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        _require(self.average_evals >= 1, "--average-evals must be at least 1")
        _require(_finite(self.fresh_starts) and 0 <= self.fresh_starts <= 1, "--fresh-starts must be in [0, 1]")
        _require(self.best_on in BEST_ON, f"--best-on must be one of {', '.join(BEST_ON)}, not {self.best_on!r}")

    @property
    def evaluated_chars(self) -> int:
        """The bound on validation characters per evaluation (0: the whole split)."""
        if self.eval_chars is not None:
            return self.eval_chars
        return int(0.3 * self.eval_every * self.batch_size * self.seq_len)

    @property
    def has_budget(self) -> bool:
        return any(v is not None for v in (self.max_steps, self.epochs, self.max_time))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        return cls(**_known_fields(cls, data))


def _known_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} keys: {', '.join(unknown)} (written by a newer charlstm?)")
    return {k: v for k, v in data.items() if k in names}
