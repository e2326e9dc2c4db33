import pytest
import torch

from charlstm.config import ModelConfig
from charlstm.errors import ConfigError
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
