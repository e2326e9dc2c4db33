"""``charlstm report``: one self-contained HTML page about a trained model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from charlstm.cli import app
from charlstm.cli.common import load_for_cli
from charlstm.cli.options import CheckpointArg, DeviceOption, Encoding, json_option
from charlstm.cli.render import console, warn
from charlstm.config import ENCODING, REPORT_CHARS, REPORT_DRAWS, REPORT_POSITIONS


@app.command()
def report(
    checkpoint: CheckpointArg = None,
    out: Annotated[Optional[Path], typer.Option(help="Where to write the page (default: report.html in the run "
                                                     "directory; in the current directory for pretrained:NAME).",
                                                show_default=False)] = None,
    text: Annotated[Optional[Path], typer.Option(help="Held-out text (default: the run's own validation "
                                                      "text).")] = None,
    chars: Annotated[int, typer.Option(help="Held-out characters traced for gate statistics and units.",
                                       min=400, max=200_000)] = REPORT_CHARS,
    draws: Annotated[int, typer.Option(help="Filler draws per distance for the memory probes.", min=1,
                                       max=1000)] = REPORT_DRAWS,
    positions: Annotated[int, typer.Option(help="Scored positions for context usage.", min=1,
                                           max=1_000_000)] = REPORT_POSITIONS,
    encoding: Encoding = ENCODING,
    as_json: Annotated[bool, json_option("Every figure of the report")] = False,
    device: DeviceOption = "auto",
) -> None:
    """Write one self-contained HTML report: training curve, a sample, memory probes, saliency, context
    usage, gate statistics and interpretable units, all measured on held-out text.

    The page loads nothing from outside (inline style, charts and script), so it can be mailed or archived
    as it is.

    **Examples**

        charlstm report checkpoints/tinyshakespeare
        charlstm report pretrained:memory-lstm --out memory.html
    """
    from charlstm.report.build import ReportOptions, gather, report_json
    from charlstm.report.page import report_path, write_report

    options = ReportOptions(text=text, encoding=encoding, chars=chars, draws=draws, positions=positions)
    model, vocab, payload, path = load_for_cli(checkpoint, device)
    with console.status("measuring...", spinner="dots") as status:
        data = gather(model, vocab, payload, path, options, stage=lambda name: status.update(f"measuring {name}..."))
    for message in data.notes:
        warn(message)
    if as_json:
        print(report_json(data))
    target = write_report(data, report_path(out, checkpoint, path))
    console.print(f"wrote {target}")
