"""Corpora: read text files (or a built-in corpus), split train/validation, encode, cache, memory-map.

A corpus is one or more UTF-8 text files or folders (searched recursively; hidden and binary files are
passed over). Characters are Unicode code points, so "é", "—" and emoji are one symbol each. Line endings
are normalised to "\\n", as Python's text mode does.

Validation text is the last ``val_fraction`` of *each* file, chosen before any batching, so which text is
held out never depends on batch size. Encoded ids are cached under ``<out>/cache/<name>-<key>/`` in the
smallest integer dtype that fits, keyed by a hash of the inputs (path, size, modification time) and the
settings, so an unchanged corpus is not re-encoded. Cached ids are memory-mapped, never loaded whole, and
files are read in chunks, so a corpus larger than memory works.
"""

from __future__ import annotations

import codecs
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from charlstm.config import ENCODING, VAL_FRACTION
from charlstm.corpora import BuiltinSpec, is_builtin, parse_builtin
from charlstm.errors import ConfigError, CorpusError
from charlstm.vocab import Vocab

CACHE_FORMAT = 1
CHUNK_BYTES = 1 << 22  # 4 MiB of the file at a time: memory stays flat, speed the same
DEFAULT_DATA_DIR = Path("data")
_SNIFF_BYTES = 8192
_BOMS = {codecs.BOM_UTF32_LE: "utf-32", codecs.BOM_UTF32_BE: "utf-32",
         codecs.BOM_UTF16_LE: "utf-16", codecs.BOM_UTF16_BE: "utf-16"}


@dataclass
class Corpus:
    """Encoded train and validation ids (1-D tensors, usually memory-mapped) and their vocabulary."""

    name: str
    vocab: Vocab
    train: torch.Tensor
    val: torch.Tensor
    sources: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    cache_dir: Path | None = None
    reused_cache: bool = False
    # How it was made, so a run can prepare the same corpus again (``train --resume`` with no corpus given).
    inputs: list[str] = field(default_factory=list)
    val_fraction: float = VAL_FRACTION
    encoding: str = ENCODING

    def origin(self) -> dict:
        """How it was made (so a run can prepare it again) and how big it came out."""
        return {"name": self.name, "inputs": self.inputs, "val_fraction": self.val_fraction,
                "encoding": self.encoding, "train_chars": len(self.train), "val_chars": len(self.val)}

    @property
    def total_chars(self) -> int:
        return len(self.train) + len(self.val)


@dataclass(frozen=True)
class Source:
    """One input: a text file, or a generated built-in corpus."""

    label: str
    path: Path | None = None
    builtin: BuiltinSpec | None = None

    def fingerprint(self) -> list:
        if self.builtin is not None:
            return [self.builtin.label, self.builtin.version]
        stat = self.path.stat()
        return [str(self.path.resolve()), stat.st_size, stat.st_mtime_ns]

    def chunks(self, encoding: str) -> Iterator[str]:
        if self.builtin is not None:
            yield self.builtin.generate()
        else:
            yield from read_chunks(self.path, encoding)


# --------------------------------------------------------------------------------------------- reading

def check_encoding(encoding: str) -> str:
    """The codec's canonical name; UTF-8 input may start with a byte-order mark, which is dropped."""
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        raise ConfigError(f"unknown --encoding {encoding!r}") from None
    # Codecs like base64, rot13 or zlib turn bytes into bytes (or str into str), not bytes into text.
    if not getattr(info, "_is_text_encoding", True):
        raise ConfigError(f"--encoding {encoding!r} is not a text encoding (try utf-8, latin-1 or utf-16)")
    return "utf-8-sig" if info.name == "utf-8" else info.name


def _uses_nul_bytes(codec: str) -> bool:
    return codec.startswith(("utf-16", "utf-32"))


def read_chunks(path: Path, encoding: str = ENCODING, chunk_bytes: int = CHUNK_BYTES) -> Iterator[str]:
    """Decoded, newline-normalised text of ``path`` in chunks; CorpusError on binary or bad bytes."""
    codec = check_encoding(encoding)
    decoder = codecs.getincrementaldecoder(codec)(errors="strict")
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CorpusError(f"{path}: is a directory") from None
    except OSError as error:
        raise CorpusError(f"{path}: cannot read ({error.strerror})") from None
    offset, held_cr = 0, False
    with handle:
        while True:
            data = handle.read(chunk_bytes if offset else max(chunk_bytes, 4))  # 4: the longest BOM
            final = not data
            if offset == 0:
                _check_start(path, data, codec)
            if not _uses_nul_bytes(codec) and b"\x00" in data:
                raise CorpusError(f"{path}: binary file (NUL byte at offset {offset + data.index(0)}), not text")
            pending = len(decoder.getstate()[0])
            try:
                text = decoder.decode(data, final=final)
            except UnicodeDecodeError as error:
                where = offset - pending + error.start
                raise CorpusError(
                    f"{path}: not valid {encoding} at byte offset {where} ({error.reason}); "
                    f"pass --encoding if the file uses another encoding") from None
            except UnicodeError as error:  # e.g. utf-16/utf-32 with no byte-order mark to tell the byte order
                hint = (" (without a byte-order mark, name the byte order: --encoding utf-16-le, utf-16-be, ...)"
                        if _uses_nul_bytes(codec) else "")
                raise CorpusError(f"{path}: cannot decode as {encoding}: {error}{hint}") from None
            if "\x00" in text:
                raise CorpusError(f"{path}: binary file (contains NUL characters), not text")
            _check_surrogates(path, text, encoding)
            offset += len(data)
            # A "\r\n" pair may straddle two chunks: hold a trailing "\r" back until the next one.
            if held_cr:
                text = "\r" + text
            held_cr = text.endswith("\r") and not final
            if held_cr:
                text = text[:-1]
            if "\r" in text:   # copies of a whole chunk only where there is something to replace
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            if text:
                yield text
            if final:
                return


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_surrogates(path: Path, text: str, encoding: str) -> None:
    # Strict UTF-8/16/32 never yield lone surrogates, but codecs like utf-7 or unicode-escape can, and they
    # are not characters: nothing downstream (the vocabulary, checkpoints) could store them.
    match = _SURROGATE.search(text)
    if match:
        raise CorpusError(f"{path}: decoding as {encoding} gives a lone surrogate (U+{ord(match.group()):04X}), "
                          f"which is not a character; pass the file's real --encoding")


def _check_start(path: Path, data: bytes, codec: str) -> None:
    if _uses_nul_bytes(codec):
        return
    for bom, name in _BOMS.items():
        if data.startswith(bom):
            raise CorpusError(f"{path}: looks like {name.upper()} (byte-order mark); pass --encoding {name}")


def read_text(path: Path | str, encoding: str = ENCODING) -> str:
    """A whole text file, decoded and newline-normalised (for small inputs: eval files, prompts)."""
    return "".join(read_chunks(Path(path), encoding))


def _looks_binary(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return True
    return b"\x00" in head and not any(head.startswith(bom) for bom in _BOMS)


def resolve_sources(inputs: Sequence[str | Path]) -> tuple[list[Source], list[str]]:
    """Expand files, folders (recursively) and ``builtin:`` specs into sources; also list skipped files."""
    if not inputs:
        raise CorpusError("no corpus given")
    sources: list[Source] = []
    skipped: list[str] = []
    for item in inputs:
        if is_builtin(str(item)):
            spec = parse_builtin(str(item))
            sources.append(Source(label=spec.label, builtin=spec))
            continue
        path = Path(item)
        if path.is_dir():
            found = [p for p in sorted(path.rglob("*"))
                     if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)]
            texts = [f for f in found if not _looks_binary(f) and f.stat().st_size > 0]
            if not texts:
                raise CorpusError(f"{path}: no text files in this directory")
            skipped += [str(f) for f in found if f not in texts]
            sources += [Source(label=str(f), path=f) for f in texts]
        elif path.exists():
            sources.append(Source(label=str(path), path=path))
        else:
            raise CorpusError(f"{path}: no such file or directory")
    return sources, skipped


def corpus_name(inputs: Sequence[str | Path]) -> str:
    """A short name for run directories and caches: the file stem, folder name or built-in name."""
    names = []
    for item in inputs:
        text = str(item)
        if is_builtin(text):
            names.append(parse_builtin(text).name)
        else:
            path = Path(text)
            names.append((path.stem if path.is_file() else path.resolve().name) or "corpus")
    name = "+".join(names[:3]) + (f"+{len(names) - 3}" if len(names) > 3 else "")
    return "".join(c if c.isalnum() or c in "-_+." else "_" for c in name)


# ----------------------------------------------------------------------------------------------- split

def split_point(length: int, val_fraction: float) -> int:
    """Characters of a file that go to training; the rest (its tail) is validation."""
    return length - int(round(length * val_fraction))


def check_val_fraction(val_fraction: float) -> None:
    if not (0 <= val_fraction < 1):
        raise ConfigError(f"--val-fraction must be in [0, 1), not {val_fraction}")


def corpus_from_text(text: str, name: str = "text", val_fraction: float = VAL_FRACTION,
                     vocab: Vocab | None = None) -> Corpus:
    """An in-memory corpus from one string (no cache): for tests and for the Python API."""
    check_val_fraction(val_fraction)
    if not text.strip():
        raise CorpusError(f"{name}: empty text")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    vocab = vocab or Vocab.from_text(text)
    ids = vocab.encode(text)
    cut = split_point(len(ids), val_fraction)
    return Corpus(name=name, vocab=vocab, train=ids[:cut].to(vocab.dtype), val=ids[cut:].to(vocab.dtype),
                  sources=[name], val_fraction=val_fraction)


# ------------------------------------------------------------------------------------- prepare + cache

def prepare_corpus(inputs: Sequence[str | Path], data_dir: Path | str = DEFAULT_DATA_DIR,
                   val_fraction: float = VAL_FRACTION, encoding: str = ENCODING) -> Corpus:
    """Read, split, encode and cache a corpus, or reuse the cache when the inputs are unchanged."""
    check_val_fraction(val_fraction)
    check_encoding(encoding)
    sources, skipped = resolve_sources(inputs)
    name = corpus_name(inputs)
    key = _cache_key(sources, val_fraction, encoding)
    cache_dir = Path(data_dir) / "cache" / f"{name}-{key[:12]}"
    if (cache_dir / "meta.json").exists():
        try:
            corpus = load_prepared(cache_dir)
            corpus.skipped, corpus.reused_cache = skipped, True
            return corpus
        except CorpusError:
            shutil.rmtree(cache_dir, ignore_errors=True)  # a damaged cache is rebuilt, not trusted
    counts, vocab = _survey(sources, encoding, explicit={str(i) for i in inputs})
    kept = [s for s in sources if counts.get(s.label)]
    skipped += [s.label for s in sources if not counts.get(s.label)]
    if not kept:
        raise CorpusError(f"{', '.join(map(str, inputs))}: no text (empty or only whitespace)")
    inputs = [str(i) if is_builtin(str(i)) else str(Path(i).resolve()) for i in inputs]
    try:
        _write_cache(cache_dir, name, key, kept, counts, vocab, val_fraction, encoding, inputs)
    except OSError as error:
        raise CorpusError(f"cannot write the prepared corpus under {cache_dir.parent} "
                          f"({error.strerror or error}); choose a writable --data-dir") from None
    corpus = load_prepared(cache_dir)
    corpus.skipped = skipped
    return corpus


def _cache_key(sources: list[Source], val_fraction: float, encoding: str) -> str:
    try:
        prints = [s.fingerprint() for s in sources]
    except OSError as error:
        raise CorpusError(f"cannot read corpus: {error}") from None
    blob = json.dumps([CACHE_FORMAT, val_fraction, encoding, prints])
    return hashlib.sha256(blob.encode()).hexdigest()


# Both passes over the text work a chunk (CHUNK_BYTES of a file) at a time with whole-tensor operations
# and no Python-level work per character: a chunk's code points as uint8 (ASCII) or int32, a histogram
# for the vocabulary, a lookup table for the ids, the wider temporaries a block of BLOCK characters at a
# time. So memory stays flat whatever the corpus size, and the ids go straight to the memory-mapped cache.
MAX_CODE_POINT = 0x10FFFF
BLOCK = 1 << 20


def chunk_points(chunk: str) -> torch.Tensor:
    """A chunk's code points: one byte each where it is ASCII, four otherwise."""
    if chunk.isascii():
        return torch.frombuffer(bytearray(chunk.encode("ascii")), dtype=torch.uint8)
    return torch.frombuffer(bytearray(chunk.encode("utf-32-le")), dtype=torch.int32)


def _survey(sources: list[Source], encoding: str, explicit: set[str]) -> tuple[dict[str, int], Vocab]:
    """First pass: characters per source (0 for whitespace-only ones) and the vocabulary."""
    counts: dict[str, int] = {}
    present = torch.zeros(MAX_CODE_POINT + 1, dtype=torch.bool)
    for source in sources:
        length, has_text = 0, False
        for chunk in source.chunks(encoding):
            length += len(chunk)
            has_text = has_text or (bool(chunk) and not chunk.isspace())
            for block in chunk_points(chunk).split(BLOCK):
                seen = torch.bincount(block) > 0
                present[:len(seen)] |= seen
        if not has_text and source.label in explicit:
            what = "empty file" if length == 0 else "contains only whitespace"
            raise CorpusError(f"{source.label}: {what}, nothing to learn from")
        counts[source.label] = length if has_text else 0
    return counts, Vocab.from_code_points(present.nonzero().flatten())


def _id_table(vocab: Vocab) -> torch.Tensor:
    """Code point -> id in the vocabulary's smallest dtype, for every code point up to the largest it has."""
    points = torch.tensor([ord(c) for c in vocab.chars], dtype=torch.int64)
    table = torch.zeros(int(points.max()) + 1 if len(points) else 1, dtype=vocab.dtype)
    table[points] = torch.arange(len(points)).to(vocab.dtype)
    return table


def _write_cache(cache_dir: Path, name: str, key: str, sources: list[Source], counts: dict[str, int],
                 vocab: Vocab, val_fraction: float, encoding: str, inputs: list[str]) -> None:
    """Second pass: encode every source into train.bin / val.bin, in a temp dir renamed into place."""
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{cache_dir.name}-", dir=cache_dir.parent))
    try:
        train_total = sum(split_point(counts[s.label], val_fraction) for s in sources)
        val_total = sum(counts[s.label] for s in sources) - train_total
        dtype = vocab.dtype
        train = _mapped(_allocate(tmp / "train.bin", train_total * dtype.itemsize), train_total, dtype, shared=True)
        val = _mapped(_allocate(tmp / "val.bin", val_total * dtype.itemsize), val_total, dtype, shared=True)
        t_pos = v_pos = 0
        table = _id_table(vocab)
        for source in sources:
            cut, pos = split_point(counts[source.label], val_fraction), 0
            for chunk in source.chunks(encoding):
                for block in chunk_points(chunk).split(BLOCK):
                    ids = torch.index_select(table, 0, block.to(torch.int32))
                    head = ids[: max(0, cut - pos)]
                    tail = ids[len(head):]
                    train[t_pos:t_pos + len(head)] = head
                    val[v_pos:v_pos + len(tail)] = tail
                    t_pos, v_pos, pos = t_pos + len(head), v_pos + len(tail), pos + len(ids)
        del train, val  # flush the shared mappings before the rename
        meta = {"format": CACHE_FORMAT, "name": name, "key": key, "vocab": list(vocab.chars),
                "dtype": str(dtype).removeprefix("torch."), "train_chars": train_total, "val_chars": val_total,
                "sources": [s.label for s in sources], "inputs": inputs, "val_fraction": val_fraction,
                "encoding": encoding}
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False))
        _move_into_place(tmp, cache_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _allocate(path: Path, size: int) -> Path:
    """Reserve the file's disk space up front: a full disk is then an OSError here, not a SIGBUS (which
    kills the process) when a write to the memory-mapped file finds no space."""
    with open(path, "wb") as handle:
        if size and hasattr(os, "posix_fallocate"):
            try:
                os.posix_fallocate(handle.fileno(), 0, size)
            except OSError as error:
                if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # file systems without fallocate
                    raise
    return path


def _move_into_place(tmp: Path, cache_dir: Path) -> None:
    if cache_dir.exists() and not (cache_dir / "meta.json").exists():
        shutil.rmtree(cache_dir)  # a damaged cache
    try:
        os.replace(tmp, cache_dir)
    except OSError:
        if not (cache_dir / "meta.json").exists():
            raise
        # Another process prepared the same inputs (same cache key) meanwhile; its cache is as good as ours.
        shutil.rmtree(tmp, ignore_errors=True)


def _mapped(path: Path, size: int, dtype: torch.dtype, shared: bool) -> torch.Tensor:
    if size == 0:
        return torch.empty(0, dtype=dtype)
    return torch.from_file(str(path), shared=shared, size=size, dtype=dtype)


def load_prepared(cache_dir: Path | str) -> Corpus:
    """A prepared corpus from its cache directory, with its ids memory-mapped."""
    cache_dir = Path(cache_dir)
    try:
        meta = json.loads((cache_dir / "meta.json").read_text())
        if meta.get("format") != CACHE_FORMAT:
            raise CorpusError(f"{cache_dir}: prepared with another charlstm version; prepare it again")
        dtype = getattr(torch, meta["dtype"])
        sizes = {"train": meta["train_chars"], "val": meta["val_chars"]}
        for split, size in sizes.items():
            path = cache_dir / f"{split}.bin"
            if size and (not path.exists() or path.stat().st_size != size * dtype.itemsize):
                raise CorpusError(f"{path}: damaged cache; prepare the corpus again")
        return Corpus(name=meta["name"], vocab=Vocab(meta["vocab"]),
                      train=_mapped(cache_dir / "train.bin", sizes["train"], dtype, shared=False),
                      val=_mapped(cache_dir / "val.bin", sizes["val"], dtype, shared=False),
                      sources=meta["sources"], cache_dir=cache_dir, inputs=meta["inputs"],
                      val_fraction=meta["val_fraction"], encoding=meta["encoding"])
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as error:
        raise CorpusError(f"{cache_dir}: not a prepared corpus ({error})") from None
