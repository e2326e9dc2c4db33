"""charlstm compare: matched parameter counts, one run per cell, reuse and resume, the table."""

from __future__ import annotations

import json
import threading

import pytest
from typer.testing import CliRunner

from charlstm.cli import app
from charlstm.compare import compare, count_parameters, matched_sizes, parse_cells
from charlstm.config import CELLS, ModelConfig
from charlstm.errors import ConfigError
from charlstm.model import CharRNN
from charlstm.train import Stepped
from tests.conftest import TINY_TRAIN


@pytest.mark.parametrize("base", [ModelConfig(vocab_size=65), ModelConfig(vocab_size=55, num_layers=1, hidden_size=256,
                                                                            embedding_dim=32, dropout=0.0)])
def test_every_cell_gets_the_first_cells_parameter_count_within_5_percent(base):
    plan = matched_sizes(list(CELLS), base)
    target = plan[0][2]
    assert plan[0][:2] == ("lstm", base.hidden_size)
    for cell, hidden, count in plan:
        assert abs(count - target) <= 0.05 * target, (cell, hidden, count)
        assert count == count_parameters(ModelConfig(**{**base.to_dict(), "cell": cell, "hidden_size": hidden}))
    sizes = dict((cell, hidden) for cell, hidden, _ in plan)
    assert sizes["rnn"] > sizes["gru"] > sizes["lstm"] and sizes["clockwork"] > sizes["rnn"]
    assert 0.66 < sizes["grid"] / sizes["lstm"] < 0.75   # twice an LSTM's gates per unit: about 1/√2 the units


def test_counting_on_the_meta_device_counts_what_a_real_model_holds():
    config = ModelConfig(vocab_size=30, cell="depth-gated", num_layers=3, hidden_size=20, embedding_dim=7)
    assert count_parameters(config) == CharRNN(config).num_parameters


def test_cells_are_parsed_and_checked():
    assert parse_cells("lstm, gru,clockwork") == ["lstm", "gru", "clockwork"]
    with pytest.raises(ConfigError, match="choose from lstm, gru"):
        parse_cells("lstm,mogrifier")
    with pytest.raises(ConfigError, match="each cell once"):
        parse_cells("lstm,lstm")
    assert parse_cells("lstm,lstm+attention") == ["lstm", "lstm+attention"]
    with pytest.raises(ConfigError, match="mogrifier\\+attention; choose from"):
        parse_cells("lstm,mogrifier+attention")


def test_a_cell_with_attention_is_compared_at_the_same_parameter_count(corpus, tmp_path):
    base = ModelConfig(vocab_size=65, attention_memory=100)
    with pytest.raises(ConfigError, match="--attention-memory M"):
        matched_sizes(["lstm", "lstm+attention"], ModelConfig(vocab_size=65))
    (_, _, plain), (_, hidden, attending) = matched_sizes(["lstm", "lstm+attention"], base)
    assert hidden < 512 and abs(attending - plain) < 0.01 * plain
    rows = compare(corpus, tmp_path, ["lstm", "lstm+attention"], model={**TINY, "attention_memory": 20},
                   config={**TINY_TRAIN, "max_steps": 3})
    assert [row.cell for row in rows] == ["lstm", "lstm+attention"]
    saved = [json.loads((tmp_path / cell / "config.json").read_text())["model"] for cell in ("lstm", "lstm+attention")]
    assert [config["attention_memory"] for config in saved] == [0, 20] and saved[0]["cell"] == saved[1]["cell"] == "lstm"


TINY = {"num_layers": 1, "hidden_size": 16, "embedding_dim": 8, "dropout": 0.0}


def test_compare_trains_each_cell_then_reuses_finished_runs_and_resumes_interrupted_ones(corpus, tmp_path):
    config = {**TINY_TRAIN, "max_steps": 6, "eval_every": 3}
    stop = threading.Event()
    steps: dict[str, int] = {}

    def count(cell, event):
        if isinstance(event, Stepped):
            steps[cell] = steps.get(cell, 0) + 1
            if cell == "coupled" and event.step == 2:
                stop.set()

    rows = compare(corpus, tmp_path, ["lstm", "coupled", "clockwork"], model=TINY, config=config,
                   on_event=count, stop_event=stop)
    assert [(row.cell, row.reason) for row in rows] == [("lstm", "max_steps"), ("coupled", "interrupted")]
    assert steps == {"lstm": 6, "coupled": 2}
    steps.clear()
    rows = compare(corpus, tmp_path, ["lstm", "coupled", "clockwork"], model=TINY, config=config, on_event=count)
    assert steps == {"coupled": 4, "clockwork": 6}   # lstm reused as it was, coupled resumed at step 2
    assert [row.steps for row in rows] == [6, 6, 6] and all(row.val_bpc > 0 for row in rows)
    assert all(row.chars_per_sec and row.chars_per_sec > 0 for row in rows)  # lstm's kept from its first run
    plan = matched_sizes(["lstm", "coupled", "clockwork"], ModelConfig(vocab_size=len(corpus.vocab), **TINY))
    assert [(row.hidden_size, row.parameters) for row in rows] == [(hidden, count) for _, hidden, count in plan]
    assert rows[1].hidden_size > 16   # three gates' weights instead of four: more units for the same count
    recorded = json.loads((tmp_path / "compare.json").read_text())
    assert set(recorded) == {"lstm", "coupled", "clockwork"}
    assert rows[0].memory_span is None  # not the memory corpus


def test_compare_on_the_memory_corpus_measures_memory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["compare", "builtin:memory:size=40k", "--cells", "lstm,rnn", "--num-layers", "1",
                                      "--hidden-size", "12", "--embedding-dim", "6", "--max-steps", "3", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["cell"] for row in rows] == ["lstm", "rnn"]
    assert all(0 <= row["forgetting_100"] <= 1 and 0 <= row["cue_swap_100"] <= 1 for row in rows)
    assert (tmp_path / "checkpoints" / "compare-memory" / "rnn" / "last.pt").exists()
    assert "cells at the same parameter budget" in result.stderr  # the table, on stderr as ever


def test_compare_needs_the_same_budget_for_every_cell(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["compare", "builtin:memory:size=40k"])
    assert result.exit_code == 1 and "--max-steps N or --max-time S" in result.stderr
    result = CliRunner().invoke(app, ["compare", "--cells", "lstm,gru,lstm", "--max-steps", "2"])
    assert result.exit_code == 1 and "each cell once" in result.stderr
