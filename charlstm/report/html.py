"""Building blocks of the self-contained HTML pages: the page itself, tables, text tinted character by
character, and the memory unit's page that ``charlstm probe --suite units --html`` writes.

Every piece of corpus, prompt or sample text goes through ``esc``. A page loads nothing from outside: the
style and the one small script are inline, charts are inline SVG, and a Content-Security-Policy forbids
the browser to fetch anything at all.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence

from charlstm.tint import diverging, scale_of, sequential, shown_char

# Nothing from the network or disk; only the page's own style and script.
POLICY = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222;padding:0 1em}
h1{margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ddd}.dim{color:#777}
.text{font-family:ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap;line-height:1.9;font-size:14px}
.text span{padding:1px 0}.sample{background:#f7f7f7;padding:.8em;border-radius:4px}
.strip span{display:inline-block;width:.6em;height:.55em}
table{border-collapse:collapse;margin:.6em 0}td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #eee}
th{background:#fafafa}summary{cursor:pointer;color:#555;margin:.5em 0}td.l,th.l{text-align:left}svg.chart{font-size:11px;margin:.4em 1em .4em 0}
.charts{display:flex;flex-wrap:wrap}select{font-size:14px}"""


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def page(title: str, body: Sequence[str], script: str = "") -> str:
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{POLICY}\">"
            f"<meta name='viewport' content='width=device-width'><title>{esc(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body)
            + (f"\n<script>{script}</script>" if script else "") + "\n</body></html>\n")


def json_data(element_id: str, data: object) -> str:
    """Data for the page's script, in a JSON script element: '<' is written as \\u003c, so no text inside
    can close the element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    return f"<script type='application/json' id='{esc(element_id)}'>{text}</script>"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], left: int = 0) -> str:
    """A table whose first ``left`` columns are left-aligned (text) and the rest right-aligned (numbers)."""
    def cells(values: Sequence[object], tag: str) -> str:
        return "".join(f"<{tag}{' class=l' if index < left else ''}>{esc(v)}</{tag}>" for index, v in enumerate(values))
    return ("<table><tr>" + cells(headers, "th") + "</tr>"
            + "".join("<tr>" + cells(row, "td") + "</tr>" for row in rows) + "</table>")


def tinted(text: str, values: Sequence[float], label: str = "value", scale: float | None = None,
           levels: Sequence[float] | None = None, attributes: str = "") -> str:
    """``text`` with each character's background coloured by its value (red/blue), or by its level in
    [0, 1] on the single-hue scale when ``levels`` are given (saliency, ``tint.log_levels``); the value
    itself on hover."""
    if levels is None:
        scale = scale_of(list(values)) if scale is None else scale
        colours = [diverging(value, scale) for value in values]
    else:
        colours = [sequential(level, 1.0) for level in levels]
    spans = "".join(f"<span title='{esc(label)} {value:+.3g}' style='background:rgb{colour}'>"
                    f"{esc(shown_char(char))}</span>" + ("\n" if char == "\n" else "")
                    for char, value, colour in zip(text, values, colours))
    return f"<div class='text'{attributes}>{spans}</div>"


def strip(values: Sequence[float], label: str) -> str:
    """A row of small grey boxes, one per character: dark near 0, light near 1 (a gate)."""
    boxes = "".join(f"<span title='{esc(label)} {v:.3f}' style='background:rgb({int(255 * v)},{int(255 * v)},"
                    f"{int(255 * v)})'></span>" for v in values)
    return f"<div class='strip'>{boxes}</div>"


def memory_unit_section(report, shown: int = 3) -> list[str]:
    """The units suite (``charlstm.probes.memory_units.UnitsReport``): the best memory unit's cell state along
    each context (the first ``shown`` open, the others folded), its forget gate below, and the units ranked."""
    best = report.units[0]
    scale = scale_of([v for trace in report.best_traces.values() for v in trace])
    parts = [f"<p>Layer {best.layer}, unit {best.unit}: {best.selectivity:.0%} of its variance after "
             f"{report.distance} characters of filler, before the question, is explained by the cue; its mean "
             f"forget gate over the filler is {best.forget_in_filler:.3f}. Each character is tinted by the unit's "
             f"cell state after it (red positive, blue negative); the grey strip is its forget gate (dark: "
             f"erasing, light: keeping). Hover for the values.</p>"]
    contexts = [f"<h3>{esc(label)}</h3>" + tinted(report.texts.get(label, ""), trace, "c", scale)
                + strip(report.best_forget[label], "forget gate") for label, trace in report.best_traces.items()]
    parts += contexts[:shown]
    if contexts[shown:]:   # the rest folded away: fourteen cues make a long page
        parts.append(f"<details><summary>the other {len(contexts) - shown} cues</summary>"
                     + "".join(contexts[shown:]) + "</details>")
    parts.append("<h3>Units ranked by selectivity</h3>" + table(
        ["layer", "unit", "selectivity", "forget gate in filler"],
        [(u.layer, u.unit, f"{u.selectivity:.2f}", f"{u.forget_in_filler:.3f}") for u in report.units]))
    return parts


def units_page(report, title: str = "charlstm: which unit carries the cue") -> str:
    """The units suite alone, as its own page (``charlstm probe --suite units --html``)."""
    return page(title, [f"<h1>{esc(title)}</h1>", *memory_unit_section(report, shown=len(report.best_traces))])
