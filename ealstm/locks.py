"""One writer per folder: exclusive ``fcntl.flock`` locks on a ``.lock`` file.

Two ``ealstm train`` started on the same run name would otherwise both write epochs, logs and
checkpoints into one folder. :func:`folder_lock` takes a non-blocking exclusive lock on
``<folder>/.lock`` and records the holder's pid in it; a second process gets a
:class:`~ealstm.errors.RunLockedError` naming the folder and that pid. :func:`wait_lock` blocks
instead (the cache build: the second builder waits and then reuses the first one's file).

The locks belong to the open file, so the kernel releases them when the holder exits, also on
SIGKILL: a stale ``.lock`` file never blocks anybody. Within one thread the locks are
re-entrant (a member lock held by the experiment runner is not refused by ``train``); another
thread of the same process (a Dask worker runs its tasks as threads) opens its own file and is
refused or waits like another process would. Where ``fcntl`` is missing (Windows) the locks are
no-ops.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ealstm.errors import RunLockedError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lock"
_held: dict[tuple[int, Path], list] = {}  # (thread id, lock file) -> [open file, depth]
_guard = threading.Lock()


@contextmanager
def folder_lock(folder: Path, what: str = "run folder") -> Iterator[Path]:
    """Hold the exclusive lock of ``folder`` (created if needed) or raise at once.

    Raises
    ------
    RunLockedError
        Another process holds the lock; the message names ``folder`` and the holder's pid.
    """
    with _lock(Path(folder) / LOCK_NAME, blocking=False, what=what):
        yield Path(folder)


@contextmanager
def wait_lock(lock_file: Path) -> Iterator[Path]:
    """Hold the exclusive lock on ``lock_file``, waiting for another holder to release it."""
    with _lock(Path(lock_file), blocking=True, what="file"):
        yield Path(lock_file)


@contextmanager
def _lock(path: Path, blocking: bool, what: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = (threading.get_ident(), path.resolve())
    with _guard:
        entry = _held.get(key)
        if entry is not None:
            entry[1] += 1
    if entry is None:
        entry = [_acquire(path, blocking, what), 1]
        with _guard:
            _held[key] = entry
    try:
        yield
    finally:
        with _guard:
            entry[1] -= 1
            last = entry[1] == 0
            if last:
                del _held[key]
        if last:
            entry[0].close()  # closing the file releases the flock


def _acquire(path: Path, blocking: bool, what: str):  # noqa: ANN202 - an open text file
    """Open ``path``, take the exclusive lock, write our pid into it; return the open file."""
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - kept open while locked
    if fcntl is None:  # pragma: no cover - Windows
        return handle
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        holder = holder_pid(path)
        handle.close()
        raise RunLockedError(
            f"{what} {path.parent} is in use by another ealstm process (pid {holder or '?'}, "
            f"lock {path}); wait for it to finish or stop it, then run again") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def holder_pid(lock_file: Path) -> int | None:
    """Pid recorded in ``lock_file`` by its last holder, or ``None`` if none is readable."""
    try:
        return int(Path(lock_file).read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return None
