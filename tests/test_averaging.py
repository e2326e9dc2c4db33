"""--average-evals: evaluations and checkpoints hold the mean of the last K evaluations' weights, while
training goes on from its own weights, exactly as without it, and resumes exactly."""

import json

import pytest
import torch

from charlstm.averaging import mean_weights
from charlstm.checkpoint import load_model
from charlstm.errors import ConfigError
from charlstm.train import train
from tests.conftest import TINY_MODEL, TINY_TRAIN, straight_and_resumed

CONFIG = {**TINY_TRAIN, "max_steps": 30, "eval_every": 10, "seq_len": 8, "sample_length": 0}


def weights(path, key="model"):
    return torch.load(path, weights_only=True)[key]


def equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_mean_weights_is_the_element_wise_mean_and_leaves_integers_alone():
    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(3)}
    b = {"w": torch.tensor([2.0, 4.0]), "n": torch.tensor(5)}
    c = {"w": torch.tensor([3.0, 9.0]), "n": torch.tensor(7)}
    mean = mean_weights([a, b, c])
    assert torch.equal(mean["w"], torch.tensor([2.0, 5.0])) and mean["w"].dtype == torch.float32
    assert torch.equal(mean["n"], torch.tensor(7))


def test_training_is_unchanged_and_the_checkpoint_keeps_the_mean(tmp_path, corpus):
    plain = train(corpus, tmp_path / "plain", model_config=TINY_MODEL, train_config=CONFIG)
    averaged = train(corpus, tmp_path / "avg", model_config=TINY_MODEL, train_config={**CONFIG, "average_evals": 3})
    payload = torch.load(tmp_path / "avg" / "last.pt", weights_only=True)
    # Training went on from its own weights: the same as the run without averaging, bit for bit.
    assert equal(payload["train_model"], weights(tmp_path / "plain" / "last.pt"))
    # The checkpoint's model is the mean of the weights at steps 10, 20 and 30.
    assert len(payload["snapshots"]) == 2
    assert equal(payload["model"], mean_weights([*payload["snapshots"], payload["train_model"]]))
    assert not equal(payload["model"], payload["train_model"])
    # Evaluations read the mean: the first (nothing to average yet) reads as the plain run, the later ones not.
    plain_losses = [record["val_loss"] for record in plain.history]
    averaged_losses = [record["val_loss"] for record in averaged.history]
    assert averaged_losses[0] == plain_losses[0]
    assert averaged_losses[1:] != plain_losses[1:]
    # What samples and probes load is the mean.
    net, _, _, _ = load_model(tmp_path / "avg" / "last.pt")
    assert equal(net.state_dict(), payload["model"])


def test_a_run_with_averaging_resumes_exactly(tmp_path, corpus):
    straight_and_resumed(corpus, tmp_path, TINY_MODEL, {**CONFIG, "average_evals": 2}, stop_at=15)
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    for key in ("model", "train_model"):
        assert equal(a[key], b[key])
    assert len(a["snapshots"]) == len(b["snapshots"]) == 1 and equal(a["snapshots"][0], b["snapshots"][0])
    metrics = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    straight = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert [m["val_loss"] for m in metrics] == [m["val_loss"] for m in straight]


def test_average_evals_below_one_is_refused(tmp_path, corpus):
    with pytest.raises(ConfigError, match="--average-evals"):
        train(corpus, tmp_path / "r", model_config=TINY_MODEL, train_config={**CONFIG, "average_evals": 0})
