"""charlstm: a character-level LSTM text generator that makes the network's memory visible.

The library is importable without the CLI: ``charlstm.corpus``, ``charlstm.train``, ``charlstm.sample``,
``charlstm.checkpoint`` and ``charlstm.probes`` each do one job. Importing this package is cheap (no torch),
so ``charlstm --help`` stays fast.
"""

__version__ = "0.1.0"
