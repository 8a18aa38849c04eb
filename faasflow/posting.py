"""The loop behind ``Flow.post`` and ``Client.post``: batch the inputs, send each batch,
call the callbacks, and return the documents in input order.

One loop for both, so the embedded Flow and a remote one behave the same to a caller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faasflow.array import DocumentArray
from faasflow.progress import progress_bar
from faasflow.request import Callback, Response, batches, total_of

SendBatch = Callable[[str, DocumentArray, dict[str, Any]], Response]


def run_post(
    send: SendBatch,
    on: str,
    inputs: Any,
    parameters: dict[str, Any] | None,
    request_size: int,
    show_progress: bool,
    on_done: Callback | None,
    on_error: Callback | None,
    on_always: Callback | None,
    return_responses: bool,
) -> DocumentArray | list[Response]:
    """Send ``inputs`` batch by batch. A failed batch goes to ``on_error`` and the others go
    on; with no ``on_error`` the first failure is raised (after ``on_always``)."""
    parameters = dict(parameters or {})
    collected: list[Any] = []
    responses: list[Response] = []
    with progress_bar(show_progress, total_of(inputs), f"{on}") as advance:
        for batch in batches(inputs, request_size):
            response = send(on, batch, parameters)
            if response.error is None:
                if on_done is not None:
                    on_done(response)
                collected.extend(response.docs)
            elif on_error is not None:
                on_error(response)
            if on_always is not None:
                on_always(response)
            if response.error is not None and on_error is None:
                raise response.error
            if return_responses:
                responses.append(response)
            advance(len(batch))
    if return_responses:
        return responses
    return DocumentArray._wrap(collected)


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
