"""``charlstm info``: what a checkpoint holds."""

from __future__ import annotations

from typing import Annotated

from rich.table import Table

from charlstm.cli import app
from charlstm.cli.options import CheckpointArg, json_option
from charlstm.cli.render import console, nats, print_json


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
