"""The demo, the shipped models it shows, and the named recipes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from charlstm import recipes
from charlstm.checkpoint import load_model
from charlstm.cli import app
from charlstm.corpora import parse_builtin
from charlstm.demo import EXAMPLE_COUNTRIES, SHIPPED, STORY_PROMPTS, run_demo, stories
from charlstm.errors import ConfigError
from charlstm.probes.cue_swap import language_probe, run_cue_swap, unseen_filler
from charlstm.probes.memory_goal import judge_memory
from charlstm.rundir import read_metrics


def accuracy(model, vocab, distances=(0, 25, 50, 100, 200, 400)) -> dict[int, float]:
    report = run_cue_swap(model, vocab, language_probe(distances=distances, draws=4, filler=unseen_filler))
    return {row.distance: row.accuracy for row in report.rows}


def test_the_shipped_lstm_meets_the_memory_goal_on_unseen_filler():
    """What the demo shows is true: the shipped LSTM is the memory recipe's own-seed run, and on filler it
    never saw it keeps the country for 200 characters (>= 90% at every distance up to 200) and picks the
    newcomer's pronoun after a change of subject (>= 80% at 100 characters)."""
    model, vocab, payload, _ = load_model("pretrained:memory-lstm")
    assert payload["corpus"]["inputs"] == [recipes.MEMORY_CORPUS]          # trained by the recipe
    assert payload["model_config"]["cell"] == "lstm"
    # every setting of the recipe, its own seed among them (not a lucky one)
    assert {key: payload["train_config"][key] for key in recipes.MEMORY_TRAIN} == recipes.MEMORY_TRAIN
    goal = judge_memory(model, vocab)
    assert goal.span >= 200 and goal.switch_after[100] >= 0.8 and goal.passed, goal


def test_the_shipped_rnn_does_not_carry_the_country_across_filler():
    """The baseline the demo shows: trained the same way, the vanilla RNN answers right after the cue (the
    16 characters of "I speak fluent " are all it carries the country across) and is at chance from 25
    characters of filler on."""
    model, vocab, payload, _ = load_model("pretrained:memory-rnn")
    assert payload["corpus"]["inputs"] == [recipes.MEMORY_CORPUS] and payload["model_config"]["cell"] == "rnn"
    assert {key: payload["train_config"][key] for key in recipes.MEMORY_TRAIN} == recipes.MEMORY_TRAIN
    memory = accuracy(model, vocab)
    assert memory[0] >= 0.9 and max(memory[d] for d in (25, 50, 100, 200, 400)) < 0.3, memory


def test_run_demo_trains_an_rnn_and_an_lstm_and_compares_four_models(tmp_path, monkeypatch):
    monkeypatch.setattr(recipes, "DEMO_MODEL", {**recipes.DEMO_MODEL, "hidden_size": 32})
    monkeypatch.setattr(recipes, "DEMO_TRAIN", {**recipes.DEMO_TRAIN, "max_steps": 6, "eval_every": 3})
    stages = []
    result = run_demo(out_dir=tmp_path / "demo", data_dir=tmp_path / "data", device="cpu", on_stage=stages.append)
    assert list(result.trainings) == ["rnn", "lstm"]                      # the LSTM last: the newest run
    assert all(t.reason == "max_steps" and t.step == 6 for t in result.trainings.values())
    assert result.checkpoints["lstm"] == tmp_path / "demo" / "lstm" / "best.pt" and stages
    for cell in ("rnn", "lstm"):                                          # memory watched while training
        assert all("memory" in record for record in read_metrics(tmp_path / "demo" / cell))
    labels = [row.label for row in result.rows]
    assert labels[:2] == [label for label, _ in SHIPPED]
    assert labels[2].startswith("LSTM you just trained (6 steps") and labels[3].startswith("vanilla RNN you just")
    assert result.rows[0].accuracy[100] >= 0.9 and result.rows[1].accuracy[100] < 0.3
    assert [c.country for c in result.completions] == list(EXAMPLE_COUNTRIES)
    assert len(result.filler) >= 100
    for completion in result.completions:
        assert set(completion.picks) == set(labels)
        assert all(0 <= p <= 1 for _, p in completion.picks.values())
    assert [story.prompt for story in result.stories] == list(STORY_PROMPTS)
    assert all(story.text and "\n" not in story.text for story in result.stories)
    data = json.loads(json.dumps(result.to_dict()))   # what `charlstm demo --json` prints
    assert data["training"]["lstm"]["reason"] == "max_steps" and data["training"]["rnn"]["steps"] == 6
    assert data["memory"][0]["accuracy_by_distance"]["100"] == result.rows[0].accuracy[100]
    assert [p["country"] for p in data["example"]["picks"]] == list(EXAMPLE_COUNTRIES)
    assert [s["text"] for s in data["stories"]] == [s.text for s in result.stories]


def test_the_shipped_lstm_tells_stories_of_the_corpus():
    """The demo's stories: after a cue, the shipped LSTM answers with the cue's language in its own line."""
    model, vocab, _, _ = load_model("pretrained:memory-lstm", device="cpu")
    japan, _, sweden = stories(model, vocab)
    assert "I speak fluent Japanese." in japan.text and "I speak fluent Swedish." in sweden.text


def test_demo_command_prints_the_memory_table(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(recipes, "DEMO_MODEL", {**recipes.DEMO_MODEL, "hidden_size": 32})
    monkeypatch.setattr(recipes, "DEMO_TRAIN", {**recipes.DEMO_TRAIN, "max_steps": 4, "eval_every": 2})
    result = CliRunner().invoke(app, ["demo", "--quiet", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    for expected in ("never seen in training", "vanilla RNN you just trained", "LSTM you just trained",
                     "LSTM, shipped", "I grew up in Japan.", "memory "):
        assert expected in result.stderr + result.stdout, expected


def test_recipes_are_valid_and_selectable(tmp_path, monkeypatch):
    options = dict(parse_builtin(recipes.MEMORY_CORPUS).options)
    assert options["pool"] > 0 and options["noise"] > 0 and options["variety"] > 0
    demo = dict(parse_builtin(recipes.DEMO_CORPUS).options)   # the demo: a shorter task of the same family
    assert demo["language"] == 1.0 and demo["longest"] < options["longest"] and demo["size"] < options["size"]
    assert demo["pool"] == options["pool"] and demo["variety"] > 0 and demo["noise"] > 0   # the same filler sources
    assert recipes.DEMO_TRAIN["max_steps"] and "max_time" not in recipes.DEMO_TRAIN  # a step budget
    with pytest.raises(ConfigError, match="unknown --recipe"):
        recipes.get_recipe("nonsense")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(recipes, "RECIPES", {"memory": recipes.Recipe(
        "builtin:memory:size=50k,pool=30", {**recipes.MEMORY_MODEL, "hidden_size": 16}, {"max_steps": 3})})
    result = CliRunner().invoke(app, ["train", "--recipe", "memory", "--eval-every", "3", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "builtin:memory:size=50k,pool=30" in result.stderr and "lstm 1 x 16" in result.stderr
    result = CliRunner().invoke(app, ["train", "--recipe", "nonsense"])
    assert result.exit_code == 1 and "unknown --recipe" in result.stderr
