"""AWD-LSTM's regularisers: DropConnect on the recurrent matrices, embedding dropout, locked dropout."""

import pytest
import torch

from charlstm.config import ModelConfig
from charlstm.dropout import Dropout
from charlstm.errors import ConfigError
from tests.conftest import TINY_MODEL, TINY_TRAIN, straight_and_resumed, tiny_model
from tests.test_train import losses_of


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_weight_drop_masks_the_recurrent_matrix_once_per_window(cell):
    """A dropped weight of W_hh takes no part anywhere in the window, so its gradient is exactly zero;
    about p of them are dropped, and W_ih is never masked."""
    model = tiny_model(12, cell=cell, num_layers=2, hidden_size=64, dropout=0.0, weight_drop=0.5).train()
    torch.manual_seed(3)
    logits, _ = model(torch.randint(0, 12, (4, 30)))
    logits.sum().backward()
    for layer in range(2):
        dropped = (getattr(model.core, f"weight_hh_l{layer}").grad == 0).float().mean().item()
        assert 0.45 < dropped < 0.55
        assert (getattr(model.core, f"weight_ih_l{layer}").grad == 0).float().mean().item() < 0.05


def test_weight_drop_is_off_in_eval_and_changes_training_outputs():
    plain, dropped = tiny_model(12, num_layers=2, dropout=0.0), tiny_model(12, num_layers=2, dropout=0.0, weight_drop=0.3)
    dropped.load_state_dict(plain.state_dict())
    ids = torch.randint(0, 12, (3, 10))
    assert torch.equal(plain(ids)[0], dropped(ids)[0])   # sampling, probes and evaluation see every weight
    dropped.train()
    torch.manual_seed(0)
    first = dropped(ids)[0]
    torch.manual_seed(0)
    assert torch.equal(first, dropped(ids)[0])            # the mask comes from torch's generator
    assert not torch.equal(first, dropped(ids)[0])
    plain.train()
    assert not torch.allclose(first, plain(ids)[0])


def test_embedding_dropout_drops_whole_characters():
    """A dropped character's embedding is zero wherever it occurs in the window, so its row's gradient is
    zero; the other rows are scaled by 1 / (1 - p) and all receive a gradient."""
    vocab = 400
    model = tiny_model(vocab, embedding_dropout=0.5, dropout=0.0).train()
    ids = torch.arange(vocab).repeat(2, 1)              # every character, twice per row
    torch.manual_seed(1)
    model(ids)[0].sum().backward()
    silent = (model.embedding.weight.grad.abs().sum(dim=1) == 0).float().mean().item()
    assert 0.4 < silent < 0.6
    model.zero_grad()
    model.eval()(ids)[0].sum().backward()
    assert (model.embedding.weight.grad.abs().sum(dim=1) > 0).all()   # eval: no character dropped


@pytest.mark.parametrize("time_dim", [0, 1])
def test_locked_dropout_shares_one_mask_across_time(time_dim):
    x = torch.ones(20, 20, 50)
    locked = Dropout(0.5, locked=True).train()(x, time_dim=time_dim)
    steps = locked.unbind(time_dim)
    assert all(torch.equal(step, steps[0]) for step in steps)
    assert 0.4 < (steps[0] == 0).float().mean().item() < 0.6
    free = Dropout(0.5).train()(x, time_dim=time_dim).unbind(time_dim)
    assert not torch.equal(free[0], free[1])


@pytest.mark.parametrize("cell", ["lstm", "peephole", "mingru"])
def test_a_locked_model_drops_the_same_units_at_every_step(cell):
    """Before the head, a locked model's dropout silences the same units of h at every time step."""
    model = tiny_model(12, cell=cell, num_layers=2, dropout=0.5, locked_dropout=True).train()
    assert model.dropout.locked and (model.core.fused or model.core.dropout.locked)
    seen = {}
    model.head.register_forward_hook(lambda module, inputs, output: seen.update(x=inputs[0]))
    model(torch.randint(0, 12, (3, 15)))
    silent = (seen["x"] == 0).movedim(0 if model.core.by_layer else 1, 0)   # time first (by layer: time-major)
    assert silent.any() and (silent == silent[:1]).all()


def test_regulariser_options_are_checked():
    with pytest.raises(ConfigError, match="--weight-drop must be in"):
        ModelConfig(vocab_size=5, weight_drop=1.0)
    with pytest.raises(ConfigError, match="--embedding-dropout must be in"):
        ModelConfig(vocab_size=5, embedding_dropout=-0.1)
    with pytest.raises(ConfigError, match="--weight-drop drops weights of the fused cells"):
        ModelConfig(vocab_size=5, cell="peephole", weight_drop=0.2)


def test_a_run_with_every_regulariser_resumes_exactly(tmp_path, corpus):
    """Every mask comes from the generators a checkpoint saves, so the interrupted run ends bit-identical."""
    config = {**TINY_TRAIN, "max_steps": 20, "eval_every": 7, "seq_len": 8}
    model = {**TINY_MODEL, "num_layers": 2, "dropout": 0.3, "weight_drop": 0.3, "embedding_dropout": 0.1,
             "locked_dropout": True}
    straight, resumed = straight_and_resumed(corpus, tmp_path, model, config)
    assert losses_of(resumed) == losses_of(straight)
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
