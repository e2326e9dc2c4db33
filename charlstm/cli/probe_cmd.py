"""``charlstm probe``: what a trained model remembers, how far back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

from charlstm.cli import app
from charlstm.cli.render import console, print_json, sparkline, warn
from charlstm.cli.common import load_for_cli, unescape
from charlstm.cli.options import CheckpointArg, DeviceOption, PrecisionOption, json_option
from charlstm.config import PROBE_DRAWS, PROBE_POSITIONS
from charlstm.tint import LOG_SCALE

def _ints(text: str | None, flag: str, minimum: int = 0) -> tuple[int, ...] | None:
    from charlstm.errors import ProbeError
    from charlstm.probes.cue_swap import MAX_DISTANCE

    if text is None:
        return None
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ProbeError(f"{flag} takes whole numbers separated by commas, not {text!r}") from None
    if not values or min(values) < minimum or max(values) > MAX_DISTANCE:
        raise ProbeError(f"{flag} takes whole numbers from {minimum} to {MAX_DISTANCE}")
    return values


@app.command()
def probe(
    checkpoint: CheckpointArg = None,
    prompt: Annotated[Optional[str], typer.Option(help="Your own context to score (\\n is a newline).")] = None,
    candidates: Annotated[Optional[str], typer.Option(help="Comma-separated continuations to score.")] = None,
    swap: Annotated[Optional[list[str]], typer.Option(help="WORD=ALT1,ALT2: also score the prompt with WORD "
                                                            "replaced (repeatable).")] = None,
    suite: Annotated[Optional[list[str]], typer.Option(help="cue-swap, forgetting, units, context or gates "
                                                             "(repeatable; default: the memory suites on a "
                                                             "memory-corpus model, else context)")] = None,
    file: Annotated[Optional[Path], typer.Option("--file", help="Custom cue-swap probes (TOML).")] = None,
    text: Annotated[Optional[Path], typer.Option(help="Held-out text for the context and gates suites "
                                                      "(default: the run's own validation text).")] = None,
    distances: Annotated[Optional[str], typer.Option(help="Filler distances, e.g. 0,25,50,100,200,400,800.")] = None,
    contexts: Annotated[Optional[str], typer.Option(help="Context sizes k for the context suite.")] = None,
    filler: Annotated[str, typer.Option(help="Memory-corpus filler: fresh (new draws like the training filler, "
                                             "a seed never used for training) or unseen (sentences no "
                                             "generated corpus contains).")] = "fresh",
    prefix: Annotated[Optional[str], typer.Option(
        help="Warm-up text read before every probe context (\\n is a newline; default: a line of the model's "
             "own text, or the memory corpus's own first line for the built-in suites; \"\" starts cold).",
        show_default=False)] = None,
    draws: Annotated[int, typer.Option(help="Filler draws per distance (cue-swap, forgetting).",
                                         min=1, max=1000)] = PROBE_DRAWS,
    positions: Annotated[int, typer.Option(help="Scored positions for the context suite.", min=1,
                                           max=1_000_000)] = PROBE_POSITIONS,
    as_json: Annotated[bool, json_option("Every figure")] = False,
    html_out: Annotated[Optional[Path], typer.Option(
        "--html", help="Also write the units suite as an HTML page (each character tinted by the memory unit's "
                       "cell state; charlstm report draws it with everything else).")] = None,
    device: DeviceOption = "auto",
    precision: PrecisionOption = "fp32",
) -> None:
    """Measure a model's memory: does its prediction follow a cue given earlier, and how far back?

    With --prompt, scores your candidates as continuations (and counterfactual prompts with --swap).
    Otherwise runs probe suites: cue-swap ("I grew up in France ... I speak fluent ___" at growing
    distances), forgetting (a change of subject must overwrite the pronoun), units (which LSTM units carry
    the cue, and their forget gates), context (loss when the model sees only the last k characters, on
    any text), gates (how often each gate is shut or open on held-out text), or your own cue-swap probes
    from a TOML file. `charlstm units` finds units that track features of any text; `charlstm report`
    draws all of it in one HTML page.

    **Examples**

        charlstm probe checkpoints/memory
        charlstm probe --prompt "I grew up in France. It rained. I speak fluent " --candidates French,German --swap France=Germany,Spain
        charlstm probe checkpoints/tinyshakespeare --suite context --suite gates
        charlstm probe checkpoints/tinyshakespeare --file speaker.toml --json
    """
    from charlstm.errors import ProbeError
    from charlstm.probes.suites import SuiteOptions, chosen_suites, run_suites

    prompt_mode = prompt is not None or candidates is not None
    if prompt_mode and (suite or file):
        raise ProbeError("--prompt runs on its own; leave out --suite and --file")
    if not prompt_mode:
        options = SuiteOptions(suites=tuple(suite or ()), file=file, text=text, distances=_ints(distances, "--distances"),
                               contexts=_ints(contexts, "--contexts", minimum=1), draws=draws, positions=positions,
                               filler=filler, prefix=_unescaped(prefix))
    model, vocab, payload, _ = load_for_cli(checkpoint, device, precision=precision)
    results: dict = {}
    if prompt_mode:
        from charlstm.probes.prompt import probe_prompt

        words = [unescape(c) for c in (candidates or "").split(",") if c]
        reports = probe_prompt(model, vocab, unescape(prompt or ""), words, swap or [], prefix=_unescaped(prefix))
        results["prompt"] = [r.to_dict() for r in reports]
        if not as_json:
            render_prompt(reports)
    else:
        if html_out is not None and "units" not in chosen_suites(model, payload, options):
            raise ProbeError("--html draws the units suite; add --suite units")
        with console.status("probing...", spinner="dots"):
            for result in run_suites(model, vocab, payload, options):
                for message in result.notes:
                    warn(message)
                if result.name == "custom":
                    results.setdefault("custom", []).append(result.report.to_dict())
                else:
                    results[result.name] = result.report.to_dict()
                if result.name == "units" and html_out is not None:
                    write_html(result.report, html_out)
                if not as_json:
                    RENDERERS[result.name](result.report)
    if as_json:
        print_json(results)


def _unescaped(text: str | None) -> str | None:
    return None if text is None else unescape(text)


def write_html(report, path: Path) -> None:
    from charlstm.errors import ProbeError
    from charlstm.report.html import units_page

    try:
        path.write_text(units_page(report), encoding="utf-8")
    except OSError as error:
        raise ProbeError(f"cannot write {path} ({error.strerror or error})") from None
    console.print(f"wrote {path}")


def _percent(value: float) -> str:
    style = "green" if value >= 0.9 else "yellow" if value >= 0.6 else "red"
    return f"[{style}]{value:6.1%}[/]"


def render_prompt(reports) -> None:
    table = Table(title="candidate probabilities (normalised over candidates; raw log-prob in nats)",
                  title_justify="left")
    table.add_column("candidate")
    for report in reports:
        table.add_column(report.label, justify="right")
    for index, candidate in enumerate(reports[0].candidates):
        table.add_row(repr(candidate), *(f"{r.probabilities[index]:.3f} ({r.logprobs[index]:.2f})" for r in reports))
    console.print(table)
    for report in reports:
        top = "  ".join(f"{c!r} {p:.2f}" for c, p in report.top_next)
        console.print(f"[bold]{report.label}[/]: next char {top}")
        console.print(f"   greedy: {report.prompt[-30:]!r} + [cyan]{report.greedy!r}[/]", markup=True)
    # every candidate on the original prompt; on a swapped prompt, its likeliest candidate only
    shown = [(reports[0], index) for index in range(len(reports[0].candidates))]
    shown += [(r, max(range(len(r.saliency)), key=lambda i: r.saliency[i].logprob)) for r in reports[1:]]
    console.print(f"saliency: how much each candidate's log-probability depends on each character of the prompt "
                  f"[dim](background: gradient norm on its embedding, {LOG_SCALE})[/]")
    for report, index in shown:
        found = report.saliency[index]
        _tinted_candidate(report.label, found.answer, found.text, found.gradient_norm,
                          ", ".join(f"{found.text[i]!r}@{i} {share:.0%}" for i, share in found.top()))
    if reports[0].looked:
        console.print(f"attention: where the model looked while reading each candidate "
                      f"[dim](background: attention weight, {LOG_SCALE})[/]")
        for report, index in shown:
            found = report.looked[index]
            top = sorted(range(len(found.text)), key=lambda i: -found.weights[i])[:3]
            _tinted_candidate(report.label, found.answer, found.text, found.weights,
                              ", ".join(f"{found.text[i]!r}@{i} {found.weights[i]:.0%}" for i in top)
                              + f"; warm-up {found.warmup:.0%}")


def _tinted_candidate(label: str, answer: str, text: str, values: list[float], most: str) -> None:
    """One candidate's line of the prompt tinted by ``values``, and where they are largest."""
    name = f"{answer!r}" if label == "original" else f"{label}: {answer!r}"
    console.print(Text(f"  {name:>12} ", style="bold").append_text(_saliency_text(text, values)))
    console.print(f"  {'':>12} most: {most}", markup=False)


def _saliency_text(text: str, values: list[float]):
    """The text shaded by its saliency on a log scale (``charlstm.tint.log_levels``)."""
    from charlstm.cli.render import tinted
    from charlstm.tint import log_levels

    return tinted(text, log_levels(values), scale=1.0, single_sign=True)


def render_cue_swap(report) -> None:
    table = Table(title=f"{report.name}: does the answer follow the cue? (chance {report.chance:.1%})",
                  title_justify="left")
    attention = any(row.attention_on_cue is not None for row in report.rows)
    for column in ("distance", "filler chars", "cue→answer", "accuracy", "P(right)", "contexts",
                   *(["attention on cue"] if attention else [])):
        table.add_column(column, justify="right")
    for row in report.rows:
        table.add_row(str(row.distance), f"{row.filler_chars:.0f}", f"{row.cue_to_answer:.0f}",
                      _percent(row.accuracy), f"{row.p_correct:.3f}", str(row.contexts),
                      *([f"{row.attention_on_cue:.1%}"] if attention else []))
    console.print(table)
    curve = sparkline([r.accuracy for r in report.rows], 0.0, 1.0)
    span = report.memory_span
    console.print(f"accuracy by distance {curve}   memory span: "
                  f"[bold]{'none' if span is None else f'{span} characters'}[/] (accuracy >= 90% up to there)")
    if report.saliency is not None:
        render_cue_saliency(report.saliency)


def render_cue_saliency(found) -> None:
    parts = ", ".join(f"{name} {span['share']:.0%} ({span['per_char']:.2g}/char)" for name, span in found.mean.items())
    console.print(f"answer's gradient at distance {found.distance} ({found.contexts} contexts): {parts}")
    example = found.example
    console.print(f"  e.g. {example.answer!r} [dim](background: gradient norm on each character, {LOG_SCALE})[/]")
    console.print(Text("  ").append_text(_saliency_text(example.text, example.gradient_norm)))


def render_forgetting(report) -> None:
    table = Table(title="forgetting: pronoun of the current subject (chance 50%)", title_justify="left")
    for column in ("distance", "before the switch", "after the switch", "contexts"):
        table.add_column(column, justify="right")
    for row in report.rows:
        table.add_row(str(row.distance), _percent(row.accuracy_before), _percent(row.accuracy_after),
                      str(row.contexts))
    console.print(table)
    console.print(f"before {sparkline([r.accuracy_before for r in report.rows], 0, 1)}   "
                  f"after {sparkline([r.accuracy_after for r in report.rows], 0, 1)}")


def render_context(report) -> None:
    table = Table(title=f"context usage: loss seeing only the last k characters ({report.positions} positions)",
                  title_justify="left")
    table.add_column("k", justify="right")
    table.add_column("nats/char", justify="right")
    table.add_column("vs unlimited", justify="right")
    for k, loss in zip(report.contexts, report.losses):
        table.add_row(str(k), f"{loss:.4f}", f"{loss / report.unlimited - 1:+.1%}")
    table.add_row("unlimited", f"{report.unlimited:.4f}", "")
    console.print(table)
    effective = report.effective_context
    console.print(f"loss by context {sparkline(report.losses)}   effective context: [bold]"
                  f"{effective if effective is not None else f'> {report.contexts[-1]}'}[/] characters "
                  f"(within 1% of unlimited)")


def _squeeze(values: list[float], width: int = 72) -> list[float]:
    """Mean of equal bins, so a long trace fits one terminal line."""
    if len(values) <= width:
        return values
    step = len(values) / width
    return [sum(values[int(i * step):int((i + 1) * step)]) / max(1, int((i + 1) * step) - int(i * step))
            for i in range(width)]


def render_units(report) -> None:
    table = Table(title=f"units carrying the cue {report.distance} characters later "
                        f"(selectivity: share of variance after the filler explained by the cue)",
                  title_justify="left")
    labels = list(report.units[0].value_by_cue)[:5]
    for column in ("layer", "unit", "selectivity", "forget gate in filler", *labels):
        table.add_column(column, justify="right")
    for unit in report.units:
        table.add_row(str(unit.layer), str(unit.unit), f"{unit.selectivity:.2f}", f"{unit.forget_in_filler:.3f}",
                      *(f"{unit.value_by_cue[label]:+.2f}" for label in labels))
    console.print(table)
    best = report.units[0]
    traces = {label: _squeeze(values) for label, values in list(report.best_traces.items())[:6]}
    low = min(min(v) for v in traces.values())
    high = max(max(v) for v in traces.values())
    console.print(f"cell state of layer {best.layer} unit {best.unit} along each context "
                  f"(cue | filler | question; scale {low:+.2f} .. {high:+.2f}):")
    for label, values in traces.items():
        console.print(f"  {label:>10} {sparkline(values, low, high)}")
    label = next(iter(report.best_forget))
    console.print(f"  {'forget gate':>10} {sparkline(_squeeze(report.best_forget[label]), 0.0, 1.0)}  (0 erases .. 1 keeps)")


def render_gates(report) -> None:
    if not report.stats:
        console.print(f"gates: {report.note}")
        return
    table = Table(title=f"gate saturation over {report.positions:,} held-out characters (shut < 0.1, open > 0.9; "
                        f"share of steps, mean over units)", title_justify="left")
    widest = max(len(s.gate) for s in report.stats)   # gate names whole (a grid's "depth-forget"); headers wrap
    for column in ("layer", "gate", "shut", "open", "units mostly shut", "units mostly open", "never saturated"):
        table.add_column(column, justify="right", min_width=widest if column == "gate" else None)
    for s in report.stats:
        table.add_row(str(s.layer), s.gate, f"{s.mean_shut:.1%}", f"{s.mean_open:.1%}", str(s.mostly(s.shut)),
                      str(s.mostly(s.open)), str(s.never_saturated))
    console.print(table)


RENDERERS = {"cue-swap": render_cue_swap, "forgetting": render_forgetting, "units": render_units,
             "context": render_context, "gates": render_gates, "custom": render_cue_swap}
