"""``charlstm units``: which units of a trained model track simple features of held-out text."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from charlstm.cli import app
from charlstm.cli.common import load_for_cli
from charlstm.cli.options import CheckpointArg, DeviceOption, Encoding, json_option
from charlstm.cli.render import console, print_json, tinted, warn
from charlstm.config import ENCODING


def units(
    checkpoint: CheckpointArg = None,
    text: Annotated[Optional[Path], typer.Option(help="Held-out text to read (default: the run's own "
                                                      "validation text).")] = None,
    chars: Annotated[int, typer.Option(help="Characters of held-out text to trace.", min=400,
                                       max=200_000)] = 10_000,
    top: Annotated[int, typer.Option(help="Units to list.", min=1, max=100)] = 8,
    show: Annotated[int, typer.Option(help="Units to draw over a passage, each character tinted by the unit's "
                                           "value.", min=0, max=20)] = 3,
    encoding: Encoding = ENCODING,
    as_json: Annotated[bool, json_option("Every figure, and the shown units' values along the passage")] = False,
    device: DeviceOption = "auto",
) -> None:
    """Find interpretable units: which units' cell states (or outputs) track features of the text.

    Features: inside quotes, inside brackets, position in the line, a speaker's name line ("ROMEO:"),
    inside a word, just after a line break. Each feature's unit is chosen by its correlation over the first
    half of the held-out text and measured over the second half, which played no part in choosing it.

    **Examples**

        charlstm units checkpoints/tinyshakespeare
        charlstm units run/best.pt --text held_out.txt --top 12 --show 5
        charlstm units pretrained:memory-lstm --json
    """
    from charlstm.probes.context_usage import held_out_text
    from charlstm.probes.interpretable import interpretable_units

    model, vocab, payload, _ = load_for_cli(checkpoint, device)
    with console.status("reading held-out text...", spinner="dots"):
        held_out, notes = held_out_text(payload, vocab, text, encoding, chars)
        for message in notes:
            warn(message)
        report = interpretable_units(model, vocab, held_out, top=top)
    if as_json:
        return print_json(report.to_dict())
    render_units_report(report, show)


def render_units_report(report, show: int) -> None:
    state = "cell state" if any(u.kind == "cell" for u in report.top) else "output"
    table = Table(title=f"units whose {state} tracks a feature of held-out text ({report.positions} characters; "
                        f"r: correlation over the second half, unit chosen on the first)", title_justify="left")
    for column, justify in (("layer", "right"), ("unit", "right"), ("state", "left"), ("feature", "left"),
                            ("r", "right"), ("r (choosing half)", "right")):
        table.add_column(column, justify=justify)
    for unit in report.top:
        table.add_row(str(unit.layer), str(unit.unit), unit.kind, unit.feature, _r(unit.r), f"{unit.r_chosen:+.2f}")
    console.print(table)
    best = "   ".join(f"{u.feature} {u.layer}:{u.unit} {u.kind} {_r(u.r)}" for u in report.best)
    console.print(f"best unit per feature: {best}")
    if report.absent:
        console.print(f"[dim]not in this text: {', '.join(report.absent)}[/]")
    for unit in report.top[:show]:
        console.print(f"\n[bold]layer {unit.layer} unit {unit.unit} ({unit.kind})[/], {unit.feature} r={unit.r:+.2f}"
                      f" [dim](red positive, blue negative)[/]:")
        console.print(tinted(report.passage, report.values[unit.key]))


def _r(value: float) -> str:
    style = "green" if abs(value) >= 0.5 else "yellow" if abs(value) >= 0.3 else "default"
    return f"[{style}]{value:+.2f}[/]"


app.command()(units)
# Karpathy et al. call them "cells"; so do users who read the paper.
app.command("cells", hidden=True)(units)
