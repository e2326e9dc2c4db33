"""--precision: bf16 autocast training (fp16, CUDA only, in tests/test_gpu.py) (weights, optimizer state and checkpoints fp32), its validation,
its warning on hardware that only emulates bf16, and resume keeping it."""

import json
import threading

import pytest
import torch

from charlstm import runtime
from charlstm.config import TrainConfig
from charlstm.errors import ConfigError
from charlstm.start import fresh_start
from charlstm.train import Started, Stepped, Trainer, train
from tests.conftest import TINY_MODEL, TINY_TRAIN

# oneDNN builds bf16 LSTM kernels only on CPUs with AVX-512; elsewhere bf16 training is refused (tested below).
needs_bf16 = pytest.mark.skipif(not runtime.cpu_runs_bf16("lstm"),
                                reason="this CPU cannot run an LSTM in bf16 (no AVX-512)")


@needs_bf16
def test_bf16_training_lowers_the_loss_and_keeps_everything_saved_in_fp32(tmp_path, corpus):
    events = []
    model = {**TINY_MODEL, "hidden_size": 64}
    result = train(corpus, tmp_path, model_config=model, train_config={**TINY_TRAIN, "max_steps": 80, "lr": 1e-2,
                                                          "eval_every": 40, "precision": "bf16"},
                   on_event=events.append)
    losses = [e.loss for e in events if isinstance(e, Stepped)]
    assert sum(losses[-10:]) / 10 < 0.8 * sum(losses[:10]) / 10
    assert result.last_val_loss is not None and result.last_val_loss < losses[0]
    started = next(e for e in events if isinstance(e, Started))
    assert started.train_config.precision == "bf16"
    payload = torch.load(tmp_path / "last.pt", weights_only=True)
    assert all(v.dtype == torch.float32 for v in payload["model"].values())
    assert all(t.dtype == torch.float32 for t in payload["state"])
    assert all(v.dtype == torch.float32 for s in payload["optimizer"]["state"].values()
               for k, v in s.items() if k != "step")
    assert json.loads((tmp_path / "config.json").read_text())["train"]["precision"] == "bf16"


@needs_bf16
def test_bf16_autocasts_the_forward_pass(corpus, tmp_path):
    model = {**TINY_MODEL, "num_layers": 2, "dropout": 0.1}  # the layer-by-layer training path
    trainer = Trainer(corpus, tmp_path, fresh_start(corpus, model, {**TINY_TRAIN, "precision": "bf16"}))
    window = trainer.batcher.window(0)
    with runtime.autocast("bf16", trainer.device):
        logits, state = trainer.model(window.inputs, trainer.state)
    assert logits.dtype == torch.bfloat16 and trainer.model.training
    trainer.step(window, lr=1e-3)
    assert trainer.state[0].dtype == torch.float32  # the carried state is kept in fp32


def test_precision_is_validated(tmp_path, corpus):
    assert TrainConfig().precision == "fp32"
    for bad in ("float16", "BF16", ""):
        with pytest.raises(ConfigError, match="--precision must be one of fp32, bf16, fp16"):
            TrainConfig(precision=bad)
    with pytest.raises(ConfigError, match="--precision must be a string, not None"):
        TrainConfig(precision=None)
    with pytest.raises(ConfigError, match="--precision"):
        train(corpus, tmp_path, model_config=TINY_MODEL, train_config={**TINY_TRAIN, "precision": "half"})
    # fp16 needs a gradient scaler and fast fp16 arithmetic: CUDA only (tests/test_gpu.py trains with it).
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU"):
        train(corpus, tmp_path / "fp16", model_config=TINY_MODEL, train_config={**TINY_TRAIN, "precision": "fp16"})
    assert not (tmp_path / "fp16").exists()    # refused before the run directory was made


@needs_bf16
def test_resume_keeps_the_runs_precision(tmp_path, corpus):
    config = {**TINY_TRAIN, "max_steps": 8, "eval_every": 4, "precision": "bf16"}
    stop = threading.Event()
    first = train(corpus, tmp_path, model_config=TINY_MODEL, train_config=config, stop_event=stop,
                  on_event=lambda e: stop.set() if isinstance(e, Stepped) and e.step == 3 else None)
    assert first.reason == "interrupted"
    events = []
    result = train(corpus, tmp_path, resume=True, on_event=events.append)
    started = next(e for e in events if isinstance(e, Started))
    assert started.train_config.precision == "bf16" and result.step == 8
    events = []
    train(corpus, tmp_path, resume=True, train_config={"max_steps": 10, "precision": "fp32"}, on_event=events.append)
    assert next(e for e in events if isinstance(e, Started)).train_config.precision == "fp32"  # a flag still wins


@needs_bf16
def test_emulated_bf16_is_reported_once_at_the_start(tmp_path, corpus, monkeypatch):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx512f", "avx512_vnni"})
    events = []
    train(corpus, tmp_path / "a", model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 2, "precision": "bf16"},
          on_event=events.append)
    (started,) = [e for e in events if isinstance(e, Started)]
    assert len(started.warnings) == 1 and "emulated" in started.warnings[0] and "bf16" in started.warnings[0]
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    events = []
    train(corpus, tmp_path / "b", model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 2, "precision": "bf16"},
          on_event=events.append)
    assert next(e for e in events if isinstance(e, Started)).warnings == ()
    events = []
    train(corpus, tmp_path / "c", model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 2}, on_event=events.append)
    assert next(e for e in events if isinstance(e, Started)).warnings == ()  # fp32: nothing to say
    monkeypatch.setattr(runtime, "cpu_flags", lambda: set())  # no /proc/cpuinfo
    assert "cannot tell" in runtime.bf16_warning(torch.device("cpu"))


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_tile\n\nprocessor\t: 1\n")
    assert runtime.cpu_flags(x86) >= {"avx512_bf16", "avx512f"}
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n")
    assert "bf16" in runtime.cpu_flags(arm)
    assert runtime.cpu_flags(tmp_path / "missing") == set()


@needs_bf16
def test_cli_warns_about_emulated_bf16(tmp_path, text_file, monkeypatch):
    from typer.testing import CliRunner

    from charlstm.cli import app

    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx512f"})
    result = CliRunner().invoke(app, ["train", str(text_file), "--out", str(tmp_path / "run"), "--num-layers", "1",
                                      "--hidden-size", "16", "--embedding-dim", "8", "--max-steps", "2",
                                      "--precision", "bf16", "--device", "cpu", "--quiet"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "warning: this CPU has no native bf16" in output and "emulated" in output


def test_bf16_is_refused_with_one_line_where_the_cpu_cannot_run_it(tmp_path, corpus, text_file, monkeypatch):
    """On an AVX2-only CPU oneDNN's LSTM has no bf16 kernel: a clear refusal before the run, not a traceback."""
    from typer.testing import CliRunner

    from charlstm.cli import app

    monkeypatch.setattr(runtime, "cpu_runs_bf16", lambda cell: False)
    with pytest.raises(ConfigError, match="--precision bf16: this CPU cannot run a lstm cell in bf16"):
        train(corpus, tmp_path / "a", model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 2, "precision": "bf16"})
    assert not (tmp_path / "a" / "last.pt").exists()
    result = CliRunner().invoke(app, ["train", str(text_file), "--out", str(tmp_path / "b"), "--max-steps", "2",
                                      "--precision", "bf16", "--device", "cpu"])
    assert result.exit_code != 0 and result.stderr.count("charlstm: error:") == 1
    assert "Traceback" not in result.output


@pytest.mark.parametrize("cell", ["peephole", "coupled", "depth-gated", "clockwork", "grid", "mingru", "minlstm", "gru",
                                  "rnn"])
def test_every_cell_runs_under_bf16_autocast_where_it_can(cell):
    """The custom cells compute in bf16 and keep the carried state in its own precision (the coupled cell's
    lerp mixed them)."""
    if not runtime.cpu_runs_bf16(cell):
        pytest.skip(f"this CPU cannot run a {cell} in bf16")
    from charlstm.config import ModelConfig
    from charlstm.model import CharRNN

    model = CharRNN(ModelConfig(vocab_size=6, cell=cell, num_layers=2, hidden_size=8, embedding_dim=4))
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        logits, state = model(torch.randint(0, 6, (2, 5)))
    assert torch.isfinite(logits.float()).all()
