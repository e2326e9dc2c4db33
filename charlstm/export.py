"""A model's step for other runtimes: TorchScript (``torch.jit.load``) or ONNX (onnxruntime), without charlstm.

The exported step is one step of the network: ``logits, h, c = step(ids, h, c)`` with ``ids`` (B,) int64
character ids and the state as two (L, B, H) float32 tensors (an LSTM's h and c; a GRU or RNN ignores c
and returns it unchanged). It holds the vocabulary too (the characters in id order, and the id a text is
read after), so a script can sample with nothing but torch:

    import torch
    step = torch.jit.load("model.ts")                       # no charlstm needed
    vocab, (layers, hidden) = list(step.vocab), step.shape
    h = c = torch.zeros(layers, 1, hidden)
    for i in [step.start] + [vocab.index(ch) for ch in "I grew up in Japan. "]:
        logits, h, c = step(torch.tensor([i]), h, c)
    text = ""
    for _ in range(40):
        i = int(torch.multinomial(torch.softmax(logits[0] / 0.8, -1), 1))
        text += vocab[i]
        logits, h, c = step(torch.tensor([i]), h, c)
    print(text)

or with onnxruntime and numpy (``--format onnx``, which needs ``pip install 'charlstm[export]'``; the
vocabulary is in the model's metadata):

    import json, numpy as np, onnxruntime
    session = onnxruntime.InferenceSession("model.onnx")
    meta = session.get_modelmeta().custom_metadata_map
    vocab, (layers, hidden) = json.loads(meta["vocab"]), json.loads(meta["shape"])
    h = c = np.zeros((layers, 1, hidden), np.float32)
    for i in [int(meta["start"])] + [vocab.index(ch) for ch in "I grew up in Japan. "]:
        logits, h, c = session.run(None, {"ids": np.array([i]), "h": h, "c": c})
    text, rng = "", np.random.default_rng(0)
    for _ in range(40):
        p = np.exp((logits[0] - logits[0].max()) / 0.8)
        i = int(rng.choice(len(p), p=p / p.sum()))
        text += vocab[i]
        logits, h, c = session.run(None, {"ids": np.array([i]), "h": h, "c": c})
    print(text)

Only PyTorch's fused cells (lstm, gru, rnn) export; the step is the one ``charlstm.stepper`` takes, and
``tests/test_export.py`` holds the two to 1e-5.
"""

# No ``from __future__ import annotations`` here: TorchScript reads the class's annotations as types.
import io
import json
import warnings
from pathlib import Path

import torch
from torch import nn

from charlstm.checkpoint import write_bytes_atomically
from charlstm.errors import ConfigError
from charlstm.model import CharRNN
from charlstm.sample import start_id
from charlstm.vocab import Vocab

EXPORTABLE = ("lstm", "gru", "rnn")
FORMATS = {"torchscript": "model.ts", "onnx": "model.onnx"}   # format -> default file name


class Step(nn.Module):
    """One character through every layer and the head, on the model's own weights."""

    cell: str
    vocab: list[str]
    start: int
    shape: list[int]

    def __init__(self, model: CharRNN, vocab: Vocab):
        super().__init__()
        config, core = model.config, model.core
        self.cell = config.cell
        self.embedding = nn.Parameter(model.embedding.weight.detach().clone(), requires_grad=False)
        head = model.head.weight.detach()
        if model.projection is not None:
            head = head @ model.projection.weight.detach()
        self.head = nn.Parameter(head.clone(), requires_grad=False)
        self.head_bias = nn.Parameter(model.head.bias.detach().clone(), requires_grad=False)
        self.w_ih = nn.ParameterList([nn.Parameter(getattr(core, f"weight_ih_l{i}").detach().clone(), requires_grad=False)
                                      for i in range(config.num_layers)])
        self.w_hh = nn.ParameterList([nn.Parameter(getattr(core, f"weight_hh_l{i}").detach().clone(), requires_grad=False)
                                      for i in range(config.num_layers)])
        self.b_ih = nn.ParameterList([nn.Parameter(getattr(core, f"bias_ih_l{i}").detach().clone(), requires_grad=False)
                                      for i in range(config.num_layers)])
        self.b_hh = nn.ParameterList([nn.Parameter(getattr(core, f"bias_hh_l{i}").detach().clone(), requires_grad=False)
                                      for i in range(config.num_layers)])
        self.vocab = list(vocab.chars)
        self.start = start_id(vocab)
        self.shape = [config.num_layers, config.hidden_size]

    def forward(self, ids: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        x = self.embedding[ids]
        hs, cs = [], []
        for layer, (w_ih, w_hh, b_ih, b_hh) in enumerate(zip(self.w_ih, self.w_hh, self.b_ih, self.b_hh)):
            if self.cell == "lstm":
                x, new_c = torch.lstm_cell(x, (h[layer], c[layer]), w_ih, w_hh, b_ih, b_hh)
                cs.append(new_c)
            elif self.cell == "gru":
                x = torch.gru_cell(x, h[layer], w_ih, w_hh, b_ih, b_hh)
                cs.append(c[layer])
            else:
                x = torch.rnn_tanh_cell(x, h[layer], w_ih, w_hh, b_ih, b_hh)
                cs.append(c[layer])
            hs.append(x)
        logits = torch.addmm(self.head_bias, x, self.head.t())
        return logits, torch.stack(hs), torch.stack(cs)


def export_step(model: CharRNN, vocab: Vocab, out: Path | str, format: str = "torchscript") -> Path:
    """The model's step as a TorchScript or ONNX file (written whole or not at all)."""
    if format not in FORMATS:
        raise ConfigError(f"--format must be {' or '.join(FORMATS)}, not {format!r}")
    if model.config.cell not in EXPORTABLE:
        raise ConfigError(f"export runs PyTorch's fused cells ({', '.join(EXPORTABLE)}); a {model.config.cell} "
                          f"cell has no export yet")
    if model.config.attention_memory:
        raise ConfigError("export runs the recurrent step alone; a model with --attention-memory has no export yet")
    step = Step(model.cpu().eval(), vocab)
    data = _torchscript(step) if format == "torchscript" else _onnx(step)
    return write_bytes_atomically(Path(out), data)


def _torchscript(step: Step) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():   # torch 2.x calls TorchScript deprecated; torch.jit.load still runs it
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(step), buffer)
    return buffer.getvalue()


def _onnx(step: Step) -> bytes:
    """Traced by torch's TorchScript-based ONNX exporter (no onnxscript needed), any batch size; the
    vocabulary, start id, shape and cell go in the model's metadata."""
    try:
        import onnx
    except ImportError:
        raise ConfigError("--format onnx needs the onnx package: pip install 'charlstm[export]'") from None
    layers, hidden = step.shape
    example = (torch.zeros(1, dtype=torch.long), torch.zeros(layers, 1, hidden), torch.zeros(layers, 1, hidden))
    batch = {"ids": {0: "batch"}, "h": {1: "batch"}, "c": {1: "batch"}, "logits": {0: "batch"},
             "h_out": {1: "batch"}, "c_out": {1: "batch"}}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(step, example, buffer, input_names=["ids", "h", "c"],
                          output_names=["logits", "h_out", "c_out"], dynamic_axes=batch, dynamo=False)
    proto = onnx.load_from_string(buffer.getvalue())
    for key, value in {"vocab": json.dumps(step.vocab), "start": str(step.start), "shape": json.dumps(step.shape),
                       "cell": step.cell}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()
