"""``charlstm eval``: a checkpoint's loss on a text file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from charlstm.cli import app
from charlstm.cli.render import console, nats, print_json, warn
from charlstm.cli.common import load_for_cli
from charlstm.cli.options import DeviceOption, Encoding, PrecisionOption, json_option
from charlstm.config import ENCODING


@app.command("eval")
def evaluate(
    checkpoint: Annotated[Path, typer.Argument(help="A run directory or a .pt file.", show_default=False)],
    file: Annotated[Path, typer.Argument(help="Text file to measure the model on.", show_default=False)],
    encoding: Encoding = ENCODING,
    device: DeviceOption = "auto",
    precision: PrecisionOption = "fp32",
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
    model, vocab, _, path = load_for_cli(checkpoint, device, precision=precision)
    report = evaluate_text(model, vocab, text)
    if as_json:
        print_json({"checkpoint": str(path), "file": str(file), **report.to_dict()})
        return
    if report.unknown:
        warn(f"skipped {sum(report.unknown.values())} character(s) outside the vocabulary: "
             f"{describe_chars(report.unknown)}")
    console.print(f"{file}: [bold]{nats(report.nats_per_char)}[/] over {report.chars:,} characters")
