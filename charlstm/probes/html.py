"""A self-contained HTML page that shows a memory unit at work, character by character.

Each context is drawn as its text, every character tinted by the best memory unit's cell state after it (red
positive, blue negative, after Karpathy et al. 2015), with the unit's forget gate as a grey strip below
(dark: erasing, light: keeping). All corpus text is HTML-escaped; the page loads nothing from outside.
"""

from __future__ import annotations

import html

from charlstm.probes.units import UnitsReport

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}
.ctx{font-family:ui-monospace,monospace;white-space:pre-wrap;line-height:2.1;margin:.3em 0 1.6em}
.ctx span{padding:1px 0}.gate{display:inline-block;width:.6em;height:.5em;margin-right:0}
td,th{padding:2px 10px;text-align:right}th{text-align:left}h2{margin-top:1.5em}"""


def _tint(value: float, scale: float) -> str:
    strength = min(1.0, abs(value) / scale) if scale else 0.0
    red, blue = (255, int(255 * (1 - strength))) if value >= 0 else (int(255 * (1 - strength)), 255)
    return f"rgb({red},{min(red, blue)},{blue})"


def _char(char: str) -> str:
    return "⏎" if char == "\n" else html.escape(char)


def units_page(report: UnitsReport, title: str = "charlstm: which unit carries the cue") -> str:
    best = report.units[0]
    scale = max((abs(v) for trace in report.best_traces.values() for v in trace), default=1.0) or 1.0
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p>Layer {best.layer}, unit {best.unit}: {best.selectivity:.0%} of its variance at the question is "
             f"explained by the cue, {report.distance} characters of filler earlier; mean forget gate over the "
             f"filler {best.forget_in_filler:.3f}. Hover a character for the values.</p>"]
    for label, trace in report.best_traces.items():
        text = report.texts.get(label, "")
        forget = report.best_forget[label]
        spans = "".join(
            f"<span title='c={value:+.3f} f={gate:.3f}' style='background:{_tint(value, scale)}'>{_char(char)}</span>"
            for char, value, gate in zip(text, trace, forget))
        gates = "".join(f"<span class='gate' style='background:rgb({int(255 * g)},{int(255 * g)},{int(255 * g)})'>"
                        f"</span>" for g in forget)
        parts.append(f"<h2>{html.escape(label)}</h2><div class='ctx'>{spans}</div><div>{gates}</div>")
    rows = "".join(f"<tr><td>{c.layer}</td><td>{c.unit}</td><td>{c.selectivity:.2f}</td>"
                   f"<td>{c.forget_in_filler:.3f}</td></tr>" for c in report.units)
    parts.append("<h2>Units ranked by selectivity</h2><table><tr><th>layer</th><th>unit</th><th>selectivity</th>"
                 f"<th>forget gate in filler</th></tr>{rows}</table></body></html>")
    return "\n".join(parts)
