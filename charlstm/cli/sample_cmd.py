"""``charlstm sample``: stream generated text to stdout (notes go to stderr, so `> out.txt` works)."""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from charlstm.cli import app
from charlstm.cli.render import LiveWriter, nats, note

CheckpointArg = Annotated[Optional[Path], typer.Argument(
    help="A run directory (its best.pt, else last.pt), a .pt file, or pretrained:NAME for a model that ships "
         "with charlstm (pretrained:memory-lstm, pretrained:memory-rnn; default: the newest run under checkpoints/)",
    show_default=False)]
# Streams generated together: 256 rows of a 2 x 512 model keep a batch's state and logits under 2 MB.
BATCH_ROWS = 256

DeviceOption = Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")]


def load_for_cli(checkpoint: Path | None, device: str = "cpu", announce: bool = True):
    """Resolve and load a checkpoint, and say which one (it matters most when it was picked for you)."""
    from charlstm.checkpoint import load_model
    from charlstm.runtime import select_device

    model, vocab, payload, path = load_model(checkpoint, select_device(device))
    if announce:
        announce_checkpoint(path, payload, picked=checkpoint is None)
    return model, vocab, payload, path


def announce_checkpoint(path: Path, payload: dict, picked: bool) -> None:
    progress = payload.get("progress", {})
    origin = "newest run: " if picked else ""
    note(f"{origin}{path} (step {progress.get('step', '?')}, validation {nats(progress.get('val_loss'))})")


def unescape(text: str) -> str:
    """Shell-friendly escapes in prompts: \\n newline, \\t tab, \\\\ backslash."""
    return re.sub(r"\\(n|t|\\)", lambda m: {"n": "\n", "t": "\t", "\\": "\\"}[m.group(1)], text)


@app.command()
def sample(
    checkpoint: CheckpointArg = None,
    temp: Annotated[float, typer.Option("--temp", "--temperature", help="Sampling temperature (> 0).")] = 0.8,
    length: Annotated[int, typer.Option(help="Characters to generate.")] = 500,
    prime: Annotated[str, typer.Option(help="Text to start from (fed once; printed first; \\n is a newline).")] = "",
    top_k: Annotated[Optional[int], typer.Option(help="Sample only from the K likeliest characters.")] = None,
    top_p: Annotated[Optional[float], typer.Option(help="Sample from the smallest set holding P of the mass.")] = None,
    greedy: Annotated[bool, typer.Option("--greedy", help="Always take the likeliest character.")] = False,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (same seed, same text; default: random)",
                                                show_default=False)] = None,
    num_samples: Annotated[int, typer.Option(help="Independent samples (seeds seed, seed+1, ...), generated together as one batch; the "
                                                     "first streams, the others print whole in order.")] = 1,
    device: DeviceOption = "cpu",
) -> None:
    """Generate text from a trained model, streamed as it is produced.

    The prime is fed once and the state carried; the same seed gives the same text. Generated text goes
    to stdout and notes to stderr, so the output can be redirected to a file.

    **Examples**

        charlstm sample --temp 0.8
        charlstm sample checkpoints/tinyshakespeare --prime "ROMEO:" --length 1000
        charlstm sample run/best.pt --top-p 0.9 --seed 7 --num-samples 3 > samples.txt
        charlstm sample --greedy --prime "I grew up in France. "
    """
    from charlstm.errors import ConfigError
    from charlstm.sample import SamplingOptions

    options = SamplingOptions(temperature=temp, top_k=top_k, top_p=top_p, greedy=greedy)
    if length < 0:
        raise ConfigError(f"--length must be >= 0, not {length}")
    if num_samples < 1:
        raise ConfigError(f"--num-samples must be at least 1, not {num_samples}")
    prime = unescape(prime)
    model, vocab, payload, path = load_for_cli(checkpoint, device, announce=False)
    vocab.encode(prime)  # unknown prime characters fail here, before anything is printed
    announce_checkpoint(path, payload, picked=checkpoint is None)
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
        note(f"seed {seed} (pass --seed {seed} to get this text again)")
    print_samples(model, vocab, length, prime, options, [seed + i for i in range(num_samples)])


def print_samples(model, vocab, length: int, prime: str, options, seeds: list[int]) -> None:
    """Samples run as rows of one batch (``BATCH_ROWS`` at a time). The first is streamed as it is
    generated; the others are printed whole, in order, as soon as their batch is done."""
    from charlstm.sample import generate_ids, texts_from_steps

    out = LiveWriter(sys.stdout)

    def header(index: int) -> None:
        if len(seeds) > 1:
            note(f"--- sample {index + 1} of {len(seeds)} (seed {seeds[index]})")

    for first in range(0, len(seeds), BATCH_ROWS):
        batch, steps = seeds[first:first + BATCH_ROWS], []
        if first == 0:
            header(0)
            out.write(prime)
        for ids in generate_ids(model, vocab, length, prime, options, batch):
            steps.append(ids)
            if first == 0:
                out.write(vocab.chars[int(ids[0])])
        for row, text in enumerate(texts_from_steps(vocab, steps, len(batch))):
            if first + row > 0:
                header(first + row)
                out.write(prime + text)
            out.write("\n")
    out.flush()
