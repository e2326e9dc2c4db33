"""``charlstm export``: the model's step as TorchScript gives charlstm's numbers, loaded with torch alone."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from charlstm.cli import app
from charlstm.errors import ConfigError
from charlstm.export import export_torchscript
from charlstm.sample import context_ids
from charlstm.stepper import Stepper
from tests.conftest import MEMORY_VOCAB, tiny_model

TEXT = "I grew up in Japan. Two dusty kettles wobbled. I speak fluent "


@pytest.mark.parametrize("cell, layers, tie", [("lstm", 2, False), ("gru", 2, True), ("rnn", 1, False)])
def test_the_exported_step_is_charlstms_step(cell, layers, tie, tmp_path):
    model = tiny_model(len(MEMORY_VOCAB), cell=cell, num_layers=layers, tie_weights=tie)
    path = export_torchscript(model, MEMORY_VOCAB, tmp_path / "m.ts")
    step = torch.jit.load(str(path))
    stepper = Stepper(model)
    state = stepper.initial_state(2)
    h = c = torch.zeros(layers, 2, model.config.hidden_size)
    with torch.no_grad():
        for char in context_ids(MEMORY_VOCAB, TEXT).tolist():
            ids = torch.tensor([char, char])
            expected = stepper.step(ids, state)
            logits, h, c = step(ids, h, c)
            assert torch.allclose(logits, expected, atol=1e-5)
    assert list(step.vocab) == list(MEMORY_VOCAB.chars) and list(step.shape) == [layers, model.config.hidden_size]


def test_the_documented_example_samples_without_charlstm(tmp_path):
    """The ten lines in charlstm.export's docstring, run in a process that never imports charlstm."""
    result = CliRunner().invoke(app, ["export", "pretrained:memory-lstm", "--out", str(tmp_path / "model.ts")])
    assert result.exit_code == 0, result.output
    import charlstm.export

    example = charlstm.export.__doc__.split("    import torch", 1)[1].split("\n\n", 1)[0]
    code = "import torch" + "\n".join(line[4:] for line in example.splitlines())
    code += "\nimport sys\nassert 'charlstm' not in sys.modules\n"
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(run.stdout.strip()) > 0


def test_cells_without_an_export_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="a peephole cell has no export yet"):
        export_torchscript(tiny_model(len(MEMORY_VOCAB), cell="peephole"), MEMORY_VOCAB, tmp_path / "m.ts")
    result = CliRunner().invoke(app, ["export", "pretrained:memory-lstm", "--format", "onnx", "--out",
                                      str(tmp_path / "m.onnx")])
    assert result.exit_code == 1 and "--format must be torchscript" in result.stderr
