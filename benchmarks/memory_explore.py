"""Exploration harness for memory recipes: the training loop of charlstm.train, stripped down, with quick
probes every few million characters, so one run shows *when* memory appears and whether it lasts.

It builds the same model, batches (truncated BPTT over B streams, 100 or 200 characters a window), AdamW
schedule and clipping as the trainer, and adds knobs the trainer does not have, to try ideas cheaply:
``--decay-biases`` (AdamW on every parameter, as charlstm did before issue 7), ``--input-bias``,
``--chrono``, ``--switch-at`` (a second corpus from that point: a curriculum). Probes (2 filler draws per
distance: quick and noisy, +-15 points) use unseen filler, fresh filler, the hand-written file and the
subject switch. One JSON line per probe point goes to stdout and to ``--log``.

    python benchmarks/memory_explore.py C1 --seed 1 --pool 300 --variety 0.3 --noise 0.2 --chars 30e6

memory_recipes.md lists what was tried with it; memory_recipes.py checks a recipe with the real trainer.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import torch
import torch.nn.functional as F

from charlstm.batching import StreamBatcher
from charlstm.config import ModelConfig, TrainConfig
from charlstm.corpora import memory
from charlstm.corpus import corpus_from_text
from charlstm.evaluate import mean_loss
from charlstm.model import CharRNN, detach_state
from charlstm.schedule import learning_rate
from charlstm.train import parameter_groups
from charlstm.vocab import Vocab
from memory_recipes import probe_memory

DISTANCES = (0, 50, 100, 200, 400)
# Every letter in both cases, so any corpus variant shares one vocabulary with the probes.
ALPHABET_LINE = "Pangram: the quick brown fox jumps over a lazy dog. KUXZ\n"


def corpus_text(args, pool: int, variety: float, noise: float, seed: int) -> str:
    return memory.generate_corpus(args.size, seed, adjacent=args.adjacent, longest=args.longest, pool=pool,
                                  variety=variety, noise=noise, language=args.language,
                                  repeat=args.repeat, mentions=args.mentions) + ALPHABET_LINE


def quick_probes(model: CharRNN, vocab: Vocab, fresh) -> dict:
    reports = probe_memory(model, vocab, fresh, distances=DISTANCES, draws=2, switch_distances=(0, 100),
                           switch_draws=4)
    out = {kind: [round(row.accuracy, 2) for row in reports[kind].rows] for kind in ("unseen", "fresh", "plain")}
    out["switch"] = [round(row.accuracy_after, 2) for row in reports["switch"].rows]
    model.train()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name")
    p.add_argument("--seed", type=int, default=1, help="training seed (weights, dropout)")
    p.add_argument("--corpus-seed", type=int, default=1)
    for option, default in memory.OPTIONS.items():
        if option not in ("seed",):
            p.add_argument(f"--{option}", type=type(default), default=default)
    p.add_argument("--switch-at", type=float, help="characters after which a second corpus is read")
    p.add_argument("--then-pool", type=int, default=0)
    p.add_argument("--then-variety", type=float, default=0.0)
    p.add_argument("--then-noise", type=float, default=0.0)
    p.add_argument("--chars", type=float, default=30e6, help="training characters (the step budget)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=100)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--min-lr-ratio", type=float, default=0.1, help="learning rate at the end / at the peak")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--decay-biases", action="store_true", help="AdamW decay on every parameter (old charlstm)")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--embedding", type=int, default=32)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--forget-bias", type=float, default=1.0)
    p.add_argument("--input-bias", type=float, help="input-gate bias (default: PyTorch's initialisation)")
    p.add_argument("--chrono", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--probe-every", type=float, default=3e6, help="characters between probe points")
    p.add_argument("--log", default="memory_explore.jsonl")
    p.add_argument("--save", help="write the final weights here")
    a = p.parse_args()
    torch.set_num_threads(a.threads)

    text = corpus_text(a, a.pool, a.variety, a.noise, a.corpus_seed)
    mix = memory.FillerMix(pool=a.pool, variety=a.variety, noise=a.noise)
    texts = [text]
    if a.switch_at:
        texts.append(corpus_text(a, a.then_pool, a.then_variety, a.then_noise, a.corpus_seed + 100))
        then_mix = memory.FillerMix(pool=a.then_pool, variety=a.then_variety, noise=a.then_noise)
    vocab = Vocab.from_text("".join(texts))
    corpora = [corpus_from_text(t, "memory", val_fraction=0.05, vocab=vocab) for t in texts]

    random.seed(a.seed)
    torch.manual_seed(a.seed)
    model = CharRNN(ModelConfig(vocab_size=len(vocab), num_layers=a.layers, hidden_size=a.hidden,
                                embedding_dim=a.embedding, dropout=a.dropout, forget_bias=a.forget_bias,
                                chrono_init=a.chrono))
    if a.input_bias is not None:  # nn.LSTM packs the gates (i, f, g, o); the two bias vectors add up
        with torch.no_grad():
            for layer in range(a.layers):
                getattr(model.core, f"bias_ih_l{layer}")[:a.hidden].fill_(a.input_bias)
                getattr(model.core, f"bias_hh_l{layer}")[:a.hidden].fill_(0.0)
    groups = ([{"params": list(model.parameters()), "weight_decay": a.weight_decay}] if a.decay_biases
              else parameter_groups(model, a.weight_decay))
    optimizer = torch.optim.AdamW(groups, lr=a.lr)
    steps = int(a.chars // (a.batch * a.seq))
    schedule = TrainConfig(seq_len=a.seq, batch_size=a.batch, lr=a.lr, max_steps=steps, min_lr_ratio=a.min_lr_ratio)
    switch_step = int(a.switch_at // (a.batch * a.seq)) if a.switch_at else None
    every = max(1, int(a.probe_every // (a.batch * a.seq)))

    corpus, fresh = corpora[0], mix.of_length
    batcher = StreamBatcher(corpus.train, a.batch, a.seq)
    state, window, losses, started = model.initial_state(a.batch), 0, [], time.time()
    with open(a.log, "a") as log:
        for step in range(steps):
            if step == switch_step:
                corpus, fresh = corpora[1], then_mix.of_length
                batcher = StreamBatcher(corpus.train, a.batch, a.seq)
                state, window = model.initial_state(a.batch), 0
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(schedule, step, step / steps, steps)
            batch = batcher.window(window)
            logits, new_state = model(batch.inputs, state)
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), batch.targets.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(loss.item())
            state, window = detach_state(new_state), window + 1
            if window >= batcher.windows_per_epoch:
                state, window = model.initial_state(a.batch), 0
            if (step + 1) % every == 0 or step + 1 == steps:
                record = {"name": a.name, "seed": a.seed, "step": step + 1, "chars": (step + 1) * a.batch * a.seq,
                          "seconds": round(time.time() - started), "train": round(sum(losses) / len(losses), 4),
                          "val": round(mean_loss(model, corpus.val, 32), 4), **quick_probes(model, vocab, fresh)}
                losses = []
                print(json.dumps(record), flush=True)
                log.write(json.dumps(record) + "\n")
                log.flush()
    if a.save:
        torch.save(model.state_dict(), a.save)


if __name__ == "__main__":
    main()
