"""Claim checks: documents travel inline while small, as a stored reference when not.

Step Functions caps a state at 256 KB and Lambda a synchronous payload at 6 MB; a hop's
documents above the inline limit are written once to the payload storage (``payloads/``
in the Flow's bucket, expired by a lifecycle rule) and the state carries a
``wire.StoredDocs``. Executors never see the difference. Every byte goes through
``faasflow.codec``, as on every other hop.
"""

from __future__ import annotations

import os
from functools import cache

from faasflow import codec
from faasflow.array import DocumentArray
from faasflow.storage import Storage, open_storage
from faasflow.wire import DEFAULT_INLINE_LIMIT, DocsRef

__all__ = ["DEFAULT_INLINE_LIMIT", "decode_docs", "encode_docs", "payload_storage"]


def payload_storage() -> Storage:
    """Where oversized payloads go: ``FAASFLOW_PAYLOAD_URL`` (``s3://bucket/payloads/``)."""
    url = os.environ.get("FAASFLOW_PAYLOAD_URL")
    if not url:
        raise RuntimeError("FAASFLOW_PAYLOAD_URL is not set: documents over the inline limit need a payload store")
    return _storage(url)


@cache
def _storage(url: str) -> Storage:
    return open_storage(url)


def encode_docs(docs: DocumentArray, key: str, inline_limit: int) -> DocsRef:
    """A reference to ``docs``: inline when the encoded docs fit ``inline_limit`` bytes,
    else stored under ``<key>.json`` in the payload storage."""
    items = codec.docs_to_list(docs)
    data = codec.dumps(items)
    if len(data) <= inline_limit:
        # the state carries the encoded form: what comes back is what a stored ref gives
        return {"inline": codec.loads(data)}
    storage = payload_storage()
    storage.put(f"{key}.json", data)
    return {"store": storage.url, "key": f"{key}.json", "count": len(items), "bytes": len(data)}


def decode_docs(ref: DocsRef) -> DocumentArray:
    """The documents a reference points to."""
    if "inline" in ref:
        return DocumentArray._wrap(codec.docs_from_list(ref["inline"]))
    data = _storage(ref["store"]).get(ref["key"])
    if data is None:
        raise RuntimeError(f"payload {ref['store']}{ref['key']} is missing (expired?)")
    return DocumentArray._wrap(codec.docs_from_list(codec.loads(data)))
