"""Shared fixtures: tiny corpora and tiny models so every test runs in seconds on a CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from charlstm.config import ModelConfig
from charlstm.corpus import corpus_from_text
from charlstm.model import CharRNN

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"
TINY_MODEL = {"num_layers": 1, "hidden_size": 32, "embedding_dim": 8, "dropout": 0.0}
TINY_TRAIN = {"batch_size": 4, "seq_len": 16, "eval_every": 10, "sample_length": 20, "device": "cpu", "seed": 3}

TEXT = ("The quick brown fox jumps over the lazy dog. " * 8 + "\n"
        "Pack my box with five dozen liquor jugs!\n" * 6 + "Sphinx of black quartz, judge my vow.\n" * 6)


@pytest.fixture(autouse=True)
def _deterministic_threads():
    # Bit-for-bit comparisons (resume, sampling) need a fixed thread count within a test.
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def text() -> str:
    return TEXT


@pytest.fixture
def corpus():
    return corpus_from_text(TEXT, name="tiny", val_fraction=0.1)


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def tiny_model(vocab_size: int, **overrides) -> CharRNN:
    torch.manual_seed(0)
    return CharRNN(ModelConfig(vocab_size=vocab_size, **{**TINY_MODEL, **overrides})).eval()


@pytest.fixture
def shakespeare() -> Path:
    if not SHAKESPEARE.exists():
        pytest.skip("../shared/data/tinyshakespeare.txt is not present")
    return SHAKESPEARE
