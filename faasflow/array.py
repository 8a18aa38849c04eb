"""`DocumentArray`: a list of Documents with docarray-v1 indexing, columns and search."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, overload

import numpy as np

from faasflow.columns import EmbeddingColumn
from faasflow.document import Document, NamedScore


class DocumentArray:
    """An ordered list of documents, addressable by position, slice, id, ids or mask."""

    __slots__ = ("_docs", "_index", "_column")

    def __init__(self, docs: Document | Iterable[Document] | None = None):
        if docs is None:
            self._docs: list[Document] = []
        elif isinstance(docs, Document):
            self._docs = [docs]
        else:
            self._docs = list(docs)
            for position, doc in enumerate(self._docs):
                if not isinstance(doc, Document):
                    raise TypeError(
                        f"DocumentArray holds Documents; item {position} is a {type(doc).__name__}"
                    )
        self._index: dict[str, int] | None = None
        self._column: EmbeddingColumn | None = None

    @classmethod
    def _wrap(cls, docs: list[Document]) -> DocumentArray:
        """Adopt a list of known Documents without re-checking each one (hot paths)."""
        da = cls.__new__(cls)
        da._docs = docs
        da._index = None
        da._column = None
        return da

    def _changed(self, keep_index: bool = False) -> None:
        if not keep_index:
            self._index = None
        if self._column is not None:
            self._column.invalidate()
            self._column = None

    # --- list protocol ---

    def __len__(self) -> int:
        return len(self._docs)

    def __iter__(self) -> Iterator[Document]:
        return iter(self._docs)

    def __bool__(self) -> bool:
        return bool(self._docs)

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str):
            return item in self._id_index()
        if isinstance(item, Document):
            return any(d is item for d in self._docs)
        return False

    def append(self, doc: Document) -> None:
        if not isinstance(doc, Document):
            raise TypeError(f"DocumentArray holds Documents, not {type(doc).__name__}")
        self._docs.append(doc)
        if self._index is not None:
            self._index[doc.id] = len(self._docs) - 1
        self._changed(keep_index=True)

    def extend(self, docs: Iterable[Document]) -> None:
        start = len(self._docs)
        if isinstance(docs, DocumentArray):
            self._docs.extend(docs._docs)
        else:
            docs = list(docs)  # check them all first: a bad item must not leave half of them added
            for doc in docs:
                if not isinstance(doc, Document):
                    raise TypeError(f"DocumentArray holds Documents, not {type(doc).__name__}")
            self._docs.extend(docs)
        if self._index is not None:
            for position in range(start, len(self._docs)):
                self._index[self._docs[position].id] = position
        self._changed(keep_index=True)

    def insert(self, position: int, doc: Document) -> None:
        if not isinstance(doc, Document):
            raise TypeError(f"DocumentArray holds Documents, not {type(doc).__name__}")
        self._docs.insert(position, doc)
        self._changed()

    def pop(self, position: int = -1) -> Document:
        doc = self._docs.pop(position)
        self._changed()
        return doc

    def clear(self) -> None:
        self._docs.clear()
        self._changed()

    def sort(self, key: Callable[[Document], Any] | None = None, reverse: bool = False) -> None:
        self._docs.sort(key=key, reverse=reverse)  # type: ignore[arg-type]
        self._changed()

    def reverse(self) -> None:
        self._docs.reverse()
        self._changed()

    def __add__(self, other: Iterable[Document]) -> DocumentArray:
        out = DocumentArray._wrap(list(self._docs))
        out.extend(other)
        return out

    def __iadd__(self, other: Iterable[Document]) -> DocumentArray:
        self.extend(other)
        return self

    def copy(self) -> DocumentArray:
        """A new array of the same Document objects."""
        return DocumentArray._wrap(list(self._docs))

    # --- indexing ---

    def _id_index(self) -> dict[str, int]:
        if self._index is None:
            self._index = {doc.id: position for position, doc in enumerate(self._docs)}
        return self._index

    def _position_of(self, doc_id: str) -> int:
        try:
            return self._id_index()[doc_id]
        except KeyError:
            raise KeyError(f"no document with id {doc_id!r} in this DocumentArray") from None

    @overload
    def __getitem__(self, key: int) -> Document: ...
    @overload
    def __getitem__(self, key: str) -> Document: ...
    @overload
    def __getitem__(
        self, key: slice | Sequence[int] | Sequence[str] | Sequence[bool] | np.ndarray
    ) -> DocumentArray: ...
    @overload
    def __getitem__(self, key: tuple) -> list: ...

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, (int, np.integer)):
            return self._docs[key]
        if isinstance(key, str):
            return self._docs[self._position_of(key)]
        if isinstance(key, slice):
            return DocumentArray._wrap(self._docs[key])
        if isinstance(key, tuple):
            return self._select_attributes(key)
        if isinstance(key, np.ndarray) and key.dtype == bool or (
            isinstance(key, (list, np.ndarray)) and len(key) > 0 and all(isinstance(k, (bool, np.bool_)) for k in key)
        ):
            if len(key) != len(self._docs):
                raise IndexError(f"boolean mask of length {len(key)} for {len(self._docs)} documents")
            return DocumentArray._wrap([d for d, keep in zip(self._docs, key) if keep])
        if isinstance(key, (list, np.ndarray)):
            return DocumentArray._wrap([self[k] for k in key])
        raise TypeError(f"cannot index a DocumentArray with {type(key).__name__}")

    def __setitem__(self, key: int | str, doc: Document) -> None:
        if isinstance(key, tuple):
            self._set_attributes(key, doc)
            return
        if not isinstance(doc, Document):
            raise TypeError(f"DocumentArray holds Documents, not {type(doc).__name__}")
        position = self._position_of(key) if isinstance(key, str) else key
        same_id = self._docs[position].id == doc.id
        self._docs[position] = doc
        self._changed(keep_index=same_id)

    def __delitem__(self, key: int | str | slice) -> None:
        position = self._position_of(key) if isinstance(key, str) else key
        del self._docs[position]
        self._changed()

    def _select_attributes(self, key: tuple) -> list:
        if len(key) != 2:
            raise IndexError("attribute selection takes two parts: da[docs, 'field'] or da[docs, ('a', 'b')]")
        rows, fields = key
        selected = self[rows]
        docs = [selected] if isinstance(selected, Document) else selected._docs
        if isinstance(fields, str):
            return [d.get_path(fields) for d in docs]
        return [[d.get_path(field) for d in docs] for field in fields]

    def _set_attributes(self, key: tuple, values: Any) -> None:
        rows, field = key
        selected = self[rows]
        docs = [selected] if isinstance(selected, Document) else selected._docs
        if not isinstance(field, str) or "__" in field:
            raise IndexError("attribute assignment takes one plain field name: da[:, 'text'] = [...]")
        values = list(values)
        if len(values) != len(docs):
            raise ValueError(f"{len(values)} values for {len(docs)} documents")
        for doc, value in zip(docs, values):
            setattr(doc, field, value)

    # --- columns ---

    @property
    def ids(self) -> list[str]:
        return [d.id for d in self._docs]

    @property
    def texts(self) -> list[str | None]:
        return [d.text for d in self._docs]

    @texts.setter
    def texts(self, values: Sequence[str | None]) -> None:
        self._set_attributes((slice(None), "text"), values)

    @property
    def tensors(self) -> np.ndarray | None:
        rows = [d.tensor for d in self._docs]
        if not rows or any(r is None for r in rows):
            return None
        return np.stack(rows)

    @tensors.setter
    def tensors(self, values: np.ndarray | Sequence[np.ndarray]) -> None:
        self._set_attributes((slice(None), "tensor"), values)

    def embedding_column(self) -> EmbeddingColumn | None:
        """The stacked embeddings, kept while neither the array nor a member's embedding
        changes; None when some document has no embedding."""
        column = self._column
        if column is None or not column.valid:
            column = self._column = EmbeddingColumn.stack(self._docs)
        return column

    @property
    def embeddings(self) -> np.ndarray | None:
        """All embeddings as one 2-D array (rows are the documents' own embeddings)."""
        column = self.embedding_column()
        if column is None:
            return None
        column.exposed()  # the caller may edit the matrix in place
        return column.matrix

    @embeddings.setter
    def embeddings(self, matrix: np.ndarray | Sequence[Sequence[float]]) -> None:
        matrix = np.asarray(matrix)
        if matrix.ndim < 2 or len(matrix) != len(self._docs):
            raise ValueError(
                f"embeddings for {len(self._docs)} documents need a 2-D array with {len(self._docs)} rows, "
                f"got shape {matrix.shape}"
            )
        self._column = EmbeddingColumn.adopt(self._docs, matrix)

    # --- functional helpers ---

    def apply(self, fn: Callable[[Document], Document | None]) -> DocumentArray:
        """Apply ``fn`` to every document in place (its return value, if a Document, replaces it)."""
        changed = False
        for position, doc in enumerate(self._docs):
            result = fn(doc)
            if isinstance(result, Document) and result is not doc:
                self._docs[position] = result
                changed = True
        if changed:
            self._changed()
        return self

    def map(self, fn: Callable[[Document], Any]) -> list[Any]:
        return [fn(d) for d in self._docs]

    # --- search ---

    def find(
        self,
        query: Document | DocumentArray | np.ndarray | Sequence[Document],
        metric: str = "cosine",
        limit: int = 20,
        use_scipy: bool = False,
        exclude_self: bool = False,
    ) -> DocumentArray | list[DocumentArray]:
        """Nearest documents to ``query`` by embedding, best first, each with ``scores[metric]``.

        A Document or 1-D array gives one DocumentArray; a DocumentArray or 2-D array gives a
        list with one DocumentArray per query. ``use_scipy`` is accepted for docarray v1
        compatibility: the numpy kernels give the same values as scipy's ``cdist``.
        """
        from faasflow.search import METRICS, score_matrix, top_k

        del use_scipy
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
        if limit < 0:
            raise ValueError(f"limit must be 0 or more, not {limit}")
        single = isinstance(query, Document) or (isinstance(query, np.ndarray) and query.ndim == 1)
        queries, query_ids = _query_matrix(query)
        if len(queries) == 0:
            return []
        if len(self._docs) == 0:
            results = [DocumentArray() for _ in range(len(queries))]
            return results[0] if single else results
        column = self.embedding_column()
        if column is None:
            missing = next(d.id for d in self._docs if d._embedding is None)
            raise ValueError(f"cannot search: document {missing!r} has no embedding")
        try:
            scores = score_matrix(queries, column, metric)
        except ValueError as exc:
            raise ValueError(f"cannot search with metric {metric!r}: {exc}") from None
        extra = 1 if exclude_self else 0
        indices, values = top_k(scores, limit + extra, metric)
        results = []
        for row, query_id in enumerate(query_ids):
            found = []
            for position, value in zip(indices[row].tolist(), values[row].tolist()):
                doc = self._docs[position]
                if exclude_self and doc.id == query_id:
                    continue
                hit = doc.copy()
                hit.scores[metric] = NamedScore(value, op_name=metric)
                found.append(hit)
            results.append(DocumentArray._wrap(found[:limit]))
        return results[0] if single else results

    def match(
        self,
        other: DocumentArray,
        metric: str = "cosine",
        limit: int = 20,
        use_scipy: bool = False,
        exclude_self: bool = False,
    ) -> DocumentArray:
        """Fill each document's ``matches`` with its nearest documents of ``other``."""
        if not self._docs:
            return self
        results = other.find(self, metric=metric, limit=limit, use_scipy=use_scipy, exclude_self=exclude_self)
        for doc, found in zip(self._docs, results):
            doc.matches = found
        return self

    # --- codec ---

    def to_list(self) -> list[dict[str, Any]]:
        from faasflow.codec import docs_to_list

        return docs_to_list(self._docs)

    @classmethod
    def from_list(cls, items: Iterable[dict[str, Any]]) -> DocumentArray:
        from faasflow.codec import docs_from_list

        return cls._wrap(docs_from_list(items))

    def to_bytes(self) -> bytes:
        from faasflow.codec import dumps

        return dumps(self.to_list())

    @classmethod
    def from_bytes(cls, data: bytes) -> DocumentArray:
        from faasflow.codec import loads

        items = loads(data)
        if not isinstance(items, list):
            from faasflow.errors import BadInputError

            raise BadInputError(f"a DocumentArray is encoded as a JSON list, not {type(items).__name__}")
        return cls.from_list(items)

    def to_json(self) -> str:
        return self.to_bytes().decode()

    @classmethod
    def from_json(cls, data: str | bytes) -> DocumentArray:
        return cls.from_bytes(data.encode() if isinstance(data, str) else data)

    def __repr__(self) -> str:
        return f"<DocumentArray (length={len(self._docs)})>"

    def summary(self) -> str:
        return f"DocumentArray of {len(self._docs)} documents"


def _query_matrix(query: Any) -> tuple[np.ndarray, list[str | None]]:
    if isinstance(query, Document):
        if query._embedding is None:
            raise ValueError(f"cannot search: query document {query.id!r} has no embedding")
        return np.asarray(query._embedding)[None, :], [query.id]
    if isinstance(query, np.ndarray):
        matrix = query[None, :] if query.ndim == 1 else query
        return matrix, [None] * len(matrix)
    docs = query if isinstance(query, DocumentArray) else DocumentArray(query)
    if not docs:
        return np.empty((0, 0), dtype=np.float32), []
    for doc in docs:
        if doc._embedding is None:
            raise ValueError(f"cannot search: query document {doc.id!r} has no embedding")
    return np.stack([d._embedding for d in docs]), docs.ids
