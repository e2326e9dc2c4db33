"""``charlstm report``: one self-contained page, every corpus text escaped, and it renders in a real browser
(headless Chromium, network off) without a script error."""

from __future__ import annotations

import html
import json
import re

import pytest
from typer.testing import CliRunner

from charlstm.cli import app
from charlstm.report.svg import line_chart, scatter
from charlstm.train import train
from tests.conftest import TINY_MODEL, TINY_TRAIN, headless_dom, needs_chromium

HOSTILE = 'ROMEO:\nThe <script>alert("x")</script> & <b>bold</b> "quote" (aside)\n\n'


def shown_text(page: str) -> str:
    """What a reader sees of a page's body: its text without tags, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.split("<body>", 1)[1]))


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """A tiny model trained on a text full of markup, whose validation split holds markup too."""
    from charlstm.corpus import corpus_from_text

    root = tmp_path_factory.mktemp("report")
    corpus = corpus_from_text(HOSTILE * 120, name="hostile", val_fraction=0.2)
    train(corpus, root / "run", model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 12, "eval_every": 4})
    (root / "held_out.txt").write_text(HOSTILE * 30, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def report_page(hostile_run):
    out = hostile_run / "report.html"
    result = CliRunner().invoke(app, ["report", str(hostile_run / "run" / "last.pt"), "--text",
                                      str(hostile_run / "held_out.txt"), "--chars", "1200", "--positions", "50",
                                      "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_report_has_every_section_and_loads_nothing(report_page):
    out, data = report_page
    page = out.read_text(encoding="utf-8")
    for heading in ("Training curve", "A sample", "Saliency", "Context usage", "Gate statistics", "Interpretable units"):
        assert f"<h2>{heading}" in page, heading
    assert page.count("<svg") >= 3                       # curve, context usage, one gate chart per layer
    assert len(data["metrics"]) == 3 and data["gates"]["gates"] and data["units"]["top"]
    assert not re.search(r"""(src|href)\s*=|@import|url\(|https?://""", page)   # nothing to fetch
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_report_escapes_corpus_text(report_page):
    out, _ = report_page
    page = out.read_text(encoding="utf-8")
    assert "<script>alert" not in page and "<b>bold" not in page
    assert "&lt;" in page and "&amp;" in page
    assert '<script>alert("x")</script>' in shown_text(page)    # drawn as text, character by character
    assert page.count("<script") == 2          # the unit values (JSON) and the page's own script
    values = page.split("id='unit-values'>", 1)[1].split("</script>", 1)[0]
    assert "<" not in values                   # '<' inside the JSON is written \u003c
    assert json.loads(values)


def test_report_of_a_memory_model_draws_the_memory_probes(memory_run):
    result = CliRunner().invoke(app, ["report", str(memory_run), "--draws", "1", "--positions", "50",
                                      "--chars", "800"])
    assert result.exit_code == 0, result.output
    page = (memory_run / "report.html").read_text(encoding="utf-8")
    for heading in ("Memory while training", "Memory: does the answer follow the cue?", "Forgetting",
                    "The unit that carries the cue"):
        assert f"<h2>{heading}" in page, heading
    assert "one cue-swap context" in page and "<td class=l>cue</td>" in page
    assert "cue-swap (unseen filler)" in page      # the probes' own grammar, not fresh training filler
    watched = page.split("<h2>Memory while training", 1)[1].split("<h2>", 1)[0]
    assert "watched memory by step" in watched and "400 characters" in watched and "switch, after" in watched


def test_report_refuses_impossible_options(hostile_run):
    result = CliRunner().invoke(app, ["report", str(hostile_run / "run"), "--chars", "10"])
    assert result.exit_code == 2 and "--chars" in result.stderr


def test_charts_escape_labels_and_skip_empty_series():
    assert line_chart({"a": []}, "x", "y", "t") == ""
    chart = line_chart({"<i>": [(1, 2.0), (10, 3.0)]}, "<x>", "y", "t", log_x=True)
    assert "<i>" not in chart and "&lt;x&gt;" in chart and chart.count("<circle") == 2
    assert scatter({"forget": [(0.1, 0.8)]}, "x", "y", "gates").count("<circle") == 1


@needs_chromium
def test_report_renders_in_headless_chromium(report_page, tmp_path):
    """The page is read from disk with every network request refused; its script marks the document
    when it has run to the end, so a script error leaves the mark off."""
    out, _ = report_page
    result = headless_dom(out.as_uri(), tmp_path / "profile")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert 'data-rendered="yes"' in dom                             # the script ran to its end
    assert "Uncaught" not in result.stderr and "Refused" not in result.stderr
    assert "<svg" in dom and 'id="unit-select"' in dom and 'id="unit-passage"' in dom
    assert '<script>alert("x")</script>' in shown_text(dom)       # the corpus text, shown as text
    # The script recoloured the passage by the selected unit and put its value on every character.
    first = dom.split('id="unit-passage"', 1)[1].split("</span>", 1)[0]
    assert re.search(r'title="\d+:\d+ (cell|hidden) [+-]\d\.\d{3}"', first)


@pytest.mark.parametrize("cell", ["gru", "clockwork", "peephole"])
def test_report_of_other_cells(tmp_path, cell):
    """Units read h where there is no cell state; gate statistics cover a GRU's gates and say a clockwork
    RNN has none."""
    from charlstm.checkpoint import load_model
    from charlstm.corpus import corpus_from_text
    from charlstm.report.build import ReportOptions, gather
    from charlstm.report.page import render

    corpus = corpus_from_text(HOSTILE * 60, name="hostile", val_fraction=0.3)
    train(corpus, tmp_path / "run", model_config={**TINY_MODEL, "cell": cell}, train_config={**TINY_TRAIN, "max_steps": 3})
    model, vocab, payload, path = load_model(tmp_path / "run")
    (tmp_path / "held_out.txt").write_text(HOSTILE * 12, encoding="utf-8")
    data = gather(model, vocab, payload, path, ReportOptions(text=tmp_path / "held_out.txt", chars=600, positions=20))
    page = render(data)
    kinds = {u.kind for u in data.units.top + data.units.best}
    assert kinds <= {"cell", "hidden"} if cell == "peephole" else kinds == {"hidden"}
    if cell == "clockwork":
        assert not data.gates.stats and "no learned gates" in page
    else:
        assert data.gates.stats and "layer 0 gates" in page
