import pytest
import torch

from charlstm.errors import VocabularyError
from charlstm.vocab import Vocab, smallest_id_dtype


def test_characters_are_code_points_not_bytes():
    text = "café — 🙂 naïve"
    vocab = Vocab.from_text(text)
    ids = vocab.encode(text)
    assert len(ids) == len(text)  # "é", "—" and the emoji are one symbol each
    assert vocab.decode(ids) == text
    assert "🙂" in vocab and "—" in vocab


def test_vocabulary_is_sorted_set():
    vocab = Vocab.from_text("banana!")
    assert vocab.chars == tuple(sorted(set("banana!")))


def test_unknown_characters_are_listed():
    vocab = Vocab.from_text("abc")
    with pytest.raises(VocabularyError, match="'x'.*'y'|'y'.*'x'"):
        vocab.encode("abxy")
    assert vocab.unknown("abxxy") == {"x": 2, "y": 1}


def test_encode_points_masks_unknown():
    vocab = Vocab.from_text("abc")
    ids, known = vocab.encode_points(torch.tensor([ord("a"), ord("z"), ord("c")]))
    assert known.tolist() == [True, False, True]
    assert ids[0] == 0 and ids[2] == 2


def test_smallest_dtype():
    assert smallest_id_dtype(65) == torch.uint8
    assert smallest_id_dtype(256) == torch.uint8
    assert smallest_id_dtype(257) == torch.int16
    assert smallest_id_dtype(40000) == torch.int32


def test_ids_in_larger_vocabulary():
    small, large = Vocab("ac"), Vocab("abc")
    assert small.ids_in(large).tolist() == [0, 2]
    with pytest.raises(VocabularyError):
        large.ids_in(small)
