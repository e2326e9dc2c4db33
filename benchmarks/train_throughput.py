"""Training throughput: charlstm's trainer (fp32 and bf16) vs a plain nn.LSTM TBPTT loop, side by side in one run.

All train the same network shape (embedding 128 -> 2 x 512 LSTM, dropout 0.2 -> linear head) on the same
corpus with the same batch (64 streams x 100 characters), AdamW, gradient clipping and the state carried
and detached between windows. The runs alternate (each round in a different order) so machine noise hits
all of them, and the medians are compared. Goals (issue 8): charlstm fp32 >= 1.0 x plain, and charlstm
``--precision bf16`` >= 1.5 x charlstm fp32 (a CPU without native bf16, AVX-512 BF16 or AMX, only emulates
it: there bf16 is expected to be slower, and the script says so).

    python benchmarks/train_throughput.py [--steps 20] [--rounds 4] [--no-bf16] [--threads N] [--corpus PATH]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from charlstm.corpus import prepare_corpus
from charlstm.runtime import bf16_warning
from charlstm.train import Stepped, train
from reference import cpu_model

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"
MODEL = {"num_layers": 2, "hidden_size": 512, "embedding_dim": 128, "dropout": 0.2}
BATCH, SEQ, WARMUP = 64, 100, 3
FP32_GOAL, BF16_GOAL = 1.0, 1.5


def ours(corpus, steps: int, workdir: Path, precision: str = "fp32") -> float:
    """Characters/second of charlstm.train between the end of warm-up and the last step."""
    marks: dict[int, float] = {}

    def on_event(event):
        if isinstance(event, Stepped):
            marks[event.step] = time.perf_counter()

    config = {"batch_size": BATCH, "seq_len": SEQ, "max_steps": WARMUP + steps, "eval_every": 10**9,
              "sample_length": 0, "device": "cpu", "seed": 0, "precision": precision}
    train(corpus, workdir, model_config=MODEL, train_config=config, overwrite=True, on_event=on_event)
    return steps * BATCH * SEQ / (marks[WARMUP + steps] - marks[WARMUP])


def plain(corpus, steps: int) -> float:
    """The loop people write by hand (word_language_model style), same shapes and optimiser."""
    torch.manual_seed(0)
    vocab = len(corpus.vocab)
    embedding = nn.Embedding(vocab, MODEL["embedding_dim"])
    lstm = nn.LSTM(MODEL["embedding_dim"], MODEL["hidden_size"], MODEL["num_layers"], dropout=MODEL["dropout"],
                   batch_first=True)
    head = nn.Linear(MODEL["hidden_size"], vocab)
    params = [*embedding.parameters(), *lstm.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(params, lr=2e-3)
    ids = corpus.train.long()
    length = (len(ids) - 1) // BATCH
    inputs = ids[:length * BATCH].view(BATCH, length)
    targets = ids[1:length * BATCH + 1].view(BATCH, length)
    state = None
    start = None
    for step in range(WARMUP + steps):
        if step == WARMUP:
            start = time.perf_counter()
        x = inputs[:, step * SEQ:(step + 1) * SEQ]
        y = targets[:, step * SEQ:(step + 1) * SEQ]
        output, state = lstm(embedding(x), state)
        state = tuple(s.detach() for s in state)
        loss = F.cross_entropy(head(output).reshape(-1, vocab), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        loss.item()
    return steps * BATCH * SEQ / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per run")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds")
    parser.add_argument("--no-bf16", dest="bf16", action="store_false", help="skip charlstm --precision bf16")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's; 1 is the "
                                                                   "steadier measure on a busy machine)")
    parser.add_argument("--corpus", default=str(SHAKESPEARE) if SHAKESPEARE.exists() else "builtin:memory")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    contenders = {"plain": lambda corpus, run: plain(corpus, args.steps),
                  "charlstm fp32": lambda corpus, run: ours(corpus, args.steps, run),
                  "charlstm bf16": lambda corpus, run: ours(corpus, args.steps, run, "bf16")}
    if not args.bf16:
        del contenders["charlstm bf16"]
    names = list(contenders)
    results = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = prepare_corpus([args.corpus], data_dir=Path(tmp) / "data")
        print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {cpu_model()}; torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads")
        print(f"corpus {corpus.name}: {len(corpus.train):,} chars; model {MODEL}; batch {BATCH} x seq {SEQ}; "
              f"{args.steps} timed steps per run, {args.rounds} rounds")
        if args.bf16 and (warning := bf16_warning(torch.device("cpu"))):
            print(f"warning: {warning}")
        for round_ in range(args.rounds):
            # A different order each round, so none always runs first (warmer caches) or last.
            shift = round_ % len(names)
            order = names[shift:] + names[:shift]
            if round_ // len(names) % 2:
                order.reverse()
            for name in order:
                results[name].append(contenders[name](corpus, Path(tmp) / "run"))
            print(f"round {round_ + 1}: " + ", ".join(f"{name} {results[name][-1]:,.0f}" for name in order)
                  + " chars/s", flush=True)
    medians = {name: statistics.median(results[name]) for name in names}
    print("median chars/s: " + ", ".join(f"{name} {medians[name]:,.0f}" for name in names))
    ratio = medians["charlstm fp32"] / medians["plain"]
    print(f"charlstm fp32 / plain = {ratio:.3f} (goal >= {FP32_GOAL}): {'PASS' if ratio >= FP32_GOAL else 'FAIL'}")
    if args.bf16:
        ratio = medians["charlstm bf16"] / medians["charlstm fp32"]
        print(f"charlstm bf16 / fp32 = {ratio:.3f} (goal >= {BF16_GOAL}): {'PASS' if ratio >= BF16_GOAL else 'FAIL'}"
              + (" (bf16 is emulated on this CPU)" if bf16_warning(torch.device("cpu")) else ""))


if __name__ == "__main__":
    main()
