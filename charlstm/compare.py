"""``charlstm compare``: several cells trained on the same text with the same parameter budget, data
order, seed and training budget, and measured the same way, to check on your own corpus the conclusion
Olah's post ends with (Greff et al. 2015; Jozefowicz et al. 2015: the variants are roughly equal).

A cell may be given with attention over its past (``lstm+attention``, ``charlstm.attention``; its memory
from ``attention_memory``), so the next step of Olah's post is compared like the cells.

Each cell gets the hidden size whose parameter count comes closest to the first cell's (within 5%, or
the comparison is refused), and trains into its own run directory under one compare directory. A cell
whose run already exists is resumed: a finished run is reused as it is, an interrupted one continues.
Measurements, all on text the model never trained on:

* validation bits/char: the last evaluation on the held-out share of the corpus;
* training characters/second: characters over time between consecutive steps, evaluation excluded
  (recorded in ``compare.json`` so a reused run keeps the speed it was measured at);
* on the built-in memory corpus: the cue-swap memory span and accuracy 100 characters after the cue
  (unseen filler: words and sentence shapes the corpus never uses), and the forgetting probe's accuracy
  100 characters after a change of subject.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from charlstm.checkpoint import LAST, load_model, write_text_atomically
from charlstm.config import CELLS, ModelConfig
from charlstm.corpus import Corpus
from charlstm.errors import ConfigError
from charlstm.events import Evaluated, Event, Stepped
from charlstm.model import CharRNN
from charlstm.train import train
from charlstm.loss_units import bits_per_char

TOLERANCE = 0.05
RESULTS = "compare.json"
MEMORY_DISTANCES = (0, 25, 50, 100, 200, 400)
AT_DISTANCE = 100


@dataclass
class CompareRow:
    cell: str
    parameters: int
    hidden_size: int
    steps: int = 0
    val_bpc: float | None = None
    chars_per_sec: float | None = None
    memory_span: int | None = None           # built-in memory corpus only
    cue_swap_100: float | None = None        # likewise: cue-swap accuracy 100 characters after the cue
    forgetting_100: float | None = None      # likewise
    run_dir: str = ""
    reason: str = ""                         # why its training stopped


# A compared entry is a cell, or a cell with attention over its past: "lstm+attention" (charlstm.attention),
# its memory M from --attention-memory.
WITH_ATTENTION = "+attention"


def parse_cells(text: str) -> list[str]:
    cells = [cell.strip() for cell in text.split(",") if cell.strip()]
    unknown = [cell for cell in cells if cell.removesuffix(WITH_ATTENTION) not in CELLS]
    if not cells or unknown:
        raise ConfigError(f"--cells: {', '.join(unknown) or 'none given'}; choose from {', '.join(CELLS)}, each "
                          f"alone or with {WITH_ATTENTION} (e.g. lstm{WITH_ATTENTION})")
    if len(set(cells)) != len(cells):
        raise ConfigError("--cells: each cell once")
    return cells


def count_parameters(config: ModelConfig) -> int:
    """A model's trainable parameters, built on the meta device (no memory, no time)."""
    with torch.device("meta"):
        return CharRNN(config).num_parameters


def matched_sizes(cells: list[str], base: ModelConfig) -> list[tuple[str, int, int]]:
    """(cell, hidden size, parameters) per cell: the first cell at ``base.hidden_size``, every other at the
    hidden size whose count is nearest the first's; refused if any misses it by more than 5%."""
    if any(cell.endswith(WITH_ATTENTION) for cell in cells) and not base.attention_memory:
        raise ConfigError(f"--cells with {WITH_ATTENTION}: give its memory, --attention-memory M (characters)")
    target = count_parameters(_sized(base, cells[0], base.hidden_size))
    plan = [(cells[0], base.hidden_size, target)]
    for cell in cells[1:]:
        # A cell without recurrent matrices (mingru, minlstm) needs many times the units at one layer.
        low, high = 1, base.hidden_size * 16
        while low < high:  # the smallest hidden size with at least the target count
            middle = (low + high) // 2
            if count_parameters(_sized(base, cell, middle)) < target:
                low = middle + 1
            else:
                high = middle
        counts = {size: count_parameters(_sized(base, cell, size)) for size in (low - 1, low) if size >= 1}
        hidden = min(counts, key=lambda size: abs(counts[size] - target))
        count = counts[hidden]
        if abs(count - target) > TOLERANCE * target:
            raise ConfigError(f"{cell}: no hidden size gives {target:,} parameters within 5% (closest: {count:,} "
                              f"at {hidden}); try a larger --hidden-size")
        plan.append((cell, hidden, count))
    return plan


def _sized(base: ModelConfig, entry: str, hidden: int) -> ModelConfig:
    """The model of a compared entry (a cell, or a cell with attention) at ``hidden`` units."""
    return replace(base, cell=entry.removesuffix(WITH_ATTENTION), hidden_size=hidden,
                   clockwork_modules=min(base.clockwork_modules, hidden),
                   attention_memory=base.attention_memory if entry.endswith(WITH_ATTENTION) else 0)


def model_options(base: ModelConfig, cell: str, hidden: int) -> dict[str, Any]:
    """``train``'s model options for ``cell`` at ``hidden`` units, everything else as in ``base``."""
    options = _sized(base, cell, hidden).to_dict()
    del options["vocab_size"]  # the corpus sets it
    return options


class _Speed:
    """Training characters/second from Stepped events: intervals that contain an evaluation are left out."""

    def __init__(self):
        self.chars = self.seconds = 0.0
        self.last: tuple[int, float] | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, Evaluated):
            self.last = None
        elif isinstance(event, Stepped):
            if self.last is not None:
                self.chars += event.chars_seen - self.last[0]
                self.seconds += event.elapsed - self.last[1]
            self.last = (event.chars_seen, event.elapsed)

    @property
    def rate(self) -> float | None:
        return self.chars / self.seconds if self.seconds > 0 else None


def compare(corpus: Corpus, out_dir: Path | str, cells: list[str], model: dict | None = None,
            config: dict | None = None, on_event: Callable[[str, Event], Any] | None = None,
            stop_event: threading.Event | None = None) -> list[CompareRow]:
    """Train and measure each cell (see the module docstring); returns one row per cell, in order.
    ``on_event(cell, event)`` sees every training event."""
    out_dir = Path(out_dir)
    base = ModelConfig(vocab_size=len(corpus.vocab), **{**(model or {}), "cell": cells[0].removesuffix(WITH_ATTENTION)})
    plan = matched_sizes(cells, base)
    results_path = out_dir / RESULTS
    saved = _read_results(results_path)
    rows = []
    for cell, hidden, parameters in plan:
        run_dir = out_dir / cell
        speed = _Speed()

        def events(event, cell=cell, speed=speed):
            speed(event)
            if on_event is not None:
                on_event(cell, event)

        resume = (run_dir / LAST).exists()
        finished = train(corpus, run_dir, model_config=None if resume else model_options(base, cell, hidden),
                         train_config=config, resume=resume,
                         on_event=events, stop_event=stop_event)
        previous = saved.get(cell) or {}
        row = CompareRow(cell=cell, parameters=parameters, hidden_size=hidden, steps=finished.step,
                         val_bpc=bits_per_char(finished.last_val_loss) if finished.last_val_loss else None,
                         chars_per_sec=speed.rate or previous.get("chars_per_sec"), run_dir=str(run_dir),
                         reason=finished.reason)
        if finished.reason == "interrupted":
            rows.append(row)
            break
        if corpus.name == "memory":
            row.memory_span, row.cue_swap_100, row.forgetting_100 = memory_scores(run_dir)
        rows.append(row)
        saved[cell] = asdict(row)
        write_text_atomically(results_path, json.dumps(saved, indent=2) + "\n")
    return rows


def memory_scores(run_dir: Path) -> tuple[int | None, float, float]:
    """Cue-swap memory span and accuracy at 100 characters, and forgetting accuracy at 100 characters, on
    unseen filler."""
    from charlstm.probes import cue_swap, forgetting

    model, vocab, _, _ = load_model(run_dir / LAST)
    probe = cue_swap.language_probe(distances=MEMORY_DISTANCES, filler=cue_swap.unseen_filler)
    report = cue_swap.run_cue_swap(model, vocab, probe, measure_attention=False)
    rows = forgetting.run_forgetting(model, vocab, distances=(AT_DISTANCE,),
                                     filler=cue_swap.unseen_filler).rows
    return report.memory_span, report.accuracy_by_distance[AT_DISTANCE], rows[0].accuracy_after


def _read_results(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
