"""Where a training run's settings come from, so the CLI and Python callers resolve them the same way.

In rising precedence: the dataclass defaults, a named recipe (``--recipe``), a config file (``--config``:
TOML, or a run's own ``config.json``), then what the caller gives (the command line's flags). The corpus is
the one given, else the config file's, else (resuming) the run's own, else the recipe's, else
``builtin:memory``.

A config file holds up to three tables, named as in ``config.json``: ``[model]`` (ModelConfig fields),
``[train]`` (TrainConfig fields) and ``[corpus]`` (``inputs``, ``val_fraction``, ``encoding``); a key may
also stand at the top level, where its name says which table it belongs to. Unknown keys are refused
with the valid ones listed, and values are checked by the same dataclasses the run is built from.
``config.json`` also records facts that are not settings (``vocab_size``, the corpus's ``name`` and sizes):
they are read to tell the user when the corpus prepared now differs from the recorded one.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from charlstm.config import ENCODING, RUNS_ROOT, VAL_FRACTION, ModelConfig, TrainConfig
from charlstm.corpus import Corpus, corpus_name
from charlstm.errors import ConfigError
from charlstm.recipes import get_recipe
from charlstm.rundir import saved_corpus

DEFAULT_CORPUS = "builtin:memory"

SECTIONS = ("model", "train", "corpus")
CORPUS_SETTINGS = ("inputs", "val_fraction", "encoding")
# Written by config.json as a record of the run, accepted on reading, never applied as settings.
RECORDED = {"model": ("vocab_size",), "corpus": ("name", "train_chars", "val_chars")}


def _settings(section: str) -> tuple[str, ...]:
    if section == "corpus":
        return CORPUS_SETTINGS
    cls = ModelConfig if section == "model" else TrainConfig
    return tuple(f.name for f in fields(cls) if f.name not in RECORDED.get(section, ()))


@dataclass
class ConfigFile:
    """The settings one config file holds, by table, and the facts it recorded."""

    path: Path
    model: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    corpus: dict[str, Any] = field(default_factory=dict)
    recorded: dict[str, Any] = field(default_factory=dict)


def read_config_file(path: Path | str) -> ConfigFile:
    """Read and check a TOML file, or a JSON one such as a run's config.json (by its suffix)."""
    path = Path(path)
    data = _parse(path)
    tables: dict[str, dict] = {name: {} for name in SECTIONS}
    for key, value in data.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: {key} must be a table ([{key}]), not {value!r}")
            for inner, inner_value in value.items():
                _place(path, tables, key, inner, inner_value, where=f"in [{key}]")
        else:
            owner = next((name for name in SECTIONS if key in _settings(name) + RECORDED.get(name, ())), None)
            _place(path, tables, owner, key, value, where="at the top level")
    config = ConfigFile(path)
    for section in SECTIONS:
        for key, value in tables[section].items():
            if key in RECORDED.get(section, ()):
                config.recorded[key] = value
            elif value is not None:  # config.json writes unset limits (epochs, max_time) as null
                getattr(config, section)[key] = value
    _check(config)
    return config


def _parse(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"--config: {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"--config: {path} is a folder; give a .toml file or a run's config.json") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"--config: cannot read {path} ({getattr(error, 'strerror', None) or error})") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as error:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise ConfigError(f"{path}: not valid {kind} ({error})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected tables of settings, not {type(data).__name__}")
    return data


def _place(path: Path, tables: dict, section: str | None, key: str, value: Any, where: str) -> None:
    valid = _settings(section) if section else ()
    if section is None or key not in valid + RECORDED.get(section, ()):
        home = next((name for name in SECTIONS if key in _settings(name)), None)
        if home is not None:
            raise ConfigError(f"{path}: {key} belongs in [{home}], not {where.removeprefix('in ')}")
        listing = "; ".join(f"[{name}] {', '.join(_settings(name))}" for name in SECTIONS)
        raise ConfigError(f"{path}: unknown setting {key!r} {where} (valid: {listing})")
    if key in tables[section]:
        raise ConfigError(f"{path}: {key} is given twice (in [{section}] and at the top level)")
    tables[section][key] = value


def _check(config: ConfigFile) -> None:
    """The same checks a run makes, made now, so a mistake names the file before any work starts."""
    try:
        ModelConfig(vocab_size=1, **config.model)
        TrainConfig(**config.train)
        check_corpus_settings(**config.corpus)
    except ConfigError as error:
        raise ConfigError(f"{config.path}: {error}") from None


def check_corpus_settings(inputs: Any = None, val_fraction: Any = None, encoding: Any = None) -> None:
    if inputs is not None and not (isinstance(inputs, list) and inputs and all(isinstance(i, str) and i for i in inputs)):
        raise ConfigError(f"inputs must be a list of file names, folders or builtin: corpora, not {inputs!r}")
    if val_fraction is not None and not (isinstance(val_fraction, (int, float)) and not isinstance(val_fraction, bool)
                                         and math.isfinite(val_fraction) and 0 <= val_fraction < 1):
        raise ConfigError(f"--val-fraction must be in [0, 1), not {val_fraction!r}")
    if encoding is not None and not (isinstance(encoding, str) and encoding):
        raise ConfigError(f"--encoding must be the name of a text encoding, not {encoding!r}")


@dataclass
class RunSettings:
    """Everything ``train()`` and ``prepare_corpus()`` need for one run, resolved."""

    inputs: list[str]
    out_dir: Path
    model: dict[str, Any]
    train: dict[str, Any]
    val_fraction: float
    encoding: str
    notes: list[str] = field(default_factory=list)
    recorded: dict[str, Any] = field(default_factory=dict)  # facts of the run a config.json came from

    def differences(self, corpus: Corpus) -> list[str]:
        """How ``corpus`` differs from the one the config file recorded (a run then will not reproduce)."""
        facts = {"train_chars": len(corpus.train), "val_chars": len(corpus.val), "vocab_size": len(corpus.vocab)}
        changed = [f"{key} {self.recorded[key]:,} then, {now:,} now" for key, now in facts.items()
                   if isinstance(self.recorded.get(key), int) and self.recorded[key] != now]
        if not changed:
            return []
        return [f"the corpus differs from the one the config file recorded ({'; '.join(changed)}), so this run "
                f"will not reproduce that one exactly"]


def resolve_settings(*, inputs: list[str] | None = None, out_dir: Path | str | None = None, resume: bool = False,
                     recipe: str | None = None, config_file: Path | str | None = None,
                     model: dict | None = None, train: dict | None = None,
                     val_fraction: float | None = None, encoding: str | None = None) -> RunSettings:
    """Merge the sources of a run's settings (see the module docstring); ``None`` means not given."""
    chosen = get_recipe(recipe) if recipe else None
    config = read_config_file(config_file) if config_file is not None else ConfigFile(Path())
    notes: list[str] = []
    saved: dict = {}
    if inputs:
        inputs = list(inputs)
    elif config.corpus.get("inputs"):
        inputs = list(config.corpus["inputs"])
    elif resume and out_dir is not None:
        saved = saved_corpus(out_dir)
        inputs = saved["inputs"]
        notes.append(f"resuming on the run's own corpus: {', '.join(inputs)}")
    elif chosen is not None and chosen.corpus is None:
        raise ConfigError(f"--recipe {recipe} trains on a text of yours: give it as FILE "
                          f"(charlstm train tinyshakespeare.txt --recipe {recipe})")
    else:
        inputs = [chosen.corpus if chosen else DEFAULT_CORPUS]
        notes.append(f"no corpus given: using {inputs[0]}")
    check_corpus_settings(val_fraction=val_fraction, encoding=encoding)
    return RunSettings(
        inputs=inputs,
        out_dir=Path(out_dir) if out_dir is not None else RUNS_ROOT / corpus_name(inputs),
        model={**(chosen.model if chosen else {}), **config.model, **(model or {})},
        train={**(chosen.train if chosen else {}), **config.train, **(train or {})},
        val_fraction=_first(val_fraction, config.corpus.get("val_fraction"), saved.get("val_fraction"),
                            VAL_FRACTION),
        encoding=_first(encoding, config.corpus.get("encoding"), saved.get("encoding"), ENCODING),
        notes=notes, recorded=config.recorded)


def _first(*values):
    return next(v for v in values if v is not None)
