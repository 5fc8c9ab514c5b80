"""Progress reporting that suits both a terminal and a log file.

On a terminal a :mod:`tqdm` bar is redrawn in place. When stderr is not a terminal (a batch
job, ``nohup``, CI, a pipe) redraws would fill the log with carriage-return fragments, so
:func:`track` logs a few plain lines with the elapsed time and an estimate of the time left.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

log = logging.getLogger(__name__)
_Item = TypeVar("_Item")


def is_terminal() -> bool:
    """Return whether stderr (where tqdm draws) is an interactive terminal."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def track(items: Iterable[_Item], total: int, desc: str, enabled: bool = True,
          n_lines: int = 4, leave: bool = False) -> Iterator[_Item]:
    """Iterate over ``items`` with a progress bar on a terminal, else a few log lines.

    Parameters
    ----------
    items
        What to iterate over.
    total
        Number of items (for the percentage and the time estimate).
    desc
        Short label, e.g. ``"evaluate test"``.
    enabled
        ``False`` shows nothing at all.
    n_lines
        Log lines (at equal fractions of ``total``) when stderr is not a terminal; none when
        ``total < n_lines``.
    leave
        Keep the finished bar on the terminal.
    """
    if not enabled:
        yield from items
        return
    if is_terminal():
        yield from tqdm(items, total=total, desc=desc, leave=leave)
        return
    start = time.perf_counter()
    # A handful of steps finishes at once: progress lines would be noise.
    marks = {max(1, round(total * k / n_lines)) for k in range(1, n_lines + 1)} \
        if total >= n_lines else set()
    for done, item in enumerate(items, start=1):
        yield item
        if done in marks:
            elapsed = time.perf_counter() - start
            eta = elapsed / done * (total - done)
            log.info("%s: %d/%d (%.0f%%), %.1f s elapsed, ~%.1f s left", desc, done, total,
                     100.0 * done / total, elapsed, eta)
