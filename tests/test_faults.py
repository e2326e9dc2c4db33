"""Faults: SIGKILL at random moments, SIGTERM, a full or read-only disk, divergence, two runs in one directory.

The crash tests kill real ``charlstm train`` processes. Starting Python and importing torch costs about 3 s
on 2 CPU cores, too much for 20 kills in a fast test, so the processes come from a fork server: one Python
process imports charlstm and torch once, then forks a child per attempt that runs the real CLI entry point
(``charlstm.cli.main`` with its own argv, stdout and stderr). The uninterrupted reference run is a plain
``python -m charlstm`` process, so the comparison also shows the forked children behave like the real thing.
"""

from __future__ import annotations

import errno
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from charlstm import checkpoint as ck
from charlstm import runlock
from charlstm.checkpoint import load_checkpoint, model_from_checkpoint
from charlstm.cli import app
from charlstm.errors import CheckpointError
from charlstm.runlock import LOCK, Owner, RunLock
from charlstm.train import train
from tests.conftest import TEXT, TINY_MODEL, TINY_TRAIN

REPO = Path(__file__).resolve().parents[1]
STEPS, EVAL = 150, 3
FLAGS = ["--num-layers", "1", "--hidden-size", "32", "--embedding-dim", "8", "--batch-size", "4", "--seq-len", "16",
         "--sample-length", "20", "--device", "cpu", "--seed", "3", "-q"]
KILLS = 20
SLOW_WRITE = 0.03  # seconds each checkpoint spends half-written on disk in the crash runs (a slow disk)
# Single-threaded everywhere: bit-for-bit comparisons need the same thread count in every process.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "COLUMNS": "200",
       "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
CHECKPOINT_TEMPS = (".last.pt.*.tmp", ".best.pt.*.tmp")


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny models gain nothing from intra-op threads, and on a busy 2-core machine two threads spin-wait
    # for each other (10x slower); conftest restores the thread count after each test.
    torch.set_num_threads(1)


def train_args(out: str, steps: int = STEPS, eval_every: int = EVAL) -> list[str]:
    return ["train", "tiny.txt", "--out", out, "--max-steps", str(steps), "--eval-every", str(eval_every), *FLAGS]


def resume_args(out: str) -> list[str]:
    return ["train", "--resume", "--out", out, "-q"]  # no corpus: the run's own, from config.json


# ------------------------------------------------------------------------------------------ fork server

FORK_SERVER = r'''
import io, json, os, signal, sys, time, traceback
import torch
torch.set_num_threads(1)
import tqdm, charlstm.cli, charlstm.train
torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))])  # its first use imports torch._dynamo (~1 s): once, here

def slow_disk(seconds):
    real = torch.save
    def save(obj, handle, *args, **kwargs):
        buffer = io.BytesIO()
        real(obj, buffer, *args, **kwargs)
        data = buffer.getvalue()
        handle.write(data[:len(data) // 2])
        handle.flush()
        time.sleep(seconds)
        handle.write(data[len(data) // 2:])
    torch.save = save

def die_after_save(step, count):
    real = charlstm.train.save_checkpoint
    left = [count]
    def save(payload, path):
        result = real(payload, path)
        if payload["progress"]["step"] == step:
            left[0] -= 1
            if left[0] == 0:
                os.kill(os.getpid(), signal.SIGKILL)
        return result
    charlstm.train.save_checkpoint = save

def child(request):
    os.chdir(request["cwd"])
    for fd, path in ((0, os.devnull), (1, request["stdout"]), (2, request["stderr"])):
        target = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC if fd else os.O_RDONLY, 0o644)
        os.dup2(target, fd)
        os.close(target)
    if request.get("slow_write"):
        slow_disk(request["slow_write"])
    if request.get("die_after_save"):
        die_after_save(*request["die_after_save"])
    sys.argv = ["charlstm", *request["argv"]]
    code = 0
    try:
        charlstm.cli.main()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 99
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

for line in sys.stdin:
    request = json.loads(line)
    if request["op"] == "run":
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            child(request)
        reply = {"pid": pid}
    else:
        _, status = os.waitpid(request["pid"], 0)
        reply = {"code": os.waitstatus_to_exitcode(status)}
    print(json.dumps(reply), flush=True)
'''


class ForkServer:
    """Starts ``charlstm`` children from a process that has already imported torch."""

    def __init__(self, cwd: Path):
        self.cwd = cwd
        self.process = subprocess.Popen([sys.executable, "-c", FORK_SERVER], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True, env=ENV, cwd=cwd)
        self.count = 0

    def _ask(self, request: dict) -> dict:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def start(self, argv: list[str], **instrument) -> "Child":
        self.count += 1
        out, err = self.cwd / f"child{self.count}.out", self.cwd / f"child{self.count}.err"
        pid = self._ask({"op": "run", "argv": argv, "cwd": str(self.cwd), "stdout": str(out), "stderr": str(err),
                         **instrument})["pid"]
        return Child(self, pid, out, err)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


class Child:
    def __init__(self, server: ForkServer, pid: int, out: Path, err: Path):
        self.server, self.pid, self.out, self.err = server, pid, out, err

    def kill(self, signum: int = signal.SIGKILL) -> None:
        os.kill(self.pid, signum)  # an exited child stays a zombie until wait(), so this never misses

    def wait(self) -> int:
        """Exit code, or minus the signal that killed it (the server reaps it, so its PID is then gone)."""
        return self.server._ask({"op": "wait", "pid": self.pid})["code"]

    @property
    def stderr(self) -> str:
        """What it wrote to stderr ("" if it was killed before it could open the file)."""
        return self.err.read_text(encoding="utf-8", errors="replace") if self.err.exists() else ""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("faults")
    (path / "tiny.txt").write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def server(workdir):
    server = ForkServer(workdir)
    yield server
    server.close()


@pytest.fixture(scope="module")
def reference(workdir):
    """The uninterrupted run, in a plain `python -m charlstm` process."""
    result = subprocess.run([sys.executable, "-m", "charlstm", *train_args("reference")], cwd=workdir, env=ENV,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return workdir / "reference"


# ------------------------------------------------------------------------------------------- helpers

def payload_without_clock(path: Path) -> dict:
    payload = load_checkpoint(path)
    payload["progress"].pop("elapsed")  # wall-clock time is the one thing a crash may change
    return payload


def assert_identical(a, b, where: str = "checkpoint") -> None:
    """Same structure, same values; tensors equal bit for bit (torch.equal, dtype included)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (where, sorted(a), sorted(b))
        for key in a:
            assert_identical(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for index, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{where}[{index}]")
    else:
        assert a == b, (where, a, b)


def metrics_without_clock(run: Path) -> list[dict]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in record.items() if k != "elapsed"} for record in records]


def checkpoint_steps(run: Path) -> dict[str, int]:
    """Load every checkpoint in the run directory fully (weights into a model); their steps by name."""
    steps = {}
    for name in (ck.LAST, ck.BEST):
        if (run / name).exists():
            payload = load_checkpoint(run / name)
            model_from_checkpoint(payload)
            steps[name] = payload["progress"]["step"]
    return steps


def temporaries(run: Path) -> list[Path]:
    return [path for pattern in CHECKPOINT_TEMPS for path in run.glob(pattern)]


def wait_for(condition, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.001)
    return False


def half_written_checkpoint(run: Path) -> bool:
    return any(path.stat().st_size > 0 for path in temporaries(run) if path.exists())


def assert_one_error_line(stderr: str, *patterns: str) -> str:
    """The last line is the one `charlstm: error:` line, and no traceback was printed."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "charlstm: error:" in line]
    assert len(errors) == 1 and lines[-1].startswith("charlstm: error:"), stderr
    for pattern in patterns:
        assert pattern.lower() in errors[0].lower(), errors[0]
    return errors[0]


def run_cli(*args) -> "CliRunner":
    return CliRunner().invoke(app, [str(a) for a in args])


# --------------------------------------------------------------------------------------- crash anywhere

def test_sigkill_at_random_moments_then_resume_is_bit_for_bit(server, workdir, reference):
    run = workdir / "crashed"
    rng = random.Random(1234)
    killed = mid_write = fresh_starts = 0
    newest = -1
    for attempt in range(KILLS):
        fresh = newest < 0  # killed before its first checkpoint: nothing to resume yet
        fresh_starts += fresh
        child = server.start(train_args("crashed") + ["--overwrite"] if fresh else resume_args("crashed"),
                             slow_write=SLOW_WRITE)
        if attempt == 0:  # as soon as the run has begun: before its first checkpoint
            wait_for(lambda: (run / "config.json").exists())
        elif attempt % 4 == 3:  # while a checkpoint is half-written
            wait_for(lambda: half_written_checkpoint(run))
        else:
            time.sleep(rng.uniform(0.02, 0.6))
        child.kill()
        code = child.wait()
        assert code in (0, -signal.SIGKILL), child.stderr
        killed += code == -signal.SIGKILL
        mid_write += bool(temporaries(run))
        resumed_at = re.search(r"resuming at step (\d+)", child.stderr)
        if resumed_at:  # (the kill may come before it says so)
            assert int(resumed_at.group(1)) == newest
        steps = checkpoint_steps(run)
        assert all(step % EVAL == 0 for step in steps.values()), steps  # only ever written at evaluations
        assert steps.get(ck.LAST, -1) >= newest, steps  # a checkpoint is never replaced by an older one
        newest = steps.get(ck.LAST, -1)

    final = server.start(train_args("crashed") + ["--overwrite"] if newest < 0 else resume_args("crashed"))
    assert final.wait() == 0, final.stderr
    # On this 2-core machine all 20 attempts die; a much faster one may finish the run before the last kills.
    assert killed >= KILLS // 2, f"only {killed} of {KILLS} attempts were killed (the run finished too soon)"
    assert mid_write >= 3, f"only {mid_write} kills landed while a checkpoint was half-written"
    assert fresh_starts >= 2, "no kill landed before the first checkpoint"
    for name in (ck.LAST, ck.BEST):
        assert_identical(payload_without_clock(reference / name), payload_without_clock(run / name), name)
    assert metrics_without_clock(run) == metrics_without_clock(reference)  # no lost, repeated or torn record
    assert not temporaries(run) and not (run / LOCK).exists()


def test_kill_between_best_and_last_checkpoint(server, workdir, reference):
    """best.pt and last.pt are two files; a crash between them must not leave best.pt stale for good."""
    assert load_checkpoint(reference / ck.BEST)["progress"]["step"] == STEPS  # so the final best.pt matters
    run = workdir / "between"
    child = server.start(train_args("between"), die_after_save=[STEPS, 1])
    assert child.wait() == -signal.SIGKILL
    steps = checkpoint_steps(run)
    assert sorted(steps.values()) == [STEPS - EVAL, STEPS]  # one of the pair is new, the other a step behind
    assert (run / LOCK).exists()  # the dead run's lock is still there: the resume must take it over
    resumed = server.start(resume_args("between"))
    assert resumed.wait() == 0, resumed.stderr
    assert "took over a stale lock" in resumed.stderr
    for name in (ck.LAST, ck.BEST):
        assert_identical(payload_without_clock(reference / name), payload_without_clock(run / name), name)
    assert metrics_without_clock(run) == metrics_without_clock(reference)


def test_resume_drops_torn_and_orphaned_metrics_and_stale_temporaries(workdir, corpus):
    run = workdir / "torn"
    config = {**TINY_TRAIN, "max_steps": 20}
    train(corpus, run, model_config=TINY_MODEL, train_config=config)
    with open(run / "metrics.jsonl", "a") as handle:  # what a kill after logging step 30 leaves
        handle.write(json.dumps({"step": 30, "val_loss": 1.0}) + "\n" + '{"step": 40, "val_lo')
    (run / ".last.pt.abc123.tmp").write_bytes(b"half a checkpoint")
    (run / ".config.json.abc123.tmp").write_bytes(b"{")
    train(corpus, run, resume=True, train_config={"max_steps": 30})
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [10, 20, 30]
    assert not list(run.glob(".*.tmp"))


def test_resuming_a_finished_run_changes_nothing(workdir, corpus):
    run = workdir / "finished"
    train(corpus, run, model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 20})
    before = {name: (run / name).read_bytes() for name in (ck.LAST, ck.BEST, "metrics.jsonl")}
    result = train(corpus, run, resume=True)
    assert result.step == 20 and result.history == ()
    assert {name: (run / name).read_bytes() for name in before} == before


# ------------------------------------------------------------------------------------------------ SIGTERM

def test_sigterm_saves_exits_0_and_says_how_to_resume(server, workdir):
    run = workdir / "terminated"
    child = server.start(train_args("terminated", steps=100_000, eval_every=5))
    assert wait_for(lambda: (run / ck.LAST).exists(), timeout=30)  # at least 5 steps in
    child.kill(signal.SIGTERM)
    assert child.wait() == 0, child.stderr
    advice = [line for line in child.stderr.splitlines() if "--resume" in line]
    assert len(advice) == 1 and "Resume with: charlstm train --resume --out terminated" in advice[0]
    step = int(re.search(r"stopped at step (\d+)", advice[0]).group(1))
    assert "Traceback" not in child.stderr
    assert step >= 5 and load_checkpoint(run / ck.LAST)["progress"]["step"] == step  # saved where it stopped
    assert not (run / LOCK).exists()


# ---------------------------------------------------------------------------------- disk full, read-only

@pytest.fixture
def cli_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.txt").write_text(TEXT, encoding="utf-8")
    return tmp_path


def first_run(name: str, steps: int = 5, eval_every: int = 5) -> Path:
    result = run_cli(*train_args(name, steps=steps, eval_every=eval_every))
    assert result.exit_code == 0, result.output
    return Path(name)


def snapshot(run: Path) -> dict[str, bytes]:
    return {name: (run / name).read_bytes() for name in (ck.LAST, ck.BEST)}


class FullDisk:
    """Files opened by charlstm.checkpoint get ``free`` bytes in all; the write that needs more fails."""

    def __init__(self, free: int):
        self.free = free
        self.failures = 0

    def fdopen(self, fd, mode="r", *args, **kwargs):
        disk, handle = self, os.fdopen(fd, mode, *args, **kwargs)

        class Limited:
            def __getattr__(self, name):
                return getattr(handle, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                handle.close()

            def write(self, data):
                if len(data) > disk.free:
                    handle.write(bytes(data[:disk.free]))
                    disk.free, disk.failures = 0, disk.failures + 1
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                disk.free -= len(data)
                return handle.write(data)

        return Limited()


class OsWith:
    """The os module with some functions replaced, for patching one charlstm module's view of it."""

    def __init__(self, **replacements):
        self.replacements = replacements

    def __getattr__(self, name):
        return self.replacements.get(name) or getattr(os, name)


def test_disk_full_while_checkpointing_keeps_the_previous_checkpoint(cli_dir, monkeypatch):
    run = first_run("full")
    before = snapshot(run)
    disk = FullDisk(free=len(before[ck.LAST]) // 2)  # room for config.json, not for a whole checkpoint
    monkeypatch.setattr(ck, "os", OsWith(fdopen=disk.fdopen))
    result = run_cli("train", "--resume", "--out", "full", "--max-steps", "20")
    assert result.exit_code == 1 and disk.failures == 1
    assert_one_error_line(result.stderr, "could not write full/", "No space left on device", "intact")
    assert snapshot(run) == before and checkpoint_steps(run) == {ck.LAST: 5, ck.BEST: 5}
    assert not list(run.glob(".*.tmp")) and not (run / LOCK).exists()
    monkeypatch.undo()  # space freed: the run resumes from step 5 as if nothing happened
    monkeypatch.chdir(cli_dir)
    assert run_cli("train", "--resume", "--out", "full", "--max-steps", "20").exit_code == 0
    assert [r["step"] for r in metrics_without_clock(run)] == [5, 10, 15, 20]


def test_disk_full_while_logging_metrics(cli_dir, monkeypatch):
    run = first_run("log")
    before = snapshot(run)

    def full_disk_open(path, mode="r", *args, **kwargs):
        if str(path).endswith("metrics.jsonl") and "a" in mode:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return open(path, mode, *args, **kwargs)

    monkeypatch.setattr("charlstm.rundir.open", full_disk_open, raising=False)
    result = run_cli("train", "--resume", "--out", "log", "--max-steps", "20")
    assert result.exit_code == 1
    assert_one_error_line(result.stderr, "metrics.jsonl", "No space left on device")
    assert snapshot(run) == before and not (run / LOCK).exists()


def test_disk_full_while_preparing_a_corpus(cli_dir, monkeypatch):
    def no_space(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", no_space, raising=False)
    result = run_cli("prepare", "tiny.txt")
    assert result.exit_code == 1
    assert_one_error_line(result.stderr, "cannot write the prepared corpus", "No space left on device")
    assert not list((cli_dir / "data" / "cache").iterdir())  # no half-written cache left behind


def read_only_checks(run: Path, before: dict[str, bytes]) -> None:
    result = run_cli("train", "--resume", "--out", run, "--max-steps", "20")
    assert result.exit_code == 1
    assert_one_error_line(result.stderr, f"cannot write in {run}", "writable run directory")
    assert snapshot(run) == before
    sampled = run_cli("sample", run, "--length", "10", "--seed", "1")  # reading needs no write access
    assert sampled.exit_code == 0, sampled.output


def test_read_only_run_directory(cli_dir):
    run = first_run("readonly")
    before = snapshot(run)
    run.chmod(0o555)
    try:
        if os.access(run, os.W_OK):
            pytest.skip("running as root: the kernel ignores directory permissions "
                        "(test_read_only_file_system_simulated covers the same path)")
        read_only_checks(run, before)
    finally:
        run.chmod(0o755)


def test_read_only_file_system_simulated(cli_dir, monkeypatch):
    run = first_run("erofs")
    before = snapshot(run)

    def read_only_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and Path(path).resolve().is_relative_to(run.resolve()):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return os.open(path, flags, *args, **kwargs)

    monkeypatch.setattr(runlock, "os", OsWith(open=read_only_open))
    read_only_checks(run, before)


# -------------------------------------------------------------------------------------------- divergence

def test_divergence_via_the_cli_stops_and_keeps_the_last_good_checkpoint(cli_dir, monkeypatch):
    run = first_run("nan", steps=10, eval_every=10)
    before = snapshot(run)
    real = torch.nn.functional.cross_entropy
    monkeypatch.setattr("charlstm.train.F.cross_entropy", lambda *a, **k: real(*a, **k) * float("nan"))
    result = run_cli("train", "--resume", "--out", "nan", "--max-steps", "20")
    assert result.exit_code == 1
    assert_one_error_line(result.stderr, "diverged at step 11", "NaN", "nan/last.pt holds the last good checkpoint")
    assert snapshot(run) == before and not (run / LOCK).exists()
    weights = load_checkpoint(run / ck.LAST)["model"]
    assert all(torch.isfinite(tensor).all() for tensor in weights.values())


# ----------------------------------------------------------------------------------- two runs, one directory

def test_a_live_run_locks_its_directory(server, cli_dir, workdir):
    """A second `train` into a directory a live run is writing to is refused before it touches a file."""
    first = server.start(train_args("live", steps=100_000, eval_every=20))
    run = workdir / "live"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (run / ck.LAST).exists():
        time.sleep(0.02)
    try:
        holder = json.loads((run / LOCK).read_text())
        assert holder["pid"] == first.pid
        for args in (["tiny.txt", "--overwrite"], ["--resume", "--max-steps", "5"]):
            result = run_cli("train", *args, "--out", run, *FLAGS)
            assert result.exit_code == 1
            assert_one_error_line(result.stderr, "in use by another training run", f"PID {first.pid}")
            assert (run / ck.LAST).exists() and (run / "metrics.jsonl").exists()  # --overwrite deleted nothing
    finally:
        first.kill(signal.SIGTERM)
        assert first.wait() == 0
    assert not (run / LOCK).exists()  # released on the way out


def test_a_stale_lock_is_taken_over_with_a_note(cli_dir):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run = cli_dir / "stale"
    run.mkdir()
    (run / LOCK).write_text(Owner(pid=dead.pid, host=Owner.current().host, since="yesterday").to_json())
    result = run_cli(*train_args("stale", steps=3))
    assert result.exit_code == 0, result.output
    assert f"took over a stale lock in stale: the run that held it (PID {dead.pid}, started yesterday) is gone" \
        in " ".join(result.stderr.split())
    assert not (run / LOCK).exists()


def test_lock_held_by_a_live_process_or_another_host_refuses_the_library_too(tmp_path, corpus):
    tmp_path.joinpath(LOCK).write_text(Owner.current().to_json())  # this very process: certainly alive
    with pytest.raises(CheckpointError, match=f"in use by another training run \\(PID {os.getpid()} "):
        train(corpus, tmp_path, model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 2})
    tmp_path.joinpath(LOCK).write_text(Owner(pid=1, host="elsewhere.example").to_json())
    with pytest.raises(CheckpointError, match="PID 1 on host elsewhere.example.*delete .*\\.lock"):
        train(corpus, tmp_path, model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 2})
    assert not (tmp_path / ck.LAST).exists() and not (tmp_path / "metrics.jsonl").exists()


def test_a_reused_pid_or_garbage_is_not_a_live_lock(tmp_path):
    reused = Owner(pid=os.getpid(), host=Owner.current().host, started="not-our-start-time")
    if Owner.current().started is None:
        pytest.skip("no /proc here: process start times cannot be compared")
    tmp_path.joinpath(LOCK).write_text(reused.to_json())
    with RunLock(tmp_path) as lock:
        assert "is gone" in lock.notes[0]
    tmp_path.joinpath(LOCK).write_text("{not json")
    with RunLock(tmp_path) as lock:
        assert "unreadable lock" in lock.notes[0]
    assert not (tmp_path / LOCK).exists()


def test_lock_is_released_on_errors_and_ctrl_c(tmp_path, corpus):
    def interrupt(event):
        if getattr(event, "step", 0) == 3:
            raise KeyboardInterrupt  # a second Ctrl-C stops at once, from inside the loop

    with pytest.raises(KeyboardInterrupt):
        train(corpus, tmp_path, model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 20}, on_event=interrupt)
    assert not (tmp_path / LOCK).exists()
    with RunLock(tmp_path):  # and it can be taken again at once
        assert (tmp_path / LOCK).exists()
