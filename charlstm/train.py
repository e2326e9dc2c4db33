"""Training: truncated BPTT over B streams, AdamW with warm-up and cosine decay, checkpoints, exact resume.

``train()`` never prints. It reports through ``on_event`` (Started, Stepped, Evaluated, Saved, Finished),
which the CLI turns into a progress bar and tests turn into lists. It stops when its budget is spent
(``max_steps``, ``epochs`` or ``max_time``), when ``stop_event`` is set (the CLI sets it on Ctrl-C or
SIGTERM), or when the loss diverges; in every case ``last.pt`` is saved first.

A run directory holds ``last.pt``, ``best.pt`` (best validation loss), ``config.json`` (the resolved
settings) and ``metrics.jsonl`` (one JSON object per evaluation).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from charlstm.batching import StreamBatcher, fit_batch_size
from charlstm.checkpoint import BEST, LAST, load_checkpoint, remove_stale_temporaries, save_checkpoint
from charlstm.config import DEFAULT_EPOCHS, ModelConfig, TrainConfig
from charlstm.corpus import Corpus
from charlstm.errors import CheckpointError, ConfigError, CorpusError
from charlstm.evaluate import bits_per_char, mean_loss
from charlstm.model import CharRNN, State, detach_state, state_to
from charlstm.runtime import rng_state, seed_everything, select_device, set_rng_state
from charlstm.sample import SamplingOptions, sample_text
from charlstm.vocab import Vocab

METRICS = "metrics.jsonl"
CONFIG = "config.json"
EVAL_SAMPLE_TEMPERATURE = 0.8
# With on_divergence="skip", this many non-finite steps in a row still stop the run.
MAX_CONSECUTIVE_SKIPS = 50


# ---------------------------------------------------------------------------------------------- events

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


@dataclass(frozen=True)
class Stepped:
    step: int
    loss: float
    lr: float
    chars_per_sec: float
    progress: float              # fraction of the budget spent, 0..1
    epoch: int


@dataclass(frozen=True)
class Evaluated:
    step: int
    train_loss: float | None     # mean since the previous evaluation (nats/char)
    val_loss: float | None       # nats/char on the held-out text
    is_best: bool
    sample: str
    elapsed: float


@dataclass(frozen=True)
class Saved:
    path: Path
    step: int


@dataclass(frozen=True)
class Finished:
    step: int
    reason: str                  # max_steps | epochs | max_time | interrupted | diverged
    best_val_loss: float | None
    last_val_loss: float | None
    elapsed: float
    out_dir: Path
    message: str = ""


Event = Started | Stepped | Evaluated | Saved | Finished


# ------------------------------------------------------------------------------------------- schedule

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


# --------------------------------------------------------------------------------------- run directory

@dataclass
class Progress:
    """Where training stands; saved in every checkpoint."""

    step: int = 0
    epoch: int = 0
    window: int = 0
    elapsed: float = 0.0
    chars_seen: int = 0
    val_loss: float | None = None
    best_val_loss: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class TrainResult:
    out_dir: Path
    step: int
    reason: str
    best_val_loss: float | None
    last_val_loss: float | None
    elapsed: float
    history: list[dict] = field(default_factory=list)


def _append_metrics(out_dir: Path, record: dict) -> None:
    with open(out_dir / METRICS, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def _truncate_metrics(out_dir: Path, step: int) -> None:
    """On resume, forget evaluations a crashed run logged after its last checkpoint."""
    path = out_dir / METRICS
    if not path.exists():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= step]
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


# ------------------------------------------------------------------------------------------ the trainer

class Trainer:
    """One training run; ``train()`` below is the function to call."""

    def __init__(self, corpus: Corpus, out_dir: Path, model_options: dict, train_options: dict,
                 resume: bool, init_from: Path | None, on_event: Callable[[Event], Any], overwrite: bool = False):
        self.corpus = corpus
        self.out_dir = Path(out_dir)
        self.emit = on_event
        self.notes: list[str] = []
        self.replaced = [] if resume else _existing_run(self.out_dir, overwrite)
        checkpoint = self._load_resume_checkpoint() if resume else None
        saved_train = checkpoint.get("train_config", {}) if checkpoint else {}
        try:
            self.config = TrainConfig(**{**saved_train, **train_options})
        except TypeError as error:
            raise ConfigError(f"bad training option: {error}") from None
        self.device = select_device(self.config.device)
        seed_everything(self.config.seed)
        self.model, self.vocab = self._build_model(model_options, checkpoint, init_from)
        self.id_map = _id_map(corpus.vocab, self.vocab)
        self.batcher, self.val_ids = self._layout()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.config.lr,
                                           weight_decay=self.config.weight_decay)
        self.budget = Budget(self.config, self.batcher.windows_per_epoch)
        self.progress = Progress()
        self.state: State = self.model.initial_state(self.batcher.batch_size, self.device)
        if checkpoint:
            self._restore(checkpoint)

    # -- setup ------------------------------------------------------------------------------------------

    def _load_resume_checkpoint(self) -> dict:
        path = self.out_dir / LAST
        if not path.exists():
            raise CheckpointError(f"--resume: no {LAST} in {self.out_dir} to resume from")
        return load_checkpoint(path)

    def _build_model(self, model_options: dict, checkpoint: dict | None,
                     init_from: Path | None) -> tuple[CharRNN, Vocab]:
        if checkpoint is not None:
            source = checkpoint
        elif init_from is not None:
            source = load_checkpoint(init_from)
        else:
            config = ModelConfig(vocab_size=len(self.corpus.vocab), **model_options)
            return CharRNN(config).to(self.device), self.corpus.vocab
        config = ModelConfig.from_dict(source["model_config"])
        ignored = sorted(k for k, v in model_options.items() if getattr(config, k) != v)
        if ignored:
            self.notes.append(f"architecture comes from the checkpoint; ignored: {', '.join(ignored)}")
        old_vocab = Vocab(source["vocab"])
        if checkpoint is not None:
            missing = [c for c in self.corpus.vocab.chars if c not in old_vocab]
            if missing:
                raise CheckpointError(
                    f"--resume: the corpus has {len(missing)} characters the checkpoint's vocabulary lacks "
                    f"({''.join(missing[:20])!r}); train a new run, or use --init-from to extend it")
            model = CharRNN(config)
            model.load_state_dict(source["model"])
            return model.to(self.device), old_vocab
        vocab = old_vocab.union(self.corpus.vocab)
        model = CharRNN(ModelConfig.from_dict({**source["model_config"], "vocab_size": len(vocab)}))
        _transplant(source["model"], old_vocab, model, vocab)
        new = len(vocab) - len(old_vocab)
        self.notes.append(f"initialised from {init_from}: {new} character(s) new to its vocabulary got fresh "
                          f"embedding and output rows" + (f" ({''.join(c for c in vocab.chars if c not in old_vocab)!r})"
                                                          if new else ""))
        return model.to(self.device), vocab

    def _layout(self) -> tuple[StreamBatcher, torch.Tensor]:
        config = self.config
        train_ids = self.corpus.train
        if len(train_ids) < 2:
            raise CorpusError(f"{self.corpus.name}: too little training text ({len(train_ids)} characters)")
        batch_size = fit_batch_size(len(train_ids), config.batch_size, config.seq_len)
        if batch_size < config.batch_size:
            self.notes.append(f"the corpus is short: --batch-size lowered from {config.batch_size} to "
                              f"{batch_size} so each stream holds a full window")
            self.config = TrainConfig(**{**config.to_dict(), "batch_size": batch_size})
        val_ids = self.corpus.val
        if len(val_ids) < 2:
            self.notes.append("no validation text (--val-fraction 0 or a tiny corpus): best.pt follows training")
        return StreamBatcher(train_ids, self.config.batch_size, self.config.seq_len, self.id_map), val_ids

    def _restore(self, checkpoint: dict) -> None:
        saved_config = checkpoint.get("train_config", {})
        try:
            self.optimizer.load_state_dict(checkpoint["optimizer"])
            self.progress = Progress(**checkpoint["progress"])
        except (KeyError, ValueError, TypeError) as error:
            raise CheckpointError(f"{self.out_dir / LAST}: cannot resume from it ({error})") from None
        for group in self.optimizer.param_groups:  # a changed --weight-decay applies from now on
            group["weight_decay"] = self.config.weight_decay
        same_layout = (saved_config.get("batch_size") == self.config.batch_size
                       and saved_config.get("seq_len") == self.config.seq_len
                       and checkpoint.get("corpus", {}).get("train_chars") == len(self.corpus.train))
        if same_layout and checkpoint.get("state") is not None:
            saved = checkpoint["state"]
            self.state = state_to(tuple(saved) if len(saved) == 2 else saved[0], self.device)
        else:
            self.notes.append("batch layout or corpus changed since the checkpoint: data position restarts "
                              "at the beginning of an epoch with a fresh state")
            self.progress.window = 0
        set_rng_state(checkpoint["rng"])
        _truncate_metrics(self.out_dir, self.progress.step)

    # -- the loop ---------------------------------------------------------------------------------------

    def run(self, stop_event: threading.Event | None) -> TrainResult:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.out_dir)
        for path in self.replaced:
            path.unlink(missing_ok=True)
        self._write_config()
        self.emit(Started(
            model_config=self.model.config, train_config=self.config, parameters=self.model.num_parameters,
            device=str(self.device), corpus=self.corpus.name, train_chars=len(self.corpus.train),
            val_chars=len(self.corpus.val), windows_per_epoch=self.batcher.windows_per_epoch,
            total_steps=self.budget.total_steps, start_step=self.progress.step, out_dir=self.out_dir,
            notes=tuple(self.notes)))
        history: list[dict] = []
        losses: list[float] = []
        reason, message, skipped = None, "", 0
        started = time.perf_counter() - self.progress.elapsed
        rate_clock, rate_chars, rate = time.perf_counter(), 0, 0.0
        self.model.train()
        while True:
            self.progress.elapsed = time.perf_counter() - started
            reason = self.budget.exhausted(self.progress.step, self.progress.elapsed)
            if reason:
                break
            if stop_event is not None and stop_event.is_set():
                reason = "interrupted"
                break
            window = self.batcher.window(self.progress.window)
            progress = self.budget.progress(self.progress.step, self.progress.elapsed)
            lr = learning_rate(self.config, self.progress.step, progress, self.budget.total_steps)
            loss = self._step(window, lr)
            if loss is None:
                skipped += 1
                if self.config.on_divergence == "stop" or skipped >= MAX_CONSECUTIVE_SKIPS:
                    reason = "diverged"
                    message = (f"loss or gradient became NaN/inf at step {self.progress.step + 1}"
                               + (f" ({skipped} steps in a row)" if skipped > 1 else "")
                               + "; stopped and kept the last good checkpoint (try a lower --lr)")
                    break
                loss = math.nan  # a skipped step still uses up its window and counts toward the budget
            else:
                skipped = 0
                losses.append(loss)
            self.progress.step += 1
            self.progress.chars_seen += window.inputs.numel()
            rate_chars += window.inputs.numel()
            now = time.perf_counter()
            rate = rate_chars / max(now - rate_clock, 1e-9)
            if now - rate_clock >= 2.0:  # measure over the last few seconds, not since the start
                rate_clock, rate_chars = now, 0
            self.emit(Stepped(step=self.progress.step, loss=loss, lr=lr, chars_per_sec=rate,
                              progress=min(1.0, progress), epoch=self.progress.epoch))
            if self.progress.step % self.config.eval_every == 0:
                self.progress.elapsed = time.perf_counter() - started
                history.append(self._evaluate_and_save(losses))
                losses = []
        self.progress.elapsed = time.perf_counter() - started
        if reason == "diverged":
            pass  # the weights may be damaged; the last good checkpoint stays as it is
        elif reason == "interrupted":
            self._save(LAST)
        elif self.progress.step % self.config.eval_every != 0 or not history:
            history.append(self._evaluate_and_save(losses))
        self.emit(Finished(step=self.progress.step, reason=reason, best_val_loss=self.progress.best_val_loss,
                           last_val_loss=self.progress.val_loss, elapsed=self.progress.elapsed,
                           out_dir=self.out_dir, message=message))
        return TrainResult(out_dir=self.out_dir, step=self.progress.step, reason=reason,
                           best_val_loss=self.progress.best_val_loss, last_val_loss=self.progress.val_loss,
                           elapsed=self.progress.elapsed, history=history)

    def _step(self, window, lr: float) -> float | None:
        """One optimiser step on one window; None (weights untouched) if the loss or gradient is not finite."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        inputs = window.inputs.to(self.device, non_blocking=True)
        targets = window.targets.to(self.device, non_blocking=True)
        logits, state = self.model(inputs, self.state)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        value = loss.item()
        if not (math.isfinite(value) and math.isfinite(grad_norm.item())):
            self.optimizer.zero_grad(set_to_none=True)
            self._advance_window(state=None)
            return None
        self.optimizer.step()
        self._advance_window(state=detach_state(state))
        return value

    def _advance_window(self, state: State | None) -> None:
        """Move to the next window; the state restarts from zero at a new epoch (or after a skipped step)."""
        self.progress.window += 1
        if self.progress.window >= self.batcher.windows_per_epoch:
            self.progress.epoch += 1
            self.progress.window = 0
            state = None
        self.state = state if state is not None else self.model.initial_state(self.batcher.batch_size, self.device)

    def _evaluate_and_save(self, losses: list[float]) -> dict:
        train_loss = sum(losses) / len(losses) if losses else None
        val_loss = None
        if len(self.val_ids) >= 2:
            val_loss = mean_loss(self.model, self.val_ids, self.config.batch_size, id_map=self.id_map)
        score = val_loss if val_loss is not None else train_loss
        best = self.progress.best_val_loss
        is_best = score is not None and (best is None or score < best)
        self.progress.val_loss = val_loss
        if is_best:
            self.progress.best_val_loss = score
        sample = ""
        if self.config.sample_length:
            sample = sample_text(self.model, self.vocab, self.config.sample_length,
                                 options=SamplingOptions(temperature=EVAL_SAMPLE_TEMPERATURE),
                                 seed=self.config.seed + self.progress.step)
        self.model.train()
        record = {"step": self.progress.step, "epoch": self.progress.epoch,
                  "elapsed": round(self.progress.elapsed, 3), "chars_seen": self.progress.chars_seen,
                  "lr": self.optimizer.param_groups[0]["lr"],
                  "train_loss": train_loss, "train_bpc": bits_per_char(train_loss) if train_loss else None,
                  "val_loss": val_loss, "val_bpc": bits_per_char(val_loss) if val_loss else None,
                  "best": is_best}
        _append_metrics(self.out_dir, record)
        self._save(LAST)
        if is_best:
            self._save(BEST)
        self.emit(Evaluated(step=self.progress.step, train_loss=train_loss, val_loss=val_loss, is_best=is_best,
                            sample=sample, elapsed=self.progress.elapsed))
        return record

    def _save(self, name: str) -> None:
        state = self.state if isinstance(self.state, tuple) else (self.state,)
        payload = {
            "model_config": self.model.config.to_dict(),
            "vocab": list(self.vocab.chars),
            "model": self.model.state_dict(),
            "train_config": self.config.to_dict(),
            "optimizer": self.optimizer.state_dict(),
            "progress": self.progress.to_dict(),
            "state": list(state),
            "rng": rng_state(),
            "corpus": self.corpus.recipe(),
        }
        path = save_checkpoint(payload, self.out_dir / name)
        self.emit(Saved(path=path, step=self.progress.step))

    def _write_config(self) -> None:
        resolved = {"model": self.model.config.to_dict(), "train": self.config.to_dict(),
                    "corpus": self.corpus.recipe()}
        (self.out_dir / CONFIG).write_text(json.dumps(resolved, indent=2, ensure_ascii=False) + "\n")


def _existing_run(out_dir: Path, overwrite: bool) -> list[Path]:
    """Files of an earlier run a new run would replace; refused unless ``overwrite`` (never silently)."""
    existing = [out_dir / name for name in (LAST, BEST) if (out_dir / name).exists()]
    if existing and not overwrite:
        raise CheckpointError(f"{out_dir} already holds a run ({existing[0].name}); pass --resume to continue it, "
                              f"--out to start a new one elsewhere, or --overwrite to replace it")
    return existing + [out_dir / METRICS]


def saved_corpus(out_dir: Path | str) -> dict:
    """How the run in ``out_dir`` prepared its corpus (inputs, val_fraction, encoding), from config.json."""
    path = Path(out_dir) / CONFIG
    try:
        corpus = json.loads(path.read_text(encoding="utf-8"))["corpus"]
        return {"inputs": list(corpus["inputs"]), "val_fraction": corpus["val_fraction"],
                "encoding": corpus["encoding"]}
    except (OSError, ValueError, KeyError, TypeError):
        raise CheckpointError(f"{path}: cannot tell which corpus this run used; give the corpus again") from None


def _id_map(corpus_vocab: Vocab, model_vocab: Vocab) -> torch.Tensor | None:
    """Corpus ids -> model ids, or None when they are the same vocabulary."""
    return None if corpus_vocab == model_vocab else corpus_vocab.ids_in(model_vocab)


def _transplant(weights: dict, old_vocab: Vocab, model: CharRNN, new_vocab: Vocab) -> None:
    """Copy another model's weights, moving per-character rows to their places in the larger vocabulary."""
    rows = old_vocab.ids_in(new_vocab)
    target = model.state_dict()
    per_char = {"embedding.weight", "head.weight", "head.bias"}
    with torch.no_grad():
        for name, value in weights.items():
            if name in per_char:
                target[name][rows] = value
            else:
                target[name].copy_(value)
    model.load_state_dict(target)


def train(corpus: Corpus, out_dir: Path | str, *, model: dict | None = None, config: dict | None = None,
          resume: bool = False, init_from: Path | str | None = None, overwrite: bool = False,
          on_event: Callable[[Event], Any] | None = None, stop_event: threading.Event | None = None) -> TrainResult:
    """Train a model on ``corpus`` into ``out_dir``.

    ``model`` holds ModelConfig fields (``num_layers``, ``hidden_size``, ...) and ``config`` TrainConfig
    fields (``max_steps``, ``lr``, ...). With ``resume=True`` the run continues from ``out_dir/last.pt``
    with its saved settings, except those given in ``config``; the architecture comes from the
    checkpoint. ``init_from`` starts from another run's weights (fine-tuning) with a fresh optimizer.
    A new run refuses a directory that already holds one unless ``overwrite``.
    """
    if resume and init_from is not None:
        raise ConfigError("--resume and --init-from cannot be combined (resume continues this run; "
                          "--init-from starts a new one from another run's weights)")
    try:
        trainer = Trainer(corpus, Path(out_dir), dict(model or {}), dict(config or {}), resume,
                          Path(init_from) if init_from is not None else None, on_event or (lambda event: None),
                          overwrite)
    except TypeError as error:
        raise ConfigError(f"bad option: {error}") from None
    return trainer.run(stop_event)
