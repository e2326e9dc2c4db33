"""minGRU and minLSTM: the parallel scan against the paper's equations stepped by hand, the window path against
the sampler's step path, carried and padded state, gradcheck, and a short run that learns."""

from __future__ import annotations

import pytest
import torch

from charlstm.cells.base import CustomCore
from charlstm.cells.minimal import MinGRU, MinLSTM, g, scan
from charlstm.config import ModelConfig
from charlstm.errors import ConfigError
from charlstm.model import CharRNN
from charlstm.stepper import Stepper

E, H, B, T = 3, 4, 2, 9
CORES = {"mingru": MinGRU, "minlstm": MinLSTM}
CELLS = list(CORES)
sig = torch.sigmoid


def make(cell: str, layers: int = 2, hidden: int = H, dtype=torch.float64):
    torch.manual_seed(0)
    core = CORES[cell](E, hidden, layers, 0.0).to(dtype)
    with torch.no_grad():  # weights of order 1, so every term of the equations matters
        for parameter in core.parameters():
            parameter.normal_(0, 0.9)
    return core.eval()


def reference(cell: str, core, x, h0):
    """The paper's sequential equations, one step and one layer at a time, from the weights' row blocks."""
    h = list(h0.unbind(0))
    outputs = []
    for t in range(x.size(1)):
        inp = x[:, t]
        for layer in range(core.num_layers):
            blocks = (inp @ core.weight_ih[layer].T + core.bias[layer]).chunk(core.rows, dim=-1)
            candidate = g(blocks[-1])
            if cell == "mingru":
                z = sig(blocks[0])
                h[layer] = (1 - z) * h[layer] + z * candidate
            else:
                f, i = sig(blocks[0]), sig(blocks[1])
                h[layer] = f / (f + i) * h[layer] + i / (f + i) * candidate
            inp = h[layer]
        outputs.append(inp)
    return torch.stack(outputs, dim=1), torch.stack(h)


def test_g_is_the_papers_positive_activation():
    x = torch.tensor([-30.0, -1.0, 0.0, 2.0])
    assert torch.allclose(g(x), torch.tensor([sig(torch.tensor(-30.0)).item(), sig(torch.tensor(-1.0)).item(), 0.5, 2.5]))
    assert (g(torch.linspace(-80, 80, 101)) > 0).all()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("layers", [1, 3])
def test_the_scan_computes_the_papers_equations_and_equals_the_step_loop(cell, layers):
    """float64, 1e-10: the log-space scan of a window, the paper's equations stepped by hand, and the generic
    step loop over ``cell`` (``CustomCore.forward``), from a carried state of either sign."""
    core = make(cell, layers)
    x = torch.randn(B, 40, E, dtype=torch.float64)
    h0 = torch.randn(layers, B, H, dtype=torch.float64)
    output, (h,) = core(x, (h0,))
    expected_output, expected_h = reference(cell, core, x, h0)
    looped, (looped_h,) = CustomCore.forward(core, x, (h0,))
    for got in (expected_output, looped):
        assert torch.allclose(output, got, atol=1e-10, rtol=0)
    for got in (expected_h, looped_h):
        assert torch.allclose(h, got, atol=1e-10, rtol=0)
    assert torch.equal(h[-1], output[:, -1])


def test_the_scan_solves_the_linear_recurrence():
    """h_t = a_t h_{t-1} + b_t from an h_0 of either sign, with a_t up to 1e-9 (log a down to about -20)."""
    log_a = torch.rand(2, 30, 3, dtype=torch.float64) * -20
    log_b = torch.randn(2, 30, 3, dtype=torch.float64)
    h0 = torch.randn(2, 3, dtype=torch.float64)
    h, expected = h0, []
    for t in range(30):
        h = log_a[:, t].exp() * h + log_b[:, t].exp()
        expected.append(h)
    assert torch.allclose(scan(log_a, log_b, h0), torch.stack(expected, dim=1), atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_the_model_steps_as_it_reads(cell):
    """float32: the model's window path (the scan) and the Stepper's one character at a time (``cell``)."""
    torch.manual_seed(1)
    model = CharRNN(ModelConfig(vocab_size=11, cell=cell, num_layers=3, hidden_size=8, embedding_dim=5, dropout=0.3,
                                tie_weights=True)).eval()
    ids = torch.randint(0, 11, (3, 20))
    with torch.no_grad():
        logits, state = model(ids)
        stepper = Stepper(model)
        step_state = stepper.initial_state(3)
        stepped, gates = [], []
        for t in range(20):
            layers: list[dict] = []
            stepped.append(stepper.step(ids[:, t], step_state, layers))
            gates.append(layers)
    assert torch.allclose(torch.stack(stepped, dim=1), logits, atol=1e-5)
    assert len(state) == 1 and all(torch.allclose(a, b, atol=1e-5) for a, b in zip(stepper.to_state(step_state), state))
    assert step_state.c is None and len(gates[-1]) == 3 and set(gates[-1][0]) == set(model.core.gate_names)
    for layer in gates[-1]:
        if cell == "minlstm":   # the normalised gates: what keeps h_{t-1} and what writes h̃ share 1
            assert torch.allclose(layer["forget"] + layer["input"], torch.ones(3, 8))
        assert (layer["candidate" if cell == "mingru" else "cell"] > 0).all()


@pytest.mark.parametrize("cell", CELLS)
def test_a_window_read_in_two_halves_with_the_state_carried_equals_one_window(cell):
    core = make(cell, 2, dtype=torch.float32)
    x = torch.randn(B, 24, E)
    whole, state = core(x)
    first, carried = core(x[:, :10])
    second, final = core(x[:, 10:], carried)
    assert torch.allclose(torch.cat([first, second], dim=1), whole, atol=1e-5)
    assert torch.allclose(final[0], state[0], atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_right_padded_rows_end_in_their_own_state(cell):
    core = make(cell, 2)
    x = torch.randn(4, 8, E, dtype=torch.float64)
    h0 = torch.randn(2, 4, H, dtype=torch.float64)
    lengths = torch.tensor([8, 3, 5, 1])
    output, (h,) = core(x, (h0,), lengths)
    _, (looped,) = CustomCore.forward(core, x, (h0,), lengths)   # the generic path freezes padded rows
    assert torch.allclose(h, looped, atol=1e-10, rtol=0)
    for row, length in enumerate(lengths.tolist()):
        alone, (h_alone,) = core(x[row:row + 1, :length], (h0[:, row:row + 1],))
        assert torch.allclose(h[:, row], h_alone[:, 0], atol=1e-10, rtol=0)
        assert torch.allclose(output[row, :length], alone[0], atol=1e-10, rtol=0)


@pytest.mark.parametrize("cell", CELLS)
def test_the_model_reads_right_padded_prompts_one_by_one(cell):
    """``CharRNN.final`` (probes' batched prompts): each row's logits after its own last character."""
    torch.manual_seed(2)
    model = CharRNN(ModelConfig(vocab_size=7, cell=cell, num_layers=2, hidden_size=6, embedding_dim=4)).eval()
    ids = torch.randint(0, 7, (3, 9))
    lengths = torch.tensor([9, 2, 6])
    with torch.no_grad():
        logits, _ = model.final(ids, lengths)
        for row, length in enumerate(lengths.tolist()):
            alone, _ = model(ids[row:row + 1, :length])
            assert torch.allclose(logits[row], alone[0, -1], atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_gradients_pass_gradcheck(cell):
    """float64: every parameter's, the input's and the carried state's gradient matches finite differences,
    over a whole window and over right-padded rows."""
    core = make(cell, 2, hidden=3)
    names = [name for name, _ in core.named_parameters()]
    weights = [p.detach().clone().requires_grad_() for p in core.parameters()]
    x = torch.randn(2, 5, E, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 2, 3, dtype=torch.float64, requires_grad=True)
    for lengths in (None, torch.tensor([5, 2])):
        def run(x, h0, *params):
            output, (h,) = torch.func.functional_call(core, dict(zip(names, params)), (x, (h0,), lengths))
            return output, h

        assert torch.autograd.gradcheck(run, (x, h0, *weights))


def test_parameters_are_one_input_projection_per_gate_and_candidate():
    for cell, rows in (("mingru", 2), ("minlstm", 3)):
        core = CharRNN(ModelConfig(vocab_size=7, cell=cell, num_layers=2, hidden_size=10, embedding_dim=5)).core
        assert sum(p.numel() for p in core.parameters()) == rows * 10 * (5 + 1) + rows * 10 * (10 + 1)


def test_min_lstm_keeps_its_normalised_gates_where_both_sigmoids_underflow():
    """f / (f + i) in float32 with f = i = σ(-200) = 0 would be 0/0; the cell takes σ(log f − log i)."""
    core = MinLSTM(1, 2, 1, 0.0).eval()
    with torch.no_grad():
        core.weight_ih[0].zero_()
        core.bias[0].copy_(torch.tensor([-200.0, -210.0, -200.0, -190.0, 1.0, 1.0]))   # f, f, i, i, h̃, h̃
    x = torch.zeros(1, 6, 1)
    output, (h,) = core(x)
    looped, _ = CustomCore.forward(core, x)
    assert torch.isfinite(output).all() and torch.allclose(output, looped, atol=1e-6)
    # unit 0: f = i, so h halves its distance to h̃ = 1.5 each step; unit 1: i ≫ f, h = h̃ at once
    assert torch.allclose(output[0, :, 0], 1.5 * (1 - 0.5 ** torch.arange(1, 7.0)), atol=1e-6)
    assert torch.allclose(output[0, :, 1], torch.full((6,), 1.5), atol=1e-4)


@pytest.mark.parametrize("cell", CELLS)
def test_forget_bias_leaves_them_alone_and_chrono_init_is_refused(cell):
    """No cell state: CharRNN never sets gate biases (``MEMORY_CELLS``), and --chrono-init says why."""
    def weights(**options):
        torch.manual_seed(0)
        return CharRNN(ModelConfig(vocab_size=5, cell=cell, hidden_size=6, **options)).state_dict()

    default, biased = weights(), weights(forget_bias=2.5)
    assert all(torch.equal(default[k], biased[k]) for k in default)
    with pytest.raises(ConfigError, match=f"--chrono-init sets the forget-gate biases of lstm, .*, not of a {cell} cell"):
        ModelConfig(vocab_size=5, cell=cell, chrono_init=50)


@pytest.mark.parametrize("cell", CELLS)
def test_a_short_run_learns_the_tiny_corpus(cell, corpus, tmp_path):
    from charlstm.train import train
    from tests.conftest import TINY_MODEL, TINY_TRAIN

    torch.set_num_threads(1)
    result = train(corpus, tmp_path / cell, model_config={**TINY_MODEL, "cell": cell, "hidden_size": 64},
                   train_config={**TINY_TRAIN, "max_steps": 150, "eval_every": 30, "lr": 1e-2})
    first = result.history[0]["train_loss"]   # about 3.1 nats/char at step 30; about 0.9 held out at 150
    assert result.last_val_loss < 0.5 * first, (first, result.history)


@pytest.mark.parametrize("cell", CELLS)
def test_under_bf16_autocast_the_scan_runs_in_the_states_precision(cell):
    """The projections may be bf16; the scan's logarithms and sums, and the carried state, stay float32."""
    model = CharRNN(ModelConfig(vocab_size=6, cell=cell, num_layers=2, hidden_size=8, embedding_dim=4)).eval()
    ids = torch.randint(0, 6, (2, 7))
    with torch.no_grad(), torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        logits, (h,) = model(ids)
    plain, (h_plain,) = model(ids)
    assert h.dtype == torch.float32 and torch.allclose(h, h_plain, atol=0.05)
