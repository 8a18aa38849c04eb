"""The ALL merge's fast paths against a plain reference of docarray v1's reduce: the same
docs, in the same order, with the same scores and fields, for generated answers (shared
and repeated ids, missing and tied scores, descending metrics, limits)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from faasflow import Document, DocumentArray
from faasflow.sharding import merge, sort_by_score


def reference_reduce(first: list[Document], others: list[list[Document]]) -> list[Document]:
    """docarray v1's DocumentArray.reduce, written plainly: known ids reduced into the first
    doc with that id (its text and scores taken when it has none), new ids appended."""
    out = list(first)
    for other in others:
        for doc in other:
            known = next((i for i, d in enumerate(out) if d.id == doc.id), None)
            if known is None:
                out.append(doc)
            elif out[known] is not doc:
                target = out[known] = out[known].copy()
                if not target.text and doc.text:
                    target.text = doc.text
                if not target._scores and doc._scores:
                    target.scores = doc._scores
    return out


def reference_sort(docs: list[Document], limit: int | None) -> list[Document]:
    name = next((next(iter(d._scores)) for d in docs if d._scores), None)
    if name is None:
        return docs[:limit] if limit is not None else docs
    sign = -1 if name in ("dot", "inner_product", "cosine_similarity") else 1

    def key(doc: Document) -> float:
        score = dict.get(doc._scores, name) if doc._scores else None
        return float("inf") if score is None else sign * score.value

    ordered = sorted(docs, key=key)
    return ordered[:limit] if limit is not None else ordered


match_ids = st.lists(st.sampled_from("abcdefgh"), max_size=8)
scores = st.one_of(st.none(), st.sampled_from([0.0, 0.25, 0.5, 0.5, 1.0]))


@st.composite
def answers(draw):
    metric = draw(st.sampled_from(["cosine", "dot", "euclidean"]))
    shards = []
    for _ in range(draw(st.integers(1, 4))):
        query = Document(id="q")
        for match_id in draw(match_ids):
            match = Document(id=match_id, text=draw(st.sampled_from([None, f"t-{match_id}"])))
            value = draw(scores)
            if value is not None:
                match.scores[metric].value = value
            query.matches.append(match)
        shards.append(DocumentArray([query]))
    return shards, draw(st.one_of(st.none(), st.integers(0, 10)))


@settings(max_examples=300, deadline=None)
@given(answers())
def test_the_all_merge_equals_the_plain_reduce_then_sort(case):
    shards, limit = case
    expected_lists = reference_reduce(list(shards[0][0].matches), [list(s[0].matches) for s in shards[1:]])
    # matches are re-sorted when a later answer brought some, or a limit cuts them
    reordered = any(len(s[0].matches) for s in shards[1:]) or limit is not None
    expected = reference_sort(expected_lists, limit) if reordered else expected_lists
    merged = merge(shards, limit=limit, order=["q"])
    got = merged[0].matches
    assert [(d.id, d.text, dict.get(d._scores, next(iter(d._scores))).value if d._scores else None) for d in got] \
        == [(d.id, d.text, dict.get(d._scores, next(iter(d._scores))).value if d._scores else None) for d in expected]
    assert all(d.adjacency == 1 for d in got)


def test_sort_by_score_keeps_ties_and_unscored_docs_in_their_order():
    docs = [Document(id=str(i)) for i in range(6)]
    for doc, value in zip(docs, [0.5, None, 0.25, 0.5, None, 0.25]):
        if value is not None:
            doc.scores["cosine"].value = value
    assert sort_by_score(docs).ids == ["2", "5", "0", "3", "1", "4"]
    for doc in docs:
        if doc._scores:
            doc._scores["dot"] = doc._scores.pop("cosine")
    assert sort_by_score(docs).ids == ["0", "3", "2", "5", "1", "4"]


_SCORE_VALUES = st.one_of(
    st.none(),  # no score of that name
    st.just("unset"),  # the score created, never set: reads 0.0
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.integers(-3, 3),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_SCORE_VALUES, max_size=12), st.sampled_from(["cosine", "dot", "jaccard"]),
       st.one_of(st.none(), st.integers(0, 12)))
def test_sort_by_score_orders_as_its_definition(values, metric, limit):
    """The order is the definition's: ``sign * value`` ascending (0.0 when never set), docs
    without the score last, ties and NaNs where a stable sort of those keys leaves them;
    docs with no score at all keep their order."""
    docs = []
    for number, value in enumerate(values):
        doc = Document(id=str(number))
        if value == "unset":
            doc.scores[metric]
        elif value is not None:
            doc.scores[metric].value = value
        docs.append(doc)
    sign = -1.0 if metric == "dot" else 1.0

    def key(doc):
        score = dict.get(doc._scores, metric) if doc._scores else None
        if score is None:
            return float("inf")
        return 0.0 if score._value is None else sign * score._value

    expected = [docs[i] for i in sorted(range(len(docs)), key=lambda i: key(docs[i]))]
    expected = expected if limit is None else expected[:limit]
    if not any(d._scores for d in docs):
        expected = docs if limit is None else docs[:limit]
    assert sort_by_score(docs, limit).ids == [d.id for d in expected]
