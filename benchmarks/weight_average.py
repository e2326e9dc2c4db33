"""Does an average of the last weights help? A recipe trained on a tuning split, scored with its final
weights and with exponential moving averages (EMA) of them, from the same run.

Tuning split (issue 23: settings are never chosen on the held-out 10%): the first 90% of tiny-shakespeare,
its last ninth (the 10% of the text before the held-out 10%) as validation; the held-out 10% is not read.
``--split head`` validates on the first tenth of the text instead and trains on the 80% between: other
plays, and none of them next to the text a run reads last.
Each EMA is updated after every optimizer step (an ``Optimizer.register_step_post_hook``), so one run
scores every decay; training itself is the recipe's, unchanged.

    python benchmarks/weight_average.py --seeds 1,2                       # shakespeare-1min as it stands
    python benchmarks/weight_average.py --seeds 1,2 --set min_lr_ratio=0  # one training setting changed
    python benchmarks/weight_average.py --table benchmarks/tuning_runs.jsonl  # the rows kept, as Markdown
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

import charlstm.train as training
from charlstm import recipes
from charlstm.checkpoint import load_model
from charlstm.corpus import prepare_corpus
from charlstm.evaluate import mean_loss
from quality import FEW_STREAMS, SHAKESPEARE, parse_settings
from reference import machine

DECAYS = (0.99, 0.995, 0.998, 0.999)


SPLITS = ("tail", "head")


def tuning_corpus(text: str, workdir: Path, split: str = "tail"):
    """The first 90% of ``text`` (the rest is the held-out part), a ninth of it for validation: its last
    ninth (``tail``) or its first (``head``: moved to the end, where ``prepare_corpus`` takes validation)."""
    tune = text[: int(len(text) * 0.9)]
    if split == "head":
        tenth = len(tune) // 9
        tune = tune[tenth:] + tune[:tenth]
    (workdir / "tune.txt").write_text(tune)
    return prepare_corpus([str(workdir / "tune.txt")], data_dir=workdir / "data", val_fraction=1 / 9)


def averaged_run(corpus, workdir: Path, recipe: str, seed: int, model: dict, settings: dict) -> dict:
    """Train the recipe once; the validation loss of its final weights and of each EMA of them."""
    shadows: dict[float, list[torch.Tensor]] = {}
    build = training.adamw

    def adamw(params, config, device):
        optimizer = build(params, config, device)
        weights = [p for group in optimizer.param_groups for p in group["params"]]

        def update(*_):
            with torch.no_grad():
                current = [w.detach() for w in weights]
                for decay in DECAYS:
                    average = shadows.setdefault(decay, [w.clone() for w in current])
                    torch._foreach_lerp_(average, current, 1 - decay)

        optimizer.register_step_post_hook(update)
        return optimizer

    chosen = recipes.get_recipe(recipe)
    # Evaluations only cost time here, except where the setting averages the weights at its evaluations.
    averages = {**chosen.train, **settings}.get("average_evals", 1) > 1
    run = {**chosen.train, "seed": seed, "device": "cpu", "sample_length": 0, "max_time": None,
           **({} if averages else {"eval_every": 10**9}), **settings}
    training.adamw = adamw
    try:
        training.train(corpus, workdir / "run", model_config={**chosen.model, **model}, train_config=run, overwrite=True)
    finally:
        training.adamw = build
    trained, _, _, _ = load_model(workdir / "run" / "last.pt")
    row = {"recipe": recipe, "seed": seed, "settings": {**model, **settings},
           "final": mean_loss(trained, corpus.val),
           f"final {FEW_STREAMS} streams": mean_loss(trained, corpus.val, batch_size=FEW_STREAMS),
           "machine": f"{machine()}, {torch.get_num_threads()} torch thread(s)"}
    # The optimizer's order of the weights: parameter_groups' (matrices first), as the trainer built it.
    weights = [p for group in training.parameter_groups(trained, 0.0) for p in group["params"]]
    for decay, average in shadows.items():
        with torch.no_grad():
            for weight, value in zip(weights, average, strict=True):
                weight.copy_(value)
        row[f"ema {decay}"] = mean_loss(trained, corpus.val)
    return row


def table(rows: list[dict]) -> str:
    """One Markdown line per recipe and setting: each seed's final weights and EMAs, and their means."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        # Rows before --split existed validated on the tail.
        groups.setdefault((row["recipe"], row.get("split", "tail"), json.dumps(row["settings"], sort_keys=True)),
                          []).append(row)
    scores = ["final", f"final {FEW_STREAMS} streams", *(f"ema {decay}" for decay in DECAYS)]
    lines = ["| recipe | split | setting | seeds | " + " | ".join(scores) + " |", "|---" * (4 + len(scores)) + "|"]
    for (recipe, split, settings), runs in groups.items():
        runs.sort(key=lambda run: run["seed"])
        cells = []
        for score in scores:
            values = [run[score] for run in runs if score in run]   # older rows lack the few-stream score
            if not values:
                cells.append("-")
                continue
            each = " / ".join(f"{value:.4f}" for value in values)
            cells.append(each + (f" (mean {sum(values) / len(values):.4f})" if len(values) > 1 else ""))
        setting = ", ".join(f"{key}={value}" for key, value in json.loads(settings).items()) or "the recipe"
        seeds = ",".join(str(run["seed"]) for run in runs)
        lines.append(f"| {recipe} | {split} | {setting} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="shakespeare-1min")
    parser.add_argument("--seeds", default="1", help="comma-separated training seeds")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a model or training setting")
    parser.add_argument("--corpus", type=Path, default=SHAKESPEARE)
    parser.add_argument("--split", choices=SPLITS, default="tail", help="where the tuning validation text lies "
                        "in the first 90%% (default: its last ninth)")
    parser.add_argument("--log", type=Path, help="append each row as a JSON line to this file")
    parser.add_argument("--table", type=Path, help="print the rows kept in this JSON-lines file, and stop")
    args = parser.parse_args()
    if args.table:
        print(table([json.loads(line) for line in args.table.read_text().splitlines() if line.strip()]))
        return
    if not args.corpus.exists():
        raise SystemExit(f"{args.corpus} is not present")
    model, settings = parse_settings(args.set)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = tuning_corpus(args.corpus.read_text(), Path(tmp), args.split)
        for seed in (int(s) for s in args.seeds.split(",")):
            row = {**averaged_run(corpus, Path(tmp), args.recipe, seed, model, settings), "split": args.split}
            print("  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)
            if args.log:
                with open(args.log, "a") as handle:
                    handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
