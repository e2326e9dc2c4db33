"""Recommended settings, named so the CLI, the demo, the README and the benchmarks share one source.

The ``memory`` recipe (``MEMORY_*``) is for the built-in memory corpus: settings with which an LSTM
carries the country and the subject's gender across 200 characters of text it never saw
(``benchmarks/memory_recipes.md``: the ten-run table, on the CPU it was measured on, and what was tried).
``DEMO_*`` is the short task ``charlstm demo`` trains.
``shakespeare-1min`` and ``shakespeare-10min`` are the settings that reached the lowest held-out loss on
tiny-shakespeare within 66 and 600 reference seconds (``benchmarks/quality.py``, table in
``benchmarks/README.md``); they suit any corpus of about a million characters.
"""

from __future__ import annotations

from dataclasses import dataclass

from charlstm.errors import ConfigError

# The memory recipe (benchmarks/memory_recipes.md has what was tried and measured, and the ten-run table).
# Gaps: 70% adjacent (the answer right after the cue: many short dependencies make memory appear early),
# the rest log-uniform from 4 to 120 characters. Filler sentences: half from a fixed pool of 300 (learned by
# heart quickly, which leaves capacity for the cue), 30% from the whole grammar and 20% pseudo-words, so the
# memory cannot rely on recognising the filler. 70% of the lines are language stories, the rest subject
# stories, whose pronouns wait for filler more often (70%, subject_adjacent 0.3): a gender is one bit where
# a country is almost four, and with the language stories' 30% the subject switch failed in 3 seeds of 10.
# 10 M characters, read about six times in a run.
_MEMORY_TEXT = "adjacent=0.7,longest=120,pool=300,variety=0.3,noise=0.2,language=0.7,subject_adjacent=0.3"
MEMORY_CORPUS = f"builtin:memory:size=10000000,{_MEMORY_TEXT}"
# Forget bias 0, not the usual 1: with f = i = 0.5 at the start the cell state stays small (i + f = 1, like a
# coupled cell), so tanh(c) is not saturated and the country stored in c reaches h and the answer; with
# forget bias 1 the state grew to |c| ~ 6, and the memory, linearly readable in c, took several times
# longer to reach the output.
MEMORY_MODEL = {"cell": "lstm", "num_layers": 1, "hidden_size": 256, "embedding_dim": 32, "dropout": 0.0,
                "forget_bias": 0.0}
# 200-character windows, so the gradient reaches the cue from most questions; a fixed step budget
# (10,000 x 32 x 200 = 64 M characters), so the result does not depend on the machine. Memory comes and
# goes during a run (the country, then the gender, each dipping while the other settles): every 500
# steps the run reads its memory on the validation grammar and keeps the best reading as best.pt. AdamW's
# beta2 0.95 (not 0.999): the runs that lost the country did so after loss spikes, which a short
# second-moment memory damps. Each evaluation reads, and each checkpoint keeps, the mean of the weights at
# the last three evaluations: over six seeds, memory met the goal at 68 of 120 evaluations in that mean
# against 41 in the weights of one.
MEMORY_TRAIN = {"seq_len": 200, "batch_size": 32, "lr": 5e-3, "min_lr_ratio": 0.5, "weight_decay": 0.1,
                "beta2": 0.95, "average_evals": 3, "max_steps": 10000, "seed": 3, "eval_every": 500,
                "best_on": "memory"}

# The demo's short task, of the same corpus family: language stories only (no subjects), 80% of them with the
# answer right after the cue and the rest with up to 60 characters of filler, from the same sources as the
# recipe's. A 1 x 128 LSTM and a vanilla RNN of the same size each train 2,000 steps of 32 x 100 characters
# (a step budget, so the outcome does not depend on the machine; timed in benchmarks/memory_recipes.md).
DEMO_CORPUS = "builtin:memory:size=2000000,language=1.0,adjacent=0.8,longest=60,pool=300,variety=0.3,noise=0.3"
DEMO_MODEL = {**MEMORY_MODEL, "hidden_size": 128}
DEMO_TRAIN = {"seq_len": 100, "batch_size": 32, "lr": 1e-2, "min_lr_ratio": 0.5, "weight_decay": 0.1,
              "max_steps": 2000, "seed": 3, "eval_every": 250, "best_on": "memory"}


# Budgets in steps, not seconds, so the result does not depend on the machine: each is the number of steps
# this setting trains within 66 reference seconds on the slowest of the CPU kinds and thread counts
# measured (600 on the CPU it was set on: see below), steps = budget x 13,000 x r / (batch x seq_len),
# with r its training speed relative to the reference loop (benchmarks/quality.py; the r of each kind in
# benchmarks/README.md, "Budgets that hold"). Small batches: on one CPU thread 8 streams of 1 x 512 train
# at 75% (Intel Xeon, AVX-512) to 94% (AMD EPYC, AVX2) of the speed per character of 32, so they buy three
# to four times the updates in the same time, and at these budgets updates are what the loss lacks; 4
# streams fall to 52% on the Xeon (82% on the EPYC). Their noise is averaged out by --average-evals.
# 66 reference seconds: one layer of 512, no dropout, twice the default learning rate, 8 streams (r 1.81 on
# the Xeon, one thread; 1,941 steps, 1.6 M characters), the mean of the weights at the last three
# evaluations: 1.534 / 1.543 / 1.540 nats/char on tiny-shakespeare's held-out 10% (seeds 1337, 1, 2).
SHAKESPEARE_1MIN_MODEL = {"num_layers": 1, "hidden_size": 512, "embedding_dim": 128, "dropout": 0.0}
SHAKESPEARE_1MIN_TRAIN = {"seq_len": 100, "batch_size": 8, "lr": 6e-3, "max_steps": 1941, "eval_every": 100,
                          "average_evals": 3}
# 600 reference seconds: the default 2 x 512 (dropout 0.2) at twice the default learning rate, 8 streams
# (r 0.944, 9,202 steps, 7.4 M characters), the mean of the weights at the last five evaluations (the last
# thousand steps), and a fresh start for each stream every 5,000 characters on average: 1.386 / 1.389 / 1.386
# nats/char on the held-out 10% (seeds 1337 / 1 / 2; 1.383 for seed 1337 without fresh starts, which on the
# tuning split left a 0.2 nats/char deficit from a fresh state; benchmarks/README.md, "Fresh starts"). Its
# budget holds on the EPYC it was set on; an Intel Xeon with AVX-512 trains it in 737 reference seconds
# (fitting 600 there, 6,581 steps, scored 1.406 / 1.413: not taken; "Budgets that hold").
SHAKESPEARE_10MIN_MODEL = {"num_layers": 2, "hidden_size": 512, "embedding_dim": 128, "dropout": 0.2}
SHAKESPEARE_10MIN_TRAIN = {"seq_len": 100, "batch_size": 8, "lr": 6e-3, "max_steps": 9202, "eval_every": 250,
                           "average_evals": 5, "fresh_starts": 0.02}


@dataclass(frozen=True)
class Recipe:
    corpus: str | None   # None: the recipe is for a text of the user's (``charlstm train FILE --recipe NAME``)
    model: dict
    train: dict


# ``charlstm train --recipe NAME``: a corpus plus settings; flags given on the command line still win.
RECIPES = {"memory": Recipe(MEMORY_CORPUS, MEMORY_MODEL, MEMORY_TRAIN),
           "shakespeare-1min": Recipe(None, SHAKESPEARE_1MIN_MODEL, SHAKESPEARE_1MIN_TRAIN),
           "shakespeare-10min": Recipe(None, SHAKESPEARE_10MIN_MODEL, SHAKESPEARE_10MIN_TRAIN)}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ConfigError(f"unknown --recipe {name!r} (available: {', '.join(sorted(RECIPES))})")
    return RECIPES[name]
