"""Unit tests for faasflow.array.DocumentArray and its embedding column cache (faasflow.columns)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from faasflow import Document, DocumentArray


def make_da(n: int = 5, dim: int | None = None) -> DocumentArray:
    docs = []
    for i in range(n):
        doc = Document(id=f"d{i}", text=f"text {i}", tags={"i": i})
        if dim is not None:
            doc.embedding = np.full(dim, float(i), dtype=np.float32)
        docs.append(doc)
    return DocumentArray(docs)


# --- construction and list protocol ---


def test_construct_from_list_generator_document_and_none():
    docs = [Document(id="a"), Document(id="b")]
    assert DocumentArray(docs).ids == ["a", "b"]
    assert DocumentArray(d for d in docs).ids == ["a", "b"]
    assert DocumentArray(docs[0]).ids == ["a"]
    assert len(DocumentArray()) == 0
    assert not DocumentArray()
    assert DocumentArray(docs)


def test_construct_rejects_non_documents_naming_the_position():
    with pytest.raises(TypeError, match="item 1 is a str"):
        DocumentArray([Document(), "x"])


def test_append_extend_len_iteration():
    da = DocumentArray()
    a, b, c = Document(id="a"), Document(id="b"), Document(id="c")
    da.append(a)
    da.extend([b, c])
    assert len(da) == 3
    assert list(da) == [a, b, c]
    assert [d.id for d in da] == ["a", "b", "c"]
    da.extend(DocumentArray([Document(id="d")]))
    assert da.ids == ["a", "b", "c", "d"]
    with pytest.raises(TypeError):
        da.append("not a doc")  # type: ignore[arg-type]


def test_extend_with_a_bad_item_leaves_the_array_unchanged():
    da = make_da(2, dim=2)
    assert "d0" in da  # build the id index
    assert da.embeddings.shape == (2, 2)  # build the column
    with pytest.raises(TypeError):
        da.extend([Document(id="new", embedding=[9.0, 9.0]), "bad"])  # type: ignore[list-item]
    assert da.ids == ["d0", "d1"]
    assert "new" not in da
    assert da.embeddings.shape == (2, 2)
    da.extend([Document(id="new", embedding=[9.0, 9.0])])
    assert "new" in da and da["new"].id == "new"
    assert da.embeddings.shape == (3, 2)


def test_add_and_iadd():
    left = DocumentArray([Document(id="a")])
    right = DocumentArray([Document(id="b")])
    both = left + right
    assert isinstance(both, DocumentArray)
    assert both.ids == ["a", "b"]
    assert left.ids == ["a"] and right.ids == ["b"]  # + leaves its operands alone
    assert (left + [Document(id="c")]).ids == ["a", "c"]
    same = left
    left += right
    assert left is same
    assert left.ids == ["a", "b"]


def test_insert_pop_delete_clear_keep_id_lookup_right():
    da = make_da(4)
    assert da["d3"].id == "d3"
    da.insert(0, Document(id="first"))
    assert da.ids[0] == "first"
    assert da["d3"] is da[4]
    popped = da.pop()
    assert popped.id == "d3"
    assert "d3" not in da
    del da["d1"]
    assert da.ids == ["first", "d0", "d2"]
    assert da["d2"] is da[2]
    del da[0]
    assert da.ids == ["d0", "d2"]
    da.clear()
    assert len(da) == 0 and "d0" not in da


def test_contains_by_id_and_by_document():
    da = make_da(3)
    assert "d1" in da
    assert "zzz" not in da
    assert da[0] in da
    assert Document(id="d0") in da  # docarray v1: a document is in the array when its id is
    assert Document(id="zzz") not in da
    assert 0 not in da


def test_copy_is_a_new_list_of_the_same_documents():
    da = make_da(2)
    other = da.copy()
    other.append(Document())
    assert len(da) == 2 and len(other) == 3
    assert other[0] is da[0]


# --- indexing ---


def test_index_by_int_negative_and_numpy_int():
    da = make_da(5)
    assert da[0].id == "d0"
    assert da[-1].id == "d4"
    assert da[np.int64(2)].id == "d2"
    with pytest.raises(IndexError):
        da[5]


def test_index_by_slice_returns_document_array():
    da = make_da(5)
    part = da[1:4]
    assert isinstance(part, DocumentArray)
    assert part.ids == ["d1", "d2", "d3"]
    assert da[::-2].ids == ["d4", "d2", "d0"]
    assert part[0] is da[1]


def test_index_by_id():
    da = make_da(5)
    assert da["d3"] is da[3]


def test_unknown_id_is_a_key_error_naming_the_id():
    da = make_da(3)
    with pytest.raises(KeyError, match="no-such-id"):
        da["no-such-id"]


def test_index_by_list_of_ints_and_ids():
    da = make_da(5)
    assert da[[4, 0, -1]].ids == ["d4", "d0", "d4"]
    assert da[np.array([1, 3])].ids == ["d1", "d3"]
    assert da[["d2", "d0"]].ids == ["d2", "d0"]
    assert da[np.array(["d1"])].ids == ["d1"]
    assert da[[]].ids == []
    with pytest.raises(KeyError, match="missing"):
        da[["d0", "missing"]]


def test_index_by_bool_mask():
    da = make_da(4)
    assert da[[True, False, True, False]].ids == ["d0", "d2"]
    assert da[np.array([False, True, True, False])].ids == ["d1", "d2"]
    embeddings = np.arange(4)
    assert da[embeddings >= 2].ids == ["d2", "d3"]


def test_short_bool_mask_is_padded_with_false():  # docarray v1
    da = make_da(4)
    assert da[[True, False, True]].ids == ["d0", "d2"]
    assert da[np.ones(5, dtype=bool)].ids == da.ids
    with pytest.raises(IndexError):
        da[True]


def test_index_by_unsupported_type_is_an_error():
    with pytest.raises(IndexError, match="float"):  # docarray v1 raises IndexError
        make_da(2)[1.5]


def test_setitem_by_int_and_id():
    da = make_da(3)
    new = Document(id="new")
    da[1] = new
    assert da[1] is new
    assert "d1" not in da and da["new"] is new
    replacement = Document(id="d2", text="v2")
    da["d2"] = replacement
    assert da["d2"].text == "v2"
    with pytest.raises(TypeError):
        da[0] = "x"  # type: ignore[assignment]
    with pytest.raises(KeyError, match="absent"):
        da["absent"] = Document(id="absent")


# --- attribute selection ---


def test_select_one_attribute():
    da = make_da(3)
    assert da[:, "text"] == ["text 0", "text 1", "text 2"]
    assert da[:, "id"] == da.ids
    assert da[1:, "tags__i"] == [1, 2]
    assert da["d1", "text"] == "text 1"  # one document: its value (docarray v1)
    assert da[0, "id"] == "d0"


def test_select_several_attributes_returns_one_list_per_attribute():
    da = make_da(3)
    for i, doc in enumerate(da):
        doc.scores["jaccard"].value = i / 10
    texts, scores = da[:, ("text", "scores__jaccard__value")]
    assert texts == ["text 0", "text 1", "text 2"]
    assert scores == [0.0, 0.1, 0.2]
    assert da[[2, 0], ["id", "tags__i"]] == [["d2", "d0"], [2, 0]]


def test_select_with_bad_key_shape_is_an_error():
    with pytest.raises(IndexError):
        make_da(2)[:, "text", "id"]


def test_set_one_attribute_for_all_documents():
    da = make_da(3)
    da[:, "text"] = ["a", "b", "c"]
    assert da.texts == ["a", "b", "c"]
    da[1:, "mime_type"] = ["x/y", "x/z"]
    assert [d.mime_type for d in da] == [None, "x/y", "x/z"]


def test_set_attribute_errors():
    da = make_da(3)
    with pytest.raises(ValueError, match="2 values for 3 documents"):
        da[:, "text"] = ["a", "b"]
    with pytest.raises(ValueError):
        da[:, ("text", "id")] = [["a"], ["b"]]
    assert da.texts == ["text 0", "text 1", "text 2"]  # nothing changed
    da[:, "tags__i"] = [1, 2, 3]  # a path sets inside tags
    assert da[:, "tags__i"] == [1, 2, 3]


def test_texts_get_and_set():
    da = make_da(2)
    assert da.texts == ["text 0", "text 1"]
    da.texts = ["x", None]
    assert da[0].text == "x" and da[1].text is None
    with pytest.raises(ValueError):
        da.texts = ["only one"]


def test_tensors_stack():
    da = DocumentArray([Document(tensor=np.full((2, 2), i)) for i in range(3)])
    assert da.tensors.shape == (3, 2, 2)
    np.testing.assert_array_equal(da.tensors[2], np.full((2, 2), 2))
    da.append(Document())
    with pytest.raises(ValueError, match="tensor"):  # docarray v1: the first has one, a later one not
        _ = da.tensors
    assert DocumentArray([Document(), Document(tensor=np.zeros(2))]).tensors[0] is None  # v1: a list


# --- embeddings and the column cache ---


def test_embeddings_get_is_one_2d_array():
    da = make_da(4, dim=3)
    matrix = da.embeddings
    assert isinstance(matrix, np.ndarray)
    assert matrix.shape == (4, 3)
    assert matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix[:, 0], [0, 1, 2, 3])
    assert da.embeddings is matrix  # stacked once, then kept


def test_embeddings_none_when_a_document_has_none():
    da = make_da(2, dim=3)
    da.append(Document())
    with pytest.raises(ValueError, match="embedding"):  # docarray v1
        _ = da.embeddings
    assert DocumentArray([Document(), Document()]).embeddings is None


def test_embeddings_of_empty_array():
    assert DocumentArray().embeddings is None  # docarray v1


def test_embeddings_set():
    da = make_da(3)
    matrix = np.arange(6, dtype=np.float64).reshape(3, 2)
    da.embeddings = matrix
    np.testing.assert_array_equal(da[1].embedding, [2.0, 3.0])
    np.testing.assert_array_equal(da.embeddings, matrix)
    da.embeddings = [[1, 1], [2, 2], [3, 3]]
    np.testing.assert_array_equal(da[2].embedding, [3, 3])


def test_embeddings_set_with_wrong_shape_is_an_error():
    da = make_da(3)
    with pytest.raises(ValueError, match="3 documents"):
        da.embeddings = np.zeros((2, 4))
    with pytest.raises(ValueError):
        da.embeddings = np.zeros(3)


def test_in_place_edit_of_a_member_embedding_is_seen_in_embeddings():
    da = make_da(3, dim=2)
    matrix = da.embeddings
    da[0].embedding[1] = 42.0
    assert da.embeddings[0, 1] == 42.0
    assert matrix[0, 1] == 42.0
    da[2].embedding *= 2  # in place, then re-assigned: must still be right
    np.testing.assert_array_equal(da.embeddings[2], [4.0, 4.0])


def test_in_place_edit_of_embeddings_matrix_is_seen_by_members():
    da = make_da(3, dim=2)
    da.embeddings[1] = [7.0, 8.0]
    np.testing.assert_array_equal(da[1].embedding, [7.0, 8.0])


def test_assigning_a_member_embedding_invalidates_the_column():
    da = make_da(3, dim=2)
    before = da.embeddings
    da[0].embedding = np.array([-1.0, -2.0], dtype=np.float32)
    after = da.embeddings
    assert after is not before
    np.testing.assert_array_equal(after[0], [-1.0, -2.0])
    np.testing.assert_array_equal(after[1:], before[1:])
    da[:, "embedding"] = [np.zeros(2), np.ones(2), np.ones(2)]
    np.testing.assert_array_equal(da.embeddings, [[0, 0], [1, 1], [1, 1]])


def test_appending_and_replacing_invalidate_the_column():
    da = make_da(2, dim=2)
    assert da.embeddings.shape == (2, 2)
    da.append(Document(embedding=np.array([5.0, 5.0], dtype=np.float32)))
    assert da.embeddings.shape == (3, 2)
    np.testing.assert_array_equal(da.embeddings[2], [5.0, 5.0])
    da[0] = Document(embedding=np.array([6.0, 6.0], dtype=np.float32))
    np.testing.assert_array_equal(da.embeddings[0], [6.0, 6.0])
    del da[1]
    np.testing.assert_array_equal(da.embeddings, [[6.0, 6.0], [5.0, 5.0]])
    da.reverse()
    np.testing.assert_array_equal(da.embeddings, [[5.0, 5.0], [6.0, 6.0]])


def test_a_document_in_two_arrays_stays_consistent():
    shared = Document(id="s", embedding=np.array([1.0, 1.0], dtype=np.float32))
    first = DocumentArray([shared, Document(embedding=[0.0, 0.0])])
    second = DocumentArray([Document(embedding=[2.0, 2.0]), shared])
    assert first.embeddings.shape == (2, 2)
    assert second.embeddings.shape == (2, 2)  # rebinds `shared` to the second column
    shared.embedding = np.array([3.0, 3.0], dtype=np.float32)
    np.testing.assert_array_equal(first.embeddings[0], [3.0, 3.0])
    np.testing.assert_array_equal(second.embeddings[1], [3.0, 3.0])


# --- apply / map ---


def test_apply_in_place():
    da = make_da(3)

    def upper(doc: Document) -> None:
        doc.text = doc.text.upper()

    assert da.apply(upper) is da
    assert da.texts == ["TEXT 0", "TEXT 1", "TEXT 2"]


def test_apply_replacing_documents_updates_id_lookup():
    da = make_da(2)
    assert "d0" in da
    da.apply(lambda d: Document(id=d.id + "-new"))
    assert da.ids == ["d0-new", "d1-new"]
    assert "d0" not in da and da["d1-new"] is da[1]


def test_apply_embed_feature_hashing():
    da = make_da(3)
    da.apply(Document.embed_feature_hashing)
    assert da.embeddings.shape == (3, 256)
    assert all(d.embedding is not None for d in da)
    before = da.embeddings
    da.apply(lambda d: d.embed_feature_hashing(n_dim=8))
    assert da.embeddings is not before
    assert da.embeddings.shape == (3, 8)


def test_map_returns_a_list():
    assert make_da(3).map(lambda d: d.tags["i"] * 2) == [0, 2, 4]


# --- upsert pattern ---


def test_upsert_pattern_keeps_membership_and_lookup_right():
    rng = random.Random(1234)
    da = DocumentArray()
    model: dict[str, str] = {}  # id -> text of the current document
    order: list[str] = []
    for step in range(3000):
        doc_id = f"id{rng.randrange(400)}"
        doc = Document(id=doc_id, text=f"v{step}")
        if doc_id in da:
            da[doc_id] = doc
        else:
            da.append(doc)
            order.append(doc_id)
        model[doc_id] = doc.text
        if step % 97 == 0:  # check a few lookups along the way
            probe = rng.choice(order)
            assert probe in da
            assert da[probe].text == model[probe]
    assert len(da) == len(model) == len(order)
    assert da.ids == order
    for doc_id, text in model.items():
        assert doc_id in da
        assert da[doc_id].id == doc_id
        assert da[doc_id].text == text
    assert "id400" not in da


def test_setitem_with_a_new_id_updates_lookup():
    da = make_da(3)
    assert "d1" in da
    da["d1"] = Document(id="renamed")
    assert "d1" not in da
    assert da["renamed"] is da[1]
    da.append(Document(id="d1"))
    assert da["d1"] is da[3]


def test_repr_and_summary():
    da = make_da(2)
    assert "length=2" in repr(da)
    assert "2" in da.summary()


def test_mixed_dtypes_do_not_change_members_dtype():
    f32 = Document(id="a", embedding=np.array([1.0, 2.0], dtype=np.float32))
    f64 = Document(id="b", embedding=np.array([3.0, 4.0], dtype=np.float64))
    ints = Document(id="c", embedding=np.array([5, 6], dtype=np.int64))
    da = DocumentArray([f32, f64, ints])
    matrix = da.embeddings
    assert matrix.dtype == np.float64
    np.testing.assert_array_equal(matrix, [[1, 2], [3, 4], [5, 6]])
    assert da.find(np.array([5.0, 6.0]), metric="euclidean", limit=1).ids == ["c"]
    assert f32.embedding.dtype == np.float32
    assert ints.embedding.dtype == np.int64
    assert Document.from_json(f32.to_json()).embedding.dtype == np.float32
    f32.embedding[0] = 9.0  # not bound to a row: the next read restacks
    np.testing.assert_array_equal(da.embeddings[0], [9.0, 2.0])


def test_embeddings_of_different_shapes_name_the_document():
    da = DocumentArray([Document(id="a", embedding=np.zeros(3)), Document(id="b", embedding=np.zeros(4))])
    with pytest.raises(ValueError, match="document 'b'"):
        da.find(np.zeros(3), metric="cosine")
