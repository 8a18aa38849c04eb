"""docarray v1 (0.21) DocumentArray behaviour, written from what docarray's own unit tests assert."""

from __future__ import annotations

import numpy as np
import pytest

from faasflow import Document, DocumentArray


@pytest.fixture
def docs() -> DocumentArray:
    return DocumentArray(Document(text=str(j)) for j in range(100))


def test_get_by_int_numpy_int_negative_and_id(docs):
    assert docs[99].text == docs[np.int32(99)].text == docs[-1].text == "99"
    assert docs[docs[0].id].text == "0"
    with pytest.raises(IndexError):
        docs[100]
    with pytest.raises(KeyError):
        docs["adsad"]


def test_slices_get_set_delete(docs):
    assert len(docs[1:5]) == 4 and len(docs[1:100:5]) == 20
    with pytest.raises(TypeError, match="an iterable"):
        docs[1:5] = Document(text="repl")
    docs[1:5] = [Document(text=f"repl{j}") for j in range(4)]
    assert all(d.text.startswith("repl") for d in docs[1:5]) and len(docs) == 100
    first, twentieth = docs[0], docs[20]
    del docs[0:20]
    assert len(docs) == 80 and first not in docs and twentieth in docs


def test_boolean_mask_get_set_delete(docs):
    mask = [True, False] * 50
    assert len(docs[mask]) == 50
    docs[mask, "text"] = [f"repl{j}" for j in range(50)]
    assert docs[0].text == "repl0" and docs[1].text == "1"
    docs[mask] = [Document(text="test") for _ in range(50)]
    assert docs[2].text == "test" and docs[3].text == "3"
    del docs[mask]
    assert len(docs) == 50


def test_short_masks_are_padded_and_a_bare_bool_is_refused():
    da = DocumentArray.empty(3)
    assert len(da[True, False]) == 1 and len(da[False, False, False]) == 0
    for attempt in (lambda: da[True], lambda: da.__setitem__(True, Document()), lambda: da.__delitem__(True)):
        with pytest.raises(IndexError):
            attempt()
    del da[[True]]
    assert len(da) == 2


@pytest.mark.parametrize("wrap", [list, np.array, tuple])
def test_positions_get_set_delete(docs, wrap):
    idx = wrap([1, 3, 5, 7, -1, -2])
    assert len(docs[idx]) == 6
    docs[idx] = [Document(text="repl") for _ in range(6)]
    assert all(docs[int(i)].text == "repl" for i in idx)
    del docs[[-3, -4, -5, 9, 10, 11]]
    assert len(docs) == 94
    docs[1, 5, 9] = [Document(text="new") for _ in range(3)]
    assert docs[1].text == docs[5].text == docs[9].text == "new"
    assert isinstance(docs[99 - 7, 80], DocumentArray) and len(docs[90, 80]) == 2


def test_ids_get_set_delete(docs):
    ids = [d.id for d in docs[1, 3, 5, 7, -1, -2, 1]]
    assert len(docs[ids]) == len(docs[tuple(ids)]) == 7
    ids = [d.id for d in docs[1, 3, 5]]
    docs[ids] = [Document(text="repl") for _ in ids]
    assert all(d.text == "repl" for d in docs[1, 3, 5])
    del docs[[d.id for d in docs[-3, -4, 9]]]
    assert len(docs) == 97


def test_two_strings_are_ids_or_id_and_attribute():
    da = DocumentArray([Document(id="1"), Document(id="2"), Document(id="3")])
    assert da["1", "id"] == "1"
    assert isinstance(da["1", "2"], DocumentArray) and len(da["1", "2", "3"]) == 3
    with pytest.raises(KeyError):
        da["hello", "2"]
    with pytest.raises(AttributeError):
        da["1", "hello"]
    del da["1", "2"]
    assert len(da) == 1
    da = DocumentArray([Document(id=str(i), text="hey") for i in range(3)])
    del da["1", "text"]
    assert len(da) == 3 and not da[1].text
    with pytest.raises(ValueError, match="ID of a Document stored in a DocumentArray to None"):
        del da["1", "id"]
    da["1", "text"] = "hello"
    assert da["1"].text == "hello"
    with pytest.raises(IndexError):
        da["1", "hellohello"] = "hello"
    da["1", "2"] = DocumentArray.empty(2)
    assert "1" not in da and "2" not in da


def test_attribute_selection_get_set_delete():
    da = DocumentArray.empty(3)
    assert all(da[:, "id"])
    da[:, "mime_type"] = [f"type {j}" for j in range(3)]
    assert all(da[:, "mime_type"])
    del da[:, "mime_type"]
    assert not any(da[:, "mime_type"])
    da[:, ["text", "mime_type"]] = [[f"hello {j}" for j in range(3)], [f"type {j}" for j in range(3)]]
    texts, types = da[:, ["text", "mime_type"]]
    assert texts[2] == "hello 2" and types[0] == "type 0"
    da[:, "tags__x"] = 1  # a scalar is broadcast
    assert da[:, "tags__x"] == [1, 1, 1]
    da[2, ["text", "id"]] = ["new_text", "new_id"]
    assert da[2].text == "new_text" and da["new_id"] is da[2]
    da.embeddings = np.random.random([3, 4])
    emb, ids = da[:, ("embedding", "id")]
    assert emb.shape == (3, 4) and ids == da.ids


def test_traversal_paths_and_ellipsis():
    da = DocumentArray.empty(3)
    for d in da:
        d.chunks = DocumentArray.empty(5)
        d.matches = DocumentArray.empty(7)
        for c in d.chunks:
            c.chunks = DocumentArray.empty(3)
    assert len(da["@c"]) == 15 and len(da["@c:1"]) == 3 and len(da["@c1"]) == 3
    assert len(da["@c-2:"]) == 6 and len(da["@c1:3c"]) == 18
    assert len(da["@c 1:3 , c 1:3 c"]) == 6 + 18 and len(da["@cc,m"]) == 45 + 21 and len(da["@r:1cc,m"]) == 15 + 21
    assert len(da[...]) == 3 + 15 + 45 + 21
    da["@c", "text"] = "a"
    assert da["@c", "text"] == ["a"] * 15
    with pytest.raises(NotImplementedError):
        del da["@c"]


def test_contains_is_by_id_and_construction_forms():
    d = Document()
    da = DocumentArray(d)
    assert d in da and d.id in da and Document(id=d.id) in da
    assert len(DocumentArray(Document() for _ in range(10))) == 10
    copied = DocumentArray([d], copy=True)
    d.id = "hello"
    assert copied[0].id != "hello"
    assert len(DocumentArray.empty()) == 0 and len(DocumentArray.empty(10)) == 10
    with pytest.raises(ValueError, match="storage"):
        DocumentArray(storage="sqlite")


@pytest.mark.parametrize("attr", ["texts", "embeddings", "tensors", "blobs", "contents"])
def test_columns_of_an_empty_array_are_none(attr):
    da = DocumentArray()
    assert getattr(da, attr) is None
    setattr(da, attr, {"texts": [], "embeddings": np.array([]), "tensors": np.array([]), "blobs": [],
                       "contents": []}[attr])
    assert getattr(da, attr) is None


@pytest.mark.parametrize("attr,values", [("texts", ["s"] * 10), ("tensors", np.random.random([10, 2])),
                                         ("blobs", [b"s"] * 10)])
def test_content_columns_get_and_set(attr, values):
    da = DocumentArray.empty(10)
    setattr(da, attr, values)
    np.testing.assert_equal(da.contents, values)
    da.contents = values
    np.testing.assert_equal(getattr(da, attr), values)
    da.contents = None
    assert da.contents is None
    with pytest.raises(ValueError, match="length"):
        setattr(da, attr, values[:3])


def test_find_returns_per_v1():
    da = DocumentArray.empty(10)
    da.embeddings = np.random.random([10, 3])
    one = da.find(np.random.random(3), limit=4)
    assert isinstance(one, DocumentArray) and len(one) == 4
    (by_doc,) = da.find(da[0], limit=4)  # a Document query: a list holding one DocumentArray
    assert by_doc[0].id == da[0].id and by_doc[0].scores["cosine"].value == pytest.approx(0, abs=1e-6)
    many = da.find(np.random.random([2, 3]), limit=3)
    assert isinstance(many, list) and len(many) == 2
    assert len(da.find(da[0], limit=None)[0]) == 10
    (no_self,) = da.find(da[0], exclude_self=True, limit=3)
    assert da[0].id not in no_self.ids and len(no_self) == 3
    (ids_only,) = da.find(da[0], only_id=True, limit=2)
    assert ids_only[0].embedding is None
    with pytest.raises(ValueError, match="limit"):
        da.find(da[0], limit=0)


def test_find_metric_callable_name_normalization_and_errors():
    da = DocumentArray.empty(6)
    da.embeddings = np.random.random([6, 3])

    def manhattan(x, y):
        return np.abs(x[:, None, :] - y[None, :, :]).sum(-1)

    (found,) = da.find(da[1], metric=manhattan, limit=3)
    assert found[0].id == da[1].id and "manhattan" in found[0].scores
    (named,) = da.find(da[1], metric="euclidean", metric_name="dist", limit=2)
    assert "dist" in named[0].scores
    (scaled,) = da.find(da[1], metric="sqeuclidean", normalization=(0, 1), limit=6)
    values = [d.scores["sqeuclidean"].value for d in scaled]
    assert min(values) >= 0 and max(values) <= 1
    (by_scipy,) = da.find(da[1], metric="cityblock", use_scipy=True, limit=1)
    assert by_scipy[0].id == da[1].id
    with pytest.raises(ValueError, match="Filtered vector search"):
        da.find(da[1], filter={"text": {"$eq": "x"}})
    with pytest.raises(ValueError, match="device"):
        da.find(da[1], device="cuda")
    with pytest.raises(ValueError, match="batch_size"):
        da.find(da[1], batch_size=0)
    with pytest.raises(ValueError, match="subindex"):
        da.find(da[1], on="@c")


def test_match_fills_matches_with_distances():
    a, b = DocumentArray.empty(3), DocumentArray.empty(5)
    a.embeddings, b.embeddings = np.random.random([3, 4]), np.random.random([5, 4])
    a.match(b, metric="euclidean", limit=3)
    for doc in a:
        values = doc.matches[:, "scores__euclidean__value"]
        assert len(values) == 3 and values == sorted(values)
    a.match(a, exclude_self=True)
    assert all(d.id not in d.matches.ids for d in a)
    assert len(a[:, ("id", "embedding", "matches")]) == 3
