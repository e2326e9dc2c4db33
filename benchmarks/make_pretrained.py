"""Re-create the models that ship with charlstm (``pretrained:memory-lstm``, ``pretrained:memory-rnn``).

Both are trained exactly as ``charlstm train --recipe memory`` (and ``--cell rnn``) trains them, with the
recipe's own seed, then exported without their optimizer state into ``charlstm/pretrained/``. The shipped
LSTM is therefore one of the ten runs of ``benchmarks/memory_recipes.py`` (the recipe's default seed), not a
run chosen for its luck. On the CPU a run is deterministic for its seed and, on some CPUs, the thread count
(oneDNN splits its sums by thread): each file's weights hash is printed, to compare with the ten-run table.
Then ``benchmarks/shipped_model.py`` measures again every figure the docs quote about the shipped LSTM.

    python benchmarks/make_pretrained.py                                  # train both (about half an hour on 2 cores)
    python benchmarks/make_pretrained.py --lstm runs/memory-3 --rnn runs/rnn-3   # export runs already made
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from charlstm import recipes
from charlstm.checkpoint import export_model, load_model
from charlstm.corpus import prepare_corpus
from charlstm.probes.cue_swap import language_probe, run_cue_swap, unseen_filler
from charlstm.train import train
from memory_recipes import weights_hash

SHIPPED = Path(__file__).resolve().parents[1] / "charlstm" / "pretrained"
CELLS = {"memory-lstm": "lstm", "memory-rnn": "rnn"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lstm", type=Path, help="a run directory of the recipe (--cell lstm) to export")
    parser.add_argument("--rnn", type=Path, help="a run directory of the recipe with --cell rnn to export")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    given = {"memory-lstm": args.lstm, "memory-rnn": args.rnn}
    with tempfile.TemporaryDirectory() as tmp:
        for name, cell in CELLS.items():
            run = given[name]
            if run is None:
                run = Path(tmp) / name
                corpus = prepare_corpus([recipes.MEMORY_CORPUS], data_dir=Path(tmp) / "data")
                train(corpus, run, model_config={**recipes.MEMORY_MODEL, "cell": cell},
                      train_config={**recipes.MEMORY_TRAIN, "device": "cpu", "sample_length": 0})
            path = export_model(run, SHIPPED / f"{name}.pt")
            model, vocab, _, _ = load_model(path)
            report = run_cue_swap(model, vocab, language_probe(filler=unseen_filler))
            rows = "  ".join(f"{row.distance}: {row.accuracy:.0%}" for row in report.rows)
            print(f"{path} ({path.stat().st_size / 1e6:.2f} MB) from {run} (weights of last.pt "
                  f"{weights_hash(run)}), unseen filler: {rows}")


if __name__ == "__main__":
    main()
