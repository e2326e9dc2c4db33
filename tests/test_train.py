import io
import json
import math
import threading
from pathlib import Path

import pytest
import torch

from charlstm.corpus import corpus_from_text
from charlstm.errors import CheckpointError, ConfigError, CorpusError
from charlstm.model import CharRNN
from charlstm.start import fresh_start
from charlstm.train import Evaluated, Finished, Started, Stepped, Trainer, learning_rate, train
from charlstm.config import TrainConfig
from tests.conftest import TEXT, TINY_MODEL, TINY_TRAIN, straight_and_resumed


def losses_of(events):
    return [e.loss for e in events if isinstance(e, Stepped)]


def test_loss_goes_down_on_a_tiny_text(tmp_path, corpus):
    events = []
    result = train(corpus, tmp_path, model_config={**TINY_MODEL, "hidden_size": 64},
                   train_config={**TINY_TRAIN, "max_steps": 150, "lr": 1e-2, "eval_every": 50}, on_event=events.append)
    losses = losses_of(events)
    assert sum(losses[-10:]) / 10 < 0.6 * sum(losses[:10]) / 10
    evals = [e for e in events if isinstance(e, Evaluated)]
    assert evals[-1].val_loss < evals[0].val_loss
    assert result.reason == "max_steps" and result.step == 150


def test_run_directory_contents(tmp_path, corpus):
    events = []
    train(corpus, tmp_path, model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 25}, on_event=events.append)
    assert {p.name for p in tmp_path.iterdir()} >= {"last.pt", "best.pt", "metrics.jsonl", "config.json"}
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [10, 20, 25]
    assert all(math.isclose(r["val_bpc"], r["val_loss"] / math.log(2)) for r in records)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model"]["hidden_size"] == 32 and config["train"]["max_steps"] == 25
    started = next(e for e in events if isinstance(e, Started))
    assert started.parameters == sum(p.numel() for p in CharRNN(started.model_config).parameters())
    assert isinstance(events[-1], Finished)


def test_resume_continues_exactly(tmp_path, corpus):
    config = {**TINY_TRAIN, "max_steps": 30, "eval_every": 7, "seq_len": 8}
    model = {**TINY_MODEL, "dropout": 0.3, "num_layers": 2}  # dropout: the RNG state must be restored too
    straight, resumed = straight_and_resumed(corpus, tmp_path, model, config)
    assert losses_of(resumed) == losses_of(straight)
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    def logged(run):
        return [json.loads(line)["step"] for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]

    assert logged("b") == logged("a") == [7, 14, 21, 28, 30]


def test_state_is_carried_across_windows_and_detached(corpus):
    trainer = Trainer(corpus, Path("/nonexistent"), fresh_start(corpus, TINY_MODEL, dict(TINY_TRAIN)))
    model = trainer.model
    first, second = trainer.batcher.window(0), trainer.batcher.window(1)
    trainer.step(first, lr=0.0)  # lr 0: weights unchanged, so the expected state is easy to recompute
    carried = trainer.state
    assert not carried[0].requires_grad  # detached at the border
    with torch.no_grad():
        model.eval()
        _, expected = model(first.inputs)
        _, expected_two = model(second.inputs, expected)
    assert torch.allclose(carried[0], expected[0], atol=1e-6) and torch.allclose(carried[1], expected[1], atol=1e-6)
    trainer.step(second, lr=0.0)
    assert torch.allclose(trainer.state[0], expected_two[0], atol=1e-6)  # window 2 started from window 1's state


def test_state_resets_at_each_epoch(corpus):
    trainer = Trainer(corpus, Path("/nonexistent"), fresh_start(corpus, TINY_MODEL, dict(TINY_TRAIN)))
    for index in range(trainer.batcher.windows_per_epoch):
        trainer.step(trainer.batcher.window(index), lr=1e-3)
    assert trainer.progress.epoch == 1 and trainer.progress.window == 0
    assert all(float(s.abs().sum()) == 0 for s in trainer.state)


def test_fresh_starts_restart_single_streams_and_carry_the_others_exactly(corpus):
    """--fresh-starts p: at each border every stream on its own starts the next window from zero with chance
    p; the streams not chosen carry their state exactly as without the option."""
    config = {**TINY_TRAIN, "batch_size": 4, "seq_len": 4, "fresh_starts": 0.5}
    trainer = Trainer(corpus, Path("/nonexistent"), fresh_start(corpus, TINY_MODEL, config))
    trainer.model.eval()
    restarted, mixed = [], 0
    for index in range(1, trainer.batcher.windows_per_epoch):   # within one epoch: no restart of them all
        before = trainer.state
        trainer.step(trainer.batcher.window(index - 1), lr=0.0)
        with torch.no_grad():
            _, carried = trainer.model(trainer.batcher.window(index - 1).inputs, before)
        zero = (trainer.state[0].abs().sum(dim=(0, 2)) == 0) & (trainer.state[1].abs().sum(dim=(0, 2)) == 0)
        for tensor, expected in zip(trainer.state, carried):
            assert torch.allclose(tensor[:, ~zero], expected[:, ~zero], atol=1e-6)
        restarted.append(zero.float().mean().item())
        mixed += 0 < zero.sum() < len(zero)
    assert len(restarted) >= 20 and 0.3 < sum(restarted) / len(restarted) < 0.7
    assert mixed >= len(restarted) // 4   # streams restart on their own, not all together
    plain = Trainer(corpus, Path("/nonexistent"), fresh_start(corpus, TINY_MODEL, {**config, "fresh_starts": 0.0}))
    for index in range(5):
        plain.step(plain.batcher.window(index), lr=0.0)
        assert all(float(s.abs().sum(dim=(0, 2)).min()) > 0 for s in plain.state)


def test_a_run_with_fresh_starts_resumes_exactly(tmp_path, corpus):
    config = {**TINY_TRAIN, "max_steps": 30, "eval_every": 7, "seq_len": 8, "fresh_starts": 0.3}
    straight, resumed = straight_and_resumed(corpus, tmp_path, TINY_MODEL, config)
    assert losses_of(resumed) == losses_of(straight)
    plain = []
    train(corpus, tmp_path / "plain", model_config=TINY_MODEL, train_config={**config, "fresh_starts": 0.0},
          on_event=plain.append)
    assert losses_of(plain) != losses_of(straight)
    a, b = (torch.load(tmp_path / run / "last.pt", weights_only=True) for run in ("a", "b"))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert all(torch.equal(x, y) for x, y in zip(a["state"], b["state"]))


def test_learning_rate_warms_up_then_decays():
    config = TrainConfig(lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    rates = [learning_rate(config, step, step / 100, 100) for step in range(100)]
    assert rates[0] < rates[5] < rates[9]
    assert rates[9] > rates[50] > rates[99] >= 0.1
    assert math.isclose(learning_rate(config, 100, 1.0, 100), 0.1)


def test_a_new_run_never_replaces_an_old_one(tmp_path, corpus):
    train(corpus, tmp_path, model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 3})
    with pytest.raises(CheckpointError, match="already holds a run.*--resume"):
        train(corpus, tmp_path, model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 3})
    train(corpus, tmp_path, model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 4}, overwrite=True)
    assert torch.load(tmp_path / "last.pt", weights_only=True)["progress"]["step"] == 4


def test_resume_needs_a_checkpoint_and_a_compatible_vocabulary(tmp_path, corpus):
    with pytest.raises(CheckpointError, match="no last.pt"):
        train(corpus, tmp_path, resume=True)
    train(corpus, tmp_path, model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 3})
    other = corpus_from_text("completely different text with ZQX!" * 30)
    with pytest.raises(CheckpointError, match="characters the checkpoint's vocabulary lacks"):
        train(other, tmp_path, resume=True)
    with pytest.raises(ConfigError, match="cannot be combined"):
        train(corpus, tmp_path / "x", resume=True, init_from=tmp_path / "last.pt")


def test_init_from_extends_the_vocabulary(tmp_path, corpus):
    train(corpus, tmp_path / "base", model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 5})
    base = torch.load(tmp_path / "base" / "last.pt", weights_only=True)
    new_text = TEXT + "Ωμέγα 🙂 " * 20
    events = []
    train(corpus_from_text(new_text), tmp_path / "tuned", init_from=tmp_path / "base" / "last.pt",
          train_config={**TINY_TRAIN, "max_steps": 1, "lr": 1e-12}, on_event=events.append)
    started = next(e for e in events if isinstance(e, Started))
    assert any("6 character(s) new" in note for note in started.notes)
    tuned = torch.load(tmp_path / "tuned" / "last.pt", weights_only=True)
    old_vocab, new_vocab = base["vocab"], tuned["vocab"]
    for char in old_vocab:  # every old row moved, unchanged, to its new place
        old_row = base["model"]["embedding.weight"][old_vocab.index(char)]
        new_row = tuned["model"]["embedding.weight"][new_vocab.index(char)]
        assert torch.allclose(old_row, new_row, atol=1e-6)
    new_rows = [new_vocab.index(c) for c in new_vocab if c not in old_vocab]
    assert len(new_rows) == 6 and tuned["model"]["embedding.weight"].shape[0] == len(old_vocab) + 6


def test_divergence_stops_and_keeps_the_last_good_checkpoint(tmp_path, corpus, monkeypatch):
    train(corpus, tmp_path, model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 10})
    good = (tmp_path / "last.pt").read_bytes()
    real_cross_entropy = torch.nn.functional.cross_entropy
    monkeypatch.setattr("charlstm.train.F.cross_entropy",
                        lambda *a, **k: real_cross_entropy(*a, **k) * float("nan"))
    result = train(corpus, tmp_path, resume=True, train_config={"max_steps": 20})
    assert result.reason == "diverged" and result.step == 10
    assert (tmp_path / "last.pt").read_bytes() == good
    events = []
    skipped = train(corpus, tmp_path, resume=True, train_config={"max_steps": 20, "on_divergence": "skip"},
                    on_event=events.append)
    assert skipped.reason == "max_steps" and skipped.step == 20  # skipped steps still use up the budget
    assert all(math.isnan(loss) for loss in losses_of(events))
    weights = torch.load(tmp_path / "last.pt", weights_only=True)["model"]
    before = torch.load(io.BytesIO(good), weights_only=True)["model"]
    assert all(torch.equal(weights[k], before[k]) for k in weights)  # no NaN step touched the weights
    endless = train(corpus, tmp_path, resume=True, train_config={"max_steps": 200, "on_divergence": "skip"})
    assert endless.reason == "diverged" and endless.step == 20 + 49  # the 50th skip in a row stops it


def test_short_corpus_shrinks_the_batch(tmp_path):
    events = []
    tiny = corpus_from_text("abcdefghij" * 6, val_fraction=0.0)
    train(tiny, tmp_path, model_config=TINY_MODEL, train_config={**TINY_TRAIN, "batch_size": 32, "seq_len": 10, "max_steps": 2},
          on_event=events.append)
    started = next(e for e in events if isinstance(e, Started))
    assert started.train_config.batch_size == 5
    assert any("lowered" in n for n in started.notes) and any("no validation" in n for n in started.notes)
    with pytest.raises(CorpusError, match="too little"):
        train(corpus_from_text("ab", val_fraction=0.5), tmp_path / "x", model_config=TINY_MODEL)


def test_max_time_stops_the_run(tmp_path, corpus):
    result = train(corpus, tmp_path, model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_time": 1.0})
    assert result.reason == "max_time" and 1.0 <= result.elapsed < 5.0
    assert (tmp_path / "last.pt").exists()


def test_bad_training_options(tmp_path, corpus):
    for bad in ({"lr": -1}, {"beta2": 1.0}, {"batch_size": 0}, {"max_time": float("nan")}, {"device": "tpu"},
                {"nonsense": 1}, {"fresh_starts": 1.5}, {"fresh_starts": -0.1}):
        with pytest.raises(ConfigError):
            train(corpus, tmp_path, model_config=TINY_MODEL, train_config=bad)


def test_options_of_the_wrong_kind_or_name_are_refused_by_name(tmp_path, corpus):
    """From Python or a config file, a wrong value names its option; it is never a TypeError from deep inside."""
    cases = [({"lr": "fast"}, "--lr must be a number, not 'fast'"),
             ({"batch_size": 2.5}, "--batch-size must be an integer, not 2.5"),
             ({"max_steps": True}, "--max-steps must be an integer, not True"),
             ({"learning_rate": 1e-3}, r"unknown training option\(s\): learning_rate \(valid: seq_len, batch_size")]
    for config, message in cases:
        with pytest.raises(ConfigError, match=message):
            train(corpus, tmp_path, model_config=TINY_MODEL, train_config=config)
    with pytest.raises(ConfigError, match="--tie-weights must be true or false, not 'yes'"):
        train(corpus, tmp_path, model_config={**TINY_MODEL, "tie_weights": "yes"}, train_config=TINY_TRAIN)
    with pytest.raises(ConfigError, match=r"unknown model option\(s\): layers \(valid: cell, num_layers"):
        train(corpus, tmp_path, model_config={"layers": 2}, train_config=TINY_TRAIN)
    assert not (tmp_path / "last.pt").exists()


def test_weight_decay_spares_biases_so_the_forget_bias_survives(tmp_path, corpus):
    """AdamW decays weight matrices only: with no gradient on them, biases keep their initialisation."""
    trainer = Trainer(corpus, tmp_path / "run", fresh_start(corpus, TINY_MODEL, {**TINY_TRAIN, "weight_decay": 0.5}))
    decayed, spared = trainer.optimizer.param_groups
    assert decayed["weight_decay"] == 0.5 and spared["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decayed["params"]) and all(p.dim() == 1 for p in spared["params"])
    names = {id(p): n for n, p in trainer.model.named_parameters()}
    assert {names[id(p)] for p in spared["params"]} >= {"core.bias_ih_l0", "core.bias_hh_l0", "head.bias"}


def test_beta2_reaches_every_group_resumes_exactly_and_can_be_changed_on_resume(tmp_path, corpus):
    """--beta2 sets AdamW's second-moment decay; stopping and resuming changes no weight, and a resume
    given another --beta2 goes on with it (as with --weight-decay), not with the one in the saved state."""
    config = {**TINY_TRAIN, "max_steps": 20, "eval_every": 7, "seq_len": 8, "beta2": 0.9}
    trainer = Trainer(corpus, tmp_path / "run", fresh_start(corpus, TINY_MODEL, config))
    assert [group["betas"] for group in trainer.optimizer.param_groups] == [(0.9, 0.9)] * 2
    straight_and_resumed(corpus, tmp_path, TINY_MODEL, config)
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    default = train(corpus, tmp_path / "c", model_config=TINY_MODEL, train_config={**config, "beta2": 0.999})
    c = torch.load(tmp_path / "c" / "last.pt", weights_only=True)["model"]
    assert default.step == 20 and not all(torch.equal(a[k], c[k]) for k in c)
    train(corpus, tmp_path / "b", resume=True, train_config={"max_steps": 25, "beta2": 0.95})
    resumed = torch.load(tmp_path / "b" / "last.pt", weights_only=True)["optimizer"]["param_groups"]
    assert [group["betas"] for group in resumed] == [(0.9, 0.95)] * 2


def test_a_run_saved_with_one_optimizer_group_still_resumes(tmp_path, corpus):
    """Checkpoints written before biases were spared hold one AdamW group; they resume as they were made."""
    config = {**TINY_TRAIN, "max_steps": 6, "eval_every": 3}
    stop = threading.Event()
    train(corpus, tmp_path / "run", model_config=TINY_MODEL, train_config=config,
          on_event=lambda e: stop.set() if isinstance(e, Stepped) and e.step == 3 else None, stop_event=stop)
    path = tmp_path / "run" / "last.pt"
    payload = torch.load(path, weights_only=True)
    model = Trainer(corpus, tmp_path / "other", fresh_start(corpus, TINY_MODEL, config)).model
    payload["optimizer"] = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1).state_dict()
    torch.save(payload, path)
    result = train(corpus, tmp_path / "run", resume=True, train_config={"weight_decay": 0.2})
    assert result.step == 6 and result.reason == "max_steps"
