"""Idempotent requests: a repeat of a POST with the same ``Idempotency-Key`` gets the
answer the first one got, and the Flow does not run again.

A Client retries when a connection drops, and a connection can drop after the Flow ran
but before its answer arrived; without a key, the retry runs the Flow a second time.
Served locally (``faasflow serve``, ``Flow(protocol='http')``), answers are kept in a small
SQLite file in the workspace for ``idempotency_ttl_s`` seconds, so that a repeat after the
server restarted still gets the stored answer. On AWS the gateway function keeps them in
DynamoDB with Powertools (``faasflow.runtime.idempotency``); both share the rules here:

* only answers the Flow produced are kept (2xx and 4xx); a 5xx, a 408 or a 429 is not,
  so that a retry runs again;
* a repeat while the first is still running gets 409 ``idempotency_in_progress`` (with
  ``Retry-After``), a key reused with another body (or endpoint) 422 ``idempotency_key_reused``;
* a replayed answer carries ``Idempotent-Replayed: true``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faasflow import codec
from faasflow.serve.problems import RequestProblem, body_timeout, body_too_large
from faasflow.wire import IDEMPOTENCY_IN_PROGRESS, IDEMPOTENCY_KEY_HEADER

KEY_HEADER = IDEMPOTENCY_KEY_HEADER  # the IETF draft's name (draft-ietf-httpapi-idempotency-key-header)
REPLAYED_HEADER = "idempotent-replayed"
KEY_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,255}")
IN_PROGRESS, KEY_REUSED, INVALID_KEY = IDEMPOTENCY_IN_PROGRESS, "idempotency_key_reused", "invalid_idempotency_key"
IN_PROGRESS_RETRY_AFTER_S = 1
NOT_KEPT = frozenset({408, 409, 429})  # about this attempt, not the request: a retry may do better
STORE_FILE = ".gateway/idempotency.sqlite3"
MAX_KEPT_BYTES = 16 * 1024 * 1024  # a larger answer is not kept (a repeat runs again): the store stays small
PURGE_INTERVAL_S = 60.0  # expired keys are deleted at most this often, not on every request
# The answer headers worth replaying; the rest (date, content-length) belong to one answer.
KEPT_HEADERS = ("content-type", "x-request-id", "retry-after", "allow")

_PROCESS = uuid.uuid4().hex  # tells this process's requests from a dead server's, whose pid may be reused


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What a key stands for: method, path (with query) and body; reused otherwise, it is a 422."""
    digest = hashlib.sha256(f"{method.upper()} {path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def kept(status: int) -> bool:
    """Whether an answer is the Flow's to keep: 2xx and 4xx, except a timeout, conflict or throttle."""
    return status < 500 and status not in NOT_KEPT


def in_progress(key: str) -> RequestProblem:
    return RequestProblem(409, IN_PROGRESS, f"a request with Idempotency-Key {key!r} is still running; retry after "
                          "it finishes to get its answer", headers={"Retry-After": str(IN_PROGRESS_RETRY_AFTER_S)},
                          idempotency_key=key)


def key_reused(key: str) -> RequestProblem:
    return RequestProblem(422, KEY_REUSED, f"Idempotency-Key {key!r} was used for another request (a different body "
                          "or endpoint); send a new key for a new request", idempotency_key=key)


def invalid_key(key: str) -> RequestProblem:
    return RequestProblem(400, INVALID_KEY, f"Idempotency-Key {key[:80]!r} is not 1 to 255 letters, digits or ._:-",
                          idempotency_key=key[:255])


def problem_answer(problem: RequestProblem, request_id: str, endpoint: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of an error answer, as the gateway writes its own."""
    headers = {**problem.headers, "content-type": "application/json", "x-request-id": request_id}
    return problem.status, headers, codec.dumps(problem.body(request_id, endpoint))


@dataclass(frozen=True)
class Stored:
    """An answer kept for a key."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class LocalIdempotencyStore:
    """Keys and their answers in SQLite: durable across a server's restart (and kill -9),
    shared by every server on the same workspace. Each call opens its own connection, so
    it is safe from any thread."""

    def __init__(self, path: str | Path, ttl_s: int):
        self.path = Path(path)
        self.ttl_s = ttl_s
        self.owner = f"{os.getpid()}:{_PROCESS}"
        self._next_purge = 0.0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()  # one connection per worker thread, reused: no connect per request
        db = self._connection()
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, "
                   "owner TEXT NOT NULL, status INTEGER, headers TEXT, body BLOB, expires REAL NOT NULL)")
        db.execute("CREATE INDEX IF NOT EXISTS answers_expiry ON answers (expires)")

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (sqlite3 connections stay on the thread that made them)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
        return db

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA synchronous=NORMAL")  # with WAL: a committed answer survives the process being killed
        return db

    def begin(self, key: str, mark: str) -> Stored | None:
        """The stored answer for ``key``; None when this request is to run (the key is now
        held as in progress). Raises 409 while another holds it, 422 when ``mark`` differs."""
        db = self._connection()
        try:
            db.execute("BEGIN IMMEDIATE")
            now = time.time()
            if now >= self._next_purge:
                self._next_purge = now + PURGE_INTERVAL_S
                db.execute("DELETE FROM answers WHERE expires <= ?", (now,))
            row = db.execute("SELECT fingerprint, owner, status, headers, body FROM answers WHERE key = ? "
                             "AND expires > ?", (key, now)).fetchone()
            if row is not None:
                theirs, owner, status, headers, body = row
                if theirs != mark:
                    raise key_reused(key)
                if status is not None:
                    return Stored(int(status), json.loads(headers or "{}"), bytes(body or b""))
                if _alive(owner):
                    raise in_progress(key)
                # its server died while the Flow ran it: the outcome is unknown, and it runs again
            db.execute("INSERT OR REPLACE INTO answers (key, fingerprint, owner, expires) VALUES (?, ?, ?, ?)",
                       (key, mark, self.owner, now + self.ttl_s))
            return None
        finally:
            if db.in_transaction:
                db.execute("COMMIT")

    def complete(self, key: str, answer: Stored) -> None:
        """Keep ``answer`` for ``key`` until the window ends (counted from now)."""
        self._connection().execute(
            "UPDATE answers SET status = ?, headers = ?, body = ?, expires = ? WHERE key = ? AND owner = ?",
            (answer.status, json.dumps(answer.headers), answer.body, time.time() + self.ttl_s, key, self.owner))

    def release(self, key: str) -> None:
        """Forget ``key`` (its answer is not kept): a repeat runs again."""
        self._connection().execute("DELETE FROM answers WHERE key = ? AND owner = ? AND status IS NULL",
                                   (key, self.owner))


def _alive(owner: str) -> bool:
    """Whether the server holding a key may still answer it: this process, or a live one."""
    pid_text, _, process = owner.partition(":")
    if process == _PROCESS:
        return True
    if not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False  # our pid, another process: an earlier server that had this pid
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class IdempotencyMiddleware:
    """ASGI middleware: POSTs that carry an ``Idempotency-Key`` run once per key. The body
    is read here (with the gateway's size and time limits) to fingerprint it; the answer is
    kept before it is sent, so a connection lost after that still finds it on a retry."""

    def __init__(self, app: Any, store: LocalIdempotencyStore, max_body_bytes: int, body_timeout_s: float | None):
        self.app = app
        self.store = store
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        key = headers.get(KEY_HEADER)
        if key is None:
            await self.app(scope, receive, send)
            return
        from starlette.concurrency import run_in_threadpool

        given_id = headers.get("x-request-id", "")
        request_id = given_id if KEY_PATTERN.fullmatch(given_id) and len(given_id) <= 128 else key[:128]
        path = scope["path"] + (f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else "")
        try:
            if not KEY_PATTERN.fullmatch(key):
                raise invalid_key(key)
            body = await self._read_body(headers, receive)
            stored = await run_in_threadpool(self.store.begin, key, fingerprint("POST", path, body))
        except RequestProblem as problem:
            return await _send(send, Stored(*problem_answer(problem, request_id, scope["path"])))
        if stored is not None:
            return await _send(send, stored, replayed=True)
        capture = _Capture()
        try:
            await self.app(scope, _replay(body, receive), capture)
        except BaseException:
            await run_in_threadpool(self.store.release, key)
            raise
        answer = capture.answer()
        if answer is not None and kept(answer.status) and len(answer.body) <= MAX_KEPT_BYTES:
            kept_headers = {k: v for k, v in answer.headers.items() if k in KEPT_HEADERS}
            await run_in_threadpool(self.store.complete, key, Stored(answer.status, kept_headers, answer.body))
        else:
            await run_in_threadpool(self.store.release, key)
        await capture.forward(send)

    async def _read_body(self, headers: dict[str, str], receive: Any) -> bytes:
        import asyncio

        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise body_too_large(self.max_body_bytes)
        if self.body_timeout_s is None:
            return await self._chunks(receive)
        try:
            return await asyncio.wait_for(self._chunks(receive), self.body_timeout_s)
        except TimeoutError:
            raise body_timeout(self.body_timeout_s) from None

    async def _chunks(self, receive: Any) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise body_too_large(self.max_body_bytes)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


class _Disconnected(RequestProblem):
    """The client went away before its body arrived: nothing ran, and nothing is answered."""

    def __init__(self) -> None:
        super().__init__(400, "client_disconnected", "the client disconnected before sending the whole body")


def _replay(body: bytes, receive: Any) -> Any:
    """A ``receive`` that gives the app the body already read, then waits on the real one."""
    sent = False

    async def replayed() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        message: dict[str, Any] = await receive()
        return message

    return replayed


class _Capture:
    """The app's answer, held until it is kept (the gateway's answers are never streamed)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    def answer(self) -> Stored | None:
        start = next((m for m in self.messages if m["type"] == "http.response.start"), None)
        if start is None or any(m["type"] == "http.response.body" and m.get("more_body") for m in self.messages):
            return None  # no answer, or a streamed one: not kept
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start.get("headers", [])}
        body = b"".join(m.get("body", b"") for m in self.messages if m["type"] == "http.response.body")
        return Stored(int(start["status"]), headers, body)

    async def forward(self, send: Any) -> None:
        for message in self.messages:
            await send(message)


async def _send(send: Any, answer: Stored, replayed: bool = False) -> None:
    headers = {**answer.headers, "content-length": str(len(answer.body))}
    if replayed:
        headers[REPLAYED_HEADER] = "true"
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": answer.status, "headers": raw})
    await send({"type": "http.response.body", "body": answer.body})


def install(app: Any, backend: Any, max_body_bytes: int, body_timeout_s: float | None) -> None:
    """Make ``app``'s POSTs idempotent when its backend runs a Flow here, with the store in
    the Flow's workspace; a backend elsewhere (Step Functions) keeps its answers itself."""
    plan = getattr(backend, "plan", None)
    ttl = getattr(plan, "idempotency_ttl_s", 0)
    if getattr(backend, "kind", None) != "embedded" or not ttl:
        return
    from faasflow.executor import workspace_root

    workspace = getattr(getattr(backend, "flow", None), "workspace", None) or workspace_root()
    store = LocalIdempotencyStore(Path(workspace) / STORE_FILE, ttl)
    app.add_middleware(IdempotencyMiddleware, store=store, max_body_bytes=max_body_bytes,
                       body_timeout_s=body_timeout_s)
