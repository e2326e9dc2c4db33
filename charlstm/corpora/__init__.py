"""Built-in corpora, selectable wherever a corpus path is accepted: ``builtin:NAME[:key=value,...]``.

``builtin:memory`` is the default corpus of the first run; ``builtin:memory:size=2M,seed=7`` sets its
options (see ``charlstm.corpora.memory.OPTIONS``). A built-in corpus is generated deterministically from its options, so it needs no file on disk.
"""

from __future__ import annotations

from dataclasses import dataclass

from charlstm.corpora import memory
from charlstm.errors import CorpusError

PREFIX = "builtin:"


@dataclass(frozen=True)
class BuiltinSpec:
    name: str
    options: tuple[tuple[str, int | float], ...]   # every option, defaults included, in a fixed order

    @property
    def label(self) -> str:
        return f"{PREFIX}{self.name}:" + ",".join(f"{k}={v}" for k, v in self.options)

    def generate(self) -> str:
        return GENERATORS[self.name](**dict(self.options))

    @property
    def version(self) -> str:
        """Changes whenever the generator's output would change, so cached encodings are refreshed."""
        return VERSIONS[self.name]


GENERATORS = {"memory": memory.generate_corpus}
VERSIONS = {"memory": memory.GENERATOR_VERSION}
# Options and their defaults; the type of each default is the type of the option.
DEFAULTS = {"memory": memory.OPTIONS}


def is_builtin(spec: str) -> bool:
    return str(spec).startswith(PREFIX)


def parse_builtin(spec: str) -> BuiltinSpec:
    """``builtin:memory`` or ``builtin:memory:size=2M,seed=7`` -> BuiltinSpec (sizes accept k/M suffixes)."""
    rest = spec[len(PREFIX):]
    name, _, options = rest.partition(":")
    if name not in GENERATORS:
        raise CorpusError(f"unknown built-in corpus {name!r} (available: {', '.join(sorted(GENERATORS))})")
    values = dict(DEFAULTS[name])
    for item in filter(None, options.split(",")):
        key, eq, raw = item.partition("=")
        if not eq or key not in values:
            raise CorpusError(f"bad option {item!r} in {spec!r} (options: {', '.join(values)})")
        values[key] = _parse_count(raw, spec) if isinstance(values[key], int) else _parse_float(raw, spec)
    if values.get("size", 1000) < 1000:
        raise CorpusError(f"built-in corpus size must be at least 1000 characters, not {values['size']}")
    if name == "memory":
        memory.check_options(values)
    return BuiltinSpec(name=name, options=tuple(values.items()))


def _parse_float(raw: str, spec: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise CorpusError(f"bad number {raw!r} in {spec!r}") from None


def _parse_count(raw: str, spec: str) -> int:
    multiplier = {"k": 1_000, "K": 1_000, "m": 1_000_000, "M": 1_000_000}.get(raw[-1:], 1)
    digits = raw[:-1] if multiplier > 1 else raw
    try:
        return int(float(digits) * multiplier)
    except ValueError:
        raise CorpusError(f"bad number {raw!r} in {spec!r}") from None
