"""One training run per directory: a lock file naming the process that writes there.

``.lock`` in the run directory holds the owner's PID, host name and process start time as JSON. It is
written in full to a private temporary file and then hard-linked into place; the link fails if a lock
already exists, so taking the lock is atomic and no reader ever sees half of one. (Where a file system
has no hard links, ``os.open(O_CREAT | O_EXCL)`` takes its place.)

A lock whose process is gone (killed, crashed, the machine rebooted) is stale: the next run takes it over
and says so in ``notes``. A lock held by a live process refuses the second run with a CheckpointError
that names the PID. A lock from another host cannot be checked, so it refuses too and says how to clear it.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import secrets
import time
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path

from charlstm.errors import CheckpointError

LOCK = ".lock"
# Taking over a stale lock races with other runs doing the same; give up after this many rounds.
_ATTEMPTS = 5


@dataclass(frozen=True)
class Owner:
    """Who holds a lock. ``started`` tells a live owner from an unrelated process that reused its PID."""

    pid: int
    host: str
    started: str | None = None
    since: str = ""

    @classmethod
    def current(cls) -> "Owner":
        return cls(pid=os.getpid(), host=platform.node(), started=_process_start(os.getpid()),
                   since=time.strftime("%Y-%m-%d %H:%M:%S"))

    def to_json(self) -> str:
        return json.dumps(asdict(self)) + "\n"

    @classmethod
    def parse(cls, text: str) -> "Owner | None":
        """The owner a lock file names, or None if it is not a lock this module wrote."""
        try:
            data = json.loads(text)
            owner = cls(pid=data["pid"], host=data["host"], started=data.get("started"),
                        since=data.get("since", ""))
        except (ValueError, KeyError, TypeError):
            return None
        valid = (isinstance(owner.pid, int) and not isinstance(owner.pid, bool) and owner.pid > 0
                 and isinstance(owner.host, str) and isinstance(owner.started, (str, type(None))))
        return owner if valid else None


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None where /proc cannot tell."""
    fields = _proc_stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (which may itself hold spaces and parentheses)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def can_check(owner: Owner) -> bool:
    """Whether this process can tell if the owner is alive: same host, and a system where os.kill(pid, 0)
    only probes (on Windows it would send a signal)."""
    return owner.host == platform.node() and os.name != "nt"


def is_alive(owner: Owner) -> bool:
    """Whether the lock's owner may still be running (True whenever it cannot be ruled out)."""
    if not can_check(owner):
        return True
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists but belongs to another user
    fields = _proc_stat(owner.pid)
    if fields is None:
        return True  # no /proc (macOS): the PID exists, which is all we can know
    if fields[0] == "Z":
        return False  # exited, waiting to be reaped by its parent
    return owner.started is None or len(fields) <= 19 or fields[19] == owner.started


class RunLock:
    """``with RunLock(directory) as lock:`` holds ``directory/.lock`` for the block, released on any exit."""

    def __init__(self, directory: Path | str):
        self.directory = Path(directory)
        self.path = self.directory / LOCK
        self.owner = Owner.current()
        self.notes: list[str] = []
        self.held = False

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()

    def acquire(self) -> "RunLock":
        for _ in range(_ATTEMPTS):
            if self._create():
                self.held = True
                return self
            text = self._read()
            if text is None:
                continue  # released between our attempt and the read: try again
            holder = Owner.parse(text)
            if holder is not None and is_alive(holder):
                raise CheckpointError(self._busy_message(holder))
            self._take_over(holder)
        raise CheckpointError(f"{self.directory}: could not lock the run directory ({self.path} keeps "
                              f"reappearing; is another run starting there right now?)")

    def release(self) -> None:
        """Remove the lock if it is still ours (never another run's)."""
        if self.held and self._read() == self.owner.to_json():
            with suppress(OSError):
                self.path.unlink()
        self.held = False

    # -- internals --------------------------------------------------------------------------------------

    def _create(self) -> bool:
        """Put a complete lock file in place; False if one is already there."""
        content = self.owner.to_json().encode()
        tmp = self.directory / f"{LOCK}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            self._write_new(tmp, content)
            try:
                os.link(tmp, self.path)
                return True
            except FileExistsError:
                return False
            except OSError:  # no hard links on this file system
                return self._create_exclusive(content)
        except OSError as error:
            raise CheckpointError(f"cannot write in {self.directory} ({error.strerror or error}); "
                                  f"training needs a writable run directory (choose one with --out)") from None
        finally:
            with suppress(OSError):
                tmp.unlink()

    def _create_exclusive(self, content: bytes) -> bool:
        try:
            self._write_new(self.path, content)
            return True
        except FileExistsError:
            return False

    @staticmethod
    def _write_new(path: Path, content: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, content)
        finally:
            os.close(fd)

    def _read(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return None
        except OSError as error:
            if error.errno == errno.EISDIR:
                raise CheckpointError(f"{self.path} is a directory, not a lock file; remove it") from None
            raise CheckpointError(f"cannot read {self.path} ({error.strerror or error})") from None

    def _take_over(self, stale: Owner | None) -> None:
        # Another run may take it over at the same moment; unlinking a lock that just became live is the
        # remaining (microseconds-wide) race, acceptable for a guard against human mistakes.
        with suppress(FileNotFoundError):
            self.path.unlink()
        if stale is None:
            self.notes.append(f"replaced an unreadable lock file {self.path}")
            return
        for leftover in self.directory.glob(f"{LOCK}.{stale.pid}.*.tmp"):
            with suppress(OSError):
                leftover.unlink()
        self.notes.append(f"took over a stale lock in {self.directory}: the run that held it "
                          f"(PID {stale.pid}{f', started {stale.since}' if stale.since else ''}) is gone")

    def _busy_message(self, holder: Owner) -> str:
        where = "" if holder.host == platform.node() else f" on host {holder.host}"
        since = f" since {holder.since}" if holder.since else ""
        advice = ("wait for it to finish or stop it, or use another --out" if can_check(holder) else
                  f"if no run is active there, delete {self.path}")
        return (f"{self.directory} is in use by another training run (PID {holder.pid}{where}{since}); "
                f"{advice}")
