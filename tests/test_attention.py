"""Attention over the core's past (charlstm.attention): the window path, the step path and right-padded
rows compute the same thing, its memory is carried and resumed like the state, and it is trained."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from charlstm.attention import PastAttention, stick_breaking
from charlstm.config import ATTENTION_KINDS, ModelConfig
from charlstm.model import CharRNN
from charlstm.probes import cue_swap
from charlstm.probes.looked import looked
from charlstm.probes.prompt import probe_prompt
from charlstm.stepper import Stepper
from charlstm.train import train
from tests.conftest import MEMORY_VOCAB, TINY_MODEL, TINY_TRAIN, stepped_logits, straight_and_resumed, tiny_model

MEMORY = 7


def attending(cell: str = "lstm", layers: int = 2, dropout: float = 0.0, kind: str = "softmax") -> CharRNN:
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=11, cell=cell, num_layers=layers, hidden_size=16, embedding_dim=8,
                         dropout=dropout, attention_memory=MEMORY, attention_kind=kind, clockwork_modules=2)
    return CharRNN(config).eval()


def biggest_gap(a, b) -> float:
    return max((x - y).abs().max().item() for x, y in zip(a, b))


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_windows_steps_and_one_pass_agree_for_every_kind_of_core(kind):
    ids = torch.randint(0, 11, (3, 20), generator=torch.Generator().manual_seed(1))
    for cell in ("lstm", "gru", "rnn", "peephole", "clockwork"):
        model = attending(cell, kind=kind)
        with torch.no_grad():
            whole, state = model(ids)
            first, carried = model(ids[:, :5])          # shorter than the memory: old slots stay in it
            second, windows_state = model(ids[:, 5:], carried)
            stepper = Stepper(model)
            stepped_state = stepper.initial_state(3)
            stepped = stepped_logits(stepper, ids, stepped_state)
        assert len(state) == len(model.core.initial_state(1)) + 3
        # (equal to the bit for softmax; stick-breaking's sums run over rows of other lengths)
        assert torch.allclose(torch.cat([first, second], dim=1), whole, atol=1e-6), cell
        assert biggest_gap(windows_state, state) < 1e-6, cell
        assert torch.allclose(stepped, whole, atol=1e-5), cell
        assert biggest_gap(stepper.to_state(stepped_state), state) < 1e-5, cell


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_right_padded_rows_read_as_they_would_alone(kind):
    model = attending(kind=kind)
    ids = torch.randint(0, 11, (3, 20), generator=torch.Generator().manual_seed(2))
    lengths = torch.tensor([20, 9, 3])
    with torch.no_grad():
        logits, state = model.final(ids, lengths)
        for row, length in enumerate(lengths.tolist()):
            alone, alone_state = model(ids[row:row + 1, :length])
            assert torch.allclose(logits[row], alone[0, -1], atol=1e-6)
            assert biggest_gap([t[:, row] for t in state], [t[:, 0] for t in alone_state]) < 1e-6


def test_training_layer_by_layer_attends_the_same():
    model = attending(dropout=0.2)
    ids = torch.randint(0, 11, (3, 20), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected, expected_state = model(ids)
        model.train()
        model.dropout.p = 0.0               # no masks: the by-layer path must then equal the one-call path
        assert model.core.by_layer
        got, state = model(ids)
    assert torch.allclose(got, expected, atol=1e-6) and biggest_gap(state, expected_state) < 1e-6


def test_each_character_sees_exactly_the_last_outputs_that_exist():
    attention = PastAttention(hidden_size=6, memory=4).double()
    output = torch.randn(2, 5, 6, dtype=torch.double)
    keys, values, seen = attention.initial_state(2, "cpu", torch.double)
    seen[0, 1, 0] = 2                          # row 1 has read two characters before this window
    _, (kept, _, kept_seen), weights = attention(output, (keys, values, seen), keep_weights=True)
    # [memory slots 0..3; window 0..4]: character t sees positions t+1 .. t+4, of which the filled slots.
    for row, filled in ((0, 0), (1, 2)):
        for t in range(5):
            seen_positions = {p for p in range(t + 1, t + 5) if p >= 4 - filled}
            nonzero = {p for p in range(9) if weights[row, t, p] > 0}
            assert nonzero == seen_positions, (row, t)
    assert torch.equal(kept, attention.key(output)[:, 1:].transpose(0, 1)) and kept_seen.flatten().tolist() == [4, 4]


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_gradients_are_exact(kind):
    attention = PastAttention(hidden_size=5, memory=3, kind=kind).double()
    keys, values = torch.randn(3, 2, 5, dtype=torch.double), torch.randn(3, 2, 5, dtype=torch.double)
    seen = torch.tensor([[[3.0], [1.0]]], dtype=torch.double)
    output = torch.randn(2, 4, 5, dtype=torch.double, requires_grad=True)
    names = [name for name, _ in attention.named_parameters()]

    def mixed(output, *weights):
        return torch.func.functional_call(attention, dict(zip(names, weights)), (output, (keys, values, seen)))[0]

    weights = [p.detach().clone().requires_grad_() for p in attention.parameters()]
    assert torch.autograd.gradcheck(mixed, (output, *weights))


def test_resume_continues_exactly_with_the_memory_in_the_checkpoint(tmp_path, corpus):
    config = {**TINY_TRAIN, "max_steps": 20, "eval_every": 7, "seq_len": 8}
    model = {**TINY_MODEL, "attention_memory": 12}     # longer than a window: memory spans windows
    straight, _ = straight_and_resumed(corpus, tmp_path, model, config)
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert len(a["state"]) == 5 and a["state"][2].shape[0] == 12 and torch.equal(a["state"][3], b["state"][3])


def test_stick_breaking_gives_the_latest_match_its_weight_however_far_back():
    far, near = torch.full((1, 900), -10.0), torch.full((1, 900), -10.0)
    far[0, 50] = near[0, 50] = 6.0              # an old match
    near[0, 880] = 6.0                          # and, in one row only, a newer one
    weights = stick_breaking(torch.cat([far, near]))
    assert weights[0, 50] > 0.9                 # alone, the old match gets the stick, 850 places back
    assert weights[1, 880] > 0.99 and weights[1, 50] < 0.01
    assert torch.softmax(near, dim=-1)[0, 50] == pytest.approx(0.5, abs=0.01)   # softmax cannot tell them apart


def test_the_loss_reaches_every_attention_weight_and_only_this_window():
    model = attending().train()
    ids = torch.randint(0, 11, (3, 12), generator=torch.Generator().manual_seed(4))
    _, carried = model(ids[:, :6])
    carried = tuple(t.detach() for t in carried)
    logits, _ = model(ids[:, 6:], carried)
    nn.functional.cross_entropy(logits.flatten(0, 1), ids[:, 6:].flatten()).backward()
    for name in ("query", "key", "value", "out"):
        assert getattr(model.attention, name).weight.grad.abs().sum() > 0, name
    assert all(not t.requires_grad for t in carried)


def test_a_model_with_attention_trains(tmp_path, corpus):
    train(corpus, tmp_path, model_config={**TINY_MODEL, "attention_memory": 16},
          train_config={**TINY_TRAIN, "max_steps": 30, "eval_every": 10})
    losses = [json.loads(line)["val_loss"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 3 and losses[-1] < losses[0]


# ------------------------------------------------------------------------------------ where it looked

def test_looked_maps_each_weight_to_its_character():
    """With a zero query every filled position gets the same weight: the answer's first character is read
    after the start character, the warm-up and the text, so each text character gets 1 / all of them."""
    model = tiny_model(len(MEMORY_VOCAB), attention_memory=64)
    with torch.no_grad():
        model.attention.query.weight.zero_()
    prefix, text = "Hi. ", "I grew up in France. "
    (found,) = looked(model, MEMORY_VOCAB, [text], ["F"], prefix=prefix)
    seen = 1 + len(prefix) + len(text)
    assert found.weights == pytest.approx([1 / seen] * len(text))
    assert found.warmup == pytest.approx((1 + len(prefix)) / seen)
    # A memory shorter than the context: only the last 8 outputs are seen.
    model = tiny_model(len(MEMORY_VOCAB), attention_memory=8)
    with torch.no_grad():
        model.attention.query.weight.zero_()
    (found,) = looked(model, MEMORY_VOCAB, [text], ["F"], prefix=prefix)
    assert found.weights == pytest.approx([0.0] * (len(text) - 8) + [1 / 8] * 8) and found.warmup == 0
    assert looked(tiny_model(len(MEMORY_VOCAB)), MEMORY_VOCAB, [text], ["F"]) == []


def test_cue_swap_reports_the_attention_on_the_cue_only_for_models_that_attend():
    probe = cue_swap.language_probe(distances=(0, 50), draws=1)
    plain = cue_swap.run_cue_swap(tiny_model(len(MEMORY_VOCAB)), MEMORY_VOCAB, probe)
    assert all(row.attention_on_cue is None for row in plain.rows)
    model = tiny_model(len(MEMORY_VOCAB), attention_memory=400)
    report = cue_swap.run_cue_swap(model, MEMORY_VOCAB, probe)
    near, far = (row.attention_on_cue for row in report.rows)
    assert 0 < far < near < 1      # an untrained head spreads its weight: the cue's share falls with distance


def test_prompt_probe_and_report_show_where_it_looked(tmp_path):
    model = tiny_model(len(MEMORY_VOCAB), attention_memory=32)
    reports = probe_prompt(model, MEMORY_VOCAB, "I grew up in France. I speak fluent ", ["French.", "German."],
                           swaps=["France=Spain"])
    for report in reports:
        assert [found.answer for found in report.looked] == ["French.", "German."]
        assert all(sum(f.weights) + f.warmup + f.on_answer == pytest.approx(1.0) for f in report.looked)
    assert probe_prompt(tiny_model(len(MEMORY_VOCAB)), MEMORY_VOCAB, "I grew up. ", ["a"])[0].looked == []


def test_report_of_a_model_with_attention(tmp_path, corpus):
    from charlstm.checkpoint import load_model
    from charlstm.report.build import ReportOptions, gather
    from charlstm.report.page import render

    train(corpus, tmp_path / "run", model_config={**TINY_MODEL, "attention_memory": 24},
          train_config={**TINY_TRAIN, "max_steps": 3})
    model, vocab, payload, path = load_model(tmp_path / "run")
    (tmp_path / "held_out.txt").write_text(corpus.vocab.decode(corpus.val) * 30, encoding="utf-8")
    page = render(gather(model, vocab, payload, path, ReportOptions(text=tmp_path / "held_out.txt", chars=600,
                                                                    positions=20)))
    section = page.split("<h2>Attention: where the model looked", 1)[1].split("<h2>", 1)[0]
    assert "id='looked'" in section and "its last 24 outputs" in section
    assert "attention over its last 24 outputs" in page.split("<h2>", 1)[0]   # the facts table


def test_streams_sampled_together_are_each_the_sample_alone():
    from charlstm.sample import SamplingOptions, sample_text, sample_texts

    model = tiny_model(len(MEMORY_VOCAB), attention_memory=12)
    options = SamplingOptions(temperature=0.9)
    together = sample_texts(model, MEMORY_VOCAB, 40, prompt="I grew up in France. ", options=options, seeds=(1, 2, 3))
    assert together == [sample_text(model, MEMORY_VOCAB, 40, prompt="I grew up in France. ", options=options, seed=s)
                        for s in (1, 2, 3)]
    assert len(set(together)) == 3
