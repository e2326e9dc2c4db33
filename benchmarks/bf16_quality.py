"""bf16 quality: validation loss of ``--precision bf16`` against fp32 at the same step count.

Trains the default model (2 x 512 LSTM, embedding 128, dropout 0.2) with the default settings (batch 32 x
100, AdamW, warm-up and cosine decay ending at the last step) on tiny-shakespeare with the last 10% held
out, the same seed and the same number of steps, once in fp32 and once in bf16. Each final model is scored
on the whole held-out part (``charlstm.evaluate.mean_loss``: 32 streams x 200, nats/char) in fp32, and the
bf16 run also under its own bf16 autocast (the loss the trainer reports). Goal (issue 8): the bf16 run's
validation loss within 2% of the fp32 run's. A step budget, not a time budget, so a busy or slow machine
changes how long this takes, never its result.

    python benchmarks/bf16_quality.py [--steps 300] [--threads N] [--corpus PATH]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from charlstm.checkpoint import load_model
from charlstm.corpus import prepare_corpus
from charlstm.evaluate import mean_loss
from charlstm.runtime import autocast, bf16_warning
from charlstm.train import train

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"
VAL_FRACTION = 0.1
GOAL = 0.02  # relative difference of the validation losses
SEED = 1337


def run(corpus, precision: str, steps: int, out_dir: Path) -> dict:
    """Train ``steps`` steps in ``precision``; the final model's held-out loss in fp32 and in its precision."""
    started = time.perf_counter()
    train(corpus, out_dir, train_config={"max_steps": steps, "eval_every": steps, "sample_length": 0, "seed": SEED,
                                   "device": "cpu", "precision": precision}, overwrite=True)
    seconds = time.perf_counter() - started
    model = load_model(out_dir / "last.pt", torch.device("cpu"))[0]
    fp32 = mean_loss(model, corpus.val)
    with autocast(precision, torch.device("cpu")):
        own = mean_loss(model, corpus.val)
    return {"fp32": fp32, "own": own, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300, help="training steps of each run (default: 300)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--corpus", default=str(SHAKESPEARE))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warning = bf16_warning(torch.device("cpu"))
    with tempfile.TemporaryDirectory() as tmp:
        corpus = prepare_corpus([args.corpus], data_dir=Path(tmp) / "data", val_fraction=VAL_FRACTION)
        print(f"corpus {corpus.name}: {len(corpus.train):,} train / {len(corpus.val):,} held-out chars; defaults "
              f"(2 x 512, batch 32 x 100), seed {SEED}, {args.steps} steps each; torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads", flush=True)
        if warning:
            print(f"warning: {warning}", flush=True)
        results = {}
        for precision in ("fp32", "bf16"):
            results[precision] = result = run(corpus, precision, args.steps, Path(tmp) / precision)
            print(f"{precision}: validation {result['fp32']:.4f} nats/char scored in fp32"
                  + (f", {result['own']:.4f} scored in bf16" if precision == "bf16" else "")
                  + f" ({result['seconds']:.0f} s of training)", flush=True)
    fp32, bf16 = results["fp32"]["fp32"], results["bf16"]["own"]
    difference = (bf16 - fp32) / fp32
    verdict = "PASS" if abs(difference) <= GOAL else "FAIL"
    print(f"bf16 / fp32 validation loss: {bf16:.4f} / {fp32:.4f} = {1 + difference:.4f} "
          f"({difference:+.2%}; goal within {GOAL:.0%}): {verdict}")
    print(f"bf16 run scored in fp32: {results['bf16']['fp32']:.4f} "
          f"({(results['bf16']['fp32'] - fp32) / fp32:+.2%} against the fp32 run)")


if __name__ == "__main__":
    main()
