"""``charlstm sample``: stream generated text to stdout (notes go to stderr, so `> out.txt` works)."""

from __future__ import annotations

import random
import sys
from typing import Annotated, Optional

import typer

from charlstm.cli import app
from charlstm.cli.common import announce_checkpoint, load_for_cli, unescape
from charlstm.cli.options import CheckpointArg, DeviceOption, PrecisionOption, json_option
from charlstm.cli.render import LiveWriter, note, warn

@app.command()
def sample(
    checkpoint: CheckpointArg = None,
    temp: Annotated[Optional[float], typer.Option(
        "--temp", "--temperature", help="Sampling temperature (> 0) [default: 0.8].", show_default=False)] = None,
    length: Annotated[int, typer.Option(help="Characters to generate.")] = 500,
    prompt: Annotated[str, typer.Option(help="Text to start from (fed once; printed first; \\n is a newline).")] = "",
    top_k: Annotated[Optional[int], typer.Option(help="Sample only from the K likeliest characters.")] = None,
    top_p: Annotated[Optional[float], typer.Option(help="Sample from the smallest set holding P of the mass.")] = None,
    greedy: Annotated[bool, typer.Option("--greedy", help="Always take the likeliest character.")] = False,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (same seed, same text; default: random)",
                                                show_default=False)] = None,
    num_samples: Annotated[int, typer.Option(
        help="Independent samples (seeds seed, seed+1, ...), generated together as one batch; the first "
             "streams, the others print whole in order.")] = 1,
    interactive: Annotated[bool, typer.Option(
        "--interactive", "-i", help="A prompt loop: each line you type is read and continued; /reset, /temp, "
                                    "/length, /seed; Ctrl-D leaves.")] = False,
    clamp: Annotated[Optional[list[str]], typer.Option(
        metavar="LAYER:UNIT=VALUE",
        help="Hold a unit at VALUE after every step, while the prompt is read and while sampling: its cell "
             "state, or its hidden state in a cell without one (gru, rnn, clockwork). Layers and units count "
             "from 0; `charlstm probe --suite units` finds units that carry a cue. Repeatable.")] = None,
    as_json: Annotated[bool, json_option("One line per sample (seed, prompt, text)")] = False,
    device: DeviceOption = "auto",
    precision: PrecisionOption = "fp32",
) -> None:
    """Generate text from a trained model, streamed as it is produced.

    The prompt is fed once and the state carried; the same seed gives the same text. Generated text goes
    to stdout and notes to stderr, so the output can be redirected to a file.

    **Examples**

        charlstm sample --temp 0.8
        charlstm sample checkpoints/tinyshakespeare --prompt "ROMEO:" --length 1000
        charlstm sample run/best.pt --top-p 0.9 --seed 7 --num-samples 3 > samples.txt
        charlstm sample --greedy --prompt "I grew up in France. "
        charlstm sample pretrained:memory-lstm --interactive --length 80
        charlstm sample pretrained:memory-lstm --prompt "I grew up in Germany. I speak fluent " --clamp 0:175=-8.15
    """
    from charlstm.errors import ConfigError
    from charlstm.sample import SamplingOptions, check_clamps, parse_clamp

    check_sampling_options(temp, top_k, top_p, greedy, seed, num_samples, interactive, as_json)
    options = SamplingOptions(temperature=0.8 if temp is None else temp, top_k=top_k, top_p=top_p, greedy=greedy,
                              clamps=tuple(parse_clamp(spec) for spec in clamp or ()))
    if length < 0:
        raise ConfigError(f"--length must be >= 0, not {length}")
    prompt = unescape(prompt)
    model, vocab, payload, path = load_for_cli(checkpoint, device, announce=False, precision=precision)
    vocab.encode(prompt)  # unknown characters in the prompt fail here, before anything is printed
    check_clamps(options.clamps, model.config)
    announce_checkpoint(path, payload, picked=checkpoint is None)
    cell = model.config.cell
    held = "cell state" if model.config.has_cell_state else f"hidden state (a {cell} has no cell state)"
    for each in options.clamps:
        note(f"clamping {each}: its {held}")
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
        if not greedy:
            note(f"seed {seed} (pass --seed {seed} to get this text again)")
    if interactive:
        from charlstm.cli.interactive import run_interactive

        return run_interactive(model, vocab, options, length, seed, prompt)
    seeds = [seed + i for i in range(num_samples)]
    if as_json:
        return print_json_samples(model, vocab, length, prompt, options, seeds)
    print_samples(model, vocab, length, prompt, options, seeds)


def check_sampling_options(temp, top_k, top_p, greedy: bool, seed, num_samples: int, interactive: bool,
                           as_json: bool) -> None:
    """Options that contradict each other are refused, never silently ignored."""
    from charlstm.errors import ConfigError

    if num_samples < 1:
        raise ConfigError(f"--num-samples must be at least 1, not {num_samples}")
    if greedy:
        given = [flag for flag, value in (("--temp", temp), ("--top-k", top_k), ("--top-p", top_p))
                 if value is not None]
        if given:
            raise ConfigError(f"--greedy always takes the likeliest character: {', '.join(given)} would have "
                              "no effect")
        if seed is not None:
            warn("--seed has no effect with --greedy (it draws nothing)")
        if num_samples > 1:
            raise ConfigError("--greedy gives the same text every time: --num-samples would repeat it")
    if interactive and (num_samples > 1 or as_json):
        raise ConfigError("--interactive runs one stream in the terminal: leave out --num-samples and --json")


def print_json_samples(model, vocab, length: int, prompt: str, options, seeds: list[int]) -> None:
    """One JSON object per line and sample: {"seed", "prompt", "text"}."""
    import json

    from charlstm.sample import sample_texts

    for seed, text in zip(seeds, sample_texts(model, vocab, length, prompt, options, seeds)):
        sys.stdout.write(json.dumps({"seed": seed, "prompt": prompt, "text": text}, ensure_ascii=False) + "\n")


def print_samples(model, vocab, length: int, prompt: str, options, seeds: list[int]) -> None:
    """The first sample streams as it is generated; the others print whole, in order (``stream_samples``)."""
    from charlstm.sample import stream_samples

    out, current = LiveWriter(sys.stdout), -1
    for index, text, ends in stream_samples(model, vocab, length, prompt, options, seeds):
        if index != current:
            if len(seeds) > 1:
                note(f"--- sample {index + 1} of {len(seeds)} (seed {seeds[index]})")
            out.write(prompt)
            current = index
        out.write(text + ("\n" if ends else ""))
    out.flush()
