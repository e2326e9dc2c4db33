"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): gates that read the input alone, so a
whole window is one parallel scan instead of a loop over time.

With no h_{t-1} inside the gates or the candidate, every step is h_t = a_t ⊙ h_{t-1} + b_t with a_t, b_t
known from x_t alone, for all t at once. The paper's "minimal" versions, with its positive activation
g(x) = x + 0.5 for x ≥ 0, σ(x) below (so h̃ > 0, and no tanh):
    minGRU:   z_t = σ(W_z·x_t + b_z);  h̃_t = g(W_h·x_t + b_h);  h_t = (1 − z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t
    minLSTM:  f_t = σ(W_f·x_t + b_f);  i_t = σ(W_i·x_t + b_i);  h̃_t = g(W_h·x_t + b_h)
              f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t);  h_t = f'_t ⊙ h_{t-1} + i'_t ⊙ h̃_t
Both are h_t = (1 − w_t) ⊙ h_{t-1} + w_t ⊙ h̃_t with a write share w_t = σ(r_t): r = W_z·x + b_z for minGRU,
r = log i − log f = softplus(−pre_f) − softplus(−pre_i) for minLSTM (i' = σ(log i − log f), which never
divides 0 by 0 where both gates underflow).

A window is solved in log space, as in the paper (Heinsen's scan): with a* = cumsum(log a),
    h_t = exp(a*_t) ⊙ h_0 + exp(a*_t + logcumsumexp(log b − a*)_t)
log b = logsigmoid(r) + log g(pre_h) and log a = logsigmoid(−r) = logsigmoid(r) − r, so b > 0 and its
logarithm always exists. The carried h_0 enters as its own linear term rather than as the first term of
the logcumsumexp: the same sum, but h_0 needs no logarithm, so any carried state works (zeros fresh, or a
unit clamped below 0). In float32 the sums in log space cost about |a*_t|·2^-24 of h_t's precision, which
grows with the window (a step loop's error does not). The gradient runs the recurrence backwards, in
linear space (``_Scan``). With right-padded rows, each row's final state is read at its own last character.
Sampling and probes step one character with the sequential form (``cell``); a test holds the two together.

Per layer one input projection, rows for each gate and the candidate: minGRU 2H·(in + 1) parameters,
minLSTM 3H·(in + 1) (in = E at layer 0, H above), and no recurrent matrix, so ``compare`` gives them far
more units than an LSTM at equal parameters. Weights start as nn.Linear's (U(±1/√in), the paper's layers).
Layers stack as charlstm's plain stack, with the core's dropout between them; the paper's language models
add residual connections, normalisation and an MLP per layer, which are not here. The state is (h,) per
layer: no cell state, so --forget-bias, --chrono-init and the units suite do not apply.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from charlstm.cells.base import CustomCore, StateTuple


def g(x: torch.Tensor) -> torch.Tensor:
    """The paper's positive activation: x + 0.5 for x ≥ 0, σ(x) below (continuous at 0, always > 0)."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: torch.Tensor) -> torch.Tensor:
    """log g(x), without forming g where σ(x) would underflow."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), F.logsigmoid(x))


def scan(log_a: torch.Tensor, log_b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """h_t = a_t ⊙ h_{t-1} + b_t for every t at once: log_a, log_b (B, T, H) along dim 1, h0 (B, H) of any
    sign -> h (B, T, H)."""
    return _Scan.apply(log_a, log_b, h0)


class _Scan(torch.autograd.Function):
    """Forward in log space (the paper's cumsum and logcumsumexp). Backward is the same recurrence run
    backwards on the gradient G of h: g_t = G_t + a_{t+1} ⊙ g_{t+1}, then ∂/∂log b_t = g_t ⊙ b_t,
    ∂/∂log a_t = g_t ⊙ a_t ⊙ h_{t-1} and ∂/∂h_0 = a_1 ⊙ g_1. G has either sign, so g has no logarithm: it is
    solved in linear space by doubling (``_reverse_scan``): cheaper than autograd's way back through
    logcumsumexp, which takes two more of them, over the positive and the negative parts of G."""

    @staticmethod
    def forward(ctx, log_a, log_b, h0):
        a_star = torch.cumsum(log_a, dim=1)                  # log(a_1 ⋯ a_t) ≤ 0
        h = torch.exp(a_star + torch.logcumsumexp(log_b - a_star, dim=1))
        h = torch.addcmul(h, torch.exp(a_star), h0.unsqueeze(1))
        ctx.save_for_backward(log_a, log_b, h, h0)
        return h

    @staticmethod
    def backward(ctx, grad):
        log_a, log_b, h, h0 = ctx.saved_tensors
        a = torch.exp(log_a)
        adjoint = _reverse_scan(torch.cat([a[:, 1:], torch.zeros_like(a[:, :1])], dim=1), grad)   # g_t
        previous = torch.cat([h0.unsqueeze(1), h[:, :-1]], dim=1)
        return adjoint * a * previous, adjoint * torch.exp(log_b), a[:, 0] * adjoint[:, 0]


def _reverse_scan(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """g_t + a_t ⊙ g_{t+1} + a_t ⊙ a_{t+1} ⊙ g_{t+2} + ... for every t, along dim 1, in ⌈log2 T⌉ rounds that
    each add the block of the next d steps (Hillis & Steele), written into two buffers in turn (the inputs
    are left as they are). The products of a only shrink (a ≤ 1), and underflow only where their terms no
    longer matter."""
    steps, d, done = g.size(1), 1, 0
    g_buffers = [torch.empty_like(g, memory_format=torch.contiguous_format) for _ in range(2)]
    a_buffers = [torch.empty_like(a, memory_format=torch.contiguous_format) for _ in range(2)]
    while d < steps:
        g_new, a_new = g_buffers[done % 2], a_buffers[done % 2]
        torch.addcmul(g[:, :-d], a[:, :-d], g[:, d:], out=g_new[:, :-d])
        g_new[:, -d:] = g[:, -d:]
        if 2 * d < steps:   # the last round needs no products for a next one
            torch.mul(a[:, :-d], a[:, d:], out=a_new[:, :-d])
            a_new[:, -d:] = a[:, -d:]
        g, a, d, done = g_new, a_new, 2 * d, done + 1
    return g


class MinimalCore(CustomCore):
    rows = 2   # projected rows per unit: the gates', then the candidate's

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__(input_size, hidden_size, num_layers, dropout)
        inputs = [input_size] + [hidden_size] * (num_layers - 1)
        self.weight_ih = nn.ParameterList(nn.Parameter(torch.empty(self.rows * hidden_size, size)) for size in inputs)
        self.bias = nn.ParameterList(nn.Parameter(torch.empty(self.rows * hidden_size)) for _ in inputs)
        with torch.no_grad():   # nn.Linear's initialisation: U(-1/sqrt(in), 1/sqrt(in)), bias too
            for weight, bias in zip(self.weight_ih, self.bias):
                bound = 1 / math.sqrt(weight.size(1))
                weight.uniform_(-bound, bound)
                bias.uniform_(-bound, bound)

    def state_widths(self) -> tuple[int, ...]:
        return (self.hidden_size,)

    def project(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight_ih[layer], self.bias[layer])

    def recurrent(self, layer: int) -> tuple[torch.Tensor, ...]:
        return ()   # nothing recurrent to arrange: the gates read x_t alone

    def write_logit(self, pre: torch.Tensor) -> torch.Tensor:
        """r with write share w = σ(r), from the gates' pre-activations (every row but the candidate's)."""
        raise NotImplementedError

    def named_gates(self, write: torch.Tensor, candidate: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def cell(self, layer, projected, state: StateTuple, weights, below):
        """The sequential form, one step: h_t = (1 − w) ⊙ h_{t-1} + w ⊙ h̃."""
        (h,) = state
        pre = projected.to(h.dtype)
        hidden = self.hidden_size
        write, candidate = torch.sigmoid(self.write_logit(pre[:, :-hidden])), g(pre[:, -hidden:])
        h = torch.lerp(h, candidate, write)
        return h, (h,), self.named_gates(write, candidate)

    def forward(self, x: torch.Tensor, state: StateTuple | None = None,
                lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, StateTuple]:
        """Every layer's window in one scan (``scan``), batch first throughout. With ``lengths``, each row's
        final state is its h at its own last character (what follows in the row is padding)."""
        (h0,) = state if state is not None else self.initial_state(x.size(0), x.device)
        hidden, output, finals = self.hidden_size, x, []
        for layer in range(self.num_layers):
            if layer:
                output = self.dropout(output, time_dim=1)
            pre = self.project(layer, output).to(h0.dtype)    # the scan in the state's precision (not bf16)
            gates, candidate = pre.split([pre.size(-1) - hidden, hidden], dim=-1)
            r = self.write_logit(gates)
            log_write = F.logsigmoid(r)
            output = scan(log_write - r, log_write + log_g(candidate), h0[layer])
            if lengths is None:
                finals.append(output[:, -1])
            else:
                last = (lengths.to(x.device) - 1).clamp(min=0)
                final = output[torch.arange(x.size(0), device=x.device), last]
                finals.append(torch.where((lengths.to(x.device) > 0)[:, None], final, h0[layer]))
        return output, (torch.stack(finals),)


class MinGRU(MinimalCore):
    rows = 2   # update z, candidate h̃
    gate_names = ("update", "candidate")

    def write_logit(self, pre):
        return pre                                     # z = σ(pre_z)

    def named_gates(self, write, candidate):
        return {"update": write, "candidate": candidate}


class MinLSTM(MinimalCore):
    rows = 3   # forget f, input i, candidate h̃
    # The normalised gates f', i' (what multiply h_{t-1} and h̃; i' = 1 − f'), and the candidate.
    gate_names = ("forget", "input", "cell")

    def write_logit(self, pre):
        pre_f, pre_i = pre.chunk(2, dim=-1)
        return F.softplus(-pre_f) - F.softplus(-pre_i)  # log i − log f, so i' = i / (f + i) = σ(that)

    def named_gates(self, write, candidate):
        return {"forget": 1 - write, "input": write, "cell": candidate}
