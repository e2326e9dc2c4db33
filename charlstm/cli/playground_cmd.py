"""``charlstm playground``: one HTML page that runs the model as you type."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from charlstm.cli import app
from charlstm.cli.common import load_for_cli
from charlstm.cli.options import CheckpointArg
from charlstm.cli.render import console, note


@app.command()
def playground(
    checkpoint: CheckpointArg = None,
    out: Annotated[Optional[Path], typer.Option(help="Where to write the page (default: playground.html in the run "
                                                     "directory; in the current directory for pretrained:NAME).",
                                                show_default=False)] = None,
    unit: Annotated[Optional[str], typer.Option(help="LAYER:UNIT tinted first (default: the memory unit of a "
                                                     "memory-corpus model, else 0:0).", show_default=False)] = None,
) -> None:
    """Write a page that runs the model in the browser: type or paste text and watch the next-character
    probabilities, a continuation, a unit's cell state and gates (and, for a memory-corpus model, which
    language follows "I speak fluent ") change with every character.

    The page embeds the weights and loads nothing; it opens from disk anywhere, with no server.

    **Examples**

        charlstm playground pretrained:memory-lstm --out memory.html
        charlstm playground checkpoints/tinyshakespeare --unit 1:330
    """
    from charlstm.playground import playground_path, playground_unit, write_playground

    model, vocab, payload, path = load_for_cli(checkpoint, "cpu")
    chosen = playground_unit(model, vocab, payload, unit)
    if unit is None and chosen != (0, 0):
        note(f"tinting the memory unit {chosen[0]}:{chosen[1]} (charlstm probe --suite units)")
    target = write_playground(model, vocab, payload, playground_path(out, checkpoint, path),
                              title=f"charlstm playground: {checkpoint or path}", unit=chosen)
    console.print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB)")
