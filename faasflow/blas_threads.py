"""The machine's cores shared among shards that run at once.

Each BLAS call (numpy's matrix products: list assignment, scoring) uses every core by
default. When the engine runs several shards in parallel threads, each of their calls
would start that many threads: more threads than cores, which OpenBLAS's spinning threads
make costly (on 2 cores, four shards indexing at once ran about 15% slower than with one
BLAS thread each). While shards run in parallel, each BLAS call gets an equal share of
the cores instead; one shard alone, or shards run in sequence, keep them all.

The BLAS library's thread count is one setting for the whole process, so concurrent
parallel stages share one limit: the first in sets it and restores it when it leaves (on
its own thread: OpenBLAS ignores a raise made by another thread than the one that
lowered it from the main thread), even if another is still inside, which then runs the
rest of its calls with all the cores, as without the limit. threadpoolctl finds and sets
it; it is imported on the first parallel stage only.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_lock = threading.Lock()
_limiter: Any = None  # threadpoolctl's limiter while a parallel stage has one set
_controller: Any = None  # the process's BLAS libraries (threadpoolctl), found once
_found = False


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _blas() -> Any:
    global _controller, _found
    if not _found:
        from threadpoolctl import ThreadpoolController

        controller = ThreadpoolController().select(user_api="blas")
        _controller = controller if controller.lib_controllers else None
        _found = True
    return _controller


@contextmanager
def shared_by(threads: int) -> Iterator[None]:
    """Within it, each BLAS call uses ``cores() // threads`` threads (at least one): for
    ``threads`` calls running at once."""
    global _limiter
    mine = None
    with _lock:
        blas = _blas()
        if blas is not None and _limiter is None:
            mine = _limiter = blas.limit(limits=max(cores() // max(threads, 1), 1))
    try:
        yield
    finally:
        if mine is not None:
            with _lock:
                mine.restore_original_limits()
                _limiter = None
