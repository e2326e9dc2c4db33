"""``charlstm export``: a model's step as a file other runtimes load (TorchScript or ONNX)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from charlstm.cli import app
from charlstm.cli.common import load_for_cli
from charlstm.cli.options import CheckpointArg
from charlstm.cli.render import console


@app.command()
def export(
    checkpoint: CheckpointArg = None,
    out: Annotated[Optional[Path], typer.Option(help="The file to write (default: model.ts or model.onnx).",
                                                show_default=False)] = None,
    format: Annotated[str, typer.Option("--format", help="torchscript (torch.jit.load runs it) or onnx "
                                                         "(onnxruntime runs it; needs charlstm[export]).")] = "torchscript",
) -> None:
    """Write the model's step (character id and state in, logits and state out) for other runtimes.

    `charlstm help python` shows ten lines that sample from the file with torch alone.

    **Examples**

        charlstm export pretrained:memory-lstm --out memory.ts
        charlstm export checkpoints/corpus --format onnx
    """
    from charlstm.export import FORMATS, export_step

    model, vocab, _, _ = load_for_cli(checkpoint, "cpu")
    target = export_step(model, vocab, out or Path(FORMATS.get(format, "model")), format)
    loader = "torch.jit.load" if format == "torchscript" else "onnxruntime.InferenceSession"
    console.print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB): {loader}({str(target)!r})")
