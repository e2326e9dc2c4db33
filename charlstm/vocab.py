"""The vocabulary: the sorted set of Unicode code points (characters, not bytes) of a corpus.

Encoding is vectorised: text becomes UTF-32 code points, and ``searchsorted`` over the sorted vocabulary
turns them into ids, so a 100 MB corpus encodes in seconds without a Python loop per character.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import torch

from charlstm.errors import VocabularyError


def code_points(text: str) -> torch.Tensor:
    """The code points of ``text`` as an int64 tensor (one per character)."""
    if not text:
        return torch.empty(0, dtype=torch.int64)
    raw = bytearray(text.encode("utf-32-le"))
    return torch.frombuffer(raw, dtype=torch.int32).long()


def smallest_id_dtype(vocab_size: int) -> torch.dtype:
    """The smallest integer dtype that holds every id (cached corpora use it on disk)."""
    if vocab_size <= 256:
        return torch.uint8
    if vocab_size <= 2**15:
        return torch.int16
    return torch.int32


class Vocab:
    """An immutable, sorted character vocabulary with fast encode/decode."""

    def __init__(self, chars: Iterable[str]):
        chars = tuple(chars)
        if any(len(c) != 1 for c in chars):
            raise VocabularyError("a vocabulary holds single characters")
        if list(chars) != sorted(set(chars)):
            raise VocabularyError("a vocabulary must be sorted and without repeats")
        self.chars: tuple[str, ...] = chars
        self._points = torch.tensor([ord(c) for c in chars], dtype=torch.int64)
        self._index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> "Vocab":
        return cls.from_code_points(code_points(text))

    @classmethod
    def from_code_points(cls, points: torch.Tensor) -> "Vocab":
        return cls(chr(p) for p in torch.unique(points).tolist())

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: str) -> bool:
        return char in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.chars == other.chars

    def __hash__(self) -> int:
        return hash(self.chars)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} characters)"

    @property
    def dtype(self) -> torch.dtype:
        return smallest_id_dtype(len(self))

    def union(self, other: "Vocab") -> "Vocab":
        return Vocab(sorted(set(self.chars) | set(other.chars)))

    def index(self, char: str) -> int:
        return self._index[char]

    def unknown(self, text: str) -> Counter:
        """Characters of ``text`` outside the vocabulary, with their counts."""
        return Counter(c for c in text if c not in self._index)

    def encode(self, text: str) -> torch.Tensor:
        """Ids (int64) of ``text``; raises VocabularyError listing any unknown characters."""
        points = code_points(text)
        ids, known = self._lookup(points)
        if not bool(known.all()):
            raise VocabularyError(f"characters not in the model's vocabulary: {describe_chars(self.unknown(text))}")
        return ids

    def encode_points(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Ids of code points plus a mask of which were in the vocabulary (unknown ids are 0)."""
        ids, known = self._lookup(points)
        return torch.where(known, ids, torch.zeros_like(ids)), known

    def _lookup(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if len(self) == 0:
            return torch.zeros_like(points), torch.zeros_like(points, dtype=torch.bool)
        ids = torch.searchsorted(self._points, points).clamp_(max=len(self) - 1)
        return ids, self._points[ids] == points

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        return "".join(self.chars[i] for i in ids)

    def ids_in(self, other: "Vocab") -> torch.Tensor:
        """For each character of this vocabulary, its id in ``other`` (which must contain it)."""
        missing = [c for c in self.chars if c not in other]
        if missing:
            raise VocabularyError(f"characters missing from the vocabulary: {describe_chars(Counter(missing))}")
        return torch.tensor([other.index(c) for c in self.chars], dtype=torch.int64)


def describe_chars(counts: Counter, limit: int = 20) -> str:
    """A short, readable list of characters (repr, so newlines and spaces are visible)."""
    shown = [repr(c) for c, _ in counts.most_common(limit)]
    more = len(counts) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")
