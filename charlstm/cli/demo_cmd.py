"""``charlstm demo``: the first run, on the built-in memory corpus."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from charlstm.cli import app
from charlstm.cli.render import console, nats
from charlstm.cli.train_cmd import TrainView, install_stop_handlers


@app.command()
def demo(
    max_time: Annotated[Optional[float], typer.Option(help="Training seconds (default: the demo recipe's 120)",
                                                      show_default=False)] = None,
    out: Annotated[Path, typer.Option(help="Run directory (replaced on each demo).")] = Path("checkpoints/demo"),
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No samples during training.")] = False,
) -> None:
    """Train a small LSTM on the built-in memory corpus (about 2 minutes), then show what it learned.

    The corpus is made of stories like "I grew up in France. *filler* I speak fluent French.": the demo
    ends with the model's probability for each language after a country it was told earlier.

    **Examples**

        charlstm demo
        charlstm demo --max-time 30
    """
    from charlstm.demo import run_demo

    stop = threading.Event()
    received = install_stop_handlers(stop)
    result = run_demo(out_dir=out, max_time=max_time, device=device, on_event=TrainView(not quiet),
                      stop_event=stop)
    console.print(f"\nTrained {result.training.step} steps in {result.training.elapsed:.0f} s; best validation "
                  f"{nats(result.training.best_val_loss)}; model in {result.checkpoint}")
    console.rule("sample (prime: \"I grew up in Japan. \")")
    console.print(result.sample, markup=False)
    console.rule("memory: I grew up in <country>. <filler> I speak fluent ___")
    languages = list(result.completions[0].probabilities)
    # One row per country, a few columns: fits an 80-column terminal (14 language columns did not).
    table = Table(show_lines=False)
    for column in ("grew up in", "right answer", "P(right)", "model's pick", "runner-up"):
        table.add_column(column, justify="right" if column == "P(right)" else "left")
    hits = 0
    for completion in result.completions:
        hit = completion.predicted == completion.expected
        hits += hit
        ranked = sorted(completion.probabilities.items(), key=lambda item: -item[1])
        runner_up = next((f"{lang} {p:.2f}" for lang, p in ranked if lang != completion.predicted), "")
        pick_style = "bold green" if hit else "red"
        table.add_row(completion.country, completion.expected, f"{completion.probabilities[completion.expected]:.2f}",
                      f"[{pick_style}]{completion.predicted}[/]", runner_up)
    console.print(table)
    filler = result.completions[0].filler
    console.print(f"The model picks the cue's language for {hits} of {len(result.completions)} countries "
                  f"(chance: 1 in {len(languages)}), across the filler {filler!r} ({len(filler)} characters, "
                  f"drawn with a seed never used in training).", markup=False)
    console.print("Next: charlstm train --recipe memory (about 5 minutes: memory across hundreds of characters), "
                  "then charlstm probe checkpoints/memory   |   charlstm train corpus.txt", markup=False)
    if result.training.reason == "interrupted" and received.get("signal") == signal.SIGINT:
        raise typer.Exit(130)
