"""Traces of every cell's gates, and gate statistics that give back the saturation fractions set by hand."""

from __future__ import annotations

import json

import pytest
import torch

from charlstm.probes.gates import GATES, gate_statistics, run_gate_statistics
from charlstm.probes.trace import passage_trace, trace, traces
from charlstm.vocab import Vocab
from tests.conftest import tiny_model

VOCAB = Vocab.from_text("ab \n")


def test_gru_trace_reproduces_the_fused_gru():
    model = tiny_model(len(VOCAB), cell="gru", num_layers=2)
    result = trace(model, VOCAB, "abba ab\nba")
    with torch.no_grad():
        output, (h,) = model.core(model.embedding(VOCAB.encode("\nabba ab\nba")).view(1, 11, -1))
    assert result.cell is None and result.state is result.hidden
    assert torch.allclose(result.hidden[:, -1], output[0, 1:], atol=1e-5)
    assert torch.allclose(result.hidden[-1], h[:, 0], atol=1e-5)
    assert set(result.gates) == {"reset", "update", "candidate"}


@pytest.mark.parametrize("cell", ["peephole", "coupled", "depth-gated", "clockwork", "grid", "mingru", "minlstm", "rnn"])
def test_every_cell_traces_and_its_gates_are_counted(cell):
    model = tiny_model(len(VOCAB), cell=cell, num_layers=2)
    text = "ab ba\nab" * 30
    result = passage_trace(model, VOCAB, text, rows=4, warmup=10)
    assert len(result.text) == len(text) - 10 and result.hidden.shape == (len(text) - 10, 2, 32)
    assert (result.cell is not None) == (cell in ("peephole", "coupled", "depth-gated", "grid"))
    report = gate_statistics(result, cell)
    if not GATES[cell]:
        assert report.stats == [] and report.note
        return
    expected = {(layer, gate) for gate in GATES[cell] for layer in range(2)} - {(0, "depth")}  # no layer below layer 0
    assert {(s.layer, s.gate) for s in report.stats} == expected
    assert all(0 <= s.mean_shut <= 1 and 0 <= s.mean_open <= 1 for s in report.stats)


def test_passage_trace_matches_reading_each_piece_after_its_lead():
    model = tiny_model(len(VOCAB), num_layers=2)
    text = "ab ba\nabba b\n" * 8
    result = passage_trace(model, VOCAB, text, rows=3, warmup=12)
    kept = len(text) - 12
    start, end = 12 + kept // 3, 12 + 2 * kept // 3      # the second row's piece
    alone = trace(model, VOCAB, text[start - 12:end])
    assert torch.allclose(result.cell[start - 12:end - 12], alone.cell[12:], atol=1e-6)
    assert result.text == text[12:]


def test_gate_statistics_give_the_fractions_set_by_hand():
    """Unit 0's input gate opens on 'a' and shuts on 'b'; unit 1's forget gate is always open, unit 2's
    output gate always shut, and unit 3's gates sit at 0.5 (never saturated)."""
    model = tiny_model(len(VOCAB), hidden_size=4, embedding_dim=2)
    core, hidden = model.core, 4
    with torch.no_grad():
        for parameter in (core.weight_ih_l0, core.weight_hh_l0, core.bias_ih_l0, core.bias_hh_l0):
            parameter.zero_()
        model.embedding.weight.zero_()
        model.embedding.weight[VOCAB.index("a"), 0] = 1.0
        model.embedding.weight[VOCAB.index("b"), 0] = -1.0
        core.weight_ih_l0[0, 0] = 10.0                    # input gate, unit 0: sigmoid(+-10)
        core.bias_ih_l0[hidden + 1] = 10.0                # forget gate, unit 1: open
        core.bias_ih_l0[3 * hidden + 2] = -10.0           # output gate, unit 2: shut
        core.bias_ih_l0[hidden + 0] = 10.0                # forget gate, unit 0: open (so i is the only switch)
    text = ("aaabbbbbbb" * 20)                            # 30% a, 70% b
    report = gate_statistics(trace(model, VOCAB, text), "lstm")
    by_gate = {s.gate: s for s in report.stats}
    assert by_gate["input"].open[0] == pytest.approx(0.3) and by_gate["input"].shut[0] == pytest.approx(0.7)
    assert by_gate["forget"].open[1] == 1.0 and by_gate["forget"].shut[1] == 0.0
    assert by_gate["output"].shut[2] == 1.0 and by_gate["output"].open[2] == 0.0
    for stats in report.stats:
        assert stats.shut[3] == 0.0 and stats.open[3] == 0.0
    assert by_gate["output"].never_saturated == 3 and by_gate["output"].mostly(by_gate["output"].shut) == 1
    assert report.positions == len(text)


def test_gate_statistics_of_a_gru_count_its_update_gate():
    model = tiny_model(len(VOCAB), cell="gru", hidden_size=4)
    with torch.no_grad():
        model.core.bias_ih_l0[4:8] = 20.0                 # update gates z: open, the unit keeps its state
    report = run_gate_statistics(model, VOCAB, "ab ba\n" * 60)
    update = next(s for s in report.stats if s.gate == "update")
    assert update.open == [1.0] * 4 and [s.gate for s in report.stats] == ["reset", "update"]


def test_cells_without_gates_say_so():
    for cell in ("rnn", "clockwork"):
        report = run_gate_statistics(tiny_model(len(VOCAB), cell=cell), VOCAB, "ab " * 100)
        assert report.stats == [] and report.positions == 0 and cell.replace("rnn", "RNN") in report.note


def test_traces_still_right_pad_every_cell():
    model = tiny_model(len(VOCAB), cell="depth-gated", num_layers=2)
    texts = ["ab ba", "a", "bbbb aaaa\n"]
    for text, batched in zip(texts, traces(model, VOCAB, texts)):
        alone = trace(model, VOCAB, text)
        assert torch.allclose(batched.cell, alone.cell, atol=1e-6)
        assert torch.equal(torch.isnan(batched.gates["depth"]), torch.isnan(alone.gates["depth"]))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_written_out_step_equals_the_fused_cell_step(cell):
    """Off the CPU an LSTM or GRU steps through the written-out gates (CUDA's fused cells refuse a per-row
    bias); on the CPU the two paths must give the same logits and state."""
    from charlstm.stepper import Stepper

    model = tiny_model(len(VOCAB), cell=cell, num_layers=2)
    fused, written = Stepper(model), Stepper(model)
    written.written_out = True
    state_a, state_b = fused.initial_state(3), written.initial_state(3)
    with torch.no_grad():
        for ids in torch.tensor([[0, 1, 2], [2, 2, 1], [3, 0, 1], [1, 1, 1]]):
            assert torch.allclose(fused.step(ids, state_a), written.step(ids, state_b), atol=1e-6)
    for part_a, part_b in zip(state_a.parts, state_b.parts):
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(part_a, part_b))


def test_probe_gates_suite_prints_a_table_and_json(tmp_path):
    from typer.testing import CliRunner

    from charlstm.cli import app
    from charlstm.corpus import corpus_from_text
    from charlstm.train import train
    from tests.conftest import TEXT, TINY_MODEL, TINY_TRAIN

    train(corpus_from_text(TEXT, name="tiny", val_fraction=0.1), tmp_path / "run", model_config=TINY_MODEL,
          train_config={**TINY_TRAIN, "max_steps": 3})
    held_out = tmp_path / "held_out.txt"
    held_out.write_text(TEXT, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["probe", str(tmp_path / "run"), "--suite", "gates", "--text", str(held_out)])
    assert result.exit_code == 0, result.output
    assert "gate saturation" in result.stderr and "forget" in result.stderr
    result = runner.invoke(app, ["probe", str(tmp_path / "run"), "--suite", "gates", "--text", str(held_out), "--json"])
    gates = json.loads(result.stdout)["gates"]
    assert [(g["layer"], g["gate"]) for g in gates["gates"]] == [(0, "input"), (0, "forget"), (0, "output")]
    assert gates["positions"] == len(TEXT) - len(TEXT) // 10 and len(gates["gates"][0]["open"]) == TINY_MODEL["hidden_size"]
