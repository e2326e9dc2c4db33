"""Which probe suites run on a model, with which settings, in which order: what ``charlstm probe`` does,
usable from Python (``for result in run_suites(model, vocab, payload, SuiteOptions()): ...``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from charlstm.config import PROBE_DRAWS, PROBE_POSITIONS
from charlstm.errors import ProbeError
from charlstm.model import CharRNN
from charlstm.probes import context_usage, cue_swap, custom, forgetting
from charlstm.vocab import Vocab

SUITES = ("cue-swap", "forgetting", "units", "context", "gates")


@dataclass(frozen=True)
class SuiteOptions:
    suites: tuple[str, ...] = ()            # empty: the suites that apply to the model (``default_suites``)
    file: Path | None = None                # custom cue-swap probes (TOML), run after the suites
    text: Path | None = None                # held-out text for the context suite (default: the run's own)
    distances: tuple[int, ...] | None = None
    contexts: tuple[int, ...] | None = None
    draws: int = PROBE_DRAWS
    positions: int = PROBE_POSITIONS
    chars: int = 6000                       # held-out characters the gates suite reads
    filler: str = "fresh"                   # fresh or unseen memory-corpus filler
    prefix: str | None = None               # replaces every probe's own warm-up when given

    def __post_init__(self) -> None:
        for name in self.suites:
            if name not in SUITES:
                raise ProbeError(f"--suite must be one of {', '.join(SUITES)}, not {name!r}")


@dataclass
class SuiteResult:
    name: str                               # a suite's name, or "custom" for a probe from the file
    report: Any                             # the suite's report (each has ``to_dict``)
    notes: list[str] = field(default_factory=list)   # what the user should know about how it was measured


def default_suites(model: CharRNN, payload: dict) -> list[str]:
    """Memory suites for a model trained on the built-in memory corpus (units where the cell has a memory
    cell), otherwise the context suite, which works on any text."""
    if (payload.get("corpus") or {}).get("name") != "memory":
        return ["context"]
    return ["cue-swap", "forgetting"] + (["units"] if model.config.has_cell_state else [])


def chosen_suites(model: CharRNN, payload: dict, options: SuiteOptions) -> list[str]:
    if options.suites or options.file is not None:
        return list(options.suites)
    return default_suites(model, payload)


def run_suites(model: CharRNN, vocab: Vocab, payload: dict, options: SuiteOptions) -> Iterator[SuiteResult]:
    """Run the chosen suites in a fixed order, yielding each result as soon as it is measured."""
    chosen = chosen_suites(model, payload, options)
    distances = {"distances": options.distances} if options.distances else {}
    warmup = {"prefix": options.prefix} if options.prefix is not None else {}
    filler = cue_swap.filler_for(options.filler, (payload.get("corpus") or {}).get("inputs"))
    if "cue-swap" in chosen:
        spec = replace(cue_swap.language_probe(draws=options.draws, filler=filler, **distances), **warmup)
        report = cue_swap.run_cue_swap(model, vocab, spec, saliency_draws=min(options.draws, cue_swap.SALIENCY_DRAWS))
        report.name = f"cue-swap ({options.filler} filler)"
        yield SuiteResult("cue-swap", report)
    if "forgetting" in chosen:
        yield SuiteResult("forgetting", forgetting.run_forgetting(
            model, vocab, draws=max(1, options.draws * 2), filler=filler, **distances, **warmup))
    if "units" in chosen:
        from charlstm.probes import memory_units

        spec = replace(cue_swap.language_probe(filler=filler), **warmup)
        yield SuiteResult("units", memory_units.memory_units(model, vocab, spec,
                                                             distance=(options.distances or (100,))[-1]))
    if "context" in chosen:
        ids, skipped = context_usage.held_out_ids(payload, vocab, options.text)
        report = context_usage.run_context_usage(model, vocab, ids, options.contexts or context_usage.DEFAULT_CONTEXTS,
                                                 positions=options.positions, prefix=options.prefix)
        yield SuiteResult("context", report, context_usage.skipped_note(skipped))
    if "gates" in chosen:
        from charlstm.probes.gates import run_gate_statistics

        text, notes = context_usage.held_out_text(payload, vocab, options.text, chars=options.chars)
        yield SuiteResult("gates", run_gate_statistics(model, vocab, text), notes)
    if options.file is not None:
        for spec in custom.load_probe_file(options.file):
            yield SuiteResult("custom", cue_swap.run_cue_swap(model, vocab, replace(spec, **distances, **warmup)))
