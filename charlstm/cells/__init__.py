"""The cells of "Understanding LSTM Networks" beyond the fused ones: each a ``CustomCore`` (see
``charlstm.cells.base``) in its own module. ``lstm``, ``gru`` and ``rnn`` stay PyTorch's fused cores."""

from __future__ import annotations

from charlstm.cells.base import CustomCore, StateTuple
from charlstm.cells.clockwork import ClockworkRNN
from charlstm.cells.coupled import CoupledLSTM
from charlstm.cells.depth_gated import DepthGatedLSTM
from charlstm.cells.peephole import PeepholeLSTM

__all__ = ["CustomCore", "StateTuple", "CUSTOM_CELLS", "build_core"]

CUSTOM_CELLS = {"peephole": PeepholeLSTM, "coupled": CoupledLSTM, "depth-gated": DepthGatedLSTM,
                "clockwork": ClockworkRNN}


def build_core(config) -> CustomCore:
    """The custom core a ModelConfig names (its ``cell`` one of CUSTOM_CELLS)."""
    extra = {"modules": config.clockwork_modules} if config.cell == "clockwork" else {}
    return CUSTOM_CELLS[config.cell](config.embedding_dim, config.hidden_size, config.num_layers, config.dropout,
                                     **extra)
