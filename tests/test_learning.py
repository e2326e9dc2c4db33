"""Learning behaviour of the recommended memory recipe: minutes each, so marked slow (``pytest -m slow``).

The recipe is a fixed step budget and seed, so on the CPU these runs are the ones the README reports.
"""

from __future__ import annotations

import pytest

from charlstm import recipes
from charlstm.checkpoint import load_model
from charlstm.corpus import prepare_corpus
from charlstm.probes.cue_swap import language_probe, run_cue_swap, training_filler
from charlstm.probes.forgetting import run_forgetting
from charlstm.train import train

pytestmark = pytest.mark.slow


def train_recipe(tmp_path, cell: str):
    corpus = prepare_corpus([recipes.MEMORY_CORPUS], out_dir=tmp_path / "data")
    config = {**recipes.MEMORY_TRAIN, "device": "cpu", "max_time": None, "sample_length": 0}
    train(corpus, tmp_path / cell, model={**recipes.MEMORY_MODEL, "cell": cell}, config=config)
    model, vocab, payload, _ = load_model(tmp_path / cell, device="cpu")
    return model, vocab, training_filler(payload["corpus"]["inputs"])


def test_memory_recipe_remembers_the_country_and_switches_the_subject(tmp_path):
    model, vocab, filler = train_recipe(tmp_path, "lstm")
    accuracy = {row.distance: row.accuracy for row in run_cue_swap(model, vocab, language_probe(filler=filler)).rows}
    assert accuracy[0] == 1.0
    assert min(accuracy[d] for d in (25, 50, 100)) >= 0.9
    switch = {row.distance: row.accuracy_after for row in run_forgetting(model, vocab, filler=filler).rows}
    assert min(switch[d] for d in (0, 25, 50, 100)) >= 0.8


def test_a_vanilla_rnn_on_the_same_recipe_only_knows_the_adjacent_answer(tmp_path):
    model, vocab, filler = train_recipe(tmp_path, "rnn")
    accuracy = {row.distance: row.accuracy for row in run_cue_swap(model, vocab, language_probe(filler=filler)).rows}
    assert accuracy[0] >= 0.9
    assert max(accuracy[d] for d in (25, 50, 100, 200)) < 0.3
