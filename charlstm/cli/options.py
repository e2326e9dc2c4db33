"""Options that several commands share, declared once (as pip-tools keeps its shared options in one
module). A command uses them as annotations: ``device: DeviceOption = "auto"``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from charlstm.config import ENCODING, VAL_FRACTION

CheckpointArg = Annotated[Optional[Path], typer.Argument(
    help="A run directory (its best.pt, else last.pt), a .pt file, or pretrained:NAME for a model that ships "
         "with charlstm (pretrained:memory-lstm, pretrained:memory-rnn; default: the newest run under checkpoints/)",
    show_default=False)]
DEVICE_HELP = "auto (CUDA, then MPS, then the CPU), cpu, cuda or mps."
SEED_HELP = "Training seed: the initial weights and the order of the batches."
DeviceOption = Annotated[str, typer.Option(help=DEVICE_HELP)]
# Inference in another dtype: the weights cast, unlike training's --precision (autocast over fp32 weights).
PrecisionOption = Annotated[str, typer.Option(
    help="fp32; bf16: weights and every step in bfloat16 (faster where the CPU or GPU multiplies bf16 natively; "
         "warned where it is emulated); fp16: CUDA only.")]
Encoding = Annotated[str, typer.Option(help="Text encoding of the input files (e.g. latin-1, utf-16).")]
ValFraction = Annotated[float, typer.Option(help="Last fraction of each file held out for validation.")]
# The same options where an unset value means "from the config file, the recipe or the run" (train, compare).
MaybeEncoding = Annotated[Optional[str], typer.Option("--encoding", help=f"Text encoding of the input files "
                                                                         f"(default: {ENCODING}).", show_default=False)]
MaybeValFraction = Annotated[Optional[float], typer.Option(
    "--val-fraction", help=f"Last fraction of each file held out for validation (default: {VAL_FRACTION}).",
    show_default=False)]
DataDir = Annotated[Path, typer.Option("--data-dir", help="Where prepared corpora are cached.")]


def json_option(what: str):
    """``--json`` (``as_json: Annotated[bool, json_option("...")]``): ``what`` goes to stdout as JSON,
    everything else stays on stderr."""
    return typer.Option("--json", help=f"{what} as JSON on stdout.")
