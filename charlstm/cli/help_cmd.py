"""``charlstm help [TOPIC]``: the reference pages shipped with the package, rendered in the terminal."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.markdown import Markdown
from rich.table import Table

from charlstm.cli import app
from charlstm.cli.render import stdout_console


@app.command("help")
def help_topic(
    topic: Annotated[Optional[str], typer.Argument(help="A topic (default: list them).", show_default=False)] = None,
) -> None:
    """Reference pages, readable offline: corpora, training, gpu, checkpoints, sampling, probes, report, cells,
    python, development.

    **Examples**

        charlstm help
        charlstm help probes
        charlstm help cells | less
    """
    from charlstm.docs import TOPICS, topic_text

    if topic is None:
        table = Table(title="charlstm help TOPIC", title_justify="left", show_header=False, box=None)
        for name, about in TOPICS.items():
            table.add_row(f"[bold]{name}[/]", about)
        stdout_console.print(table)
        return
    stdout_console.print(Markdown(topic_text(topic)))
