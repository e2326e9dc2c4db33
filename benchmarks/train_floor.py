"""What limits a small-batch training step on a CPU: the LSTM layers against the floor of their products.

The 600-second recipe (``shakespeare-10min``: 2 x 512, dropout 0.2, 8 streams x 100 characters) trains
slower per character than 32 streams do, most of all on an Intel Xeon, and that speed sets its step budget.
This script shows where a step's time goes, for each batch size asked:

- **floor**: the layers' matrix products and nothing else, per window: the input projection and the three
  gradient products (dW_ih, dW_hh, dX: one large product each over all T x B rows), and the recurrence's
  T small products forward (h by W_hh) and T backward (the gates' gradient by W_hh transposed), each in
  the faster of the two matrix layouts, outputs preallocated. The pointwise gate arithmetic is left out.
- **layers**: the same two layers as charlstm trains them (one ``nn.LSTM`` per layer, oneDNN's kernels),
  forward and backward over one window;
- **step**: charlstm's whole training step (``charlstm.train``: embedding, dropout, head, loss, clipping,
  AdamW), timed as ``quality.py`` times a setting's training;
- AdamW's update alone, the loop implementation charlstm uses on a CPU and the fused kernel.

Per character, so batch sizes compare: at 8 streams the recurrence reads all of W_hh (4 MB per layer at
512) for 8 rows a step. Rounds alternate and medians are printed; run it alone.

    python benchmarks/train_floor.py [--batches 8,32] [--rounds 5] [--threads N] [--corpus TEXT]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from charlstm import recipes
from charlstm.config import ModelConfig, TrainConfig
from charlstm.corpus import prepare_corpus
from charlstm.model import CharRNN
from charlstm.train import adamw, parameter_groups
from quality import candidate_chars_per_second
from reference import machine

RECIPE = recipes.get_recipe("shakespeare-10min")
SEQ = RECIPE.train["seq_len"]


def _median_ms(run, repeats: int = 3) -> float:
    run()   # warm-up: first-call allocations, oneDNN primitive creation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def layer_shapes() -> list[tuple[int, int]]:
    """(input width, hidden size) of each layer of the recipe's model."""
    model = RECIPE.model
    hidden = model["hidden_size"]
    return [(model["embedding_dim"] if layer == 0 else hidden, hidden) for layer in range(model["num_layers"])]


def floor_ms(batch: int) -> float:
    """The layers' matrix products alone for one window (see the module docstring)."""
    total = 0.0
    for inputs, hidden in layer_shapes():
        rows = SEQ * batch
        x, states, gates_all = torch.randn(rows, inputs), torch.randn(rows, hidden), torch.randn(rows, 4 * hidden)
        w_ih, w_hh = torch.randn(inputs, 4 * hidden) * 0.05, torch.randn(hidden, 4 * hidden) * 0.05
        h, gates = torch.randn(batch, hidden), torch.randn(batch, 4 * hidden)
        out_gates, out_h = torch.empty(batch, 4 * hidden), torch.empty(batch, hidden)
        total += sum(_median_ms(run) for run in (lambda: x @ w_ih,             # input projection
                                                 lambda: x.t() @ gates_all,    # dW_ih
                                                 lambda: states.t() @ gates_all,   # dW_hh
                                                 lambda: gates_all @ w_ih.t()))    # dX
        # The recurrence, T products each way, in whichever layout of W_hh is faster for it (forward h @ W
        # and backward g @ W^T prefer opposite ones), as a tuned kernel would choose.
        layouts = (w_hh, w_hh.t().contiguous().t())
        total += min(_median_ms(lambda: [torch.mm(h, w, out=out_gates) for _ in range(SEQ)]) for w in layouts)
        total += min(_median_ms(lambda: [torch.mm(gates, w.t(), out=out_h) for _ in range(SEQ)]) for w in layouts)
    return total


def layers_ms(batch: int) -> float:
    """The recipe's LSTM layers as charlstm runs them (one nn.LSTM each), forward and backward, one window."""
    torch.manual_seed(0)
    layers = [nn.LSTM(inputs, hidden) for inputs, hidden in layer_shapes()]
    x = torch.randn(SEQ, batch, layer_shapes()[0][0], requires_grad=True)

    def window():
        output = x
        for layer in layers:
            output, _ = layer(output)
        output.sum().backward()

    return _median_ms(window)


def step_ms(batch: int, corpus, workdir: Path) -> float:
    """charlstm's training step for the recipe at this batch size (quality.py's timing of the trainer)."""
    config = {**RECIPE.train, "batch_size": batch}
    return batch * SEQ / candidate_chars_per_second(corpus, RECIPE.model, config, workdir) * 1000


def optimizer_ms(fused: bool) -> float:
    """One AdamW update of the recipe's parameters (gradients present)."""
    model = CharRNN(ModelConfig(vocab_size=65, **RECIPE.model))
    for parameter in model.parameters():
        parameter.grad = torch.randn_like(parameter)
    if fused:
        optimizer = torch.optim.AdamW(parameter_groups(model, 0.1), fused=True)
    else:
        optimizer = adamw(parameter_groups(model, 0.1), TrainConfig(), torch.device("cpu"))
    return _median_ms(lambda: [optimizer.step() for _ in range(5)]) / 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", default="8,32", help="batch sizes, comma-separated (default 8,32)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--corpus", default="builtin:memory:size=200000", help="text to train the timed steps on")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batches.split(",")]
    times = {(part, b): [] for part in ("floor", "layers", "step") for b in batches}
    optimizer = {"loop": [], "fused": []}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = prepare_corpus([args.corpus], data_dir=Path(tmp) / "data")
        parts = {"floor": floor_ms, "layers": layers_ms, "step": lambda b: step_ms(b, corpus, Path(tmp) / "run")}
        model = RECIPE.model
        print(f"{machine()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
        print(f"{model['num_layers']} x {model['hidden_size']} LSTM (embedding {model['embedding_dim']}, dropout "
              f"{model['dropout']}), {SEQ} characters a window; medians of {args.rounds} alternating rounds")
        for round_ in range(args.rounds):
            order = [(part, b) for b in batches for part in parts]
            for part, b in order if round_ % 2 == 0 else reversed(order):
                times[part, b].append(parts[part](b))
            for kind in (("loop", "fused") if round_ % 2 == 0 else ("fused", "loop")):
                optimizer[kind].append(optimizer_ms(kind == "fused"))
    median = {key: statistics.median(values) for key, values in times.items()}
    print(f"{'batch':>5} {'floor':>16} {'layers (oneDNN)':>18} {'charlstm step':>16} {'floor/layers':>13} "
          f"{'layers/step':>12}")
    for b in batches:
        floor, layers, step = median["floor", b], median["layers", b], median["step", b]
        per_char = 1000 / (b * SEQ)   # ms a window -> us a character
        print(f"{b:>5} {floor:7.1f} ms {floor * per_char:4.1f} us {layers:8.1f} ms {layers * per_char:4.1f} us "
              f"{step:7.1f} ms {step * per_char:4.1f} us {floor / layers:12.0%} {layers / step:12.0%}")
    loop, fused = statistics.median(optimizer["loop"]), statistics.median(optimizer["fused"])
    print(f"AdamW update, {sum(p.numel() for p in CharRNN(ModelConfig(vocab_size=65, **model)).parameters()):,} "
          f"parameters: loop {loop:.1f} ms ({loop / median['step', batches[0]]:.0%} of a B {batches[0]} step), "
          f"fused {fused:.1f} ms")


if __name__ == "__main__":
    main()
