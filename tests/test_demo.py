"""The demo and the named recipes, end to end on a short budget."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from charlstm import recipes
from charlstm.cli import app
from charlstm.corpora import parse_builtin
from charlstm.demo import DEMO_COUNTRIES, run_demo
from charlstm.errors import ConfigError


def test_run_demo_trains_samples_and_scores_every_language(tmp_path, monkeypatch):
    monkeypatch.setattr(recipes, "DEMO_MODEL", {**recipes.DEMO_MODEL, "hidden_size": 32})
    result = run_demo(out_dir=tmp_path / "demo", data_dir=tmp_path / "data", max_time=2, device="cpu")
    assert result.training.reason == "max_time" and result.checkpoint.exists()
    assert len(result.sample) == 300
    assert [c.country for c in result.completions] == list(DEMO_COUNTRIES)
    for completion in result.completions:
        assert sum(completion.probabilities.values()) == pytest.approx(1.0)
        assert len(completion.probabilities) == 14 and completion.expected in completion.probabilities
        assert completion.prompt.endswith("I speak fluent ") and completion.filler in completion.prompt


def test_demo_command_prints_the_memory_table(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(recipes, "DEMO_MODEL", {**recipes.DEMO_MODEL, "hidden_size": 32})
    result = CliRunner().invoke(app, ["demo", "--max-time", "2", "--quiet", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "I speak fluent" in result.stderr and "picks the cue's language" in result.stderr


def test_recipes_are_valid_and_selectable(tmp_path, monkeypatch):
    spec = parse_builtin(recipes.MEMORY_CORPUS)
    assert spec.name == "memory" and dict(spec.options)["pool"] > 0
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
