"""``charlstm train``: options in, progress bar and evaluation reports out."""

from __future__ import annotations

import signal
import threading
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Optional

import typer

from charlstm.cli import app, fail
from charlstm.cli.common import prepare_or_fail
from charlstm.cli.options import DEVICE_HELP, SEED_HELP, DataDir, MaybeEncoding, MaybeValFraction, json_option
from charlstm.cli.render import console, nats, note, print_json
from charlstm.cli.train_view import TrainView, install_stop_handlers
from charlstm.config import FUSED_CELLS, ModelConfig, TrainConfig

MODEL = "Model"
TRAINING = "Training"
RUN = "Run"


def _default(cls: type, name: str) -> str:
    """The dataclass default, so help text never drifts from the code."""
    return str(next(f.default for f in fields(cls) if f.name == name))


def _model(name: str, help_text: str, **kwargs):
    return typer.Option(help=f"{help_text} (default: {_default(ModelConfig, name)})", show_default=False,
                        rich_help_panel=MODEL, **kwargs)


def _train(name: str, help_text: str, **kwargs):
    default = _default(TrainConfig, name)
    suffix = f" (default: {default})" if default != "None" else ""
    return typer.Option(help=help_text + suffix, show_default=False, rich_help_panel=TRAINING, **kwargs)


@app.command()
def train(
    corpus: Annotated[Optional[list[str]], typer.Argument(
        help="Text files, folders or builtin:memory (default: builtin:memory, or the run's own with --resume)",
        show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run directory (default: checkpoints/CORPUS_NAME)",
                                                show_default=False, rich_help_panel=RUN)] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out exactly where it stopped.",
                                         rich_help_panel=RUN)] = False,
    init_from: Annotated[Optional[Path], typer.Option(help="Start from another run's weights (fine-tuning).",
                                                      rich_help_panel=RUN)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a run already in --out.",
                                            rich_help_panel=RUN)] = False,
    config: Annotated[Optional[Path], typer.Option(
        help="Settings from a TOML file ([model], [train] and [corpus] tables, or bare keys), or a run's "
             "config.json to reproduce it; a --recipe beneath it, flags above it.", rich_help_panel=RUN,
        show_default=False)] = None,
    recipe: Annotated[Optional[str], typer.Option(help="Start from named settings: memory (the recipe for the "
                                                       "built-in memory corpus), shakespeare-1min or "
                                                       "shakespeare-10min (the best found for tiny-shakespeare "
                                                       "in 66 and 600 reference seconds); flags still win.",
                                                  rich_help_panel=RUN)] = None,
    cell: Annotated[Optional[str], _model("cell", "Recurrent cell: lstm, gru, rnn (fused), or peephole, coupled, "
                                               "depth-gated, clockwork, grid, mingru, minlstm (see the README's "
                                               "Cells).")] = None,
    num_layers: Annotated[Optional[int], _model("num_layers", "Stacked recurrent layers.")] = None,
    hidden_size: Annotated[Optional[int], _model("hidden_size", "Units per layer.")] = None,
    embedding_dim: Annotated[Optional[int], _model("embedding_dim", "Character embedding size.")] = None,
    dropout: Annotated[Optional[float], _model("dropout", "Dropout between layers and before the head.")] = None,
    tie_weights: Annotated[Optional[bool], _model("tie_weights", "Share input embedding and output weights.")] = None,
    forget_bias: Annotated[Optional[float], _model("forget_bias", "Initial LSTM forget-gate bias.")] = None,
    chrono_init: Annotated[Optional[int], _model("chrono_init", "Chrono initialisation (Tallec & Ollivier 2018): "
                                                 "LSTM forget biases log(U(1, T-1)) for T = this value; 0 = off "
                                                 "(then --forget-bias applies).")] = None,
    clockwork_modules: Annotated[Optional[int], _model("clockwork_modules", "Clockwork RNN: modules of units with "
                                                       "periods 1, 2, 4, ... (at most 16).")] = None,
    attention_memory: Annotated[Optional[int], _model("attention_memory", "Attention over the top layer's last "
                                                      "this many outputs, carried across windows like the "
                                                      "state (SHA-RNN style; 0 = none).")] = None,
    attention_kind: Annotated[Optional[str], _model("attention_kind", "How the attention weighs its memory: "
                                                    "softmax (SHA-RNN), or stick-breaking (the latest match "
                                                    "wins, however far back).")] = None,
    weight_drop: Annotated[Optional[float], _model("weight_drop", "DropConnect on the recurrent matrices (AWD-LSTM): "
                                                   "this share of W_hh's weights dropped, one mask per window "
                                                   f"({', '.join(FUSED_CELLS)}).")] = None,
    embedding_dropout: Annotated[Optional[float], _model("embedding_dropout", "Whole characters dropped from the "
                                                         "input, one mask per window (AWD-LSTM).")] = None,
    locked_dropout: Annotated[Optional[bool], _model("locked_dropout", "One --dropout mask per window for all its "
                                                     "time steps (variational, AWD-LSTM).")] = None,
    seq_len: Annotated[Optional[int], _train("seq_len", "Characters per window (gradient horizon).")] = None,
    batch_size: Annotated[Optional[int], _train("batch_size", "Parallel streams.")] = None,
    lr: Annotated[Optional[float], _train("lr", "Peak AdamW learning rate.")] = None,
    weight_decay: Annotated[Optional[float], _train("weight_decay", "AdamW weight decay on the weight matrices (biases are never decayed).")] = None,
    beta2: Annotated[Optional[float], _train("beta2", "AdamW's second-moment decay (lower: steadier at a high --lr).")] = None,
    warmup_steps: Annotated[Optional[int], _train("warmup_steps", "Linear warm-up steps.")] = None,
    min_lr_ratio: Annotated[Optional[float], _train("min_lr_ratio", "Learning rate at the end of the cosine "
                                                    "decay, as a share of --lr (1: constant).")] = None,
    grad_clip: Annotated[Optional[float], _train("grad_clip", "Gradient-norm clipping threshold.")] = None,
    max_steps: Annotated[Optional[int], _train("max_steps", "Stop after this many steps.")] = None,
    epochs: Annotated[Optional[float], _train("epochs", "Stop after this many passes over the corpus "
                                              "(default: 10 when no other limit is given)")] = None,
    max_time: Annotated[Optional[float], _train("max_time", "Stop after this many seconds (wall clock).")] = None,
    eval_every: Annotated[Optional[int], _train("eval_every", "Evaluate, sample and save every N steps.")] = None,
    eval_chars: Annotated[Optional[str], _train("eval_chars", "Validation characters each evaluation reads, "
                                                "spread over the split, the same every time (a number, or all; "
                                                "default: about 30% of the characters trained between two "
                                                "evaluations, so evaluating takes about a tenth of the time).")
                          ] = None,
    sample_length: Annotated[Optional[int], _train("sample_length", "Characters sampled at each evaluation.")] = None,
    seed: Annotated[Optional[int], _train("seed", SEED_HELP)] = None,
    device: Annotated[Optional[str], _train("device", DEVICE_HELP)] = None,
    on_divergence: Annotated[Optional[str], _train("on_divergence", "On a NaN/inf loss: stop or skip.")] = None,
    precision: Annotated[Optional[str], _train("precision", "fp32; bf16: forward and loss under bfloat16 "
                                               "autocast (fast on GPUs and on CPUs with AVX-512 BF16 or AMX; "
                                               "emulated, so slower, elsewhere); fp16: float16 autocast with a "
                                               "gradient scaler, CUDA only. Weights and checkpoints stay fp32.")] = None,
    watch_probe: Annotated[Optional[str], _train("watch_probe", "A cue-swap probe file (TOML) read at every "
                                                 "evaluation, its accuracy logged beside the loss; a run on "
                                                 "builtin:memory watches its memory without one.")] = None,
    best_on: Annotated[Optional[str], _train("best_on", "What best.pt is chosen on: loss, or memory (the "
                                             "watched memory's score, ties to the lower loss).")] = None,
    average_evals: Annotated[Optional[int], _train("average_evals", "Evaluate and keep the mean of the "
                                                   "weights at the last K evaluations (training goes on "
                                                   "from its own).")] = None,
    fresh_starts: Annotated[Optional[float], _train("fresh_starts", "The chance, at each window, that a stream "
                                                 "starts from a fresh state instead of the one carried, so the "
                                                 "model learns to start from nothing as sampling does.")] = None,
    val_fraction: MaybeValFraction = None,
    encoding: MaybeEncoding = None,
    data_dir: DataDir = Path("data"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No samples at evaluations.")] = False,
    as_json: Annotated[bool, json_option("A summary at the end (run directory, steps, best and last "
                                         "validation, elapsed, why it stopped)")] = False,
) -> None:
    """Train a character-level model with truncated backpropagation through time.

    The corpus is read as **--batch-size** contiguous streams; each step reads the next
    **--seq-len** characters of every stream and carries the LSTM state into the next window
    (detached at the border), so memory can outlive a window while gradients stop at it.

    **Examples**

        charlstm train corpus.txt
        charlstm train tinyshakespeare.txt --recipe shakespeare-10min
        charlstm train books/ --num-layers 3 --hidden-size 768 --epochs 20
        charlstm train --recipe memory
        charlstm train --config run.toml --lr 1e-3
        charlstm train --config checkpoints/corpus/config.json --out checkpoints/again
        charlstm train --resume --out checkpoints/corpus
        charlstm train lyrics.txt --init-from checkpoints/corpus --lr 5e-4
        charlstm train corpus.txt --precision bf16
    """
    from charlstm.checkpoint import resolve_checkpoint
    from charlstm.distributed import main_first, process_group
    from charlstm.settings import resolve_settings
    from charlstm.train import train as run_training

    given = locals()
    if eval_chars is not None:
        given["eval_chars"] = parse_eval_chars(eval_chars)
    # Under torchrun this process is one of several; a run they stopped together ends in typer.Exit.
    with process_group(agreed=(typer.Exit,)) as world:
        if not world.is_main:
            console.quiet = True      # rank 0 speaks for the run
        settings = resolve_settings(
            inputs=corpus, out_dir=out, resume=resume, recipe=recipe, config_file=config,
            model={f.name: given[f.name] for f in fields(ModelConfig) if given.get(f.name) is not None},
            train={f.name: given[f.name] for f in fields(TrainConfig) if given.get(f.name) is not None},
            val_fraction=val_fraction, encoding=encoding)
        for line in settings.notes:
            note(line)
        out = settings.out_dir
        if init_from is not None:
            init_from = resolve_checkpoint(init_from)
        with main_first(world):   # rank 0 prepares the corpus cache, the others then read it
            prepared = prepare_or_fail(settings.inputs, data_dir, settings.val_fraction, settings.encoding)
        for line in settings.differences(prepared):
            note(line)
        stop = threading.Event()
        received = install_stop_handlers(stop)
        view = TrainView(show_samples=not quiet) if world.is_main else None
        try:
            result = run_training(prepared, out, model_config=settings.model, train_config=settings.train,
                                  resume=resume, init_from=init_from, overwrite=overwrite, on_event=view,
                                  stop_event=stop, world=world)
        finally:
            if view is not None:
                view.close()
        if as_json and world.is_main:
            print_json({"run_dir": str(out), "steps": result.step, "best_val_loss": result.best_val_loss,
                        "last_val_loss": result.last_val_loss, "elapsed": round(result.elapsed, 3),
                        "reason": result.reason})
        summary = f"best validation {nats(result.best_val_loss)}" if result.best_val_loss is not None else "no evaluation"
        if result.reason == "diverged":
            fail(f"training diverged at step {result.step + 1}: the loss or gradient became NaN/inf; "
                 f"{out / 'last.pt'} holds the last good checkpoint (try a lower --lr)", 1)
        if result.reason == "interrupted":
            console.print(f"stopped at step {result.step}; saved {out / 'last.pt'}. Resume with: "
                          f"charlstm train --resume --out {out}")
            raise typer.Exit(130 if received.get("signal") == signal.SIGINT else 0)
        console.print(f"[green]done[/]: {result.step} steps in {result.elapsed:.0f} s ({result.reason}), {summary}. "
                      f"Checkpoints in {out}/. Next: charlstm sample {out}")


def parse_eval_chars(text: str) -> int:
    """``--eval-chars``: a count (k and M suffixes welcome), or ``all`` (0, the whole split)."""
    from charlstm.errors import ConfigError

    if text.strip().lower() == "all":
        return 0
    multiplier = {"k": 1_000, "m": 1_000_000}.get(text.strip()[-1:].lower(), 1)
    try:
        value = int(float(text.strip()[:-1] if multiplier > 1 else text) * multiplier)
    except ValueError:
        raise ConfigError(f"--eval-chars must be a number of characters or all, not {text!r}") from None
    if value < 0:
        raise ConfigError("--eval-chars must be 0 (all) or more")
    return value
