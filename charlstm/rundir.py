"""The files of a run directory besides checkpoints: ``config.json`` and ``metrics.jsonl``.

metrics.jsonl is appended to (one JSON object per evaluation); a resumed run drops the records, even a
torn last line, that a killed run logged after its last checkpoint. config.json is replaced atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

from charlstm.checkpoint import BEST, LAST, write_text_atomically
from charlstm.errors import CheckpointError

METRICS = "metrics.jsonl"
CONFIG = "config.json"


def append_metrics(out_dir: Path, record: dict) -> None:
    path = out_dir / METRICS
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
    except OSError as error:
        raise CheckpointError(f"could not write {path}: {error.strerror or error}; "
                              f"the checkpoints there are intact") from None


def truncate_metrics(out_dir: Path, step: int) -> None:
    """On resume, forget evaluations a crashed run logged after its last checkpoint (and any torn line)."""
    path = out_dir / METRICS
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    kept = [line for line in lines if (logged := logged_step(line)) is not None and logged <= step]
    if kept != lines:
        write_text_atomically(path, "".join(line + "\n" for line in kept))


def logged_step(line: str) -> int | None:
    """The step of one metrics.jsonl record; None for a line a crash cut short."""
    try:
        step = json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return None
    return step if isinstance(step, int) else None


def read_metrics(out_dir: Path) -> list[dict]:
    """The evaluations logged in ``out_dir`` (none when there is no metrics.jsonl; a torn line is skipped)."""
    try:
        lines = (Path(out_dir) / METRICS).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        if logged_step(line) is not None:
            records.append(json.loads(line))
    return records


def existing_run(out_dir: Path, overwrite: bool) -> list[Path]:
    """Files of an earlier run a new run would replace; refused unless ``overwrite`` (never silently)."""
    existing = [out_dir / name for name in (LAST, BEST) if (out_dir / name).exists()]
    if existing and not overwrite:
        raise CheckpointError(f"{out_dir} already holds a run ({existing[0].name}); pass --resume to continue it, "
                              f"--out to start a new one elsewhere, or --overwrite to replace it")
    return existing + [out_dir / METRICS]


def saved_corpus(out_dir: Path | str) -> dict:
    """How the run in ``out_dir`` prepared its corpus (inputs, val_fraction, encoding), from config.json."""
    path = Path(out_dir) / CONFIG
    try:
        corpus = json.loads(path.read_text(encoding="utf-8"))["corpus"]
        return {"inputs": list(corpus["inputs"]), "val_fraction": corpus["val_fraction"],
                "encoding": corpus["encoding"]}
    except (OSError, ValueError, KeyError, TypeError):
        raise CheckpointError(f"{path}: cannot tell which corpus this run used; give the corpus again") from None


def write_config(out_dir: Path, resolved: dict) -> None:
    """The resolved settings of a run (model, training, corpus), for people and for ``--resume``."""
    write_text_atomically(out_dir / CONFIG, json.dumps(resolved, indent=2, ensure_ascii=False) + "\n")
