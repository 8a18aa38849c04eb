"""Reading a document's ``uri``: local paths and ``file://`` URIs."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse


def read_uri_bytes(uri: str | None) -> bytes:
    if not uri:
        raise ValueError("the document has no uri to load")
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
    elif parsed.scheme in ("", ) or (len(parsed.scheme) == 1 and uri[1:3] in (":\\", ":/")):
        path = Path(uri)
    else:
        raise ValueError(f"cannot load uri {uri!r}: only local paths and file:// URIs are supported")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot load uri {uri!r}: {exc.strerror}") from None
