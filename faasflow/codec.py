"""The one wire codec for every hop: compact JSON, numpy arrays as base64 of raw bytes.

No pickle anywhere: a payload from the network can only ever become documents.
Empty fields are left out, so a text-only document costs little more than its text.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import orjson

from faasflow.document import EXTRA_DEFAULTS, FIELDS, Document, NamedScore, ScoreMap
from faasflow.errors import BadInputError
from faasflow.wire import MAX_DOC_DEPTH, MAX_TAG_DEPTH

_ARRAY_FIELDS = ("tensor", "embedding")


def _number_list(value: list[Any]) -> np.ndarray:
    """A JSON list of numbers (nested, for tensors) as float32. Booleans and strings are
    refused, not cast: ``[true, false]`` is a mistake, not the vector ``[1, 0]``."""
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        kinds = {"b": "booleans", "U": "strings", "O": "mixed or out-of-range values"}
        raise BadInputError(f"must be a list of numbers, not of {kinds.get(array.dtype.kind, array.dtype.name)}")
    with np.errstate(over="ignore"):  # past float32's range: infinity, which the executor may refuse
        return array.astype(np.float32)


def array_to_dict(array: np.ndarray) -> dict[str, Any]:
    shape = list(array.shape)  # before ascontiguousarray, which makes a 0-d array 1-d
    array = np.ascontiguousarray(array)
    if array.dtype.hasobject:
        raise BadInputError("arrays of Python objects cannot be encoded; use a numeric dtype")
    return {
        "dtype": array.dtype.str,
        "shape": shape,
        "data": base64.b64encode(array.data).decode("ascii"),
    }


def array_from_dict(data: Mapping[str, Any]) -> np.ndarray:
    try:
        dtype = np.dtype(data["dtype"])
        if dtype.hasobject:
            raise ValueError("object dtype")
        raw = base64.b64decode(data["data"], validate=True)
        return np.frombuffer(raw, dtype=dtype).reshape(data["shape"]).copy()
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInputError(f"malformed array (expected dtype, shape and base64 data): {exc}") from None


def document_to_dict(doc: Document, *, embedding: bool = True) -> dict[str, Any]:
    """The document as plain JSON data; ``embedding=False`` leaves its embedding out (an
    index keeps embeddings as one raw matrix beside the documents)."""
    out: dict[str, Any] = {"id": doc.id}
    if doc.text is not None:
        out["text"] = doc.text
    if doc.uri is not None:
        out["uri"] = doc.uri
    if doc.mime_type is not None:
        out["mime_type"] = doc.mime_type
    if doc.blob is not None:
        out["blob"] = base64.b64encode(doc.blob).decode("ascii")
    if doc.tensor is not None:
        out["tensor"] = array_to_dict(doc.tensor)
    if embedding and doc._embedding is not None:
        out["embedding"] = array_to_dict(doc._embedding)
    tags = doc.tags
    if tags:
        out["tags"] = tags if _plain(tags, 0) else wire_form(tags, f"document {doc.id!r} tags")
    if doc._scores:
        out["scores"] = {name: score.to_dict() for name, score in doc._scores.items()}
    if doc._matches:
        out["matches"] = [document_to_dict(m) for m in doc._matches]
    if doc._chunks:
        out["chunks"] = [document_to_dict(c) for c in doc._chunks]
    extra = doc._extra
    if extra:
        for name, value in extra.items():
            if name == "evaluations":
                if value:
                    out[name] = {key: score.to_dict() for key, score in value.items()}
            elif value != EXTRA_DEFAULTS.get(name, []):
                out[name] = value
    return out


_EXTRA_KINDS: dict[str, tuple[type, ...]] = {
    "parent_id": (str,), "granularity": (int,), "adjacency": (int,), "weight": (int, float),
    "offset": (int, float), "modality": (str,), "location": (list,),
}


def _scores_from(data: Mapping[str, Any], field: str) -> ScoreMap:
    scores = _expect(data, field, dict) or {}
    score_map = ScoreMap()
    what = "score" if field == "scores" else "evaluation"
    for name, score in scores.items():
        if isinstance(score, (int, float)) and not isinstance(score, bool):
            score = {"value": score}
        if not isinstance(score, Mapping):
            raise BadInputError(f"{what} {name!r} must be an object with a 'value'")
        value = score.get("value")
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise BadInputError(f"{what} {name!r} has a value of type {type(value).__name__}, not a number")
        for text_field in ("op_name", "description", "ref_id"):
            text = score.get(text_field)
            if text is not None and not isinstance(text, str):
                raise BadInputError(f"{what} {name!r}: {text_field} must be a string, not {type(text).__name__}")
        dict.__setitem__(score_map, name, NamedScore(value=value, op_name=score.get("op_name"),
                                                     description=score.get("description"),
                                                     ref_id=score.get("ref_id")))
    return score_map


def _extras_from(doc: Document, data: Mapping[str, Any]) -> None:
    """The rarely set docarray v1 fields, each checked for its JSON type."""
    extra: dict[str, Any] = {}
    for name, kinds in _EXTRA_KINDS.items():
        value: Any = data.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, kinds):
            expected = "number" if float in kinds else kinds[0].__name__
            raise BadInputError(f"document {data.get('id')!r}: field {name!r} must be {expected}, "
                                f"not {type(value).__name__}")
        items: list[Any] = value if isinstance(value, list) else []
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in items):
            raise BadInputError(f"document {data.get('id')!r}: field 'location' must be a list of numbers")
        extra[name] = value
    if data.get("evaluations"):
        extra["evaluations"] = _scores_from(data, "evaluations")
    if extra:
        doc._extra = extra


def document_from_dict(data: Mapping[str, Any], *, _depth: int = 0) -> Document:
    """A document from plain JSON data, refusing what could not be written back: tags
    nested deeper than ``MAX_TAG_DEPTH``, matches and chunks nested deeper than
    ``MAX_DOC_DEPTH`` (the JSON writer stops at 255 levels; what is accepted is answered)."""
    if not isinstance(data, Mapping):
        raise BadInputError(f"a document must be a JSON object, not {type(data).__name__}")
    unknown = [key for key in data if key not in FIELDS]
    if unknown:
        raise BadInputError(f"document {data.get('id')!r} has unknown field(s): {', '.join(sorted(unknown))}")
    if _depth == 0 and _nested_too_deep(data):
        raise BadInputError(f"document {data.get('id')!r}: matches or chunks nested deeper than {MAX_DOC_DEPTH} levels")
    doc = Document.__new__(Document)
    doc_id = data.get("id")
    if doc_id is not None and (isinstance(doc_id, bool) or not isinstance(doc_id, (str, int))):
        raise BadInputError(f"document id must be a string, not {type(doc_id).__name__}")
    try:
        Document.__init__(
            doc,
            id=None if doc_id is None else str(doc_id),  # an int id is kept as its text, as Document does
            text=_expect(data, "text", str),
            tags=_expect(data, "tags", dict),
        )
        doc._uri = _expect(data, "uri", str)  # as sent: no exclusivity, no mime type guess
        doc._mime_type = _expect(data, "mime_type", str)
        if doc.tags and not _plain(doc.tags, 0):
            doc.tags = wire_form(doc.tags, f"document {doc_id!r} tags")
        blob = _expect(data, "blob", str)
        if blob is not None:
            try:
                doc._blob = base64.b64decode(blob, validate=True)
            except ValueError as exc:  # binascii.Error
                raise BadInputError(f"field 'blob' is not valid base64: {exc}") from None
        for name in _ARRAY_FIELDS:
            value = data.get(name)
            if value is not None:
                if not isinstance(value, list):
                    _expect(data, name, dict)
                try:
                    array = _number_list(value) if isinstance(value, list) else array_from_dict(value)
                except (BadInputError, TypeError, ValueError) as exc:
                    raise BadInputError(f"field {name!r}: {exc}") from None
                if name == "tensor":
                    doc._tensor = array
                else:
                    doc.embedding = array
        if data.get("scores"):
            doc._scores = _scores_from(data, "scores")
        _extras_from(doc, data)
        for name in ("matches", "chunks"):
            nested = _expect(data, name, list)
            if nested:
                from faasflow.array import ChunkArray, MatchArray

                items = [document_from_dict(item, _depth=_depth + 1) for item in nested]
                # as sent: parent_id, granularity and adjacency travel with each document
                if name == "matches":
                    doc._matches = MatchArray._of(items, doc)
                else:
                    doc._chunks = ChunkArray._of(items, doc)
    except BadInputError as exc:
        if doc_id is not None and str(doc_id) not in str(exc):
            raise BadInputError(f"document {doc_id!r}: {exc}") from None
        raise
    except ValueError as exc:  # binascii.Error from base64 is a ValueError
        raise BadInputError(f"document {doc_id!r}: {exc}") from None
    return doc


def _nested_too_deep(data: Mapping[str, Any]) -> bool:
    """Whether matches or chunks nest deeper than ``MAX_DOC_DEPTH`` (checked before any
    document is made, so the refusal names the document the caller sent)."""
    level: list[Any] = [data]
    for _ in range(MAX_DOC_DEPTH):
        level = [child for item in level if isinstance(item, Mapping)
                 for name in ("matches", "chunks") if isinstance(item.get(name), list) for child in item[name]]
        if not level:
            return False
    return any(isinstance(item, Mapping) and (item.get("matches") or item.get("chunks")) for item in level)


def _expect(data: Mapping[str, Any], field: str, kind: type) -> Any:
    value = data.get(field)
    if value is not None and not isinstance(value, kind):
        raise BadInputError(
            f"document {data.get('id')!r}: field {field!r} must be {kind.__name__}, not {type(value).__name__}"
        )
    return value


def _default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> bytes:
    """Compact JSON bytes (numpy scalars and arrays in tags become plain JSON)."""
    try:
        return orjson.dumps(value, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)
    except orjson.JSONEncodeError as exc:
        raise BadInputError(f"cannot be written as JSON: {exc}") from None


def dumps_text(value: Any, *, sort_keys: bool = False) -> str:
    """``dumps`` as text: for environment variables, ASL strings and log lines."""
    if not sort_keys:
        return dumps(value).decode()
    try:
        return orjson.dumps(value, default=_default,
                            option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError as exc:
        raise BadInputError(f"cannot be written as JSON: {exc}") from None


def to_plain(value: Any) -> Any:
    """``value`` as the wire carries it (plain JSON data): what a Lambda runtime's own JSON
    writer, or any other hop, can pass on unchanged."""
    return loads(dumps(value))


# What a tag value may be, so that every mode carries it: JSON's types, plus numpy scalars
# and arrays of numbers or text (sent as numbers and lists), bytes (sent as base64 text) and
# tuples (sent as lists). Each executor's output is put in that wire form by the stage, in
# every mode, so embedded, served and deployed answer the same and a later executor reads
# the same values wherever it runs (as Jina's wire does).
_INT_RANGE = (-(2**63), 2**64 - 1)  # what the JSON writer takes
_ARRAY_KINDS = "biufU"  # bool, integers, floats (up to 64 bits) and text


def _plain(value: Any, depth: int) -> bool:
    """Whether ``value`` is already plain JSON every mode carries as it is: the hot path,
    which builds no strings and changes nothing."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        number: int = value
        return _INT_RANGE[0] <= number <= _INT_RANGE[1]
    if kind is float:
        real: float = value
        return real - real == 0.0  # false for NaN and the infinities
    if depth >= MAX_TAG_DEPTH:
        return False
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not _plain(item, depth + 1):
                return False
        return True
    if kind is list:
        for item in value:
            if not _plain(item, depth + 1):
                return False
        return True
    return False


def wire_form(value: Any, where: str, depth: int = 0) -> Any:
    """``value`` as every mode carries it (numpy numbers as numbers, arrays and tuples as
    lists, bytes as base64 text), or a ``BadInputError`` naming where the value no mode can
    carry is (``where``: e.g. ``document 'd1' tags``)."""
    if _plain(value, depth):
        return value
    kind = type(value)
    if kind is int:
        raise BadInputError(f"{where}: integer {value} is outside the 64-bit range JSON is sent with")
    if kind is float:
        raise BadInputError(f"{where}: {value} is not a JSON number (NaN and infinities cannot be sent)")
    for base in (bool, int, float, str):  # subclasses (an IntEnum, a str Enum): their plain value
        if isinstance(value, base):
            return wire_form(base(value), where, depth)
    if depth >= MAX_TAG_DEPTH:
        shown = where if len(where) <= 120 else f"{where[:100]}…"
        raise BadInputError(f"{shown}: nested deeper than {MAX_TAG_DEPTH} levels")
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise BadInputError(f"{where}: key {key!r} is not a string; JSON keys are strings")
            out[key] = wire_form(item, f"{where}.{key}", depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [wire_form(item, f"{where}[{position}]", depth + 1) for position, item in enumerate(value)]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (np.ndarray, np.generic)):
        return _numpy_wire_form(value, where)
    raise BadInputError(f"{where}: a value of type {kind.__name__} cannot be sent between executors "
                        "(tags hold JSON values, numpy numbers and arrays, bytes)")


def _numpy_wire_form(value: np.ndarray | np.generic, where: str) -> Any:
    """A numpy number or array as the JSON writer sends it (a float32 as its shortest
    float32 text, as orjson writes it), so that every mode gets the very same numbers."""
    dtype = value.dtype
    what = f"a numpy array of dtype {dtype}" if isinstance(value, np.ndarray) else f"a numpy {dtype}"
    if dtype.kind not in _ARRAY_KINDS or (dtype.kind == "f" and dtype.itemsize > 8):
        raise BadInputError(f"{where}: {what} cannot be sent as JSON")
    if dtype.kind == "f" and not np.isfinite(value).all():
        raise BadInputError(f"{where}: {what} holds NaN or infinities, which JSON cannot carry")
    if isinstance(value, np.ndarray):
        value = np.ascontiguousarray(value, dtype=dtype.newbyteorder("="))
    return loads(dumps(value))


def check_wire_value(value: Any, where: str) -> None:
    """Refuse a value no mode can carry, naming where it is (see ``wire_form``)."""
    wire_form(value, where)


def to_wire_docs(docs: Iterable[Document]) -> None:
    """Put the tags of every doc, its matches and its chunks in their wire form, in place;
    a value no mode can carry is refused naming the doc and the tag's path. Every mode
    calls this on what each executor returns, so the refusal reads the same in all three."""
    for doc in docs:
        tags = doc.tags
        if tags and not _plain(tags, 0):
            doc.tags = wire_form(tags, f"document {doc.id!r} tags")
        if doc._matches:
            to_wire_docs(doc._matches)
        if doc._chunks:
            to_wire_docs(doc._chunks)


def loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadInputError(f"malformed JSON: {exc}") from None


def docs_to_list(docs: Iterable[Document]) -> list[dict[str, Any]]:
    return [document_to_dict(d) for d in docs]


def docs_from_list(items: Iterable[Any]) -> list[Document]:
    return [document_from_dict(item) for item in items]
