"""Checkpoints: a self-contained, versioned format, written atomically and loaded safely.

A checkpoint is a file holding one dict of plain types and CPU tensors (so ``torch.load(weights_only=True)``
reads it and a GPU-trained model samples on a CPU-only machine); in the code that dict, once loaded, is
always called the *payload*, and *checkpoint* names the file (or what a command is given to find it)::

    format, version, charlstm_version
    model_config, vocab, model                  everything sampling needs
    train_config, optimizer, progress, state,   everything an exact resume needs: step, epoch, window,
    rng, scaler, corpus                         elapsed time, the carried hidden state, RNG states,
                                                fp16's gradient-scaler state
    train_model, snapshots                      with --average-evals: the weights training goes on from
                                                (``model`` is then their average) and the earlier ones

It is written to a temporary file in the same directory, flushed to disk, then renamed over the old one,
so a crash at any moment leaves either the old checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any, BinaryIO

import torch

from charlstm import __version__
from charlstm.config import RUNS_ROOT, ModelConfig
from charlstm.errors import CharlstmError, CheckpointError
from charlstm.model import CharRNN
from charlstm.vocab import Vocab

FORMAT = "charlstm-checkpoint"
VERSION = 1
BEST = "best.pt"
LAST = "last.pt"
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save has written zip archives since PyTorch 1.6


def to_cpu(value: Any) -> Any:
    """A copy of nested dicts/lists of tensors with every tensor on the CPU (for device-free files)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_cpu(v) for v in value)
    return value


def save_checkpoint(payload: dict, path: Path | str) -> Path:
    """Write atomically: temp file in the same directory, fsync, rename. The old file survives any failure."""
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, "charlstm_version": __version__, **payload}
    _write_or_fail(path, lambda handle: _torch_save(to_cpu(payload), handle), "checkpoint")
    return path


def duplicate_checkpoint(source: Path | str, path: Path | str) -> Path:
    """``path`` becomes an atomic copy of ``source`` (a hard link where possible: no second write)."""
    source, path = Path(source), Path(path)

    def copy(handle: BinaryIO) -> None:
        with open(source, "rb") as original:
            shutil.copyfileobj(original, handle)

    tmp = path.parent / f".{path.name}.{os.getpid()}.link.tmp"
    try:
        with suppress(FileNotFoundError):
            tmp.unlink()
        os.link(source, tmp)
        os.replace(tmp, path)
        _fsync_directory(path.parent)
    except OSError:
        with suppress(OSError):
            tmp.unlink()
        _write_or_fail(path, copy, "checkpoint")  # no hard links here: copy the bytes instead
    return path


def write_text_atomically(path: Path | str, text: str) -> Path:
    """A text file (config.json, metrics.jsonl, a page) replaced whole, like a checkpoint, never half-written."""
    return write_bytes_atomically(path, text.encode("utf-8"))


def write_bytes_atomically(path: Path | str, data: bytes) -> Path:
    """Any file replaced whole (temp file, fsync, rename), never half-written."""
    path = Path(path)
    _write_or_fail(path, lambda handle: handle.write(data), path.name)
    return path


def _write_or_fail(path: Path, write: Callable[[BinaryIO], Any], what: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, write)
    except OSError as error:
        raise CheckpointError(f"could not write {path}: {error.strerror or error}; "
                              f"the previous {what} there is intact") from None


def _write_atomically(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a checkpoint gets the usual file mode
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        tmp = None
        _fsync_directory(path.parent)
    finally:
        if tmp is not None:
            with suppress(OSError):
                os.unlink(tmp)


class _ErrorKeepingWriter:
    """A file wrapper that remembers the OSError of a failed write.

    torch.save's C++ writer turns an exception from ``write`` (a full disk: ENOSPC) into a bare
    RuntimeError ("unexpected pos ..."); keeping the original lets the user read what went wrong.
    """

    def __init__(self, handle: BinaryIO):
        self.handle = handle
        self.error: OSError | None = None

    def write(self, data) -> int:
        try:
            return self.handle.write(data)
        except OSError as error:
            self.error = error
            raise

    def flush(self) -> None:
        self.handle.flush()


def _torch_save(payload: dict, handle: BinaryIO) -> None:
    writer = _ErrorKeepingWriter(handle)
    try:
        torch.save(payload, writer)
    except RuntimeError:
        if writer.error is not None:
            raise writer.error from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not every platform lets a directory be opened.
    with suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# Temp names _write_atomically gives checkpoints, config.json and metrics.jsonl.
_TEMPORARIES = (".*.pt.*.tmp", ".*.json.*.tmp", ".*.jsonl.*.tmp")


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Temp files a killed writer left behind (never a real checkpoint); call only while holding the run lock."""
    stale = sorted({path for pattern in _TEMPORARIES for path in Path(directory).glob(pattern)})
    for path in stale:
        with suppress(OSError):
            path.unlink()
    return stale


def load_checkpoint(path: Path | str) -> dict:
    """Load and validate a checkpoint; any problem is a one-line CheckpointError."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory (pass the run directory as CHECKPOINT, not --file)")
    _check_archive(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for bad files; all mean "unusable"
        message = str(error)
        if "Weights only load failed" in message:
            raise CheckpointError(f"{path}: refused: it holds pickled Python objects, not plain data "
                                  f"(a foreign or possibly malicious file); nothing was run") from None
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt file?)") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a charlstm checkpoint")
    version = payload.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(f"{path}: written by a newer charlstm (format {version}, this one reads up to "
                              f"{VERSION}); upgrade charlstm to use it")
    for key in ("model_config", "vocab", "model"):
        if key not in payload:
            raise CheckpointError(f"{path}: damaged checkpoint (missing {key!r})")
    return payload


def _check_archive(path: Path) -> None:
    """A checkpoint is a zip archive; anything else (a text file, an old-style pickle) is refused unread,
    so that a text file is not reported as a "possibly malicious" pickle, as torch's error would have it."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(_ZIP_MAGIC))
    except OSError as error:
        raise CheckpointError(f"{path}: cannot read ({error.strerror or error})") from None
    if head != _ZIP_MAGIC:
        what = "an empty file" if not head else "not a PyTorch checkpoint archive (a text file?)"
        raise CheckpointError(f"{path}: not a readable checkpoint: {what}")


# What a model-only checkpoint keeps: everything sampling, probing, ``info`` and ``--init-from`` need.
MODEL_KEYS = ("model_config", "vocab", "model", "train_config", "progress", "corpus")
PRETRAINED = "pretrained:"


def export_model(source: Path | str, path: Path | str) -> Path:
    """Write a model-only copy of a checkpoint (no optimizer state, carried state or RNG: a third of the
    size), atomically. It samples and probes like the original; it cannot be resumed."""
    payload = load_checkpoint(resolve_checkpoint(source))
    return save_checkpoint({k: payload[k] for k in MODEL_KEYS if k in payload}, path)


def pretrained_models() -> dict[str, Path]:
    """The models that ship with charlstm (``pretrained:NAME``), by name."""
    folder = Path(__file__).parent / "pretrained"
    return {path.stem: path for path in sorted(folder.glob("*.pt"))}


def resolve_checkpoint(target: Path | str | None, root: Path | str = RUNS_ROOT) -> Path:
    """A ``.pt`` file from a file, a run directory (its best, else its last), ``pretrained:NAME`` (a model
    that ships with charlstm) or None (the newest run)."""
    if target is not None and str(target).startswith(PRETRAINED):
        name, shipped = str(target)[len(PRETRAINED):], pretrained_models()
        if name not in shipped:
            raise CheckpointError(f"no pretrained model {name!r} (available: {', '.join(shipped) or 'none'})")
        return shipped[name]
    if target is None:
        runs = [p for p in Path(root).glob("**/*.pt") if p.name in (BEST, LAST)]
        if not runs:
            raise CheckpointError(f"no checkpoint given and none found under {root}/ (train one first)")
        target = max(runs, key=lambda p: p.stat().st_mtime).parent
    target = Path(target)
    if target.is_dir():
        for name in (BEST, LAST):
            if (target / name).exists():
                return target / name
        raise CheckpointError(f"{target}: no {BEST} or {LAST} in this directory")
    if not target.exists():
        raise CheckpointError(f"{target}: no such checkpoint file or run directory")
    return target


def model_from_checkpoint(payload: dict, device: torch.device | str = "cpu") -> tuple[CharRNN, Vocab]:
    """Rebuild the network and its vocabulary; the architecture always comes from the checkpoint."""
    try:
        vocab = Vocab(payload["vocab"])
        config = ModelConfig.from_dict(payload["model_config"])
        model = CharRNN(config)
        model.load_state_dict(payload["model"])
    except CharlstmError as error:
        raise CheckpointError(f"damaged checkpoint: {error}") from None
    except (RuntimeError, TypeError, KeyError) as error:
        raise CheckpointError(f"damaged checkpoint: weights do not fit the model ({str(error)[:200]})") from None
    if len(vocab) != config.vocab_size:
        raise CheckpointError("damaged checkpoint: vocabulary size does not match the model")
    return model.to(device).eval(), vocab


def load_model(target: Path | str | None, device: torch.device | str = "cpu",
               root: Path | str = RUNS_ROOT) -> tuple[CharRNN, Vocab, dict, Path]:
    """Resolve, load and rebuild in one call: (model in eval mode, vocab, payload, path)."""
    path = resolve_checkpoint(target, root)
    payload = load_checkpoint(path)
    model, vocab = model_from_checkpoint(payload, device)
    return model, vocab, payload, path


def describe(payload: dict, path: Path | None = None) -> dict:
    """What ``charlstm info`` shows: plain JSON-able facts about a checkpoint."""
    model, vocab = model_from_checkpoint(payload)
    progress = payload.get("progress", {})
    return {
        "path": str(path) if path else None,
        "format_version": payload["version"],
        "charlstm_version": payload.get("charlstm_version"),
        "model_config": payload["model_config"],
        "train_config": payload.get("train_config"),
        "parameters": model.num_parameters,
        "vocab_size": len(vocab),
        "vocab": "".join(vocab.chars),
        "corpus": payload.get("corpus"),
        "step": progress.get("step"),
        "epoch": progress.get("epoch"),
        "chars_seen": progress.get("chars_seen"),
        "elapsed_seconds": progress.get("elapsed"),
        "val_loss": progress.get("val_loss"),
        "best_val_loss": progress.get("best_val_loss"),
    }
