"""Memory watched while training (charlstm.probes.watch): recorded at every evaluation, measured on the
validation grammar, never changing the run, and the choice of best.pt with --best-on memory."""

from __future__ import annotations

import torch
import pytest
from typer.testing import CliRunner

from charlstm.checkpoint import load_model
from charlstm.cli import app
from charlstm.corpora import memory
from charlstm.corpus import corpus_from_text
from charlstm.errors import ConfigError, ProbeError
from charlstm.probes import watch
from charlstm.rundir import read_metrics
from charlstm.train import Evaluated, train
from tests.conftest import TINY_MODEL, TINY_TRAIN, straight_and_resumed

PROBE_FILE = """
[[probe]]
name = "tiny"
query = " "
filler = ["Pack my box.", "judge my vow."]
distances = [0, 20]
draws = 1
prefix = ""

[[probe.cue]]
text = "The quick brown fox"
answer = "jumps"

[[probe.cue]]
text = "Sphinx of black quartz"
answer = "judge"
"""


@pytest.fixture
def memory_corpus():
    text = memory.generate_corpus(size=40_000, pool=30, variety=0.3, noise=0.2)
    return corpus_from_text(text, name="memory", val_fraction=0.1)


def test_a_memory_corpus_run_records_its_watched_memory_at_every_evaluation(tmp_path, memory_corpus):
    events = []
    train(memory_corpus, tmp_path, model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 20, "sample_length": 0},
          on_event=events.append)
    readings = [e.memory for e in events if isinstance(e, Evaluated)]
    records = read_metrics(tmp_path)
    assert [r["memory"] for r in records] == readings and len(readings) == 2
    for reading in readings:
        assert list(reading["cue-swap"]) == [str(d) for d in watch.DISTANCES]
        accuracies = [*reading["cue-swap"].values(), reading["switch"]["before"], reading["switch"]["after"]]
        assert all(0 <= a <= 1 for a in accuracies)
        assert reading["mean"] == pytest.approx(sum(accuracies) / len(accuracies))
        up_to_200 = [reading["cue-swap"][d] / 0.9 for d in ("50", "100", "200")]
        assert reading["score"] == pytest.approx(min(1.0, *up_to_200, reading["switch"]["after"] / 0.8))
    model, vocab, _, _ = load_model(tmp_path / "last.pt", device="cpu")   # the last reading is of these weights
    assert watch.memory_watch().read(model, vocab) == readings[-1]


def test_the_watch_tells_a_model_that_remembers_from_one_that_does_not():
    remembers = watch.memory_watch().read(*load_model("pretrained:memory-lstm", device="cpu")[:2])
    forgets = watch.memory_watch().read(*load_model("pretrained:memory-rnn", device="cpu")[:2])
    assert min(remembers["cue-swap"][d] for d in ("50", "100", "200")) >= 0.9 and remembers["score"] >= 0.95, remembers
    assert max(forgets["cue-swap"].values()) <= 0.15 and forgets["score"] <= 0.2, forgets


def test_watching_a_probe_file_never_changes_the_training_run(tmp_path, corpus):
    probes = tmp_path / "probes.toml"
    probes.write_text(PROBE_FILE, encoding="utf-8")
    config = {**TINY_TRAIN, "max_steps": 20, "sample_length": 0}
    train(corpus, tmp_path / "plain", model_config=TINY_MODEL, train_config=config)
    train(corpus, tmp_path / "watched", model_config=TINY_MODEL, train_config={**config, "watch_probe": str(probes)})
    plain = torch.load(tmp_path / "plain" / "last.pt", weights_only=True)["model"]
    watched = torch.load(tmp_path / "watched" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(plain[k], watched[k]) for k in plain)
    records = read_metrics(tmp_path / "watched")
    assert list(records[-1]["memory"]["tiny"]) == ["0", "20"] and "memory" not in read_metrics(tmp_path / "plain")[-1]


def test_a_watch_probe_the_model_cannot_read_is_refused_before_training(tmp_path, corpus):
    probes = tmp_path / "probes.toml"
    probes.write_text(PROBE_FILE.replace("judge my vow", "Judge my vow"), encoding="utf-8")
    with pytest.raises(ProbeError, match="watch probe 'tiny': characters not in .*'J'"):
        train(corpus, tmp_path / "run", model_config=TINY_MODEL, train_config={**TINY_TRAIN, "watch_probe": str(probes)})
    assert not (tmp_path / "run" / "last.pt").exists()


def scripted_scores(monkeypatch, scores):
    """The watch gives these scores, one per evaluation, whatever the model."""
    given = iter(scores)
    monkeypatch.setattr(watch.MemoryWatch, "read", lambda self, model, vocab: {"score": next(given)})


def test_best_on_memory_keeps_the_checkpoint_with_the_best_reading(tmp_path, memory_corpus, monkeypatch):
    scripted_scores(monkeypatch, [0.2, 0.9, 0.5, 0.4])
    result = train(memory_corpus, tmp_path, model_config=TINY_MODEL,
                   train_config={**TINY_TRAIN, "max_steps": 40, "sample_length": 0, "best_on": "memory"})
    assert [r["best"] for r in read_metrics(tmp_path)] == [True, True, False, False]
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert best["progress"]["step"] == 20 and best["progress"]["best_memory"] == 0.9
    assert result.best_val_loss == read_metrics(tmp_path)[1]["val_loss"]   # best.pt's own loss


def test_the_score_is_the_weakest_margin_and_the_mean_breaks_a_tie(tmp_path, memory_corpus, monkeypatch):
    """A checkpoint that reaches every target beats one with a better average that misses one; between two
    equal scores the better mean wins."""
    given = iter([{"score": 0.7, "mean": 0.95}, {"score": 0.9, "mean": 0.80}, {"score": 0.9, "mean": 0.85},
                  {"score": 0.9, "mean": 0.84}])
    monkeypatch.setattr(watch.MemoryWatch, "read", lambda self, model, vocab: next(given))
    train(memory_corpus, tmp_path, model_config=TINY_MODEL,
          train_config={**TINY_TRAIN, "max_steps": 40, "sample_length": 0, "best_on": "memory"})
    assert [r["best"] for r in read_metrics(tmp_path)] == [True, True, True, False]


def test_an_equal_reading_goes_to_the_lower_loss(tmp_path, memory_corpus, monkeypatch):
    scripted_scores(monkeypatch, [0.5, 0.5, 0.5])
    train(memory_corpus, tmp_path, model_config=TINY_MODEL,
          train_config={**TINY_TRAIN, "max_steps": 30, "sample_length": 0, "best_on": "memory", "lr": 1e-2})
    records = read_metrics(tmp_path)
    losses = [r["val_loss"] for r in records]
    assert [r["best"] for r in records] == [True] + [losses[i] < min(losses[:i]) for i in (1, 2)]


def test_best_on_memory_resumes_exactly(tmp_path, memory_corpus):
    config = {**TINY_TRAIN, "max_steps": 24, "eval_every": 6, "sample_length": 0, "best_on": "memory"}
    straight_and_resumed(memory_corpus, tmp_path, TINY_MODEL, config, stop_at=13)
    a, b = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    assert [(r["step"], r["memory"], r["best"]) for r in a] == [(r["step"], r["memory"], r["best"]) for r in b]


def test_best_on_memory_needs_something_to_watch(tmp_path, corpus):
    with pytest.raises(ConfigError, match="--best-on memory needs a memory to watch"):
        train(corpus, tmp_path, model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 2, "best_on": "memory"})
    with pytest.raises(ConfigError, match="--best-on must be one of loss, memory"):
        train(corpus, tmp_path, model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 2, "best_on": "accuracy"})


def test_train_prints_the_watched_memory_beside_the_loss(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["train", "builtin:memory:size=30k", "--max-steps", "4", "--eval-every", "4",
                                      "--hidden-size", "16", "--num-layers", "1", "--quiet", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "memory " in result.stderr and "at 50/100/200/400, switch" in result.stderr and "score" in result.stderr


def test_a_corpus_of_language_stories_alone_watches_no_subject_switch(tmp_path):
    from charlstm.corpus import prepare_corpus

    corpus = prepare_corpus(["builtin:memory:size=30k,language=1"], data_dir=tmp_path / "data")
    assert watch.watch_for(corpus.name, corpus.inputs, None).switch is False
    assert watch.watch_for("memory", ["builtin:memory:size=30k"], None).switch is True
    assert watch.watch_for("tiny", ["tiny.txt"], None) is None
    train(corpus, tmp_path / "run", model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 10, "sample_length": 0})
    assert set(read_metrics(tmp_path / "run")[-1]["memory"]) == {"cue-swap", "mean", "score"}


def test_a_memory_corpus_that_cannot_spell_the_watch_trains_without_it(tmp_path):
    """Stories with no filler at all have no vocabulary for the validation grammar: the run says the
    watch is off instead of refusing a built-in corpus."""
    from charlstm.corpus import prepare_corpus
    from charlstm.train import Started

    corpus = prepare_corpus(["builtin:memory:size=5k,language=1,adjacent=1"], data_dir=tmp_path / "data")
    events = []
    train(corpus, tmp_path / "run", model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 10, "sample_length": 0},
          on_event=events.append)
    started = next(e for e in events if isinstance(e, Started))
    assert any(note.startswith("memory not watched: watch probe 'cue-swap': characters not in")
               for note in started.notes), started.notes
    assert "memory" not in read_metrics(tmp_path / "run")[-1]
