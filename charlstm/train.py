"""Training: truncated BPTT over B streams, AdamW with warm-up and cosine decay, checkpoints, exact resume.

``train()`` never prints. It reports through ``on_event`` (Started, Stepped, Evaluated, Saved, Finished),
which the CLI turns into a progress bar and tests turn into lists. It stops when its budget is spent
(``max_steps``, ``epochs`` or ``max_time``), when ``stop_event`` is set (the CLI sets it on Ctrl-C or
SIGTERM), or when the loss diverges; in every case ``last.pt`` is saved first.

A run directory holds ``last.pt``, ``best.pt`` (best validation loss), ``config.json`` and
``metrics.jsonl`` (see ``charlstm.rundir``). While a run writes there it holds ``.lock`` (see
``charlstm.runlock``), so a second run cannot interleave its files with the first.

Crash safety: every file is replaced atomically except metrics.jsonl, which is appended to and trimmed on
resume. At each evaluation best.pt is written before last.pt: a crash between the two leaves the previous last.pt, so the
resumed run repeats that evaluation and rewrites best.pt. (The other order would leave a best.pt older
than the best loss last.pt records, which nothing would ever rewrite.)
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from charlstm.batching import StreamBatcher
from charlstm.averaging import checked_snapshots, mean_weights, snapshot, weights_of
from charlstm.checkpoint import BEST, LAST, duplicate_checkpoint, remove_stale_temporaries, save_checkpoint
from charlstm.config import ModelConfig, TrainConfig
from charlstm.corpus import Corpus
from charlstm.distributed import World, join, lost_peer, rank_device, world_from_env
from charlstm.errors import CheckpointError, ConfigError, PeerLostError, ProbeError
from charlstm.evaluate import bits_per_char, evaluation_layout, mean_loss
from charlstm.events import Evaluated, Event, Finished, Saved, Started, Stepped
from charlstm.model import CharRNN, State, map_state
from charlstm.probes.watch import watch_for
from charlstm.runlock import RunLock
from charlstm.rundir import append_metrics, existing_run, truncate_metrics, write_config
from charlstm.resume import Progress, carried_state, checked_progress, rank_rng, restore_optimizer
from charlstm.runtime import autocast, bf16_warning, check_precision, rng_state, select_device, set_rng_state
from charlstm.sample import SamplingOptions, sample_text
from charlstm.schedule import Budget, learning_rate
from charlstm.start import (MISFIT, Start, checked_options, fine_tuned_start, fresh_start, resumed_start,
                            unusable)
from charlstm.vocab import Vocab

__all__ = ["train", "Trainer", "Progress", "learning_rate",  # events re-exported for callers
           "Started", "Stepped", "Evaluated", "Saved", "Finished", "Event"]

EVAL_SAMPLE_TEMPERATURE = 0.8
# With on_divergence="skip", this many non-finite steps in a row still stop the run.
MAX_CONSECUTIVE_SKIPS = 50


# ------------------------------------------------------------------------------------------ the trainer

class Trainer:
    """One training run from a settled ``Start``; ``train()`` below is the function to call."""

    def __init__(self, corpus: Corpus, out_dir: Path, start: Start, on_event: Callable[[Event], Any] = lambda e: None,
                 replaced: list[Path] | None = None, world: World = World()):
        self.corpus = corpus
        self.world = world
        self.out_dir = Path(out_dir)
        self.emit = on_event
        self.replaced = replaced or []  # files of an overwritten run, removed once the lock is held
        self.config = start.config
        self.notes = list(start.notes)
        self.device = rank_device(select_device(self.config.device), world)
        check_precision(self.config.precision, self.device, start.model.config.cell)
        world.check_batch(self.config.batch_size)
        join(world)
        # fp16's narrow range: the loss is scaled up before backward and the gradient down before the step;
        # a step whose scaled gradient overflowed is skipped by the scaler, which then lowers the scale.
        # Disabled (every call passes through) for fp32 and bf16, so the step has one code path.
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.config.precision == "fp16")
        warning = bf16_warning(self.device) if self.config.precision == "bf16" else None
        self.warnings = [warning] if warning else []
        self.model, self.vocab = start.model.to(self.device), start.vocab
        # What the training step runs: the model itself, or DDP around it, which averages the gradients over
        # the processes during backward. Evaluation, sampling and checkpoints use the model itself.
        self.net = self.model
        if world.distributed:
            from torch.nn.parallel import DistributedDataParallel

            self.net = DistributedDataParallel(self.model, device_ids=[self.device.index] if self.device.type == "cuda"
                                               else None)
            self.notes.append(f"{world.size} processes, {self.config.batch_size // world.size} streams each; rank 0 "
                              f"evaluates on the whole validation split, samples and writes the checkpoints")
            if start.payload is None:  # the same initial weights everywhere, then each rank its own dropout
                torch.manual_seed(self.config.seed * world.size + world.rank)
        self.id_map = _id_map(corpus.vocab, self.vocab)
        self.watch = watch_for(corpus.name, corpus.inputs, self.config.watch_probe)
        if self.watch is not None:
            try:
                self.watch.check(self.vocab)
            except ProbeError as error:
                if self.config.watch_probe:   # asked for: refused
                    raise
                # Watched by default: a memory corpus too small to spell the watch's filler trains without it.
                self.notes.append(f"memory not watched: {error}")
                self.watch = None
        if self.config.best_on == "memory" and self.watch is None:
            raise ConfigError("--best-on memory needs a memory to watch: train on builtin:memory or give "
                              "--watch-probe FILE")
        self.batcher = StreamBatcher(corpus.train, self.config.batch_size, self.config.seq_len, self.id_map,
                                     pin_memory=self.device.type == "cuda", rows=world.rows(self.config.batch_size))
        self.optimizer = adamw(parameter_groups(self.model, self.config.weight_decay), self.config, self.device)
        self.budget = Budget(self.config, self.batcher.windows_per_epoch)
        self.progress = Progress()
        self.state: State = self.model.initial_state(self.batcher.batch_size, self.device)
        self.saved_step: int | None = None  # step of the newest last.pt, so the end never saves it twice
        self.snapshots: list[dict] = []  # the weights at the last average_evals - 1 evaluations
        self.clock_origin = 0.0  # perf_counter() at the run's step 0 (a resumed run's elapsed time included)
        if start.payload is not None:
            with unusable(self.out_dir / LAST, "cannot resume from it", MISFIT):
                self._restore(start.payload)
            self.saved_step = self.progress.step

    # -- resuming ---------------------------------------------------------------------------------------

    def _restore(self, payload: dict) -> None:
        """Optimizer, progress, data position, carried state, RNG and loss scale; ValueError etc. if any is
        damaged (see charlstm.resume)."""
        if len(payload["optimizer"]["param_groups"]) == 1:  # written before biases were exempt from decay
            self.optimizer = adamw(self.model.parameters(), self.config, self.device)
        restore_optimizer(self.optimizer, payload["optimizer"], self.config)
        self.progress = checked_progress(payload["progress"])
        state = carried_state(payload, self.model, self.config, self.corpus, self.world, self.device)
        if state is not None:
            self.state = state
        else:
            self.notes.append("batch layout or corpus changed since the checkpoint: data position restarts "
                              "at the beginning of an epoch with a fresh state")
            self.progress.window = 0
        if self.progress.window >= self.batcher.windows_per_epoch:
            raise ValueError(f"data position {self.progress.window} is past the end of an epoch")
        rng, note = rank_rng(payload, self.world)
        self.notes += [note] if note else []
        set_rng_state(rng)
        if self.scaler.is_enabled() and payload.get("scaler"):
            self.scaler.load_state_dict(payload["scaler"])
        self.snapshots = checked_snapshots(payload.get("snapshots"), self.model, self.config.average_evals - 1)

    # -- the loop ---------------------------------------------------------------------------------------

    def run(self, stop_event: threading.Event | None = None) -> Finished:
        """Train under the run directory's lock (released however the run ends); of several processes, rank
        0 alone holds it and writes there."""
        try:
            if not self.world.is_main:
                return self._loop(stop_event)
            try:
                self.out_dir.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise CheckpointError(f"cannot create run directory {self.out_dir} ({error.strerror or error})") from None
            with RunLock(self.out_dir) as lock:
                self.notes.extend(lock.notes)
                self._prepare_directory()
                return self._loop(stop_event)
        except Exception as error:
            if not (self.world.distributed and lost_peer(error)):
                raise
            saved = f"{self.out_dir / LAST} holds step {self.saved_step}" if self.saved_step else "no checkpoint yet"
            raise PeerLostError(f"rank {self.world.rank}: another process of this run stopped (killed, out of memory "
                                f"or its machine lost) at step {self.progress.step + 1}; {saved}; resume with the "
                                f"same torchrun command and charlstm train --resume --out {self.out_dir}") from None

    def _prepare_directory(self) -> None:
        """Clear what a crash or an overwritten run left; only ever done while holding the lock."""
        remove_stale_temporaries(self.out_dir)
        try:
            for path in self.replaced:
                path.unlink(missing_ok=True)
        except OSError as error:
            raise CheckpointError(f"cannot replace the run in {self.out_dir} ({error.strerror or error})") from None
        if self.saved_step is not None:
            truncate_metrics(self.out_dir, self.saved_step)
        write_config(self.out_dir, {"model": self.model.config.to_dict(), "train": self.config.to_dict(),
                                    "corpus": self.corpus.origin()})

    def _loop(self, stop_event: threading.Event | None) -> Finished:
        self.emit(self._started())
        history: list[dict] = []
        losses: list[float] = []
        skipped, message = 0, ""
        self.clock_origin = time.perf_counter() - self.progress.elapsed
        self.net.train()
        while not (reason := self._stop_reason(stop_event)):
            window = self.batcher.window(self.progress.window)
            progress = self.budget.progress(self.progress.step, self.progress.elapsed)
            lr = learning_rate(self.config, self.progress.step, progress, self.budget.total_steps)
            loss = self.step(window, lr)
            skipped = skipped + 1 if loss is None else 0
            if skipped and (self.config.on_divergence == "stop" or skipped >= MAX_CONSECUTIVE_SKIPS):
                reason = "diverged"
                message = (f"loss or gradient became NaN/inf at step {self.progress.step + 1}"
                           + (f" ({skipped} steps in a row)" if skipped > 1 else "")
                           + "; stopped and kept the last good checkpoint (try a lower --lr)")
                break
            if loss is not None:
                losses.append(loss)
            # A skipped step still uses up its window and counts toward the budget.
            self.progress.step += 1
            self.progress.chars_seen += window.inputs.numel() * self.world.size
            self.emit(Stepped(step=self.progress.step, loss=math.nan if loss is None else loss, lr=lr,
                              progress=min(1.0, progress), epoch=self.progress.epoch,
                              chars_seen=self.progress.chars_seen, elapsed=self._tick()))
            if self.progress.step % self.config.eval_every == 0:
                history.append(self._evaluate_and_save(losses))
                losses = []
        if reason == "interrupted":
            self._save_last()
        elif reason != "diverged" and self.saved_step != self.progress.step:
            # Not after a divergence (the weights may be damaged; the last good checkpoint stays), nor when
            # resuming a run that had already finished.
            history.append(self._evaluate_and_save(losses))
        history = [record for record in history if record is not None]   # only rank 0 evaluates
        finished = Finished(step=self.progress.step, reason=reason, best_val_loss=self.progress.best_val_loss,
                            last_val_loss=self.progress.val_loss, elapsed=self._tick(), out_dir=self.out_dir,
                            message=message, history=tuple(history))
        self.emit(finished)
        return finished

    def _tick(self) -> float:
        """Bring ``progress.elapsed`` up to now (the one place that sets it) and return it."""
        self.progress.elapsed = time.perf_counter() - self.clock_origin
        return self.progress.elapsed

    def _stop_reason(self, stop_event: threading.Event | None) -> str | None:
        interrupted = stop_event is not None and stop_event.is_set()
        elapsed = self._tick()
        if self.world.distributed:
            # Every rank must follow the same learning-rate schedule and stop at the same step: they agree on
            # the elapsed time (the slowest rank's) and on whether any of them was asked to stop.
            elapsed, flag = self.world.max([elapsed, float(interrupted)], self.device)
            self.progress.elapsed, interrupted = elapsed, bool(flag)
        reason = self.budget.exhausted(self.progress.step, elapsed)
        if reason is None and interrupted:
            reason = "interrupted"
        return reason

    def _started(self) -> Started:
        return Started(
            model_config=self.model.config, train_config=self.config, parameters=self.model.num_parameters,
            device=str(self.device), corpus=self.corpus.name, train_chars=len(self.corpus.train),
            val_chars=len(self.corpus.val), windows_per_epoch=self.batcher.windows_per_epoch,
            total_steps=self.budget.total_steps, start_step=self.progress.step, out_dir=self.out_dir,
            notes=tuple(self.notes), warnings=tuple(self.warnings))

    def step(self, window, lr: float) -> float | None:
        """One optimiser step on one window; None (weights untouched) if the loss or gradient is not finite."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        inputs = window.inputs.to(self.device, non_blocking=True)
        targets = window.targets.to(self.device, non_blocking=True)
        with autocast(self.config.precision, self.device):
            logits, state = self.net(inputs, self.state)
            # The loss in fp32 whatever the logits' precision.
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        value = self.world.mean(loss)   # with several processes, the loss over all B streams
        # Under fp16 an overflowing gradient is the scaler's business (it skips the step), not a divergence.
        if not (math.isfinite(value) and (self.scaler.is_enabled() or math.isfinite(grad_norm.item()))):
            self.optimizer.zero_grad(set_to_none=True)
            self._advance_window(state=None)
            return None
        self.scaler.step(self.optimizer)
        self.scaler.update()
        # Detached at the border, and fp32 (a bf16 autocast core returns a bf16 state) like the saved one.
        self._advance_window(state=map_state(state, lambda t: t.detach().float()))
        return value

    def _advance_window(self, state: State | None) -> None:
        """Move to the next window. Every stream restarts from a fresh (zero) state at a new epoch (or after a
        skipped step); with ``fresh_starts``, each also restarts alone with that chance."""
        self.progress.window += 1
        if self.progress.window >= self.batcher.windows_per_epoch:
            self.progress.epoch += 1
            self.progress.window = 0
            state = None
        if state is None:
            state = self.model.initial_state(self.batcher.batch_size, self.device)
        elif self.config.fresh_starts > 0:
            state = self._restart_some(state)
        self.state = state

    def _restart_some(self, state: State) -> State:
        """Each stream starts the next window fresh with chance ``fresh_starts``: drawn from the seed and the
        data position alone, over all streams, so a resumed run draws the same and so does every process of
        several."""
        position = self.progress.epoch * self.batcher.windows_per_epoch + self.progress.window
        generator = torch.Generator().manual_seed((self.config.seed * 1_000_003 + position) % 2**63)
        drawn = torch.rand(self.config.batch_size, generator=generator) < self.config.fresh_starts
        own = drawn[self.world.rows(self.config.batch_size)]
        if not own.any():
            return state
        fresh = self.model.initial_state(self.batcher.batch_size, self.device)
        rows = own.to(self.device).view(1, -1, 1)   # every state tensor is (layers or slots, streams, width)
        return tuple(torch.where(rows, new, old) for old, new in zip(state, fresh))

    def _evaluate_and_save(self, losses: list[float]) -> dict | None:
        """Rank 0 evaluates and logs; then every rank takes part in writing the checkpoints (they gather
        every stream's state and every rank's RNG)."""
        own = self._own_weights()
        averaged = self._averaged(own)
        with weights_of(self.model, averaged, own):
            record = self._evaluate(losses) if self.world.is_main else None
        payload = self._payload(averaged)   # a collective with several processes: every rank calls it here
        if record is not None:
            if record["best"]:  # best.pt first: see the module docstring
                self._write(BEST, payload)
                self._write(LAST, payload, same_as=self.out_dir / BEST)
            else:
                self._write(LAST, payload)
            self.emit(Evaluated(step=self.progress.step, train_loss=record["train_loss"], val_loss=record["val_loss"],
                                is_best=record["best"], sample=record.pop("sample"), elapsed=self.progress.elapsed,
                                memory=record.get("memory"), val_chars=record["val_chars"]))
        self.saved_step = self.progress.step
        if own is not None:
            self.snapshots = [*self.snapshots, own][-(self.config.average_evals - 1):]
        return record

    def _own_weights(self) -> dict | None:
        """A snapshot of the weights as trained, where evaluations read an average of them (else None)."""
        return snapshot(self.model) if self.config.average_evals > 1 else None

    def _averaged(self, own: dict | None) -> dict | None:
        """The weights evaluations read and checkpoints keep with ``average_evals`` > 1: the mean of
        ``own`` (a snapshot of the weights as trained) and the last ones evaluated (charlstm.averaging);
        None for the weights as trained."""
        return None if own is None else mean_weights([*self.snapshots, own])

    def _evaluate(self, losses: list[float]) -> dict:
        """Validation loss, the watched memory, a sample; the metrics.jsonl record (with the sample, which
        the log leaves out)."""
        train_loss = sum(losses) / len(losses) if losses else None
        val_loss, val_chars = None, 0
        if len(self.corpus.val) >= 2:
            bound = self.config.evaluated_chars
            with autocast(self.config.precision, self.device):
                val_loss = mean_loss(self.model, self.corpus.val, self.config.batch_size, id_map=self.id_map,
                                     chars=bound)
            streams, stream_len = evaluation_layout(len(self.corpus.val), self.config.batch_size, bound)
            val_chars = streams * stream_len
        loss = val_loss if val_loss is not None else train_loss
        memory = self.watch.read(self.model, self.vocab) if self.watch is not None else None
        is_best = self._is_best(loss, memory)
        self.progress.val_loss = val_loss
        if is_best:
            self.progress.best_val_loss = loss
            self.progress.best_memory = memory["score"] if memory is not None else None
            self.progress.best_memory_mean = memory.get("mean") if memory is not None else None
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
                  "val_chars": val_chars,
                  **({"memory": memory} if memory is not None else {}), "best": is_best}
        append_metrics(self.out_dir, record)
        return {**record, "sample": sample}

    def _is_best(self, loss: float | None, memory: dict | None) -> bool:
        """Whether this evaluation beats best.pt: on the loss, or with ``best_on="memory"`` on the watched
        memory's score, then its mean accuracy, then the lower loss."""
        best_loss = self.progress.best_val_loss
        lower = loss is not None and (best_loss is None or loss < best_loss)
        if self.config.best_on == "loss" or memory is None:
            return lower
        if self.progress.best_memory is None:
            return True
        new = (memory["score"], memory.get("mean", 0.0))
        old = (self.progress.best_memory, self.progress.best_memory_mean or 0.0)
        return new > old or (new == old and lower)

    def _save_last(self) -> None:
        """last.pt where the run stands (an interrupted run); every rank takes part (see _payload)."""
        payload = self._payload(self._averaged(self._own_weights()))
        if self.world.is_main:
            self._write(LAST, payload)
        self.saved_step = self.progress.step

    def _write(self, name: str, payload: dict | None, same_as: Path | None = None) -> None:
        """Write a checkpoint (rank 0); ``same_as`` names one just written with identical content (linked,
        not rewritten)."""
        path = (duplicate_checkpoint(same_as, self.out_dir / name) if same_as is not None
                else save_checkpoint(payload, self.out_dir / name))
        self.emit(Saved(path=path, step=self.progress.step))

    def _payload(self, averaged: dict | None = None) -> dict | None:
        """Everything sampling and an exact resume need (see charlstm.checkpoint), on rank 0; None on the
        others. With several processes every rank calls it at the same step: the state of all B streams and
        every rank's RNG are gathered. ``averaged``: the weights to keep as ``model`` (those trained then
        go in ``train_model``, beside the snapshots the average needs on resuming)."""
        state = self.world.gather_rows(self.state)
        rngs = self.world.gather_rng(rng_state())
        if not self.world.is_main:
            return None
        return {
            "model_config": self.model.config.to_dict(),
            "vocab": list(self.vocab.chars),
            "model": self.model.state_dict() if averaged is None else averaged,
            **({"train_model": self.model.state_dict(), "snapshots": list(self.snapshots)}
               if averaged is not None else {}),
            "train_config": self.config.to_dict(),
            "optimizer": self.optimizer.state_dict(),
            "progress": self.progress.to_dict(),
            "state": list(state),
            "rng": rngs[0],
            "rank_rng": rngs if self.world.distributed else None,
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "corpus": self.corpus.origin(),
        }


def adamw(params, config: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW, fused on CUDA (one kernel per parameter group). On a CPU the fused kernel saves about 1-3%
    of a 2 x 512 step but rounds differently from the loop implementation, which would make every seeded
    CPU run, the shipped memory models among them (benchmarks/make_pretrained.py), come out different
    from the runs recorded so far: the CPU keeps the loop."""
    return torch.optim.AdamW(params, lr=config.lr, betas=(0.9, config.beta2),
                             fused=True if device.type == "cuda" else None)


def parameter_groups(model: CharRNN, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on the weight matrices (embedding, recurrent, head), never on biases, so
    a deliberate initialisation (the forget-gate bias, chrono biases) is not pulled toward 0 over a run
    (as nanoGPT's ``configure_optimizers`` does). The decayed group comes first."""
    matrices = [p for p in model.parameters() if p.dim() >= 2]
    vectors = [p for p in model.parameters() if p.dim() < 2]
    return [{"params": matrices, "weight_decay": weight_decay}, {"params": vectors, "weight_decay": 0.0}]


def _id_map(corpus_vocab: Vocab, model_vocab: Vocab) -> torch.Tensor | None:
    """Corpus ids -> model ids, or None when they are the same vocabulary."""
    return None if corpus_vocab == model_vocab else corpus_vocab.ids_in(model_vocab)


def train(corpus: Corpus, out_dir: Path | str, *, model_config: dict | None = None,
          train_config: dict | None = None, resume: bool = False, init_from: Path | str | None = None,
          overwrite: bool = False,
          on_event: Callable[[Event], Any] | None = None, stop_event: threading.Event | None = None,
          world: World | None = None) -> Finished:
    """Train a model on ``corpus`` into ``out_dir``.

    ``model_config`` holds ModelConfig fields (``num_layers``, ``hidden_size``, ...) and ``train_config``
    TrainConfig fields (``max_steps``, ``lr``, ...), as dicts. With ``resume=True`` the run continues from
    ``out_dir/last.pt`` with its saved settings, except those given in ``train_config``; the architecture
    comes from the checkpoint. ``init_from`` starts from another run's weights (fine-tuning) with a fresh
    optimizer. A new run refuses a directory that already holds one unless ``overwrite``.

    Started by torchrun (``world``: from its environment by default), each process trains its share of the
    streams under DistributedDataParallel (see ``charlstm.distributed``); every rank reports Started,
    Stepped and Finished, rank 0 alone Evaluated and Saved.
    """
    if resume and init_from is not None:
        raise ConfigError("--resume and --init-from cannot be combined (resume continues this run; "
                          "--init-from starts a new one from another run's weights)")
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite cannot be combined (--resume continues the run in --out; "
                          "--overwrite replaces it with a new one)")
    model_options = checked_options(ModelConfig, model_config, "model")
    train_options = checked_options(TrainConfig, train_config, "training")
    out_dir = Path(out_dir)
    if resume:
        start, replaced = resumed_start(corpus, out_dir, model_options, train_options), []
    else:
        replaced = existing_run(out_dir, overwrite)  # refused unless overwrite, before any work
        start = (fine_tuned_start(corpus, Path(init_from), model_options, train_options) if init_from is not None
                 else fresh_start(corpus, model_options, train_options))
    world = world or world_from_env()
    return Trainer(corpus, out_dir, start, on_event or (lambda event: None), replaced, world).run(stop_event)
