"""``charlstm export``: the model's step as TorchScript or ONNX gives charlstm's numbers, loaded without charlstm."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from charlstm.cli import app
from charlstm.errors import ConfigError
from charlstm.export import export_step
from charlstm.sample import context_ids
from charlstm.stepper import Stepper
from tests.conftest import MEMORY_VOCAB, tiny_model

TEXT = "I grew up in Japan. Two dusty kettles wobbled. I speak fluent "


def loaded_step(path, format: str):
    """The exported file as a function of torch tensors, run by torch.jit or by onnxruntime."""
    if format == "torchscript":
        return torch.jit.load(str(path))
    onnxruntime = pytest.importorskip("onnxruntime")
    session = onnxruntime.InferenceSession(str(path))

    def step(ids, h, c):
        return [torch.from_numpy(x) for x in session.run(None, {"ids": ids.numpy(), "h": h.numpy(), "c": c.numpy()})]
    return step


@pytest.mark.parametrize("format", ["torchscript", "onnx"])
@pytest.mark.parametrize("cell, layers, tie", [("lstm", 2, False), ("gru", 2, True), ("rnn", 1, False)])
def test_the_exported_step_is_charlstms_step(cell, layers, tie, format, tmp_path):
    if format == "onnx":
        pytest.importorskip("onnx")
    model = tiny_model(len(MEMORY_VOCAB), cell=cell, num_layers=layers, tie_weights=tie)
    step = loaded_step(export_step(model, MEMORY_VOCAB, tmp_path / "m", format), format)
    stepper = Stepper(model)
    state = stepper.initial_state(2)
    h = c = torch.zeros(layers, 2, model.config.hidden_size)
    with torch.no_grad():
        for char in context_ids(MEMORY_VOCAB, TEXT).tolist():
            ids = torch.tensor([char, char])
            expected = stepper.step(ids, state)
            logits, h, c = step(ids, h, c)
            assert torch.allclose(logits, expected, atol=1e-5)


def test_the_torchscript_file_holds_the_vocabulary(tmp_path):
    model = tiny_model(len(MEMORY_VOCAB), num_layers=2)
    step = torch.jit.load(str(export_step(model, MEMORY_VOCAB, tmp_path / "m.ts")))
    assert list(step.vocab) == list(MEMORY_VOCAB.chars) and list(step.shape) == [2, model.config.hidden_size]


@pytest.mark.parametrize("format, opening", [("torchscript", "    import torch\n"),
                                             ("onnx", "    import json, numpy as np, onnxruntime\n")])
def test_the_documented_example_samples_without_charlstm(format, opening, tmp_path):
    """Each example in charlstm.export's docstring, run in a process that never imports charlstm."""
    if format == "onnx":
        pytest.importorskip("onnx")
        pytest.importorskip("onnxruntime")
    out = tmp_path / ("model.ts" if format == "torchscript" else "model.onnx")
    result = CliRunner().invoke(app, ["export", "pretrained:memory-lstm", "--format", format, "--out", str(out)])
    assert result.exit_code == 0, result.output
    import charlstm.export

    example = opening + charlstm.export.__doc__.split(opening, 1)[1].split("\n\n", 1)[0]
    code = "\n".join(line[4:] for line in example.splitlines())
    code += "\nimport sys\nassert 'charlstm' not in sys.modules\n"
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(run.stdout.strip()) > 0


def test_cells_without_an_export_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="a peephole cell has no export yet"):
        export_step(tiny_model(len(MEMORY_VOCAB), cell="peephole"), MEMORY_VOCAB, tmp_path / "m.ts")
    with pytest.raises(ConfigError, match="--attention-memory has no export yet"):
        export_step(tiny_model(len(MEMORY_VOCAB), attention_memory=8), MEMORY_VOCAB, tmp_path / "m.ts")
    result = CliRunner().invoke(app, ["export", "pretrained:memory-lstm", "--format", "tflite", "--out",
                                      str(tmp_path / "m.tflite")])
    assert result.exit_code == 1 and "--format must be torchscript or onnx" in result.stderr
    assert not (tmp_path / "m.tflite").exists()


def test_onnx_without_its_extra_is_one_error_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)   # as if charlstm[export] were not installed
    result = CliRunner().invoke(app, ["export", "pretrained:memory-lstm", "--format", "onnx", "--out",
                                      str(tmp_path / "m.onnx")])
    assert result.exit_code == 1 and "pip install 'charlstm[export]'" in result.stderr
    assert not (tmp_path / "m.onnx").exists()
