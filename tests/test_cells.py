"""The custom cells against hand-written transcriptions of their equations, gradcheck, and their paths."""

from __future__ import annotations

import pytest
import torch

from charlstm.cells import CUSTOM_CELLS
from charlstm.cells.clockwork import module_sizes
from charlstm.config import MEMORY_CELLS, ModelConfig
from charlstm.errors import ConfigError
from charlstm.model import CharRNN
from charlstm.stepper import Stepper
from tests.conftest import stepped_logits

E, H, L, B, T = 3, 4, 2, 2, 9
CELLS = list(CUSTOM_CELLS)


def make(cell: str, dtype=torch.float32, layers: int = L, hidden: int = H, **extra):
    torch.manual_seed(0)
    kwargs = {"modules": 3} if cell == "clockwork" else {}
    core = CUSTOM_CELLS[cell](E, hidden, layers, 0.0, **{**kwargs, **extra}).to(dtype)
    with torch.no_grad():  # weights of order 1, so every term of the equations matters
        for parameter in core.parameters():
            parameter.normal_(0, 0.7)
    return core.eval()


sig, tanh = torch.sigmoid, torch.tanh


def split(tensor, parts):
    return tensor.chunk(parts, dim=-1)


def reference(cell: str, core, x):
    """The equations of each cell, written out directly from the papers, one step and one layer at a time."""
    h = [torch.zeros(x.size(0), H, dtype=x.dtype) for _ in range(L)]
    c = [torch.zeros(x.size(0), H, dtype=x.dtype) for _ in range(L)]
    outputs = []
    for t in range(x.size(1)):
        inp = x[:, t]
        new_c = []
        for layer in range(L):
            w_x, w_h = core.weight_ih[layer], core.weight_hh[layer]
            b = core.bias[layer]
            if cell == "clockwork":
                periods = torch.tensor([2 ** k for k, size in enumerate(module_sizes(H, 3)) for _ in range(size)])
                w_h_masked = torch.stack([torch.stack([w_h[i, j] if periods[j] >= periods[i] else torch.zeros((), dtype=x.dtype)
                                                       for j in range(H)]) for i in range(H)])
                candidate = tanh(inp @ w_x.T + h[layer] @ w_h_masked.T + b)
                h[layer] = torch.where(t % periods == 0, candidate, h[layer])
            else:
                z = inp @ w_x.T + b
                z_gates, z_depth = z[:, :4 * H], z[:, 4 * H:]
                if cell == "coupled":
                    zf, zg, zo = split(z_gates[:, :3 * H] + h[layer] @ w_h.T, 3)
                    f, g, o = sig(zf), tanh(zg), sig(zo)
                    c_new = f * c[layer] + (1 - f) * g
                else:
                    zi, zf, zg, zo = split(z_gates + h[layer] @ w_h.T, 4)
                    if cell == "peephole":
                        p_i, p_f, p_o = core.peephole[layer]
                        i, f = sig(zi + p_i * c[layer]), sig(zf + p_f * c[layer])
                        c_new = f * c[layer] + i * tanh(zg)
                        o = sig(zo + p_o * c_new)
                    else:  # depth-gated
                        i, f, o = sig(zi), sig(zf), sig(zo)
                        c_new = f * c[layer] + i * tanh(zg)
                        if layer > 0:
                            p_d, q_d = core.depth[layer - 1]
                            d = sig(z_depth + p_d * c[layer] + q_d * new_c[layer - 1])
                            c_new = c_new + d * new_c[layer - 1]
                new_c.append(c_new)
                c[layer] = c_new
                h[layer] = o * tanh(c_new)
            inp = h[layer]
        outputs.append(inp)
    return torch.stack(outputs, dim=1), torch.stack(h), torch.stack(c)


# grid: tests/test_grid.py; mingru, minlstm: tests/test_minimal.py
@pytest.mark.parametrize("cell", [cell for cell in CELLS if cell not in ("grid", "mingru", "minlstm")])
def test_each_cell_computes_its_equations(cell):
    core = make(cell)
    x = torch.randn(B, T, E)
    output, state = core(x)
    expected_output, expected_h, expected_c = reference(cell, core, x)
    assert torch.allclose(output, expected_output, atol=1e-5)
    assert torch.allclose(state[0], expected_h, atol=1e-5)
    if cell in MEMORY_CELLS:
        assert torch.allclose(state[1], expected_c, atol=1e-5)
    else:  # the clockwork's clock: T steps taken, modulo its longest period (4)
        assert (state[1] == T % 4).all()


@pytest.mark.parametrize("cell", CELLS)
def test_gradients_pass_gradcheck(cell):
    """In float64, every parameter's, the input's and the initial state's gradient matches finite differences."""
    core = make(cell, torch.float64, hidden=3)
    names = [name for name, _ in core.named_parameters()]
    weights = [p.detach().clone().requires_grad_() for p in core.parameters()]
    x = torch.randn(2, 5, E, dtype=torch.float64, requires_grad=True)
    initial = core.initial_state(2)
    h0 = torch.randn_like(initial[0], requires_grad=True)
    # The clockwork's second state tensor is its clock, a counter: it gets no gradient.
    rest = (initial[1] + 1,) if cell == "clockwork" else tuple(torch.randn_like(part, requires_grad=True)
                                                                for part in initial[1:])
    differentiable = rest if cell != "clockwork" else ()

    def run(x, h0, *args):
        params, state_rest = args[:len(names)], args[len(names):] or rest
        output, state = torch.func.functional_call(core, dict(zip(names, params)), (x, (h0, *state_rest)))
        return output, state[0]

    assert torch.autograd.gradcheck(run, (x, h0, *weights, *differentiable))


@pytest.mark.parametrize("cell", CELLS)
def test_the_whole_sequence_equals_the_step_by_step_path(cell):
    core = make(cell)
    x = torch.randn(B, T, E)
    output, state = core(x)
    stepped, outputs = core.initial_state(B), []
    for t in range(T):
        out, stepped, gates = core.step(x[:, t], stepped)
        outputs.append(out)
        assert all(set(core.gate_names) >= set(layer) for layer in gates)
    assert torch.allclose(torch.stack(outputs, dim=1), output, atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(stepped, state))


def test_a_slow_clockwork_module_keeps_its_state_between_its_ticks():
    core = make("clockwork", layers=1, hidden=7)   # modules of 3, 2, 2 units with periods 1, 2, 4
    x = torch.randn(1, 12, E)
    state, history = core.initial_state(1), []
    for t in range(12):
        _, state, gates = core.step(x[:, t], state)
        history.append(state[0][0, 0])
        assert gates[0]["active"][0].tolist() == [1.0] * 3 + [float(t % 2 == 0)] * 2 + [float(t % 4 == 0)] * 2
    slow, middle, fast = [torch.stack(history)[:, units] for units in (slice(5, 7), slice(3, 5), slice(0, 3))]
    for t in range(1, 12):
        assert torch.equal(slow[t], slow[t - 1]) == (t % 4 != 0)       # changes only when 4 divides t
        assert torch.equal(middle[t], middle[t - 1]) == (t % 2 != 0)
        assert not torch.equal(fast[t], fast[t - 1])


def test_slow_clockwork_modules_do_not_hear_fast_ones():
    core = make("clockwork", layers=1, hidden=7)
    weights = core.recurrent(0)[0].t()                  # rows receive, columns send
    periods = core.periods
    assert ((weights != 0) == (periods[None, :] >= periods[:, None])).all()


@pytest.mark.parametrize("cell", CELLS)
def test_padded_rows_end_in_their_own_state(cell):
    """``lengths``: a row's state stops at its own last character, as packed sequences do for nn.LSTM."""
    core = make(cell)
    x = torch.randn(3, 8, E)
    lengths = torch.tensor([8, 3, 5])
    _, state = core(x, None, lengths)
    for row, length in enumerate(lengths.tolist()):
        _, alone = core(x[row:row + 1, :length])
        assert all(torch.allclose(s[:, row], a[:, 0], atol=1e-6) for s, a in zip(state, alone))


@pytest.mark.parametrize("cell", CELLS)
def test_the_model_steps_as_it_reads_on_every_cell(cell):
    """Sampling's fast Stepper and the model's forward agree for each cell, dropout configured or not."""
    torch.manual_seed(1)
    model = CharRNN(ModelConfig(vocab_size=11, cell=cell, num_layers=2, hidden_size=8, embedding_dim=5, dropout=0.3,
                                clockwork_modules=3, tie_weights=True)).eval()
    ids = torch.randint(0, 11, (3, 10))
    with torch.no_grad():
        logits, state = model(ids)
        stepper = Stepper(model)
        step_state = stepper.initial_state(3)
        stepped = stepped_logits(stepper, ids, step_state)
    assert torch.allclose(stepped, logits, atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(stepper.to_state(step_state), state))


def test_cell_options_are_checked():
    with pytest.raises(ConfigError, match="--chrono-init sets the forget-gate biases of lstm, .*, not of a clockwork cell"):
        ModelConfig(vocab_size=5, cell="clockwork", chrono_init=50)
    with pytest.raises(ConfigError, match="--clockwork-modules"):
        ModelConfig(vocab_size=5, cell="clockwork", hidden_size=4, clockwork_modules=5)
    assert ModelConfig(vocab_size=5, cell="lstm", hidden_size=4).clockwork_modules == 8   # ignored by other cells
    with pytest.raises(ConfigError, match="--cell must be one of lstm, gru, rnn, peephole, coupled, depth-gated, clockwork"):
        ModelConfig(vocab_size=5, cell="mogrifier")


@pytest.mark.parametrize("cell", ["peephole", "coupled", "depth-gated", "grid"])
def test_forget_bias_and_chrono_reach_custom_cells(cell):
    model = CharRNN(ModelConfig(vocab_size=5, cell=cell, num_layers=2, hidden_size=6, forget_bias=2.5))
    assert all((model.core.gate_bias(layer, "forget") == 2.5).all() for layer in range(2))
    torch.manual_seed(0)
    chrono = CharRNN(ModelConfig(vocab_size=5, cell=cell, hidden_size=6, chrono_init=100))
    forget = chrono.core.gate_bias(0, "forget")
    assert (forget >= 0).all() and (forget <= torch.log(torch.tensor(99.0))).all() and forget.std() > 0.1
    if cell != "coupled":
        assert torch.equal(chrono.core.gate_bias(0, "input"), -forget)


# ------------------------------------------------------------------------------------ end to end, every cell

@pytest.fixture(scope="module")
def memory_corpus(tmp_path_factory):
    from charlstm.corpus import prepare_corpus

    return prepare_corpus(["builtin:memory:size=60k"], data_dir=tmp_path_factory.mktemp("data"))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", *CELLS])
def test_every_cell_trains_resumes_exactly_samples_evaluates_and_probes(cell, memory_corpus, tmp_path, monkeypatch):
    import json
    import threading

    from typer.testing import CliRunner

    from charlstm.cli import app
    from charlstm.train import Stepped, train
    from tests.conftest import TINY_TRAIN

    monkeypatch.chdir(tmp_path)
    model = {"cell": cell, "num_layers": 2, "hidden_size": 12, "embedding_dim": 6, "dropout": 0.1,
             "clockwork_modules": 3}
    config = {**TINY_TRAIN, "max_steps": 10, "eval_every": 4}
    torch.set_num_threads(1)
    straight = train(memory_corpus, tmp_path / "a", model_config=model, train_config=config)
    assert straight.step == 10 and straight.last_val_loss < straight.history[0]["train_loss"]
    stop = threading.Event()
    train(memory_corpus, tmp_path / "b", model_config=model, train_config=config, stop_event=stop,
          on_event=lambda e: stop.set() if isinstance(e, Stepped) and e.step == 6 else None)
    train(memory_corpus, tmp_path / "b", resume=True)
    a, b = (torch.load(tmp_path / run / "last.pt", weights_only=True) for run in "ab")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])          # bit for bit
    assert all(torch.equal(x, y) for x, y in zip(a["state"], b["state"]))
    tuned = train(memory_corpus, tmp_path / "c", init_from=tmp_path / "a" / "last.pt", train_config={**config, "max_steps": 2})
    assert tuned.step == 2

    runner = CliRunner()
    sampled = runner.invoke(app, ["sample", "a", "--length", "30", "--seed", "3", "--num-samples", "2", "--json"])
    assert sampled.exit_code == 0, sampled.output
    texts = [json.loads(line)["text"] for line in sampled.stdout.splitlines()]
    assert len(texts) == 2 and all(len(text) == 30 for text in texts)
    (tmp_path / "held_out.txt").write_text("I grew up in France. I speak fluent French.\n" * 5)
    evaluated = runner.invoke(app, ["eval", "a", "held_out.txt", "--json"])
    assert evaluated.exit_code == 0 and json.loads(evaluated.stdout)["chars"] > 0, evaluated.output
    info = runner.invoke(app, ["info", "a", "--json"])
    assert info.exit_code == 0 and json.loads(info.stdout)["model_config"]["cell"] == cell, info.output
    probed = runner.invoke(app, ["probe", "a", "--distances", "0,20", "--draws", "1", "--json"])
    assert probed.exit_code == 0, probed.output
    suites = json.loads(probed.stdout)
    has_memory_cell = cell in MEMORY_CELLS
    assert set(suites) == {"cue-swap", "forgetting"} | ({"units"} if has_memory_cell else set())
    if has_memory_cell:
        assert suites["units"]["units"][0]["forget_in_filler"] > 0
    else:
        refused = runner.invoke(app, ["probe", "a", "--suite", "units"])
        assert refused.exit_code == 1 and f"a {cell} cell has none" in refused.stderr


def test_a_clockwork_counts_only_the_weights_it_uses():
    model = CharRNN(ModelConfig(vocab_size=5, cell="clockwork", num_layers=2, hidden_size=7, clockwork_modules=3))
    stored = sum(p.numel() for p in model.parameters())
    masked = sum(int((model.core.connections == 0).sum()) for _ in range(2))
    assert model.num_parameters == stored - masked and masked == 2 * (2 * 3 + 2 * 3 + 2 * 2)
