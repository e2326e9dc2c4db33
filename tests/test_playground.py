"""``charlstm playground``: the model runs in the page, and its JavaScript step gives charlstm's numbers.

Headless Chromium opens the page from disk with the network refused, types a prompt in (the page reads
``#text=...`` from its address into the text box, the path typing takes), and the page writes what it
computed into an element the test reads: the next-character distribution (checked against charlstm's to
1e-4), the greedy continuation (character for character) and, for a memory-corpus model, the languages.
"""

from __future__ import annotations

import html
import json
import re
import urllib.parse

import pytest
import torch
from typer.testing import CliRunner

from charlstm.checkpoint import load_model
from charlstm.cli import app
from charlstm.playground import MAX_EMBEDDED, playground_page
from charlstm.probes.scoring import continuation_logprobs, next_char_distribution, normalise
from charlstm.sample import SamplingOptions, sample_text
from tests.conftest import MEMORY_VOCAB, headless_dom, needs_chromium, tiny_model

PROMPT = "Nothing much happened.\nI grew up in Japan. Two dusty kettles wobbled behind the barn. I speak fluent "


def computed(page_path, text: str, tmp_path) -> tuple[dict, str]:
    result = headless_dom(page_path.as_uri() + "#text=" + urllib.parse.quote(text), tmp_path / "profile")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Uncaught" not in result.stderr and 'data-rendered="yes"' in result.stdout, result.stderr[-2000:]
    found = re.search(r'<pre id="result"[^>]*>(.*?)</pre>', result.stdout, re.S)
    return json.loads(html.unescape(found.group(1))), result.stdout


def greedy(model, vocab, prompt: str, length: int = 40) -> str:
    return sample_text(model, vocab, length, prompt=prompt, options=SamplingOptions(greedy=True))


@needs_chromium
@pytest.mark.parametrize("cell, layers, tie", [("lstm", 2, False), ("gru", 2, True), ("rnn", 1, False)])
def test_the_page_steps_the_model_as_charlstm_does(cell, layers, tie, tmp_path):
    torch.manual_seed(3)
    model = tiny_model(len(MEMORY_VOCAB), cell=cell, num_layers=layers, tie_weights=tie, hidden_size=24)
    for parameter in model.parameters():           # weights of order 1, so every path matters
        torch.nn.init.uniform_(parameter, -0.6, 0.6)
    page = tmp_path / "page.html"
    page.write_text(playground_page(model, MEMORY_VOCAB, {}, "test"), encoding="utf-8")
    result, _ = computed(page, PROMPT, tmp_path)
    expected = next_char_distribution(model, MEMORY_VOCAB, PROMPT)
    assert torch.allclose(torch.tensor(result["probabilities"], dtype=torch.float64), expected.double(), atol=1e-4)
    assert result["greedy"] == greedy(model, MEMORY_VOCAB, PROMPT)
    assert result["languages"] is None                              # not a memory-corpus model


@needs_chromium
def test_the_shipped_memory_model_in_the_page_small_quick_and_faithful(tmp_path):
    model, vocab, checkpoint, _ = load_model("pretrained:memory-lstm", device="cpu")
    out = tmp_path / "memory.html"
    result = CliRunner().invoke(app, ["playground", "pretrained:memory-lstm", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size < 3_000_000
    result, dom = computed(out, PROMPT, tmp_path)
    expected = next_char_distribution(model, vocab, PROMPT)
    assert torch.allclose(torch.tensor(result["probabilities"], dtype=torch.float64), expected.double(), atol=1e-4)
    assert result["greedy"] == greedy(model, vocab, PROMPT)
    answers = [f"{language}." for language in ("French", "German", "Spanish", "Italian", "Portuguese", "Japanese",
                                                "Chinese", "Russian", "Greek", "Turkish", "Polish", "Swedish",
                                                "Finnish", "Hungarian")]
    expected = normalise(continuation_logprobs(model, vocab, PROMPT, answers))
    assert max(abs(a - b) for a, b in zip(result["languages"], expected)) < 1e-4
    assert result["ms_per_char"] < 5                                # a character steps in under 5 ms
    assert ">Japanese<" in dom                                      # the languages table the page drew


def test_a_cell_the_page_cannot_run_says_so_and_text_is_escaped(tmp_path):
    model = tiny_model(len(MEMORY_VOCAB), cell="peephole")
    page = playground_page(model, MEMORY_VOCAB, {}, "<b>title</b>")
    assert "id='unavailable'" in page and "runs lstm, gru, rnn cells" in page and "<b>title" not in page
    assert "<script type='application/json' id='model'>" not in page
    lstm = tiny_model(len(MEMORY_VOCAB))
    hostile = playground_page(lstm, MEMORY_VOCAB, {}, "t", text="</textarea><script>alert(1)</script>")
    assert "<script>alert" not in hostile and "&lt;/textarea&gt;" in hostile
    assert MAX_EMBEDDED >= 1_000_000


def test_unit_option_is_checked(tmp_path):
    result = CliRunner().invoke(app, ["playground", "pretrained:memory-rnn", "--unit", "3:1", "--out",
                                      str(tmp_path / "p.html")])
    assert result.exit_code == 1 and "--unit 3:1: the model has 1 layer(s)" in " ".join(result.stderr.split())
