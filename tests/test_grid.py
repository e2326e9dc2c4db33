"""The Grid LSTM cell against the paper's equations, gradcheck, its step path, and what it reduces to."""

from __future__ import annotations

import torch
from torch import nn

from charlstm.cells.grid import GridLSTM
from charlstm.config import ModelConfig
from charlstm.model import CharRNN
from charlstm.stepper import Stepper

E, H, B, T = 3, 4, 2, 6
sig, tanh = torch.sigmoid, torch.tanh


def make(layers: int, hidden: int = H, dtype=torch.float64) -> GridLSTM:
    torch.manual_seed(0)
    core = GridLSTM(E, hidden, layers, 0.0).to(dtype)
    with torch.no_grad():  # weights of order 1, so every term of the equations matters
        for parameter in core.parameters():
            parameter.normal_(0, 0.7)
    return core.eval()


def dimension_weights(core: GridLSTM, layer: int, dimension: str):
    """W^d split into its h^time and h^depth columns, and b^d, each as (i, f, o, C̃) blocks."""
    order = core.gate_order
    prefix = "" if dimension == "time" else "depth-"
    rows = [slice(order.index(prefix + g) * H, (order.index(prefix + g) + 1) * H)
            for g in ("input", "forget", "output", "cell")]
    return ([core.weight_hh[layer][r] for r in rows], [core.weight_ih[layer][r] for r in rows],
            [core.bias[layer][r] for r in rows])


def lstm_transform(H_time, H_depth, memory, weights):
    """The paper's LSTM(H, m, W) on H = [h^time; h^depth], written out: (h', m')."""
    w_time, w_depth, b = weights
    i, f, o, g = (H_time @ wt.T + H_depth @ wd.T + bias for wt, wd, bias in zip(w_time, w_depth, b))
    i, f, o, g = sig(i), sig(f), sig(o), tanh(g)
    memory = f * memory + i * g
    return o * tanh(memory), memory


def reference(core: GridLSTM, x: torch.Tensor, layers: int):
    """The 2-D grid block by block: (l, t) reads time from (l, t-1) and depth from (l-1, t)."""
    zeros = lambda: torch.zeros(x.size(0), H, dtype=x.dtype)  # noqa: E731
    h_time, m_time = [zeros() for _ in range(layers)], [zeros() for _ in range(layers)]
    outputs = []
    for t in range(x.size(1)):
        h_depth, m_depth = x[:, t], zeros()  # the bottom block's depth input: the character, no memory
        for layer in range(layers):
            new_time = lstm_transform(h_time[layer], h_depth, m_time[layer], dimension_weights(core, layer, "time"))
            h_depth, m_depth = lstm_transform(h_time[layer], h_depth, m_depth, dimension_weights(core, layer, "depth"))
            h_time[layer], m_time[layer] = new_time
        outputs.append(h_depth)
    return torch.stack(outputs, dim=1), torch.stack(h_time), torch.stack(m_time)


def test_the_core_computes_the_papers_equations():
    for layers in (2, 3):
        core = make(layers)
        x = torch.randn(B, T, E, dtype=torch.float64)
        output, state = core(x)
        expected_output, expected_h_time, expected_m_time = reference(core, x, layers)
        assert torch.allclose(output, expected_output, atol=1e-10, rtol=0)
        assert torch.allclose(state[0][-1], output[:, -1], atol=0)       # part 0: each layer's output
        assert torch.allclose(state[1], expected_m_time, atol=1e-10, rtol=0)  # part 1: the memory along time
        assert torch.allclose(state[2], expected_h_time, atol=1e-10, rtol=0)


def test_gradients_pass_gradcheck():
    core = make(2, hidden=3)
    names = [name for name, _ in core.named_parameters()]
    weights = [p.detach().clone().requires_grad_() for p in core.parameters()]
    x = torch.randn(2, 3, E, dtype=torch.float64, requires_grad=True)
    state = [torch.randn_like(part, requires_grad=True) for part in core.initial_state(2)]

    def run(x, *args):
        params, initial = args[:len(names)], args[len(names):]
        output, final = torch.func.functional_call(core, dict(zip(names, params)), (x, tuple(initial)))
        return (output, *final)

    assert torch.autograd.gradcheck(run, (x, *weights, *state))


def test_stepping_one_character_at_a_time_equals_reading_the_window():
    torch.manual_seed(1)
    model = CharRNN(ModelConfig(vocab_size=11, cell="grid", num_layers=3, hidden_size=8, embedding_dim=5,
                                dropout=0.3)).eval()
    ids = torch.randint(0, 11, (3, 12))
    with torch.no_grad():
        logits, state = model(ids)
        stepper = Stepper(model)
        step_state = stepper.initial_state(3)
        stepped, gates = [], []
        for t in range(12):
            layers: list[dict] = []
            stepped.append(stepper.step(ids[:, t], step_state, layers))
            gates.append(layers)
    assert torch.allclose(torch.stack(stepped, dim=1), logits, atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(stepper.to_state(step_state), state))
    assert step_state.c is step_state.parts[1] and len(gates[-1]) == 3
    assert set(gates[-1][0]) == set(GridLSTM.gate_names)


def test_forget_bias_sets_both_dimensions_and_chrono_only_time():
    model = CharRNN(ModelConfig(vocab_size=5, cell="grid", num_layers=2, hidden_size=6, forget_bias=2.5))
    assert all((model.core.gate_bias(layer, gate) == 2.5).all() for layer in range(2)
               for gate in ("forget", "depth-forget"))
    chrono = CharRNN(ModelConfig(vocab_size=5, cell="grid", num_layers=2, hidden_size=6, chrono_init=100))
    assert torch.equal(chrono.core.gate_bias(1, "input"), -chrono.core.gate_bias(1, "forget"))
    assert chrono.core.gate_bias(1, "depth-forget").abs().max() <= 1 / 6 ** 0.5   # uniform init, untouched


def copy_time_weights(core: GridLSTM, lstm: nn.LSTM) -> None:
    """An nn.LSTM with the grid's time-dimension weights (nn.LSTM packs i, f, g, o; its second bias zero)."""
    with torch.no_grad():
        for layer in range(core.num_layers):
            rows = [slice(core.gate_order.index(g) * H, (core.gate_order.index(g) + 1) * H)
                    for g in ("input", "forget", "cell", "output")]
            getattr(lstm, f"weight_ih_l{layer}").copy_(torch.cat([core.weight_ih[layer][r] for r in rows]))
            getattr(lstm, f"weight_hh_l{layer}").copy_(torch.cat([core.weight_hh[layer][r] for r in rows]))
            getattr(lstm, f"bias_ih_l{layer}").copy_(torch.cat([core.bias[layer][r] for r in rows]))
            getattr(lstm, f"bias_hh_l{layer}").zero_()


def test_one_layer_is_an_lstm_in_time_with_a_gated_read_out_and_two_layers_are_not():
    x = torch.randn(B, T, E, dtype=torch.float64)
    core = make(1)
    lstm = nn.LSTM(E, H, 1, batch_first=True).double()
    copy_time_weights(core, lstm)
    output, state = core(x)
    lstm_output, (h, c) = lstm(x)
    # Along time, one grid layer is exactly an LSTM on the characters ...
    assert torch.allclose(state[2], h, atol=1e-12) and torch.allclose(state[1], c, atol=1e-12)
    # ... and its output o^d ⊙ tanh(i^d ⊙ C̃^d) reads [h_{t-1}, x_t]: no depth memory, so the depth forget
    # gate does nothing, and the output is not the LSTM's h_t.
    h_previous = torch.cat([torch.zeros_like(lstm_output[:, :1]), lstm_output[:, :-1]], dim=1)
    w_time, w_depth, b = dimension_weights(core, 0, "depth")
    i, _, o, g = (h_previous @ wt.T + x @ wd.T + bias for wt, wd, bias in zip(w_time, w_depth, b))
    assert torch.allclose(output, sig(o) * tanh(sig(i) * tanh(g)), atol=1e-12)
    assert not torch.allclose(output, lstm_output, atol=1e-3)
    with torch.no_grad():
        core.gate_bias(0, "depth-forget").add_(5.0)
    assert torch.equal(core(x)[0], output)

    # Two layers: the upper layer reads the lower's depth output, not the LSTM's h, and carries C^depth up.
    deep = make(2)
    lstm = nn.LSTM(E, H, 2, batch_first=True).double()
    copy_time_weights(deep, lstm)
    deep_output, state = deep(x)
    _, (h, c) = lstm(x)
    assert torch.allclose(state[1][0], c[0], atol=1e-12)                   # the bottom layer's time LSTM
    assert not torch.allclose(state[1][1], c[1], atol=1e-3)                # the upper one's differs
    with torch.no_grad():
        deep.gate_bias(1, "depth-forget").add_(5.0)                         # now C^depth from below matters
    assert not torch.allclose(deep(x)[0], deep_output, atol=1e-3)


def test_parameters_are_twice_an_lstms_gates_per_unit():
    config = ModelConfig(vocab_size=7, cell="grid", num_layers=2, hidden_size=10, embedding_dim=5)
    core = CharRNN(config).core
    assert sum(p.numel() for p in core.parameters()) == 8 * 10 * (5 + 10 + 1) + 8 * 10 * (10 + 10 + 1)
