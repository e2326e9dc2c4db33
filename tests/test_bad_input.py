"""Bad input the other test files do not cover: one `charlstm: error:` line, non-zero exit, nothing damaged.

Also fuzzes the corpus reader and the probe-file parser with hypothesis (only CharlstmError may escape),
checks that probe files are data, never code, and that no command touches the network.
"""

from __future__ import annotations

import codecs
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from charlstm import checkpoint as ck
from charlstm.cli import app
from charlstm.corpus import load_prepared, prepare_corpus, read_chunks, read_text
from charlstm.errors import CharlstmError, ProbeError
from charlstm.probes import custom
from tests.conftest import TEXT

REPO = Path(__file__).resolve().parents[1]
TINY = ["--num-layers", "1", "--hidden-size", "32", "--embedding-dim", "8", "--batch-size", "4", "--seq-len", "16",
        "--eval-every", "10", "--sample-length", "0", "--device", "cpu", "-q"]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny models gain nothing from intra-op threads, and on a busy 2-core machine two threads spin-wait
    # for each other (10x slower); conftest restores the thread count after each test.
    torch.set_num_threads(1)


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_fails_cleanly(result, *patterns: str, lines: int | None = 1) -> None:
    """Non-zero exit, no traceback, the last stderr line is the only error line and names the problem.

    ``lines`` is how many stderr lines there are in all: commands that load a checkpoint first say which
    one (a note), so for them only the error line itself is checked (``lines=None``)."""
    assert result.exit_code not in (0, None), result.output
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    stderr = [line for line in result.stderr.splitlines() if line.strip()]
    if lines is not None:
        assert len(stderr) == lines, result.stderr
    errors = [line for line in stderr if "charlstm: error:" in line]
    assert len(errors) == 1 and stderr[-1] == errors[0], result.stderr
    for pattern in patterns:
        assert pattern.lower() in errors[0].lower(), errors[0]


def files_under(root: Path) -> dict[str, bytes]:
    """Every file and its bytes, except prepared-corpus caches (a failed run may legitimately add one)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "cache" not in p.parts}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny run (absolute paths, so tests can chdir anywhere)."""
    base = tmp_path_factory.mktemp("bad_input")
    (base / "tiny.txt").write_text(TEXT, encoding="utf-8")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # (module fixtures run before the per-test _one_thread)
    try:
        result = run("train", base / "tiny.txt", "--out", base / "run", "--data-dir", base / "data",
                     "--max-steps", "10", *TINY)
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    return base / "run"


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.txt").write_text(TEXT, encoding="utf-8")
    return tmp_path


@pytest.fixture
def own_run(trained, tmp_path) -> Path:
    """A private copy of the trained run, for tests that plant a damaged checkpoint in it."""
    import shutil

    return Path(shutil.copytree(trained, tmp_path / "copy"))


# ------------------------------------------------------------------------------------------ corpus files

def make_inputs(root: Path) -> None:
    (root / "newlines.txt").write_text("\n\n\n\n")
    nothing = root / "no_text_dir"
    (nothing / "sub").mkdir(parents=True)
    (nothing / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (nothing / "sub" / "empty.txt").write_bytes(b"")
    (nothing / ".hidden.txt").write_text("hidden text is skipped")
    blank = root / "blank_dir"
    blank.mkdir()
    (blank / "a.txt").write_text("   \n")
    (blank / "b.txt").write_text("\n\t\n")
    (root / "late_bad_byte.txt").write_bytes(b"x" * 5000 + b"\xff tail")
    (root / "utf32.txt").write_bytes("wide text".encode("utf-32"))
    (root / "utf7.txt").write_bytes(b"+2AA- a lone surrogate in UTF-7")
    (root / "nobom16.txt").write_bytes("no byte-order mark".encode("utf-16-le"))


@pytest.mark.parametrize("args, message", [
    (["newlines.txt"], "only whitespace"),
    (["no_text_dir"], "no text files"),
    (["blank_dir"], "no text (empty or only whitespace)"),
    (["late_bad_byte.txt"], "not valid utf-8 at byte offset 5000"),
    (["utf32.txt"], "--encoding utf-32"),
    (["utf7.txt", "--encoding", "utf-7"], "lone surrogate (U+D800)"),
    (["nobom16.txt", "--encoding", "utf-16"], "--encoding utf-16-le"),
    (["tiny.txt", "--encoding", "rot13"], "not a text encoding"),
    (["tiny.txt", "missing.txt"], "missing.txt: no such file"),
    (["tiny.txt", "--data-dir", "tiny.txt"], "choose a writable --data-dir"),
    (["tiny.txt", "--out", "tiny.txt"], "cannot create run directory tiny.txt"),
])
def test_bad_corpus_for_train(workdir, args, message):
    make_inputs(workdir)
    before = files_under(workdir)
    assert_fails_cleanly(run("train", *args, "--max-steps", "1", *TINY), message)
    assert files_under(workdir) == before and not (workdir / "checkpoints").exists()


def test_cr_only_line_endings_are_normalised(workdir):
    (workdir / "mac.txt").write_bytes(b"line one\rline two\r\rline three\r\nend\r")
    result = run("prepare", "mac.txt", "--val-fraction", "0", "--json")
    assert result.exit_code == 0, result.output
    corpus = load_prepared(json.loads(result.stdout)["cache_dir"])
    assert corpus.vocab.decode(corpus.train.long()) == "line one\nline two\n\nline three\nend\n"
    assert "\r" not in corpus.vocab.chars


def test_cr_at_every_chunk_border_is_normalised(tmp_path):
    path = tmp_path / "cr.txt"
    path.write_bytes(b"a\rb\r\nc\r\r\nd\r")
    for size in range(1, 12):  # a "\r\n" pair split across two reads must still be one newline
        assert "".join(read_chunks(path, chunk_bytes=size)) == "a\nb\nc\n\nd\n", size


def test_50_mb_single_line_file_prepares_and_trains_within_bounds(tmp_path):
    """No newline in 50 MB: the reader works in fixed-size chunks, so memory does not grow with the file."""
    unit = "The quick brown fox — naïve café 🙂 jumps over the lazy dog. "
    copies = 50_000_000 // len(unit.encode())
    (tmp_path / "big.txt").write_bytes(unit.encode() * copies)
    measure = ("import resource, sys, charlstm.cli\n"
               "sys.argv = ['charlstm', *sys.argv[1:]]\n"
               "try:\n    charlstm.cli.main()\n"
               "finally:\n"
               "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024\n"  # KiB on Linux
               "    print('peak_rss_mb', peak, file=sys.stderr)\n")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", measure, "train", "big.txt", "--max-steps", "2", *TINY],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)})
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    peak = int(result.stderr.rsplit("peak_rss_mb", 1)[1].split()[0])
    # About 0.8 GB on CPU torch 2.13 (torch itself is ~0.3 GB): bounded by the 16 MiB read chunk, not the
    # file; decoding the whole line at once would need over 1.5 GB (the str alone is 200 MB as UCS-4).
    assert peak < 1200, f"peak RSS {peak} MB"
    assert seconds < 120, f"{seconds:.0f} s"
    saved = ck.load_checkpoint(tmp_path / "checkpoints" / "big" / ck.LAST)
    assert saved["progress"]["step"] == 2
    assert saved["corpus"]["train_chars"] + saved["corpus"]["val_chars"] == len(unit) * copies


def test_corpus_shorter_than_one_window_shrinks_the_batch(workdir):
    (workdir / "short.txt").write_text("abcdefghij" * 6)
    result = run("train", "short.txt", "--max-steps", "2", "--batch-size", "32", "--seq-len", "10",
                 "--val-fraction", "0", "--device", "cpu", "-q")
    assert result.exit_code == 0, result.output
    assert "--batch-size lowered from 32 to 5" in " ".join(result.stderr.split())
    (workdir / "one.txt").write_text("a")
    assert_fails_cleanly(run("train", "one.txt", "--max-steps", "2", "--device", "cpu"), "too little training text")


def test_utf16_held_out_text_for_eval(trained, workdir):
    (workdir / "held16.txt").write_bytes("The lazy dog.".encode("utf-16"))
    assert_fails_cleanly(run("eval", trained, "held16.txt"), "--encoding utf-16", lines=None)
    result = run("eval", trained, "held16.txt", "--encoding", "utf-16", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["chars"] == len("The lazy dog.")


# ------------------------------------------------------------------------------------------- checkpoints

def plant(run_dir: Path, name: str, **changes) -> Path:
    """Save a copy of the run's last.pt with some entries replaced (None removes one)."""
    payload = torch.load(run_dir / ck.LAST, weights_only=True)
    payload.update(changes)
    payload = {k: v for k, v in payload.items() if v is not None}
    torch.save(payload, run_dir / name)
    return run_dir / name


def test_future_format_version(own_run, workdir):
    future = plant(own_run, "future.pt", version=ck.VERSION + 1)
    for command in (["sample", future], ["info", future], ["eval", future, "tiny.txt"]):
        assert_fails_cleanly(run(*command), "newer charlstm", "upgrade")
    plant(own_run, ck.LAST, version=ck.VERSION + 1)
    before = files_under(own_run)
    assert_fails_cleanly(run("train", "--resume", "--out", own_run, "--max-steps", "20"), "newer charlstm",
                         lines=None)  # after the note saying which corpus it resumes on
    assert files_under(own_run) == before


def test_resume_on_a_corpus_with_characters_the_checkpoint_lacks(own_run, workdir):
    (workdir / "other.txt").write_text("Ωμέγα and ZQX: characters the tiny run never saw\n" * 20, encoding="utf-8")
    before = files_under(own_run)
    assert_fails_cleanly(run("train", "other.txt", "--resume", "--out", own_run, "--max-steps", "20"),
                         "characters the checkpoint's vocabulary lacks", "--init-from")
    assert files_under(own_run) == before


@pytest.mark.parametrize("changes, message", [
    ({"rng": None}, "cannot resume from it (KeyError: 'rng')"),
    ({"optimizer": None}, "cannot resume from it (KeyError: 'optimizer')"),
    ({"state": [torch.zeros(3)]}, "carried hidden state does not fit"),
    ({"rng": {"torch": torch.zeros(3)}}, "cannot resume from it"),
    ({"progress": {"step": "ten"}}, "impossible progress record"),
    ({"progress": {"step": 10, "window": 10**9}}, "past the end of an epoch"),
    ({"model_config": {"vocab_size": 5, "hidden_size": 64}}, "weights do not fit the model"),
    ({"vocab": ["b", "a"]}, "damaged checkpoint"),
])
def test_resume_from_a_damaged_checkpoint(own_run, changes, message):
    plant(own_run, ck.LAST, **changes)
    before = files_under(own_run)
    assert_fails_cleanly(run("train", "--resume", "--out", own_run, "--max-steps", "20", "-q"),
                         f"{own_run / ck.LAST}", message, lines=None)
    assert files_under(own_run) == before


def test_truncated_empty_and_text_checkpoints(own_run, workdir):
    data = (own_run / ck.LAST).read_bytes()
    (workdir / "empty.pt").write_bytes(b"")
    (workdir / "notes.pt").write_text("The quick brown fox: a text file, not a checkpoint\n")
    for bad, message in (("empty.pt", "an empty file"), ("notes.pt", "not a readable checkpoint")):
        assert_fails_cleanly(run("info", bad), message)
        assert_fails_cleanly(run("train", "tiny.txt", "--init-from", bad, "--max-steps", "2", *TINY), message)
        assert_fails_cleanly(run("probe", bad, "--prompt", "The ", "--candidates", "a,b"), message)
    (own_run / ck.LAST).write_bytes(data[: len(data) // 3])
    assert_fails_cleanly(run("train", "--resume", "--out", own_run, "--max-steps", "20"), "truncated or corrupt",
                         lines=None)


def test_info_on_a_text_file_is_not_called_malicious(trained):
    result = run("info", trained / "config.json")  # starts with "{", which torch reads as a pickle opcode
    assert_fails_cleanly(result, "not a readable checkpoint")
    assert "malicious" not in result.stderr


# ------------------------------------------------------------------------------------------ probe files

@pytest.mark.parametrize("content, message", [
    (b"", "no [[probe]] tables"),
    (b"[[probe]]\nquery = 'q'\ncolour = 'red'\n", "unknown key(s) colour"),
    (b"\xff\xfe not utf-8", "cannot read"),
])
def test_bad_probe_files_via_the_cli(trained, workdir, content, message):
    (workdir / "probe.toml").write_bytes(content)
    assert_fails_cleanly(run("probe", trained, "--file", "probe.toml"), message, lines=None)


CODE = '__import__("os").system("touch {marker}")'


def test_probe_files_are_data_never_code(tmp_path):
    marker = tmp_path / "pwned"
    code = CODE.format(marker=marker)
    (tmp_path / "p.toml").write_text(
        f"[[probe]]\nname = '{code}'\nquery = '{code}'\nfiller = ['!!python/object/apply:os.system', '{{{{7*7}}}}']\n"
        f"[[probe.cue]]\ntext = '{code}'\nanswer = '${{HOME}}'\n[[probe.cue]]\ntext = 'b'\nanswer = 'eval(1)'\n")
    (probe,) = custom.load_probe_file(tmp_path / "p.toml")
    assert probe.name == probe.query == probe.cues[0].text == code  # kept verbatim, as text
    assert [c.answer for c in probe.cues] == ["${HOME}", "eval(1)"]
    assert set(probe.filler(random.Random(0), 200).split(" ")) <= {"!!python/object/apply:os.system", "{{7*7}}"}
    assert not marker.exists()


# ------------------------------------------------------------------------------------ options that clash

@pytest.mark.parametrize("args, message", [
    (["--resume", "--overwrite"], "--resume and --overwrite cannot be combined"),
    (["--epochs", "0"], "--epochs"),
    (["--eval-every", "0"], "--eval-every"),
    (["--dropout", "1"], "--dropout"),
    (["--seq-len", "0"], "--seq-len"),
    (["--on-divergence", "maybe"], "--on-divergence"),
    (["--precision", "half"], "--precision must be one of fp32, bf16, fp16"),
    (["--warmup-steps", "-1"], "--warmup-steps"),
    (["--min-lr-ratio", "1.5"], "--min-lr-ratio"),
    (["--grad-clip", "0"], "--grad-clip"),
    (["--hidden-size", "0"], "--hidden-size"),
    (["--weight-decay", "nan"], "--weight-decay"),
    (["--lr", "inf"], "--lr"),
    (["--forget-bias", "nan"], "--forget-bias"),
    (["--attention-memory", "-1"], "--attention-memory must be 0 (none) to"),
    (["--max-steps", "0"], "--max-steps"),
    (["--val-fraction", "-0.5"], "--val-fraction"),
    (["--init-from", "tiny.txt"], "not a readable checkpoint"),
])
def test_impossible_training_options(workdir, args, message):
    before = files_under(workdir)
    assert_fails_cleanly(run("train", "tiny.txt", "--out", "run", *TINY, "--max-steps", "2", *args), message)
    assert files_under(workdir) == before and not (workdir / "run").exists()


@pytest.mark.parametrize("args, message", [
    (["--temp", "inf"], "--temp"),
    (["--top-p", "nan"], "--top-p"),
    (["--top-k", "-1"], "--top-k"),
    (["--num-samples", "-1"], "--num-samples"),
    (["--device", "tpu"], "--device"),
])
def test_impossible_sampling_options_not_covered_elsewhere(trained, args, message):
    assert_fails_cleanly(run("sample", trained, *args), message)


def test_probe_context_of_zero_characters(trained):
    assert_fails_cleanly(run("probe", trained, "--suite", "context", "--contexts", "0"), "--contexts", lines=None)


# ------------------------------------------------------------------------------------------------ fuzzing

ENCODINGS = ["utf-8", "latin-1", "utf-16", "utf-32", "utf-7", "ascii", "cp1252", "shift_jis", "unicode_escape"]
TEXTISH = st.text(alphabet=st.sampled_from("ab \n\r\t\x00é—🙂\ufeff\\+-"), max_size=60)
SOME_BYTES = st.one_of(
    st.binary(max_size=200),
    TEXTISH.map(lambda s: s.encode("utf-8")),
    st.tuples(st.sampled_from([b"", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF32_BE]), st.binary(max_size=80),
              TEXTISH.map(lambda s: s.encode("utf-16-le"))).map(b"".join),
)


# Decoding "\\q" with unicode_escape warns (invalid escape sequence); it is the fuzzer's input, not a problem.
UNICODE_ESCAPE_WARNINGS = pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")


def outcome(path: Path, encoding: str, chunk_bytes: int) -> str | None:
    """The decoded text, or None for a CorpusError (anything else escapes and fails the test)."""
    try:
        return "".join(read_chunks(path, encoding, chunk_bytes=chunk_bytes))
    except CharlstmError:
        return None


@UNICODE_ESCAPE_WARNINGS
@FUZZ
@given(data=SOME_BYTES, encoding=st.sampled_from(ENCODINGS), chunk_bytes=st.integers(1, 40))
def test_reader_fuzz_only_clean_errors_and_chunking_changes_nothing(data, encoding, chunk_bytes):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.txt"
        path.write_bytes(data)
        whole = outcome(path, encoding, 1 << 20)
        # The same text however the file is cut into reads. (Which error a bad file gets may depend on
        # the cut: with a NUL byte and a bad sequence, whichever is read first is reported.)
        assert outcome(path, encoding, chunk_bytes) == whole
        if whole is not None:
            assert "\r" not in whole and not any(0xD800 <= ord(c) <= 0xDFFF for c in whole)


@pytest.mark.parametrize("head", [b"x" * 4999, "é".encode() * 2499 + b"x"])
def test_invalid_utf8_offset_is_exact_whatever_the_chunking(tmp_path, head):
    path = tmp_path / "bad.txt"
    path.write_bytes(head + b"\xff and more")  # the bad byte is at offset 4999 either way
    for chunk_bytes in (1, 2, 3, 7, 64, 4096, 1 << 24):  # two-byte characters straddle the borders
        with pytest.raises(CharlstmError, match="not valid utf-8 at byte offset 4999 "):
            "".join(read_chunks(path, chunk_bytes=chunk_bytes))


@UNICODE_ESCAPE_WARNINGS
@FUZZ
@given(data=SOME_BYTES, encoding=st.sampled_from(ENCODINGS), val_fraction=st.sampled_from([0.0, 0.05, 0.5]))
def test_prepare_fuzz_only_clean_errors_and_text_round_trips(data, encoding, val_fraction):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.txt"
        path.write_bytes(data)
        try:
            corpus = prepare_corpus([path], data_dir=Path(tmp) / "data", val_fraction=val_fraction, encoding=encoding)
        except CharlstmError:
            return
        ids = torch.cat([corpus.train, corpus.val]).long()
        assert corpus.vocab.decode(ids) == read_text(path, encoding)


@FUZZ
@given(text=st.text(max_size=300))
def test_probe_file_fuzz_arbitrary_text(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.toml"
        path.write_text(text, encoding="utf-8")
        try:
            custom.load_probe_file(path)
        except ProbeError:
            pass


KEYS = st.sampled_from(sorted(custom.PROBE_KEYS | custom.CUE_KEYS | {"probe", "weight"})) | st.text(max_size=6)
SCALARS = st.one_of(st.text(max_size=12), st.integers(-5, 10**12), st.floats(), st.booleans(), st.datetimes(),
                    st.dates(), st.times(), st.just("memory"))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
                      max_leaves=12)
CUES = st.lists(st.fixed_dictionaries({}, optional={k: VALUES | st.text(min_size=1, max_size=8)
                                                     for k in ("text", "answer", "label", "weight")}), max_size=4)
PROBES = st.fixed_dictionaries({}, optional={
    **{k: VALUES for k in custom.PROBE_KEYS - {"cue", "distances", "filler"}},
    "query": st.text(max_size=10), "distances": st.lists(st.integers(-2, 50), max_size=3) | VALUES,
    "filler": st.lists(st.text(max_size=8), max_size=3) | VALUES, "cue": CUES | VALUES, "colour": VALUES})
DOCUMENTS = st.one_of(st.dictionaries(KEYS, VALUES, max_size=4),
                      st.builds(lambda probes: {"probe": probes}, st.lists(PROBES, max_size=3) | VALUES))


@FUZZ
@given(document=DOCUMENTS)
def test_probe_parser_fuzz_toml_like_documents(document):
    try:
        probes = custom.parse_probes(document)
    except ProbeError:
        return
    for probe in probes:  # what it accepts is usable
        assert len({c.answer for c in probe.cues}) >= 2 and all(d >= 0 for d in probe.distances)
        assert isinstance(probe.filler(random.Random(0), 20), str)


# --------------------------------------------------------------------------------------------- network

def test_no_command_touches_the_network(workdir, monkeypatch):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access attempted")

    class NoSocket(socket.socket):
        def __init__(self, *args, **kwargs):
            refuse(*args)

    for name in ("create_connection", "getaddrinfo", "gethostbyname", "create_server", "socketpair"):
        monkeypatch.setattr(socket, name, refuse)
    monkeypatch.setattr(socket, "socket", NoSocket)
    with pytest.raises(OSError):  # the guard itself works: a real attempt is caught and recorded
        urllib.request.urlopen("http://192.0.2.1/", timeout=1)
    assert attempts
    attempts.clear()
    (workdir / "probe.toml").write_text(
        "[[probe]]\nquery = ' The'\nfiller = ['the lazy dog.']\ndistances = [0, 5]\ndraws = 1\n"
        "[[probe.cue]]\ntext = 'quick fox.'\nanswer = ' quick'\n[[probe.cue]]\ntext = 'lazy dog.'\nanswer = ' lazy'\n")
    commands = [
        ["prepare", "tiny.txt"],
        ["train", "tiny.txt", "--out", "run", "--max-steps", "3", *TINY],
        ["train", "--resume", "--out", "run", "--max-steps", "4"],
        ["sample", "run", "--length", "20", "--seed", "1"],
        ["eval", "run", "tiny.txt"],
        ["info", "run", "--json"],
        ["probe", "run", "--prompt", "The quick ", "--candidates", "fox,dog"],
        ["probe", "run", "--suite", "context", "--contexts", "1,4", "--positions", "20", "--text", "tiny.txt"],
        ["probe", "run", "--file", "probe.toml"],
    ]
    for command in commands:
        result = run(*command)
        assert result.exit_code == 0, (command, result.output)
    assert attempts == []
