"""``charlstm compare``: every cell at the same parameter budget on the same text, one table."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from charlstm.cli import app
from charlstm.cli.common import prepare_or_fail
from charlstm.cli.options import DEVICE_HELP, SEED_HELP, DataDir, json_option
from charlstm.cli.render import console, note, print_json
from charlstm.cli.train_view import TrainView, install_stop_handlers
from charlstm.config import CELLS, RUNS_ROOT

ALL_CELLS = ",".join(CELLS)


@app.command()
def compare(
    corpus: Annotated[Optional[list[str]], typer.Argument(
        help="Text files, folders or builtin:memory (default: the recipe's corpus, else builtin:memory)",
        show_default=False)] = None,
    cells: Annotated[str, typer.Option(help="Comma-separated cells; the first sets the parameter budget. A cell "
                                            "with +attention (lstm+attention) also attends over its past "
                                            "(--attention-memory characters).")] = ALL_CELLS,
    out: Annotated[Optional[Path], typer.Option(help="Compare directory, one run per cell (default: "
                                                     "checkpoints/compare-CORPUS_NAME)", show_default=False)] = None,
    recipe: Annotated[Optional[str], typer.Option(help="Start from named settings (memory, shakespeare-1min, "
                                                       "shakespeare-10min), as in train.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="Settings from a TOML file or a run's config.json, as "
                                                        "in train.", show_default=False)] = None,
    num_layers: Annotated[Optional[int], typer.Option(help="Layers of every cell.", show_default=False)] = None,
    hidden_size: Annotated[Optional[int], typer.Option(help="Hidden size of the first cell, which sets the "
                                                            "parameter budget.", show_default=False)] = None,
    embedding_dim: Annotated[Optional[int], typer.Option(show_default=False)] = None,
    dropout: Annotated[Optional[float], typer.Option(show_default=False)] = None,
    attention_memory: Annotated[Optional[int], typer.Option(help="The memory of the cells given with +attention, "
                                                                 "in characters.", show_default=False)] = None,
    attention_kind: Annotated[Optional[str], typer.Option(help="Their weighing: softmax or stick-breaking.",
                                                          show_default=False)] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="Training budget of each cell, in steps.",
                                                     show_default=False)] = None,
    max_time: Annotated[Optional[float], typer.Option(help="Training budget of each cell, in seconds.",
                                                      show_default=False)] = None,
    seed: Annotated[Optional[int], typer.Option(help=SEED_HELP + " The same for every cell.",
                                                show_default=False)] = None,
    device: Annotated[Optional[str], typer.Option(help=DEVICE_HELP, show_default=False)] = None,
    data_dir: DataDir = Path("data"),
    as_json: Annotated[bool, json_option("The table")] = False,
) -> None:
    """Train each cell with the same parameter count, data order, seed and budget, then compare them.

    Hidden sizes are chosen so every cell's parameter count is within 5% of the first cell's. Runs go to
    **--out**/CELL; a finished run is reused and an interrupted one resumed, so a comparison can be
    stopped (Ctrl-C) and continued by running the same command again. Validation bits/char is measured on
    the held-out share of the corpus; on the built-in memory corpus, the cue-swap memory span, and the
    cue-swap and forgetting accuracies at 100 characters, on filler the corpus never uses.

    **Examples**

        charlstm compare --recipe memory --max-steps 2000
        charlstm compare tinyshakespeare.txt --cells lstm,gru,coupled --max-steps 500
        charlstm compare --recipe memory --cells lstm,lstm+attention --attention-memory 1000 --max-steps 4000
        charlstm compare corpus.txt --max-time 300 --json
    """
    from charlstm.compare import compare as run_compare
    from charlstm.compare import parse_cells
    from charlstm.corpus import corpus_name
    from charlstm.errors import ConfigError
    from charlstm.settings import resolve_settings

    chosen = parse_cells(cells)
    if max_steps is None and max_time is None and recipe is None and config is None:
        raise ConfigError("give every cell the same budget: --max-steps N or --max-time S (or a --recipe)")
    given = {"num_layers": num_layers, "hidden_size": hidden_size, "embedding_dim": embedding_dim,
             "dropout": dropout, "attention_memory": attention_memory, "attention_kind": attention_kind}
    training = {"max_steps": max_steps, "max_time": max_time, "seed": seed, "device": device}
    settings = resolve_settings(inputs=corpus, recipe=recipe, config_file=config,
                                model={k: v for k, v in given.items() if v is not None},
                                train={k: v for k, v in training.items() if v is not None})
    for line in settings.notes:
        note(line)
    settings.model.pop("cell", None)  # the cells come from --cells
    out = out or RUNS_ROOT / f"compare-{corpus_name(settings.inputs)}"
    prepared = prepare_or_fail(settings.inputs, data_dir, settings.val_fraction, settings.encoding)
    stop = threading.Event()
    received = install_stop_handlers(stop)
    views: dict[str, TrainView] = {}

    def on_event(cell, event):
        if cell not in views:
            console.rule(f"[bold]{cell}[/]")
            views[cell] = TrainView(show_samples=False)
        views[cell](event)

    try:
        rows = run_compare(prepared, out, chosen, model=settings.model, config=settings.train, on_event=on_event,
                           stop_event=stop)
    finally:
        for view in views.values():
            view.close()
    if rows and rows[-1].reason == "interrupted":
        console.print(f"stopped during {rows[-1].cell}; run the same command again to continue")
        raise typer.Exit(130 if received.get("signal") == signal.SIGINT else 0)
    if as_json:
        from dataclasses import asdict

        print_json([asdict(row) for row in rows])
    render_table(rows, memory=prepared.name == "memory")


def render_table(rows, memory: bool) -> None:
    table = Table(title="cells at the same parameter budget (validation and probes on held-out text)",
                  title_justify="left")
    columns = ["cell", "parameters", "hidden", "steps", "val bits/char", "train chars/s"]
    if memory:
        columns += ["memory span", "cue-swap@100", "forgetting@100"]
    for column in columns:
        table.add_column(column, justify="left" if column == "cell" else "right")
    for row in rows:
        cells = [row.cell, f"{row.parameters:,}", str(row.hidden_size), str(row.steps),
                 f"{row.val_bpc:.3f}" if row.val_bpc is not None else "-",
                 f"{row.chars_per_sec:,.0f}" if row.chars_per_sec else "-"]
        if memory:
            cells += [str(row.memory_span) if row.memory_span is not None else "none",
                      *(f"{value:.0%}" if value is not None else "-" for value in (row.cue_swap_100, row.forgetting_100))]
        table.add_row(*cells)
    console.print(table)
