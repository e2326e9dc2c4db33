"""The model in a page: one self-contained HTML file that embeds a model's weights and runs its step in
JavaScript, so a person can type "I grew up in France." and any filler and watch the prediction, the
memory unit and its gates respond, character by character, in a file that opens anywhere.

The page keeps the report's promises (``charlstm.report.html``): it loads nothing (a Content-Security-Policy
of ``default-src 'none'``), every text it shows is escaped or set as text by its script, and it works from
``file://``. The step is the one ``charlstm.stepper`` takes for PyTorch's fused cells (lstm, gru, rnn), in
float64 on float32 weights; ``tests/test_playground.py`` checks the next-character distribution against
charlstm's to 1e-4 and the greedy continuation character for character, in headless Chromium. charlstm's own
cells (peephole, coupled, depth-gated, clockwork, grid, mingru, minlstm) are not run there: the page says so.

Weights are embedded as base64 float32 (``MAX_EMBEDDED`` parameters at most, 4 bytes each), so
``pretrained:memory-lstm`` makes a page of about 1.7 MB.
"""

from __future__ import annotations

import base64
from pathlib import Path

import torch

from charlstm.checkpoint import PRETRAINED, write_text_atomically
from charlstm.corpora import memory
from charlstm.errors import ConfigError
from charlstm.model import CharRNN
from charlstm.report.html import esc, json_data, page
from charlstm.sample import start_id
from charlstm.vocab import Vocab

PLAYGROUND_CELLS = ("lstm", "gru", "rnn")
# Beyond this many parameters (float32, base64: 5.3 bytes each) the page would pass ~50 MB and step too slowly
# to follow typing; it is then written without the model, saying so.
MAX_EMBEDDED = 10_000_000
DEFAULT_TEXT = memory.STORY_START + "I grew up in France. The old bridge was painted again. I speak fluent "


def encoded(tensor: torch.Tensor) -> str:
    return base64.b64encode(tensor.detach().float().contiguous().cpu().numpy().tobytes()).decode("ascii")


def model_data(model: CharRNN, vocab: Vocab) -> dict:
    """What the page's script needs: the configuration, the vocabulary and every weight (base64 float32),
    the head folded with a tied projection as the stepper does."""
    config, core = model.config, model.core
    head = model.head.weight.detach()
    if model.projection is not None:
        head = head @ model.projection.weight.detach()        # (V, H)
    layers = [{name: encoded(getattr(core, f"{name}_l{layer}"))
               for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")} for layer in range(config.num_layers)]
    return {"cell": config.cell, "layers": config.num_layers, "hidden": config.hidden_size,
            "embedding_dim": config.embedding_dim, "vocab": list(vocab.chars), "start": start_id(vocab),
            "embedding": encoded(model.embedding.weight), "weights": layers,
            "head": encoded(head), "head_bias": encoded(model.head.bias)}


def playground_page(model: CharRNN, vocab: Vocab, payload: dict, title: str, unit: tuple[int, int] | None = None,
                    text: str | None = None) -> str:
    """The page for ``model``; ``unit`` (layer, unit) is tinted first; ``text`` is typed in at the start."""
    cell, parameters = model.config.cell, model.num_parameters
    is_memory = (payload.get("corpus") or {}).get("name") == "memory"
    body = [f"<h1>{esc(title)}</h1>",
            f"<p class='dim'>{esc(cell)}, {model.config.num_layers} x {model.config.hidden_size}, "
            f"{parameters:,} parameters, running in this page: nothing is sent anywhere.</p>"]
    attends = bool(model.config.attention_memory)
    runs = cell in PLAYGROUND_CELLS and parameters <= MAX_EMBEDDED and not attends
    if not runs:
        why = (f"the playground runs {', '.join(PLAYGROUND_CELLS)} cells, and this model's is {cell}"
               if cell not in PLAYGROUND_CELLS else
               "the playground runs the recurrent step alone, and this model attends over its past" if attends else
               f"{parameters:,} parameters are more than the {MAX_EMBEDDED:,} a page embeds")
        return page(title, body + [f"<p id='unavailable'>The model is not embedded: {esc(why)}. "
                                   f"<code>charlstm sample</code> and <code>charlstm report</code> still work.</p>"])
    default_text = text if text is not None else (DEFAULT_TEXT if is_memory else "")
    languages = [f"{language}." for _, language in memory.COUNTRIES] if is_memory else []
    first = unit or (0, 0)
    body += [
        "<p><label for='text'>Type or paste (each character steps the model):</label></p>",
        f"<textarea id='text' rows='4' style='width:100%;font-family:monospace;font-size:14px'>{esc(default_text)}"
        "</textarea>",
        "<div class='charts'><div style='margin-right:3em'><h3>Next character</h3><table id='next'></table></div>",
        "<div style='margin-right:3em'><h3>Continuation</h3>"
        "<p><button id='greedy'>greedy</button> <button id='sample'>sample</button> "
        "<label>temperature <input id='temperature' type='number' value='0.8' step='0.1' min='0.05' "
        "style='width:4em'></label> <label>characters <input id='length' type='number' value='80' min='1' "
        "max='2000' style='width:5em'></label></p><div class='text sample' id='continuation'></div></div>",
        ("<div><h3>After \u201cI speak fluent \u201d</h3><table id='languages'></table></div>" if languages else ""),
        "</div>",
        "<h3>A unit over the text</h3>",
        f"<p><label>layer <input id='layer' type='number' min='0' max='{model.config.num_layers - 1}' "
        f"value='{first[0]}' style='width:4em'></label> <label>unit <input id='unit' type='number' min='0' "
        f"max='{model.config.hidden_size - 1}' value='{first[1]}' style='width:5em'></label> "
        f"<span class='dim'>each character tinted by the unit's {'cell state' if cell == 'lstm' else 'state'} "
        f"after it (red positive, blue negative); below, its gates.</span></p>",
        "<div class='text' id='tinted'></div><div id='gates'></div>",
        "<pre id='result' class='dim' style='display:none'></pre>",
        json_data("model", model_data(model, vocab)),
        json_data("language-answers", languages),
    ]
    return page(title, body, SCRIPT)


def write_playground(model: CharRNN, vocab: Vocab, payload: dict, out: Path, title: str,
                     unit: tuple[int, int] | None = None) -> Path:
    """The page, written whole or not at all."""
    return write_text_atomically(out, playground_page(model, vocab, payload, title, unit))


def playground_path(out: Path | None, source: str | Path | None, checkpoint: Path) -> Path:
    """``out``, else playground.html in the checkpoint's run directory (the current directory for a shipped
    ``pretrained:NAME`` model)."""
    if out is not None:
        return Path(out)
    return Path("playground.html") if str(source or "").startswith(PRETRAINED) else checkpoint.parent / "playground.html"


def playground_unit(model: CharRNN, vocab: Vocab, payload: dict, spec: str | None) -> tuple[int, int]:
    """The unit tinted first: ``LAYER:UNIT`` as given, else a memory-corpus LSTM's memory unit (the units
    suite's best), else 0:0."""
    if spec is not None:
        layer, _, unit = spec.partition(":")
        try:
            chosen = int(layer), int(unit)
        except ValueError:
            raise ConfigError(f"--unit must be LAYER:UNIT, e.g. 0:175, not {spec!r}") from None
        if not (0 <= chosen[0] < model.config.num_layers and 0 <= chosen[1] < model.config.hidden_size):
            raise ConfigError(f"--unit {spec}: the model has {model.config.num_layers} layer(s) of "
                              f"{model.config.hidden_size} units (counting from 0)")
        return chosen
    if (payload.get("corpus") or {}).get("name") == "memory" and model.config.has_cell_state:
        from charlstm.probes.cue_swap import language_probe
        from charlstm.probes.memory_units import memory_units

        best = memory_units(model, vocab, language_probe(draws=2), draws=2).units[0]
        return best.layer, best.unit
    return 0, 0


SCRIPT = (Path(__file__).with_name("playground.js")).read_text(encoding="utf-8")
