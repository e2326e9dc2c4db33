"""``charlstm sample --interactive``: a prompt loop. Each line typed is read into the model and continued;
the state carries from turn to turn until ``/reset``. Commands change the sampling between turns."""

from __future__ import annotations

import sys
from dataclasses import replace

from charlstm.cli.render import LiveWriter, note, warn

HELP = ("type text and press Enter: the model reads it and continues (an empty line continues from where it "
        "stopped). /reset forgets everything, /temp T, /length N, /seed S, /help; Ctrl-D leaves, Ctrl-C stops "
        "a continuation.")


def run_interactive(model, vocab, options, length: int, seed: int, prompt: str = "") -> None:
    from charlstm.errors import CharlstmError
    from charlstm.sample import Streams

    streams = Streams(model, vocab, options, [seed])
    settings = {"length": length}
    out = LiveWriter(sys.stdout)
    note(HELP)
    if prompt:
        streams.read(prompt)
    while True:
        try:
            line = input("> ")
        except (EOFError, KeyboardInterrupt):
            sys.stderr.write("\n")
            return
        if line.startswith("/"):
            try:
                _command(line, streams, settings)
            except (CharlstmError, ValueError) as error:
                warn(str(error))
            continue
        try:
            streams.read(line)
        except CharlstmError as error:
            warn(str(error))
            continue
        try:
            for _ in range(settings["length"]):
                out.write(vocab.chars[int(streams.next()[0])])
        except KeyboardInterrupt:
            pass
        out.write("\n")


def _command(line: str, streams, settings: dict) -> None:
    """Apply one /command to the streams or the settings; a bad value raises (and changes nothing)."""
    name, _, value = line[1:].strip().partition(" ")
    value = value.strip()
    if name == "help":
        note(HELP)
    elif name == "reset":
        streams.reset()
        note("state reset: the next text is read from the start")
    elif name == "temp":
        streams.options = replace(streams.options, temperature=float(value), greedy=False)
        note(f"temperature {streams.options.temperature}")
    elif name == "length":
        if int(value) < 1:
            raise ValueError(f"/length must be at least 1, not {value}")
        settings["length"] = int(value)
        note(f"length {settings['length']}")
    elif name == "seed":
        streams.reseed([int(value)])
        note(f"seed {int(value)}")
    else:
        raise ValueError(f"unknown command /{name} (try /help)")
