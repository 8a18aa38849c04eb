"""`Document`: the unit of data every executor processes.

A plain class with ``__slots__`` rather than a pydantic model: documents are created and
copied on every hot path, and attribute access must cost what a normal attribute costs.
Fields follow docarray v1 (0.21): ``text``, ``blob`` and ``tensor`` are exclusive content
(setting one clears the others), a ``uri`` guesses the ``mime_type``, unknown keyword
arguments go to ``tags``. The rarely set fields (``parent_id``, ``granularity``,
``adjacency``, ``weight``, ``offset``, ``modality``, ``location``, ``evaluations``) live in
one small dict that is only made when one of them is set, so construction never pays for them.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from faasflow.array import DocumentArray
    from faasflow.columns import EmbeddingColumn

# the fields of the wire form, in docarray v1's order
FIELDS = (
    "id", "parent_id", "granularity", "adjacency", "blob", "tensor", "mime_type", "text", "weight", "uri",
    "tags", "offset", "location", "embedding", "modality", "evaluations", "scores", "chunks", "matches",
)
# rarely set fields and their docarray v1 defaults (what reading an unset one gives)
EXTRA_DEFAULTS: dict[str, Any] = {
    "parent_id": "", "granularity": 0, "adjacency": 0, "weight": 0.0, "offset": 0.0, "modality": "",
}
EXTRA_FIELDS = (*EXTRA_DEFAULTS, "location", "evaluations")
_CONSTRUCTOR_ONLY = frozenset({"content"})
_ALL_MIME_TYPES = frozenset(mimetypes.types_map.values())
_id_pool: list[str] = []


def new_id() -> str:
    """A random 32-hex-digit id (as docarray v1's ``os.urandom(16).hex()``): random bytes
    are read 256 ids at a time, since the system call is most of an id's cost."""
    try:
        return _id_pool.pop()
    except IndexError:
        raw = os.urandom(4096).hex()
        _id_pool.extend([raw[i : i + 32] for i in range(0, 8192, 32)])
        return _id_pool.pop()


if hasattr(os, "register_at_fork"):  # a forked child must not hand out its parent's ids
    os.register_at_fork(after_in_child=_id_pool.clear)


def guess_mime_type(value: str) -> str:
    """docarray v1's ``mime_type`` setter: a known mime type is kept; otherwise it is read
    as an extension (``'jpg'``, ``'.jpg'``) where that is known, else kept as given."""
    if value and value not in _ALL_MIME_TYPES:
        return mimetypes.guess_type(f"*.{value.lstrip('.')}")[0] or value
    return value


class NamedScore:
    """A named score (``doc.scores['cosine'].value``), as in docarray v1: a value never set
    reads 0.0 (protobuf's default), so ``doc.scores['hits'].value += 1`` works on a new
    score; it is still left out of the wire form, as before it was set."""

    __slots__ = ("_value", "op_name", "description", "ref_id")

    def __init__(
        self,
        _obj: NamedScore | Mapping[str, Any] | float | None = None,
        copy: bool | str = False,
        description: str | None = None,
        *,
        value: float | None = None,
        op_name: str | None = None,
        ref_id: str | None = None,
    ):
        if _obj is not None:
            if isinstance(_obj, (int, float, np.floating, np.integer)) and not isinstance(_obj, bool):
                # NamedScore(0.5) or NamedScore(0.5, 'cosine', 'why'): value, op_name, description
                _obj, value = None, float(_obj)
                if isinstance(copy, str):
                    op_name, copy = copy, False
            elif isinstance(_obj, NamedScore):
                value, op_name, description, ref_id = _obj._value, _obj.op_name, _obj.description, _obj.ref_id
            elif isinstance(_obj, Mapping):
                unknown = set(_obj) - {"value", "op_name", "description", "ref_id"}
                if unknown:
                    raise TypeError(f"NamedScore got unknown field(s): {', '.join(sorted(unknown))}")
                value = _obj.get("value", value)
                op_name = _obj.get("op_name", op_name)
                description = _obj.get("description", description)
                ref_id = _obj.get("ref_id", ref_id)
            else:
                raise TypeError(f"NamedScore() takes a NamedScore or a dict, not {type(_obj).__name__}")
        self._value = value
        self.op_name = op_name
        self.description = description
        self.ref_id = ref_id

    @property
    def value(self) -> float:
        """The score; 0.0 while never set (docarray v1)."""
        value = self._value
        return 0.0 if value is None else value

    @value.setter
    def value(self, value: float | None) -> None:
        self._value = value

    def __getstate__(self) -> tuple[Any, ...]:
        return (self._value, self.op_name, self.description, self.ref_id)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self._value, self.op_name, self.description, self.ref_id = state

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self._value} if self._value is not None else {}
        for name in ("op_name", "description", "ref_id"):
            text = getattr(self, name)
            if text:
                out[name] = text
        return out

    def __str__(self) -> str:
        return str(self.to_dict())

    def __repr__(self) -> str:
        return f"NamedScore(value={self.value!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, NamedScore):
            return (self.value, self.op_name, self.description, self.ref_id) == (
                other.value, other.op_name, other.description, other.ref_id)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


_new_score = object.__new__


class ScoreMap(dict):
    """``name -> NamedScore``; a missing name is created on access, so
    ``doc.scores['x'].value = 1.0`` works as in docarray v1."""

    def __missing__(self, key: str) -> NamedScore:
        # NamedScore() without its argument parsing: a store scores every match it builds
        score = _new_score(NamedScore)
        score._value = score.op_name = score.description = score.ref_id = None
        dict.__setitem__(self, key, score)
        return score

    def __setitem__(self, key: str, value: Any) -> None:
        dict.__setitem__(self, key, as_named_score(value))

    def copy(self) -> ScoreMap:  # type: ignore[override]
        out = ScoreMap()
        for name, score in self.items():
            dict.__setitem__(out, name, NamedScore(value=score._value, op_name=score.op_name,
                                                   description=score.description, ref_id=score.ref_id))
        return out


def as_named_score(value: Any) -> NamedScore:
    if isinstance(value, NamedScore):
        return value
    if isinstance(value, Mapping):
        return NamedScore(value)
    if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
        return NamedScore(value=float(value))
    raise TypeError(f"a score must be a number, a dict or a NamedScore, not {type(value).__name__}")


def _score_map(field: str, value: Mapping[str, Any] | None) -> ScoreMap:
    out = ScoreMap()
    if value:
        if not isinstance(value, Mapping):
            raise TypeError(f"Document field {field!r} must be a dict of scores, not {type(value).__name__}")
        for name, score in value.items():
            out[name] = score
    return out


def _copy_json(value: Any) -> Any:
    """A copy of JSON-like data (tags): nested dicts and lists are new, so a copy edited in
    one branch of a Flow never changes another branch's document, as over the wire."""
    if isinstance(value, dict):
        return {k: _copy_json(v) if isinstance(v, (dict, list)) else v for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_json(v) if isinstance(v, (dict, list)) else v for v in value]
    return value


def _as_array(field: str, value: Any) -> np.ndarray | None:
    if value is None or isinstance(value, np.ndarray):
        return value
    if isinstance(value, (list, tuple)):
        return np.asarray(value)
    raise TypeError(f"Document field {field!r} must be a numpy array or a list, not {type(value).__name__}")


def _arrays_equal(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.shape == b.shape and bool(np.array_equal(a, b))


def _not_empty(value: Any) -> bool:
    """docarray v1: None, '', b'', 0, empty containers count as unset."""
    if value is None:
        return False
    if isinstance(value, np.ndarray):
        return True
    return bool(value)


def _extra_property(name: str, default: Any) -> property:
    def get(self: Document) -> Any:
        extra = self._extra
        return default if extra is None else extra.get(name, default)

    def set_(self: Document, value: Any) -> None:
        extra = self._extra
        if value is None:
            if extra:
                extra.pop(name, None)
            return
        if extra is None:
            extra = self._extra = {}
        extra[name] = value

    return property(get, set_, doc=f"docarray v1's ``{name}`` (default {default!r}).")


class Document:
    """One document: id, text, uri, blob, tensor, embedding, tags, scores, matches, chunks,
    and docarray v1's other fields (parent_id, granularity, adjacency, weight, offset,
    modality, location, evaluations)."""

    __slots__ = (
        "id",
        "text",
        "_uri",
        "_blob",
        "_tensor",
        "tags",
        "_mime_type",
        "_embedding",
        "_column",
        "_scores",
        "_matches",
        "_chunks",
        "_extra",
    )
    # slot types (annotations only: with __slots__, no class attribute is made)
    id: str
    text: str | None
    tags: dict[str, Any]
    _blob: bytes | None
    _tensor: np.ndarray | None
    _uri: str | None
    _mime_type: str | None
    _embedding: np.ndarray | None
    _column: EmbeddingColumn | None
    _scores: ScoreMap | None
    _matches: DocumentArray | None
    _chunks: DocumentArray | None
    _extra: dict[str, Any] | None

    def __init__(
        self,
        _obj: Document | Mapping[str, Any] | None = None,
        copy: bool = False,
        *,
        id: str | None = None,
        text: str | None = None,
        uri: str | None = None,
        blob: bytes | None = None,
        tensor: Any = None,
        embedding: Any = None,
        tags: Mapping[str, Any] | None = None,
        scores: Mapping[str, Any] | None = None,
        matches: Iterable[Document] | None = None,
        chunks: Iterable[Document] | None = None,
        mime_type: str | None = None,
        **kwargs: Any,
    ):
        if _obj is not None or kwargs:
            # rare forms (v1): Document(doc_or_dict, copy), unknown fields to tags,
            # field_resolver=..., unknown_fields_handler=..., content=..., parent_id=...
            field_resolver = kwargs.pop("field_resolver", None)
            unknown_fields_handler = kwargs.pop("unknown_fields_handler", "catch")
            given = {
                k: v
                for k, v in (
                    ("id", id), ("text", text), ("uri", uri), ("blob", blob), ("tensor", tensor),
                    ("embedding", embedding), ("tags", tags), ("scores", scores), ("matches", matches),
                    ("chunks", chunks), ("mime_type", mime_type),
                )
                if v is not None
            }
            given.update(kwargs)
            self._init_general(_obj, copy, given, field_resolver, unknown_fields_handler)
            return
        self.id = new_id() if id is None else str(id)
        self.text = text
        if tensor is None and blob is None and uri is None and mime_type is None:
            self._blob = self._tensor = self._uri = self._mime_type = None
        else:
            self._set_content(blob, tensor, uri, mime_type)
        self._embedding = None if embedding is None else _as_array("embedding", embedding)
        self.tags = dict(tags) if tags else {}
        self._column = self._matches = self._chunks = self._extra = None
        self._scores = _score_map("scores", scores) if scores else None
        if matches is not None:
            self.matches = matches
        if chunks is not None:
            self.chunks = chunks

    def _set_content(self, blob: Any, tensor: Any, uri: str | None, mime_type: str | None) -> None:
        # text, blob and tensor are exclusive content: the last given of the three wins (v1)
        if tensor is not None:
            tensor = _as_array("tensor", tensor)
            self.text = blob = None
        elif blob is not None:
            self.text = None
        self._blob = blob
        self._tensor = tensor
        if uri and mime_type is None:
            mime_type = mimetypes.guess_type(uri)[0]
        elif mime_type:
            mime_type = guess_mime_type(mime_type)
        self._uri = uri
        self._mime_type = mime_type

    def _init_general(
        self,
        obj: Any,
        copy: bool,
        given: dict[str, Any],
        field_resolver: Mapping[str, str] | None,
        unknown_fields_handler: str,
    ) -> None:
        """docarray v1's construction: from a Document (shared or copied) or a dict, with
        keyword fields on top; unknown names go to ``tags`` (``unknown_fields_handler``
        ``'catch'``), are dropped (``'drop'``) or raise ``AttributeError`` (``'raise'``)."""
        if isinstance(obj, Mapping):
            given.update(obj)  # as v1: the dict's fields win over keyword ones
        elif obj is not None and not isinstance(obj, Document):
            raise TypeError(f"Document() takes a Document or a dict, not {type(obj).__name__}")
        if field_resolver:
            given = {field_resolver.get(k, k): v for k, v in given.items()}
        unknown = {k: given.pop(k) for k in [k for k in given if k not in _KNOWN_KWARGS]}
        if unknown:
            if unknown_fields_handler == "raise":
                raise AttributeError(f"unknown attributes: {', '.join(sorted(unknown))}")
            if unknown_fields_handler != "catch":
                unknown = {}
        late = {k: given.pop(k) for k in [k for k in given if k in _LATE_FIELDS]}
        if isinstance(obj, Document):
            source = obj.copy(deep=True) if copy else obj
            for name in Document.__slots__:
                setattr(self, name, getattr(source, name))
            self._column = None
            if not copy and source._extra is not None:
                self._extra = dict(source._extra)
            tags = given.pop("tags", None)
            if tags:
                self.tags.update(tags)
            for name, value in given.items():
                setattr(self, name, value)
        else:
            Document.__init__(self, **given)
        if unknown:
            self.tags.update(unknown)
        for name, value in late.items():
            setattr(self, name, value)

    # --- content: blob and tensor are exclusive with the others (setting one clears the
    # others); ``text`` is a plain slot, the hottest field to read, so assigning it does not
    # clear blob/tensor (``content_type`` then says 'text' all the same) ---

    @property
    def blob(self) -> bytes | None:
        return self._blob

    @blob.setter
    def blob(self, value: bytes | None) -> None:
        if value is not None:
            self.text = self._tensor = None
        self._blob = value

    @property
    def tensor(self) -> np.ndarray | None:
        return self._tensor

    @tensor.setter
    def tensor(self, value: Any) -> None:
        value = _as_array("tensor", value)
        if value is not None:
            self.text = self._blob = None
        self._tensor = value

    @property
    def content(self) -> Any:
        """The one of text, tensor, blob that is set (docarray v1's ``content``)."""
        kind = self.content_type
        return None if kind is None else getattr(self, kind)

    @content.setter
    def content(self, value: Any) -> None:
        """Set text (a str), blob (bytes) or tensor (anything else); None clears all three."""
        self.text = self._blob = self._tensor = None
        if isinstance(value, bytes):
            self._blob = value
        elif isinstance(value, str):
            self.text = value
        elif value is not None:
            self._tensor = _as_array("content", value)

    @property
    def content_type(self) -> str | None:
        """``'text'``, ``'tensor'`` or ``'blob'``: which content is set, or None."""
        if self.text:
            return "text"
        if self._tensor is not None:
            return "tensor"
        if self._blob:
            return "blob"
        return None

    @property
    def uri(self) -> str | None:
        return self._uri

    @uri.setter
    def uri(self, value: str | None) -> None:
        if value:
            guessed = mimetypes.guess_type(value)[0]
            if guessed:
                self._mime_type = guessed
        self._uri = value

    @property
    def mime_type(self) -> str | None:
        return self._mime_type

    @mime_type.setter
    def mime_type(self, value: str | None) -> None:
        self._mime_type = guess_mime_type(value) if value else value

    parent_id = _extra_property("parent_id", "")
    granularity = _extra_property("granularity", 0)
    adjacency = _extra_property("adjacency", 0)
    weight = _extra_property("weight", 0.0)
    offset = _extra_property("offset", 0.0)
    modality = _extra_property("modality", "")

    @property
    def location(self) -> list[float]:
        extra = self._extra
        value = None if extra is None else extra.get("location")
        if value is None:
            value = []
            if extra is None:
                extra = self._extra = {}
            extra["location"] = value
        return value

    @location.setter
    def location(self, value: Iterable[float] | None) -> None:
        if value is None:
            if self._extra:
                self._extra.pop("location", None)
            return
        if self._extra is None:
            self._extra = {}
        self._extra["location"] = list(value)

    @property
    def evaluations(self) -> ScoreMap:
        extra = self._extra
        value = None if extra is None else extra.get("evaluations")
        if value is None:
            value = ScoreMap()
            if extra is None:
                extra = self._extra = {}
            extra["evaluations"] = value
        return value

    @evaluations.setter
    def evaluations(self, value: Mapping[str, Any] | None) -> None:
        if self._extra is None:
            self._extra = {}
        self._extra["evaluations"] = _score_map("evaluations", value)

    # embedding: a property so that a DocumentArray's stacked embedding matrix notices
    # when a member's embedding is replaced (see faasflow.columns).
    @property
    def embedding(self) -> np.ndarray | None:
        if self._column is not None:
            self._column.exposed()  # the caller may edit the row in place
        return self._embedding

    @embedding.setter
    def embedding(self, value: Any) -> None:
        if self._column is not None:
            self._column.invalidate()
            self._column = None
        self._embedding = _as_array("embedding", value)

    def _bind_column(self, column: EmbeddingColumn, row: np.ndarray) -> None:
        if self._column is not None and self._column is not column:
            self._column.invalidate()
        self._column = column
        self._embedding = row

    @property
    def scores(self) -> ScoreMap:
        if self._scores is None:
            self._scores = ScoreMap()
        return self._scores

    @scores.setter
    def scores(self, value: Mapping[str, Any] | None) -> None:
        self._scores = _score_map("scores", value)

    @property
    def matches(self) -> DocumentArray:
        """docarray v1's ``MatchArray``: documents added get ``adjacency`` one above this one's."""
        matches = self._matches
        if matches is None:
            from faasflow.array import MatchArray

            matches = self._matches = MatchArray._of([], self)
        return matches

    @matches.setter
    def matches(self, value: Iterable[Document] | None) -> None:
        """As docarray v1: each match gets an ``adjacency`` one above this document's."""
        from faasflow.array import MatchArray

        self._matches = MatchArray._adopting(value, self)

    @property
    def chunks(self) -> DocumentArray:
        """docarray v1's ``ChunkArray``: documents added get this one's id as ``parent_id``
        and a ``granularity`` one below it."""
        chunks = self._chunks
        if chunks is None:
            from faasflow.array import ChunkArray

            chunks = self._chunks = ChunkArray._of([], self)
        return chunks

    @chunks.setter
    def chunks(self, value: Iterable[Document] | None) -> None:
        """As docarray v1: each chunk gets this document's id as ``parent_id`` and a
        ``granularity`` one below it."""
        from faasflow.array import ChunkArray

        self._chunks = ChunkArray._adopting(value, self)

    # --- pickle (local files and caller code only: see faasflow.docarray_io) ---

    def __getstate__(self) -> tuple[Any, ...]:
        # the embedding column is a DocumentArray's cache: never pickled (the row is)
        return (self.id, self.text, self._uri, self._blob, self._tensor, self.tags, self._mime_type,
                self._embedding, self._scores, self._matches, self._chunks, self._extra)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        (self.id, self.text, self._uri, self._blob, self._tensor, self.tags, self._mime_type,
         self._embedding, self._scores, self._matches, self._chunks, self._extra) = state
        self._column = None

    # --- docarray v1 field helpers ---

    @property
    def non_empty_fields(self) -> tuple[str, ...]:
        """The names of the fields that are set to a non-default value, in v1's order."""
        out = []
        for name in FIELDS:
            if name == "embedding":
                value: Any = self._embedding
            elif name in _PRIVATE:
                value = getattr(self, _PRIVATE[name])
            else:
                value = getattr(self, name)
            if _not_empty(value):
                out.append(name)
        return tuple(out)

    def pop(self, *fields: str) -> None:
        """Reset the named fields to their defaults (unknown names are ignored, as in v1)."""
        for name in fields:
            if name in _PRIVATE:
                setattr(self, _PRIVATE[name], None)
            elif name == "text":
                self.text = None
            elif name == "tags":
                self.tags = {}
            elif name == "embedding":
                self.embedding = None
            elif name == "id":
                self.id = None  # type: ignore[assignment]
            elif name in EXTRA_FIELDS:
                if self._extra:
                    self._extra.pop(name, None)
            elif name == "content":
                self.content = None

    def clear(self) -> None:
        """Reset every field to its default."""
        self.pop(*self.non_empty_fields)

    def _get_attributes(self, *fields: str) -> Any:
        """The values at these attribute paths; one value when one path is given (v1)."""
        values = [self.get_path(name) for name in fields]
        return values[0] if len(values) == 1 else values

    def __eq__(self, other: object) -> bool:
        """Value equality, as docarray v1: the same non-empty fields with equal values."""
        if type(other) is not type(self):
            return False if isinstance(other, Document) or not isinstance(other, object) else NotImplemented
        assert isinstance(other, Document)
        if self is other:
            return True
        fields = self.non_empty_fields
        if fields != other.non_empty_fields:
            return False
        for name in fields:
            if name == "embedding":
                if not _arrays_equal(self._embedding, other._embedding):
                    return False
            elif name == "tensor":
                if not _arrays_equal(self._tensor, other._tensor):
                    return False
            elif getattr(self, name) != getattr(other, name):
                return False
        return True

    def __hash__(self) -> int:
        return hash((self.id, self.text, self._blob, self._uri, self._mime_type,
                     tuple(sorted(self._extra.items())) if self._extra and not any(
                         k in self._extra for k in ("location", "evaluations")) else None))

    def copy(self, deep: bool = False) -> Document:
        """A copy: new tags (deeply), scores and match lists; arrays are shared unless
        ``deep`` (then they are copied too, as v1's ``Document(doc, copy=True)``)."""
        new = Document.__new__(Document)
        new.id = self.id
        new.text = self.text
        new._uri = self._uri
        new._blob = self._blob
        new._tensor = self._tensor if not deep or self._tensor is None else self._tensor.copy()
        new._mime_type = self._mime_type
        new._embedding = self._embedding if not deep or self._embedding is None else self._embedding.copy()
        new._column = None
        new.tags = _copy_json(self.tags) if self.tags else {}
        new._scores = self._scores.copy() if self._scores else None
        new._matches = self._matches._copy_for(new, deep) if self._matches else None
        new._chunks = self._chunks._copy_for(new, deep) if self._chunks else None
        extra = self._extra
        if extra:
            extra = dict(extra)
            if "location" in extra:
                extra["location"] = list(extra["location"])
            if "evaluations" in extra:
                extra["evaluations"] = extra["evaluations"].copy()
        new._extra = extra or None
        return new

    def copy_from(self, other: Document) -> None:
        """Overwrite this document with a deep copy of ``other`` (v1)."""
        source = other.copy(deep=True)
        for name in Document.__slots__:
            setattr(self, name, getattr(source, name))
        self._column = None

    def get_path(self, path: str) -> Any:
        """Value at an attribute path such as ``'scores__jaccard__value'``, ``'tags__lang'``
        or ``'tags__e__2__f'`` (a number indexes a list), as docarray v1's ``dunder_get``:
        a missing key gives None, a missing attribute raises ``AttributeError``."""
        if "__" not in path:
            try:
                return getattr(self, path)
            except AttributeError:
                raise AttributeError(f"document {self.id!r} has no attribute {path!r}") from None
        value: Any = self
        for part in path.split("__"):
            if value is None:
                return None
            if isinstance(value, ScoreMap):
                value = dict.get(value, part)  # reading a missing score must not create it
            elif isinstance(value, Mapping):
                value = value.get(part)
            elif isinstance(value, (list, tuple)) and part.lstrip("-").isdigit():
                value = value[int(part)]
            else:
                try:
                    value = getattr(value, part)
                except AttributeError:
                    raise AttributeError(f"document {self.id!r} has no attribute path {path!r} (at {part!r})") from None
        return value

    # --- helpers users know from docarray v1 ---

    def load_uri_to_text(self, charset: str = "utf-8", timeout: float | None = None, *,
                         encoding: str | None = None) -> Document:
        """Read ``uri`` (a local path, ``file://`` or ``data:`` URI) into ``text``."""
        from faasflow.uris import read_uri_bytes

        self.text = read_uri_bytes(self.uri).decode(encoding or charset)
        return self

    def load_uri_to_blob(self, timeout: float | None = None) -> Document:
        """Read ``uri`` (a local path, ``file://`` or ``data:`` URI) into ``blob``."""
        from faasflow.uris import read_uri_bytes

        self.blob = read_uri_bytes(self.uri)
        return self

    def embed_feature_hashing(
        self,
        n_dim: int = 256,
        fields: tuple[str, ...] = ("text", "tags"),
        max_value: int = 1_000_000,
        sparse: bool = False,
    ) -> Document:
        """Set ``embedding`` to a feature-hashing vector of text tokens and tags."""
        from faasflow.features import feature_hashing

        if sparse:
            raise ValueError(
                "embed_feature_hashing(sparse=True) is not supported: faasflow embeddings are dense numpy arrays"
            )
        self.embedding = feature_hashing(self, n_dim=n_dim, fields=fields, max_value=max_value)
        return self

    def match(self, darray: DocumentArray, *args: Any, **kwargs: Any) -> Document:
        """Fill ``matches`` with the nearest documents of ``darray`` (see ``DocumentArray.match``)."""
        from faasflow.array import DocumentArray

        DocumentArray._wrap([self]).match(darray, *args, **kwargs)
        return self

    # --- serialization (docarray v1's API; see faasflow.docarray_io) ---

    def to_dict(self, protocol: str | None = "jsonschema", **kwargs: Any) -> dict[str, Any]:
        """The document as JSON data: faasflow's wire form (v1's ``'jsonschema'``)."""
        if protocol == "jsonschema" and not kwargs:
            from faasflow.codec import document_to_dict

            return document_to_dict(self)
        from faasflow.docarray_io import doc_to_dict

        return doc_to_dict(self, protocol, **kwargs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], protocol: str | None = "jsonschema") -> Document:
        """A document from ``to_dict()``'s form; ``protocol=None`` reads any dict as
        ``Document(data)`` (unknown fields go to ``tags``)."""
        from faasflow.docarray_io import doc_from_dict

        return doc_from_dict(data, protocol)

    def to_json(self, protocol: str | None = "jsonschema", **kwargs: Any) -> str:
        from faasflow.docarray_io import doc_to_json

        return doc_to_json(self, protocol, **kwargs)

    @classmethod
    def from_json(cls, data: str | bytes | bytearray, protocol: str | None = "jsonschema") -> Document:
        from faasflow.docarray_io import doc_from_json

        return doc_from_json(data, protocol)

    def to_bytes(self, protocol: str | None = None, compress: str | None = None) -> bytes:
        """Bytes of faasflow's JSON wire form, or ``protocol='pickle'``; ``compress`` is
        gzip, bz2, lzma, zlib or lz4. Unpickle only what you trust (faasflow.docarray_io)."""
        from faasflow.docarray_io import doc_to_bytes

        return doc_to_bytes(self, protocol, compress)

    @classmethod
    def from_bytes(cls, data: bytes, protocol: str | None = None, compress: str | None = None) -> Document:
        """The inverse of ``to_bytes``; ``protocol='pickle'`` unpickles: trusted bytes only."""
        from faasflow.docarray_io import doc_from_bytes

        return doc_from_bytes(data, protocol, compress)

    def to_base64(self, protocol: str | None = None, compress: str | None = None) -> str:
        from faasflow.docarray_io import doc_to_base64

        return doc_to_base64(self, protocol, compress)

    @classmethod
    def from_base64(cls, data: str | bytes, protocol: str | None = None, compress: str | None = None) -> Document:
        """The inverse of ``to_base64``; ``protocol='pickle'`` unpickles: trusted data only."""
        from faasflow.docarray_io import doc_from_base64

        return doc_from_base64(data, protocol, compress)

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    def __repr__(self) -> str:
        shown = [f"id={self.id!r}"]
        for name in ("text", "uri", "mime_type"):
            value = getattr(self, name)
            if value is not None:
                text = value if len(value) <= 40 else value[:37] + "..."
                shown.append(f"{name}={text!r}")
        for name in ("tensor", "embedding"):
            value = getattr(self, name)
            if value is not None:
                shown.append(f"{name}=<{value.dtype} {tuple(value.shape)}>")
        if self._blob is not None:
            shown.append(f"blob=<{len(self._blob)} bytes>")
        if self.tags:
            shown.append(f"tags={self.tags!r}")
        if self._scores:
            shown.append("scores={" + ", ".join(f"{k!r}: {v.value!r}" for k, v in self._scores.items()) + "}")
        if self._matches:
            shown.append(f"matches=<{len(self._matches)}>")
        if self._chunks:
            shown.append(f"chunks=<{len(self._chunks)}>")
        return f"Document({', '.join(shown)})"


_PRIVATE = {"blob": "_blob", "tensor": "_tensor", "uri": "_uri", "mime_type": "_mime_type",
            "scores": "_scores", "matches": "_matches", "chunks": "_chunks"}
_LATE_FIELDS = frozenset({*EXTRA_FIELDS, "content"})
# each field with the attribute that holds it, for scans that should not go through properties
_FIELD_SLOTS = tuple((name, "_embedding" if name == "embedding" else _PRIVATE.get(name, name)) for name in FIELDS)


# the same, with the rarely set fields read from ``_extra`` (their properties would make an
# empty location or evaluations on read): each ALL merge scans every answer's docs this way
_FIELD_SOURCES = tuple((name, attr, name in EXTRA_FIELDS) for name, attr in _FIELD_SLOTS)


def fields_to_fill(first: Document, other: Document, skip: frozenset[str]) -> list[str]:
    """The fields (those not in ``skip``) that ``other`` sets and ``first`` leaves empty:
    what docarray v1's reduce takes whole from a later answer into the first."""
    out = []
    other_extra, first_extra = other._extra, first._extra
    for name, attr, extra in _FIELD_SOURCES:
        if extra:
            if not other_extra:
                continue
            value = other_extra.get(name)
        else:
            value = getattr(other, attr)
        if value is None or name in skip:  # most fields of most docs are unset: no call for them
            continue
        if not _not_empty(value):
            continue
        if extra:
            if not _not_empty(first_extra.get(name) if first_extra else None):
                out.append(name)
        elif not _not_empty(getattr(first, attr)):
            out.append(name)
    return out
_KNOWN_KWARGS = frozenset({*FIELDS, "content"})
