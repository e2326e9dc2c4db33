import pytest
import torch

from charlstm.config import ModelConfig
from charlstm.errors import ConfigError
from charlstm.dropout import dropout_mask
from charlstm.model import CharRNN, detach_state
from tests.conftest import tiny_model


def test_forget_gate_biases_sum_to_one():
    model = tiny_model(10, num_layers=2, hidden_size=8)
    for layer in range(2):
        total = getattr(model.core, f"bias_ih_l{layer}") + getattr(model.core, f"bias_hh_l{layer}")
        assert torch.allclose(total[8:16], torch.ones(8))


def test_forget_bias_is_configurable():
    model = tiny_model(10, hidden_size=8, forget_bias=3.0)
    total = model.core.bias_ih_l0 + model.core.bias_hh_l0
    assert torch.allclose(total[8:16], torch.full((8,), 3.0))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_forward_in_two_halves_equals_one_pass(cell):
    model = tiny_model(12, cell=cell, num_layers=2)
    ids = torch.randint(0, 12, (3, 20))
    whole, _ = model(ids)
    first, state = model(ids[:, :10])
    second, _ = model(ids[:, 10:], state)
    assert torch.allclose(whole, torch.cat([first, second], dim=1), atol=1e-6)
    assert whole.shape == (3, 20, 12)


def test_detach_keeps_values_and_cuts_the_graph():
    model = tiny_model(12).train()
    _, state = model(torch.randint(0, 12, (2, 5)))
    assert state[0].requires_grad
    detached = detach_state(state)
    assert not detached[0].requires_grad and torch.equal(detached[0], state[0])


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("tie", [False, True])
def test_training_layer_by_layer_computes_what_the_fused_core_does(cell, tie):
    """On CPU, training runs the core one layer at a time with our dropout between layers; with the masks
    taken out it is exactly the fused core (same weights and kernels), state included."""
    model = tiny_model(12, cell=cell, num_layers=3, dropout=0.3, tie_weights=tie)
    ids = torch.randint(0, 12, (3, 9))
    _, state = model(ids[:, :4])  # a carried state, as in training
    expected, expected_state = model(ids[:, 4:], state)
    model.train()
    model.dropout.p = 0.0
    logits, new_state = model(ids[:, 4:], state)
    assert torch.equal(logits, expected) and logits.shape == (3, 5, 12)
    assert len(new_state) == (2 if cell == "lstm" else 1)    # one state shape: a tuple, h first
    assert all(torch.equal(a, b) for a, b in zip(new_state, expected_state, strict=True))
    model.dropout.p = 0.3
    torch.manual_seed(1)
    dropped, _ = model(ids)
    dropped.sum().backward()  # gradients flow through the per-layer path
    assert model.core.weight_ih_l0.grad is not None and not torch.equal(dropped, model.eval()(ids)[0])


def test_dropout_mask_drops_p_and_keeps_the_mean():
    x = torch.ones(400, 1000)
    mask = dropout_mask(x, 0.2)
    zero, kept = mask.unique().tolist()
    assert zero == 0.0 and kept == pytest.approx(65536 / (65536 - 13107))  # p = 13107 / 65536 = 0.19999...
    assert abs((mask == 0).float().mean().item() - 0.2) < 0.005
    assert abs(mask.mean().item() - 1.0) < 0.01
    assert (dropout_mask(x, 0.0) == 1).all()
    model = tiny_model(12, num_layers=2, dropout=0.5)
    ids = torch.randint(0, 12, (2, 6))
    assert torch.equal(model(ids)[0], model(ids)[0])  # eval: no dropout


def test_tied_weights_share_the_embedding():
    model = CharRNN(ModelConfig(vocab_size=20, hidden_size=16, embedding_dim=8, tie_weights=True))
    assert model.head.weight is model.embedding.weight
    assert model.projection is not None  # bridges hidden 16 -> embedding 8
    logits, _ = model(torch.zeros(1, 3, dtype=torch.long))
    assert logits.shape == (1, 3, 20)


def test_bad_model_options():
    with pytest.raises(ConfigError, match="cell"):
        ModelConfig(vocab_size=5, cell="transformer")
    with pytest.raises(ConfigError, match="dropout"):
        ModelConfig(vocab_size=5, dropout=1.5)
    with pytest.raises(ConfigError, match="hidden-size"):
        ModelConfig(vocab_size=5, hidden_size=0)
