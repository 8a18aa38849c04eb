"""`DocumentArray`: a list of Documents with docarray-v1 indexing, columns and search."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, overload

import numpy as np

from faasflow.columns import EmbeddingColumn
from faasflow.document import Document


class DocumentArray:
    """An ordered list of documents, addressable by position, slice, id, ids or mask."""

    __slots__ = ("_docs", "_index", "_column")

    def __init__(
        self,
        docs: Document | Iterable[Document] | None = None,
        copy: bool = False,
        storage: str = "memory",
        config: Any = None,
        subindex_configs: Any = None,
    ):
        # v1's in-memory backend takes ``config`` and ignores it; other backends are refused
        if storage != "memory" or subindex_configs:
            option = "storage" if storage != "memory" else "subindex_configs"
            raise ValueError(
                f"DocumentArray({option}=...) is not supported: faasflow's DocumentArray is in memory "
                "(index documents with an indexer executor instead)"
            )
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
            if copy:
                self._docs = [d.copy(deep=True) for d in self._docs]
        if copy and isinstance(docs, Document):
            self._docs = [docs.copy(deep=True)]
        self._index: dict[str, int] | None = None
        self._column: EmbeddingColumn | None = None

    @classmethod
    def empty(cls, size: int = 0, **kwargs: Any) -> DocumentArray:
        """``size`` new empty Documents (docarray v1's ``DocumentArray.empty``)."""
        if kwargs:
            cls(**kwargs)  # refuses storage/config the same way the constructor does
        return cls._wrap([Document() for _ in range(size)])

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
        """By id, as docarray v1: a Document is in the array if its id is."""
        if isinstance(item, str):
            return item in self._id_index()
        if isinstance(item, Document):
            return item.id in self._id_index()
        return False

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DocumentArray):
            return NotImplemented
        return len(self._docs) == len(other._docs) and all(a == b for a, b in zip(self._docs, other._docs))

    __hash__ = None  # type: ignore[assignment]

    def __enter__(self) -> DocumentArray:  # ``with da:`` (v1 syncs storage; memory has nothing to sync)
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def sync(self) -> None:
        return None

    # --- pickle (local files and caller code only: see faasflow.docarray_io) ---

    def __getstate__(self) -> list[Document]:
        return self._docs  # the id index and the embedding column are caches: rebuilt on use

    def __setstate__(self, state: list[Document]) -> None:
        self._docs = state
        self._index = None
        self._column = None

    def _copy_for(self, reference: Document, deep: bool) -> DocumentArray:
        """A copy for ``reference``'s copy (``Document.copy``)."""
        return DocumentArray._wrap([d.copy(deep=True) for d in self._docs] if deep else list(self._docs))

    def append(self, doc: Document) -> None:
        if not isinstance(doc, Document):
            raise TypeError(f"DocumentArray holds Documents, not {type(doc).__name__}")
        self._add(doc)

    def _add(self, doc: Document) -> None:
        """Append a checked Document: the id index kept, the embedding column dropped."""
        docs = self._docs
        docs.append(doc)
        if self._index is not None:
            self._index[doc.id] = len(docs) - 1
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

    def copy(self, deep: bool = False) -> DocumentArray:
        """A new array of the same Document objects (copies of them when ``deep``)."""
        if deep:
            return DocumentArray._wrap([d.copy(deep=True) for d in self._docs])
        return DocumentArray._wrap(list(self._docs))

    # --- indexing (docarray v1's rules: see faasflow.array_index) ---

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
    def __getitem__(self, key: tuple) -> Any: ...

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int) and not isinstance(key, bool):
            return self._docs[key]
        if isinstance(key, str) and not key.startswith("@"):
            return self._docs[self._position_of(key)]
        if isinstance(key, slice):
            return DocumentArray._wrap(self._docs[key])
        if type(key) is tuple and len(key) == 2:  # the common da['id', 'field'], before the general rules
            first, second = key
            if type(first) is str and type(second) is str and first[:1] != "@" and second not in self._id_index():
                return self._docs[self._position_of(first)].get_path(second)
        from faasflow.array_index import get_item

        return get_item(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        from faasflow.array_index import set_item

        set_item(self, key, value)

    def __delitem__(self, key: Any) -> None:
        from faasflow.array_index import del_item

        del_item(self, key)

    def _get_attributes(self, *fields: str) -> Any:
        from faasflow.array_index import get_attributes

        return get_attributes(self, *fields)

    def traverse_flat(self, traversal_paths: str) -> DocumentArray:
        """The documents reached by traversal paths such as ``'r'``, ``'c'``, ``'m'``, ``'cc'``, ``'r:2c,m'``."""
        from faasflow.array_index import traverse_flat

        return traverse_flat(self, traversal_paths)

    def flatten(self) -> DocumentArray:
        """Every document with its nested chunks and matches, each id once (``da[...]``)."""
        from faasflow.array_index import flatten

        return flatten(self)

    # --- columns (docarray v1: None for an empty array) ---

    @property
    def ids(self) -> list[str]:
        return [d.id for d in self._docs]

    def _check_length(self, values: Any) -> None:
        n = len(values) if isinstance(values, (list, tuple)) else np.shape(values)[0] if np.ndim(values) else 0
        if n != len(self._docs):
            raise ValueError(f"length must match the {len(self._docs)} documents, but {n} != {len(self._docs)}")

    def _set_column(self, field: str, values: Any) -> None:
        if values is None:
            for doc in self._docs:
                setattr(doc, field, None)
            return
        self._check_length(values)
        for doc, value in zip(self._docs, values):
            setattr(doc, field, value)

    @property
    def texts(self) -> list[str | None] | None:
        return [d.text for d in self._docs] if self._docs else None

    @texts.setter
    def texts(self, values: Sequence[str | None] | None) -> None:
        self._set_column("text", values)

    @property
    def blobs(self) -> list[bytes | None] | None:
        return [d.blob for d in self._docs] if self._docs else None

    @blobs.setter
    def blobs(self, values: Sequence[bytes | None] | None) -> None:
        self._set_column("blob", values)

    @property
    def tensors(self) -> np.ndarray | list | None:
        return _unravel(self._docs, "_tensor")

    @tensors.setter
    def tensors(self, values: np.ndarray | Sequence[np.ndarray] | None) -> None:
        values = _dense(values)
        if values is not None and not isinstance(values, (list, tuple, np.ndarray)):
            raise TypeError(f"tensors must be a numpy array or a list of arrays, not {type(values).__name__}")
        self._set_column("tensor", values)

    @property
    def contents(self) -> Any:
        if not self._docs:
            return None
        kind = self._docs[0].content_type or self._docs[-1].content_type
        return getattr(self, f"{kind}s") if kind else None

    @contents.setter
    def contents(self, values: Any) -> None:
        if not self._docs:
            return
        if isinstance(values, tuple) and len(values) == 2 and isinstance(values[1], str):
            kind: str | None = values[1]
            values = values[0]
        else:
            kind = self._docs[0].content_type or self._docs[-1].content_type
        if kind is None and values is not None:
            first = values[0] if len(values) else None
            kind = "text" if isinstance(first, str) else "blob" if isinstance(first, bytes) else "tensor"
        if kind:
            setattr(self, f"{kind}s", values)

    def embedding_column(self) -> EmbeddingColumn | None:
        """The stacked embeddings, kept while neither the array nor a member's embedding
        changes; None when some document has no embedding."""
        column = self._column
        if column is None or not column.valid:
            column = self._column = EmbeddingColumn.stack(self._docs)
        return column

    @property
    def embeddings(self) -> np.ndarray | list | None:
        """All embeddings as one 2-D array (rows are the documents' own embeddings); as
        docarray v1: None for an empty array or when no document has one, a list when the
        first has none but others do, and ValueError when the first has one and others not."""
        if not self._docs:
            return None
        if self._docs[0]._embedding is None:
            return _unravel(self._docs, "_embedding")
        column = self.embedding_column()
        if column is None:
            missing = [p for p, d in enumerate(self._docs) if d._embedding is None]
            raise ValueError(f"Document{missing}.embedding is None. Can not stack into `embeddings`.")
        column.exposed()  # the caller may edit the matrix in place
        return column.matrix

    @embeddings.setter
    def embeddings(self, matrix: np.ndarray | Sequence[Sequence[float]] | None) -> None:
        if matrix is None:
            for doc in self._docs:
                doc.embedding = None
            return
        matrix = _dense(matrix)
        if not isinstance(matrix, (list, tuple, np.ndarray)):
            raise TypeError(f"embeddings must be a numpy array or a list of arrays, not {type(matrix).__name__}")
        if not self._docs and len(matrix) == 0:
            return
        self._check_length(matrix)
        matrix = np.asarray(matrix)
        if matrix.ndim < 2:
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
        query: Document | DocumentArray | np.ndarray | Sequence[Document] | None = None,
        metric: str | Callable[[np.ndarray, np.ndarray], np.ndarray] = "cosine",
        limit: int | float | None = 20,
        metric_name: str | None = None,
        exclude_self: bool = False,
        filter: Any = None,
        only_id: bool = False,
        index: str = "text",
        return_root: bool | None = False,
        on: str | None = None,
        **kwargs: Any,
    ) -> DocumentArray | list[DocumentArray]:
        """Nearest documents to ``query`` by embedding, best first, each with
        ``scores[metric_name or metric]`` (a distance, smaller is better; ``dot`` is a
        similarity). As docarray v1: a 1-D array gives one DocumentArray; a Document, a
        DocumentArray or a 2-D array give a list with one DocumentArray per query.
        Also takes ``normalization=(a, b)``, ``batch_size``, ``use_scipy``, ``device='cpu'``
        and ``num_worker``; see ``faasflow.search.find``."""
        from faasflow.search import find

        return find(self, query, metric=metric, limit=limit, metric_name=metric_name, exclude_self=exclude_self,
                    filter=filter, only_id=only_id, index=index, return_root=return_root, on=on, **kwargs)

    def match(
        self,
        darray: DocumentArray,
        metric: str | Callable[[np.ndarray, np.ndarray], np.ndarray] = "cosine",
        limit: int | float | None = 20,
        normalization: tuple[float, float] | None = None,
        metric_name: str | None = None,
        batch_size: int | None = None,
        exclude_self: bool = False,
        filter: Any = None,
        only_id: bool = False,
        use_scipy: bool = False,
        device: str = "cpu",
        num_worker: int | None = 1,
        on: str | None = None,
        **kwargs: Any,
    ) -> DocumentArray:
        """Fill each document's ``matches`` with its nearest documents of ``darray``."""
        if not (self._docs and darray):
            return self
        results = darray.find(
            self, metric=metric, limit=limit, normalization=normalization, metric_name=metric_name,
            batch_size=batch_size, exclude_self=exclude_self, filter=filter, only_id=only_id,
            use_scipy=use_scipy, device=device, num_worker=num_worker, on=on, **kwargs,
        )
        for doc, found in zip(self._docs, results if isinstance(results, list) else [results]):
            doc.matches = found
        return self

    # --- serialization (docarray v1's API; see faasflow.docarray_io) ---

    def to_list(self, protocol: str | None = "jsonschema", **kwargs: Any) -> list[dict[str, Any]]:
        """The documents as JSON data: faasflow's wire form (v1's ``'jsonschema'``)."""
        if protocol == "jsonschema" and not kwargs:
            from faasflow.codec import docs_to_list

            return docs_to_list(self._docs)
        from faasflow.docarray_io import array_to_list

        return array_to_list(self, protocol, **kwargs)

    @classmethod
    def from_list(cls, items: Iterable[Any], protocol: str | None = "jsonschema") -> DocumentArray:
        from faasflow.docarray_io import array_from_list

        return array_from_list(cls, items, protocol)

    to_dict = to_list  # v1's names for the same list
    from_dict = from_list

    def to_json(self, protocol: str | None = "jsonschema", **kwargs: Any) -> str:
        from faasflow.docarray_io import array_to_json

        return array_to_json(self, protocol, **kwargs)

    @classmethod
    def from_json(cls, data: str | bytes | bytearray, protocol: str | None = "jsonschema") -> DocumentArray:
        from faasflow.docarray_io import array_from_json

        return array_from_json(cls, data, protocol)

    def to_bytes(self, protocol: str | None = None, compress: str | None = None,
                 _show_progress: bool = False) -> bytes:
        """Bytes of faasflow's JSON wire form (a list), or ``protocol='pickle-array'`` /
        ``'pickle'``; ``compress`` is gzip, bz2, lzma, zlib or lz4."""
        from faasflow.docarray_io import array_to_bytes

        return array_to_bytes(self, protocol, compress)

    @classmethod
    def from_bytes(cls, data: bytes, protocol: str | None = None, compress: str | None = None,
                   _show_progress: bool = False) -> DocumentArray:
        """The inverse of ``to_bytes``; the pickle protocols unpickle: trusted bytes only."""
        from faasflow.docarray_io import array_from_bytes

        return array_from_bytes(cls, data, protocol, compress)

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    def to_base64(self, protocol: str | None = None, compress: str | None = None,
                  _show_progress: bool = False) -> str:
        import base64

        return base64.b64encode(self.to_bytes(protocol, compress)).decode("ascii")

    @classmethod
    def from_base64(cls, data: str | bytes, protocol: str | None = None, compress: str | None = None,
                    _show_progress: bool = False) -> DocumentArray:
        import base64

        return cls.from_bytes(base64.b64decode(data), protocol, compress)

    def save_binary(self, file: Any, protocol: str | None = None, compress: str | None = None) -> None:
        """Write ``to_bytes(protocol, compress)`` to a file object or path; a path's
        suffixes (``docs.pickle-array.gzip``) name the protocol and compression, as in v1."""
        from faasflow.docarray_io import save_binary

        save_binary(self, file, protocol, compress)

    @classmethod
    def load_binary(cls, file: Any, protocol: str | None = None, compress: str | None = None,
                    _show_progress: bool = False, streaming: bool = False) -> Any:
        """Read ``save_binary``'s output from bytes, a file object or a path (its suffixes
        name the protocol and compression); ``streaming=True`` gives an iterator of
        documents. The pickle protocols unpickle: trusted files only."""
        from faasflow.docarray_io import load_binary

        return load_binary(cls, file, protocol, compress, streaming)

    def save_json(self, file: Any, protocol: str | None = "jsonschema", encoding: str = "utf-8",
                  **kwargs: Any) -> None:
        from faasflow.docarray_io import save_json

        save_json(self, file, protocol, encoding, **kwargs)

    @classmethod
    def load_json(cls, file: Any, protocol: str | None = "jsonschema", encoding: str = "utf-8",
                  **kwargs: Any) -> DocumentArray:
        from faasflow.docarray_io import load_json

        da = load_json(cls, file, protocol, encoding)
        if kwargs:
            cls(**kwargs)  # refuses storage=... as the constructor does
        return da

    def save(self, file: Any, file_format: str = "binary", encoding: str = "utf-8") -> None:
        """``save_json`` (``file_format='json'``) or ``save_binary`` (``'binary'``)."""
        from faasflow.docarray_io import save

        save(self, file, file_format, encoding)

    @classmethod
    def load(cls, file: Any, file_format: str = "binary", encoding: str = "utf-8", **kwargs: Any) -> DocumentArray:
        from faasflow.docarray_io import load

        return load(cls, file, file_format, encoding, **kwargs)

    def __repr__(self) -> str:
        return f"<DocumentArray (length={len(self._docs)})>"

    def summary(self) -> str:
        return f"DocumentArray of {len(self._docs)} documents"


def _dense(values: Any) -> Any:
    """A scipy sparse matrix as a dense array (faasflow's embeddings and tensors are dense
    numpy arrays; docarray v1 kept the sparse rows); anything else as given."""
    if type(values).__module__.startswith("scipy.sparse") and hasattr(values, "toarray"):
        return values.toarray()
    return values


def _unravel(docs: list[Document], slot: str) -> np.ndarray | list | None:
    """docarray v1's ``unravel``: the stacked values, None when none is set, a list when
    the first is unset but others are set; ValueError when the first is set and others not."""
    if not docs:
        return None
    values = [getattr(d, slot) for d in docs]
    if values[0] is None:
        return values if any(v is not None for v in values) else None
    missing = [p for p, v in enumerate(values) if v is None]
    if missing:
        raise ValueError(f"Document{missing}.{slot.lstrip('_')} is None. Can not stack into `{slot.lstrip('_')}s`.")
    return np.stack(values)


class _ChildArray(DocumentArray):
    """The chunks or matches of ``reference_doc`` (docarray v1's ChunkArray/MatchArray):
    documents added with ``append``/``extend``/``insert`` or given at assignment are
    stamped with their place under it."""

    __slots__ = ("reference_doc",)
    reference_doc: Document

    @classmethod
    def _of(cls, docs: list[Document], reference: Document) -> Any:
        da = cls.__new__(cls)
        da._docs = docs
        da._index = None
        da._column = None
        da.reference_doc = reference
        return da

    @classmethod
    def _adopting(cls, value: Iterable[Document] | None, reference: Document) -> Any:
        if isinstance(value, cls) and value.reference_doc is reference:
            return value
        docs = list(value._docs) if isinstance(value, DocumentArray) else list(value or ())
        for position, doc in enumerate(docs):
            if not isinstance(doc, Document):
                raise TypeError(f"DocumentArray holds Documents; item {position} is a {type(doc).__name__}")
        if docs:
            cls._stamp(docs, reference)
        return cls._of(docs, reference)

    @classmethod
    def _adopting_documents(cls, docs: list[Document], reference: Document) -> Any:
        """``_adopting`` for a new list the caller made of Documents only (a merge's):
        stamped, then kept as it is, without a copy or a check of each item."""
        if docs:
            cls._stamp(docs, reference)
        return cls._of(docs, reference)

    @staticmethod
    def _stamp(docs: Iterable[Document], reference: Document) -> None:
        raise NotImplementedError

    def __getstate__(self) -> tuple[list[Document], Document]:  # type: ignore[override]
        return self._docs, self.reference_doc

    def __setstate__(self, state: Any) -> None:
        self._docs, self.reference_doc = state
        self._index = None
        self._column = None

    def _copy_for(self, reference: Document, deep: bool) -> DocumentArray:
        return type(self)._of([d.copy(deep=True) for d in self._docs] if deep else list(self._docs), reference)

    def append(self, doc: Document) -> None:
        if not isinstance(doc, Document):
            raise TypeError(f"DocumentArray holds Documents, not {type(doc).__name__}")
        self._stamp((doc,), self.reference_doc)
        self._add(doc)

    def extend(self, docs: Iterable[Document]) -> None:
        docs = docs if isinstance(docs, DocumentArray) else list(docs)
        super().extend(docs)
        self._stamp((d for d in docs if isinstance(d, Document)), self.reference_doc)

    def insert(self, position: int, doc: Document) -> None:
        if isinstance(doc, Document):
            self._stamp((doc,), self.reference_doc)
        super().insert(position, doc)


class ChunkArray(_ChildArray):
    """A document's chunks: each gets the document's id as ``parent_id`` and a
    ``granularity`` one below it."""

    __slots__ = ()

    @staticmethod
    def _stamp(docs: Iterable[Document], reference: Document) -> None:
        parent_id = reference.id
        granularity = reference.granularity + 1
        for doc in docs:
            doc.parent_id = parent_id
            doc.granularity = granularity

    @property
    def granularity(self) -> int:
        return int(self.reference_doc.granularity) + 1

    @property
    def adjacency(self) -> int:
        return int(self.reference_doc.adjacency)


class MatchArray(_ChildArray):
    """A document's matches: each gets an ``adjacency`` one above the document's."""

    __slots__ = ()

    def append(self, doc: Document) -> None:
        # _ChildArray.append with the stamp inlined: a store appends a match per hit
        if not isinstance(doc, Document):
            raise TypeError(f"DocumentArray holds Documents, not {type(doc).__name__}")
        extra = self.reference_doc._extra
        adjacency = (extra.get("adjacency", 0) if extra else 0) + 1
        extra = doc._extra
        if extra is None:
            doc._extra = {"adjacency": adjacency}
        else:
            extra["adjacency"] = adjacency
        # DocumentArray._add, inlined
        docs = self._docs
        docs.append(doc)
        if self._index is not None:
            self._index[doc.id] = len(docs) - 1
        if self._column is not None:
            self._changed(keep_index=True)

    @staticmethod
    def _stamp(docs: Iterable[Document], reference: Document) -> None:
        # the ``adjacency`` property's work, on the slot itself: this runs once per match
        extra = reference._extra
        adjacency = (extra.get("adjacency", 0) if extra else 0) + 1
        for doc in docs:
            extra = doc._extra
            if extra is None:
                doc._extra = {"adjacency": adjacency}
            else:
                extra["adjacency"] = adjacency

    @property
    def granularity(self) -> int:
        return int(self.reference_doc.granularity)

    @property
    def adjacency(self) -> int:
        return int(self.reference_doc.adjacency) + 1
