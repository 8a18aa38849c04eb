"""docarray v1's query language for ``DocumentArray.find(filter)`` on the in-memory array.

A filter is a dict in the MongoDB style::

    {'text': {'$eq': 'hello'}}
    {'tags__price': {'$gte': 10, '$lt': 50}}          # several operators on one field: all hold
    {'$or': {'tags__x': {'$gte': 0.5}, 'tags__y': {'$gte': 0.5}}}
    {'$or': [{'text': {'$regex': '^h'}}, {'tags__lang': {'$in': ['en', 'fr']}}]}
    {'$not': {'tags__x': {'$gte': 0.5}}}
    {'text': {'$eq': '{tags__name}'}}                  # a placeholder: the document's own value

Fields are attribute paths as in ``Document.get_path`` (``tags__a__b``, ``scores__cosine__value``);
an unset top-level field reads as docarray v1's default (``text`` is ``''``). Operators:
``$eq $ne $gt $gte $lt $lte $in $nin $regex $size $exists`` (``$neq`` is ``$ne``), and the
logical ``$and $or $not``, at the top level or inside a field (``{'tags__x': {'$not':
{'$gte': 0.5}}}``). Several keys in one dict must all hold. An order comparison with a
missing value, or between values that cannot be ordered, does not match.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faasflow.document import Document

Predicate = Callable[["Document"], bool]

_PLACEHOLDER = re.compile(r"\{\s*([A-Za-z0-9_]+)\s*\}")
# docarray v1's defaults for unset top-level fields, as a filter reads them
_V1_DEFAULTS: dict[str, Any] = {"text": "", "blob": b"", "uri": "", "mime_type": ""}
_LOGICAL = ("$and", "$or", "$not")


def _read(doc: Document, path: str) -> Any:
    value = doc.get_path(path)
    if value is None and "__" not in path:
        return _V1_DEFAULTS.get(path)
    return value


def _equal(a: Any, b: Any) -> bool:
    import numpy as np

    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        try:
            return bool(np.array_equal(np.asarray(a), np.asarray(b)))
        except (TypeError, ValueError):
            return False
    return bool(a == b)


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def test(value: Any, operand: Any) -> bool:
        if value is None:
            return False
        try:
            return bool(compare(value, operand))
        except TypeError:  # e.g. a string against a number: no match, as in MongoDB
            return False

    return test


def _member(value: Any, operand: Any) -> bool:
    return any(_equal(value, item) for item in operand)


def _regex(value: Any, operand: Any) -> bool:
    return isinstance(value, str) and re.search(operand, value) is not None


def _size(value: Any, operand: Any) -> bool:
    try:
        return value is not None and len(value) == operand
    except TypeError:
        return False


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "$eq": _equal,
    "$ne": lambda value, operand: not _equal(value, operand),
    "$gt": _ordered(lambda a, b: a > b),
    "$gte": _ordered(lambda a, b: a >= b),
    "$lt": _ordered(lambda a, b: a < b),
    "$lte": _ordered(lambda a, b: a <= b),
    "$in": _member,
    "$nin": lambda value, operand: not _member(value, operand),
    "$regex": _regex,
    "$size": _size,
}
_COMPARE["$neq"] = _COMPARE["$ne"]
OPERATORS = (*_COMPARE, "$exists", *_LOGICAL)


def _unsupported(operator: str) -> ValueError:
    return ValueError(f"The operator {operator} is not supported in a filter; use one of {', '.join(OPERATORS)}")


def _all(predicates: list[Predicate]) -> Predicate:
    if len(predicates) == 1:
        return predicates[0]
    return lambda doc: all(p(doc) for p in predicates)


def _any(predicates: list[Predicate]) -> Predicate:
    return lambda doc: any(p(doc) for p in predicates)


def _not(predicate: Predicate) -> Predicate:
    return lambda doc: not predicate(doc)


def _clauses(value: Any, operator: str) -> list[Mapping[str, Any]]:
    """The operands of ``$and``/``$or``/``$not``: a dict (each key one clause) or a list of dicts."""
    if isinstance(value, Mapping):
        return [{key: item} for key, item in value.items()]
    if isinstance(value, (list, tuple)) and all(isinstance(item, Mapping) for item in value):
        return list(value)
    raise ValueError(f"{operator} takes a dict or a list of dicts, not {type(value).__name__}: {value!r}")


def _operand(doc: Document, operand: Any) -> Any:
    if isinstance(operand, str) and operand.startswith("{"):
        match = _PLACEHOLDER.fullmatch(operand)
        if match is None:
            raise ValueError(f"The placeholder `{operand}` is illegal: use one field path, as '{{tags__name}}'")
        return _read(doc, match.group(1))
    return operand


def _field_test(path: str, operator: str, operand: Any) -> Predicate:
    if operator == "$exists":
        if not isinstance(operand, bool):
            raise ValueError("$exists operator can only accept True/False as value for comparison")
        if "__" in path:
            return lambda doc: (doc.get_path(path) is not None) is operand
        from faasflow.document import _not_empty

        return lambda doc: _not_empty(doc.get_path(path)) is operand
    compare = _COMPARE.get(operator)
    if compare is None:
        raise _unsupported(operator)
    if operator in ("$in", "$nin") and (isinstance(operand, (str, bytes)) or not isinstance(operand, Iterable)):
        raise ValueError(f"{operator} takes a list of values, not {operand!r}")
    if operator == "$regex":
        if not isinstance(operand, str):
            raise ValueError(f"$regex takes a string pattern, not {type(operand).__name__}")
        re.compile(operand)  # a bad pattern fails now, not per document
    return lambda doc: compare(_read(doc, path), _operand(doc, operand))


def _field(path: str, condition: Any) -> Predicate:
    """The tests on one field: ``{op: operand, ...}`` (all must hold)."""
    if not isinstance(condition, Mapping) or not condition:
        raise ValueError(
            f"Not a valid query for field {path!r}: it should follow the format "
            "{<field>: {<operator>: <value>}, ...}, got " + repr(condition)
        )
    tests: list[Predicate] = []
    for operator, operand in condition.items():
        if operator in _LOGICAL:
            inner = [_field(path, clause) for clause in _field_clauses(operand, operator)]
            tests.append(_not(_all(inner)) if operator == "$not" else _any(inner) if operator == "$or" else _all(inner))
        else:
            tests.append(_field_test(path, operator, operand))
    return _all(tests)


def _field_clauses(value: Any, operator: str) -> list[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(item, Mapping) for item in value):
        return list(value)
    raise ValueError(f"{operator} on a field takes {{<operator>: <value>}} or a list of them, not {value!r}")


def parse(query: Mapping[str, Any] | list[Mapping[str, Any]]) -> Predicate:
    """A predicate on documents for a filter dict (or a list of them, all holding)."""
    if isinstance(query, (list, tuple)):
        return _all([parse(item) for item in query]) if query else (lambda doc: True)
    if not isinstance(query, Mapping):
        raise ValueError(f"The query is illegal: a filter is a dict, not {type(query).__name__}: {query!r}")
    tests: list[Predicate] = []
    for key, value in query.items():
        if key in _LOGICAL:
            inner = [parse(clause) for clause in _clauses(value, key)]
            if key == "$not":
                tests.append(_not(_all(inner)))
            elif key == "$or":
                tests.append(_any(inner))
            else:
                tests.append(_all(inner))
        elif isinstance(key, str) and key.startswith("$"):
            raise _unsupported(key)
        else:
            tests.append(_field(key, value))
    if not tests:
        return lambda doc: True
    return _all(tests)


def filter_docs(docs: Iterable[Document], query: Mapping[str, Any] | list[Mapping[str, Any]]) -> list[Document]:
    """The documents that match ``query``, in order (the documents themselves, not copies)."""
    predicate = parse(query)
    return [doc for doc in docs if predicate(doc)]
