"""Training speed of every cell at the same parameter count, side by side with fused ``lstm`` in one run.

Each cell gets the hidden size whose parameter count is nearest the default 2 x 512 LSTM's on the corpus
(about 3.5 M on tiny-shakespeare; ``charlstm.compare.matched_sizes``), and trains with charlstm's trainer
at the default batch (32 x 100), embedding 128 and dropout 0.2. The runs alternate over rounds (a
different order each round) and the medians are compared. Goals: every custom cell >= 0.5x fused ``lstm``
(issue 10; the Grid LSTM too, issue 22), a cell with attention over its past >= 0.6x (issue 22).

    python benchmarks/cells.py [--steps 5] [--rounds 2] [--threads N] [--cells lstm,peephole,...]
    python benchmarks/cells.py --cells lstm,lstm+attention,grid --attention-memory 100
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from charlstm.compare import WITH_ATTENTION, matched_sizes, model_options, parse_cells
from charlstm.config import CELLS, ModelConfig
from charlstm.corpus import prepare_corpus
from charlstm.train import Stepped, train

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"
MODEL = {"num_layers": 2, "hidden_size": 512, "embedding_dim": 128, "dropout": 0.2}
BATCH, SEQ, WARMUP = 32, 100, 2
GOAL, ATTENTION_GOAL = 0.5, 0.6


def speed(corpus, model: dict, steps: int, workdir: Path) -> float:
    """Characters/second between the end of warm-up and the last step (no evaluation in between)."""
    marks: dict[int, float] = {}

    def on_event(event):
        if isinstance(event, Stepped):
            marks[event.step] = time.perf_counter()

    config = {"batch_size": BATCH, "seq_len": SEQ, "max_steps": WARMUP + steps, "eval_every": 10**9,
              "sample_length": 0, "device": "cpu", "seed": 0}
    train(corpus, workdir, model_config=model, train_config=config, overwrite=True, on_event=on_event)
    return steps * BATCH * SEQ / (marks[WARMUP + steps] - marks[WARMUP])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--cells", default=",".join(CELLS), help="comma-separated, lstm first; CELL+attention "
                                                                   "for a cell with attention over its past")
    parser.add_argument("--attention-memory", type=int, default=100, help="M of the +attention entries")
    parser.add_argument("--attention-kind", default="softmax", help="softmax or stick-breaking")
    parser.add_argument("--corpus", default=str(SHAKESPEARE) if SHAKESPEARE.exists() else "builtin:memory")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cells = parse_cells(args.cells)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = prepare_corpus([args.corpus], data_dir=Path(tmp) / "data")
        base = ModelConfig(vocab_size=len(corpus.vocab), cell=cells[0].removesuffix(WITH_ATTENTION), **MODEL,
                           attention_memory=args.attention_memory, attention_kind=args.attention_kind)
        plan = matched_sizes(cells, base)
        print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads; corpus {corpus.name}; batch {BATCH} x seq {SEQ}; "
              f"{args.steps} timed steps per run, {args.rounds} rounds")
        results: dict[str, list[float]] = {cell: [] for cell in cells}
        for round_ in range(args.rounds):
            shift = round_ % len(plan)
            for cell, hidden, _ in plan[shift:] + plan[:shift]:
                model = model_options(base, cell, hidden)
                results[cell].append(speed(corpus, model, args.steps, Path(tmp) / cell))
    reference = statistics.median(results[cells[0]])
    print(f"{'cell':<15} {'hidden':>6} {'parameters':>11} {'chars/s':>9} {'vs ' + cells[0]:>9}")
    failed = []
    for cell, hidden, parameters in plan:
        rate = statistics.median(results[cell])
        ratio = rate / reference
        goal = ATTENTION_GOAL if cell.endswith(WITH_ATTENTION) else GOAL
        verdict = "" if cell == cells[0] else (f"  PASS (>= {goal}x)" if ratio >= goal else f"  FAIL (< {goal}x)")
        if "FAIL" in verdict:
            failed.append(cell)
        print(f"{cell:<15} {hidden:>6} {parameters:>11,} {rate:>9,.0f} {ratio:>8.2f}x{verdict}")
    attention = f", with {args.attention_kind} attention (M = {args.attention_memory}) >= {ATTENTION_GOAL}x" if any(
        cell.endswith(WITH_ATTENTION) for cell in cells) else ""
    print(f"goal: every cell >= {GOAL}x {cells[0]}{attention}: " + ("met" if not failed else f"not met ({', '.join(failed)})"))


if __name__ == "__main__":
    main()
