"""`Document`: the unit of data every executor processes.

A plain class with ``__slots__`` rather than a pydantic model: documents are created and
copied on every hot path, and attribute access must cost what a normal attribute costs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from faasflow.array import DocumentArray
    from faasflow.columns import EmbeddingColumn

FIELDS = ("id", "text", "uri", "blob", "tensor", "embedding", "tags", "scores", "matches", "chunks", "mime_type")


class NamedScore:
    """A named score (``doc.scores['cosine'].value``), as in docarray v1."""

    __slots__ = ("value", "op_name", "description")

    def __init__(self, value: float | None = None, op_name: str | None = None, description: str | None = None):
        self.value = value
        self.op_name = op_name
        self.description = description

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value}
        if self.op_name is not None:
            out["op_name"] = self.op_name
        if self.description is not None:
            out["description"] = self.description
        return out

    def __repr__(self) -> str:
        return f"NamedScore(value={self.value!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, NamedScore):
            return (self.value, self.op_name, self.description) == (other.value, other.op_name, other.description)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


class ScoreMap(dict):
    """``name -> NamedScore``; a missing name is created on access, so
    ``doc.scores['x'].value = 1.0`` works as in docarray v1."""

    def __missing__(self, key: str) -> NamedScore:
        score = NamedScore()
        dict.__setitem__(self, key, score)
        return score

    def __setitem__(self, key: str, value: Any) -> None:
        dict.__setitem__(self, key, as_named_score(value))

    def copy(self) -> ScoreMap:  # type: ignore[override]
        out = ScoreMap()
        for name, score in self.items():
            dict.__setitem__(out, name, NamedScore(score.value, score.op_name, score.description))
        return out


def as_named_score(value: Any) -> NamedScore:
    if isinstance(value, NamedScore):
        return value
    if isinstance(value, Mapping):
        return NamedScore(**value)
    if isinstance(value, (int, float, np.floating, np.integer)):
        return NamedScore(value=float(value))
    raise TypeError(f"a score must be a number, a dict or a NamedScore, not {type(value).__name__}")


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


class Document:
    """One document: id, text, uri, blob, tensor, embedding, tags, scores, matches, chunks."""

    __slots__ = (
        "id",
        "text",
        "uri",
        "blob",
        "tensor",
        "tags",
        "mime_type",
        "_embedding",
        "_column",
        "_scores",
        "_matches",
        "_chunks",
    )

    def __init__(
        self,
        _obj: Document | Mapping[str, Any] | None = None,
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
        copy: bool = False,
    ):
        if _obj is not None:
            given = {
                k
                for k, v in (
                    ("id", id),
                    ("text", text),
                    ("uri", uri),
                    ("blob", blob),
                    ("tensor", tensor),
                    ("embedding", embedding),
                    ("tags", tags),
                    ("scores", scores),
                    ("matches", matches),
                    ("chunks", chunks),
                    ("mime_type", mime_type),
                )
                if v is not None
            }
            if given:
                raise TypeError(f"Document(obj, ...) takes no other fields; got {', '.join(sorted(given))}")
            self._init_from(_obj, copy)
            return
        self.id = uuid.uuid4().hex if id is None else str(id)
        self.text = text
        self.uri = uri
        self.blob = blob
        self.tensor = _as_array("tensor", tensor)
        self.mime_type = mime_type
        self._embedding = _as_array("embedding", embedding)
        self._column = None
        self.tags = dict(tags) if tags else {}
        self._scores: ScoreMap | None = None
        if scores:
            self.scores.update({k: as_named_score(v) for k, v in scores.items()})
        self._matches = None
        self._chunks = None
        if matches is not None:
            self.matches = matches
        if chunks is not None:
            self.chunks = chunks

    def _init_from(self, obj: Document | Mapping[str, Any], copy: bool) -> None:
        if isinstance(obj, Document):
            source = obj.copy() if copy else obj
            for name in Document.__slots__:
                setattr(self, name, getattr(source, name))
            self._column = None
            return
        if isinstance(obj, Mapping):
            unknown = set(obj) - set(FIELDS)
            if unknown:
                raise TypeError(f"Document got unknown field(s): {', '.join(sorted(unknown))}")
            Document.__init__(self, **obj)
            return
        raise TypeError(f"Document() takes a Document or a dict, not {type(obj).__name__}")

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
        self._scores = ScoreMap()
        if value:
            for name, score in value.items():
                self._scores[name] = score

    @property
    def matches(self) -> DocumentArray:
        if self._matches is None:
            from faasflow.array import DocumentArray

            self._matches = DocumentArray()
        return self._matches

    @matches.setter
    def matches(self, value: Iterable[Document] | None) -> None:
        from faasflow.array import DocumentArray

        self._matches = value if isinstance(value, DocumentArray) else DocumentArray(value or ())

    @property
    def chunks(self) -> DocumentArray:
        if self._chunks is None:
            from faasflow.array import DocumentArray

            self._chunks = DocumentArray()
        return self._chunks

    @chunks.setter
    def chunks(self, value: Iterable[Document] | None) -> None:
        from faasflow.array import DocumentArray

        self._chunks = value if isinstance(value, DocumentArray) else DocumentArray(value or ())

    @property
    def content(self) -> Any:
        """The first of text, blob, tensor that is set (docarray's ``content``)."""
        for value in (self.text, self.blob, self.tensor):
            if value is not None:
                return value
        return None

    def copy(self) -> Document:
        """A copy: new tags (deeply), scores and match lists; arrays are shared."""
        new = Document.__new__(Document)
        new.id = self.id
        new.text = self.text
        new.uri = self.uri
        new.blob = self.blob
        new.tensor = self.tensor
        new.mime_type = self.mime_type
        new._embedding = self._embedding
        new._column = None
        new.tags = _copy_json(self.tags) if self.tags else {}
        new._scores = self._scores.copy() if self._scores else None
        new._matches = self._matches.copy() if self._matches else None
        new._chunks = self._chunks.copy() if self._chunks else None
        return new

    def get_path(self, path: str) -> Any:
        """Value at an attribute path such as ``'scores__jaccard__value'`` or ``'tags__lang'``."""
        value: Any = self
        for part in path.split("__"):
            if isinstance(value, ScoreMap):
                value = dict.get(value, part)  # reading a missing score must not create it
                if value is None:
                    return None
            elif isinstance(value, Mapping):
                value = value[part]
            else:
                try:
                    value = getattr(value, part)
                except AttributeError:
                    raise AttributeError(f"document {self.id!r} has no attribute path {path!r} (at {part!r})") from None
        return value

    # --- helpers users know from docarray v1 ---

    def load_uri_to_text(self, encoding: str = "utf-8") -> Document:
        """Read ``uri`` (a local path or ``file://`` URI) into ``text``."""
        from faasflow.uris import read_uri_bytes

        self.text = read_uri_bytes(self.uri).decode(encoding)
        return self

    def load_uri_to_blob(self) -> Document:
        """Read ``uri`` (a local path or ``file://`` URI) into ``blob``."""
        from faasflow.uris import read_uri_bytes

        self.blob = read_uri_bytes(self.uri)
        return self

    def embed_feature_hashing(
        self,
        n_dim: int = 256,
        fields: tuple[str, ...] = ("text", "tags"),
        max_value: int = 1_000_000,
    ) -> Document:
        """Set ``embedding`` to a feature-hashing vector of text tokens and tags."""
        from faasflow.features import feature_hashing

        self.embedding = feature_hashing(self, n_dim=n_dim, fields=fields, max_value=max_value)
        return self

    # --- codec shortcuts ---

    def to_dict(self) -> dict[str, Any]:
        from faasflow.codec import document_to_dict

        return document_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Document:
        from faasflow.codec import document_from_dict

        return document_from_dict(data)

    def to_json(self) -> str:
        return self.to_bytes().decode()

    @classmethod
    def from_json(cls, data: str | bytes) -> Document:
        return cls.from_bytes(data.encode() if isinstance(data, str) else data)

    def to_bytes(self) -> bytes:
        from faasflow.codec import dumps

        return dumps(self.to_dict())

    @classmethod
    def from_bytes(cls, data: bytes) -> Document:
        from faasflow.codec import loads

        return cls.from_dict(loads(data))

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
        if self.blob is not None:
            shown.append(f"blob=<{len(self.blob)} bytes>")
        if self.tags:
            shown.append(f"tags={self.tags!r}")
        if self._scores:
            shown.append("scores={" + ", ".join(f"{k!r}: {v.value!r}" for k, v in self._scores.items()) + "}")
        if self._matches:
            shown.append(f"matches=<{len(self._matches)}>")
        if self._chunks:
            shown.append(f"chunks=<{len(self._chunks)}>")
        return f"Document({', '.join(shown)})"
