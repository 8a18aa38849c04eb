"""docarray v1's indexing of a DocumentArray: get, set and delete by every index form.

``da[i]``, ``da['id']``, ``da[1:3]``, ``da[[0, 2]]``, ``da[(1, 3, 4)]``, ``da[['a', 'b']]``,
``da[mask]`` (a short mask is padded with False), ``da[np.array([...])]``, ``da[...]``
(everything, nested chunks and matches flattened), ``da['@c,m']`` (traversal paths), and
attribute selection ``da[rows, 'field']`` / ``da[rows, ('a', 'b')]`` with ``__`` paths.
The dispatch follows docarray 0.21's ``getitem``/``setitem``/``delitem`` mixins rule by rule.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from faasflow.document import Document, ScoreMap

if TYPE_CHECKING:
    from faasflow.array import DocumentArray

_PATH = re.compile(r"([rcm])(\[[-\d:]+\]|[-\d:]+)?")
_ID_NONE = "setting the ID of a Document stored in a DocumentArray to None is not allowed"


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_seq(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _wrap(docs: list[Document]) -> DocumentArray:
    from faasflow.array import DocumentArray

    return DocumentArray._wrap(docs)


# --- traversal paths ('@r', '@c', '@m', '@cc', '@r:1c,m') ---


def _parse_slice(text: str | None) -> slice:
    if not text:
        return slice(None)
    text = text.strip("[]")
    parts = text.split(":")
    if len(parts) == 1:
        parts = [parts[0], str(int(parts[0]) + 1)]
    return slice(*[int(p) if p else None for p in parts])


def _traverse(docs: list[Document], path: str) -> Iterator[Document]:
    if not path:
        yield from docs
        return
    m = _PATH.match(path)
    if m is None:
        raise ValueError(f"traversal path {path!r} is invalid: use r, c, m with optional slices, e.g. '@r:2c,m'")
    selector, cut, rest = m.group(1), _parse_slice(m.group(2)), path[m.end():]
    if selector == "r":
        yield from _traverse(docs[cut], rest)
    else:
        for doc in docs:
            nested = doc._chunks if selector == "c" else doc._matches
            if nested:
                yield from _traverse(nested._docs[cut], rest)


def traverse_flat(da: DocumentArray, paths: str) -> DocumentArray:
    """The documents reached by comma-separated traversal paths, as one flat array."""
    paths = re.sub(r"\s+", "", paths)
    if paths == "r":
        return da
    out: list[Document] = []
    for path in paths.split(","):
        if not path or _PATH.fullmatch(path) is None and not re.fullmatch(rf"(?:{_PATH.pattern})+", path):
            raise ValueError(f"traversal path {path!r} is invalid: use r, c, m with optional slices, e.g. '@r:2c,m'")
        out.extend(_traverse(da._docs, path))
    return _wrap(out)


def flatten(da: DocumentArray) -> DocumentArray:
    """Every document with its nested chunks and matches, each id once (v1's ``da[...]``)."""
    seen: set[str] = set()
    out: list[Document] = []

    def visit(doc: Document) -> None:
        if doc._chunks:
            for c in doc._chunks._docs:
                visit(c)
        if doc._matches:
            for m in doc._matches._docs:
                visit(m)
        if doc.id not in seen:
            seen.add(doc.id)
            out.append(doc)

    for doc in da._docs:
        visit(doc)
    return _wrap(out)


# --- get ---


def get_item(da: DocumentArray, index: Any) -> Any:
    docs = da._docs
    if _is_int(index):
        return docs[int(index)]
    if isinstance(index, str):
        if index.startswith("@"):
            return traverse_flat(da, index[1:])
        return docs[da._position_of(index)]
    if isinstance(index, slice):
        return _wrap(docs[index])
    if index is Ellipsis:
        return flatten(da)
    if isinstance(index, np.ndarray):
        index = np.atleast_1d(index.squeeze())
        if index.ndim != 1:
            raise IndexError(f"an np.ndarray index must have ndim 1, got ndim={index.ndim}")
        return get_item(da, index.tolist())
    if _is_seq(index):
        if not index:
            return _wrap([])
        first = index[0]
        if _is_attribute_pair(index):
            second = index[1]
            if (isinstance(first, str) or _is_int(first)) and isinstance(second, str):
                if second in da:  # two ids
                    return _wrap([get_item(da, first), get_item(da, second)])
                selected = get_item(da, first)
                if isinstance(selected, Document):
                    return selected.get_path(second)
                return get_attributes(selected, second) if selected else []
            if not isinstance(first, (str, int, np.integer)):
                selected = get_item(da, first)
                return get_attributes(selected, *((second,) if isinstance(second, str) else second))
            if _is_int(first) or isinstance(first, str):  # da[1, ['text', 'id']]
                doc = get_item(da, first)
                return [doc.get_path(name) for name in second]
        if isinstance(first, (bool, np.bool_)):
            return _wrap(list(itertools.compress(docs, index)))
        if _is_int(first):
            return _wrap([docs[int(i)] for i in index])
        if isinstance(first, str):
            return _wrap([docs[da._position_of(i)] for i in index])
    raise IndexError(f"unsupported index type {type(index).__name__}: {index!r}")


def _is_attribute_pair(index: Any) -> bool:
    """v1's test for ``da[rows, attribute(s)]`` (or two ids/positions, told apart later)."""
    if not (isinstance(index, tuple) and len(index) == 2):
        return False
    first = index[0]
    return (first is Ellipsis or isinstance(first, (slice, Sequence, str, int, np.integer))) and isinstance(
        index[1], (str, Sequence)
    )


def get_attributes(da: DocumentArray, *fields: str) -> Any:
    """v1's ``DocumentArray._get_attributes``: one list per field (a list of lists for
    several), with ``tensor`` and ``embedding`` as stacked columns."""
    names = list(fields)
    columns: dict[int, Any] = {}
    for position, name in enumerate(names):
        if name in ("tensor", "embedding"):
            columns[position] = da.tensors if name == "tensor" else da.embeddings
    plain = [name for name in names if name not in ("tensor", "embedding")]
    if not columns:
        if len(plain) == 1:
            return [d.get_path(plain[0]) for d in da._docs]
        return [[d.get_path(name) for d in da._docs] for name in plain]
    if not plain and len(columns) == 1:
        return next(iter(columns.values()))
    out = []
    for position, name in enumerate(names):
        out.append(columns[position] if position in columns else [d.get_path(name) for d in da._docs])
    return out


# --- set ---


def set_path(doc: Document, path: str, value: Any) -> None:
    """Set an attribute or an ``__`` path (``tags__a__b``, ``scores__cosine__value``)."""
    if "__" not in path:
        if path == "id":
            doc.id = value
            return
        if not hasattr(doc, path) or path.startswith("_"):
            raise AttributeError(f"'Document' object has no attribute {path!r}")
        setattr(doc, path, value)
        return
    head, *middle, last = path.split("__")
    target: Any = getattr(doc, head)
    for part in middle:
        if isinstance(target, ScoreMap) or not isinstance(target, (dict, list)):
            target = target[part] if isinstance(target, ScoreMap) else getattr(target, part)
        elif isinstance(target, list):
            target = target[int(part)]
        else:
            target = target.setdefault(part, {})
    if isinstance(target, dict) and not isinstance(target, ScoreMap):
        target[last] = value
    elif isinstance(target, list):
        target[int(last)] = value
    elif isinstance(target, ScoreMap):
        target[last] = value
    else:
        setattr(target, last, value)


def _set_attr(da: DocumentArray, doc: Document, attr: str, value: Any) -> None:
    if attr == "id":
        if value is None:
            raise ValueError(_ID_NONE)
        da._changed()
    set_path(doc, attr, value)


def _has_attr(doc: Document, attr: str) -> bool:
    return "__" in attr or (not attr.startswith("_") and hasattr(doc, attr))


def _check_doc(value: Any) -> Document:
    if not isinstance(value, Document):
        raise TypeError(f"DocumentArray holds Documents, not {type(value).__name__}")
    return value


def _set_at(da: DocumentArray, position: int, value: Any) -> None:
    doc = _check_doc(value)
    same_id = da._docs[position].id == doc.id
    da._docs[position] = doc
    da._changed(keep_index=same_id)


def _set_pairs(da: DocumentArray, targets: Iterable[Document], values: Any) -> None:
    targets = list(targets)
    values = list(values)
    if len(targets) != len(values):
        raise ValueError(f"length of docs to set ({len(targets)}) does not match length of values ({len(values)})")
    for target, value in zip(targets, values):
        _set_at(da, da._position_of(target.id), value)


def _set_nested(da: DocumentArray, targets: Iterable[Document], values: Any) -> None:
    """Replace documents reached by a traversal path (each value keeps its target's id)."""
    targets = list(targets)
    values = list(values)
    if len(targets) != len(values):
        raise ValueError(f"length of docs to set ({len(targets)}) does not match length of values ({len(values)})")
    for target, value in zip(targets, values):
        if _check_doc(value).id != target.id:
            raise ValueError(
                f"setting documents along a traversal path keeps their ids: {value.id!r} would replace {target.id!r}"
            )
    for target, value in zip(targets, values):
        if target is not value:
            target.copy_from(value)
    da._changed()


def set_item(da: DocumentArray, index: Any, value: Any) -> None:
    if _is_int(index):
        _set_at(da, int(index), value)
    elif isinstance(index, str):
        if index.startswith("@"):
            _set_nested(da, traverse_flat(da, index[1:]), value)
        else:
            _set_at(da, da._position_of(index), value)
    elif isinstance(index, slice):
        if not isinstance(value, Iterable) or isinstance(value, Document):
            raise TypeError(
                f"the right-hand side of a slice assignment must be an iterable, not {type(value).__name__}"
            )
        values = [_check_doc(v) for v in value]
        da._docs[index] = values
        da._changed()
    elif index is Ellipsis:
        _set_nested(da, flatten(da), value)
    elif isinstance(index, np.ndarray):
        index = index.squeeze()
        if index.ndim != 1:
            raise IndexError(f"an np.ndarray index must have ndim 1, got ndim={index.ndim}")
        set_item(da, index.tolist(), value)
    elif _is_seq(index) and index:
        first = index[0]
        if isinstance(index, tuple) and len(index) == 2:
            _set_by_pair(da, first, index[1], value)
        elif isinstance(first, (bool, np.bool_)):
            _set_pairs(da, itertools.compress(da._docs, index), value)
        elif _is_int(first) or isinstance(first, str):
            for key, item in zip(index, value):
                set_item(da, key, item)
        else:
            raise IndexError(f"{index!r} should be a sequence of bool, int or str")
    else:
        raise IndexError(f"unsupported index type {type(index).__name__}: {index!r}")


def _set_by_pair(da: DocumentArray, first: Any, second: Any, value: Any) -> None:
    if (isinstance(first, str) and not first.startswith("@")) or _is_int(first):
        doc = get_item(da, first)
        if isinstance(second, str) and second in da and isinstance(first, str):
            _set_pairs(da, (doc, get_item(da, second)), value)
        elif _is_int(second) and _is_int(first):
            _set_pairs(da, (doc, get_item(da, second)), value)
        elif isinstance(second, str) and _has_attr(doc, second):
            _set_attr(da, doc, second, value)
        elif _is_seq(second) and all(isinstance(a, str) and _has_attr(doc, a) for a in second):
            for attr, item in zip(second, value):
                _set_attr(da, doc, attr, item)
        else:
            raise IndexError(f"{second!r} is neither a valid id nor an attribute name")
    elif isinstance(first, (slice, Sequence, np.ndarray)) or first is Ellipsis:
        _set_attributes(da, first, second, value)
    else:
        raise IndexError(f"unsupported first index type {type(first).__name__}: {first!r}")


def _set_attributes(da: DocumentArray, index: Any, attrs: Any, value: Any) -> None:
    if isinstance(attrs, str):
        attrs, value = (attrs,), (value,)
    selected = get_item(da, index)
    if isinstance(selected, Document):
        selected = _wrap([selected])
    if not selected:
        return
    for attr, column in zip(attrs, value):
        if attr == "tensor":
            selected.tensors = column
        elif attr == "embedding":
            selected.embeddings = column
        elif isinstance(column, (list, tuple)):
            if len(column) != len(selected):
                raise ValueError(f"{len(column)} values for {len(selected)} documents (attribute {attr!r})")
            for doc, item in zip(selected._docs, column):
                _set_attr(da, doc, attr, item)
        else:  # one value for all (None clears)
            for doc in selected._docs:
                _set_attr(da, doc, attr, column)


# --- delete ---


def del_item(da: DocumentArray, index: Any) -> None:
    docs = da._docs
    if _is_int(index):
        del docs[int(index)]
    elif isinstance(index, str):
        if index.startswith("@"):
            raise NotImplementedError("deleting documents along traversal paths ('@...') is not supported")
        del docs[da._position_of(index)]
    elif isinstance(index, slice):
        del docs[index]
    elif index is Ellipsis:
        docs.clear()
    elif isinstance(index, np.ndarray):
        index = index.squeeze()
        if index.ndim != 1:
            raise IndexError(f"an np.ndarray index must have ndim 1, got ndim={index.ndim}")
        del_item(da, index.tolist())
        return
    elif _is_seq(index):
        if not index:
            return
        first = index[0]
        if _is_attribute_pair(index):
            second = index[1]
            if (isinstance(first, str) or _is_int(first)) and isinstance(second, str):
                if second in da:
                    doomed = {id(get_item(da, first)), id(get_item(da, second))}
                    docs[:] = [d for d in docs if id(d) not in doomed]
                else:
                    doc = get_item(da, first)
                    if _has_attr(doc, second):
                        _set_attr(da, doc, second, None)
                    return
            elif not isinstance(first, (str, int, np.integer)):
                attrs = (second,) if isinstance(second, str) else second
                for doc in get_item(da, first):
                    for attr in attrs:
                        if attr == "id":
                            raise ValueError(_ID_NONE)
                        doc.pop(attr)
                return
        elif isinstance(first, (bool, np.bool_)):
            mask = list(index) + [False] * (len(docs) - len(index))
            docs[:] = [d for d, drop in zip(docs, mask) if not drop]
        elif _is_int(first):
            for position in sorted({int(i) % len(docs) if len(docs) else int(i) for i in index}, reverse=True):
                del docs[position]
        elif isinstance(first, str):
            positions = {da._position_of(i) for i in index}
            docs[:] = [d for p, d in enumerate(docs) if p not in positions]
        else:
            raise IndexError(f"{index!r} should be a sequence of bool, int or str")
    else:
        raise IndexError(f"unsupported index type {type(index).__name__}: {index!r}")
    da._changed()
