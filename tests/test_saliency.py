"""Saliency is the gradient of the answer's log-probability (checked by finite differences), lines up with the
characters of the text, and reaches the probe command's JSON and the cue-swap report."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from charlstm.cli import app
from charlstm.errors import ProbeError
from charlstm.probes import cue_swap
from charlstm.probes.saliency import mean_summary, saliencies, saliency, span_summary
from charlstm.sample import context_ids
from charlstm.vocab import Vocab
from tests.conftest import MEMORY_VOCAB, tiny_model

VOCAB = Vocab.from_text("\n .Iabcdefghilnoprstuwy")




def logprob_of_embeddings(model, vocab, prefix: str, text: str, answer: str, x: torch.Tensor) -> float:
    """log P(answer | prefix + text) with the text's embedded vectors replaced by ``x`` (len(text), E):
    the whole context read from the zero state, independently of the code under test."""
    ids = context_ids(vocab, prefix + text + answer[:-1])
    inputs = model.embedding(ids).detach().clone()
    start = 1 + len(prefix)
    inputs[start:start + len(text)] = x
    with torch.no_grad():
        logits, _ = model.from_embeddings(inputs[None])
    logp = torch.log_softmax(logits[0, -len(answer):], dim=-1)
    return float(logp.gather(1, vocab.encode(answer)[:, None]).sum())


@pytest.mark.parametrize("overrides", [{"cell": "lstm"}, {"cell": "peephole"}, {"cell": "gru", "num_layers": 2}])
def test_saliency_matches_finite_differences(overrides):
    """The gradient at each of a few positions, rebuilt one embedding direction at a time by central
    differences, has the reported norm, and its dot product with the input is the reported gradient x input."""
    model = tiny_model(len(VOCAB), **overrides).double()
    prefix, text, answer = "a bird. ", "I grew up in a tree. I spy ", "cat."
    result = saliency(model, VOCAB, text, answer, prefix=prefix)
    assert result.text == text and len(result.gradient_norm) == len(result.gradient_x_input) == len(text)
    embedded = model.embedding(VOCAB.encode(text)).detach()
    assert result.logprob == pytest.approx(logprob_of_embeddings(model, VOCAB, prefix, text, answer, embedded),
                                           rel=1e-12)
    eps = 1e-3   # float64: small enough for the eps**2 error, large enough for a 1e-7 gradient
    for position in (0, 5, len(text) - 8, len(text) - 1):
        gradient = torch.zeros(embedded.size(1), dtype=torch.float64)
        for dim in range(embedded.size(1)):
            step = torch.zeros_like(embedded)
            step[position, dim] = eps
            up = logprob_of_embeddings(model, VOCAB, prefix, text, answer, embedded + step)
            down = logprob_of_embeddings(model, VOCAB, prefix, text, answer, embedded - step)
            gradient[dim] = (up - down) / (2 * eps)
        norm = float(gradient.norm())
        assert result.gradient_norm[position] == pytest.approx(norm, rel=1e-6)
        # a dot product can cancel, so its error is measured against |gradient| |input|, not itself
        scale = norm * float(embedded[position].norm())
        assert result.gradient_x_input[position] == pytest.approx(float(gradient @ embedded[position]),
                                                                  abs=1e-5 * scale)


def test_batched_rows_equal_each_alone():
    model = tiny_model(len(VOCAB), num_layers=2).double()
    texts, answers = ["I grew up in a tree. ", "a", "bird in a tree. I spy "], ["cat.", "dog", "a"]
    for batched, text, answer in zip(saliencies(model, VOCAB, texts, answers, prefix="spy. "), texts, answers):
        alone = saliency(model, VOCAB, text, answer, prefix="spy. ")
        assert batched.logprob == pytest.approx(alone.logprob, rel=1e-12)
        assert batched.gradient_norm == pytest.approx(alone.gradient_norm, rel=1e-9, abs=1e-15)
        assert batched.gradient_x_input == pytest.approx(alone.gradient_x_input, rel=1e-9, abs=1e-15)
    with pytest.raises(ProbeError, match="non-empty"):
        saliency(model, VOCAB, "", "a")


def test_saliency_falls_on_the_cue_the_answer_depends_on():
    """A hand-built LSTM whose answer reads one unit, which stores only the cue letter ('a' or 'b') and never
    forgets: the gradient sits on the cue's own position, not on the warm-up (dropped), filler or query."""
    vocab = Vocab.from_text("\n .?abxyz")
    model = tiny_model(len(vocab), hidden_size=4, embedding_dim=4)
    hidden, core = 4, model.core
    with torch.no_grad():
        for tensor in (core.weight_ih_l0, core.weight_hh_l0, core.bias_ih_l0, core.bias_hh_l0, model.head.weight,
                       model.head.bias, model.embedding.weight[:, :2]):
            tensor.zero_()
        for cue, sign in (("a", 1.0), ("b", -1.0)):
            model.embedding.weight[vocab.index(cue), :2] = torch.tensor([1.0, sign])
        core.bias_ih_l0[0] = -20.0                       # unit 0's input gate is shut ...
        core.weight_ih_l0[0, 0] = 40.0                   # ... but opens on a cue letter (dimension 0)
        core.bias_ih_l0[hidden] = 20.0                   # its forget gate keeps everything
        core.weight_ih_l0[2 * hidden, 1] = 1.0           # its candidate says which cue (dimension 1)
        core.bias_ih_l0[3 * hidden] = 20.0               # its output gate is open
        model.head.weight[vocab.index("a"), 0], model.head.weight[vocab.index("b"), 0] = 5.0, -5.0
    text = "xy zx b yzz xy.x zy x ?"
    result = saliency(model, vocab, text, "b", prefix="a xyz\n")
    assert len(result.gradient_norm) == len(text)     # the warm-up's 'a' is not a position of the text
    cue = text.index("b")
    assert result.top(1)[0] == (cue, pytest.approx(1.0, abs=1e-6))
    summary = span_summary(result, {"cue": (cue, cue + 1), "rest": (cue + 1, len(text))})
    assert summary["cue"]["share"] == pytest.approx(1.0, abs=1e-6)
    assert summary["cue"]["per_char"] > 1e4 * summary["rest"]["per_char"]
    assert result.gradient_x_input[cue] > 0           # the cue supports its answer


def test_span_summary_and_mean():
    from charlstm.probes.saliency import Saliency

    result = Saliency("abcd", "x", -1.0, [1.0, 1.0, 2.0, 0.0], [0.0] * 4)
    summary = span_summary(result, {"first": (0, 2), "last": (2, 4)})
    assert summary == {"first": {"share": 0.5, "per_char": 1.0}, "last": {"share": 0.5, "per_char": 1.0}}
    other = span_summary(Saliency("abcd", "x", -1.0, [0.0, 0.0, 0.0, 4.0], [0.0] * 4), {"first": (0, 2), "last": (2, 4)})
    assert mean_summary([summary, other])["last"] == {"share": 0.75, "per_char": 1.5}


def test_cue_swap_report_carries_saliency_over_cue_filler_and_query():
    model = tiny_model(len(MEMORY_VOCAB))
    probe = cue_swap.language_probe(distances=(0, 30, 400), draws=2)
    report = cue_swap.run_cue_swap(model, MEMORY_VOCAB, probe, saliency_draws=1)
    found = report.saliency
    assert found.distance == 30 and found.contexts == len(probe.cues)
    assert set(found.per_cue) == {cue.label for cue in probe.cues}
    assert sum(span["share"] for span in found.mean.values()) == pytest.approx(1.0)
    example = found.example
    cue, query = (example.text[start:end] for start, end in (found.spans["cue"], found.spans["query"]))
    assert cue == probe.cues[0].text and query == probe.query and example.answer == probe.cues[0].answer
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data["saliency"]["mean"]) == {"cue", "filler", "query"}
    assert cue_swap.run_cue_swap(model, MEMORY_VOCAB, probe).saliency is None   # off unless asked for


def test_probe_command_reports_saliency(memory_run):
    runner = CliRunner()
    prompt = "I grew up in Spain. I speak fluent "
    args = ["probe", str(memory_run), "--prompt", prompt, "--candidates", "Spanish.,Greek.", "--swap", "Spain=Greece"]
    data = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    original, swapped = data["prompt"]
    assert [s["answer"] for s in original["saliency"]] == ["Spanish.", "Greek."]
    first = original["saliency"][0]
    assert first["text"] == prompt and len(first["gradient_norm"]) == len(first["gradient_x_input"]) == len(prompt)
    assert first["logprob"] == pytest.approx(original["logprobs"][0], abs=1e-4)   # the same quantity as scored
    assert swapped["saliency"][1]["text"].startswith("I grew up in Greece.")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "saliency" in result.stderr and "Greek." in result.stderr
    result = runner.invoke(app, ["probe", str(memory_run), "--suite", "cue-swap", "--distances", "0,20",
                                 "--draws", "1"])
    assert result.exit_code == 0, result.output
    assert "answer's gradient" in result.stderr and "filler" in result.stderr
