"""Exceptions raised by faasflow, each naming the thing that is wrong."""

from __future__ import annotations


class FaasflowError(Exception):
    """Base class of every error faasflow raises on purpose."""


def located(message: str, **names: str | None) -> str:
    """``message`` prefixed with what it is about: ``executor 'db', field 'limit': ...``."""
    where = [f"{kind} {name!r}" for kind, name in names.items() if name is not None]
    return f"{', '.join(where)}: {message}" if where else message


class FlowConfigError(FaasflowError, ValueError):
    """A Flow or executor is configured wrongly; the message names executor and field."""

    def __init__(self, message: str, *, executor: str | None = None, field: str | None = None):
        self.executor = executor
        self.field = field
        super().__init__(located(message, executor=executor, field=field))


class BadInputError(FaasflowError, TypeError):
    """Inputs to a Flow or a codec are not documents (or not decodable)."""


class BadClientCallback(FaasflowError):
    """An ``on_done``/``on_error``/``on_always`` callback of ``post`` raised (its exception is
    the cause), as Jina's ``BadClientCallback``; with ``continue_on_error`` it is logged instead."""


class BadRequest(FaasflowError, ValueError):
    """What an executor raises for a caller's mistake in the docs or parameters it got: the
    request is refused (HTTP 422 in every mode), naming the executor, the doc and the field,
    and nothing of it is stored."""

    def __init__(self, message: str, *, doc_id: str | None = None, field: str | None = None):
        self.doc_id = doc_id
        self.field = field
        self.message = message
        super().__init__(located(message, document=doc_id, field=field))

    @classmethod
    def from_text(cls, text: str, *, doc_id: str | None = None, field: str | None = None) -> BadRequest:
        """One raised in another process, from its text (``str`` of it there): it reads the
        same here, so a caller's ``isinstance(error.cause, BadRequest)`` holds in every mode."""
        prefix = str(cls("", doc_id=doc_id, field=field))
        if prefix and text.startswith(prefix):
            return cls(text[len(prefix):], doc_id=doc_id, field=field)
        error = cls(text, doc_id=doc_id, field=field)
        error.args = (text,)
        return error


class UnknownTargetError(BadRequest):
    """A request's ``target_executor`` names no executor of the Flow (or is not a regular
    expression, or one that could take long to match): the caller's mistake, refused before
    any executor runs (HTTP 422)."""

    FIELD = "target_executor"

    def __init__(self, pattern: str, executors: list[str], reason: str | None = None):
        self.pattern = pattern
        self.executors = executors
        known = ", ".join(executors) or "(none)"
        message = (f"{pattern!r} cannot be used: {reason}" if reason is not None else
                   f"{pattern!r} matches no executor of this Flow (matched from the start of the name, "
                   f"as Jina's re.match); executors: {known}")
        super().__init__(message, field=self.FIELD)


class UnknownEndpointError(FaasflowError, LookupError):
    """A request names an endpoint that no executor of the Flow serves."""

    def __init__(self, endpoint: str, served: list[str]):
        self.endpoint = endpoint
        self.served = served
        super().__init__(
            f"endpoint {endpoint!r} is not served by this Flow; served endpoints: "
            + (", ".join(served) if served else "(none)")
        )


class RemoteError(Exception):
    """An exception raised in another process, known by its type name and message only."""


class FlowError(FaasflowError, RuntimeError):
    """An executor raised while processing a request: names executor, shard and endpoint.

    When the executor raised ``BadRequest`` the caller is at fault, not the Flow:
    ``bad_request`` is true and ``doc_id`` / ``field`` say where, in every mode (a gateway
    answers 422 rather than 500).

    When one shard of a sharded stage fails otherwise (a storage error, say) its siblings
    may have stored their part already: ``committed_shards`` lists the stage's shards that
    finished, ``failed_shards`` those that failed (both None when not known)."""

    committed_shards: list[int] | None = None
    failed_shards: list[int] | None = None

    def __init__(self, executor: str, shard: int | None, endpoint: str, cause: BaseException):
        self.executor = executor
        self.shard = shard
        self.endpoint = endpoint
        self.cause = cause
        self.error_type = type(cause).__name__
        self.bad_request = isinstance(cause, BadRequest)
        self.doc_id: str | None = cause.doc_id if isinstance(cause, BadRequest) else None
        self.field: str | None = cause.field if isinstance(cause, BadRequest) else None
        shard_text = f" shard {shard}" if shard is not None else ""
        super().__init__(
            f"executor {executor!r}{shard_text} failed on endpoint {endpoint!r}: {self.error_type}: {cause}"
        )

    @classmethod
    def from_dict(cls, data: dict) -> FlowError:
        """A FlowError reported by another process (a Lambda function, a state machine)."""
        message = str(data.get("message", ""))
        # The flag, not the type's name: a subclass of BadRequest is one too, another
        # library's exception that happens to be called BadRequest is not (as embedded).
        cause: Exception = (
            BadRequest.from_text(message, doc_id=_optional_text(data.get("doc_id")),
                                 field=_optional_text(data.get("field")))
            if data.get("bad_request") else RemoteError(message)
        )
        error = cls(str(data.get("executor")), data.get("shard"), str(data.get("endpoint")), cause)
        error.error_type = str(data.get("type") or "Error")
        error.committed_shards = _shard_list(data.get("committed_shards"))
        error.failed_shards = _shard_list(data.get("failed_shards"))
        error.args = (
            f"executor {error.executor!r}{'' if error.shard is None else f' shard {error.shard}'} failed on endpoint "
            f"{error.endpoint!r}: {error.error_type}: {data.get('message', '')}",
        )
        return error

    def to_dict(self) -> dict:
        """The error as plain data, for callbacks, HTTP bodies and state machines; a bad
        request's flag, doc id and field only when set, so other errors read as before."""
        data: dict = {
            "executor": self.executor,
            "shard": self.shard,
            "endpoint": self.endpoint,
            "type": self.error_type,
            "message": str(self.cause),
        }
        if self.bad_request:
            data["bad_request"] = True
        if self.doc_id is not None:
            data["doc_id"] = self.doc_id
        if self.field is not None:
            data["field"] = self.field
        if self.committed_shards is not None:
            data["committed_shards"] = list(self.committed_shards)
        if self.failed_shards is not None:
            data["failed_shards"] = list(self.failed_shards)
        return data

    def with_shards(self, committed: list[int], failed: list[int]) -> FlowError:
        """This error, saying which shards of its stage finished and which failed; a bad
        request's refusal is left as it is (whether its siblings wrote is the executor's
        own guarantee: ``Executor.check_request``)."""
        if not self.bad_request:
            self.committed_shards, self.failed_shards = sorted(committed), sorted(failed)
        return self


def _optional_text(value: object) -> str | None:
    return None if value is None else str(value)


def _shard_list(value: object) -> list[int] | None:
    return [int(v) for v in value] if isinstance(value, list) else None
