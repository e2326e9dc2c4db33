import os
import time

import pytest
import torch

from charlstm.corpus import corpus_from_text, prepare_corpus, read_chunks, read_text, split_point
from charlstm.errors import ConfigError, CorpusError


def prepare(paths, tmp_path, **kwargs):
    return prepare_corpus([str(p) for p in paths], data_dir=tmp_path / "data", **kwargs)


def test_unicode_file_round_trips(tmp_path):
    text = "Ça va — très bien 🙂\nZoë: naïve café\n" * 50
    path = tmp_path / "u.txt"
    path.write_text(text, encoding="utf-8")
    corpus = prepare([path], tmp_path, val_fraction=0.1)
    assert corpus.total_chars == len(text)
    assert corpus.vocab.decode(torch.cat([corpus.train, corpus.val]).long()) == text
    assert "🙂" in corpus.vocab and corpus.train.dtype == torch.uint8


def test_validation_is_the_tail_of_each_file(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("a" * 90 + "A" * 10)
    b.write_text("b" * 180 + "B" * 20)
    corpus = prepare([a, b], tmp_path, val_fraction=0.1)
    assert corpus.vocab.decode(corpus.train.long()) == "a" * 90 + "b" * 180
    assert corpus.vocab.decode(corpus.val.long()) == "A" * 10 + "B" * 20


def test_split_point_rounds():
    assert split_point(100, 0.05) == 95
    assert split_point(10, 0.0) == 10


def test_cache_is_reused_until_the_file_changes(tmp_path, text_file):
    first = prepare([text_file], tmp_path)
    again = prepare([text_file], tmp_path)
    assert not first.reused_cache and again.reused_cache
    assert again.cache_dir == first.cache_dir
    text_file.write_text(text_file.read_text() + "new words!\n")
    later = time.time() + 5
    os.utime(text_file, (later, later))
    changed = prepare([text_file], tmp_path)
    assert not changed.reused_cache and changed.cache_dir != first.cache_dir
    assert changed.total_chars == first.total_chars + len("new words!\n")


def test_cached_ids_are_memory_mapped_not_copied(tmp_path, text_file):
    corpus = prepare([text_file], tmp_path)
    path = corpus.cache_dir / "train.bin"
    with open(path, "r+b") as handle:  # rewrite the file in place: a mapping sees it, a copy would not
        handle.write(bytes([7]) * 4)
    assert corpus.train[:4].tolist() == [7, 7, 7, 7]


def test_folder_is_read_recursively_skipping_hidden_and_binary(tmp_path):
    root = tmp_path / "books"
    (root / "sub").mkdir(parents=True)
    (root / "one.txt").write_text("first book\n" * 20)
    (root / "sub" / "two.md").write_text("second book\n" * 20)
    (root / ".hidden.txt").write_text("secret\n" * 20)
    (root / "image.png").write_bytes(b"\x89PNG\x00\x00\x01binary")
    (root / "empty.txt").write_text("")
    corpus = prepare([root], tmp_path)
    assert len(corpus.sources) == 2
    assert "secret" not in corpus.vocab.decode(torch.cat([corpus.train, corpus.val]).long())
    assert any("image.png" in s for s in corpus.skipped) and any("empty.txt" in s for s in corpus.skipped)


def test_crlf_and_cr_line_endings_are_normalised(tmp_path):
    path = tmp_path / "dos.txt"
    path.write_bytes(b"one\r\ntwo\rthree\n")
    assert read_text(path) == "one\ntwo\nthree\n"


def test_chunk_boundaries_split_nothing(tmp_path):
    text = "é\r\n🙂—" * 200
    path = tmp_path / "c.txt"
    path.write_bytes(text.encode("utf-8"))
    for size in (1, 2, 3, 5, 7):  # every way a multi-byte character or a CRLF can straddle two chunks
        assert "".join(read_chunks(path, chunk_bytes=size)) == text.replace("\r\n", "\n")


def test_utf8_byte_order_mark_is_dropped(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfhello")
    assert read_text(path) == "hello"


def test_other_encodings_with_option(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("déjà vu\n".encode("latin-1") * 10)
    with pytest.raises(CorpusError, match="byte offset 1"):
        prepare([path], tmp_path)
    corpus = prepare([path], tmp_path, encoding="latin-1")
    assert "é" in corpus.vocab


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"\n\n\n  \n", "only whitespace"),
    (b"text\x00\x01\x02 more", "binary file"),
    (b"good start \xff\xfe bad", "not valid utf-8 at byte offset 11"),
    ("utf sixteen".encode("utf-16"), "UTF-16.*--encoding utf-16"),
])
def test_bad_files_get_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        prepare([path], tmp_path)


def test_utf16_works_with_its_encoding(tmp_path):
    path = tmp_path / "w.txt"
    path.write_bytes("wide text\n".encode("utf-16") * 1)
    corpus = prepare([path], tmp_path, encoding="utf-16")
    assert corpus.vocab.decode(torch.cat([corpus.train, corpus.val]).long()) == "wide text\n"


def test_missing_paths_and_empty_folders(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        prepare([tmp_path / "nope.txt"], tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no text files"):
        prepare([tmp_path / "empty"], tmp_path)


def test_bad_settings(tmp_path, text_file):
    with pytest.raises(ConfigError, match="val-fraction"):
        prepare([text_file], tmp_path, val_fraction=1.0)
    with pytest.raises(ConfigError, match="encoding"):
        prepare([text_file], tmp_path, encoding="no-such-codec")


def test_builtin_memory_corpus_is_selectable(tmp_path):
    corpus = prepare(["builtin:memory:size=20k,seed=5"], tmp_path)
    assert corpus.name == "memory"
    text = corpus.vocab.decode(corpus.train.long())
    assert "I grew up in" in text and "I speak fluent" in text
    with pytest.raises(CorpusError, match="unknown built-in"):
        prepare(["builtin:nonsense"], tmp_path)
    with pytest.raises(CorpusError, match="bad option"):
        prepare(["builtin:memory:colour=red"], tmp_path)


def test_damaged_cache_is_rebuilt(tmp_path, text_file):
    first = prepare([text_file], tmp_path)
    (first.cache_dir / "train.bin").write_bytes(b"xx")
    again = prepare([text_file], tmp_path)
    assert not again.reused_cache
    assert torch.equal(again.train, first.train.clone()) or len(again.train) == len(first.train)


def test_corpus_from_text():
    corpus = corpus_from_text("abcdefghij" * 10, val_fraction=0.1)
    assert len(corpus.train) == 90 and len(corpus.val) == 10
    with pytest.raises(CorpusError):
        corpus_from_text("   \n")
