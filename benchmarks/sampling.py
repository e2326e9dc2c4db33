"""Sampling speed: charlstm's sampler vs the loop anyone writes in five minutes, side by side in one run.

The reference is the naive loop: ``nn.LSTM`` called once per character under ``torch.no_grad``, softmax
with temperature, ``torch.multinomial``, one stream. Every figure is a ratio to it (or, for start-up, a
difference from ``python -c "import torch"``) measured in the same run, so a slow day changes the
chars/s but not the verdict. Model: 2 x 512 LSTM, embedding 128, the tiny-shakespeare vocabulary (65).

    python benchmarks/sampling.py [--rounds 3] [--probe]

The floor is the loop of the step's matrix products and nothing else (one stream: the recurrent product of
each layer, the input product of each layer above the first, the head; preallocated outputs, no
nonlinearity, no sampling): no sampler of this model computes a step faster, so charlstm's share of it is
what its own work costs. It is measured in fp32 and, on the bf16 copy of the model, in bf16.

Targets (issues 8 and 23): one stream >= 90% of the fp32 floor, in-process and through ``charlstm sample``
itself (output to a file; start-up removed by timing two lengths); with bf16 where the CPU multiplies it
natively, beyond the fp32 floor (>= 1.5x fp32 sampling); 64 streams x 1,000 characters (one batch) >= 25x
the naive loop; ``charlstm sample`` to its first character <= 0.5 s more than importing torch; with
``--probe``, ``charlstm probe pretrained:memory-lstm`` (the default suites) under a minute.
"""

from __future__ import annotations

import argparse
import copy
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
from charlstm.runtime import NATIVE_BF16_FLAGS, cast_for_inference, cpu_flags
from charlstm.sample import SamplingOptions, generate, sample_texts
from charlstm.vocab import Vocab
from reference import cpu_model

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


def floor_steps_per_second(model: CharRNN, steps: int) -> float:
    """The step's matrix products alone, in the model's dtype, in whichever layout of the matrices is
    faster here (row-major as nn.LSTM keeps them, or column-major): what no sampler of this model beats."""
    core, dtype = model.core, next(model.parameters()).dtype
    layers = range(CONFIG.num_layers)
    matrices = [getattr(core, f"weight_hh_l{layer}").detach() for layer in layers]
    matrices += [getattr(core, f"weight_ih_l{layer}").detach() for layer in layers[1:]]
    matrices.append(model.head.weight.detach())                       # each (out, in)
    vector = torch.ones(1, CONFIG.hidden_size, dtype=dtype)
    outputs = [torch.empty(1, m.size(0), dtype=dtype) for m in matrices]

    def rate(arranged: list[torch.Tensor], count: int) -> float:
        with torch.inference_mode():
            start = time.perf_counter()
            for _ in range(count):
                for matrix, out in zip(arranged, outputs):
                    torch.mm(vector, matrix, out=out)
            return count / (time.perf_counter() - start)

    layouts = [[m.t().contiguous() for m in matrices], [m.contiguous().t() for m in matrices]]  # column-, row-major
    fastest = max(layouts, key=lambda arranged: rate(arranged, 30))   # (one was 16x slower: a short trial)
    return rate(fastest, steps)


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


def cli_chars_per_second(checkpoint: Path, precision: str, short: int, long: int) -> float:
    """``charlstm sample`` writing to a file, its start-up (imports, loading, the prompt) removed by timing
    two lengths: (long - short) / (its time for long - its time for short)."""
    def seconds(length: int) -> float:
        command = [*CHARLSTM, "sample", str(checkpoint), "--length", str(length), "--seed", "1",
                   "--precision", precision]
        with tempfile.TemporaryFile() as out:
            start = time.perf_counter()
            subprocess.run(command, stdout=out, stderr=subprocess.DEVNULL, check=True)
            return time.perf_counter() - start
    return (long - short) / (seconds(long) - seconds(short))


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per figure (medians)")
    parser.add_argument("--probe", action="store_true", help="also time charlstm probe on the shipped model")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = CharRNN(CONFIG).eval()
    half = copy.deepcopy(model)
    cast_for_inference(half, "bf16")
    native = sorted(cpu_flags() & NATIVE_BF16_FLAGS)
    print(f"{cpu_model()}; native bf16: {', '.join(native) if native else 'no (bf16 is emulated here)'}")
    print(f"{CONFIG.num_layers} x {CONFIG.hidden_size} LSTM, vocabulary {len(VOCAB)}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    naive_chars_per_second(model, 50)  # warm-up: oneDNN primitives, allocator
    for each in (model, half):
        one_stream_chars_per_second(each, 200)
        floor_steps_per_second(each, 200)
    measures = {"naive": lambda: naive_chars_per_second(model, 600),
                "floor": lambda: floor_steps_per_second(model, 1500),
                "single": lambda: one_stream_chars_per_second(model, 3000),
                "floor bf16": lambda: floor_steps_per_second(half, 1500),
                "single bf16": lambda: one_stream_chars_per_second(half, 3000),
                "batch": lambda: batch_chars_per_second(model, 64, 1000),
                "batch bf16": lambda: batch_chars_per_second(half, 64, 1000)}
    runs = {name: [] for name in measures}
    for _ in range(args.rounds):   # alternating, so a change in the machine's load touches every figure
        for name, measure in measures.items():
            runs[name].append(measure())
    rate = {name: statistics.median(values) for name, values in runs.items()}
    floor = rate["floor"]
    print(f"{'naive loop, one stream (reference)':<46} {rate['naive']:>9,.0f} chars/s")
    print(f"{'floor: the matrix products alone, fp32':<46} {floor:>9,.0f} steps/s  {floor / rate['naive']:5.1f}x naive")
    share = rate["single"] / floor
    print(f"{'charlstm, one stream, fp32':<46} {rate['single']:>9,.0f} chars/s  {share:6.1%} of the fp32 floor "
          f"(goal >= 90%): {verdict(share >= 0.9)}")
    print(f"{'floor, bf16':<46} {rate['floor bf16']:>9,.0f} steps/s  {rate['floor bf16'] / floor:5.2f}x the fp32 floor")
    gain = rate["single bf16"] / rate["single"]
    goal = f"(goal >= 1.5x where native): {verdict(gain >= 1.5)}" if native else "(no native bf16: no goal here)"
    print(f"{'charlstm, one stream, bf16':<46} {rate['single bf16']:>9,.0f} chars/s  {gain:5.2f}x fp32 sampling, "
          f"{rate['single bf16'] / floor:6.1%} of the fp32 floor {goal}")
    batch = rate["batch"] / rate["naive"]
    print(f"{'charlstm, 64 streams x 1,000 chars, total':<46} {rate['batch']:>9,.0f} chars/s  {batch:5.1f}x naive "
          f"(goal >= 25x): {verdict(batch >= 25)}")
    print(f"{'charlstm, 64 streams x 1,000 chars, bf16':<46} {rate['batch bf16']:>9,.0f} chars/s  "
          f"{rate['batch bf16'] / rate['batch']:5.2f}x fp32 64 streams")

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
        print(f"{'charlstm sample, to the first character':<46} {first:9.2f} s; python -c 'import torch' "
              f"{imported:.2f} s: +{extra:.2f} s (goal <= 0.5 s): {verdict(extra <= 0.5)}")
        for precision in ("fp32", "bf16"):
            through = statistics.median(cli_chars_per_second(checkpoint, precision, 1000, 6000)
                                        for _ in range(args.rounds))
            figure = (f"{through / floor:6.1%} of the fp32 floor (goal >= 90%): {verdict(through / floor >= 0.9)}"
                      if precision == "fp32" else f"{through / rate['single']:5.2f}x in-process fp32")
            print(f"{'charlstm sample > file, ' + precision + ', start-up removed':<46} {through:>9,.0f} chars/s  {figure}")

    if args.probe:
        from reference import reference_second

        second = reference_second()
        seconds = {}
        for precision in ("fp32", "bf16"):
            start = time.perf_counter()
            subprocess.run([*CHARLSTM, "probe", "pretrained:memory-lstm", "--precision", precision], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            seconds[precision] = time.perf_counter() - start
        elapsed = seconds["fp32"]
        print(f"{'charlstm probe pretrained:memory-lstm':<46} {elapsed:9.1f} s = {elapsed / second:.1f} reference s "
              f"(goal < 60 s): {'PASS' if elapsed < 60 else 'FAIL'}")
        print(f"{'the same, --precision bf16':<46} {seconds['bf16']:9.1f} s: {elapsed / seconds['bf16']:.2f}x fp32 "
              f"(start-up included)")

if __name__ == "__main__":
    main()
