"""``charlstm sample --interactive`` driven through a real pseudo-terminal, as a user types into it."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

import pytest

from charlstm.checkpoint import load_model
from charlstm.sample import SamplingOptions, sample_text

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
PROMPT = "> "


class Terminal:
    """A command running on a pseudo-terminal: type lines, read what it shows up to the next prompt."""

    def __init__(self, *args: str):
        self.master, slave = pty.openpty()
        env = {**os.environ, "COLUMNS": "200"}
        self.process = subprocess.Popen([sys.executable, "-m", "charlstm", *args], stdin=slave, stdout=slave,
                                        stderr=slave, close_fds=True, env=env)
        os.close(slave)

    def read_until(self, marker: str, timeout: float = 60) -> str:
        seen, deadline = b"", time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:   # the command ended and closed the terminal
                    break
                seen += chunk
                if marker.encode() in seen:
                    return seen.decode(errors="replace").replace("\r\n", "\n")
        raise AssertionError(f"{marker!r} never appeared; the terminal showed {seen!r}")

    def type(self, line: str) -> str:
        """Type a line and return what appeared before the next prompt (the echo of the line removed)."""
        os.write(self.master, line.encode() + b"\n")
        shown = self.read_until("\n" + PROMPT)
        return shown[:-len(PROMPT)].split("\n", 1)[1]

    def close(self) -> int:
        os.write(self.master, b"\x04")   # Ctrl-D
        code = self.process.wait(timeout=30)
        os.close(self.master)
        return code


@pytest.fixture(scope="module")
def memory_model():
    model, vocab, _, _ = load_model("pretrained:memory-lstm")
    return model, vocab


def test_interactive_continues_keeps_state_resets_and_leaves_on_ctrl_d(memory_model):
    model, vocab = memory_model
    prompt = "I grew up in France. I speak fluent "
    twenty = sample_text(model, vocab, 20, prompt=prompt, options=SamplingOptions(greedy=True))
    terminal = Terminal("sample", "pretrained:memory-lstm", "--interactive", "--greedy", "--length", "10")
    try:
        terminal.read_until(PROMPT)
        first = terminal.type(prompt)
        assert first == twenty[:10] + "\n" and first.startswith("French")
        # An empty line continues from where the state stopped: the next ten characters of one long sample.
        assert terminal.type("") == twenty[10:] + "\n"
        assert "state reset" in terminal.type("/reset")
        assert terminal.type(prompt) == first                     # a fresh state reads the prompt as at first
        assert "length 3" in terminal.type("/length 3")
        assert terminal.type("/reset") and terminal.type(prompt) == twenty[:3] + "\n"
        assert "unknown command /nope" in terminal.type("/nope")
        assert "warning" in terminal.type("/temp hot")             # a bad value changes nothing, says why
        assert "not in the model's vocabulary" in terminal.type("\u00e9t\u00e9")   # refused, the loop goes on
        assert "temperature 0.5" in terminal.type("/temp 0.5")
        assert "seed 7" in terminal.type("/seed 7")
        sampled = terminal.type("I speak")
        assert len(sampled) == 4 and sampled.endswith("\n")
    finally:
        code = terminal.close()
    assert code == 0
