"""docarray v1's query language in ``DocumentArray.find`` on the in-memory array, and the
small v1 behaviours around it (unset scores, chunk/match stamping, memory config)."""

from __future__ import annotations

import numpy as np
import pytest

from faasflow import Document, DocumentArray
from faasflow.sharding import sort_by_score


@pytest.fixture
def docs() -> DocumentArray:
    docs = DocumentArray.empty(5)
    docs[0].text = "hello"
    docs[0].tags["name"] = "hello"
    docs[1].text = "world"
    docs[1].tags["name"] = "hello"
    docs[2].tags.update(x=0.3, y=0.6)
    docs[3].tags["x"] = 0.8
    return docs


def ids(found: DocumentArray, docs: DocumentArray) -> list[int]:
    return [docs.ids.index(d.id) for d in found]


def test_empty_filter_returns_every_document(docs):
    assert ids(docs.find({}), docs) == [0, 1, 2, 3, 4]
    assert ids(docs.find(filter={}), docs) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("as_filter", [True, False])
def test_comparison_operators(docs, as_filter):
    def find(query):
        return ids(docs.find(filter=query) if as_filter else docs.find(query), docs)

    assert find({"text": {"$eq": "hello"}}) == [0]
    assert find({"text": {"$ne": "hello"}}) == [1, 2, 3, 4]
    assert find({"text": {"$neq": "hello"}}) == [1, 2, 3, 4]
    assert find({"tags__x": {"$gte": 0.5}}) == [3]
    assert find({"tags__x": {"$gt": 0.3}}) == [3]
    assert find({"tags__x": {"$lt": 0.8}}) == [2]
    assert find({"tags__x": {"$lte": 0.8}}) == [2, 3]
    assert find({"tags__x": {"$gte": 0.1, "$lte": 0.5}}) == [2]
    assert find({"tags__name": {"$regex": "^h"}}) == [0, 1]
    assert find({"text": {"$regex": "^h"}}) == [0]
    assert find({"tags": {"$size": 2}}) == [2]
    assert find({"text": {"$in": ["hello", "world"]}}) == [0, 1]
    assert find({"text": {"$nin": ["hello", "world"]}}) == [2, 3, 4]
    assert find({"text": {"$exists": True}}) == [0, 1]
    assert find({"tensor": {"$exists": True}}) == []
    assert find({"tags__x": {"$exists": False}}) == [0, 1, 4]
    assert find({"text": {"$eq": "hello"}, "tags__name": {"$eq": "hello"}}) == [0]


def test_logical_operators(docs):
    assert ids(docs.find({"$or": {"tags__x": {"$gte": 0.1}, "tags__y": {"$gte": 0.5}}}), docs) == [2, 3]
    assert ids(docs.find({"$or": [{"text": {"$eq": "world"}}, {"tags__x": {"$gte": 0.5}}]}), docs) == [1, 3]
    assert ids(docs.find({"$and": {"tags__x": {"$gte": 0.1}, "tags__y": {"$gte": 0.5}}}), docs) == [2]
    assert ids(docs.find({"$not": {"tags__x": {"$gte": 0.5}}}), docs) == [0, 1, 2, 4]
    assert len(docs.find({"$not": {"tags__x": {"$gte": 0.1}, "tags__y": {"$gte": 0.5}}})) == 4
    assert ids(docs.find({"tags__x": {"$not": {"$gte": 0.5}}}), docs) == [0, 1, 2, 4]


def test_placeholders_read_the_document_itself(docs):
    assert ids(docs.find({"text": {"$eq": "{tags__name}"}}), docs) == [0]
    with pytest.raises(ValueError, match="placeholder"):
        docs.find({"text": {"$eq": "{a} {b}"}})


def test_filter_returns_the_documents_not_copies(docs):
    assert docs.find({"text": {"$eq": "hello"}})[0] is docs[0]


@pytest.mark.parametrize("bad", [
    {"$foo": {}}, {"text": {"$foo": 1}}, {"text": "hello"}, {"text": {}},
    {"text": {"$exists": "yes"}}, {"text": {"$in": 3}},
])
def test_bad_filters_raise_value_error(docs, bad):
    with pytest.raises(ValueError):
        docs.find(bad)


def test_filter_with_vector_query_or_two_dicts_is_refused():
    docs = DocumentArray([Document(embedding=np.ones(3), tags={"price": i}) for i in range(5)])
    with pytest.raises(ValueError, match="Filtered vector search"):
        docs.find(np.ones(3), filter={"tags__price": {"$gte": 2}})
    with pytest.raises(ValueError, match="both dict"):
        docs.find({"text": {"$eq": "x"}}, filter={"text": {"$eq": "y"}})
    with pytest.raises(ValueError, match="filter must be dict or str when query is None"):
        docs.find(None)


def test_missing_embeddings_ask_whether_they_were_set():
    a, b = DocumentArray.empty(4), DocumentArray.empty(4)
    b.embeddings = np.random.random((4, 8))
    with pytest.raises(ValueError, match="Did you forget to set"):
        a.find(b)
    with pytest.raises(ValueError, match="Did you forget to set"):
        b.find(a)


def test_memory_config_is_accepted_other_storage_refused():
    docs = DocumentArray(storage="memory", config={"n_dim": 3, "columns": {"price": "int"}})
    assert len(docs) == 0
    with pytest.raises(ValueError, match="storage"):
        DocumentArray(storage="sqlite")


def test_unset_score_reads_zero_and_sorting_treats_absent_scores_as_missing():
    doc = Document()
    doc.scores["hits"].value += 1
    assert doc.scores["hits"].value == 1.0
    scored = [Document(id="b", scores={"cosine": 0.5}), Document(id="none"), Document(id="a", scores={"cosine": 0.1})]
    scored.append(Document(id="zero"))
    scored[-1].scores["cosine"]  # created, never set: reads 0.0
    assert [d.id for d in sort_by_score(scored)] == ["zero", "a", "b", "none"]
    assert "cosine" not in scored[1].scores  # sorting never creates a score


def test_chunks_and_matches_are_stamped_as_in_docarray_v1():
    doc = Document()
    doc.chunks.append(Document())
    assert doc.chunks[0].granularity == 1 and doc.chunks[0].parent_id == doc.id
    assert doc.chunks.reference_doc is doc
    doc.matches.append(Document())
    assert doc.matches[0].adjacency == 1 and doc.matches.reference_doc is doc
    chunk = doc.chunks[0]
    chunk.chunks.extend([Document(), Document()])
    chunk.chunks.insert(0, Document())
    assert [c.granularity for c in chunk.chunks] == [2, 2, 2]
    chunk.matches = [Document()]
    assert chunk.matches[0].adjacency == 1
    copied = doc.copy()
    assert copied.chunks.reference_doc is copied and copied.chunks[0] is doc.chunks[0]
    back = Document.from_json(doc.to_json())
    assert back.chunks.reference_doc is back and back.chunks[0].granularity == 1
