"""What a training run shows while it runs (progress bar or log lines, evaluations, samples), and the
Ctrl-C/SIGTERM handling that stops it cleanly: shared by ``train``, ``compare`` and ``demo``."""

from __future__ import annotations

import signal
import sys
import threading
import time

from charlstm.cli.render import console, human_count, nats
from charlstm.loss_units import bits_per_char


# Without a terminal (a log file, CI, nohup) a progress line is written at most this often, in seconds.
LOG_EVERY = 30.0


class TrainView:
    """Turns training events into progress and evaluation reports: a tqdm bar (progress of the budget) in a
    terminal; without one, plain lines (one per evaluation, and a progress line at most every
    ``LOG_EVERY`` seconds), since a bar's carriage returns make a log one enormous line."""

    def __init__(self, show_samples: bool = True, terminal: bool | None = None):
        self.bar = None
        self.show_samples = show_samples
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self.done = 0
        self.logged = time.monotonic()
        self.speed = Speedometer()

    def __call__(self, event) -> None:
        from charlstm import train as t

        handler = {t.Started: self.started, t.Stepped: self.stepped, t.Evaluated: self.evaluated,
                   t.Finished: self.finished}.get(type(event))
        if handler:
            handler(event)

    def started(self, e) -> None:
        from tqdm import tqdm

        m, c = e.model_config, e.train_config
        console.print(f"[bold]{e.corpus}[/]: {human_count(e.train_chars)} train / {human_count(e.val_chars)} "
                      f"validation chars, vocabulary {m.vocab_size} -> {e.out_dir}")
        console.print(f"model: {m.cell} {m.num_layers} x {m.hidden_size}, embedding {m.embedding_dim}, "
                      f"dropout {m.dropout}{' (locked)' if m.locked_dropout else ''}"
                      f"{f', weight drop {m.weight_drop}' if m.weight_drop else ''}"
                      f"{f', embedding dropout {m.embedding_dropout}' if m.embedding_dropout else ''}"
                      f"{', tied' if m.tie_weights else ''}"
                      f"{f', attention over {m.attention_memory} characters' if m.attention_memory else ''}: "
                      f"[bold]{e.parameters:,}[/] parameters on {e.device}")
        budget = [f"{c.max_steps} steps" if c.max_steps else "", f"{c.epochs} epochs" if c.epochs else "",
                  f"{c.max_time:g} s" if c.max_time else ""]
        budget = " / ".join(b for b in budget if b) or f"{e.total_steps} steps (default epochs)"
        console.print(f"training: batch {c.batch_size} x seq {c.seq_len}, lr {c.lr:g}, budget {budget}"
                      + (f", {c.precision}" if c.precision != "fp32" else "")
                      + (f", resuming at step {e.start_step}" if e.start_step else ""))
        for line in e.notes:
            console.print(f"[yellow]note:[/] {line}")
        for line in e.warnings:
            console.print(f"[bold yellow]warning:[/] {line}")
        if self.terminal:
            self.bar = tqdm(total=1000, unit="‰", dynamic_ncols=True, leave=True, mininterval=0.5,
                            bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")
        self.logged = time.monotonic()

    def stepped(self, e) -> None:
        rate = self.speed(e.chars_seen, e.elapsed)  # every step, so the meter's window stays current
        status = lambda: (f"step {e.step} loss {e.loss:.3f} ({bits_per_char(e.loss):.2f} bpc) "  # noqa: E731
                          f"{rate / 1000:.1f}k chars/s")  # formatted only when shown
        if self.bar is None:
            if time.monotonic() - self.logged >= LOG_EVERY:
                console.print(f"{e.progress:4.0%} {status()}")
                self.logged = time.monotonic()
            return
        position = int(e.progress * 1000)
        if position > self.done:
            self.bar.update(position - self.done)
            self.done = position
        if e.step % 5 == 0 or e.step < 5:
            self.bar.set_postfix_str(status(), refresh=False)

    def evaluated(self, e) -> None:
        from tqdm import tqdm

        best = " (best)" if e.is_best else ""
        on = f" on {human_count(e.val_chars)} chars" if e.val_chars else ""
        lines = [f"step {e.step}: val {nats(e.val_loss)}{on}{best}, train {nats(e.train_loss)}"
                 + (f"; {watch_summary(e.memory)}" if e.memory else "")]
        if self.show_samples and e.sample:
            lines.append("  | " + e.sample.replace("\n", "\n  | "))
        for line in lines:
            if self.bar is not None:  # above the bar; tqdm.write defaults to stdout, kept for text and JSON
                tqdm.write(line, file=sys.stderr)
            else:
                console.print(line, markup=False, highlight=False)
        self.logged = time.monotonic()

    def finished(self, e) -> None:
        if self.bar is not None:
            self.bar.update(1000 - self.done if e.reason not in ("interrupted", "diverged") else 0)
        self.close()

    def close(self) -> None:
        """End the bar's line, so an error raised mid-run is printed on a line of its own."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class Speedometer:
    """Training characters per second over the last few seconds (not since the start, which a slow first
    step or a resumed run's history would skew)."""

    def __init__(self, window: float = 2.0):
        self.window = window
        self.mark: tuple[int, float] | None = None
        self.rate = 0.0

    def __call__(self, chars_seen: int, elapsed: float) -> float:
        if self.mark is None:
            self.mark = (chars_seen, elapsed)
            return self.rate
        chars, since = self.mark
        if elapsed > since:
            self.rate = (chars_seen - chars) / (elapsed - since)
        if elapsed - since >= self.window:
            self.mark = (chars_seen, elapsed)
        return self.rate


def install_stop_handlers(stop: threading.Event) -> dict:
    """First Ctrl-C or SIGTERM: finish the step, save last.pt, exit. A second Ctrl-C: stop at once."""
    received: dict = {}

    def handler(signum, frame):
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        received["signal"] = signum
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handler)
    return received


def watch_summary(reading: dict) -> str:
    """One line for the training log: "memory 100/96/90/71% at 50/100/200/400, switch 94%, score 0.88"."""
    parts = []
    for name, value in reading.items():
        if name in ("switch", "score", "mean"):
            continue
        label = "memory" if name == "cue-swap" else name
        parts.append(f"{label} {'/'.join(f'{a:.0%}'.rstrip('%') for a in value.values())}% at {'/'.join(value)}")
    if "switch" in reading:
        parts.append(f"switch {reading['switch']['after']:.0%}")
    return ", ".join(parts + [f"score {reading['score']:.2f}"])
