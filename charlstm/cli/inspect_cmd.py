"""``charlstm eval`` and ``charlstm info``: measure a checkpoint on a file; describe a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from charlstm.cli import app
from charlstm.cli.render import console, nats, print_json, warn
from charlstm.cli.common import load_for_cli
from charlstm.cli.options import CheckpointArg, DeviceOption, Encoding, json_option


@app.command("eval")
def evaluate(
    checkpoint: Annotated[Path, typer.Argument(help="A run directory or a .pt file.", show_default=False)],
    file: Annotated[Path, typer.Argument(help="Text file to measure the model on.", show_default=False)],
    encoding: Encoding = "utf-8",
    device: DeviceOption = "auto",
    as_json: Annotated[bool, json_option("Every figure")] = False,
) -> None:
    """Loss of a model on a text file, in nats/char and bits/char.

    Characters outside the model's vocabulary are counted, reported and skipped.

    **Examples**

        charlstm eval checkpoints/tinyshakespeare held_out.txt
        charlstm eval run/best.pt notes.txt --json
    """
    from charlstm.corpus import read_text
    from charlstm.errors import CorpusError
    from charlstm.evaluate import evaluate_text
    from charlstm.vocab import describe_chars

    text = read_text(file, encoding)
    if not text.strip():
        raise CorpusError(f"{file}: empty file, nothing to evaluate")
    model, vocab, _, path = load_for_cli(checkpoint, device)
    report = evaluate_text(model, vocab, text)
    if as_json:
        print_json({"checkpoint": str(path), "file": str(file), **report.to_dict()})
        return
    if report.unknown:
        warn(f"skipped {sum(report.unknown.values())} character(s) outside the vocabulary: "
             f"{describe_chars(report.unknown)}")
    console.print(f"{file}: [bold]{nats(report.nats_per_char)}[/] over {report.chars:,} characters")


@app.command()
def info(checkpoint: CheckpointArg = None, as_json: Annotated[bool, json_option("Every figure")] = False) -> None:
    """Describe a checkpoint: configuration, size, vocabulary, progress, best validation loss.

    With no CHECKPOINT, describes the newest run under checkpoints/.

    **Examples**

        charlstm info
        charlstm info checkpoints/tinyshakespeare --json
    """
    from charlstm.checkpoint import describe, load_checkpoint, resolve_checkpoint

    path = resolve_checkpoint(checkpoint)
    facts = describe(load_checkpoint(path), path)
    if as_json:
        print_json(facts)
        return
    table = Table(title=str(path), show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in facts["model_config"].items():
        table.add_row(key, str(value))
    table.add_row("parameters", f"{facts['parameters']:,}")
    table.add_row("vocabulary", repr(facts["vocab"]))
    corpus = facts.get("corpus") or {}
    table.add_row("corpus", f"{corpus.get('name', '?')} ({corpus.get('train_chars', '?')} train chars)")
    table.add_row("step", f"{facts['step']} (epoch {facts['epoch']}, {facts['chars_seen'] or 0:,} chars seen, "
                          f"{facts['elapsed_seconds'] or 0:.0f} s)")
    table.add_row("validation", nats(facts["val_loss"]))
    table.add_row("best validation", nats(facts["best_val_loss"]))
    console.print(table)
