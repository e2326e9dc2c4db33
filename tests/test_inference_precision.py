"""--precision for sample, probe and eval: the weights cast (bf16 everywhere, fp16 on CUDA), every cell
stepping in that dtype, the warning where bf16 is emulated, and what bf16 changes in the shipped model's
answers (nothing) and texts (documented in charlstm/docs/sampling.md)."""

import copy
import subprocess
import sys

import pytest
import torch

from charlstm import runtime
from charlstm.checkpoint import load_model
from charlstm.config import CELLS
from charlstm.errors import ConfigError
from charlstm.evaluate import evaluate_text
from charlstm.runtime import cast_for_inference
from charlstm.sample import SamplingOptions, sample_text, sample_texts
from charlstm.stepper import Stepper
from charlstm.vocab import Vocab
from tests.conftest import stepped_logits, tiny_model

VOCAB = Vocab("\n abcdefgh")


def bf16_copy(model):
    half = copy.deepcopy(model)
    cast_for_inference(half, "bf16")
    return half


@pytest.mark.parametrize("cell,attention", [(cell, 0) for cell in CELLS] + [("lstm", 6), ("gru", 6)])
def test_every_cell_steps_in_bf16_close_to_fp32(cell, attention):
    extra = {"clockwork_modules": 2} if cell == "clockwork" else {}
    model = tiny_model(len(VOCAB), cell=cell, num_layers=2, attention_memory=attention, **extra)
    half = bf16_copy(model)
    assert all(p.dtype == torch.bfloat16 for p in half.parameters())
    ids = torch.randint(0, len(VOCAB), (3, 20), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected, _ = model(ids)
        stepper = Stepper(half)
        state = stepper.initial_state(3)
        stepped = stepped_logits(stepper, ids, state)
    assert stepped.dtype == torch.bfloat16 and all(t.dtype == torch.bfloat16 for t in state.h)
    # bf16 keeps 8 bits of mantissa: the logits agree to a few hundredths, not to fp32's 1e-5.
    assert (stepped.float() - expected).abs().max() < 0.05 * max(1.0, expected.abs().max())
    # Same seed, same text; a stream in a batch gives its text alone (as in fp32).
    batch = sample_texts(half, VOCAB, 40, prompt="ab", seeds=[5, 6])
    assert batch == [sample_text(half, VOCAB, 40, prompt="ab", seed=s) for s in (5, 6)]


def test_fp32_sampling_is_unchanged_by_the_option(tmp_path):
    model = tiny_model(len(VOCAB))
    before = sample_text(model, VOCAB, 50, prompt="ab", seed=4)
    assert cast_for_inference(model, "fp32") is None
    assert sample_text(model, VOCAB, 50, prompt="ab", seed=4) == before


def test_precisions_that_cannot_run_are_refused():
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU"):
        cast_for_inference(tiny_model(len(VOCAB)), "fp16")
    with pytest.raises(ConfigError, match="must be one of fp32, bf16, fp16"):
        cast_for_inference(tiny_model(len(VOCAB)), "int8")


def test_emulated_bf16_is_named_and_native_bf16_is_not(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx2", "avx512f"})
    assert "emulated" in cast_for_inference(tiny_model(len(VOCAB)), "bf16")
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    assert cast_for_inference(tiny_model(len(VOCAB)), "bf16") is None


def test_the_stepper_keeps_each_dtype_in_its_fast_layout():
    """fp32 products ran 1.5x faster on column-major matrices here, bf16 ones 16x slower
    (benchmarks/sampling.py): the stepper's recurrent matrices and head follow the dtype."""
    model = tiny_model(len(VOCAB), num_layers=2)
    full, half = Stepper(model), Stepper(bf16_copy(model))
    for stepper, column_major in ((full, True), (half, False)):
        matrices = [stepper.layers[0][1], *stepper.layers[1][:2], stepper.head.t()]
        assert all(m.t().is_contiguous() == column_major and m.is_contiguous() != column_major for m in matrices)


def test_the_shipped_model_answers_the_same_in_bf16():
    """bf16 changes the texts a seed gives (docs/sampling.md), not what the model knows: the shipped memory
    model's greedy answer after each country's cue is the same language, and its loss on fresh stories moves
    by under 1%."""
    from charlstm.corpora.memory import COUNTRIES, generate_corpus

    model, vocab, _, _ = load_model("pretrained:memory-lstm")
    half = bf16_copy(model)
    options = SamplingOptions(greedy=True)
    for country, language in COUNTRIES:
        prompt = f"I grew up in {country}. I speak fluent "
        answers = [sample_text(m, vocab, len(language) + 1, prompt, options) for m in (model, half)]
        assert answers[0] == answers[1] == language + ".", (country, answers)
    text = generate_corpus(size=20_000, seed=12345)   # stories the shipped model never read
    full, reduced = (evaluate_text(m, vocab, text).nats_per_char for m in (model, half))
    assert abs(reduced - full) < 0.01 * full


def test_cli_samples_in_bf16_and_refuses_fp16_with_one_line():
    run = lambda *args: subprocess.run([sys.executable, "-m", "charlstm", *args], capture_output=True,  # noqa: E731
                                       text=True, timeout=120)
    sampled = run("sample", "pretrained:memory-lstm", "--precision", "bf16", "--greedy", "--length", "8",
                  "--prompt", "I grew up in Spain. I speak fluent ", "--device", "cpu")
    assert sampled.returncode == 0, sampled.stderr
    assert sampled.stdout.rstrip("\n").endswith("I speak fluent Spanish.")
    native = bool(runtime.cpu_flags() & runtime.NATIVE_BF16_FLAGS)
    assert ("emulated" in sampled.stderr) != native
    refused = run("eval", "pretrained:memory-lstm", __file__, "--precision", "fp16", "--device", "cpu")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == ["charlstm: error: --precision fp16 needs a CUDA GPU (this model is "
                                                   "on cpu); use bf16 or fp32"]
