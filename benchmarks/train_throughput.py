"""Training throughput: charlstm's trainer vs a plain nn.LSTM TBPTT loop, side by side in one run.

Both train the same network shape (embedding 128 -> 2 x 512 LSTM -> linear head) on the same corpus
with the same batch (64 streams x 100 characters), AdamW, gradient clipping and the state carried and
detached between windows. The runs alternate (ours, plain, ours, plain, ...) so machine noise hits both,
and the median of each is compared. Goal: ours >= 0.95 x plain.

    python benchmarks/train_throughput.py [--steps 20] [--rounds 3] [--corpus PATH]
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
from charlstm.train import Stepped, train

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"
MODEL = {"num_layers": 2, "hidden_size": 512, "embedding_dim": 128, "dropout": 0.2}
BATCH, SEQ, WARMUP = 64, 100, 3


def ours(corpus, steps: int, workdir: Path) -> float:
    """Characters/second of charlstm.train between the end of warm-up and the last step."""
    marks: dict[int, float] = {}

    def on_event(event):
        if isinstance(event, Stepped):
            marks[event.step] = time.perf_counter()

    config = {"batch_size": BATCH, "seq_len": SEQ, "max_steps": WARMUP + steps, "eval_every": 10**9,
              "sample_length": 0, "device": "cpu", "seed": 0}
    train(corpus, workdir, model=MODEL, config=config, overwrite=True, on_event=on_event)
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
    parser.add_argument("--corpus", default=str(SHAKESPEARE) if SHAKESPEARE.exists() else "builtin:memory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = prepare_corpus([args.corpus], out_dir=Path(tmp) / "data")
        print(f"corpus {corpus.name}: {len(corpus.train):,} chars; model {MODEL}; batch {BATCH} x seq {SEQ}; "
              f"torch {torch.__version__}, {torch.get_num_threads()} threads")
        results = {"charlstm": [], "plain": []}
        for round_ in range(args.rounds):
            # Alternate which goes first, so neither always gets the warmer caches.
            order = ["charlstm", "plain"] if round_ % 2 == 0 else ["plain", "charlstm"]
            for name in order:
                speed = ours(corpus, args.steps, Path(tmp) / "run") if name == "charlstm" else plain(corpus, args.steps)
                results[name].append(speed)
            print(f"round {round_ + 1}: charlstm {results['charlstm'][-1]:,.0f} chars/s, "
                  f"plain {results['plain'][-1]:,.0f} chars/s")
    ours_median = statistics.median(results["charlstm"])
    plain_median = statistics.median(results["plain"])
    ratio = ours_median / plain_median
    print(f"median: charlstm {ours_median:,.0f} chars/s, plain nn.LSTM loop {plain_median:,.0f} chars/s")
    print(f"ratio charlstm / plain = {ratio:.3f} (goal >= 0.95): {'PASS' if ratio >= 0.95 else 'FAIL'}")


if __name__ == "__main__":
    main()
