"""``charlstm export``: a model's step as a file other runtimes load (TorchScript)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from charlstm.cli import app
from charlstm.cli.common import load_for_cli
from charlstm.cli.options import CheckpointArg
from charlstm.cli.render import console


@app.command()
def export(
    checkpoint: CheckpointArg = None,
    out: Annotated[Path, typer.Option(help="The file to write.")] = Path("model.ts"),
    format: Annotated[str, typer.Option("--format", help="torchscript (torch.jit.load runs it without "
                                                         "charlstm).")] = "torchscript",
) -> None:
    """Write the model's step (character id and state in, logits and state out) for other runtimes.

    `charlstm help python` shows ten lines that sample from the file with torch alone.

    **Examples**

        charlstm export pretrained:memory-lstm --out memory.ts
    """
    from charlstm.errors import ConfigError
    from charlstm.export import export_torchscript

    if format != "torchscript":
        raise ConfigError(f"--format must be torchscript, not {format!r} (ONNX is not there yet)")
    model, vocab, _, _ = load_for_cli(checkpoint, "cpu")
    target = export_torchscript(model, vocab, out)
    console.print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB): torch.jit.load({str(target)!r})")
