"""Shard routing and result merging, shared by every engine.

``ANY`` partitions a request's docs by a stable hash of the doc id, so a doc always lands
on the same shard (re-indexing an id updates it). ``ALL`` broadcasts, and the shards'
answers are reduced by id: matches concatenated, re-sorted by score, cut to a limit.
The same reduction joins the branches of a ``needs`` DAG.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from faasflow.array import ChunkArray, DocumentArray, MatchArray
from faasflow.document import Document, fields_to_fill
from faasflow.search import higher_is_better


def shard_of(doc_id: str, shards: int) -> int:
    """The shard that owns ``doc_id``: CRC-32 of its UTF-8 bytes, modulo the shard count.
    CRC-32 is specified bit for bit, so every runtime (and language) agrees."""
    return zlib.crc32(doc_id.encode("utf-8")) % shards


def partition(docs: DocumentArray, shards: int) -> list[list[int]]:
    """Positions of ``docs`` owned by each shard, in input order."""
    parts: list[list[int]] = [[] for _ in range(shards)]
    for position, doc in enumerate(docs):
        parts[zlib.crc32(doc.id.encode("utf-8")) % shards].append(position)
    return parts


def reassemble(
    input_ids: Sequence[str], parts: Sequence[Sequence[int]], outputs: Sequence[DocumentArray | None]
) -> DocumentArray:
    """Put partitioned shard outputs back in input order.

    ``input_ids`` are the stage input's ids, ``parts`` the input positions each shard got.
    A shard that kept its docs (same ids, same order) is placed by position, which keeps
    duplicate ids apart; any other answer falls back to the merge by id.
    """
    placed: list[Document | None] = [None] * len(input_ids)
    for positions, output in zip(parts, outputs):
        if output is None:
            continue
        if len(output) != len(positions) or any(input_ids[p] != d.id for p, d in zip(positions, output)):
            return merge([o for o in outputs if o is not None], order=input_ids)
        for position, doc in zip(positions, output):
            placed[position] = doc
    return DocumentArray._wrap([d for d in placed if d is not None])


def merge(
    results: Sequence[DocumentArray], limit: int | None = None, order: Sequence[str] | None = None
) -> DocumentArray:
    """Reduce several answers for the same request into one.

    Docs are reduced by id as docarray v1's ``reduce_all`` (Jina's join and ``ALL`` merge):
    a field empty in the first answer's doc is taken from the first later answer that has it
    set, matches and chunks are reduced the same way, by id (``reduce_doc``); docs with new ids
    are appended in answer order. ``order`` (the request's ids) puts known ids back in request
    order. Merged matches are re-sorted by score; with ``limit``, every doc's matches are cut
    to the best ``limit``.
    """
    if len(results) == 1 and limit is None and order is None:
        return results[0]
    merged: list[Document] = []
    by_id: dict[str, Document] = {}
    later_matches: dict[str, list[Sequence[Document]]] = {}  # reduced in once per doc, at the end
    for answer_number, answer in enumerate(results):
        for doc in answer:
            existing = by_id.get(doc.id)
            if existing is None:
                by_id[doc.id] = doc
                merged.append(doc)
            elif answer_number > 0 and existing is not doc:
                _reduce_fields_and_chunks(existing, doc)
                if doc._matches:
                    later_matches.setdefault(doc.id, []).append(doc._matches)
            elif answer_number == 0:
                merged.append(doc)  # a duplicate id inside one answer stays as it was
    if order is not None and (len(merged) != len(order) or any(d.id != i for d, i in zip(merged, order))):
        merged = _in_request_order(merged, order)
    for doc in merged:
        extra = later_matches.get(doc.id)
        if extra:
            doc._matches = MatchArray._adopting_documents(
                _sorted_by_score(_reduce_lists(doc._matches or (), extra), limit), doc)
        elif doc._matches and limit is not None:
            doc._matches = MatchArray._adopting_documents(_sorted_by_score(doc._matches, limit), doc)
    return DocumentArray._wrap(merged)


_NOT_REDUCED = frozenset({"id", "parent_id", "matches", "chunks"})


def reduce_doc(first: Document, other: Document) -> bool:
    """docarray v1's ``_reduce_doc``, in place on ``first``: each field set in ``other`` and
    empty in ``first`` (``non_empty_fields``; not id, parent_id, matches, chunks) is taken
    whole from ``other`` (tags too: not merged key by key); then ``other``'s matches and
    chunks are reduced into ``first``'s by id. Returns whether ``other`` had matches.

    New lists, never extended in place: docs an executor gave one shared list keep theirs.
    """
    _reduce_fields_and_chunks(first, other)
    if other._matches:
        first._matches = MatchArray._adopting_documents(_reduce_lists(first._matches or (), [other._matches]), first)
        return True
    return False


def _reduce_fields_and_chunks(first: Document, other: Document) -> None:
    """``reduce_doc`` but for the matches: the empty fields filled, the chunks reduced."""
    for name in fields_to_fill(first, other, _NOT_REDUCED):  # decided before any is set
        setattr(first, name, getattr(other, name))
    if other._chunks:
        first._chunks = ChunkArray._adopting_documents(_reduce_lists(first._chunks or (), [other._chunks]), first)


def _reduce_lists(first: Sequence[Document], others: Sequence[Sequence[Document]]) -> list[Document]:
    """docarray v1's ``DocumentArray.reduce`` on matches or chunks, of several later lists at
    once: their docs with new ids appended, those with a known id reduced into (a copy of)
    the first with that id."""
    out = list(first)
    seen = {doc.id for doc in out}
    position: dict[str, int] | None = None  # each id's first place, made once a list needs it
    for other in others:
        if position is None:
            new = [doc.id for doc in other]
            distinct = set(new)
            if len(distinct) == len(new) and seen.isdisjoint(distinct):
                # the common ALL answer: each shard's own matches, new ids only
                seen |= distinct
                out.extend(other)
                continue
            ids = [doc.id for doc in out]
            position = dict(zip(reversed(ids), range(len(ids) - 1, -1, -1)))
        for doc in other:
            i = position.get(doc.id)
            if i is None:
                position[doc.id] = len(out)
                out.append(doc)
            elif out[i] is not doc:
                target = out[i] = out[i].copy()  # a copy: the same match may sit in other lists
                reduce_doc(target, doc)
    return out


def _in_request_order(docs: list[Document], order: Sequence[str]) -> list[Document]:
    rank = {doc_id: position for position, doc_id in enumerate(order)}
    known = [d for d in docs if d.id in rank]
    new = [d for d in docs if d.id not in rank]
    known.sort(key=lambda d: rank[d.id])
    return known + new


def score_name(docs: Sequence[Document]) -> str | None:
    """The score docs are ranked by: the first named score of the first scored doc."""
    for doc in docs:
        if doc._scores:
            return next(iter(doc._scores))
    return None


def sort_by_score(docs: Sequence[Document], limit: int | None = None) -> DocumentArray:
    """Docs best first by their first named score (distances ascending, ``dot`` descending);
    docs without that score go last, in their order."""
    return DocumentArray._wrap(_sorted_by_score(docs, limit))


def _sorted_by_score(docs: Sequence[Document], limit: int | None = None) -> list[Document]:
    """``sort_by_score`` as a new list."""
    name = score_name(docs)
    if name is None:
        ordered = list(docs)
    else:
        sign = -1.0 if higher_is_better(name) else 1.0
        missing = float("inf")
        keys = []
        for doc in docs:  # the keys first, then a sort by them in C: no Python call per comparison key
            # dict.get: asking a ScoreMap for a name it lacks must not create the score
            score = doc._scores.get(name) if doc._scores else None
            if score is None:
                keys.append(missing)
            else:
                value = score._value
                keys.append(0.0 if value is None else sign * value)
        docs = list(docs)
        ordered = [docs[i] for i in sorted(range(len(docs)), key=keys.__getitem__)]
    return ordered[:limit] if limit is not None else ordered
