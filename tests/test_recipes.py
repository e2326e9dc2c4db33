"""The named tiny-shakespeare recipes: valid settings, a step budget, and ``--recipe`` training on the given file."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from charlstm import recipes
from charlstm.cli import app
from charlstm.config import ModelConfig, TrainConfig

SHAKESPEARE_RECIPES = ("shakespeare-1min", "shakespeare-10min")
# Shrinks the network and the budget so a recipe trains in a second; every other setting is the recipe's.
SMALL = ["--hidden-size", "16", "--embedding-dim", "8", "--batch-size", "4", "--seq-len", "16",
         "--max-steps", "2", "--eval-every", "2", "--sample-length", "0", "--device", "cpu", "--quiet"]


@pytest.mark.parametrize("name", SHAKESPEARE_RECIPES)
def test_recipe_is_valid_with_a_step_budget(name):
    recipe = recipes.get_recipe(name)
    ModelConfig(vocab_size=65, **recipe.model)
    config = TrainConfig(**recipe.train)
    assert config.max_steps and config.max_steps >= config.eval_every  # steps, so no machine changes the result
    # An averaging recipe averages evaluations inside its own budget, so its last K are all real ones.
    assert config.max_steps >= config.eval_every * config.average_evals
    assert recipe.corpus is None          # a recipe for the user's own file: no path outside the package


@pytest.mark.parametrize("name", SHAKESPEARE_RECIPES)
def test_recipe_trains_on_the_given_file(name, text_file, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(text_file), "--recipe", name, "--out", str(out),
                                      "--data-dir", str(tmp_path / "data"), *SMALL])
    assert result.exit_code == 0, result.output
    model = recipes.get_recipe(name).model
    assert f"{model['num_layers']} x 16" in result.stderr and "budget 2 steps" in result.stderr
    assert "tinyshakespeare" not in result.stderr and (out / "last.pt").exists()


def test_a_recipe_for_your_own_text_says_it_needs_a_file(tmp_path):
    result = CliRunner().invoke(app, ["train", "--recipe", "shakespeare-1min", "--out", str(tmp_path / "run"),
                                      "--data-dir", str(tmp_path / "data"), *SMALL])
    assert result.exit_code == 1 and result.stderr.count("charlstm: error:") == 1
    assert "--recipe shakespeare-1min trains on a text of yours: give it as FILE" in " ".join(result.stderr.split())
    assert not (tmp_path / "run").exists()


def test_recipe_without_a_file_uses_its_corpus(text_file, tmp_path, monkeypatch):
    monkeypatch.setitem(recipes.RECIPES, "shakespeare-1min",
                        recipes.Recipe(str(text_file), recipes.SHAKESPEARE_1MIN_MODEL, recipes.SHAKESPEARE_1MIN_TRAIN))
    result = CliRunner().invoke(app, ["train", "--recipe", "shakespeare-1min", "--out", str(tmp_path / "run"),
                                      "--data-dir", str(tmp_path / "data"), *SMALL])
    assert result.exit_code == 0, result.output
    assert f"no corpus given: using {text_file}" in result.stderr.replace("\n", "")
