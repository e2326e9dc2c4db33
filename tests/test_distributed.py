"""Distributed training on the CPU (gloo on the loopback interface), through the real launcher:
``torchrun --nproc-per-node 2 -m charlstm train`` gives the weights one process gives with all the
streams, a SIGTERM to one worker stops both with last.pt saved once, and the run resumes exactly, on the
same number of processes or another."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from charlstm.batching import StreamBatcher
from charlstm.cli import app
from charlstm.corpus import corpus_from_text
from charlstm.distributed import World, world_from_env
from charlstm.errors import ConfigError
from charlstm.train import train
from tests.conftest import TEXT, TINY_MODEL, TINY_TRAIN

MODEL_FLAGS = ["--num-layers", "1", "--hidden-size", "32", "--embedding-dim", "8", "--batch-size", "8",
               "--seq-len", "16", "--device", "cpu", "--seed", "3", "--quiet"]


def torchrun(*args: str, cwd: Path, wait: bool = True):
    """``torchrun --standalone --nproc-per-node 2 -m charlstm ...`` with one thread per process, on loopback."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "charlstm", *args]
    if not wait:
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def weights(path: Path) -> dict:
    return torch.load(path, weights_only=True)["model"]


def max_difference(a: dict, b: dict) -> float:
    return max(float((a[k] - b[k]).abs().max()) for k in a)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("ddp")
    (path / "tiny.txt").write_text(TEXT * 20, encoding="utf-8")
    return path


def test_two_processes_with_half_the_streams_each_train_like_one_with_all(workdir):
    """2 x B/2 streams == 1 x B streams (no dropout: masks are drawn per process), and a run stopped on 2
    processes resumes on 1 to the weights the 1-process run reaches when it is resumed the same way."""
    flags = ["tiny.txt", *MODEL_FLAGS, "--dropout", "0", "--eval-every", "3"]
    torchrun("train", *flags, "--max-steps", "6", "--out", "two", cwd=workdir)
    os.chdir(workdir)
    result = CliRunner().invoke(app, ["train", *flags, "--max-steps", "6", "--out", "one"])
    assert result.exit_code == 0, result.output
    assert max_difference(weights(workdir / "one" / "last.pt"), weights(workdir / "two" / "last.pt")) < 1e-5
    two, one = (torch.load(workdir / run / "last.pt", weights_only=True) for run in ("two", "one"))
    assert two["state"][0].shape == one["state"][0].shape == (1, 8, 32)     # all streams, in order
    assert torch.allclose(two["state"][1], one["state"][1], atol=1e-5)
    assert len(two["rank_rng"]) == 2 and two["progress"]["chars_seen"] == one["progress"]["chars_seen"]
    for run in ("one", "two"):
        result = CliRunner().invoke(app, ["train", "--resume", "--out", run, "--max-steps", "12"])
        assert result.exit_code == 0, result.output
        assert ("saved by 2 process(es) and resumes on 1" in result.stderr) == (run == "two")
    assert max_difference(weights(workdir / "one" / "last.pt"), weights(workdir / "two" / "last.pt")) < 1e-5


def test_two_processes_train_a_model_with_attention_like_one(workdir):
    """The attention's memory is carried state: gathered from both processes in stream order; streams that
    start fresh (--fresh-starts) are the same streams however many processes read them."""
    flags = ["tiny.txt", *MODEL_FLAGS, "--dropout", "0", "--eval-every", "3", "--attention-memory", "24",
             "--max-steps", "6", "--fresh-starts", "0.4"]
    torchrun("train", *flags, "--out", "two-attending", cwd=workdir)
    os.chdir(workdir)
    result = CliRunner().invoke(app, ["train", *flags, "--out", "one-attending"])
    assert result.exit_code == 0, result.output
    two, one = (torch.load(workdir / run / "last.pt", weights_only=True) for run in ("two-attending", "one-attending"))
    assert max_difference(one["model"], two["model"]) < 1e-5
    assert two["state"][2].shape == one["state"][2].shape == (24, 8, 32)    # keys: M slots, all streams, d = min(64, H)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(two["state"], one["state"]))


def launch_and_wait_for_a_checkpoint(flags: list[str], out: str, workdir: Path):
    """Start a 2-process run into ``out`` and wait until it has written last.pt: (launcher, worker pids)."""
    launcher = torchrun("train", *flags, "--out", out, cwd=workdir, wait=False)
    deadline = time.monotonic() + 120
    while not (workdir / out / "last.pt").exists() and launcher.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = subprocess.run(["pgrep", "-P", str(launcher.pid)], capture_output=True, text=True).stdout.split()
    assert len(workers) == 2, "both workers should still be training"
    return launcher, workers


def test_sigterm_to_one_worker_stops_both_and_the_run_resumes_exactly(workdir):
    flags = ["tiny.txt", *MODEL_FLAGS, "--dropout", "0.1", "--eval-every", "15", "--max-steps", "120"]
    torchrun("train", *flags, "--out", "whole", cwd=workdir)
    launcher, workers = launch_and_wait_for_a_checkpoint(flags, "cut", workdir)
    os.kill(int(workers[-1]), signal.SIGTERM)      # one worker only: the stop must reach the other
    output, _ = launcher.communicate(timeout=120)
    assert launcher.returncode == 0, output[-3000:]
    stopped = torch.load(workdir / "cut" / "last.pt", weights_only=True)["progress"]["step"]
    assert 15 <= stopped < 120 and output.count("stopped at step") == 1   # rank 0 saved and said so once
    torchrun("train", "--resume", "--out", "cut", cwd=workdir)
    assert max_difference(weights(workdir / "whole" / "last.pt"), weights(workdir / "cut" / "last.pt")) == 0.0


def test_a_killed_worker_leaves_one_error_line_and_a_run_that_resumes_exactly(workdir):
    """SIGKILL (the OOM killer, a lost machine) gives the survivor no chance to agree on a stop: it must
    still say in one line what happened and how to resume, and rank 0's last.pt must resume exactly."""
    flags = ["tiny.txt", *MODEL_FLAGS, "--dropout", "0.1", "--eval-every", "15", "--max-steps", "120"]
    if not (workdir / "whole" / "last.pt").exists():
        torchrun("train", *flags, "--out", "whole", cwd=workdir)
    launcher, workers = launch_and_wait_for_a_checkpoint(flags, "killed", workdir)
    os.kill(int(workers[-1]), signal.SIGKILL)
    output, _ = launcher.communicate(timeout=120)
    assert launcher.returncode != 0
    errors = [line for line in output.splitlines() if line.startswith("charlstm: error:")]
    assert len(errors) == 1 and "another process of this run stopped" in errors[0], output[-3000:]
    assert "--resume --out killed" in errors[0] and "[rank0]: Traceback" not in output
    assert torch.load(workdir / "killed" / "last.pt", weights_only=True)["progress"]["step"] >= 15
    torchrun("train", "--resume", "--out", "killed", cwd=workdir)
    assert max_difference(weights(workdir / "whole" / "last.pt"), weights(workdir / "killed" / "last.pt")) == 0.0


def test_streams_are_split_evenly_between_processes(corpus):
    world = World(rank=1, size=2)
    assert world.rows(8) == slice(4, 8)
    whole = StreamBatcher(corpus.train, 8, 16)
    half = StreamBatcher(corpus.train, 8, 16, rows=world.rows(8))
    assert half.batch_size == 4 and torch.equal(half.window(3).inputs, whole.window(3).inputs[4:])
    with pytest.raises(ConfigError, match="multiple of the 3 processes"):
        train(corpus, "unused", model_config=TINY_MODEL, train_config={**TINY_TRAIN, "batch_size": 4}, world=World(0, 3))


def test_the_world_comes_from_torchruns_environment(monkeypatch):
    assert world_from_env() == World()
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert world_from_env() == World(rank=1, size=4, local_rank=1) and not world_from_env().is_main
    monkeypatch.setenv("WORLD_SIZE", "four")
    with pytest.raises(ConfigError, match="whole numbers"):
        world_from_env()


def test_a_world_of_one_changes_nothing(tmp_path):
    corpus = corpus_from_text(TEXT, name="tiny", val_fraction=0.1)
    train(corpus, tmp_path / "a", model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 4})
    train(corpus, tmp_path / "b", model_config=TINY_MODEL, train_config={**TINY_TRAIN, "max_steps": 4}, world=World())
    assert max_difference(weights(tmp_path / "a" / "last.pt"), weights(tmp_path / "b" / "last.pt")) == 0.0
    assert torch.load(tmp_path / "a" / "last.pt", weights_only=True)["rank_rng"] is None


@pytest.mark.parametrize("world_size, finalized", [("2", False), ("1", True)])
def test_a_torchrun_worker_ends_without_finalizing_and_keeps_its_output_and_exit_code(world_size, finalized, tmp_path):
    """The interpreter's finalization after DDP over gloo aborted now and then: a worker ends before it
    (no atexit handler runs), with its stdout, its one error line and its exit code intact."""
    script = ("import atexit; atexit.register(lambda: print('finalized')); "
              "from charlstm.cli import main; main()")
    env = {**os.environ, "WORLD_SIZE": world_size}
    for args, code, stream, text in ((["--version"], 0, "stdout", "charlstm "),
                                     (["sample", str(tmp_path / "nothing")], 1, "stderr", "charlstm: error:")):
        result = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == code and getattr(result, stream).startswith(text), result.stderr
        assert ("finalized" in result.stdout) == finalized
