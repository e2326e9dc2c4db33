"""Shared fixtures: tiny corpora and tiny models so every test runs in seconds on a CPU."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import torch

from charlstm.config import ModelConfig
from charlstm.corpora import memory
from charlstm.corpus import corpus_from_text
from charlstm.model import CharRNN
from charlstm.train import Stepped, train
from charlstm.vocab import Vocab

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium)")


def headless_dom(url: str, profile: Path) -> subprocess.CompletedProcess:
    """Load ``url`` in headless Chromium with every network request refused (the host resolver and a proxy
    pointed nowhere); stdout holds the DOM after its scripts ran, stderr the console."""
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--host-resolver-rules=MAP * ~NOTFOUND",
               "--proxy-server=http://127.0.0.1:9", f"--user-data-dir={profile}",
               "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--dump-dom", url]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)
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


def stepped_logits(stepper, ids: torch.Tensor, state) -> torch.Tensor:
    """Logits (B, T, V) of ``stepper`` stepping through ``ids`` (B, T) one character at a time from ``state``
    (which it updates): what a window through the model gives at once."""
    return torch.stack([stepper.step(ids[:, t], state) for t in range(ids.size(1))], dim=1)


def tiny_model(vocab_size: int, **overrides) -> CharRNN:
    torch.manual_seed(0)
    return CharRNN(ModelConfig(vocab_size=vocab_size, **{**TINY_MODEL, **overrides})).eval()


@pytest.fixture
def shakespeare() -> Path:
    if not SHAKESPEARE.exists():
        pytest.skip("../shared/data/tinyshakespeare.txt is not present")
    return SHAKESPEARE


# The vocabulary of the built-in memory corpus, for tiny models the probes read memory contexts with.
MEMORY_VOCAB = Vocab.from_text(memory.generate_corpus(size=200_000))


@pytest.fixture
def memory_run(tmp_path, monkeypatch):
    """A run directory of a tiny model trained 5 steps on the built-in memory corpus (working directory:
    tmp_path)."""
    monkeypatch.chdir(tmp_path)
    from charlstm.corpus import prepare_corpus

    corpus = prepare_corpus(["builtin:memory:size=200k"], data_dir=tmp_path / "data")
    train(corpus, tmp_path / "run", model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 5})
    return tmp_path / "run"


def straight_and_resumed(corpus, tmp_path: Path, model: dict, config: dict, stop_at: int = 13):
    """Train into tmp_path/a in one go, and into tmp_path/b stopped after step ``stop_at`` (as Ctrl-C stops
    it) and resumed: (the straight run's events, the stopped-and-resumed run's events)."""
    straight = []
    train(corpus, tmp_path / "a", model_config=model, train_config=config, on_event=straight.append)
    stop, resumed = threading.Event(), []

    def stop_after(event):
        resumed.append(event)
        if isinstance(event, Stepped) and event.step == stop_at:
            stop.set()

    first = train(corpus, tmp_path / "b", model_config=model, train_config=config, on_event=stop_after, stop_event=stop)
    assert first.reason == "interrupted" and first.step == stop_at
    train(corpus, tmp_path / "b", resume=True, on_event=resumed.append)
    return straight, resumed
