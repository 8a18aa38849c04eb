"""docarray v1's serialization API for ``Document`` and ``DocumentArray``: bytes, base64,
dicts, JSON and files, with v1's ``protocol`` and ``compress`` arguments.

Protocols:

- ``None`` (the default of ``to_bytes``/``from_bytes``, ``to_base64``/``from_base64`` and
  ``save_binary``/``load_binary``): faasflow's JSON wire form (``faasflow.codec``), the
  same bytes every hop of a Flow carries. ``'jsonschema'`` (and ``'json'``) name it too.
- ``'pickle'``: Python's pickle; for a DocumentArray, v1's stream layout (a version byte,
  the document count, then each document's length and its own pickle).
- ``'pickle-array'`` (DocumentArray only): one pickle of the whole array.
- ``'protobuf'`` / ``'protobuf-array'``: refused; faasflow has no protobuf.

``compress`` is one of ``'gzip'``, ``'bz2'``, ``'lzma'``, ``'zlib'`` or ``'lz4'`` (the
last only when the ``lz4`` package is installed).

.. warning::
   Unpickling runs code chosen by whoever wrote the bytes. The pickle protocols are for
   local files and data the caller trusts; they are used only when the caller asks for
   them (an explicit ``protocol``, or a file name ending in ``.pickle`` / ``.pickle-array``
   given to ``load_binary``). Nothing in faasflow's wire, HTTP gateway or Lambda path
   calls these functions: those decode documents with ``faasflow.codec``, which only
   ever makes documents out of JSON.
"""

from __future__ import annotations

import base64
import io
import json
import os
import pathlib
import pickle
from collections.abc import Iterable, Iterator, Mapping
from importlib import import_module
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from faasflow.array import DocumentArray
    from faasflow.document import Document

COMPRESSIONS = ("gzip", "bz2", "lzma", "zlib", "lz4")
JSON_PROTOCOLS = (None, "jsonschema", "json")
DOC_PROTOCOLS = (*JSON_PROTOCOLS, "pickle")
ARRAY_PROTOCOLS = (*DOC_PROTOCOLS, "pickle-array")
_FILE_PROTOCOLS = frozenset({"pickle", "protobuf", "pickle-array", "protobuf-array"})
_STREAM_VERSION = b"\x01"


def _protocol_error(protocol: Any, supported: Iterable[Any], what: str) -> ValueError:
    names = ", ".join(repr(p) for p in supported)
    if isinstance(protocol, str) and protocol.startswith("protobuf"):
        return ValueError(
            f"protocol={protocol!r} is not supported: faasflow has no protobuf. {what} supports "
            f"protocol {names} (None is faasflow's JSON wire form)"
        )
    return ValueError(f"protocol={protocol!r} is not supported. {what} supports protocol {names} "
                      "(None is faasflow's JSON wire form)")


def _lz4_frame() -> Any:
    """The optional ``lz4.frame`` module (ImportError when the lz4 package is missing)."""
    return import_module("lz4.frame")


def _check_compress(algorithm: str | None) -> None:
    if algorithm is None:
        return
    if algorithm not in COMPRESSIONS:
        raise ValueError(f"compress={algorithm!r} is not supported; use None or one of {', '.join(COMPRESSIONS)}")
    if algorithm == "lz4":
        try:
            _lz4_frame()
        except ImportError:
            raise ValueError("compress='lz4' needs the 'lz4' package, which is not installed "
                             "(pip install lz4), or use gzip, bz2, lzma or zlib") from None


def compress_bytes(data: bytes, algorithm: str | None) -> bytes:
    """``data`` compressed with ``algorithm`` (None: as is)."""
    _check_compress(algorithm)
    if algorithm is None:
        return data
    if algorithm == "lz4":
        return bytes(_lz4_frame().compress(data))
    if algorithm == "gzip":
        import gzip

        return gzip.compress(data)
    if algorithm == "bz2":
        import bz2

        return bz2.compress(data)
    if algorithm == "lzma":
        import lzma

        return lzma.compress(data)
    import zlib

    return zlib.compress(data)


def decompress_bytes(data: bytes, algorithm: str | None) -> bytes:
    """The inverse of ``compress_bytes``."""
    _check_compress(algorithm)
    if algorithm is None:
        return data
    if algorithm == "lz4":
        return bytes(_lz4_frame().decompress(data))
    if algorithm == "gzip":
        import gzip

        return gzip.decompress(data)
    if algorithm == "bz2":
        import bz2

        return bz2.decompress(data)
    if algorithm == "lzma":
        import lzma

        return lzma.decompress(data)
    import zlib

    return zlib.decompress(data)


def _unpickle(data: bytes, kind: type, protocol: str) -> Any:
    value = pickle.loads(data)  # noqa: S301 -- only on the caller's explicit request (see the module doc)
    if not isinstance(value, kind):
        raise TypeError(f"protocol={protocol!r}: the bytes hold a {type(value).__name__}, not a {kind.__name__}")
    return value


def _refuse_pickle_guess(data: bytes) -> None:
    """The default (JSON) protocol was given bytes that look like a pickle or a pickle stream."""
    if data[:1] == b"\x80" or (data[:1] == _STREAM_VERSION and len(data) >= 9):
        raise ValueError(
            "these bytes look like a pickle, and faasflow never unpickles unless asked: pass "
            "protocol='pickle-array' (or 'pickle' for a stream of pickled documents) if you trust them"
        )


# --- Document ---------------------------------------------------------------------------


def doc_to_bytes(doc: Document, protocol: str | None = None, compress: str | None = None) -> bytes:
    if protocol in JSON_PROTOCOLS:
        from faasflow.codec import document_to_dict, dumps

        data = dumps(document_to_dict(doc))
    elif protocol == "pickle":
        data = pickle.dumps(doc)
    else:
        raise _protocol_error(protocol, DOC_PROTOCOLS, "Document.to_bytes()")
    return compress_bytes(data, compress)


def doc_from_bytes(data: bytes, protocol: str | None = None, compress: str | None = None) -> Document:
    from faasflow.document import Document

    if protocol not in DOC_PROTOCOLS:
        raise _protocol_error(protocol, DOC_PROTOCOLS, "Document.from_bytes()")
    data = decompress_bytes(data, compress)
    if protocol == "pickle":
        return _unpickle(data, Document, "pickle")  # type: ignore[no-any-return]
    _refuse_pickle_guess(data)
    from faasflow.codec import document_from_dict, loads

    return document_from_dict(loads(data))


def doc_to_base64(doc: Document, protocol: str | None = None, compress: str | None = None) -> str:
    return base64.b64encode(doc_to_bytes(doc, protocol, compress)).decode("ascii")


def doc_from_base64(data: str | bytes, protocol: str | None = None, compress: str | None = None) -> Document:
    return doc_from_bytes(base64.b64decode(data), protocol, compress)


def _select(out: dict[str, Any], include: Iterable[str] | None, exclude: Iterable[str] | None) -> dict[str, Any]:
    if include is not None:
        keep = set(include)
        out = {k: v for k, v in out.items() if k in keep}
    if exclude is not None:
        drop = set(exclude)
        out = {k: v for k, v in out.items() if k not in drop}
    return out


def doc_to_dict(doc: Document, protocol: str | None = "jsonschema", **kwargs: Any) -> dict[str, Any]:
    """The document as JSON data (``protocol='jsonschema'``, faasflow's wire form);
    ``include``/``exclude`` pick top-level fields, as pydantic's ``dict()`` in v1."""
    if protocol not in ("jsonschema", "json"):
        raise _protocol_error(protocol, ("jsonschema",), "Document.to_dict()/to_json()")
    include, exclude = kwargs.pop("include", None), kwargs.pop("exclude", None)
    if kwargs:
        raise TypeError(f"to_dict() got unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
    from faasflow.codec import document_to_dict

    return _select(document_to_dict(doc), include, exclude)


def doc_from_dict(data: Mapping[str, Any], protocol: str | None = "jsonschema") -> Document:
    """``protocol='jsonschema'``: faasflow's JSON form (unknown fields are refused);
    any other protocol except protobuf (v1: ``None``): ``Document(data)``, unknown fields
    going to ``tags``."""
    from faasflow.document import Document

    if protocol in ("jsonschema", "json"):
        from faasflow.codec import document_from_dict

        return document_from_dict(data)
    if isinstance(protocol, str) and protocol.startswith("protobuf"):
        raise _protocol_error(protocol, ("jsonschema", None), "Document.from_dict()/from_json()")
    return Document(data)


def doc_to_json(doc: Document, protocol: str | None = "jsonschema", **kwargs: Any) -> str:
    from faasflow.codec import dumps

    return dumps(doc_to_dict(doc, protocol, **kwargs)).decode()


def doc_from_json(data: str | bytes | bytearray, protocol: str | None = "jsonschema") -> Document:
    from faasflow.codec import loads

    return doc_from_dict(loads(bytes(data) if isinstance(data, bytearray) else data), protocol)


# --- DocumentArray ------------------------------------------------------------------------


def array_to_list(da: DocumentArray, protocol: str | None = "jsonschema", **kwargs: Any) -> list[dict[str, Any]]:
    if protocol not in ("jsonschema", "json"):
        raise _protocol_error(protocol, ("jsonschema",), "DocumentArray.to_list()/to_dict()/to_json()")
    if not kwargs:
        from faasflow.codec import docs_to_list

        return docs_to_list(da)
    return [doc_to_dict(d, protocol, **kwargs) for d in da]


def array_from_list(cls: type[DocumentArray], items: Iterable[Any],
                    protocol: str | None = "jsonschema") -> DocumentArray:
    if protocol in ("jsonschema", "json"):
        from faasflow.codec import docs_from_list

        return cls._wrap(docs_from_list(items))
    return cls._wrap([doc_from_dict(item, protocol) for item in items])


def array_to_json(da: DocumentArray, protocol: str | None = "jsonschema", **kwargs: Any) -> str:
    from faasflow.codec import dumps

    return dumps(array_to_list(da, protocol, **kwargs)).decode()


def array_from_json(cls: type[DocumentArray], data: str | bytes | bytearray,
                    protocol: str | None = "jsonschema") -> DocumentArray:
    from faasflow.codec import loads

    items = loads(bytes(data) if isinstance(data, bytearray) else data)
    if not isinstance(items, list):
        from faasflow.errors import BadInputError

        raise BadInputError(f"a DocumentArray is encoded as a JSON list, not {type(items).__name__}")
    return array_from_list(cls, items, protocol)


def _stream_record(doc: Document, compress: str | None) -> bytes:
    data = doc_to_bytes(doc, "pickle", compress)
    return len(data).to_bytes(4, "big") + data


def array_to_bytes(da: DocumentArray, protocol: str | None = None, compress: str | None = None) -> bytes:
    """``None``/``'jsonschema'``: the JSON list, compressed whole; ``'pickle-array'``: one
    pickle, compressed whole; ``'pickle'``: v1's stream (each document compressed alone)."""
    if protocol in JSON_PROTOCOLS:
        from faasflow.codec import docs_to_list, dumps

        return compress_bytes(dumps(docs_to_list(da)), compress)
    if protocol == "pickle-array":
        return compress_bytes(pickle.dumps(da), compress)
    if protocol == "pickle":
        _check_compress(compress)
        parts = [_STREAM_VERSION, len(da).to_bytes(8, "big")]
        parts.extend(_stream_record(d, compress) for d in da)
        return b"".join(parts)
    raise _protocol_error(protocol, ARRAY_PROTOCOLS, "DocumentArray.to_bytes()/save_binary()")


def _stream_docs(read: Any, compress: str | None) -> Iterator[Document]:
    """Documents of v1's stream layout, ``read(n)`` giving the next n bytes."""
    header = read(9)
    if len(header) < 9 or header[:1] != _STREAM_VERSION:
        raise ValueError("not a DocumentArray stream of protocol='pickle' (bad header)")
    count = int.from_bytes(header[1:9], "big")
    for position in range(count):
        size = read(4)
        record = read(int.from_bytes(size, "big")) if len(size) == 4 else b""
        if len(size) < 4 or not record:
            raise ValueError(f"the stream ends after {position} of its {count} documents")
        yield doc_from_bytes(record, "pickle", compress)


def array_from_bytes(cls: type[DocumentArray], data: bytes, protocol: str | None = None,
                     compress: str | None = None) -> DocumentArray:
    from faasflow.array import DocumentArray

    if protocol in JSON_PROTOCOLS:
        data = decompress_bytes(data, compress)
        _refuse_pickle_guess(data)
        return array_from_json(cls, data)
    if protocol == "pickle-array":
        da = _unpickle(decompress_bytes(data, compress), DocumentArray, protocol)
        return da if type(da) is cls else cls._wrap(list(da))
    if protocol == "pickle":
        return cls._wrap(list(_stream_docs(io.BytesIO(data).read, compress)))
    raise _protocol_error(protocol, ARRAY_PROTOCOLS, "DocumentArray.from_bytes()/load_binary()")


def _from_file_name(path: str | os.PathLike[str], protocol: str | None,
                    compress: str | None) -> tuple[str | None, str | None]:
    """v1: a file name's suffixes name the protocol and compression (``x.pickle.gzip``)
    and win over the arguments."""
    for suffix in pathlib.Path(path).suffixes:
        name = suffix.lstrip(".")
        if name in _FILE_PROTOCOLS:
            protocol = name
        elif name in COMPRESSIONS:
            compress = name
    return protocol, compress


def save_binary(da: DocumentArray, file: str | os.PathLike[str] | BinaryIO, protocol: str | None = None,
                compress: str | None = None) -> None:
    if not isinstance(file, (str, os.PathLike)):
        file.write(array_to_bytes(da, protocol, compress))
        return
    path = os.fspath(file)
    protocol, compress = _from_file_name(path, protocol, compress)
    data = array_to_bytes(da, protocol, compress)
    with open(path, "wb") as fp:
        fp.write(data)


def load_binary(cls: type[DocumentArray], file: str | os.PathLike[str] | BinaryIO | bytes,
                protocol: str | None = None, compress: str | None = None,
                streaming: bool = False) -> DocumentArray | Iterator[Document]:
    if isinstance(file, (bytes, bytearray, memoryview)):
        data = bytes(file)
    elif not isinstance(file, (str, os.PathLike)):
        if streaming and protocol == "pickle":
            return _stream_docs(file.read, compress)
        data = file.read()
    else:
        path = os.fspath(file)
        if not os.path.exists(path):
            raise FileNotFoundError(f"cannot find file {path}")
        protocol, compress = _from_file_name(path, protocol, compress)
        if streaming and protocol == "pickle":
            return _stream_file(path, compress)
        with open(path, "rb") as fp:
            data = fp.read()
    da = array_from_bytes(cls, data, protocol, compress)
    return iter(da) if streaming else da


def _stream_file(path: str, compress: str | None) -> Iterator[Document]:
    with open(path, "rb") as fp:
        yield from _stream_docs(fp.read, compress)


def _is_utf8(encoding: str) -> bool:
    return encoding.lower().replace("_", "-") in ("utf-8", "utf8")


def save_json(da: DocumentArray, file: str | os.PathLike[str] | Any, protocol: str | None = "jsonschema",
              encoding: str = "utf-8", **kwargs: Any) -> None:
    text = array_to_json(da, protocol, **kwargs)
    if not _is_utf8(encoding):
        text = json.dumps(json.loads(text))  # non-ASCII as \u escapes: readable in any encoding
    if not isinstance(file, (str, os.PathLike)):
        file.write(text)
        return
    with open(os.fspath(file), "w", encoding=encoding) as fp:
        fp.write(text)


def load_json(cls: type[DocumentArray], file: str | os.PathLike[str] | Any, protocol: str | None = "jsonschema",
              encoding: str = "utf-8") -> DocumentArray:
    if not isinstance(file, (str, os.PathLike)):
        return array_from_json(cls, file.read(), protocol)
    path = os.fspath(file)
    if not os.path.exists(path) and isinstance(file, str) and file.lstrip()[:1] == "[":
        return array_from_json(cls, file, protocol)  # v1 also takes the JSON text itself
    with open(path, encoding=encoding) as fp:
        return array_from_json(cls, fp.read(), protocol)


_FORMATS = ("json", "binary")


def save(da: DocumentArray, file: Any, file_format: str = "binary", encoding: str = "utf-8") -> None:
    if file_format == "json":
        save_json(da, file, encoding=encoding)
    elif file_format == "binary":
        save_binary(da, file)
    else:
        raise ValueError(f"file_format={file_format!r} is not supported; use 'json' or 'binary'"
                         + (" (faasflow does not write CSV)" if file_format == "csv" else ""))


def load(cls: type[DocumentArray], file: Any, file_format: str = "binary", encoding: str = "utf-8",
         **kwargs: Any) -> DocumentArray:
    if file_format == "json":
        da = load_json(cls, file, encoding=encoding)
    elif file_format == "binary":
        loaded = load_binary(cls, file)
        assert not isinstance(loaded, Iterator)
        da = loaded
    else:
        raise ValueError(f"file_format={file_format!r} is not supported; use 'json' or 'binary'"
                         + (" (faasflow does not read CSV)" if file_format == "csv" else ""))
    if kwargs:
        cls(**kwargs)  # refuses storage=... as the constructor does
    return da
