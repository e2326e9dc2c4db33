"""Custom cue-swap probes from a TOML file (read with the standard library's tomllib; never evaluated).

    [[probe]]
    name = "speaker"                       # shown in reports
    query = "\\n\\nFRIAR LAURENCE:\\nGood morrow, "
    separator = "\\n"                       # between cue, filler sentences and query (default " ")
    filler = ["First line.", "Second."]    # sentences drawn at random, or "unseen" for the built-in filler
                                           # that no training corpus contains
    distances = [0, 50, 100, 200]          # optional (default 0, 25, 50, 100, 200, 400, 800)
    draws = 4                            # optional: filler draws per distance
    distractors = ["Tybalt"]               # optional: candidates that belong to no cue
    prefix = "\n"                          # optional: the warm-up read before every context (default:
                                           # the model's own text; "" starts from a cold state)

    [[probe.cue]]
    text = "ROMEO:\\nO, she doth teach the torches to burn bright!"
    answer = "Romeo"
    label = "Romeo"                        # optional (default: the answer)
"""

from __future__ import annotations

import random
import tomllib
from pathlib import Path

from charlstm.errors import ProbeError
from charlstm.probes.cue_swap import DEFAULT_DISTANCES, MAX_DISTANCE, Cue, CueSwapProbe, Filler, unseen_filler

MAX_DRAWS = 1000
PROBE_KEYS = {"name", "query", "separator", "filler", "distances", "draws", "distractors", "prefix", "cue"}
CUE_KEYS = {"text", "answer", "label"}


def sentence_filler(sentences: list[str], separator: str) -> Filler:
    """Random sentences from a list, joined, until they reach the asked length."""
    def filler(rng: random.Random, chars: int) -> str:
        parts, total = [], 0
        while total < chars:
            parts.append(rng.choice(sentences))
            total += len(parts[-1]) + len(separator)
        return separator.join(parts)
    return filler


def load_probe_file(path: Path | str) -> list[CueSwapProbe]:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProbeError(f"{path}: no such probe file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ProbeError(f"{path}: cannot read ({error})") from None
    except tomllib.TOMLDecodeError as error:
        raise ProbeError(f"{path}: not valid TOML ({error})") from None
    return parse_probes(data, str(path))


def parse_probes(data: dict, source: str = "probe file") -> list[CueSwapProbe]:
    unknown = set(data) - {"probe"}
    if unknown:
        raise ProbeError(f"{source}: unknown top-level key(s) {', '.join(sorted(unknown))} (expected [[probe]] tables)")
    tables = data.get("probe")
    if not tables:
        raise ProbeError(f"{source}: no [[probe]] tables (see the README for the format)")
    if not isinstance(tables, list):
        raise ProbeError(f"{source}: 'probe' must be an array of tables ([[probe]])")
    return [_parse_probe(table, f"{source}: probe {number}") for number, table in enumerate(tables, 1)]


def _parse_probe(table: dict, where: str) -> CueSwapProbe:
    if not isinstance(table, dict):
        raise ProbeError(f"{where}: must be a table")
    unknown = set(table) - PROBE_KEYS
    if "samples" in unknown:  # its name until filler draws and generated samples got a word each
        raise ProbeError(f"{where}: 'samples' is now called 'draws' (filler draws per distance)")
    if unknown:
        raise ProbeError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(PROBE_KEYS))})")
    name = _typed(table, "name", str, where, default=where.rsplit(": ", 1)[-1])
    query = _typed(table, "query", str, where)
    separator = _typed(table, "separator", str, where, default=" ")
    prefix = _typed(table, "prefix", str, where, default=None)
    draws = _typed(table, "draws", int, where, default=4)
    distances = tuple(_typed(table, "distances", list, where, default=list(DEFAULT_DISTANCES)))
    distractors = tuple(_typed(table, "distractors", list, where, default=[]))
    if draws < 1:
        raise ProbeError(f"{where}: draws must be at least 1")
    if not distances or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= MAX_DISTANCE
                                for d in distances):
        raise ProbeError(f"{where}: distances must be a non-empty list of whole numbers from 0 to {MAX_DISTANCE}")
    if draws > MAX_DRAWS:
        raise ProbeError(f"{where}: draws must be at most {MAX_DRAWS}")
    if not all(isinstance(d, str) and d for d in distractors):
        raise ProbeError(f"{where}: distractors must be non-empty strings")
    filler_spec = table.get("filler", "unseen")
    if filler_spec in ("unseen", "memory"):   # "memory": its older name
        filler = unseen_filler
    elif isinstance(filler_spec, list) and filler_spec and all(isinstance(s, str) and s for s in filler_spec):
        filler = sentence_filler(filler_spec, separator)
    else:
        raise ProbeError(f"{where}: filler must be \"unseen\" or a non-empty list of sentences")
    cues_raw = table.get("cue")
    if not isinstance(cues_raw, list) or len(cues_raw) < 2:
        raise ProbeError(f"{where}: needs at least two [[probe.cue]] tables (one per cue variant)")
    cues = []
    for number, cue in enumerate(cues_raw, 1):
        at = f"{where}, cue {number}"
        if not isinstance(cue, dict):
            raise ProbeError(f"{at}: must be a table")
        extra = set(cue) - CUE_KEYS
        if extra:
            raise ProbeError(f"{at}: unknown key(s) {', '.join(sorted(extra))} (allowed: answer, label, text)")
        text, answer = _typed(cue, "text", str, at), _typed(cue, "answer", str, at)
        if not text or not answer:
            raise ProbeError(f"{at}: text and answer must not be empty")
        cues.append(Cue(label=_typed(cue, "label", str, at, default=answer), text=text, answer=answer))
    if len({c.answer for c in cues}) < 2:
        raise ProbeError(f"{where}: the cues need at least two different answers")
    return CueSwapProbe(name=name, cues=tuple(cues), query=query, filler=filler, candidates=distractors,
                        distances=distances, draws=draws, separator=separator, prefix=prefix)


_MISSING = object()


def _typed(table: dict, key: str, kind: type, where: str, default=_MISSING):
    if key not in table:
        if default is _MISSING:
            raise ProbeError(f"{where}: missing required key {key!r}")
        return default
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProbeError(f"{where}: {key!r} must be a {kind.__name__}, not {type(value).__name__}")
    return value
