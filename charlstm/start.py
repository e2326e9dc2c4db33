"""How a training run begins: fresh, resumed from its own ``last.pt``, or fine-tuned from another run.

Each start settles everything the trainer builds from, before it builds anything: the model (with its
vocabulary), the final ``TrainConfig`` (a batch shrunk to fit a short corpus included) and, for a resumed
run, the checkpoint whose optimizer, progress, carried state and RNG the trainer restores.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch

from charlstm.batching import fit_batch_size
from charlstm.checkpoint import BEST, LAST, load_checkpoint
from charlstm.config import ModelConfig, TrainConfig
from charlstm.corpus import Corpus
from charlstm.errors import CharlstmError, CheckpointError, ConfigError, CorpusError
from charlstm.model import CharRNN
from charlstm.runtime import seed_everything
from charlstm.vocab import Vocab

# What reading a damaged or hand-edited checkpoint raises: a missing key, a value of the wrong type or
# range, a rejected config or vocabulary. Loading weights adds torch's RuntimeError for a shape mismatch.
MALFORMED = (KeyError, TypeError, ValueError, IndexError, CharlstmError)
MISFIT = (*MALFORMED, RuntimeError)


@dataclass
class Start:
    model: CharRNN
    vocab: Vocab
    config: TrainConfig
    payload: dict | None = None  # resumed runs: the checkpoint's contents, the training state to restore
    notes: list[str] = field(default_factory=list)


def fresh_start(corpus: Corpus, model_options: dict, train_options: dict) -> Start:
    config, notes = settled_config(TrainConfig(**train_options), corpus)
    model_config = ModelConfig(vocab_size=len(corpus.vocab), **model_options)
    if model_config.cell == "depth-gated" and model_config.num_layers == 1:
        notes.append("depth-gated with one layer is a plain LSTM (the depth gate links a layer to the one "
                     "below); use --num-layers 2 or more")
    if model_config.cell == "grid" and model_config.num_layers == 1:
        notes.append("grid with one layer has no memory along depth to carry (an LSTM in time with a gated "
                     "read-out); use --num-layers 2 or more")
    seed_everything(config.seed)  # before the model draws its initial weights
    model = CharRNN(model_config)
    return Start(model, corpus.vocab, config, notes=notes)


def resumed_start(corpus: Corpus, out_dir: Path, model_options: dict, train_options: dict) -> Start:
    """The run in ``out_dir`` from its last.pt; ``train_options`` override its saved settings."""
    path = out_dir / LAST
    if not path.exists():
        hint = (f" (only {BEST}: the run stopped while writing its first checkpoint); start it again with "
                f"--overwrite" if (out_dir / BEST).exists() else "")
        raise CheckpointError(f"--resume: no {LAST} in {out_dir} to resume from{hint}")
    payload = load_checkpoint(path)
    with unusable(path, "damaged checkpoint", MALFORMED):
        saved_train = dict(payload.get("train_config") or {})
        model_config = ModelConfig.from_dict(payload["model_config"])
        vocab = Vocab(payload["vocab"])
    config, notes = settled_config(TrainConfig.from_dict({**saved_train, **train_options}), corpus)
    notes = ignored_architecture(model_config, model_options) + notes
    missing = [c for c in corpus.vocab.chars if c not in vocab]
    if missing:
        raise CheckpointError(
            f"--resume: the corpus has {len(missing)} characters the checkpoint's vocabulary lacks "
            f"({''.join(missing[:20])!r}); train a new run, or use --init-from to extend it")
    model = CharRNN(model_config)
    with unusable(path, "damaged checkpoint: weights do not fit the model", MISFIT):
        # With --average-evals the checkpoint's model is an average; training goes on from its own weights.
        model.load_state_dict(payload.get("train_model", payload["model"]))
    return Start(model, vocab, config, payload, notes)


def fine_tuned_start(corpus: Corpus, init_from: Path, model_options: dict, train_options: dict) -> Start:
    """Another run's weights, its vocabulary extended by the corpus's new characters, a fresh optimizer."""
    source = load_checkpoint(init_from)
    with unusable(init_from, "damaged checkpoint", MALFORMED):
        old_vocab = Vocab(source["vocab"])
        vocab = old_vocab.union(corpus.vocab)
        model_config = ModelConfig.from_dict({**source["model_config"], "vocab_size": len(vocab)})
    config, notes = settled_config(TrainConfig(**train_options), corpus)
    seed_everything(config.seed)
    model = CharRNN(model_config)
    with unusable(init_from, "damaged checkpoint: weights do not fit the model", MISFIT):
        transplant(source["model"], old_vocab, model, vocab)
    new = [c for c in vocab.chars if c not in old_vocab]
    notes = ignored_architecture(model_config, model_options) + notes
    notes.append(f"initialised from {init_from}: {len(new)} character(s) new to its vocabulary got fresh "
                 f"embedding and output rows" + (f" ({''.join(new)!r})" if new else ""))
    return Start(model, vocab, config, notes=notes)


def settled_config(config: TrainConfig, corpus: Corpus) -> tuple[TrainConfig, list[str]]:
    """The configuration the run will use on this corpus, and what the user should know about it."""
    if len(corpus.train) < 2:
        raise CorpusError(f"{corpus.name}: too little training text ({len(corpus.train)} characters)")
    notes = []
    batch_size = fit_batch_size(len(corpus.train), config.batch_size, config.seq_len)
    if batch_size < config.batch_size:
        notes.append(f"the corpus is short: --batch-size lowered from {config.batch_size} to "
                     f"{batch_size} so each stream holds a full window")
        config = TrainConfig(**{**config.to_dict(), "batch_size": batch_size})
    if len(corpus.val) < 2:
        notes.append("no validation text (--val-fraction 0 or a tiny corpus): best.pt follows training")
    return config, notes


def ignored_architecture(config: ModelConfig, model_options: dict) -> list[str]:
    ignored = sorted(k for k, v in model_options.items() if getattr(config, k) != v)
    return [f"architecture comes from the checkpoint; ignored: {', '.join(ignored)}"] if ignored else []


def checked_options(cls: type, options: dict | None, what: str) -> dict:
    """``options`` as keyword arguments for ``cls``; an unknown name is refused with the valid ones listed."""
    options = dict(options or {})
    valid = [f.name for f in fields(cls) if f.name != "vocab_size"]  # the vocabulary sets vocab_size
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(f"unknown {what} option(s): {', '.join(unknown)} (valid: {', '.join(valid)})")
    return options


def transplant(weights: dict, old_vocab: Vocab, model: CharRNN, new_vocab: Vocab) -> None:
    """Copy another model's weights, moving per-character rows to their places in the larger vocabulary."""
    rows = old_vocab.ids_in(new_vocab)
    target = model.state_dict()
    per_char = {"embedding.weight", "head.weight", "head.bias"}
    with torch.no_grad():
        for name, value in weights.items():
            if name in per_char:
                target[name][rows] = value
            else:
                target[name].copy_(value)
    model.load_state_dict(target)


@contextmanager
def unusable(path: Path | None, what: str, errors: tuple[type[BaseException], ...]):
    """A damaged or hand-edited checkpoint is bad input: one clear CheckpointError, not a traceback. Only
    the ``errors`` that reading such a file raises are translated; anything else is a bug and propagates."""
    try:
        yield
    except CheckpointError:
        raise
    except errors as error:
        detail = " ".join(str(error).split())[:200]
        raise CheckpointError(f"{path}: {what} ({type(error).__name__}: {detail})") from None
