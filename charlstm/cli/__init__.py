"""The command line: parses options, calls the library, renders results. It does no work of its own.

Every failure a user can cause (a CharlstmError, or a malformed option caught by Typer) ends as one line
on stderr and a non-zero exit: 1 for bad input, 2 for bad usage, 130 for Ctrl-C. The library is imported
inside each command so that ``charlstm --help`` never pays for importing torch.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from charlstm import __version__

try:  # Typer carries its own copy of Click from 0.26 on; before, it used the click package.
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older Typer
    from click.exceptions import ClickException

HELP = """Character-level LSTM text generator that makes the network's memory visible.

First run: **charlstm demo** trains a vanilla RNN and an LSTM on the built-in memory corpus and shows
what each remembers. Then: **charlstm train corpus.txt**, **charlstm sample --temp 0.8**; reference pages:
**charlstm help**.
"""


class OneLineErrors(TyperGroup):
    """Runs commands non-standalone so every error, ours or Typer's, becomes a single stderr line."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        from charlstm.errors import CharlstmError

        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except CharlstmError as error:
            fail(str(error), 1)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except typer.Abort:
            fail("aborted", 130)
        except ClickException as error:
            # Typer's usage errors (bad option type, missing argument); anything else is a bug and keeps
            # its traceback.
            context = getattr(error, "ctx", None)
            hint = f" (see '{context.command_path} --help')" if context is not None else ""
            fail(error.format_message() + hint, error.exit_code)
        sys.exit(code if isinstance(code, int) else 0)


def fail(message: str, code: int) -> None:
    """The single stderr line every error ends as."""
    message = " ".join(str(message).split())  # one line, whatever the message held
    print(f"charlstm: error: {message}", file=sys.stderr)
    sys.exit(code)


app = typer.Typer(cls=OneLineErrors, no_args_is_help=True, add_completion=False,
                  rich_markup_mode="markdown", pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]})


def _version(value: bool) -> None:
    if value:
        print(f"charlstm {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    pass


root.__doc__ = HELP


# Each module adds its commands to ``app``; importing them here registers them.
from charlstm.cli import (compare_cmd, corpus_cmd, demo_cmd, eval_cmd, export_cmd, help_cmd, info_cmd,  # noqa: E402,F401
                          playground_cmd, probe_cmd, report_cmd, sample_cmd, train_cmd, units_cmd)


def main() -> None:
    try:
        app()
    except SystemExit as done:
        if _torchrun_worker():
            _exit_without_finalizing(done.code)
        raise


def _torchrun_worker() -> bool:
    if "WORLD_SIZE" not in os.environ:   # not started by torchrun: no need to import torch.distributed
        return False
    from charlstm.distributed import world_from_env
    from charlstm.errors import ConfigError

    try:
        return world_from_env().distributed
    except ConfigError:   # already reported by the command itself
        return False


def _exit_without_finalizing(code: Any) -> None:
    """End a torchrun worker once its command is done (process group left, files renamed into place,
    output flushed) without the interpreter's finalization: with DDP over gloo, a worker aborted there in
    about one torchrun run in 15 ("terminate called without an active exception", after
    destroy_process_group and the atexit handlers had run; a bare DDP-wrapped nn.LSTM did it in 4 of 60
    runs, and in 0 of 80 ending this way), failing a run that had finished."""
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
