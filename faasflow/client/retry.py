"""When a Client tries a request again, and how long it waits first.

When: the connection failed or was dropped with no answer, the gateway was unavailable
(502, 503, 504), asked to slow down (429), or is still running the same request (409
``idempotency_in_progress``). Never after an answer the Flow produced.

A dropped connection does not say whether the Flow ran: the body may have arrived and the
Flow run before the answer was lost. A retry is safe only because every POST carries an
``Idempotency-Key`` (its request id, the same on every attempt): the gateway keeps the
answer the Flow gave for that key, and a repeat gets that answer without running the Flow
again (see "Idempotent retries" in the README for the window and the guarantees).

A server's ``Retry-After`` is honoured up to the Client's ``max_retry_after`` (60 s by
default). When a server asks for longer, the Client does not retry early against its
wish, nor sleep for an hour: it raises ``GatewayUnavailable`` at once, saying how long
the server asked for and what the cap is.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from faasflow.wire import IDEMPOTENCY_IN_PROGRESS as IN_PROGRESS_REASON

RETRY_STATUSES = frozenset({429, 502, 503, 504})
DEFAULT_MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: ``initial * multiplier**(attempt-1)``, capped at
    ``maximum``, each wait shortened by up to ``jitter`` of itself so that clients spread out."""

    initial: float = 0.1
    multiplier: float = 2.0
    maximum: float = 10.0
    jitter: float = 0.2

    def __call__(self, attempt: int) -> float:
        wait = min(self.maximum, self.initial * self.multiplier ** max(attempt - 1, 0))
        return wait * (1 - self.jitter * random.random())


BackoffSpec = Backoff | float | Callable[[int], float]


def delay(backoff: BackoffSpec, attempt: int, retry_after: float | None,
          maximum: float = DEFAULT_MAX_RETRY_AFTER) -> float:
    """Seconds to wait after failed ``attempt`` (1-based); a server's Retry-After wins when
    longer. Never more than ``maximum``: check ``retry_after_too_long`` first, so that a
    longer Retry-After is refused rather than cut short."""
    wait = float(backoff) if isinstance(backoff, (int, float)) else float(backoff(attempt))
    if retry_after is not None:
        wait = max(wait, retry_after)
    return max(0.0, min(wait, maximum))


def retry_after_too_long(retry_after: float | None, maximum: float = DEFAULT_MAX_RETRY_AFTER) -> bool:
    """Whether the server asked for a longer wait than the Client is willing to sleep."""
    return retry_after is not None and retry_after > maximum


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare from gateways, and ignored)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def is_still_running(status: int, body: object) -> bool:
    """A 409 saying the same request (same key) is still running: its answer comes later."""
    if status != 409 or not isinstance(body, dict):
        return False
    error = body.get("error")
    return isinstance(error, dict) and error.get("reason") == IN_PROGRESS_REASON


def is_retryable_transport_error(exc: BaseException) -> bool:
    """A failure with no answer at all: connecting failed, or the server dropped the connection."""
    import httpx

    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.RemoteProtocolError))
