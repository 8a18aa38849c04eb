"""The loop behind ``Flow.post`` and ``Client.post``: batch the inputs, send each batch,
call the callbacks, and return the documents in input order.

One loop for both, so the embedded Flow and a remote one behave the same to a caller.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import nullcontext
from typing import Any

from faasflow.array import DocumentArray
from faasflow.errors import BadClientCallback, BadInputError
from faasflow.progress import progress_bar
from faasflow.request import Callback, Response, batches, total_of

logger = logging.getLogger("faasflow.post")

SendBatch = Callable[[str, DocumentArray, dict[str, Any]], Response]
DEFAULT_ENDPOINT = "/default"  # faasflow.executor's, without importing it here


def endpoint_of(on: Any) -> Any:
    """The endpoint a post goes to: Jina's ``post('')`` (or ``on=None``) sends a request
    with no endpoint, which every executor's default method serves: ``/default`` here."""
    return DEFAULT_ENDPOINT if on is None or on == "" else on


def run_post(
    send: SendBatch,
    on: str,
    inputs: Any,
    parameters: dict[str, Any] | None = None,
    request_size: int = 100,
    show_progress: bool = False,
    on_done: Callback | None = None,
    on_error: Callback | None = None,
    on_always: Callback | None = None,
    return_responses: bool = False,
    *,
    continue_on_error: bool = False,
    return_results: bool | None = None,
) -> DocumentArray | list[Response] | None:
    """Send ``inputs`` batch by batch, with Jina's callback rules: a failed batch goes to
    ``on_error``; without one it is raised (before ``on_always``), or only logged with
    ``continue_on_error``, and the other batches go on. A callback that raises is a
    ``BadClientCallback`` (logged with ``continue_on_error``). ``request_size`` <= 0 sends
    all inputs in one request. Returns the docs (or, ``return_responses``, the responses)
    of every batch in input order; ``None`` when ``on_done`` or ``on_always`` is given, as
    Jina 3 does (``return_results=True``, Jina's older spelling, returns them anyway)."""
    if not isinstance(request_size, int) or isinstance(request_size, bool):
        raise BadInputError(f"request_size must be an integer, got {request_size!r}")
    size = request_size if request_size > 0 else sys.maxsize
    if return_results is None:
        return_results = on_done is None and on_always is None
    parameters = dict(parameters or {})
    on = endpoint_of(on)
    collected: list[Any] = []
    responses: list[Response] = []
    bar = progress_bar(True, total_of(inputs), f"{on}") if show_progress else nullcontext(_no_progress)
    with bar as advance:
        for batch in batches(inputs, size):
            response = send(on, batch, parameters)
            if response.error is not None:
                if on_error is not None:
                    _callback(on_error, response, continue_on_error)
                elif continue_on_error:
                    logger.error("request %s to %s failed: %s", response.header.request_id, on, response.error)
                else:
                    raise response.error
            elif on_done is not None:
                _callback(on_done, response, continue_on_error)
            if on_always is not None:
                _callback(on_always, response, continue_on_error)
            if return_responses:
                responses.append(response)
            else:
                collected.extend(response.docs)
            advance(len(batch))
    if not return_results:
        return None
    if return_responses:
        return responses
    return DocumentArray._wrap(collected)


def _no_progress(done: int) -> None:
    return None


def _callback(callback: Callback, response: Response, continue_on_error: bool) -> None:
    """Call a user's callback; what it raises is a BadClientCallback, or logged."""
    try:
        callback(response)
    except Exception as exc:
        message = f"uncaught exception in callback {getattr(callback, '__name__', callback)!s}(): {exc!r}"
        if continue_on_error:
            logger.error(message)
            return
        raise BadClientCallback(message) from exc


# Jina's post options about its gRPC transport: nothing to do over HTTP or in-process, as
# with Jina's own HTTP client; accepted with a warning so that Jina code runs unchanged.
TRANSPORT_POST_OPTIONS = frozenset({"stream", "prefetch", "compression"})
_warned: set[tuple[str, str]] = set()


def check_post_options(where: str, options: Mapping[str, Any], transport: frozenset[str] = frozenset()) -> None:
    """Refuse a ``post`` keyword that neither faasflow nor Jina knows, and one asking for
    what faasflow cannot give (``return_type`` other than DocumentArray); warn (once) about
    transport options that change nothing here (``TRANSPORT_POST_OPTIONS`` plus ``transport``)."""
    if not options:  # the common call: nothing to check
        return
    options = dict(options)
    return_type = options.pop("return_type", DocumentArray)
    if return_type is not DocumentArray and getattr(return_type, "__name__", None) != "DocumentArray":
        raise BadInputError(f"{where}(return_type={return_type!r}): faasflow returns a DocumentArray "
                            "(docarray v1 style); docarray v2 DocList types are not supported")
    known = TRANSPORT_POST_OPTIONS | transport
    unknown = sorted(set(options) - known)
    if unknown:
        raise BadInputError(f"{where}() got unexpected option(s): {', '.join(unknown)}")
    for option in sorted(options):
        if (where, option) not in _warned:
            _warned.add((where, option))
            logger.warning("%s(%s=...): a transport option of Jina's client that changes nothing here; ignored",
                           where, option)


class JinaShortcuts:
    """Jina's ``index``/``search``/``update``/``delete`` shortcuts for anything with ``post``."""

    def post(self, on: str, inputs: Any = None, **kwargs: Any) -> Any:  # pragma: no cover - provided by the host
        raise NotImplementedError

    def index(self, inputs: Any = None, **kwargs: Any) -> Any:
        return self.post("/index", inputs, **kwargs)

    def search(self, inputs: Any = None, **kwargs: Any) -> Any:
        return self.post("/search", inputs, **kwargs)

    def update(self, inputs: Any = None, **kwargs: Any) -> Any:
        return self.post("/update", inputs, **kwargs)

    def delete(self, inputs: Any = None, **kwargs: Any) -> Any:
        return self.post("/delete", inputs, **kwargs)


# Jina Client() options about its connection that an HTTP client here has no use for
TRANSPORT_CLIENT_OPTIONS = frozenset({"proxy", "prefetch", "grpc_channel_options", "metrics",
                                      "metrics_exporter_host", "metrics_exporter_port", "tracing",
                                      "traces_exporter_host", "traces_exporter_port", "log_config"})


def check_client_options(options: Mapping[str, Any]) -> None:
    """Refuse a Client() keyword Jina's Client does not take; warn about the transport ones."""
    unknown = sorted(set(options) - TRANSPORT_CLIENT_OPTIONS)
    if unknown:
        raise BadInputError(f"Client() got unexpected option(s): {', '.join(unknown)}")
    if options:
        logger.warning("Client(%s=...): transport option(s) of Jina's client that change nothing here; ignored",
                       ", ".join(sorted(options)))


class AsyncPostMixin:
    """Jina's ``AsyncFlow``/``AsyncClient`` post: an async generator yielding, batch by batch,
    each response's docs (a DocumentArray), or the Response itself with ``return_responses``.

    Each batch is sent by the host's synchronous ``post`` (and so through ``run_post``, with
    its callbacks and error rules) on a worker thread, so the event loop is never blocked.
    Mixed in before the synchronous class: ``class AsyncFlow(AsyncPostMixin, Flow)``."""

    async def post(self, on: str, inputs: Any = None, parameters: dict[str, Any] | None = None,
                   request_size: int = 100, show_progress: bool = False, return_responses: bool = False,
                   **options: Any) -> AsyncIterator[Any]:
        import asyncio

        return_responses = return_responses or bool(getattr(self, "return_responses", False))
        options.pop("return_results", None)  # each batch is yielded; nothing is collected
        options.pop("results_in_order", None)  # batches go one after another: always in order
        sync_post = super().post  # type: ignore[misc]
        if not isinstance(request_size, int) or isinstance(request_size, bool):
            raise BadInputError(f"request_size must be an integer, got {request_size!r}")
        size = request_size if request_size > 0 else sys.maxsize
        with progress_bar(show_progress, total_of(inputs), f"{endpoint_of(on)}") as advance:
            for batch in batches(inputs, size):
                responses = await asyncio.to_thread(
                    sync_post, on, batch, parameters, request_size=0, return_responses=True,
                    return_results=True, **options)
                for response in responses:
                    yield response if return_responses else response.docs
                advance(len(batch))

    # Jina's shortcuts, async generators too
    async def index(self, inputs: Any = None, **kwargs: Any) -> AsyncIterator[Any]:
        async for result in self.post("/index", inputs, **kwargs):
            yield result

    async def search(self, inputs: Any = None, **kwargs: Any) -> AsyncIterator[Any]:
        async for result in self.post("/search", inputs, **kwargs):
            yield result

    async def update(self, inputs: Any = None, **kwargs: Any) -> AsyncIterator[Any]:
        async for result in self.post("/update", inputs, **kwargs):
            yield result

    async def delete(self, inputs: Any = None, **kwargs: Any) -> AsyncIterator[Any]:
        async for result in self.post("/delete", inputs, **kwargs):
            yield result
