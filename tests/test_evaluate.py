"""Bounded evaluation: each evaluation during training reads a fixed, deterministic part of the
validation split, spread over it; small splits are read whole; --eval-chars sets the bound."""

from __future__ import annotations

import torch
from typer.testing import CliRunner

from charlstm.batching import StreamBatcher
from charlstm.cli import app
from charlstm.config import TrainConfig
from charlstm.corpus import corpus_from_text
from charlstm.evaluate import evaluation_layout, mean_loss
from charlstm.rundir import read_metrics
from charlstm.train import train
from tests.conftest import TINY_MODEL, TINY_TRAIN, tiny_model


def test_a_bounded_evaluation_reads_slices_spread_over_the_text():
    ids = torch.arange(100_001) % 50
    streams, stream_len = evaluation_layout(len(ids), batch_size=8, chars=4_000)
    assert (streams, stream_len) == (8, 500)
    batcher = StreamBatcher(ids, streams, 100, stream_len=stream_len)
    starts = batcher.inputs[:, 0].tolist()
    assert starts == [(k * 12_500) % 50 for k in range(8)]          # the start of each eighth of the text
    first = torch.cat([w.inputs for w in batcher], dim=1)
    assert torch.equal(first[3], ids[3 * 12_500: 3 * 12_500 + 500])  # a contiguous slice, state carried
    assert evaluation_layout(len(ids), 8, None) == evaluation_layout(len(ids), 8, 10**9) == (8, 12_500)


def test_bounded_loss_is_deterministic_and_a_small_split_is_read_whole():
    model = tiny_model(50)
    ids = torch.randint(0, 50, (60_001,), generator=torch.Generator().manual_seed(0))
    bounded = mean_loss(model, ids, 8, chars=5_000)
    assert bounded == mean_loss(model, ids, 8, chars=5_000) != mean_loss(model, ids, 8)
    assert mean_loss(model, ids[:3_001], 8, chars=5_000) == mean_loss(model, ids[:3_001], 8)


def test_the_default_bound_follows_the_training_between_evaluations():
    assert TrainConfig().evaluated_chars == int(0.3 * 250 * 32 * 100)     # 240,000 for the defaults
    assert TrainConfig(eval_chars=0).evaluated_chars == 0                 # the whole split
    assert TrainConfig(eval_chars=1234).evaluated_chars == 1234


def test_metrics_say_how_many_validation_characters_were_read(tmp_path):
    corpus = corpus_from_text("The quick brown fox jumps over the lazy dog. " * 2000, name="fox", val_fraction=0.5)
    config = {**TINY_TRAIN, "max_steps": 10, "sample_length": 0}
    train(corpus, tmp_path / "bounded", model_config=TINY_MODEL, train_config={**config, "eval_chars": 3000})
    train(corpus, tmp_path / "all", model_config=TINY_MODEL, train_config={**config, "eval_chars": 0})
    bounded, whole = read_metrics(tmp_path / "bounded")[-1], read_metrics(tmp_path / "all")[-1]
    assert 2_900 <= bounded["val_chars"] <= 3_000 and whole["val_chars"] >= len(corpus.val) - 32
    assert bounded["val_loss"] != whole["val_loss"]


def test_eval_chars_on_the_command_line(tmp_path, text_file):
    common = [str(text_file), "--num-layers", "1", "--hidden-size", "16", "--embedding-dim", "8",
              "--max-steps", "2", "--eval-every", "2", "--device", "cpu", "--quiet", "--val-fraction", "0.3"]
    result = CliRunner().invoke(app, ["train", *common, "--out", str(tmp_path / "a"), "--eval-chars", "all"])
    assert result.exit_code == 0, result.output
    assert read_metrics(tmp_path / "a")[-1]["val_chars"] > 0 and " chars" in result.stderr
    result = CliRunner().invoke(app, ["train", *common, "--out", str(tmp_path / "b"), "--eval-chars", "lots"])
    assert result.exit_code == 1 and "--eval-chars must be a number of characters or all" in result.stderr
