"""Run independent tasks in separate processes, so that one dying worker stops nobody else.

A :class:`concurrent.futures.ProcessPoolExecutor` is *broken* as soon as one worker process
dies (SIGKILL by the out-of-memory killer, ``os._exit``, a segfault in a native library): every
pending task then fails with ``BrokenProcessPool``. :func:`run_in_processes` instead starts one
``spawn`` process per task (at most ``workers`` at a time). A task's outcome comes back through
its own pipe; a process that exits without sending one is reported as
:class:`~ealstm.errors.WorkerDiedError` (with its exit code or signal) for that task only, and
the other tasks run on. Used through :func:`ealstm.experiment.pool.run_tasks` by the experiment
runner and the studies.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Hashable, Iterator, Mapping
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from typing import Any

from ealstm.errors import WorkerDiedError

Task = tuple[Callable[..., Any], tuple[Any, ...]]  # (picklable function, its arguments)


def run_in_processes(tasks: Mapping[Hashable, Task], workers: int
                     ) -> Iterator[tuple[Hashable, Callable[[], Any]]]:
    """Run ``fn(*args)`` of every task in its own process; yield ``(key, outcome)`` as each ends.

    ``outcome()`` returns the task's result or raises its exception (or a
    :class:`WorkerDiedError`). Functions and arguments must be picklable (``spawn`` context, so
    a calling script needs ``if __name__ == "__main__":``). On an error in the caller (e.g.
    Ctrl-C) the running processes are terminated.
    """
    ctx = get_context("spawn")
    pending = list(tasks.items())
    running: dict[Connection, tuple[Hashable, Any]] = {}
    try:
        while pending or running:
            while pending and len(running) < max(1, workers):
                key, (fn, args) = pending.pop(0)
                receiver, sender = ctx.Pipe(duplex=False)
                process = ctx.Process(target=_child, args=(sender, fn, args), daemon=True)
                process.start()
                sender.close()  # only the child holds the sending end: EOF when it ends
                running[receiver] = (key, process)
            for receiver in wait(list(running)):
                key, process = running.pop(receiver)
                yield key, _outcome(receiver, process)
    finally:
        for _key, process in running.values():
            process.terminate()
            process.join()


def _child(sender: Connection, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """Worker body: send ``("ok", result)`` or ``("error", exception)`` to the parent."""
    try:
        message = ("ok", fn(*args))
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
        message = ("error", exc)
    try:
        sender.send(message)
    except Exception:  # noqa: BLE001 - an unpicklable result or exception: send its text
        kind, value = message
        sender.send(("error", RuntimeError(f"{type(value).__name__}: {value}")))
    sender.close()


def _outcome(receiver: Connection, process: Any) -> Callable[[], Any]:
    """Read the child's message (or EOF if it died) and wait for it to exit."""
    try:
        kind, value = receiver.recv()
    except (EOFError, OSError):
        kind, value = "died", None
    receiver.close()
    process.join()
    if kind == "died":
        value = WorkerDiedError(f"the worker process died without a result ({_exit_text(process)}"
                                "): out of memory, killed, or a crash in native code")

    def outcome() -> Any:
        if kind == "ok":
            return value
        raise value

    return outcome


def _exit_text(process: Any) -> str:
    """``exit code 3`` or ``killed by SIGKILL`` for an ended process."""
    code = process.exitcode
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
