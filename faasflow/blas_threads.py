"""The machine's cores shared among shards that run at once.

Each BLAS call (numpy's matrix products: list assignment, scoring) uses every core by
default. When the engine runs several shards in parallel threads, each of their calls
would start that many threads: more threads than cores, which OpenBLAS's spinning threads
make costly (on 2 cores, four shards indexing at once ran about 15% slower than with one
BLAS thread each). While shards run in parallel, each BLAS call gets an equal share of
the cores instead, never more threads than it had; one shard alone, or shards run in
sequence, keep them all.

The BLAS thread count is one setting for the whole process (OpenBLAS's own thread pool),
and threadpoolctl lets one thread at a time change it. So concurrent parallel stages
share one limit: the first in sets it and, when it leaves, restores it and gives up
control, on its own thread, even if another stage is still inside (which then runs the
rest of its calls with all the cores, as without the limit). Where a user's own code
holds that control on another thread, the limit is theirs and is left alone. threadpoolctl
is imported on the first parallel stage only.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger("faasflow.blas_threads")

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
    """The BLAS libraries numpy loaded (None when there is none to control): found on the
    first parallel stage. A failure to find them costs the sharing, never the request."""
    global _controller, _found
    if not _found:
        _found = True
        try:
            from threadpoolctl import ThreadpoolController

            controller = ThreadpoolController().select(user_api="blas")
            _controller = controller if controller.lib_controllers else None
        except Exception:  # noqa: BLE001
            logger.warning("the BLAS libraries could not be inspected: shards in parallel keep every core",
                           exc_info=True)
    return _controller


@contextmanager
def shared_by(threads: int) -> Iterator[None]:
    """Within it, each BLAS call uses ``cores() // threads`` threads (at least one, and no
    more than it had): for ``threads`` calls running at once."""
    global _limiter
    mine = None
    with _lock:
        blas = _blas()
        if blas is not None and _limiter is None:
            share = max(cores() // max(threads, 1), 1)
            if share < min(lib.num_threads for lib in blas.lib_controllers):
                mine = _limiter = blas.limit(limits=share)
                mine.__enter__()  # this thread holds the setting until it leaves (threadpoolctl's control)
    try:
        yield
    finally:
        if mine is not None:
            with _lock:
                mine.__exit__(None, None, None)  # the setting as it was, and the control given up
                _limiter = None
