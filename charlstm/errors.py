"""The project's own exception types.

A ``CharlstmError`` is a problem with the user's input (a file, a checkpoint, an option value) that the
CLI reports as one line on stderr with a non-zero exit, never as a traceback. Anything else that escapes
is a bug in charlstm.
"""


class CharlstmError(Exception):
    """Base class: bad input that deserves one clear line, not a traceback."""


class CorpusError(CharlstmError):
    """A corpus path that cannot be read as text (missing, empty, binary, badly encoded)."""


class CheckpointError(CharlstmError):
    """A checkpoint that cannot be used (missing, corrupt, foreign, newer format, wrong vocabulary)."""


class ConfigError(CharlstmError):
    """An impossible option value or combination of options."""


class VocabularyError(CharlstmError):
    """Text containing characters the model has never seen, where they cannot be skipped."""


class ProbeError(CharlstmError):
    """A probe file or probe specification that cannot be used."""


class PeerLostError(CharlstmError):
    """Another process of a distributed run stopped (killed, out of memory, its machine lost)."""
