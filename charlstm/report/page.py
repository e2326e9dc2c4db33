"""The report drawn as one self-contained HTML page: sections for the training curve, a sample, the memory
probes, saliency, context usage, gate statistics and interpretable units (``charlstm.report.build``
measures them)."""

from __future__ import annotations

from pathlib import Path

from charlstm.checkpoint import PRETRAINED, write_text_atomically
from charlstm.probes.saliency import span_summary
from charlstm.report.build import ReportData
from charlstm.report.html import esc, json_data, memory_unit_section, page, table, tinted
from charlstm.report.svg import line_chart, scatter
from charlstm.tint import LOG_SCALE, log_levels
from charlstm.loss_units import bits_per_char

# Recolours the interpretable-units passage for the unit chosen in the selector. The colours are
# charlstm.tint.diverging's, written again in JavaScript.
SCRIPT = """(function () {
  var select = document.getElementById('unit-select');
  if (select) {
    var values = JSON.parse(document.getElementById('unit-values').textContent);
    var spans = document.getElementById('unit-passage').getElementsByTagName('span');
    var colour = function (v, scale) {
      var fade = Math.round(255 * (1 - Math.min(1, Math.abs(v) / scale)));
      return v >= 0 ? 'rgb(255,' + fade + ',' + fade + ')' : 'rgb(' + fade + ',' + fade + ',255)';
    };
    var show = function (key) {
      var unit = values[key], scale = 0;
      for (var i = 0; i < unit.length; i++) scale = Math.max(scale, Math.abs(unit[i]));
      scale = scale || 1;
      for (var j = 0; j < spans.length && j < unit.length; j++) {
        spans[j].style.background = colour(unit[j], scale);
        spans[j].title = key + ' ' + (unit[j] >= 0 ? '+' : '') + unit[j].toFixed(3);
      }
    };
    select.addEventListener('change', function () { show(select.value); });
    show(select.value);
  }
  document.documentElement.setAttribute('data-rendered', 'yes');
})();"""


def write_report(data: ReportData, out: Path) -> Path:
    """The report's HTML, written whole or not at all."""
    return write_text_atomically(out, render(data))


def report_path(out: Path | None, source: str | Path | None, checkpoint: Path) -> Path:
    """Where the page goes: ``out``, else report.html in the checkpoint's run directory (in the current
    directory for a shipped ``pretrained:NAME`` model, whose directory is the installed package)."""
    if out is not None:
        return Path(out)
    return Path("report.html") if str(source or "").startswith(PRETRAINED) else checkpoint.parent / "report.html"


def render(data: ReportData) -> str:
    facts = data.facts
    corpus = (facts.get("corpus") or {}).get("name", "?")
    title = f"charlstm report: {corpus} ({facts['model_config']['cell']})"
    body = [f"<h1>{esc(title)}</h1>", _facts(facts), *_curve(data.metrics), *_watched(data.metrics),
            *_sample(data.sample)]
    body += _memory(data.suites)
    body += _saliency(data)
    body += _looked(data)
    if "context" in data.suites:
        body += _context(data.suites["context"])
    body += _gates(data)
    body += _units(data)
    if data.notes:
        body.append("<h2>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in data.notes) + "</ul>")
    return page(title, body, SCRIPT)


def _loss(value) -> str:
    return "-" if value is None else f"{value:.4f} nats/char ({bits_per_char(value):.3f} bits/char)"


def _facts(facts: dict) -> str:
    model = facts["model_config"]
    rows = [("checkpoint", facts.get("path") or "-"),
            ("model", f"{model['cell']}, {model['num_layers']} x {model['hidden_size']}, embedding "
                      f"{model['embedding_dim']}, {facts['parameters']:,} parameters"
                      + (f", attention over its last {model['attention_memory']:,} outputs"
                         if model.get("attention_memory") else "")),
            ("corpus", (facts.get("corpus") or {}).get("name", "-")),
            ("trained", f"{facts.get('step') or 0:,} steps, {facts.get('chars_seen') or 0:,} characters"),
            ("validation loss", _loss(facts.get("val_loss")))]
    return table(["", ""], rows, left=2)


def _curve(metrics: list[dict]) -> list[str]:
    parts = ["<h2>Training curve</h2>"]
    series = {name: [(m["step"], m[key]) for m in metrics if isinstance(m.get(key), (int, float))]
              for name, key in (("training loss", "train_loss"), ("validation loss", "val_loss"))}
    series = {name: points for name, points in series.items() if points}
    if not series:
        return parts + ["<p class='dim'>No metrics.jsonl beside this checkpoint: no curve to draw.</p>"]
    return parts + [line_chart(series, "step", "nats/char", "training and validation loss by step"),
                    "<p class='dim'>Training loss: the mean over the steps since the previous evaluation; "
                    "validation loss: the held-out split at each evaluation.</p>"]


def _watched(metrics: list[dict]) -> list[str]:
    """Memory as it emerged: the accuracy the run watched at each evaluation (charlstm.probes.watch), one
    line per probe and distance, and the subject switch."""
    readings = [(m["step"], m["memory"]) for m in metrics if isinstance(m.get("memory"), dict)]
    if not readings:
        return []
    series: dict[str, list] = {}
    for step, reading in readings:
        for name, value in reading.items():
            if not isinstance(value, dict):
                continue
            for key, accuracy in value.items():
                label = (f"switch, {key}" if name == "switch" else
                         f"{key} characters" if name == "cue-swap" else f"{name}, {key} characters")
                series.setdefault(label, []).append((step, accuracy))
    best = max(readings, key=lambda r: (r[1].get("score", 0), r[1].get("mean", 0)))
    return ["<h2>Memory while training</h2>",
            "<p>At every evaluation the run read its memory on filler of a grammar kept for this (neither the "
            "training filler nor the probes' own): cue-swap accuracy at each distance, and the pronoun before "
            f"and after a change of subject. The best reading (score {best[1].get('score', 0):.2f}: the weakest "
            f"margin to 90% up to 200 characters and 80% after the switch, 1 when all are reached) came at step "
            f"{best[0]:,}.</p>",
            line_chart(series, "step", "accuracy", "watched memory by step", y_range=(0.0, 1.0))]


def _sample(sample: str) -> list[str]:
    return ["<h2>A sample</h2><p class='dim'>Temperature 0.8, seed 0, from a fresh state.</p>",
            f"<div class='text sample' id='sample'>{esc(sample)}</div>"]


def _memory(suites: dict) -> list[str]:
    parts = []
    if "cue-swap" in suites:
        report = suites["cue-swap"]
        points = [(row.distance, row.accuracy) for row in report.rows]
        span = report.memory_span
        parts += ["<h2>Memory: does the answer follow the cue?</h2>",
                  f"<p>{esc(report.name)}: the same question after each cue, at growing distances (characters of "
                  f"filler from a grammar the model never trained on). Chance is {report.chance:.0%}. Memory span: "
                  f"<b>{'none' if span is None else f'{span} characters'}</b> (accuracy at least 90% up to there).</p>",
                  line_chart({"accuracy": points, "chance": [(d, report.chance) for d, _ in points]},
                             "filler characters between cue and question", "accuracy",
                             "cue-swap accuracy by distance", y_range=(0.0, 1.0)),
                  _cue_swap_table(report)]
    if "forgetting" in suites:
        report = suites["forgetting"]
        parts += ["<h2>Forgetting: a new subject must overwrite the pronoun</h2>",
                  table(["distance", "before the switch", "after the switch", "contexts"],
                        [(r.distance, f"{r.accuracy_before:.1%}", f"{r.accuracy_after:.1%}", r.contexts)
                         for r in report.rows])]
    if "units" in suites:
        parts += ["<h2>The unit that carries the cue</h2>", *memory_unit_section(suites["units"])]
    return parts


def _cue_swap_table(report) -> str:
    attention = any(r.attention_on_cue is not None for r in report.rows)
    return table(["distance", "accuracy", "P(right)", "contexts", *(["attention on the cue"] if attention else [])],
                 [(r.distance, f"{r.accuracy:.1%}", f"{r.p_correct:.3f}", r.contexts,
                   *([f"{r.attention_on_cue:.1%}"] if attention else [])) for r in report.rows])


def _saliency(data: ReportData) -> list[str]:
    result = data.saliency
    if result is None:
        return []
    parts = ["<h2>Saliency: which characters the answer depends on</h2>",
             f"<p>For {esc(data.saliency_about)}: each character is tinted by the norm of the gradient of "
             f"log P(<b>{esc(result.answer)}</b>) with respect to its input vector (orange: the answer is "
             f"sensitive to it; {LOG_SCALE}). log P = {result.logprob:.3f} nats.</p>",
             tinted(result.text, result.gradient_norm, "gradient norm", levels=log_levels(result.gradient_norm),
                    attributes=" id='saliency'")]
    if data.saliency_spans:
        summary = span_summary(result, data.saliency_spans)
        rows = [(name, f"{summary[name]['share']:.0%}", f"{summary[name]['per_char']:.4f}", b - a)
                for name, (a, b) in data.saliency_spans.items()]
        parts.append(table(["span", "share of gradient", "per character", "characters"], rows, left=1))
    return parts


def _looked(data: ReportData) -> list[str]:
    """Where a model with attention looked: the saliency's example tinted by its attention weights, and the
    share of attention on the cue at each cue-swap distance."""
    found = data.looked
    if found is None:
        return []
    memory = data.facts["model_config"].get("attention_memory")
    parts = ["<h2>Attention: where the model looked</h2>",
             f"<p>The model attends over its last {memory:,} outputs (charlstm.attention). For "
             f"{esc(data.saliency_about)}: each character is tinted by the attention weight it received while "
             f"the model read <b>{esc(found.answer)}</b> (the mean over its characters; {LOG_SCALE}). "
             f"{found.warmup:.0%} of the weight fell on the warm-up before the text.</p>",
             tinted(found.text, found.weights, "attention", levels=log_levels(found.weights),
                    attributes=" id='looked'")]
    if data.saliency_spans:
        rows = [(name, f"{found.share(a, b):.0%}", b - a) for name, (a, b) in data.saliency_spans.items()]
        parts.append(table(["span", "share of attention", "characters"], rows, left=1))
    cue_swap = data.suites.get("cue-swap")
    if cue_swap is not None and any(r.attention_on_cue is not None for r in cue_swap.rows):
        points = [(r.distance, r.attention_on_cue) for r in cue_swap.rows]
        parts.append(line_chart({"attention on the cue": points}, "filler characters between cue and question",
                                "share of attention", "attention on the cue sentence while answering",
                                y_range=(0.0, 1.0)))
    return parts


def _context(report) -> list[str]:
    effective = report.effective_context
    return ["<h2>Context usage</h2>",
            f"<p>Loss on held-out text when the model sees only the last k characters ({report.positions} "
            f"positions). Effective context: <b>{effective if effective is not None else f'more than {report.contexts[-1]}'}"
            f"</b> characters (within 1% of the loss with everything before).</p>",
            line_chart({"last k characters": list(zip(report.contexts, report.losses)),
                        "everything before": [(k, report.unlimited) for k in report.contexts]},
                       "k (characters seen)", "nats/char", "loss by context size", log_x=True)]


def _gates(data: ReportData) -> list[str]:
    report = data.gates
    parts = ["<h2>Gate statistics</h2>"]
    if not report.stats:
        return parts + [f"<p>{esc(report.note)}.</p>"]
    parts.append(f"<p>Over {report.positions:,} characters of held-out text: for each unit, the fraction of steps "
                 f"its gate is shut (below 0.1, x) and open (above 0.9, y), one dot per unit and gate, one chart "
                 f"per layer (after Karpathy et al. 2015, Fig. 3).</p><div class='charts'>")
    for layer in sorted({s.layer for s in report.stats}):
        groups = {s.gate: list(zip(s.shut, s.open)) for s in report.stats if s.layer == layer}
        parts.append(scatter(groups, "fraction shut (< 0.1)", "fraction open (> 0.9)", f"layer {layer} gates"))
    parts.append("</div>")
    parts.append(table(["layer", "gate", "mean shut", "mean open", "units mostly shut", "units mostly open",
                        "units never saturated"],
                       [(s.layer, s.gate, f"{s.mean_shut:.1%}", f"{s.mean_open:.1%}", s.mostly(s.shut),
                         s.mostly(s.open), s.never_saturated) for s in report.stats], left=2))
    return parts


def _units(data: ReportData) -> list[str]:
    report = data.units
    parts = ["<h2>Interpretable units</h2>"]
    if not report.top:
        return parts + ["<p>None of the features varies in the held-out text.</p>"]
    parts.append(f"<p>Units whose value tracks a feature of {report.positions:,} characters of held-out text. Each "
                 f"unit is chosen by its correlation over the first half; r is its correlation over the second "
                 f"half, which played no part in choosing it.</p>")
    parts.append(table(["layer", "unit", "state", "feature", "r", "r (choosing half)"],
                       [(u.layer, u.unit, u.kind, u.feature, f"{u.r:+.2f}", f"{u.r_chosen:+.2f}") for u in report.top],
                       left=0))
    choices = {u.key: u for u in report.top + report.best}   # a feature's best unit may be in the top already
    options = "".join(f"<option value='{esc(u.key)}'>layer {u.layer} unit {u.unit} ({esc(u.kind)}): "
                      f"{esc(u.feature)}, r {u.r:+.2f}</option>" for u in choices.values())
    first = report.top[0]
    parts += ["<p><label for='unit-select'>Tint the passage by </label>"
              f"<select id='unit-select'>{options}</select> <span class='dim'>(red positive, blue negative; "
              f"hover a character for the value)</span></p>",
              tinted(report.passage, report.values[first.key], first.key, attributes=" id='unit-passage'"),
              json_data("unit-values", report.values)]
    if report.absent:
        parts.append(f"<p class='dim'>Not in this text: {esc(', '.join(report.absent))}.</p>")
    return parts
