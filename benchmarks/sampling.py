"""Sampling speed: charlstm's sampler vs the loop anyone writes in five minutes, side by side in one run.

The reference is the naive loop: ``nn.LSTM`` called once per character under ``torch.no_grad``, softmax
with temperature, ``torch.multinomial``, one stream. Every figure is a ratio to it (or, for start-up, a
difference from ``python -c "import torch"``) measured in the same run, so a slow day changes the
chars/s but not the verdict. Model: 2 x 512 LSTM, embedding 128, the tiny-shakespeare vocabulary (65).

    python benchmarks/sampling.py [--rounds 3] [--probe]

Targets (issue 8): one stream >= 6x the naive loop; 64 streams x 1,000 characters (one batch) >= 25x;
``charlstm sample`` to its first character <= 0.5 s more than importing torch; with ``--probe``,
``charlstm probe pretrained:memory-lstm`` (the default suites) under a minute.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from charlstm.checkpoint import save_checkpoint
from charlstm.config import ModelConfig
from charlstm.model import CharRNN
from charlstm.sample import SamplingOptions, generate, sample_texts
from charlstm.vocab import Vocab

VOCAB = Vocab(sorted(set("\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")))
CONFIG = ModelConfig(vocab_size=len(VOCAB), num_layers=2, hidden_size=512, embedding_dim=128)
TEMPERATURE = 0.8
CHARLSTM = [sys.executable, "-m", "charlstm"]


def naive_chars_per_second(model: CharRNN, chars: int) -> float:
    """The hand-written loop: the fused core called once per character."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        start = time.perf_counter()
        ids, state = torch.tensor([[0]]), None
        for _ in range(chars):
            output, state = model.core(model.embedding(ids), state)
            probs = torch.softmax(model.head(output[0, -1]) / TEMPERATURE, dim=-1)
            ids = torch.tensor([[int(torch.multinomial(probs, 1, generator=generator))]])
        return chars / (time.perf_counter() - start)


def one_stream_chars_per_second(model: CharRNN, chars: int) -> float:
    start = time.perf_counter()
    for _ in generate(model, VOCAB, chars, options=SamplingOptions(temperature=TEMPERATURE), seed=0):
        pass
    return chars / (time.perf_counter() - start)


def batch_chars_per_second(model: CharRNN, streams: int, chars: int) -> float:
    start = time.perf_counter()
    sample_texts(model, VOCAB, chars, options=SamplingOptions(temperature=TEMPERATURE), seeds=range(streams))
    return streams * chars / (time.perf_counter() - start)


def seconds_to_first_byte(command: list[str]) -> float:
    """Wall time from starting ``command`` to the first byte on its stdout (or its exit, if it prints none)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    process.stdout.read(1)
    elapsed = time.perf_counter() - start
    process.stdout.close()
    process.wait()
    return elapsed


def median_of(runs: int, measure) -> float:
    return statistics.median(measure() for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per figure (medians)")
    parser.add_argument("--probe", action="store_true", help="also time charlstm probe on the shipped model")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = CharRNN(CONFIG).eval()
    print(f"{CONFIG.num_layers} x {CONFIG.hidden_size} LSTM, vocabulary {len(VOCAB)}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    naive_chars_per_second(model, 50)  # warm-up: oneDNN primitives, allocator
    one_stream_chars_per_second(model, 200)
    naive, single, batch = [], [], []
    for _ in range(args.rounds):
        naive.append(naive_chars_per_second(model, 600))
        single.append(one_stream_chars_per_second(model, 3000))
        batch.append(batch_chars_per_second(model, 64, 1000))
    naive_rate, single_rate, batch_rate = map(statistics.median, (naive, single, batch))
    rows = [("naive loop, one stream (reference)", naive_rate, None),
            ("charlstm, one stream", single_rate, 6.0),
            ("charlstm, 64 streams x 1,000 chars, total", batch_rate, 25.0)]
    for name, rate, goal in rows:
        verdict = "" if goal is None else (f"  {rate / naive_rate:5.1f}x (goal >= {goal:g}x): "
                                           f"{'PASS' if rate / naive_rate >= goal else 'FAIL'}")
        print(f"{name:<44} {rate:>9,.0f} chars/s{verdict}")

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "model.pt"
        save_checkpoint({"model_config": CONFIG.to_dict(), "vocab": list(VOCAB.chars), "model": model.state_dict()},
                        checkpoint)
        sample = [*CHARLSTM, "sample", str(checkpoint), "--length", "200", "--seed", "1"]
        import_torch = [sys.executable, "-c", "import torch"]
        seconds_to_first_byte(sample)  # warm the file cache
        firsts, imports = [], []
        for _ in range(max(args.rounds, 5)):
            firsts.append(seconds_to_first_byte(sample))
            imports.append(seconds_to_first_byte(import_torch))
        first, imported = statistics.median(firsts), statistics.median(imports)
        extra = first - imported
        print(f"{'charlstm sample, to the first character':<44} {first:9.2f} s; python -c 'import torch' "
              f"{imported:.2f} s: +{extra:.2f} s (goal <= 0.5 s): {'PASS' if extra <= 0.5 else 'FAIL'}")

    if args.probe:
        from reference import reference_second

        second = reference_second()
        start = time.perf_counter()
        subprocess.run([*CHARLSTM, "probe", "pretrained:memory-lstm"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        elapsed = time.perf_counter() - start
        print(f"{'charlstm probe pretrained:memory-lstm':<44} {elapsed:9.1f} s = {elapsed / second:.1f} reference s "
              f"(goal < 60 s): {'PASS' if elapsed < 60 else 'FAIL'}")


if __name__ == "__main__":
    main()
