"""Reading a document's ``uri``: local paths, ``file://`` and ``data:`` URIs."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from urllib.parse import unquote, unquote_to_bytes, urlparse


def read_uri_bytes(uri: str | None) -> bytes:
    if not uri:
        raise ValueError("the document has no uri to load")
    if uri.startswith("data:"):
        header, sep, payload = uri[5:].partition(",")
        if not sep:
            raise ValueError(f"cannot load uri {uri[:40]!r}: a data URI needs a ',' before its data")
        if header.endswith(";base64"):
            try:
                return base64.b64decode(payload, validate=True)
            except binascii.Error as exc:
                raise ValueError(f"cannot load uri {uri[:40]!r}: bad base64 ({exc})") from None
        return unquote_to_bytes(payload)
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
    elif parsed.scheme in ("", ) or (len(parsed.scheme) == 1 and uri[1:3] in (":\\", ":/")):
        path = Path(uri)
    else:
        raise ValueError(f"cannot load uri {uri!r}: only local paths, file:// and data: URIs are supported")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot load uri {uri!r}: {exc.strerror}") from None
