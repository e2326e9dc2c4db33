"""``charlstm demo``: the first run, on the built-in memory corpus."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from charlstm.cli import app
from charlstm.cli.options import DeviceOption, json_option
from charlstm.cli.render import console, nats, print_json
from charlstm.cli.train_view import TrainView, install_stop_handlers


@app.command()
def demo(
    max_time: Annotated[Optional[float], typer.Option(help="Cap each model's training at this many seconds "
                                                           "(default: the demo's step budget alone)",
                                                      show_default=False)] = None,
    out: Annotated[Path, typer.Option(help="Where the two runs go, as rnn/ and lstm/ (replaced on each demo).")]
        = Path("checkpoints/demo"),
    device: DeviceOption = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No samples during training.")] = False,
    as_json: Annotated[bool, json_option("The results (training summaries, memory accuracy by model and "
                                         "distance, the example, the stories)")] = False,
) -> None:
    """Train a vanilla RNN and an LSTM to remember a country, then test what they and the shipped models remember.

    The corpus is made of stories like "I grew up in France. *filler* I speak fluent French.". Each model
    trains on the same text for the same number of steps, and every evaluation prints how often it answers
    with the cue's language after filler. Then four models answer "I speak fluent ___" after filler they
    never saw (new words, new sentence structures): the two you just trained, the LSTM that ships with
    charlstm (trained by charlstm train --recipe memory) and a vanilla RNN trained the same way.

    **Examples**

        charlstm demo
        charlstm demo --json > demo.json
    """
    from charlstm.demo import run_demo

    stop = threading.Event()
    received = install_stop_handlers(stop)
    result = run_demo(out_dir=out, max_time=max_time, device=device, on_event=TrainView(not quiet),
                      stop_event=stop, on_stage=lambda text: console.print(f"\n{text}..."))
    if as_json:
        print_json(result.to_dict())
    else:
        render_demo(result)
    if stop.is_set() and received.get("signal") == signal.SIGINT:
        raise typer.Exit(130)


def render_demo(result) -> None:
    for cell, training in result.trainings.items():
        console.print(f"{cell}: {training.step} steps in {training.elapsed:.0f} s, best validation "
                      f"{nats(training.best_val_loss)}; model in {result.checkpoints.get(cell, '-')}")
    render_memory(result)
    console.rule("the shipped LSTM writes (each line: a prompt, then the model's own story)")
    for story in result.stories:
        console.print(f"[bold]{escape(story.prompt)}[/] {escape(story.text)}")
    if result.noise:
        console.print("[dim](Sentences of random letters are the corpus's noise filler: text nothing can predict "
                      "or recognise, so that the memory it learns cannot rely on knowing the filler.)[/]")
    console.print("\nNext: charlstm sample --temp 0.8 (the LSTM you just trained), charlstm train --recipe memory "
                  "(the shipped LSTM's recipe), charlstm probe pretrained:memory-lstm --suite units (which units "
                  "carry the country), charlstm train corpus.txt (your own text)", markup=False)


def _percent(value: float) -> str:
    style = "bold green" if value >= 0.9 else "yellow" if value >= 0.3 else "red"
    return f"[{style}]{value:.0%}[/]"


def render_memory(result) -> None:
    console.rule("memory: I grew up in <country>. <filler never seen in training> I speak fluent ___")
    distances = list(result.rows[0].accuracy)
    table = Table(title="share of 14 countries x 3 fillers answered with the cue's language (chance 7%)",
                  title_justify="left")
    table.add_column("filler characters between cue and question")
    for distance in distances:
        table.add_column(str(distance), justify="right")
    for row in result.rows:
        table.add_row(row.label, *(_percent(row.accuracy[d]) for d in distances))
    console.print(table)
    labels = list(result.completions[0].picks)
    example = Table(title=f"the same {len(result.filler)} characters of unseen filler after each country: "
                          "each model's pick, and its probability for the right answer", title_justify="left")
    example.add_column("grew up in")
    for label in labels:
        example.add_column(label.split(",")[0].split(" (")[0], justify="left")
    for completion in result.completions:
        cells = []
        for label in labels:
            pick, p_right = completion.picks[label]
            style = "green" if pick == completion.expected else "red"
            cells.append(f"[{style}]{pick}[/] ({p_right:.2f})")
        example.add_row(completion.country, *cells)
    console.print(example)
    console.print(f"filler: {result.filler!r}", markup=False)
