"""Every cell of "Understanding LSTM Networks" (and the Grid LSTM, minGRU and minLSTM), behind one interface
(``charlstm.cells.base``): PyTorch's fused ``lstm``, ``gru`` and ``rnn`` (``charlstm.cells.fused``), and
charlstm's own, each a ``CustomCore`` in its own module."""

from __future__ import annotations

from charlstm.cells.base import CustomCore, StateTuple
from charlstm.cells.clockwork import ClockworkRNN
from charlstm.cells.coupled import CoupledLSTM
from charlstm.cells.depth_gated import DepthGatedLSTM
from charlstm.cells.fused import FUSED_CORES, FusedCore, build_fused_core
from charlstm.cells.grid import GridLSTM
from charlstm.cells.minimal import MinGRU, MinLSTM
from charlstm.cells.peephole import PeepholeLSTM

__all__ = ["CustomCore", "FusedCore", "StateTuple", "CUSTOM_CELLS", "FUSED_CORES", "build_core"]

CUSTOM_CELLS = {"peephole": PeepholeLSTM, "coupled": CoupledLSTM, "depth-gated": DepthGatedLSTM,
                "clockwork": ClockworkRNN, "grid": GridLSTM, "mingru": MinGRU, "minlstm": MinLSTM}


def build_core(config):
    """The core a ModelConfig names: a fused one (``FUSED_CORES``) or a custom one (``CUSTOM_CELLS``)."""
    if config.cell in FUSED_CORES:
        return build_fused_core(config)
    extra = {"modules": config.clockwork_modules} if config.cell == "clockwork" else {}
    core = CUSTOM_CELLS[config.cell](config.embedding_dim, config.hidden_size, config.num_layers, config.dropout,
                                     **extra)
    core.dropout.locked = config.locked_dropout
    return core
