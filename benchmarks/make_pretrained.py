"""Re-create the models that ship with charlstm (``pretrained:memory-lstm``, ``pretrained:memory-rnn``).

Both are trained by the memory recipe exactly as ``charlstm train --recipe memory`` (and ``--cell rnn``)
trains them, then exported without their optimizer state into ``charlstm/pretrained/``. On the CPU a
run is deterministic for the recipe's seed *and the number of threads* (oneDNN splits its sums by
thread), so this trains on one thread, as the shipped files were, and reproduces their weights.

    python benchmarks/make_pretrained.py                      # train both (about 20 + 10 minutes)
    python benchmarks/make_pretrained.py --from runs/         # export runs already trained by the recipe
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

SHIPPED = Path(__file__).resolve().parents[1] / "charlstm" / "pretrained"
CELLS = {"memory-lstm": "lstm", "memory-rnn": "rnn"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="runs", type=Path,
                        help="a folder holding run directories named memory-lstm and memory-rnn to export")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the shipped files: 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        runs = args.runs or Path(tmp)
        for name, cell in CELLS.items():
            if args.runs is None:
                corpus = prepare_corpus([recipes.MEMORY_CORPUS], data_dir=runs / "data")
                train(corpus, runs / name, model_config={**recipes.MEMORY_MODEL, "cell": cell},
                      train_config={**recipes.MEMORY_TRAIN, "device": "cpu", "sample_length": 0})
            path = export_model(runs / name, SHIPPED / f"{name}.pt")
            model, vocab, _, _ = load_model(path)
            report = run_cue_swap(model, vocab, language_probe(filler=unseen_filler))
            rows = "  ".join(f"{row.distance}: {row.accuracy:.0%}" for row in report.rows)
            print(f"{path} ({path.stat().st_size / 1e6:.2f} MB), unseen filler: {rows}")


if __name__ == "__main__":
    main()
