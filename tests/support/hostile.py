"""A catalogue of hostile requests, and a sweep that sends each to a gateway and checks
what a trusted system must do: a 4xx (never a 5xx), nothing of the request stored, and
every shard still answering as before."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

DIM = 8
SEED_DOCS = 40


def ndarray(values: Any, dtype: str) -> dict[str, Any]:
    """The codec's array form of ``values`` as ``dtype`` (what a numpy client would send)."""
    array = np.asarray(values, dtype=dtype)
    return {"dtype": array.dtype.str, "shape": list(array.shape), "data": base64.b64encode(array.tobytes()).decode()}


def good_doc(i: int, prefix: str = "h") -> dict[str, Any]:
    return {"id": f"{prefix}{i}", "text": f"doc {i}", "embedding": [float((i + k) % 7) + 0.5 for k in range(DIM)]}


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"x": value}
    return value


def chunks(depth: int) -> dict[str, Any]:
    doc = good_doc(0, "c")
    for level in range(depth):
        doc = {**good_doc(level, "c"), "chunks": [doc]}
    return doc


def with_bad(bad: Any) -> bytes:
    """40 good docs and one bad one (a value, or its JSON text), as one /index request."""
    good = json.dumps([good_doc(i, "new") for i in range(SEED_DOCS)])
    return ('{"data": ' + good[:-1] + ", " + (bad if isinstance(bad, str) else json.dumps(bad)) + "]}").encode()


def nested_text(depth: int) -> str:
    """``nested(depth)`` as JSON text, for depths Python's own encoder cannot write."""
    return '{"x": ' * depth + '"leaf"' + "}" * depth


def query(embedding: Any = None, parameters: dict[str, Any] | None = None, **doc: Any) -> bytes:
    doc = {"id": "q", **doc}
    if embedding is not None:
        doc["embedding"] = embedding
    return json.dumps({"data": [doc], "parameters": parameters or {}}).encode()


QUERY = [0.5 + k for k in range(DIM)]

# name -> (endpoint, body)
HOSTILE: dict[str, tuple[str, bytes]] = {
    "index: one doc without an embedding": ("/index", with_bad({"id": "bad", "text": "no embedding"})),
    "index: another dimension": ("/index", with_bad({"id": "bad", "embedding": [1.0] * (DIM + 3)})),
    "index: NaN (array)": ("/index", with_bad({"id": "bad", "embedding": ndarray([np.nan] * DIM, "<f4")})),
    "index: Inf (array)": ("/index", with_bad({"id": "bad", "embedding": ndarray([np.inf] * DIM, "<f8")})),
    "index: past float32 (list)": ("/index", with_bad({"id": "bad", "embedding": [1e39] * DIM})),
    "index: NaN token in JSON": ("/index", b'{"data": [{"id": "bad", "embedding": [NaN, 1, 2, 3, 4, 5, 6, 7]}]}'),
    "index: complex": ("/index", with_bad({"id": "bad", "embedding": ndarray([1 + 2j] * DIM, "<c8")})),
    "index: bool array": ("/index", with_bad({"id": "bad", "embedding": ndarray([True] * DIM, "|b1")})),
    "index: list of booleans": ("/index", with_bad({"id": "bad", "embedding": [True] * DIM})),
    "index: a string": ("/index", with_bad({"id": "bad", "embedding": "abc"})),
    "index: list of strings": ("/index", with_bad({"id": "bad", "embedding": ["a"] * DIM})),
    "index: string array": ("/index", with_bad({"id": "bad", "embedding": ndarray(["a"] * DIM, "<U1")})),
    "index: empty": ("/index", with_bad({"id": "bad", "embedding": []})),
    "index: 2-D": ("/index", with_bad({"id": "bad", "embedding": [[1.0] * DIM, [2.0] * DIM]})),
    "index: a scalar": ("/index", with_bad({"id": "bad", "embedding": 3.0})),
    "index: structured dtype": ("/index", with_bad({"id": "bad", "embedding": {
        "dtype": "[('a', '<f4')]", "shape": [DIM], "data": base64.b64encode(b"\0" * 4 * DIM).decode()}})),
    "index: array bytes short of its shape": ("/index", with_bad({"id": "bad", "embedding": {
        "dtype": "<f4", "shape": [DIM], "data": base64.b64encode(b"\0" * 4).decode()}})),
    "index: tags 200 deep": ("/index", with_bad({**good_doc(99, "bad"), "tags": nested(200)})),
    "index: tags 1000 deep": ("/index", with_bad(json.dumps(good_doc(99, "bad"))[:-1] + ', "tags": '
                                                 + nested_text(1000) + "}")),
    "index: chunks 40 deep": ("/index", with_bad(chunks(40))),
    "index: a number as a doc": ("/index", with_bad(5)),  # type: ignore[arg-type]
    "index: a list as an id": ("/index", with_bad({**good_doc(1), "id": [5]})),
    "index: an unknown field": ("/index", with_bad({**good_doc(1, "bad"), "embeding": [1.0] * DIM})),
    "index: data is an object": ("/index", b'{"data": {"id": "x"}}'),
    "index: data is a string": ("/index", b'{"data": "docs"}'),
    "index: parameters is a list": ("/index", b'{"data": [], "parameters": [1, 2]}'),
    "index: not JSON": ("/index", b"this is not json"),
    "index: truncated JSON": ("/index", with_bad(good_doc(1, "bad"))[:-7]),
    "index: empty body array": ("/index", b"[]"),
    "search: limit -1": ("/search", query(QUERY, {"limit": -1})),
    "search: limit 'abc'": ("/search", query(QUERY, {"limit": "abc"})),
    "search: limit 1.5": ("/search", query(QUERY, {"limit": 1.5})),
    "search: limit true": ("/search", query(QUERY, {"limit": True})),
    "search: limit 1e300": ("/search", query(QUERY, {"limit": 1e300})),
    "search: limit 2**63": ("/search", query(QUERY, {"limit": 2**63})),
    "search: filter 5": ("/search", query(QUERY, {"filter": 5})),
    "search: filter a list": ("/search", query(QUERY, {"filter": ["lang", "en"]})),
    "search: metric 'nope'": ("/search", query(QUERY, {"metric": "nope"})),
    "search: metric 5": ("/search", query(QUERY, {"metric": 5})),
    "search: parameters 300 deep": ("/search", query(QUERY)[:-3] + b'{"deep": ' + nested_text(300).encode() + b"}}"),
    "search: another dimension": ("/search", query([1.0] * (DIM + 1))),
    "search: NaN query (array)": ("/search", query(ndarray([np.nan] * DIM, "<f4"))),
    "search: no embedding": ("/search", query(None, text="no vector")),
    "search: complex query": ("/search", query(ndarray([1j] * DIM, "<c16"))),
    "search: empty query": ("/search", query([])),
    "update: another dimension": ("/update", json.dumps({"data": [{"id": "h1", "embedding": [1.0] * 3}]}).encode()),
    "unknown endpoint": ("/nowhere/at/all", b'{"data": []}'),
    "too large a body": ("/index", b'{"data": [' + b'{"text": "' + b"x" * (2 * 1024 * 1024) + b'"}]}'),
}


@dataclass
class Tally:
    """What the sweep saw: the goals are zero in every column but ``tried``."""

    tried: int = 0
    server_errors: list[str] = field(default_factory=list)  # 5xx answers
    partial_commits: list[str] = field(default_factory=list)  # a refused request changed what is stored
    not_answering: list[str] = field(default_factory=list)  # a shard no longer answered as before
    unclear: list[str] = field(default_factory=list)  # a 4xx whose body does not say what is wrong

    def line(self, mode: str) -> str:
        return (f"hostile sweep ({mode}): {self.tried} inputs, {len(self.server_errors)} 5xx, "
                f"{len(self.partial_commits)} partial commits, {len(self.not_answering)} shards not answering, "
                f"{len(self.unclear)} unclear errors")


def seed(post: Callable[[str, bytes], httpx.Response]) -> None:
    answer = post("/index", json.dumps({"data": [good_doc(i) for i in range(SEED_DOCS)]}).encode())
    assert answer.status_code == 200, answer.text


def state(post: Callable[[str, bytes], httpx.Response]) -> tuple[Any, Any]:
    """What is stored, as callers see it: the count per shard and a search's answer."""
    count = post("/count", b'{"data": []}')
    found = post("/search", query(QUERY, {"limit": SEED_DOCS + 5}))
    if count.status_code != 200 or found.status_code != 200:
        return None, None
    hits = [(m["id"], round(m["scores"]["cosine"]["value"], 5)) for m in found.json()["data"][0]["matches"]]
    return count.json()["parameters"]["__results__"], hits


def sweep(url: str, cases: dict[str, tuple[str, bytes]] | None = None) -> Iterator[tuple[str, httpx.Response]]:
    """Send every hostile request; yields (name, answer) and leaves the tally to ``run``."""
    with httpx.Client(base_url=url, timeout=60, trust_env=False) as http:
        for name, (endpoint, body) in (cases or HOSTILE).items():
            yield name, http.post(endpoint, content=body, headers={"content-type": "application/json"})


def run(url: str, cases: dict[str, tuple[str, bytes]] | None = None) -> Tally:
    """Seed the index, send every hostile request, and check after each that nothing
    changed and every shard still answers."""
    tally = Tally()
    with httpx.Client(base_url=url, timeout=60, trust_env=False) as http:
        def post(endpoint: str, body: bytes) -> httpx.Response:
            return http.post(endpoint, content=body, headers={"content-type": "application/json"})

        seed(post)
        before = state(post)
        assert before[0] is not None, "the seeded index does not answer"
        for name, (endpoint, body) in (cases or HOSTILE).items():
            tally.tried += 1
            answer = post(endpoint, body)
            if answer.status_code >= 500:
                tally.server_errors.append(f"{name}: {answer.status_code} {answer.text[:200]}")
            elif answer.status_code < 400:
                tally.partial_commits.append(f"{name}: accepted with {answer.status_code}")
            else:
                error = answer.json().get("error", {})
                if not (error.get("reason") and error.get("detail")):
                    tally.unclear.append(f"{name}: {answer.text[:200]}")
            after = state(post)
            if after[0] is None:
                tally.not_answering.append(name)
            elif after != before:
                tally.partial_commits.append(f"{name}: the store changed")
    return tally
