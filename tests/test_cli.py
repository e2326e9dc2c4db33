"""End-to-end: the real CLI on tiny models, and every user-facing error as one stderr line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from typer.testing import CliRunner

from charlstm.cli import app
from tests.conftest import TEXT

TINY = ["--num-layers", "1", "--hidden-size", "32", "--embedding-dim", "8", "--batch-size", "4", "--seq-len", "16",
        "--eval-every", "10", "--sample-length", "20", "--device", "cpu"]


def run(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_one_line_error(result, pattern: str, code: int | None = None):
    assert result.exit_code != 0, result.output
    if code is not None:
        assert result.exit_code == code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("charlstm: error:")
    assert pattern.lower() in lines[0].lower(), lines[0]
    assert "Traceback" not in result.output


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.txt").write_text(TEXT, encoding="utf-8")
    return tmp_path


@pytest.fixture
def trained(workdir):
    result = run("train", "tiny.txt", "--max-steps", "20", *TINY)
    assert result.exit_code == 0, result.output
    return workdir / "checkpoints" / "tiny"


def test_train_writes_a_run_and_reports(trained):
    assert {p.name for p in trained.iterdir()} >= {"best.pt", "last.pt", "metrics.jsonl", "config.json"}
    assert len((trained / "metrics.jsonl").read_text().splitlines()) == 2


def test_train_output_shows_parameters_and_losses(workdir):
    result = run("train", "tiny.txt", "--max-steps", "10", "--out", "r", *TINY)
    assert result.exit_code == 0
    assert "parameters" in result.stderr and "nats/char" in result.stderr and "bpc" in result.stderr
    assert result.stdout == ""  # stdout is kept for generated text and JSON


def test_sample_is_reproducible_and_streams_to_stdout(trained):
    a = run("sample", "--seed", "5", "--length", "40", "--prompt", "The ")
    b = run("sample", "--seed", "5", "--length", "40", "--prompt", "The ")
    assert a.exit_code == 0 and a.stdout == b.stdout
    assert a.stdout.startswith("The ") and len(a.stdout) == len("The ") + 40 + 1
    assert "newest run" in a.stderr  # says which checkpoint it picked
    many = run("sample", trained, "--seed", "5", "--length", "10", "--num-samples", "3")
    assert many.exit_code == 0 and len(many.stdout.splitlines()) >= 3


@pytest.mark.parametrize("args, message", [
    (["--greedy", "--top-k", "3"], "--top-k would have no effect"),
    (["--greedy", "--temp", "0.5", "--top-p", "0.9"], "--temp, --top-p would have no effect"),
    (["--greedy", "--num-samples", "2"], "--num-samples would repeat it"),
    (["--interactive", "--json"], "--interactive runs one stream"),
])
def test_contradictory_sampling_options_are_refused(trained, args, message):
    assert_one_line_error(run("sample", trained, *args), message)


def test_greedy_with_a_seed_warns_that_the_seed_does_nothing(trained):
    result = run("sample", trained, "--greedy", "--seed", "3", "--length", "5")
    assert result.exit_code == 0 and "--seed has no effect" in result.stderr


def test_sample_json_lines(trained):
    result = run("sample", trained, "--seed", "4", "--length", "12", "--prompt", "Th", "--num-samples", "2", "--json")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    single = run("sample", trained, "--seed", "5", "--length", "12", "--prompt", "Th").stdout
    assert [line["seed"] for line in lines] == [4, 5] and all(line["prompt"] == "Th" for line in lines)
    assert all(len(line["text"]) == 12 for line in lines) and "Th" + lines[1]["text"] + "\n" == single


def test_num_samples_run_as_one_batch_and_print_each_seed_s_own_text_in_order(trained):
    # The first sample streams, the others print whole: together, exactly the single-sample runs in order.
    many = run("sample", trained, "--seed", "5", "--length", "30", "--prompt", "Th", "--num-samples", "3")
    singles = [run("sample", trained, "--seed", str(seed), "--length", "30", "--prompt", "Th").stdout
               for seed in (5, 6, 7)]
    assert many.exit_code == 0 and many.stdout == "".join(singles)
    assert len(set(singles)) == 3
    assert "sample 3 of 3 (seed 7)" in many.stderr


def test_info_and_eval_json(trained, workdir):
    info = json.loads(run("info", trained, "--json").stdout)
    assert info["step"] == 20 and info["vocab_size"] == len(set(TEXT)) and info["parameters"] > 0
    (workdir / "held.txt").write_text("The lazy dog jumps. ~~", encoding="utf-8")
    report = run("eval", trained, "held.txt", "--json")
    data = json.loads(report.stdout)
    assert data["unknown"] == {"~": 2} and data["chars"] == len("The lazy dog jumps. ")
    assert abs(data["bits_per_char"] - data["nats_per_char"] / 0.6931471805599453) < 1e-6


def test_prepare_json_and_cache_reuse(workdir):
    first = json.loads(run("prepare", "tiny.txt", "--json").stdout)
    second = json.loads(run("prepare", "tiny.txt", "--json").stdout)
    assert not first["reused_cache"] and second["reused_cache"]
    assert first["train_chars"] + first["val_chars"] == len(TEXT)


def test_resume_continues_from_the_saved_step(trained):
    result = run("train", "--resume", "--out", trained, "--max-steps", "30")
    assert result.exit_code == 0, result.output
    assert "resuming at step 20" in result.stderr
    assert torch.load(trained / "last.pt", weights_only=True)["progress"]["step"] == 30


def test_init_from_another_run(trained, workdir):
    (workdir / "other.txt").write_text("brand new words: ÆØÅ\n" * 40, encoding="utf-8")
    result = run("train", "other.txt", "--init-from", trained, "--max-steps", "3", "--eval-every", "3")
    assert result.exit_code == 0, result.output
    assert "new to its vocabulary" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["train", "missing.txt"], "no such file"),
    (["train", "empty.txt"], "empty file"),
    (["train", "blank.txt"], "only whitespace"),
    (["train", "binary.bin"], "binary file"),
    (["train", "latin.txt"], "byte offset 3"),
    (["train", "utf16.txt"], "--encoding utf-16"),
    (["train", "emptydir"], "no text files"),
    (["train", "tiny.txt", "--batch-size", "0"], "--batch-size"),
    (["train", "tiny.txt", "--lr", "-1"], "--lr"),
    (["train", "tiny.txt", "--max-time", "nan"], "--max-time"),
    (["train", "tiny.txt", "--device", "tpu"], "--device"),
    (["train", "tiny.txt", "--cell", "transformer"], "cell"),
    (["train", "tiny.txt", "--val-fraction", "1"], "--val-fraction"),
    (["train", "tiny.txt", "--encoding", "klingon"], "encoding"),
    (["train", "tiny.txt", "--resume"], "no last.pt"),
    (["train", "builtin:nothing"], "unknown built-in"),
    (["train", "tiny.txt", "--max-steps", "many"], "--max-steps"),
    (["train", "tiny.txt", "--no-such-flag"], "no-such-flag"),
    (["sample"], "none found"),
    (["sample", "missing.pt"], "no such checkpoint"),
    (["sample", "notes.pt"], "not a readable checkpoint"),
    (["info", "emptydir"], "no best.pt or last.pt"),
    (["eval", "notes.pt", "tiny.txt"], "not a readable checkpoint"),
])
def test_bad_input_is_one_clear_line(workdir, args, message):
    (workdir / "empty.txt").write_text("")
    (workdir / "blank.txt").write_text("\n\n  \n")
    (workdir / "binary.bin").write_bytes(b"\x00\x01\x02binary\x00")
    (workdir / "latin.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (workdir / "utf16.txt").write_bytes("hello".encode("utf-16"))
    (workdir / "emptydir").mkdir()
    (workdir / "notes.pt").write_text("not a checkpoint")
    assert_one_line_error(run(*args), message)


@pytest.mark.parametrize("args, message", [
    (["--temp", "0"], "--temp"),
    (["--temp", "-1"], "--temp"),
    (["--temp", "nan"], "--temp"),
    (["--top-p", "0"], "--top-p"),
    (["--top-p", "1.5"], "--top-p"),
    (["--top-k", "0"], "--top-k"),
    (["--length", "-5"], "--length"),
    (["--num-samples", "0"], "--num-samples"),
    (["--prompt", "Zebra ∑"], "'∑'"),
])
def test_impossible_sampling_options(trained, args, message):
    assert_one_line_error(run("sample", trained, *args), message)


def test_existing_run_is_not_overwritten(trained):
    before = (trained / "last.pt").read_bytes()
    assert_one_line_error(run("train", "tiny.txt", "--max-steps", "5", *TINY), "--resume")
    assert (trained / "last.pt").read_bytes() == before
    assert run("train", "tiny.txt", "--max-steps", "5", "--overwrite", *TINY).exit_code == 0


def test_truncated_checkpoint_is_reported(trained):
    data = (trained / "best.pt").read_bytes()
    (trained / "best.pt").write_bytes(data[:1000])
    assert_one_line_error(run("sample", trained / "best.pt"), "truncated or corrupt")


def test_resume_and_init_from_conflict(trained):
    assert_one_line_error(run("train", "tiny.txt", "--out", trained, "--resume", "--init-from", trained),
                          "cannot be combined")


def test_module_entry_point_and_version():
    result = subprocess.run([sys.executable, "-m", "charlstm", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("charlstm ")


def test_every_command_has_help_with_examples():
    for command in ("prepare", "train", "sample", "eval", "info", "demo"):
        result = run(command, "--help")
        assert result.exit_code == 0 and "Examples" in result.stdout, command


def test_ctrl_c_saves_and_says_how_to_resume(workdir):
    process = subprocess.Popen(
        [sys.executable, "-m", "charlstm", "train", "tiny.txt", "--max-steps", "100000", "--eval-every", "100000",
         *TINY], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})
    deadline = time.time() + 60
    while time.time() < deadline and not (workdir / "checkpoints" / "tiny" / "config.json").exists():
        time.sleep(0.1)
    time.sleep(1.0)  # a few steps in
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "charlstm train --resume --out checkpoints/tiny" in stderr and "Traceback" not in stderr
    saved = torch.load(workdir / "checkpoints" / "tiny" / "last.pt", weights_only=True)
    assert saved["progress"]["step"] > 0


def test_train_log_without_a_terminal_is_plain_lines(workdir):
    """stderr not a terminal (a log file, CI): no progress bar and its carriage returns, one line per
    evaluation, and the progress line limited to one every LOG_EVERY seconds."""
    result = run("train", "tiny.txt", "--out", "r", *TINY, "--max-steps", "12", "--eval-every", "4")
    assert result.exit_code == 0
    assert "\r" not in result.stderr
    assert [line.split(":")[0] for line in result.stderr.splitlines() if line.startswith("step ")] == \
        ["step 4", "step 8", "step 12"]


def test_train_json_summary(workdir):
    result = run("train", "tiny.txt", "--out", "r", *TINY, "--max-steps", "6", "--eval-every", "3", "--json")
    summary = json.loads(result.stdout)
    assert result.exit_code == 0 and summary["steps"] == 6 and summary["reason"] == "max_steps"
    assert summary["run_dir"] == "r" and summary["best_val_loss"] <= summary["last_val_loss"] + 1e-12


def test_chrono_init_is_a_train_option(workdir):
    result = run("train", "tiny.txt", "--out", "c", *TINY, "--max-steps", "2", "--chrono-init", "40")
    assert result.exit_code == 0
    assert json.loads((workdir / "c" / "config.json").read_text())["model"]["chrono_init"] == 40
    assert_one_line_error(run("train", "tiny.txt", "--out", "c2", *TINY, "--chrono-init", "2"), "--chrono-init")


def test_the_view_measures_speed_over_the_last_seconds():
    """The library reports facts (characters seen, elapsed time); the view derives characters/second from
    the last couple of seconds, so a slow start or a resumed run's history does not skew it."""
    from charlstm.cli.train_view import Speedometer

    speed = Speedometer(window=2.0)
    assert speed(1_000_000, 500.0) == 0.0          # a resumed run: nothing measured yet
    assert speed(1_001_000, 501.0) == 1000.0
    assert speed(1_003_000, 502.0) == 1500.0       # 3,000 chars in the 2 s since the mark
    assert speed(1_013_000, 503.0) == 10000.0      # a new mark was taken at 502 s
