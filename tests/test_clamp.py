"""Steering by a unit: ``--clamp LAYER:UNIT=VALUE`` holds a unit's cell state (or, in a cell without one,
its hidden state) at a value after every step, read or drawn."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from charlstm.checkpoint import save_checkpoint
from charlstm.cli import app
from charlstm.errors import ConfigError
from charlstm.sample import Clamp, SamplingOptions, Streams, parse_clamp, sample_text, sample_texts
from tests.conftest import tiny_model
from tests.test_sample import PINNED, VOCAB

UNIT = 5
GREEDY = SamplingOptions(greedy=True)


def held(streams: Streams, clamp: Clamp) -> torch.Tensor:
    """The clamped unit's value in every stream: c where the cell has one, else h."""
    part = streams.state.parts[1] if streams.state.has_cell else streams.state.parts[0]
    return part[clamp.layer][:, clamp.unit]


# --- parsing ------------------------------------------------------------------------------------------

def test_parse_clamp():
    assert parse_clamp("1:42=0.8") == Clamp(1, 42, 0.8)
    assert parse_clamp("0:0=-3") == Clamp(0, 0, -3.0)
    assert str(parse_clamp("0:42=0.8")) == "layer 0 unit 42 at +0.80"


@pytest.mark.parametrize("spec, message", [
    ("0:42", "LAYER:UNIT=VALUE"), ("42=0.8", "LAYER:UNIT=VALUE"), ("", "LAYER:UNIT=VALUE"),
    ("-1:4=0.5", "layer must be a whole number"), ("x:4=0.5", "layer must be a whole number"),
    ("0:1.5=0.5", "unit must be a whole number"), ("0:=0.5", "unit must be a whole number"),
    ("0:4=", "finite number"), ("0:4=high", "finite number"), ("0:4=nan", "finite number"),
    ("0:4=inf", "finite number"),
])
def test_malformed_clamps_are_refused(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_clamp(spec)


def test_one_unit_clamped_twice_is_refused():
    with pytest.raises(ConfigError, match="layer 0 unit 3 twice"):
        SamplingOptions(clamps=(Clamp(0, 3, 1.0), Clamp(0, 4, 1.0), Clamp(0, 3, -1.0)))


# --- semantics ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("cell", ["lstm", "gru", "peephole", "clockwork", "grid", "minlstm"])
def test_the_unit_holds_its_value_while_reading_and_sampling(cell):
    model = tiny_model(len(VOCAB), cell=cell, num_layers=2)
    clamps = (Clamp(1, UNIT, 0.75), Clamp(0, 0, -0.5))
    streams = Streams(model, VOCAB, SamplingOptions(clamps=clamps), seeds=[1, 2, 3])
    streams.read("abc")
    streams.read("de")  # a continued read (the interactive loop's) is clamped too
    for _ in range(20):
        assert all(torch.equal(held(streams, clamp), torch.full((3,), clamp.value)) for clamp in clamps)
        streams.next()
    assert all(torch.equal(held(streams, clamp), torch.full((3,), clamp.value)) for clamp in clamps)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_clamped_reading_and_sampling_match_the_fused_core_clamped_by_hand(cell):
    """The reference: the whole model run one character at a time, the unit written after each step."""
    model = tiny_model(len(VOCAB), cell=cell, num_layers=2)
    clamp = Clamp(1, UNIT, 0.9)
    streams = Streams(model, VOCAB, SamplingOptions(greedy=True, clamps=(clamp,)))
    streams.read("bad")
    drawn = [int(streams.next()[0]) for _ in range(10)]

    text, state = "\nbad", None
    with torch.no_grad():
        for index, char in enumerate(text + "".join(VOCAB.chars[i] for i in drawn)):
            logits, state = model(VOCAB.encode(char).view(1, 1), state)
            state[1 if cell == "lstm" else 0][clamp.layer, :, clamp.unit] = clamp.value
            if len(text) - 1 <= index < len(text) - 1 + len(drawn):
                assert int(logits[0, -1].argmax()) == drawn[index - len(text) + 1]
    assert torch.allclose(streams.logits, logits[:, -1], atol=1e-5)


def steerable_model(cell: str):
    """A model whose head reads unit ``UNIT`` alone: positive favours 'a', negative forbids it. The unit
    keeps what it holds (a forget gate, or a GRU's update gate, pinned open), so a clamp shows directly."""
    model = tiny_model(len(VOCAB), cell=cell)
    hidden = model.config.hidden_size
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
        model.head.weight[VOCAB.index("a"), UNIT] = 40.0
        gate = hidden if cell in ("lstm", "gru") else None  # the forget (lstm) or update (gru) slice
        model.core.bias_hh_l0[gate + UNIT] = 30.0
    return model


@pytest.mark.parametrize("cell, value", [("lstm", 3.0), ("gru", 0.9)])
def test_clamping_a_unit_the_head_reads_changes_the_text(cell, value):
    model = steerable_model(cell)
    free = sample_texts(model, VOCAB, 30, "b", SamplingOptions(temperature=1.0), seeds=range(8))
    up = SamplingOptions(temperature=1.0, clamps=(Clamp(0, UNIT, value),))
    down = SamplingOptions(temperature=1.0, clamps=(Clamp(0, UNIT, -value),))
    assert all(set(text) != {"a"} for text in free)
    assert all(set(text) == {"a"} for text in sample_texts(model, VOCAB, 30, "b", up, seeds=range(8)))
    assert all("a" not in text for text in sample_texts(model, VOCAB, 30, "b", down, seeds=range(8)))


def test_without_clamps_the_texts_are_unchanged():
    model = tiny_model(len(VOCAB))
    assert sample_text(model, VOCAB, 30, prompt="ab", seed=1, options=SamplingOptions(clamps=())) == PINNED[1]


def test_batched_clamped_streams_give_each_seed_its_single_stream_text():
    model = tiny_model(len(VOCAB))
    options = SamplingOptions(temperature=1.0, clamps=(Clamp(0, UNIT, 2.0),))
    batch = sample_texts(model, VOCAB, 40, "ab", options, seeds=[3, 4, 5])
    assert batch == [sample_text(model, VOCAB, 40, "ab", options, seed=s) for s in (3, 4, 5)]


# --- the command line ---------------------------------------------------------------------------------

@pytest.fixture
def checkpoint(tmp_path):
    model = tiny_model(len(VOCAB), num_layers=2)
    return save_checkpoint({"model_config": model.config.to_dict(), "vocab": list(VOCAB.chars),
                            "model": model.state_dict()}, tmp_path / "tiny.pt")


def sample_cli(*args: str):
    return CliRunner().invoke(app, ["sample", *args, "--seed", "0", "--device", "cpu"])


def test_clamp_runs_end_to_end(checkpoint):
    result = sample_cli(str(checkpoint), "--prompt", "ab", "--length", "12", "--clamp", "1:5=0.8",
                        "--clamp", "0:0=-1")
    assert result.exit_code == 0, result.output
    assert "clamping layer 1 unit 5 at +0.80: its cell state" in result.stderr
    assert "clamping layer 0 unit 0 at -1.00" in result.stderr
    assert len(result.stdout.strip()) == len("ab") + 12
    many = sample_cli(str(checkpoint), "--length", "5", "--num-samples", "3", "--json", "--clamp", "1:5=0.8")
    assert many.exit_code == 0 and len(many.stdout.splitlines()) == 3


@pytest.mark.parametrize("spec, message", [("2:0=1", "LAYER is 0 to 1 and UNIT 0 to 31"),
                                           ("0:32=1", "LAYER is 0 to 1 and UNIT 0 to 31"),
                                           ("0:4", "LAYER:UNIT=VALUE")])
def test_a_clamp_the_model_cannot_take_is_one_error_line(checkpoint, spec, message):
    result = sample_cli(str(checkpoint), "--length", "5", "--clamp", spec)
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("charlstm: error:") and message in lines[0], result.stderr
    assert result.stdout == ""
