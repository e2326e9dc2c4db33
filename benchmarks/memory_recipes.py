"""Which training recipe teaches a small LSTM the long-range dependency of the built-in memory corpus?

Each recipe trains from scratch for the same wall-clock budget, then the cue-swap probe ("I grew up in
France. <fresh filler> I speak fluent ___", 14 countries, distances 0..800) and the forgetting probe
measure it, with fresh filler (new draws like the training filler) and with unseen filler (sentences no
generated corpus contains). One row per recipe:

    python benchmarks/memory_recipes.py --time 600 final rnn     # the recommended recipe vs a vanilla RNN
    python benchmarks/memory_recipes.py --list                   # every recipe tried, with its settings

Recipes name a corpus (built-in memory corpus options) plus model and training settings.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from charlstm import recipes
from charlstm.checkpoint import load_model
from charlstm.corpus import prepare_corpus
from charlstm.probes.cue_swap import language_probe, run_cue_swap, training_filler
from charlstm.probes.forgetting import run_forgetting
from charlstm.train import train

DISTANCES = (0, 25, 50, 100, 200, 400, 800)
BASE_MODEL = {"cell": "lstm", "num_layers": 1, "hidden_size": 256, "embedding_dim": 32, "dropout": 0.0}
# Rows measured before the "final-*" ones used weight decay 0.01, the trainer's default then.
BASE_TRAIN = {"seq_len": 100, "batch_size": 32, "lr": 3e-3, "weight_decay": 0.01, "eval_every": 500, "sample_length": 0}

GAP320 = recipes.MEMORY_CORPUS.replace("longest=120", "longest=320")   # the corpus of the earlier recipes
SEED1337 = {**recipes.MEMORY_TRAIN, "seed": 1337}                       # the trainer's default seed

RECIPES = {
    # name: (corpus spec, model overrides, training overrides)
    # gaps uniform over 0..8 filler sentences: the naive corpus of the issue
    "naive": ("builtin:memory:adjacent=0.111,one=0.111,max=8,longest=0", {}, {}),
    "mixed-gaps": ("builtin:memory:adjacent=0.5,one=0.3,max=8,longest=0", {}, {}),
    "fb3": ("builtin:memory:adjacent=0.5,one=0.3,max=8,longest=0", {"forget_bias": 3.0}, {}),
    "seq200": ("builtin:memory:adjacent=0.5,one=0.3,max=8,longest=0", {}, {"seq_len": 200}),
    "spread": ("builtin:memory:adjacent=0.3,one=0.3,max=6,longest=0", {"forget_bias": 2.0}, {"seq_len": 200}),
    "fb5": ("builtin:memory:adjacent=0.5,one=0.3,max=8,longest=0", {"forget_bias": 5.0}, {}),
    "chrono200": ("builtin:memory:adjacent=0.5,one=0.3,max=8,longest=0", {"chrono_init": 200}, {}),
    "chrono200-seq200": ("builtin:memory:adjacent=0.5,one=0.3,max=8,longest=0", {"chrono_init": 200}, {"seq_len": 200}),
    "dense": ("builtin:memory:adjacent=0.4,one=0.4,max=4,longest=0,language=0.8", {}, {}),
    "dense-chrono100": ("builtin:memory:adjacent=0.4,one=0.4,max=4,longest=0,language=0.8", {"chrono_init": 100}, {}),
    "dense-fb2": ("builtin:memory:adjacent=0.4,one=0.4,max=4,longest=0,language=0.8", {"forget_bias": 2.0}, {}),
    "dense-fb3": ("builtin:memory:adjacent=0.4,one=0.4,max=4,longest=0,language=0.8", {"forget_bias": 3.0}, {}),
    "loggap": ("builtin:memory:adjacent=0.3,longest=320,language=0.8", {}, {}),
    "loggap-fb2": ("builtin:memory:adjacent=0.3,longest=320,language=0.8", {"forget_bias": 2.0}, {}),
    "pool300": ("builtin:memory:adjacent=0.3,longest=320,pool=300,language=0.8", {}, {}),
    "pool2000": ("builtin:memory:adjacent=0.3,longest=320,pool=2000,language=0.8", {}, {}),
    "pool100": ("builtin:memory:adjacent=0.3,longest=320,pool=100,language=0.8", {}, {}),
    "pool300-mix": ("builtin:memory:adjacent=0.3,longest=320,pool=300,language=0.6", {}, {}),
    "pool300-fb2": ("builtin:memory:adjacent=0.3,longest=320,pool=300,language=0.8", {"forget_bias": 2.0}, {}),
    "pool300-seed2": ("builtin:memory:adjacent=0.3,longest=320,pool=300,language=0.8", {}, {"seed": 2}),
    "fb5-seq200": ("builtin:memory:adjacent=0.5,one=0.3,max=8,longest=0", {"forget_bias": 5.0}, {"seq_len": 200}),
    # the first recommended recipe: gaps up to 320 characters, the default seed, 600 s of training
    # (17,917 steps), weight decay 0.01
    "final-v1": (GAP320, recipes.MEMORY_MODEL,
                 {**SEED1337, "max_steps": None, "eval_every": 1000, "weight_decay": 0.01}),
    # the recipe with gaps up to 320 characters (seeds 1, 2, 3: 96%, 27%, 34% at 100 characters)
    "final-gap320": (GAP320, recipes.MEMORY_MODEL,
                     recipes.MEMORY_TRAIN),
    # variations of the first recipe (gaps up to 320 characters), measured with the default seed 1337
    # (and 9,375 steps, weight decay 0.1)
    # a corpus 30x larger, so stories are not seen again and again: the filler cannot be memorised per story
    "final-30M": (GAP320 + ",size=30M", recipes.MEMORY_MODEL, SEED1337),
    "final-lang09": (GAP320.replace("language=0.7", "language=0.9"), recipes.MEMORY_MODEL,
                     SEED1337),
    "final-adj05": (GAP320.replace("adjacent=0.3", "adjacent=0.5"), recipes.MEMORY_MODEL,
                    SEED1337),
    # the recommended recipe: gaps up to 120 characters, seed 1 (seeds 1-4: 96%, 93%, 43%, 84% at 100)
    "final": (recipes.MEMORY_CORPUS, recipes.MEMORY_MODEL, recipes.MEMORY_TRAIN),
    "rnn": (recipes.MEMORY_CORPUS, {**recipes.MEMORY_MODEL, "cell": "rnn"}, recipes.MEMORY_TRAIN),
    "gru": (recipes.MEMORY_CORPUS, {**recipes.MEMORY_MODEL, "cell": "gru"}, recipes.MEMORY_TRAIN),
}


def run_recipe(name: str, seconds: float | None, chars: int | None, workdir: Path) -> dict:
    """Train one recipe for a wall-clock budget, or for a character budget (unaffected by machine load)."""
    corpus_spec, model, config = RECIPES[name]
    corpus = prepare_corpus([corpus_spec], out_dir=workdir / "data")
    model = {**BASE_MODEL, **model}
    config = {**BASE_TRAIN, **config, "device": "cpu"}
    config.pop("max_time", None)
    if chars is not None:
        config["max_steps"] = chars // (config["batch_size"] * config["seq_len"])
    else:
        config["max_time"] = seconds
    started = time.perf_counter()
    result = train(corpus, workdir / name, model=model, config=config, overwrite=True)
    trained = time.perf_counter() - started
    net, vocab, payload, _ = load_model(workdir / name)
    fresh = training_filler(payload["corpus"]["inputs"])
    swap = run_cue_swap(net, vocab, language_probe(distances=DISTANCES, samples=4, filler=fresh))
    unseen = run_cue_swap(net, vocab, language_probe(distances=DISTANCES, samples=4))
    forget = run_forgetting(net, vocab, distances=(0, 100, 400), samples=8, filler=fresh)
    return {"recipe": name, "corpus": corpus_spec, "model": model, "train": {k: v for k, v in config.items()
                                                                            if k not in BASE_TRAIN or BASE_TRAIN[k] != v},
            "steps": result.step, "seconds": round(trained), "val_loss": result.best_val_loss,
            "accuracy": {row.distance: row.accuracy for row in swap.rows}, "memory_span": swap.memory_span,
            "unseen_accuracy": {row.distance: row.accuracy for row in unseen.rows},
            "unseen_memory_span": unseen.memory_span,
            "after_switch": {row.distance: row.accuracy_after for row in forget.rows},
            "before_switch": {row.distance: row.accuracy_before for row in forget.rows}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipes", nargs="*", default=["final", "rnn"])
    parser.add_argument("--time", type=float, default=600, help="training seconds per recipe")
    parser.add_argument("--chars", type=float, help="train on this many characters instead of --time")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--json", help="also append each row to this JSON-lines file")
    parser.add_argument("--keep", help="keep the trained runs in this directory (default: a temporary one)")
    args = parser.parse_args()
    if args.list:
        for name, spec in RECIPES.items():
            print(name, json.dumps(spec))
        return
    unknown = [r for r in args.recipes if r not in RECIPES]
    if unknown:
        sys.exit(f"unknown recipe(s): {', '.join(unknown)} (see --list)")
    header = "recipe".ljust(14) + "steps  val   " + " ".join(f"{d:>5}" for d in DISTANCES) + "  span  after-switch(0/100/400)"
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.keep) if args.keep else Path(tmp)
        for name in args.recipes:
            row = run_recipe(name, args.time, int(args.chars) if args.chars else None, workdir)
            accuracy = " ".join(f"{row['accuracy'][d]:5.0%}" for d in DISTANCES)
            unseen = " ".join(f"{row['unseen_accuracy'][d]:5.0%}" for d in DISTANCES)
            after = "/".join(f"{v:.0%}" for v in row["after_switch"].values())
            print(f"{name:<14}{row['steps']:>5}  {row['val_loss']:.3f} {accuracy}  {str(row['memory_span']):>4}  {after}",
                  flush=True)
            print(f"{'  unseen filler':<27} {unseen}  {str(row['unseen_memory_span']):>4}", flush=True)
            if args.json:
                with open(args.json, "a") as handle:
                    handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
