"""What the report measures, gathered in one place (``gather``) and then drawn (``charlstm.report.page``).

Every figure is measured on text the model never trained on: the run's own validation split (or a text
the user gives), and, for a model of the built-in memory corpus, probe contexts built from filler drawn
from the probes' own grammar, whose words and sentence structures no training corpus contains.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charlstm.checkpoint import describe
from charlstm.config import ENCODING, REPORT_CHARS, REPORT_DRAWS, REPORT_POSITIONS
from charlstm.errors import ProbeError
from charlstm.model import CharRNN
from charlstm.probes.context_usage import held_out_ids, run_context_usage, skipped_note
from charlstm.probes.gates import GateReport, run_gate_statistics
from charlstm.probes.interpretable import InterpretableReport, interpretable_units
from charlstm.probes.looked import Looked, looked
from charlstm.probes.saliency import Saliency, saliency
from charlstm.probes.suites import SuiteOptions, default_suites, run_suites
from charlstm.probes.warmup import resolve_warmup
from charlstm.rundir import read_metrics
from charlstm.sample import SamplingOptions, sample_text
from charlstm.vocab import Vocab

SALIENCY_CONTEXT = 240    # characters of held-out text before the word whose saliency is shown


@dataclass(frozen=True)
class ReportOptions:
    text: Path | None = None        # held-out text (default: the run's own validation split)
    encoding: str = ENCODING
    chars: int = REPORT_CHARS       # held-out characters traced for gate statistics and units
    draws: int = REPORT_DRAWS
    positions: int = REPORT_POSITIONS
    sample_length: int = 600
    seed: int = 0

    def __post_init__(self) -> None:
        if self.chars < 400:
            raise ProbeError(f"--chars must be at least 400, not {self.chars}")
        if self.draws < 1 or self.positions < 1 or self.sample_length < 0:
            raise ProbeError("--draws and --positions must be at least 1, --sample-length at least 0")


@dataclass
class ReportData:
    facts: dict                                   # ``charlstm info``'s description of the checkpoint
    metrics: list[dict]                           # metrics.jsonl beside the checkpoint ([] when there is none)
    sample: str
    suites: dict[str, Any]                        # probe suite name -> its report
    gates: GateReport
    units: InterpretableReport
    saliency: Saliency | None = None
    saliency_spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    saliency_about: str = ""
    looked: Looked | None = None                  # a model with attention: where it looked, same example
    notes: list[str] = field(default_factory=list)   # how things were measured, shown at the end


def gather(model: CharRNN, vocab: Vocab, payload: dict, path: Path, options: ReportOptions = ReportOptions(),
           stage: Callable[[str], None] = lambda name: None) -> ReportData:
    """Measure everything the report shows; ``stage`` is told what is being measured next. The held-out
    text is read once, for context usage, gate statistics, units and saliency alike."""
    stage("held-out text")
    ids, skipped = held_out_ids(payload, vocab, options.text, options.encoding)
    held_out = vocab.decode(ids[:max(options.chars, SALIENCY_CONTEXT + 100)])
    notes = skipped_note(skipped)
    stage("sample")
    sample = sample_text(model, vocab, options.sample_length, options=SamplingOptions(temperature=0.8),
                         seed=options.seed)
    suites = {}
    for name in default_suites(model, payload):
        if name == "context":   # measured below, on the ids already read
            continue
        stage(f"{name} probe")
        # Memory suites on the probes' unseen grammar: words and sentence structures no training text has.
        for result in run_suites(model, vocab, payload, SuiteOptions(suites=(name,), draws=options.draws,
                                                                     filler="unseen")):
            suites[result.name] = result.report
            notes += result.notes
    stage("context probe")
    warmup = resolve_warmup(model, vocab, None)   # the model's own text, sampled once for both readings below
    suites["context"] = run_context_usage(model, vocab, ids, positions=options.positions, prefix=warmup)
    stage("gate statistics")
    gates = run_gate_statistics(model, vocab, held_out[:options.chars])
    stage("interpretable units")
    units = interpretable_units(model, vocab, held_out[:options.chars])
    data = ReportData(facts=describe(payload, path), metrics=read_metrics(path.parent), sample=sample,
                      suites=suites, gates=gates, units=units, notes=notes)
    stage("saliency")
    _add_saliency(data, model, vocab, held_out, warmup)
    return data


def _add_saliency(data: ReportData, model: CharRNN, vocab: Vocab, held_out: str, warmup: str) -> None:
    """The cue-swap suite's example context where there is one; otherwise the next word of a held-out
    passage after the characters before it."""
    cue_swap = data.suites.get("cue-swap")
    if cue_swap is not None and cue_swap.saliency is not None:
        data.saliency, data.saliency_spans = cue_swap.saliency.example, cue_swap.saliency.spans
        data.saliency_about = (f"one cue-swap context, {cue_swap.saliency.distance} characters of filler between "
                               f"the cue and the question")
        _add_looked(data, model, vocab, cue_swap.prefix)
        return
    start = next((i for i in range(SALIENCY_CONTEXT, len(held_out))
                  if held_out[i].isalpha() and not held_out[i - 1].isalnum()), None)
    if start is None:
        return
    end = start
    while end < len(held_out) and held_out[end].isalpha():
        end += 1
    data.saliency = saliency(model, vocab, held_out[start - SALIENCY_CONTEXT:start], held_out[start:end],
                             prefix=warmup)
    data.saliency_about = f"the next word of a held-out passage after the {SALIENCY_CONTEXT} characters before it"
    _add_looked(data, model, vocab, warmup)


def _add_looked(data: ReportData, model: CharRNN, vocab: Vocab, prefix: str) -> None:
    """Where a model with attention looked, on the saliency's own example."""
    found = looked(model, vocab, [data.saliency.text], [data.saliency.answer], prefix=prefix)
    data.looked = found[0] if found else None


def report_json(data: ReportData) -> str:
    """Every figure of the report as JSON."""
    return json.dumps({"facts": data.facts, "metrics": data.metrics, "sample": data.sample,
                       "suites": {name: report.to_dict() for name, report in data.suites.items()},
                       "gates": data.gates.to_dict(), "units": data.units.to_dict(),
                       "saliency": data.saliency.to_dict() if data.saliency else None,
                       "saliency_spans": data.saliency_spans,
                       "looked": data.looked.to_dict() if data.looked else None, "notes": data.notes}, ensure_ascii=False, indent=2)
