"""The GPU code paths (issue 12), marked ``gpu``: they run where CUDA is available and skip cleanly elsewhere.

Run them with ``python -m pytest -m gpu tests/test_gpu.py`` (``benchmarks/gpu_check.sh`` does, on a CUDA
machine). Each test takes seconds on a GPU: tiny models, a few dozen steps.

Two settings matter when a GPU result is compared with another computation of the same function:

* TF32. PyTorch lets cuDNN's RNNs (not cuBLAS matmuls) use TF32 tensor cores for fp32 by default, about
  1e-3 relative error for these sizes: where a test holds a GPU forward to 1e-4 of another computation it
  turns TF32 off (``exact_fp32``), which is what the comparison is about. Training tests keep the default.
* Determinism. cuDNN may choose among kernels per call; ``exact resume`` sets cuDNN's deterministic flag
  and still allows 1e-5 (see that test).

``CHARLSTM_GPU_TESTS_DEVICE=cpu`` runs the same tests on the CPU (fp16 skips: it needs CUDA), a dry run of
the tests' own logic on a machine without a GPU; by default the device is ``cuda``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import threading
import warnings

import pytest
import torch

from charlstm import runtime
from charlstm.checkpoint import load_model
from charlstm.corpus import corpus_from_text
from charlstm.sample import MAX_ROWS, SamplingOptions, sample_texts
from charlstm.start import fresh_start, resumed_start
from charlstm.stepper import Stepper
from charlstm.train import Started, Stepped, Trainer, train
from charlstm.vocab import Vocab
from tests.conftest import TEXT, TINY_MODEL, TINY_TRAIN, stepped_logits, tiny_model, straight_and_resumed

DEVICE = os.environ.get("CHARLSTM_GPU_TESTS_DEVICE", "cuda")
ON_CUDA = DEVICE == "cuda"
HAS_CUDA = torch.cuda.is_available()

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(ON_CUDA and not HAS_CUDA, reason="needs a CUDA GPU")]
needs_cuda = pytest.mark.skipif(not (ON_CUDA and HAS_CUDA), reason="fp16 trains only on CUDA")

VOCAB = Vocab.from_text(TEXT)
PRECISIONS = ["fp32", "bf16", pytest.param("fp16", marks=needs_cuda)]


@contextlib.contextmanager
def exact_fp32():
    """No TF32 in cuDNN or cuBLAS (the legacy flags, so as not to mix the two APIs PyTorch warns about)."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def skip_without_bf16(precision: str) -> None:
    if precision == "bf16" and ON_CUDA and not torch.cuda.is_bf16_supported():
        pytest.skip(f"{torch.cuda.get_device_name()} cannot run bf16")
    if precision == "bf16" and not ON_CUDA and not runtime.cpu_runs_bf16("lstm"):
        pytest.skip("this CPU cannot run an LSTM in bf16 (no AVX-512)")


def cpu_tensors(payload: dict) -> list[torch.Tensor]:
    """Every tensor a checkpoint holds for the model, the carried state and the optimizer."""
    optimizer = [v for state in payload["optimizer"]["state"].values() for v in state.values()
                 if isinstance(v, torch.Tensor)]
    return [*payload["model"].values(), *payload["state"], *optimizer]


@pytest.fixture(scope="module")
def gpu_run(tmp_path_factory):
    """A tiny model trained on the GPU, its run directory and a held-out text file beside it."""
    root = tmp_path_factory.mktemp("gpu_run")
    corpus = corpus_from_text(TEXT, name="tiny", val_fraction=0.1)
    train(corpus, root / "run", model_config={**TINY_MODEL, "num_layers": 2},
          train_config={**TINY_TRAIN, "device": DEVICE, "max_steps": 12, "eval_every": 6})
    (root / "held_out.txt").write_text(TEXT * 3, encoding="utf-8")
    return root


def cli(*args: str):
    """``charlstm ARGS`` in this process (Typer's runner); skipped where Typer is not installed."""
    pytest.importorskip("typer")
    from typer.testing import CliRunner

    from charlstm.cli import app

    return CliRunner().invoke(app, list(args))


# ------------------------------------------------------------------ (a) training at each precision

@pytest.mark.parametrize("precision", PRECISIONS)
def test_training_on_the_gpu_lowers_the_loss_and_saves_fp32_weights_on_the_cpu(precision, tmp_path, corpus):
    skip_without_bf16(precision)
    events = []
    config = {**TINY_TRAIN, "device": DEVICE, "max_steps": 80, "lr": 1e-2, "eval_every": 40, "precision": precision}
    result = train(corpus, tmp_path, model_config={**TINY_MODEL, "hidden_size": 64}, train_config=config, on_event=events.append)
    started = next(e for e in events if isinstance(e, Started))
    assert started.device.startswith(DEVICE) and started.train_config.precision == precision
    losses = [e.loss for e in events if isinstance(e, Stepped)]
    assert len(losses) == 80 and all(math.isfinite(loss) for loss in losses), losses
    assert sum(losses[-10:]) / 10 < 0.8 * sum(losses[:10]) / 10, losses
    assert result.last_val_loss is not None and result.last_val_loss < losses[0]
    payload = torch.load(tmp_path / "last.pt", weights_only=True)   # no map_location: as saved
    tensors = cpu_tensors(payload)
    assert all(t.device.type == "cpu" for t in tensors)
    assert all(v.dtype == torch.float32 for v in [*payload["model"].values(), *payload["state"]])
    assert all(v.dtype == torch.float32 for s in payload["optimizer"]["state"].values()
               for k, v in s.items() if k != "step")
    if precision == "fp16":
        scaler = payload["scaler"]
        assert scaler is not None and math.isfinite(scaler["scale"]) and scaler["scale"] > 0
        assert scaler["_growth_tracker"] >= 0
    else:
        assert payload["scaler"] is None


@needs_cuda
def test_fp16_resume_restores_the_gradient_scaler(tmp_path, corpus):
    stop = threading.Event()
    config = {**TINY_TRAIN, "device": DEVICE, "max_steps": 20, "eval_every": 10, "precision": "fp16"}
    first = train(corpus, tmp_path, model_config=TINY_MODEL, train_config=config, stop_event=stop,
                  on_event=lambda e: stop.set() if isinstance(e, Stepped) and e.step == 7 else None)
    assert first.reason == "interrupted" and first.step == 7
    saved = torch.load(tmp_path / "last.pt", weights_only=True)["scaler"]
    # A fresh scaler's growth tracker is 0; after 7 steps without an overflow it is 7, with one it restarted.
    trainer = Trainer(corpus, tmp_path, resumed_start(corpus, tmp_path, {}, {}))
    assert trainer.scaler.is_enabled() and trainer.scaler.state_dict() == saved
    result = train(corpus, tmp_path, resume=True)
    assert result.step == 20 and result.last_val_loss is not None and math.isfinite(result.last_val_loss)


def test_training_windows_are_pinned_on_cuda(tmp_path, corpus):
    trainer = Trainer(corpus, tmp_path, fresh_start(corpus, TINY_MODEL, {**TINY_TRAIN, "device": DEVICE}))
    window = trainer.batcher.window(0)
    assert window.inputs.is_pinned() == ON_CUDA and window.targets.is_pinned() == ON_CUDA
    assert all(p.device.type == DEVICE for p in trainer.model.parameters())
    if ON_CUDA:   # fused AdamW on CUDA (one kernel per parameter group)
        assert all(group["fused"] for group in trainer.optimizer.param_groups)


# ----------------------------------------------------------------- (b) checkpoints across devices

def test_a_checkpoint_written_on_the_gpu_loads_and_samples_on_the_cpu(gpu_run):
    path = gpu_run / "run" / "last.pt"
    model, vocab, payload, _ = load_model(path, "cpu")
    assert payload["train_config"]["device"] == DEVICE
    assert all(p.device.type == "cpu" for p in model.parameters())
    texts = sample_texts(model, vocab, 40, prompt="The ", seeds=(1, 2))
    assert [len(t) for t in texts] == [40, 40]
    # The same weights compute the same function on either device.
    on_gpu, *_ = load_model(path, DEVICE)
    ids = vocab.encode(TEXT[:200])[None]
    with torch.no_grad(), exact_fp32():
        expected, _ = model(ids)
        logits, _ = on_gpu(ids.to(DEVICE))
    torch.testing.assert_close(logits.cpu(), expected, atol=1e-4, rtol=1e-4)
    result = cli("sample", str(path), "--device", "cpu", "--length", "30", "--seed", "3", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout.splitlines()[0])["text"]) == 30


def test_a_checkpoint_written_on_the_cpu_loads_samples_and_resumes_on_the_gpu(tmp_path, corpus):
    config = {**TINY_TRAIN, "max_steps": 6, "eval_every": 3}   # device cpu
    train(corpus, tmp_path, model_config=TINY_MODEL, train_config=config)
    model, vocab, payload, _ = load_model(tmp_path / "last.pt", DEVICE)
    assert payload["train_config"]["device"] == "cpu"
    assert all(p.device.type == DEVICE for p in model.parameters())
    texts = sample_texts(model, vocab, 40, prompt="The ", seeds=(1, 2, 3))
    assert [len(t) for t in texts] == [40, 40, 40]
    result = cli("sample", str(tmp_path / "last.pt"), "--device", DEVICE, "--length", "30", "--seed", "3",
                 "--num-samples", "2", "--json")
    assert result.exit_code == 0, result.output
    assert [len(json.loads(line)["text"]) for line in result.stdout.splitlines()] == [30, 30]
    # Training goes on on the GPU from the CPU's optimizer state (fused AdamW there, the loop here).
    events = []
    resumed = train(corpus, tmp_path, resume=True, train_config={"device": DEVICE, "max_steps": 10}, on_event=events.append)
    assert next(e for e in events if isinstance(e, Started)).device.startswith(DEVICE)
    assert resumed.step == 10 and math.isfinite(resumed.last_val_loss)
    assert all(t.device.type == "cpu" for t in cpu_tensors(torch.load(tmp_path / "last.pt", weights_only=True)))


# ----------------------------------------------------------------------------- (c) exact resume

@pytest.mark.parametrize("model", [
    pytest.param({**TINY_MODEL, "dropout": 0.3}, id="1-layer-output-dropout"),
    pytest.param({**TINY_MODEL, "num_layers": 2}, id="2-layers-no-dropout"),
    pytest.param({**TINY_MODEL, "num_layers": 2, "dropout": 0.2}, id="2-layers-dropout-between"),
])
def test_resume_on_the_gpu_continues_exactly(model, tmp_path, corpus, monkeypatch):
    """Interrupted at step 13 and resumed, a run ends where the uninterrupted one does.

    cuDNN's deterministic flag is set, so the two runs should agree bit for bit; 1e-5 is allowed because
    some CUDA kernels (atomic adds in backward passes) may still sum in a different order from run to run,
    which is no fault of resuming. A run that resumed wrongly (state, data position, optimizer, random
    stream) is off by 1e-2 or more within a step. Agreement within the tolerance but not bit for bit is
    reported as a warning.

    The third case is the default shape (layers with dropout between them). On CUDA the fused core draws
    that dropout from cuDNN's own dropout state, which PyTorch re-seeds from the CUDA generator after
    ``set_rng_state``: a resumed run then draws different masks from the uninterrupted one, unless the
    model draws its inter-layer masks itself (as it does on the CPU, ``CharRNN._forward_by_layer``).
    """
    if ON_CUDA:
        monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    config = {**TINY_TRAIN, "device": DEVICE, "max_steps": 24, "eval_every": 8, "seq_len": 8}
    straight, resumed = straight_and_resumed(corpus, tmp_path, model, config)

    def losses(events):
        return [(e.step, e.loss) for e in events if isinstance(e, Stepped)]

    expected, got = losses(straight), losses(resumed)
    assert [s for s, _ in got] == [s for s, _ in expected] == list(range(1, 25))
    a, b = (torch.load(tmp_path / run / "last.pt", weights_only=True) for run in "ab")
    worst_loss = max(abs(x - y) / abs(x) for (_, x), (_, y) in zip(expected, got))
    worst_weight = max(float((a["model"][k] - b["model"][k]).abs().max()) for k in a["model"])
    assert worst_loss <= 1e-5 and worst_weight <= 1e-5, (
        f"the resumed run drifted from the uninterrupted one: losses by up to {worst_loss:.2e} (relative), "
        f"weights by up to {worst_weight:.2e}; per step (straight, resumed): "
        + ", ".join(f"{s}: {x:.5f}/{y:.5f}" for (s, x), (_, y) in zip(expected, got) if s > 12))
    assert all(torch.allclose(x, y, atol=1e-5) for x, y in zip(a["state"], b["state"]))
    if worst_loss or worst_weight:
        warnings.warn(f"resume on {DEVICE}: within {max(worst_loss, worst_weight):.1e}, not bit for bit")


# --------------------------------------------------------------------------- (d) the Stepper

@pytest.mark.parametrize("cell, tie", [("lstm", False), ("lstm", True), ("gru", False), ("peephole", False)])
def test_the_stepper_matches_the_forward_pass_on_the_gpu(cell, tie):
    torch.manual_seed(0)
    model = tiny_model(len(VOCAB), cell=cell, num_layers=3 if cell != "peephole" else 2, tie_weights=tie).to(DEVICE)
    ids = torch.randint(0, len(VOCAB), (4, 25), generator=torch.Generator().manual_seed(1)).to(DEVICE)
    with torch.no_grad(), exact_fp32():
        expected, final = model(ids)
        stepper = Stepper(model)
        # Off the CPU the fused LSTM and GRU cell kernels refuse the per-row layer-0 bias: written out there.
        assert getattr(stepper, "written_out", False) == (cell in ("lstm", "gru") and DEVICE != "cpu")
        state = stepper.initial_state(4)
        stepped = stepped_logits(stepper, ids, state)
        _, prompt_state = model(ids[:, :10])   # a prompt read by the fused core, continued by the stepper
        continued = stepper.step(ids[:, 10], stepper.from_state(prompt_state))
        gates: list[dict] = []
        with_gates = stepper.step(ids[:, 10], stepper.from_state(prompt_state), gates)
    assert stepped.device.type == DEVICE
    torch.testing.assert_close(stepped, expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(continued, expected[:, 10], atol=1e-4, rtol=0)
    torch.testing.assert_close(with_gates, expected[:, 10], atol=1e-4, rtol=0)
    assert len(gates) == model.config.num_layers and all(gates)
    mine = stepper.to_state(state)
    for a, b in zip(mine if isinstance(mine, tuple) else (mine,), final if isinstance(final, tuple) else (final,)):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


# ------------------------------------------------------------------------------- (e) sampling

def test_sampling_on_the_gpu_gives_every_stream_its_length_and_repeats_with_the_seed():
    model = tiny_model(len(VOCAB), num_layers=2).to(DEVICE)
    one = sample_texts(model, VOCAB, 50, prompt="The ", seeds=(7,))
    assert len(one) == 1 and len(one[0]) == 50
    many = sample_texts(model, VOCAB, 50, prompt="The ", seeds=range(64))
    assert len(many) == 64 and all(len(text) == 50 for text in many) and len(set(many)) > 1
    assert sample_texts(model, VOCAB, 50, prompt="The ", seeds=range(64)) == many   # same seeds, same texts
    assert sample_texts(model, VOCAB, 50, prompt="The ", seeds=(7,)) == one
    beyond = sample_texts(model, VOCAB, 20, seeds=range(MAX_ROWS + 3))   # two batches
    assert len(beyond) == MAX_ROWS + 3 and all(len(text) == 20 for text in beyond)
    for options in (SamplingOptions(top_k=3), SamplingOptions(top_p=0.9), SamplingOptions(greedy=True)):
        texts = sample_texts(model, VOCAB, 30, prompt="Pack ", options=options, seeds=range(4))
        assert [len(t) for t in texts] == [30] * 4
        assert sample_texts(model, VOCAB, 30, prompt="Pack ", options=options, seeds=range(4)) == texts


# ------------------------------------------------------------------------------- (f) saliency

@pytest.mark.parametrize("cell", ["lstm", "gru", "peephole"])
def test_saliency_on_the_gpu_equals_saliency_on_the_cpu(cell):
    from charlstm.probes.saliency import saliency

    model = tiny_model(len(VOCAB), cell=cell, num_layers=2)
    on_gpu = copy.deepcopy(model).to(DEVICE)
    prefix, text, answer = "Pack my box. ", "The quick brown fox jumps over the lazy ", "dog."
    expected = saliency(model, VOCAB, text, answer, prefix=prefix)
    with exact_fp32():
        got = saliency(on_gpu, VOCAB, text, answer, prefix=prefix)
    assert got.text == expected.text and len(got.gradient_norm) == len(text)
    assert got.logprob == pytest.approx(expected.logprob, rel=1e-5)
    floor = 1e-7 * max(expected.gradient_norm)   # positions whose gradient has all but vanished
    assert got.gradient_norm == pytest.approx(expected.gradient_norm, rel=1e-4, abs=floor)
    embedded = model.embedding(VOCAB.encode(text)).detach()
    scale = max(n * float(e.norm()) for n, e in zip(expected.gradient_norm, embedded))
    assert got.gradient_x_input == pytest.approx(expected.gradient_x_input, rel=1e-4, abs=1e-4 * scale)


# ------------------------------------------------------------------ (g) gate statistics and the report

@pytest.mark.parametrize("cell", ["lstm", "peephole"])
def test_gate_statistics_on_the_gpu_agree_with_the_cpu(cell):
    from charlstm.probes.gates import run_gate_statistics
    from charlstm.probes.trace import passage_trace

    model = tiny_model(len(VOCAB), cell=cell, num_layers=2)
    on_gpu = copy.deepcopy(model).to(DEVICE)
    text = TEXT[:600]
    with exact_fp32():
        got, expected = (passage_trace(m, VOCAB, text, rows=8, warmup=50) for m in (on_gpu, model))
        report = run_gate_statistics(on_gpu, VOCAB, text)
    torch.testing.assert_close(got.hidden, expected.hidden, atol=1e-4, rtol=0)
    assert set(got.gates) == set(expected.gates)
    for name in expected.gates:
        torch.testing.assert_close(got.gates[name], expected.gates[name], atol=1e-4, rtol=0, equal_nan=True)
    reference = run_gate_statistics(model, VOCAB, text)
    assert [(s.layer, s.gate) for s in report.stats] == [(s.layer, s.gate) for s in reference.stats]
    assert report.positions == reference.positions > 0
    # Fractions of steps past a threshold: a value within 1e-4 of it may fall either side on either device.
    for mine, theirs in zip(report.stats, reference.stats):
        assert mine.shut == pytest.approx(theirs.shut, abs=0.02) and mine.open == pytest.approx(theirs.open, abs=0.02)


def test_the_report_gathers_on_the_gpu(gpu_run, tmp_path):
    from charlstm.report.build import ReportOptions, gather
    from charlstm.report.page import write_report

    model, vocab, payload, path = load_model(gpu_run / "run" / "last.pt", DEVICE)
    stages = []
    options = ReportOptions(text=gpu_run / "held_out.txt", chars=600, draws=1, positions=50, sample_length=80)
    data = gather(model, vocab, payload, path, options, stage=stages.append)
    assert "gate statistics" in stages and "saliency" in stages
    assert len(data.sample) == 80 and data.gates.stats and data.saliency is not None
    assert len(data.saliency.gradient_norm) == len(data.saliency.text)
    page = write_report(data, tmp_path / "report.html")
    assert page.exists() and page.stat().st_size > 1000


def test_probe_prompt_runs_on_the_gpu(gpu_run):
    """``probe --prompt`` scores candidates and continues the prompt greedily on the device (it once
    crashed there: the fused cell kernels refused the Stepper's per-row bias)."""
    result = cli("probe", str(gpu_run / "run"), "--prompt", "The quick brown ", "--candidates", "fox,dog",
                 "--device", DEVICE, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)
