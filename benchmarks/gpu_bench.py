"""GPU benchmark (issue 12): one table of what charlstm does on a CUDA machine, each figure beside a plain
PyTorch reference measured in the same run.

Rows:

* ``train LxH``: training chars/s of charlstm's own loop (``charlstm.train.train``: fused AdamW, pinned
  windows, the carried state detached, gradient clipping, the loss read every step) for an L x H LSTM
  (embedding 128, dropout 0.2, batch 64 x 100 characters) at fp32, bf16 and fp16, timed from the Stepped
  events' ``elapsed`` and ``chars_seen`` between the end of the warm-up steps and the last step; beside it the
  plain ``nn.LSTM`` loop anyone writes (same shapes, AdamW, clipping, autocast and, for fp16, a gradient
  scaler; its windows already on the GPU), and their ratio. ``val loss`` is the run's validation loss
  (nats/char, as the trainer reports it, under the run's precision) after its fixed step budget (warm-up +
  timed steps), same seed and data at every precision.
* ``sample LxH, N streams``: charlstm's batched sampling (``sample_texts``: the Stepper, N seeds as rows of
  a batch, at most 256 rows at a time) against the naive loop (``nn.LSTM`` called once per character on all
  N streams, softmax, ``torch.multinomial``), chars/s summed over the streams.
* ``ddp``: where more than one GPU is present (or ``--ddp on``), the same run (2 x 512, dropout 0, so that
  only the arithmetic differs) by one process and by two through ``torchrun --standalone --nproc-per-node 2
  -m charlstm train``; their final validation losses should agree to about 1e-2.

    python benchmarks/gpu_bench.py                        # on a CUDA machine (about 2 minutes on an H200)
    python benchmarks/gpu_bench.py --device cpu --quick   # a dry run of every row on the CPU, tiny sizes

A row that fails prints its error in the row (the traceback after the table) and the next row runs; the
exit status is 1 if any row failed. Rows that cannot run here (fp16 off CUDA, DDP on one GPU) say why.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("charlstm") is None:   # a checkout not installed (the GPU machine's python3)
    sys.path.insert(0, str(ROOT))

from charlstm.config import ModelConfig  # noqa: E402
from charlstm.corpus import prepare_corpus  # noqa: E402
from charlstm.model import CharRNN  # noqa: E402
from charlstm.runtime import autocast  # noqa: E402
from charlstm.sample import SamplingOptions, sample_texts  # noqa: E402
from charlstm.train import Stepped, train  # noqa: E402

SHAKESPEARE = [ROOT.parent / "shared" / "data" / "tinyshakespeare.txt", ROOT / "shared" / "data" / "tinyshakespeare.txt"]
FALLBACK_CORPUS = "builtin:memory:size=1000000"
PRECISIONS = ("fp32", "bf16", "fp16")
TEMPERATURE = 0.8


@dataclass
class Plan:
    """Sizes and step budgets: the real run, or ``--quick`` (tiny, for a dry run on the CPU)."""
    sizes: list[tuple[int, int]]            # (layers, hidden) of the LSTMs
    embedding: int
    batch: int
    seq_len: int
    warmup: int
    steps: int
    streams: tuple[int, ...]
    sample_chars: int
    sample_sizes: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def make(cls, quick: bool, steps: int | None) -> "Plan":
        if quick:
            return cls(sizes=[(1, 64), (2, 128)], embedding=16, batch=8, seq_len=32, warmup=2,
                       steps=steps or 6, streams=(8, 32), sample_chars=40, sample_sizes=[(2, 128)])
        return cls(sizes=[(2, 512), (3, 1024)], embedding=128, batch=64, seq_len=100, warmup=20,
                   steps=steps or 150, streams=(64, 512), sample_chars=1000, sample_sizes=[(2, 512), (3, 1024)])

    def model(self, layers: int, hidden: int, dropout: float = 0.2) -> dict:
        return {"num_layers": layers, "hidden_size": hidden, "embedding_dim": self.embedding, "dropout": dropout}


class Skip(Exception):
    """A row that cannot run on this machine (not a failure): its message goes in the row."""


# ------------------------------------------------------------------------------------------- the table

COLUMNS = (("row", 34, "<"), ("prec", 5, "<"), ("charlstm c/s", 13, ">"), ("reference c/s", 13, ">"),
           ("ratio", 6, ">"), ("val loss", 8, ">"), ("note", 0, "<"))


class Table:
    def __init__(self):
        self.failures: list[tuple[str, str]] = []
        self.started = time.perf_counter()

    def header(self) -> None:
        line = "  ".join(f"{name:{align}{width}}" if width else name for name, width, align in COLUMNS)
        print(line)
        print("-" * len(line), flush=True)

    def row(self, name: str, precision: str, ours: float | None = None, reference: float | None = None,
            val_loss: float | None = None, note: str = "") -> None:
        ratio = f"{ours / reference:.2f}x" if ours and reference else "-"
        cells = (name, precision, f"{ours:,.0f}" if ours else "-", f"{reference:,.0f}" if reference else "-", ratio,
                 f"{val_loss:.4f}" if val_loss is not None else "-", note)
        print("  ".join(f"{cell:{align}{width}}" if width else cell for cell, (_, width, align) in zip(cells, COLUMNS)),
              flush=True)

    def measure(self, name: str, precision: str, work) -> None:
        """Run one row's ``work`` (returning row() keyword arguments); a failure or a Skip fills the row."""
        try:
            self.row(name, precision, **work())
        except Skip as reason:
            self.row(name, precision, note=str(reason))
        except Exception as error:  # noqa: BLE001: one row's failure must not stop the others
            message = " ".join(str(error).split())
            self.row(name, precision, note=f"ERROR {type(error).__name__}: {message[:90]}")
            self.failures.append((f"{name} {precision}", traceback.format_exc()))
        finally:
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


# ----------------------------------------------------------------------------------------- training

def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def check_precision_here(precision: str, device: torch.device) -> None:
    if precision == "fp16" and device.type != "cuda":
        raise Skip("needs CUDA")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise Skip("this GPU has no bf16")


def charlstm_training(corpus, plan: Plan, layers: int, hidden: int, precision: str, device: torch.device,
                      workdir: Path) -> tuple[float, float | None]:
    """(chars/s between the end of the warm-up and the last step, validation loss at the end)."""
    marks: dict[int, tuple[float, int]] = {}

    def on_event(event):
        if isinstance(event, Stepped):
            marks[event.step] = (event.elapsed, event.chars_seen)

    total = plan.warmup + plan.steps
    config = {"batch_size": plan.batch, "seq_len": plan.seq_len, "max_steps": total, "eval_every": 10**9,
              "sample_length": 0, "device": device.type, "seed": 0, "precision": precision}
    try:
        result = train(corpus, workdir, model_config=plan.model(layers, hidden), train_config=config, overwrite=True,
                       on_event=on_event)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)   # a 3 x 1024 run's last.pt is about 300 MB
    if result.step != total:
        raise RuntimeError(f"the run stopped at step {result.step} of {total} ({result.reason}: {result.message})")
    (t0, c0), (t1, c1) = marks[plan.warmup], marks[total]
    return (c1 - c0) / (t1 - t0), result.last_val_loss


def plain_training(corpus, plan: Plan, layers: int, hidden: int, precision: str, device: torch.device) -> float:
    """The loop people write by hand (word_language_model style), same shapes, optimiser and precision."""
    torch.manual_seed(0)
    vocab = len(corpus.vocab)
    embedding = nn.Embedding(vocab, plan.embedding).to(device)
    lstm = nn.LSTM(plan.embedding, hidden, layers, dropout=0.2 if layers > 1 else 0.0, batch_first=True).to(device)
    head = nn.Linear(hidden, vocab).to(device)
    params = [*embedding.parameters(), *lstm.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(params, lr=2e-3)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    ids = corpus.train.long()
    length = (len(ids) - 1) // plan.batch
    inputs = ids[:length * plan.batch].view(plan.batch, length).to(device)
    targets = ids[1:length * plan.batch + 1].view(plan.batch, length).to(device)
    windows = length // plan.seq_len
    state, start = None, 0.0
    for step in range(plan.warmup + plan.steps):
        if step == plan.warmup:
            sync(device)
            start = time.perf_counter()
        window = slice(step % windows * plan.seq_len, (step % windows + 1) * plan.seq_len)
        with autocast(precision, device):
            output, state = lstm(embedding(inputs[:, window]), state)
            loss = F.cross_entropy(head(output).reshape(-1, vocab).float(), targets[:, window].reshape(-1))
        state = tuple(s.detach().float() for s in state)
        optimizer.zero_grad(set_to_none=True)
        if scaler is None:
            loss.backward()
            nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(params, 1.0)
            scaler.step(optimizer)
            scaler.update()
        loss.item()
    sync(device)
    return plan.steps * plan.batch * plan.seq_len / (time.perf_counter() - start)


def training_row(corpus, plan: Plan, layers: int, hidden: int, precision: str, device: torch.device, workdir: Path):
    def work() -> dict:
        check_precision_here(precision, device)
        ours, val_loss = charlstm_training(corpus, plan, layers, hidden, precision, device, workdir)
        note = f"{plan.warmup}+{plan.steps} steps"
        try:
            reference = plain_training(corpus, plan, layers, hidden, precision, device)
        except Exception as error:  # noqa: BLE001: keep charlstm's figure when only the reference fails
            return {"ours": ours, "val_loss": val_loss,
                    "note": f"{note}; plain loop ERROR {type(error).__name__}: {' '.join(str(error).split())[:60]}"}
        return {"ours": ours, "reference": reference, "val_loss": val_loss, "note": note}
    return work


# ----------------------------------------------------------------------------------------- sampling

def naive_sampling(model: CharRNN, streams: int, chars: int, device: torch.device) -> float:
    """nn.LSTM called once per character on all streams: softmax with temperature, torch.multinomial."""
    generator = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        sync(device)
        start = time.perf_counter()
        ids, state, out = torch.zeros(streams, 1, dtype=torch.long, device=device), None, []
        for _ in range(chars):
            output, state = model.core(model.embedding(ids), state)
            probs = torch.softmax(model.head(output[:, -1]) / TEMPERATURE, dim=-1)
            ids = torch.multinomial(probs, 1, generator=generator)
            out.append(ids)
        torch.cat(out, dim=1).tolist()   # the texts reach the host, as charlstm's do
        return streams * chars / (time.perf_counter() - start)


def charlstm_sampling(model: CharRNN, vocab, streams: int, chars: int) -> float:
    start = time.perf_counter()
    texts = sample_texts(model, vocab, chars, options=SamplingOptions(temperature=TEMPERATURE), seeds=range(streams))
    elapsed = time.perf_counter() - start
    if len(texts) != streams or any(len(text) != chars for text in texts):
        raise RuntimeError(f"sample_texts returned {len(texts)} texts of lengths {sorted({len(t) for t in texts})}")
    return streams * chars / elapsed


def sampling_row(vocab, plan: Plan, layers: int, hidden: int, streams: int, device: torch.device):
    def work() -> dict:
        torch.manual_seed(0)
        model = CharRNN(ModelConfig(vocab_size=len(vocab), num_layers=layers, hidden_size=hidden,
                                    embedding_dim=plan.embedding, tie_weights=False)).to(device).eval()
        charlstm_sampling(model, vocab, min(streams, 64), 20)   # warm-up: kernels, allocator
        naive_sampling(model, min(streams, 64), 20, device)
        ours = charlstm_sampling(model, vocab, streams, plan.sample_chars)
        reference = naive_sampling(model, streams, plan.sample_chars, device)
        return {"ours": ours, "reference": reference, "note": f"{plan.sample_chars} chars/stream; ref: naive loop"}
    return work


# ---------------------------------------------------------------------------------------------- DDP

def ddp_rows(table: Table, corpus_spec: str, plan: Plan, device: torch.device, mode: str, workdir: Path,
             data_dir: Path, deadline: float) -> None:
    layers, hidden = plan.sizes[0]
    name = f"ddp {layers}x{hidden}"
    gpus = torch.cuda.device_count() if device.type == "cuda" else 0
    if mode == "off" or (mode == "auto" and gpus < 2):
        why = "off (--ddp off)" if mode == "off" else (f"needs > 1 GPU ({gpus} here)" if device.type == "cuda"
                                                        else "needs > 1 GPU (--ddp on runs it with gloo)")
        table.row(name, "fp32", note=why)
        return
    steps = plan.warmup + plan.steps
    common = ["train", corpus_spec, "--data-dir", str(data_dir), "--num-layers", str(layers), "--hidden-size",
              str(hidden), "--embedding-dim", str(plan.embedding), "--dropout", "0", "--batch-size", str(plan.batch),
              "--seq-len", str(plan.seq_len), "--max-steps", str(steps), "--eval-every", str(steps),
              "--sample-length", "0", "--seed", "0", "--device", device.type, "--quiet", "--overwrite"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.setdefault("OMP_NUM_THREADS", "1")
    launchers = {"1 process": [sys.executable, "-m", "charlstm"],
                 "torchrun 2 processes": [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                          "--nproc-per-node", "2", "-m", "charlstm"]}
    losses = {}
    for label, launcher in launchers.items():
        out = workdir / label.replace(" ", "-")

        def work(launcher=launcher, out=out, label=label) -> dict:
            left = deadline - time.perf_counter()
            if left < 20:
                raise Skip("skipped: out of the time budget")
            start = time.perf_counter()
            try:
                done = subprocess.run([*launcher, *common, "--out", str(out)], env=env, cwd=ROOT, capture_output=True,
                                      text=True, timeout=min(240, left))
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"still running after {min(240, left):.0f} s") from None
            wall = time.perf_counter() - start
            if done.returncode != 0:
                raise RuntimeError(f"exit {done.returncode}: " + (done.stderr or done.stdout).strip()[-1500:])
            record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
            losses[label] = record["val_loss"]
            note = f"dropout 0, {record['step']} steps, {wall:.0f} s with start-up"
            if len(losses) == 2:
                one, two = losses.values()
                note += f"; 2 - 1 process: {two - one:+.4f} ({'agree' if abs(two - one) < 0.02 else 'DIFFER'})"
            return {"ours": record["chars_seen"] / record["elapsed"], "val_loss": record["val_loss"], "note": note}

        table.measure(f"{name}, {label}", "fp32", work)
        shutil.rmtree(out, ignore_errors=True)


# --------------------------------------------------------------------------------------------- main

def describe_machine(device: torch.device) -> str:
    torch_line = f"torch {torch.__version__}, CUDA {torch.version.cuda or '-'}, cuDNN {torch.backends.cudnn.version() or '-'}"
    if device.type == "cuda":
        count = torch.cuda.device_count()
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(count))
        return (f"GPU: {names} ({count} device{'s' if count > 1 else ''}); {torch_line}; cuDNN TF32 for fp32: "
                f"{'on' if torch.backends.cudnn.allow_tf32 else 'off'} (PyTorch's default: on)")
    cpu = platform.processor() or "unknown CPU"
    try:
        cpu = next(line.partition(":")[2].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"no GPU used: {cpu}, {torch.get_num_threads()} threads; {torch_line}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"), help="where to run (default: cuda)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few steps (a dry run on the CPU)")
    parser.add_argument("--steps", type=int, default=None, help="timed training steps per run (default: 150; "
                                                                "--quick: 6), after the warm-up steps")
    parser.add_argument("--corpus", default=None, help="corpus path or builtin:... (default: tinyshakespeare from "
                                                        f"../shared/data, else {FALLBACK_CORPUS})")
    parser.add_argument("--ddp", choices=("auto", "on", "off"), default="auto",
                        help="the 1 vs 2 process rows: auto runs them when more than one GPU is present")
    parser.add_argument("--time-limit", type=float, default=240.0,
                        help="seconds after which the rows not yet started are skipped (default: 240)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_bench: no CUDA GPU is available (use --device cpu --quick for a dry run)", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    plan = Plan.make(args.quick, args.steps)
    shakespeare = next((path for path in SHAKESPEARE if path.exists()), None)
    corpus_spec = args.corpus or (str(shakespeare) if shakespeare else
                                  "builtin:memory:size=200k" if args.quick else FALLBACK_CORPUS)
    table = Table()
    deadline = table.started + args.time_limit
    with tempfile.TemporaryDirectory(prefix="gpu_bench-") as tmp:
        tmp = Path(tmp)
        corpus = prepare_corpus([corpus_spec], data_dir=tmp / "data")
        print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {describe_machine(device)}")
        print(f"corpus {corpus.name} ({corpus_spec}): {len(corpus.train):,} training / {len(corpus.val):,} validation "
              f"chars, vocabulary {len(corpus.vocab)}; LSTM embedding {plan.embedding}, dropout 0.2, batch "
              f"{plan.batch} x {plan.seq_len}; {plan.warmup} warm-up + {plan.steps} timed steps per run"
              + ("; --quick (tiny sizes: a dry run, not a measurement)" if args.quick else ""))
        print("reference c/s: train rows, the plain nn.LSTM loop; sample rows, the naive per-character loop; "
              "val loss in nats/char")
        print()
        table.header()

        def timed(name: str, precision: str, work) -> None:
            if time.perf_counter() > deadline:
                table.row(name, precision, note="skipped: out of the time budget (--time-limit)")
            else:
                table.measure(name, precision, work)

        for layers, hidden in plan.sizes:
            for precision in PRECISIONS:
                timed(f"train {layers}x{hidden}", precision,
                      training_row(corpus, plan, layers, hidden, precision, device, tmp / "run"))
        for layers, hidden in plan.sample_sizes:
            for streams in plan.streams:
                timed(f"sample {layers}x{hidden}, {streams} streams", "fp32",
                      sampling_row(corpus.vocab, plan, layers, hidden, streams, device))
        ddp_rows(table, corpus_spec, plan, device, args.ddp, tmp / "ddp", tmp / "data", deadline)
    print(f"\n{table.elapsed():.0f} s in all")
    for name, trace in table.failures:
        print(f"\n--- {name} failed:\n{trace}", file=sys.stderr)
    return 1 if table.failures else 0


if __name__ == "__main__":
    sys.exit(main())
