"""Probe scoring is exact; the suites and the prompt probe run end to end; bad probe files fail clearly."""

from __future__ import annotations

import dataclasses
import json
import math
import random
import re
import tomllib

import pytest
import torch
from typer.testing import CliRunner

from charlstm.cli import app
from charlstm.corpora import memory, unseen
from charlstm.errors import ProbeError
from charlstm.probes import context_usage, cue_swap, custom, forgetting
from charlstm.probes.prompt import parse_swaps, probe_prompt
from charlstm.probes.scoring import continuation_logprobs, score_continuations
from charlstm.probes.warmup import WARMUP_SEED, WARMUP_TEMPERATURE, default_warmup, resolve_warmup
from charlstm.sample import SamplingOptions, context_ids, sample_text
from charlstm.vocab import Vocab
from tests.conftest import MEMORY_VOCAB, tiny_model



def hand_logprob(model, vocab, prompt: str, candidate: str) -> float:
    """log P(candidate | prompt) one character at a time, from the full text each time: the definition
    (every text read from a zero state starts with the start character, a newline here)."""
    total, text = 0.0, "\n" + prompt
    for char in candidate:
        logits, _ = model(vocab.encode(text).view(1, -1))
        total += math.log(torch.softmax(logits[0, -1].double(), -1)[vocab.index(char)].item())
        text += char
    return total


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_scoring_is_exact(cell):
    vocab = Vocab.from_text("\n .Iabcdefghilnoprstuwy")
    model = tiny_model(len(vocab), cell=cell, num_layers=2)
    prompts = ["I grew up in a", "a", "bird in a tree. I spy ", ""]
    candidates = ["cat.", "dog", "a"]
    scores = score_continuations(model, vocab, prompts, candidates, batch_size=3)  # crosses a batch border
    for p, prompt in enumerate(prompts):
        for c, candidate in enumerate(candidates):
            expected = hand_logprob(model, vocab, prompt, candidate)
            assert scores[p, c].item() == pytest.approx(expected, abs=1e-4)
    assert continuation_logprobs(model, vocab, "a", ["cat."])[0] == pytest.approx(scores[1, 0].item(), abs=1e-5)


def test_cue_swap_on_a_perfect_and_a_blind_model():
    """A probe on a model that cannot see the cue must sit at chance; the report's arithmetic must hold."""
    model = tiny_model(len(MEMORY_VOCAB))
    probe = cue_swap.language_probe(distances=(0, 30), draws=2)
    report = cue_swap.run_cue_swap(model, MEMORY_VOCAB, probe)
    assert report.chance == pytest.approx(1 / 14)
    assert [row.contexts for row in report.rows] == [28, 28]
    assert report.rows[0].filler_chars == 0 and report.rows[1].filler_chars >= 30
    assert report.rows[0].cue_to_answer == len(" I speak fluent ")
    for row in report.rows:  # each accuracy equals the share of cues whose answer wins
        per_cue = [acc[report.rows.index(row)] for acc in report.per_cue.values()]
        assert row.accuracy == pytest.approx(sum(per_cue) / len(per_cue))
    json.dumps(report.to_dict())


def test_memory_span_definition():
    rows = [cue_swap.DistanceRow(d, d, d, acc, acc, 10) for d, acc in [(0, 1.0), (25, 0.95), (50, 0.8), (100, 0.95)]]
    assert cue_swap.CueSwapReport("x", 0.1, rows).memory_span == 25  # stops at the first distance below 90%
    rows[0] = cue_swap.DistanceRow(0, 0, 0, 0.5, 0.5, 10)
    assert cue_swap.CueSwapReport("x", 0.1, rows).memory_span is None


def test_forgetting_contexts_switch_the_subject():
    prompts, truths = forgetting.forgetting_contexts(random.Random(0), 60)
    assert len(prompts) == 4 and truths[0] != truths[1] and truths[2] != truths[3]
    assert "Then" in prompts[1] and "arrived." in prompts[1] and "Then" not in prompts[0]
    report = forgetting.run_forgetting(tiny_model(len(MEMORY_VOCAB)), MEMORY_VOCAB, distances=(0, 50), draws=2)
    assert [row.contexts for row in report.rows] == [8, 8]


@pytest.mark.parametrize("prefix", ["", "abca"])
def test_context_usage_matches_direct_computation(prefix):
    """Each k-window is read after the warm-up (a zero state only when the prefix is empty on purpose)."""
    vocab = Vocab("abcd")
    model = tiny_model(len(vocab))
    ids = torch.randint(0, 4, (300,))
    report = context_usage.run_context_usage(model, vocab, ids, contexts=(1, 3), positions=50, seed=1, prefix=prefix)
    assert report.prefix == prefix
    warm = context_ids(vocab, prefix).tolist() if prefix else []
    positions = sorted(random.Random(1).sample(range(3, 300), 50))
    expected_k3 = []
    for p in positions:
        logits = model(torch.tensor([warm + ids[p - 3:p].tolist()]))[0].detach()
        expected_k3.append(-torch.log_softmax(logits[0, -1], -1)[ids[p]].item())
    assert report.losses[1] == pytest.approx(sum(expected_k3) / 50, abs=1e-5)
    full = model(torch.tensor([warm + ids[:-1].tolist()]))[0].detach()[0, len(warm):]
    carried = -torch.log_softmax(full, -1).gather(1, ids[1:, None]).squeeze(1)
    assert report.unlimited == pytest.approx(float(carried[torch.tensor(positions) - 1].mean()), abs=1e-5)


def test_default_warmup_is_a_line_of_the_models_own_text():
    model = tiny_model(len(MEMORY_VOCAB))
    warmup = default_warmup(model, MEMORY_VOCAB, chars=50)
    assert warmup == default_warmup(model, MEMORY_VOCAB, chars=50)         # the same every time
    own_text = sample_text(model, MEMORY_VOCAB, 150, options=SamplingOptions(temperature=WARMUP_TEMPERATURE),
                           seed=WARMUP_SEED)
    assert warmup in own_text
    assert warmup == "" or warmup.endswith("\n")                            # the probe then starts a line
    assert resolve_warmup(model, MEMORY_VOCAB, "") == "" and resolve_warmup(model, MEMORY_VOCAB, "x\n") == "x\n"


def test_custom_probes_start_after_the_warmup():
    """No probe starts cold unless asked: a probe file without ``prefix`` reads the model's default warm-up
    first, and its scores are exactly those of the warm-up text followed by the context."""
    model = tiny_model(len(MEMORY_VOCAB))
    [probe] = custom.parse_probes(tomllib.loads(GOOD_PROBE))
    assert probe.prefix is None
    report = cue_swap.run_cue_swap(model, MEMORY_VOCAB, probe)
    assert report.prefix == default_warmup(model, MEMORY_VOCAB)
    cold = cue_swap.run_cue_swap(model, MEMORY_VOCAB, dataclasses.replace(probe, prefix=""))
    assert cold.prefix == ""
    first_context = cue_swap.context(dataclasses.replace(probe, prefix=report.prefix), probe.cues[0], "")
    assert first_context.startswith(report.prefix + probe.cues[0].text)
    scores = score_continuations(model, MEMORY_VOCAB, [first_context], probe.all_candidates)[0]
    hit = int(scores.argmax()) == probe.all_candidates.index(probe.cues[0].answer)
    assert report.per_cue[probe.cues[0].label][0] == float(hit)
    [with_key] = custom.parse_probes(tomllib.loads(GOOD_PROBE.replace('draws = 2', 'draws = 2\nprefix = "Yes.\\n"')))
    assert with_key.prefix == "Yes.\n"


def test_effective_context():
    report = context_usage.ContextUsageReport([1, 10, 100], [3.0, 2.02, 2.0], 2.0, 10)
    assert report.effective_context == 10
    report.losses = [3.0, 2.5, 2.3]
    assert report.effective_context is None


def test_prompt_probe_with_swaps():
    model = tiny_model(len(MEMORY_VOCAB))
    reports = probe_prompt(model, MEMORY_VOCAB, "I grew up in France. I speak fluent ", ["French.", "German."],
                           swaps=["France=Germany,Spain"])
    assert [r.label for r in reports] == ["original", "Germany", "Spain"]
    assert reports[1].prompt.startswith("I grew up in Germany.")
    for report in reports:
        assert sum(report.probabilities) == pytest.approx(1.0)
        assert len(report.top_next) == 5 and len(report.greedy) == 40
    assert parse_swaps(["a=b,c", "x=y"]) == [("a", "b"), ("a", "c"), ("x", "y")]
    for bad in (["France"], ["=x"], ["a="]):
        with pytest.raises(ProbeError):
            parse_swaps(bad)
    with pytest.raises(ProbeError, match="does not occur"):
        probe_prompt(model, MEMORY_VOCAB, "I grew up here. ", ["a"], swaps=["Paris=Rome"])
    with pytest.raises(ProbeError, match="vocabulary"):
        probe_prompt(model, MEMORY_VOCAB, "Ωmega ", ["a"])


GOOD_PROBE = """
[[probe]]
name = "colour"
query = "My favourite colour is "
filler = ["It was late.", "The bus came."]
distances = [0, 20]
draws = 2
distractors = ["green."]

[[probe.cue]]
text = "I love tomatoes."
answer = "red."

[[probe.cue]]
text = "I love the sky."
answer = "blue."
label = "sky"
"""


def test_custom_probe_file(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(GOOD_PROBE)
    (probe,) = custom.load_probe_file(path)
    assert probe.name == "colour" and probe.distances == (0, 20)
    assert probe.all_candidates == ("red.", "blue.", "green.")
    assert [c.label for c in probe.cues] == ["red.", "sky"]
    filler = probe.filler(random.Random(0), 30)
    assert set(filler.split(" ")) <= set("It was late. The bus came.".split(" "))
    vocab = Vocab.from_text(GOOD_PROBE)
    report = cue_swap.run_cue_swap(tiny_model(len(vocab)), vocab, probe)
    assert report.chance == pytest.approx(1 / 3) and len(report.rows) == 2


@pytest.mark.parametrize("content, message", [
    ("", "no \\[\\[probe\\]\\] tables"),
    ("[[probe]]\nquery = 'x'\ncolour = 'red'\n", "unknown key.*colour"),
    ("[[probe]]\nquery = 'x'\nsamples = 3\n", "'samples' is now called 'draws'"),
    ("name = 'x'\n", "unknown top-level"),
    ("[[probe]\nquery=", "not valid TOML"),
    ("[[probe]]\nname = 'x'\n", "missing required key 'query'"),
    ("[[probe]]\nquery = 5\n", "'query' must be a str"),
    ("[[probe]]\nquery = 'q'\n[[probe.cue]]\ntext = 'a'\nanswer = 'b'\n", "at least two"),
    ("[[probe]]\nquery = 'q'\ndistances = [-1]\n[[probe.cue]]\ntext='a'\nanswer='b'\n[[probe.cue]]\ntext='c'\nanswer='d'\n",
     "distances"),
    ("[[probe]]\nquery = 'q'\n[[probe.cue]]\ntext='a'\nanswer='b'\nweight=2\n[[probe.cue]]\ntext='c'\nanswer='d'\n",
     "cue 1: unknown key"),
    ("[[probe]]\nquery = 'q'\ndistances = [1000000000000]\n[[probe.cue]]\ntext='a'\nanswer='b'\n[[probe.cue]]\n"
     "text='c'\nanswer='d'\n", "distances"),
    ("[[probe]]\nquery = 'q'\nfiller = 3\n[[probe.cue]]\ntext='a'\nanswer='b'\n[[probe.cue]]\ntext='c'\nanswer='d'\n",
     "filler"),
])
def test_bad_probe_files(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ProbeError, match=message):
        custom.load_probe_file(path)


def test_missing_probe_file(tmp_path):
    with pytest.raises(ProbeError, match="no such probe file"):
        custom.load_probe_file(tmp_path / "nope.toml")


def test_shipped_shakespeare_example_parses():
    from importlib.resources import files

    probes = custom.load_probe_file(files("charlstm.probes") / "examples" / "shakespeare_speaker.toml")
    assert probes and all(len(p.cues) >= 2 for p in probes)




def test_probe_command_end_to_end(memory_run, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["probe", str(memory_run), "--distances", "0,50", "--draws", "1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"cue-swap", "forgetting", "units"}  # a memory-corpus LSTM gets the memory suites
    assert [row["distance"] for row in data["cue-swap"]["rows"]] == [0, 50]
    result = runner.invoke(app, ["probe", str(memory_run), "--suite", "context", "--contexts", "1,5",
                                 "--positions", "50", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["context"]["contexts"] == [1, 5]
    result = runner.invoke(app, ["probe", str(memory_run), "--prompt", "I grew up in Spain. I speak fluent ",
                                 "--candidates", "Spanish.,Greek.", "--swap", "Spain=Greece"])
    assert result.exit_code == 0 and "Greece" in result.stderr and "Spanish." in result.stderr
    (tmp_path / "p.toml").write_text(GOOD_PROBE)
    result = runner.invoke(app, ["probe", str(memory_run), "--file", str(tmp_path / "p.toml")])
    assert result.exit_code == 0, result.output
    assert "colour" in result.stderr and "memory span" in result.stderr


def test_probe_command_warms_up_every_context(memory_run, tmp_path):
    """Without --prefix each probe reads its default warm-up; --prefix replaces it everywhere ("" = cold)."""
    from charlstm.checkpoint import load_model

    model, vocab, _, _ = load_model(memory_run)
    (tmp_path / "p.toml").write_text(GOOD_PROBE)
    runner = CliRunner()
    base = ["probe", str(memory_run), "--distances", "0", "--draws", "1", "--json"]
    data = json.loads(runner.invoke(app, [*base, "--file", str(tmp_path / "p.toml"), "--suite", "cue-swap",
                                          "--suite", "context", "--contexts", "1", "--positions", "20"]).stdout)
    assert data["custom"][0]["prefix"] == data["context"]["prefix"] == default_warmup(model, vocab) != ""
    assert data["cue-swap"]["prefix"] == memory.STORY_START
    data = json.loads(runner.invoke(app, [*base, "--file", str(tmp_path / "p.toml"), "--suite", "cue-swap",
                                          "--prefix", "Yes.\\n"]).stdout)
    assert data["custom"][0]["prefix"] == data["cue-swap"]["prefix"] == "Yes.\n"
    data = json.loads(runner.invoke(app, [*base[:2], "--prompt", "I grew up in Spain. I speak fluent ",
                                          "--candidates", "Spanish.", "--prefix", "", "--json"]).stdout)
    assert data["prompt"][0]["prefix"] == ""


@pytest.mark.parametrize("args, message", [
    (["--suite", "nonsense"], "--suite"),
    (["--distances", "a,b"], "--distances"),
    (["--prompt", "I grew", "--candidates", "x", "--suite", "context"], "on its own"),
    (["--file", "missing.toml"], "no such probe file"),
    (["--prompt", "I grew up", "--candidates", "Ω"], "vocabulary"),
])
def test_probe_command_errors(memory_run, args, message):
    result = CliRunner().invoke(app, ["probe", str(memory_run), *args])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("charlstm: error:") and message in lines[-1]


def test_cell_trace_reproduces_the_fused_lstm():
    from charlstm.probes.trace import trace

    vocab = Vocab.from_text("abc .")
    model = tiny_model(len(vocab), num_layers=2, forget_bias=1.0)
    result = trace(model, vocab, "abc. cab.")
    assert result.cell.shape[0] == 9   # the start character (' ' in this vocabulary) is fed, not traced
    with torch.no_grad():
        output, (h, c) = model.core(model.embedding(vocab.encode(" abc. cab.")).view(1, 10, -1))
    assert torch.allclose(result.hidden[:, -1], output[0, 1:], atol=1e-5)   # top layer, every step
    assert torch.allclose(result.cell[-1], c[:, 0], atol=1e-5)          # every layer, last step
    assert set(result.gates) == {"input", "forget", "cell", "output"}
    assert 0 <= float(result.gates["forget"].min()) and float(result.gates["forget"].max()) <= 1


def test_traces_of_texts_of_different_lengths_run_together_and_match_each_alone():
    from charlstm.probes.trace import trace, traces

    vocab = Vocab.from_text("abc .")
    model = tiny_model(len(vocab), num_layers=2)
    texts = ["abc. cab.", "a", "cab cab cab ."]
    for text, batched in zip(texts, traces(model, vocab, texts)):
        alone = trace(model, vocab, text)
        assert batched.text == text and batched.cell.shape == alone.cell.shape == (len(text), 2, 32)
        assert torch.allclose(batched.cell, alone.cell, atol=1e-6)
        assert torch.allclose(batched.gates["forget"], alone.gates["forget"], atol=1e-6)


def planted_memory_model(hidden: int = 16):
    """A tiny LSTM whose unit 0 is a perfect memory cell, planted by hand: it adds the cue's identity and
    never forgets it."""
    model = tiny_model(len(MEMORY_VOCAB), hidden_size=hidden)
    with torch.no_grad():
        core = model.core
        for weight in (core.weight_ih_l0, core.weight_hh_l0):
            weight[[0, hidden, 2 * hidden]] = 0.0          # unit 0's input, forget and cell rows
        core.bias_ih_l0[0], core.bias_hh_l0[0] = -20.0, 0.0             # input gate shut ...
        core.bias_ih_l0[hidden], core.bias_hh_l0[hidden] = 20.0, 0.0    # ... forget gate open: keep
        core.bias_ih_l0[2 * hidden] = 0.0
        # open the input gate only on an upper-case letter's embedding dimension we control
        model.embedding.weight[:, 0] = 0.0
        for country, _ in memory.COUNTRIES:
            model.embedding.weight[MEMORY_VOCAB.index(country[0]), 0] = 1.0
        core.weight_ih_l0[0, 0] = 40.0                      # input gate opens on capitals of countries
        core.weight_ih_l0[2 * hidden, 0] = 0.0
        for index, (country, _) in enumerate(memory.COUNTRIES):
            model.embedding.weight[MEMORY_VOCAB.index(country[0]), 1] = (index % 5) / 5
        core.weight_ih_l0[2 * hidden, 1] = 3.0              # the candidate value encodes which capital
    return model


def test_memory_units_finds_a_unit_that_stores_the_cue():
    from charlstm.probes.memory_units import memory_units

    model = planted_memory_model()
    report = memory_units(model, MEMORY_VOCAB, cue_swap.language_probe(), distance=60, draws=2, top=3)
    assert (report.units[0].layer, report.units[0].unit) == (0, 0)
    # filler capitals ("The", "It") also feed it, so it is not perfectly selective, but far above the rest
    assert report.units[0].selectivity > 2 * report.units[1].selectivity
    assert report.units[0].forget_in_filler > 0.99


def test_memory_units_ranks_the_unit_that_carries_the_cue_above_one_written_at_the_question():
    """Unit 1 holds nothing across the filler: it is written from unit 0's output at the "f" of "fluent"
    (no country, cue or filler here has an "f"). At the question its cell state depends on the cue, spread
    wider than unit 0's; before it, not at all: only unit 0 carried the cue."""
    from charlstm.probes.memory_units import memory_units
    from charlstm.probes.trace import traces

    hidden = 16
    model = planted_memory_model(hidden)
    with torch.no_grad():
        core = model.core
        for weight in (core.weight_ih_l0, core.weight_hh_l0):
            weight[[3 * hidden, 1, hidden + 1, 2 * hidden + 1]] = 0.0
        core.bias_ih_l0[3 * hidden], core.bias_hh_l0[3 * hidden] = 20.0, 0.0   # unit 0 shows its cell
        model.embedding.weight[:, 2] = 0.0
        model.embedding.weight[MEMORY_VOCAB.index("f"), 2] = 1.0
        core.bias_ih_l0[1], core.bias_hh_l0[1] = -20.0, 0.0                    # unit 1 writes at "f" only
        core.weight_ih_l0[1, 2] = 40.0
        core.bias_ih_l0[hidden + 1], core.bias_hh_l0[hidden + 1] = 20.0, 0.0  # and keeps it to the end
        core.weight_hh_l0[2 * hidden + 1, 0] = 60.0                            # what unit 0 shows, spread
        core.bias_ih_l0[2 * hidden + 1], core.bias_hh_l0[2 * hidden + 1] = -58.8, 0.0
    probe = dataclasses.replace(cue_swap.language_probe(), filler=lambda rng, chars: " ".join(["la"] * (chars // 3)))
    warm = cue_swap.warmed_up(probe, model, MEMORY_VOCAB)
    texts = [cue_swap.context(warm, cue, probe.filler(random.Random(0), 60)) for cue in probe.cues]
    at_question = torch.stack([result.cell[-1, 0, :2] for result in traces(model, MEMORY_VOCAB, texts)])
    assert at_question[:, 1].std() > at_question[:, 0].std() > 0.1   # at the question unit 1 spreads wider
    report = memory_units(model, MEMORY_VOCAB, probe, distance=60, draws=2, top=3)
    assert (report.units[0].layer, report.units[0].unit) == (0, 0)
    assert 1 not in [unit.unit for unit in report.units]


def test_units_html_escapes_corpus_text():
    from charlstm.probes.memory_units import UnitsReport, MemoryUnit
    from charlstm.report.html import units_page

    text = "<script>alert('x')</script> & \"q\"\n"
    values = [float(i % 5 - 2) for i in range(len(text))]
    report = UnitsReport(distance=10, units=[MemoryUnit(0, 3, 0.9, 0.99, {"<b>cue</b>": 1.0})],
                         best_traces={"<b>cue</b>": values}, best_forget={"<b>cue</b>": [0.5] * len(text)},
                         spans={"<b>cue</b>": (1, 5)}, texts={"<b>cue</b>": text})
    page = units_page(report)
    assert "<script>" not in page and "<b>cue</b>" not in page
    assert "&lt;" in page and "&amp;" in page and "&lt;b&gt;cue&lt;/b&gt;" in page
    assert page.count("<span title='c ") == page.count("<span title='forget gate ") == len(text) and "⏎" in page
    assert not re.search(r"""(src|href)\s*=|url\(|https?://""", page)  # self-contained: loads nothing


def test_probe_command_writes_the_html_page(memory_run, tmp_path):
    out = tmp_path / "units.html"
    result = CliRunner().invoke(app, ["probe", str(memory_run), "--suite", "units", "--distances", "30",
                                      "--html", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<!doctype html>")
    result = CliRunner().invoke(app, ["probe", str(memory_run), "--suite", "context", "--html", str(out)])
    assert result.exit_code == 1 and "--suite units" in result.stderr


def test_fresh_filler_follows_the_training_corpus_and_unseen_filler_is_the_probe_grammar():
    pool = memory.sentence_pool(30)
    fresh = cue_swap.training_filler(["builtin:memory:pool=30"])
    text = fresh(random.Random(1), 300)
    sentences = [s + "." for s in text.split(". ") if s]
    composed = [s.rstrip(".") + "." for s in sentences if len(s) > 20]
    assert composed and all(s in pool for s in composed)
    unseen_text = cue_swap.filler_for("unseen", None)(random.Random(1), 200)
    assert unseen_text == unseen.unseen_filler(random.Random(1), 200)
    with pytest.raises(ProbeError, match="fresh or unseen"):
        cue_swap.filler_for("stale", None)


def test_probe_suites_from_python_choose_by_corpus_and_run_in_order():
    from charlstm.probes.suites import SuiteOptions, default_suites, run_suites

    model = tiny_model(len(MEMORY_VOCAB))
    memory_run = {"corpus": {"name": "memory"}}
    assert default_suites(model, memory_run) == ["cue-swap", "forgetting", "units"]
    assert default_suites(tiny_model(len(MEMORY_VOCAB), cell="gru"), memory_run) == ["cue-swap", "forgetting"]
    assert default_suites(model, {"corpus": {"name": "notes"}}) == ["context"]
    options = SuiteOptions(distances=(0, 25), draws=1, prefix="")
    results = list(run_suites(model, MEMORY_VOCAB, memory_run, options))
    assert [r.name for r in results] == ["cue-swap", "forgetting", "units"]
    assert [row.distance for row in results[0].report.rows] == [0, 25]
    with pytest.raises(ProbeError, match="--suite must be one of"):
        SuiteOptions(suites=("memory",))
