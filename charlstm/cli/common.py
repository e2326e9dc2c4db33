"""Helpers several commands share: loading a checkpoint (and saying which), preparing a corpus (with a
spinner), and the shell escapes of prompts."""

from __future__ import annotations

import re
from pathlib import Path

from charlstm.cli.render import console, nats, note, warn


def load_for_cli(checkpoint: Path | None, device: str = "auto", announce: bool = True, precision: str = "fp32"):
    """Resolve and load a checkpoint (its weights cast to ``precision``), and say which one (it matters most
    when it was picked for you) and on which device, when it is not the CPU."""
    from charlstm.checkpoint import load_model
    from charlstm.runtime import cast_for_inference, select_device

    chosen = select_device(device)
    if chosen.type != "cpu":
        note(f"device: {chosen}")
    model, vocab, payload, path = load_model(checkpoint, chosen)
    slower = cast_for_inference(model, precision)
    if slower:
        warn(slower)
    if announce:
        announce_checkpoint(path, payload, picked=checkpoint is None)
    return model, vocab, payload, path


def announce_checkpoint(path: Path, payload: dict, picked: bool) -> None:
    progress = payload.get("progress", {})
    origin = "newest run: " if picked else ""
    note(f"{origin}{path} (step {progress.get('step', '?')}, validation {nats(progress.get('val_loss'))})")


def prepare_or_fail(inputs: list[str], data_dir: Path, val_fraction: float, encoding: str):
    """Prepare (or reuse) a corpus, with a spinner for the slow first pass; shared by prepare and train."""
    from charlstm.corpus import prepare_corpus

    with console.status("preparing corpus...", spinner="dots"):
        corpus = prepare_corpus(inputs, data_dir=data_dir, val_fraction=val_fraction, encoding=encoding)
    if corpus.skipped:
        shown = ", ".join(corpus.skipped[:5]) + (f" and {len(corpus.skipped) - 5} more" if len(corpus.skipped) > 5 else "")
        warn(f"skipped {len(corpus.skipped)} file(s) that are binary, empty or only whitespace: {shown}")
    return corpus


def unescape(text: str) -> str:
    """Shell-friendly escapes in prompts: \\n newline, \\t tab, \\\\ backslash."""
    return re.sub(r"\\(n|t|\\)", lambda m: {"n": "\n", "t": "\t", "\\": "\\"}[m.group(1)], text)
