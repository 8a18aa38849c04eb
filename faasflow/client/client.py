"""`Client`: post documents to a served Flow (``faasflow serve``, ``Flow(protocol='http')``)
or a deployed one (an API Gateway URL), with the semantics of ``flow.post``.

The post loop is ``faasflow.posting.run_post``, the one ``Flow.post`` runs: same batching,
callbacks and return value. httpx is imported when a Client is made, not with faasflow.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from faasflow import codec
from faasflow.array import DocumentArray
from faasflow.client.errors import GatewayConnectionError, GatewayError, GatewayUnavailable, error_from_answer
from faasflow.client.retry import (
    DEFAULT_MAX_RETRY_AFTER,
    RETRY_STATUSES,
    Backoff,
    BackoffSpec,
    delay,
    is_retryable_transport_error,
    is_still_running,
    parse_retry_after,
    retry_after_too_long,
)
from faasflow.errors import BadInputError, FaasflowError, FlowError
from faasflow.posting import (
    AsyncPostMixin,
    JinaShortcuts,
    check_client_options,
    check_post_options,
    endpoint_of,
    run_post,
)
from faasflow.request import Callback, Response, make_response, new_request_id
from faasflow.wire import IDEMPOTENCY_KEY_HEADER

if TYPE_CHECKING:
    import httpx

DEFAULT_HOST = "http://127.0.0.1:8080"
DEFAULT_BACKOFF = Backoff()
API_KEY_HEADER = "x-api-key"  # API Gateway's header for usage-plan keys
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def base_url(host: str, port: int | None = None, protocol: str | None = None, tls: bool = False) -> str:
    """``http://host:port[/stage]`` from Jina's spellings: a URL, or host plus port and protocol."""
    if "://" not in host:
        scheme = "https" if tls or (protocol or "").lower() == "https" else "http"
        host = f"{scheme}://{host}"
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https"):
        raise FaasflowError(f"the Client speaks HTTP(S); {parts.scheme!r} in {host!r} is not supported")
    if protocol is not None and protocol.lower() not in ("http", "https"):
        raise FaasflowError(f"the Client speaks HTTP(S); protocol {protocol!r} is not supported")
    netloc = parts.netloc
    if port is not None:
        netloc = f"{parts.hostname if ':' not in (parts.hostname or '') else f'[{parts.hostname}]'}:{port}"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


class Client(JinaShortcuts):
    """Talks to a faasflow gateway over HTTP; thread-safe, and reusable across posts."""

    def __init__(self, host: str = DEFAULT_HOST, port: int | None = None, protocol: str | None = None, *,
                 tls: bool = False, api_key: str | None = None, headers: dict[str, str] | None = None,
                 timeout: float = 60.0, max_retry_after: float = DEFAULT_MAX_RETRY_AFTER, auth: str | None = None,
                 aws_region: str | None = None, return_responses: bool = False, asyncio: bool = False,
                 **_jina_options: Any):
        """``max_retry_after``: the longest ``Retry-After`` (seconds) a retry waits for; a
        server asking for longer gets no early retry: ``GatewayUnavailable`` is raised.
        ``auth='iam'``: sign every request with SigV4 (service ``execute-api``) using the
        default AWS credentials, for a Flow deployed with ``auth: iam``; the region is
        ``aws_region``, else the API URL's, else the AWS configuration's. ``asyncio=True``
        makes this an ``AsyncClient`` (as Jina's does): its ``post`` is an async generator."""
        from faasflow.extras import CLIENT_MODULES, needs

        with needs("the HTTP Client", "serve", CLIENT_MODULES):
            import httpx

            from faasflow.client.sigv4 import check_auth  # httpx too, at its import
        check_auth(auth)
        check_client_options(_jina_options)
        if asyncio and not isinstance(self, AsyncPostMixin):
            self.__class__ = AsyncClient
        # Jina's Client(return_responses=True): every post returns its responses
        self.return_responses = return_responses
        self.max_retry_after = float(max_retry_after)
        self.url = base_url(host, port, protocol, tls)
        all_headers = {"content-type": "application/json", "accept": "application/json", **(headers or {})}
        if api_key:
            all_headers[API_KEY_HEADER] = api_key
        # A proxy from the environment is for the outside world, never for this machine's own servers.
        local = urlsplit(self.url).hostname in LOOPBACK
        signer: httpx.Auth | None = None
        if auth == "iam":
            from faasflow.client.sigv4 import SigV4, region_of

            signer = SigV4(region_of(self.url, aws_region))
        self._http = httpx.Client(base_url=self.url + "/", headers=all_headers, timeout=timeout, trust_env=not local,
                                  auth=signer)

    # --- posting ---

    def post(self, on: str, inputs: Any = None, parameters: dict[str, Any] | None = None, request_size: int = 100,
             show_progress: bool = False, on_done: Callback | None = None, on_error: Callback | None = None,
             on_always: Callback | None = None, max_attempts: int = 1, backoff: BackoffSpec = DEFAULT_BACKOFF,
             return_responses: bool = False, target_executor: str | None = None,
             continue_on_error: bool = False, results_in_order: bool = False, return_results: bool | None = None,
             initial_backoff: float | None = None, max_backoff: float | None = None,
             backoff_multiplier: float | None = None, **_jina_options: Any) -> DocumentArray | list[Response] | None:
        """Send ``inputs`` to endpoint ``on``; returns the resulting docs in input order.

        As ``flow.post``: an executor failure goes to ``on_error`` (or is raised as a FlowError);
        other error answers raise a GatewayError carrying the gateway's body. ``max_attempts`` > 1
        retries connection failures, 429, 502, 503 and 504 (and a 409 while the same request is
        still running), waiting ``backoff(attempt)`` seconds; each batch's attempts share one
        ``Idempotency-Key``, so the Flow runs a batch once however often it is sent.
        ``target_executor`` (a regular expression, as Jina's): only the executors it matches run.
        Jina's ``initial_backoff``, ``max_backoff`` and ``backoff_multiplier`` make the
        ``backoff``; callbacks, ``continue_on_error`` and the return value follow
        ``faasflow.posting.run_post`` (``None`` with ``on_done``/``on_always``, as Jina 3).
        Batches go one after another: results are always in input order (``results_in_order``).
        """
        check_post_options("Client.post", _jina_options)
        return_responses = return_responses or self.return_responses
        if (initial_backoff, max_backoff, backoff_multiplier) != (None, None, None):
            default = backoff if isinstance(backoff, Backoff) else DEFAULT_BACKOFF
            backoff = Backoff(initial=default.initial if initial_backoff is None else initial_backoff,
                              multiplier=default.multiplier if backoff_multiplier is None else backoff_multiplier,
                              maximum=default.maximum if max_backoff is None else max_backoff,
                              jitter=default.jitter)
        on = endpoint_of(on)
        if not isinstance(on, str) or not on.startswith("/"):
            raise BadInputError(f"an endpoint is a path starting with '/', got {on!r}")
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise BadInputError(f"max_attempts must be a positive integer, got {max_attempts!r}")

        def send(endpoint: str, docs: DocumentArray, params: dict[str, Any]) -> Response:
            return self._send(endpoint, docs, params, max_attempts, backoff, target_executor)

        return run_post(send, on, inputs, parameters, request_size, show_progress, on_done, on_error, on_always,
                        return_responses, continue_on_error=continue_on_error, return_results=return_results)

    def _send(self, on: str, docs: DocumentArray, parameters: dict[str, Any], max_attempts: int,
              backoff: BackoffSpec, target_executor: str | None = None) -> Response:
        payload: dict[str, Any] = {"data": docs.to_list(), "parameters": parameters}
        if target_executor is not None:
            payload["target_executor"] = target_executor
        body = codec.dumps(payload)
        request_id = new_request_id()
        answer = self._request("POST", on, body, request_id, max_attempts, backoff)
        payload = _json_or_text(answer)
        if answer.status_code == 200 and isinstance(payload, dict):
            header = payload.get("header") or {}
            return make_response(header.get("request_id") or request_id, header.get("exec_endpoint") or on,
                                 DocumentArray.from_list(payload.get("data") or []), payload.get("parameters") or {})
        error = error_from_answer(on, answer.status_code, payload, answer.headers.get("x-request-id", request_id))
        if isinstance(error, FlowError):  # an executor failed or refused the request: the response carries it
            return make_response(error.request_id or request_id, on, DocumentArray(), parameters, error)
        raise error

    def _request(self, method: str, path: str, body: bytes | None, request_id: str, max_attempts: int,
                 backoff: BackoffSpec) -> httpx.Response:
        """One request, tried up to ``max_attempts`` times where a retry is safe. A POST that
        may be retried carries its request id as its ``Idempotency-Key``: the gateway answers
        a repeat with the answer it kept, so a retry after a lost answer does not run the Flow
        again (one that is never retried sends none, and costs the gateway nothing to keep)."""
        url = path.lstrip("/")
        headers = {"x-request-id": request_id}
        if method == "POST" and max_attempts > 1:
            headers[IDEMPOTENCY_KEY_HEADER] = request_id
        for attempt in range(1, max_attempts + 1):
            try:
                answer = self._http.request(method, url, content=body, headers=headers)
            except Exception as exc:
                import httpx

                if not isinstance(exc, httpx.HTTPError):
                    raise
                if attempt < max_attempts and is_retryable_transport_error(exc):
                    time.sleep(delay(backoff, attempt, None))
                    continue
                raise GatewayConnectionError(f"no answer from {self.url}/{url} after {attempt} attempt(s): "
                                         f"{type(exc).__name__}: {exc}", request_id=request_id) from exc
            if answer.status_code in RETRY_STATUSES or (
                    answer.status_code == 409 and is_still_running(409, _json_or_text(answer))):
                retry_after = parse_retry_after(answer.headers.get("retry-after"))
                if attempt < max_attempts and retry_after_too_long(retry_after, self.max_retry_after):
                    raise GatewayUnavailable(
                        f"the gateway at {self.url} answered {answer.status_code} to {path} and asked to retry "
                        f"after {retry_after:g} s, longer than this Client waits (max_retry_after="
                        f"{self.max_retry_after:g} s); not retrying early: try again later, or raise max_retry_after",
                        status=answer.status_code, body=_json_or_text(answer), request_id=request_id)
                if attempt < max_attempts:
                    time.sleep(delay(backoff, attempt, retry_after, self.max_retry_after))
                    continue
                raise GatewayUnavailable(
                    f"the gateway at {self.url} answered {answer.status_code} to {path} "
                    f"{attempt} time(s): {str(_json_or_text(answer))[:300]}",
                    status=answer.status_code, body=_json_or_text(answer), request_id=request_id)
            return answer
        raise AssertionError("unreachable")

    # --- the gateway itself ---

    def status(self, max_attempts: int = 1, backoff: BackoffSpec = DEFAULT_BACKOFF,
               runtime: bool = False) -> dict[str, Any]:
        """The gateway's ``GET /status``: Flow name, executors, shards, version, ready; with
        ``runtime``, what each executor shard reports of itself (a deployed Flow invokes them)."""
        path = "/status?runtime=true" if runtime else "/status"
        answer = self._request("GET", path, None, new_request_id(), max_attempts, backoff)
        payload = _json_or_text(answer)
        if answer.status_code != 200 or not isinstance(payload, dict):
            raise error_from_answer("/status", answer.status_code, payload, answer.headers.get("x-request-id"))
        return payload

    def is_flow_ready(self) -> bool:
        """True when the gateway answers and its Flow is ready (Jina's ``client.is_flow_ready()``)."""
        try:
            return bool(self.status().get("ready"))
        except GatewayError:
            return False

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


class AsyncClient(AsyncPostMixin, Client):
    """Jina's async client (also ``Client(asyncio=True)``): ``post`` and the shortcuts are async
    generators, ``async for docs in client.post(...)``, yielding each batch's docs (its Response
    with ``return_responses``); each batch's HTTP call runs on a worker thread."""


def _json_or_text(answer: httpx.Response) -> Any:
    """The answer's JSON; its text when it is not JSON (a proxy's HTML error page)."""
    try:
        return codec.loads(answer.content)
    except BadInputError:
        return answer.text
