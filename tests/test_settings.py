"""Where a run's settings come from: recipe < config file (TOML or config.json) < command line."""

from __future__ import annotations

import json

import pytest
import torch

from charlstm.errors import ConfigError
from charlstm.recipes import MEMORY_TRAIN
from charlstm.settings import read_config_file, resolve_settings
from tests.conftest import TEXT
from tests.test_cli import assert_one_line_error, run


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def test_tables_and_bare_keys_are_read_and_checked(tmp_path):
    config = read_config_file(write(tmp_path / "run.toml", """
        hidden_size = 64
        lr = 1e-3
        val_fraction = 0.1
        [model]
        num_layers = 1
        [train]
        max_steps = 50
        [corpus]
        inputs = ["a.txt", "b/"]
    """.replace("        ", "")))
    assert config.model == {"hidden_size": 64, "num_layers": 1}
    assert config.train == {"lr": 1e-3, "max_steps": 50}
    assert config.corpus == {"val_fraction": 0.1, "inputs": ["a.txt", "b/"]}


@pytest.mark.parametrize("text, message", [
    ("hidden = 3", "unknown setting 'hidden' at the top level (valid: [model] cell, num_layers"),
    ("[train]\nnum_layers = 3", "num_layers belongs in [model], not [train]"),
    ("[train]\nnum_layer = 3", "unknown setting 'num_layer' in [train]"),
    ("[trian]\nlr = 1", "unknown setting 'trian'"),
    ("lr = 1e-3\n[train]\nlr = 2e-3", "lr is given twice"),
    ("[train]\nlr = \"fast\"", "--lr must be a number, not 'fast'"),
    ("[model]\nhidden_size = 0", "--hidden-size must be at least 1"),
    ("[corpus]\ninputs = \"a.txt\"", "inputs must be a list"),
    ("train = 3", "train must be a table"),
    ("[train\nlr = 1", "not valid TOML"),
])
def test_mistakes_name_the_file_and_the_setting(tmp_path, text, message):
    with pytest.raises(ConfigError) as error:
        read_config_file(write(tmp_path / "bad.toml", text))
    assert str(error.value).startswith(str(tmp_path / "bad.toml")) and message in str(error.value)


def test_precedence_recipe_then_file_then_flags(tmp_path):
    path = write(tmp_path / "run.toml", "[train]\nlr = 1e-3\nseq_len = 50\n[model]\nhidden_size = 64\n")
    settings = resolve_settings(recipe="memory", config_file=path, train={"seq_len": 20}, inputs=["x.txt"])
    assert settings.train["max_steps"] == MEMORY_TRAIN["max_steps"]   # from the recipe
    assert settings.train["lr"] == 1e-3                               # the file beats the recipe
    assert settings.train["seq_len"] == 20                            # the command line beats the file
    assert settings.model["hidden_size"] == 64 and settings.inputs == ["x.txt"]
    assert settings.out_dir.parent.name == "checkpoints"


def test_the_corpus_comes_from_the_file_unless_given(tmp_path):
    path = write(tmp_path / "run.toml", "[corpus]\ninputs = [\"builtin:memory\"]\nencoding = \"latin-1\"\n")
    from_file = resolve_settings(config_file=path)
    assert from_file.inputs == ["builtin:memory"] and from_file.encoding == "latin-1"
    assert from_file.val_fraction == 0.05 and from_file.notes == []
    given = resolve_settings(config_file=path, inputs=["mine.txt"], encoding="utf-16")
    assert given.inputs == ["mine.txt"] and given.encoding == "utf-16"
    default = resolve_settings()
    assert default.inputs == ["builtin:memory"] and "no corpus given" in default.notes[0]


def _weights(run_dir):
    return torch.load(run_dir / "last.pt", weights_only=True)["model"]


def test_config_json_and_its_toml_twin_reproduce_a_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "tiny.txt", TEXT)
    write(tmp_path / "run.toml", "[model]\nnum_layers = 1\nhidden_size = 32\nembedding_dim = 8\n"
                                 "[train]\nbatch_size = 4\nseq_len = 16\nmax_steps = 12\neval_every = 6\n"
                                 "sample_length = 0\ndevice = \"cpu\"\n[corpus]\ninputs = [\"tiny.txt\"]\n")
    first = run("train", "--config", "run.toml", "--lr", "0.01", "--out", "runs/a", "-q")
    assert first.exit_code == 0, first.output
    recorded = json.loads((tmp_path / "runs/a/config.json").read_text())
    assert recorded["train"]["lr"] == 0.01 and recorded["model"]["hidden_size"] == 32  # the flag won
    again = run("train", "--config", "runs/a/config.json", "--out", "runs/b", "-q")
    assert again.exit_code == 0, again.output
    assert "differs" not in again.stderr
    # The TOML twin of config.json: the same tables and values, unset limits (null) left out.
    lines = []
    for table, values in recorded.items():
        lines.append(f"[{table}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items() if value is not None]
    write(tmp_path / "twin.toml", "\n".join(lines) + "\n")
    twin = run("train", "--config", "twin.toml", "--out", "runs/c", "-q")
    assert twin.exit_code == 0, twin.output
    a, b, c = (_weights(tmp_path / "runs" / name) for name in "abc")
    assert all(torch.equal(a[k], b[k]) and torch.equal(a[k], c[k]) for k in a)
    # Reproducing on a corpus that changed since is allowed, and said.
    write(tmp_path / "tiny.txt", TEXT + "More text.\n" * 20)
    changed = run("train", "--config", "runs/a/config.json", "--out", "runs/d", "-q")
    assert changed.exit_code == 0 and "the corpus differs from the one the config file recorded" in changed.stderr


def test_bad_config_files_are_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "bad.toml", "[train]\nlearning_rate = 1e-3\n")
    assert_one_line_error(run("train", "--config", "bad.toml"), "unknown setting 'learning_rate' in [train]")
    assert_one_line_error(run("train", "--config", "missing.toml"), "missing.toml does not exist")
    write(tmp_path / "bad.json", "{not json")
    assert_one_line_error(run("train", "--config", "bad.json"), "not valid JSON")
    assert not (tmp_path / "checkpoints").exists()
