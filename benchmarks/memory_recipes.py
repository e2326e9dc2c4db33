"""Does a memory recipe hold on text the model never saw, for every seed?

For each recipe and seed: train with charlstm's own trainer on the recipe's fixed step budget, then probe
the best checkpoint (all probes start after the warm-up, see charlstm.probes.warmup):

* cue-swap, 14 countries x 4 filler draws per distance: with **unseen** filler (the probes' own grammar,
  charlstm.corpora.unseen: new words and sentence structures), **fresh** filler (new draws of the training
  filler) and the **hand-written** file charlstm/probes/examples/memory_plain.toml;
* forgetting (the subject switch), 16 contexts per distance, with unseen filler.

The goal (issue 7): unseen cue-swap >= 90% at 100 characters and a memory span >= 200, and >= 80% after
the switch at 100 characters, on unseen filler. Training time is printed in reference seconds (see
benchmarks/reference.py), measured before the first run; time it on an otherwise quiet machine.

    python benchmarks/memory_recipes.py memory --seeds 1,2,3,4,5     # the recipe, five seeds
    python benchmarks/memory_recipes.py rnn --seeds 1                # a vanilla RNN on the same recipe
    python benchmarks/memory_recipes.py --list                       # every recipe, with its settings
    python benchmarks/memory_recipes.py memory --budget              # the recipe's cost in reference minutes

``memory_explore.py`` is the harness the exploration table in memory_recipes.md was measured with.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from charlstm import recipes
from charlstm.checkpoint import load_model
from charlstm.corpus import prepare_corpus
from charlstm.probes.cue_swap import language_probe, run_cue_swap, training_filler, unseen_filler
from charlstm.probes.custom import load_probe_file
from charlstm.probes.forgetting import run_forgetting
from charlstm.train import train
from reference import reference_second

DISTANCES = (0, 25, 50, 100, 200, 400, 800)
PLAIN_PROBE = Path(__file__).resolve().parents[1] / "charlstm" / "probes" / "examples" / "memory_plain.toml"
MEMORY = recipes.RECIPES["memory"]

# name: (corpus spec, model settings, training settings); each starts from the memory recipe.
RECIPES = {
    "memory": (MEMORY.corpus, MEMORY.model, MEMORY.train),
    "rnn": (MEMORY.corpus, {**MEMORY.model, "cell": "rnn"}, MEMORY.train),
    # the recipe with more subject stories (half the lines), for the subject switch
    "memory-subjects": (MEMORY.corpus.replace("language=0.7", "language=0.5"), MEMORY.model, MEMORY.train),
    # the recipe with pronoun re-mentions in half the switch stories (more gender signal, less language)
    "memory-mentions": (MEMORY.corpus.replace("language=0.7", "language=0.5,mentions=0.5"), MEMORY.model,
                        MEMORY.train),
    # the recipe with 100-character windows (gradients reach fewer cues across long gaps)
    "memory-seq100": (MEMORY.corpus, MEMORY.model, {**MEMORY.train, "seq_len": 100, "batch_size": 64}),
    # the recipe before issue 7: filler from a fixed pool of 300 sentences only
    "pool-only": ("builtin:memory:adjacent=0.3,longest=120,pool=300,language=0.7", MEMORY.model,
                  {**MEMORY.train, "seq_len": 100, "max_steps": 9375}),
}


def probe_memory(net, vocab, fresh_filler, distances=DISTANCES, draws: int = 4,
                 switch_distances=(0, 25, 50, 100, 200), switch_draws: int = 8) -> dict:
    """The probes of issue 7's goal: cue-swap on unseen, fresh and hand-written filler, and the subject
    switch on unseen filler (memory_explore.py runs the same, with fewer draws)."""
    probe = language_probe(distances=distances, draws=draws)
    [plain] = load_probe_file(PLAIN_PROBE)
    return {"unseen": run_cue_swap(net, vocab, probe),
            "fresh": run_cue_swap(net, vocab, dataclasses.replace(probe, filler=fresh_filler)),
            "plain": run_cue_swap(net, vocab, dataclasses.replace(plain, distances=distances, draws=draws)),
            "switch": run_forgetting(net, vocab, distances=switch_distances, draws=switch_draws,
                                     filler=unseen_filler)}


def run_recipe(name: str, seed: int, workdir: Path, threads: int | None) -> dict:
    corpus_spec, model, config = RECIPES[name]
    corpus = prepare_corpus([corpus_spec], data_dir=workdir / "data")
    config = {**config, "seed": seed, "device": "cpu", "max_time": None, "sample_length": 0}
    if threads:
        torch.set_num_threads(threads)
    started = time.perf_counter()
    result = train(corpus, workdir / f"{name}-{seed}", model=model, config=config, overwrite=True)
    seconds = time.perf_counter() - started
    net, vocab, payload, _ = load_model(workdir / f"{name}-{seed}")
    reports = probe_memory(net, vocab, training_filler(payload["corpus"]["inputs"]))
    unseen, switch = reports["unseen"], reports["switch"]
    after = {row.distance: row.accuracy_after for row in switch.rows}
    passed = unseen.accuracy_by_distance[100] >= 0.9 and (unseen.memory_span or 0) >= 200 and after[100] >= 0.8
    row = {"recipe": name, "seed": seed, "steps": result.step, "seconds": round(seconds),
           "val_loss": result.best_val_loss}
    for kind in ("unseen", "fresh", "plain"):
        row[kind], row[f"{kind}_span"] = reports[kind].accuracy_by_distance, reports[kind].memory_span
    return {**row, "before_switch": {row.distance: row.accuracy_before for row in switch.rows},
            "after_switch": after, "goal": passed}


def budget(name: str, workdir: Path, steps: int = 150) -> tuple[float, int]:
    """Seconds per training step of a recipe with the real trainer, and its step count, on this machine
    now with torch's threads: a short untimed run first (caches, allocator), then one timed run whose
    setup is counted too, so the estimate errs on the slow side."""
    corpus_spec, model, config = RECIPES[name]
    corpus = prepare_corpus([corpus_spec], data_dir=workdir / "data")
    run = {**config, "device": "cpu", "max_time": None, "sample_length": 0, "eval_every": 10**9}
    train(corpus, workdir / "budget", model=model, config={**run, "max_steps": 20}, overwrite=True)
    started = time.perf_counter()
    train(corpus, workdir / "budget", model=model, config={**run, "max_steps": 20 + steps}, overwrite=True)
    return (time.perf_counter() - started) / (20 + steps), config["max_steps"]


def print_row(row: dict, reference: float | None) -> None:
    ref = f" = {row['seconds'] / reference:,.0f} ref s" if reference else ""
    print(f"{row['recipe']} seed {row['seed']}: {row['steps']} steps, {row['seconds']} s{ref}, "
          f"val {row['val_loss']:.4f} nats/char, goal {'PASS' if row['goal'] else 'fail'}")
    for kind in ("unseen", "fresh", "plain"):
        cells = " ".join(f"{row[kind][d]:5.0%}" for d in DISTANCES)
        print(f"  {kind:<14}{cells}   span {row[kind + '_span']}")
    after = " ".join(f"{v:5.0%}" for v in row["after_switch"].values())
    print(f"  {'after switch':<14}{after}   (unseen filler, 0/25/50/100/200)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipes", nargs="*", default=["memory"])
    parser.add_argument("--seeds", default="1", help="comma-separated training seeds")
    parser.add_argument("--threads", type=int, help="torch threads per run (default: torch's)")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--json", help="also append each row to this JSON-lines file")
    parser.add_argument("--keep", help="keep the trained runs in this directory (default: a temporary one)")
    parser.add_argument("--budget", action="store_true",
                        help="only time the recipes' training steps against the reference (quiet machine!)")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the reference timing (when other work shares the machine)")
    args = parser.parse_args()
    if args.list:
        for name, spec in RECIPES.items():
            print(name, json.dumps(spec))
        return
    unknown = [r for r in args.recipes if r not in RECIPES]
    if unknown:
        sys.exit(f"unknown recipe(s): {', '.join(unknown)} (see --list)")
    reference = None if args.no_reference else reference_second()
    if reference:
        print(f"1 reference second = {reference:.2f} s on this machine now")
    if args.budget:
        with tempfile.TemporaryDirectory() as tmp:
            for name in args.recipes:
                per_step, steps = budget(name, Path(tmp))
                total = per_step * steps
                line = f"{name}: {steps} steps x {per_step:.3f} s = {total / 60:.1f} min on this machine now"
                print(line + (f" = {total / reference / 60:.1f} reference minutes" if reference else ""))
        return
    print(f"distances: {' '.join(f'{d:>5}' for d in DISTANCES)} characters of filler")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.keep) if args.keep else Path(tmp)
        for name in args.recipes:
            for seed in (int(s) for s in args.seeds.split(",")):
                row = run_recipe(name, seed, workdir, args.threads)
                if reference:
                    row["reference_seconds"] = round(row["seconds"] / reference)
                print_row(row, reference)
                if args.json:
                    with open(args.json, "a") as handle:
                        handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
