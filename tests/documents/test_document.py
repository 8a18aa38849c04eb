"""Unit tests for faasflow.document (Document, NamedScore, ScoreMap) and faasflow.uris."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from faasflow import Document, DocumentArray, NamedScore
from faasflow.document import FIELDS, ScoreMap

# --- ids ---


def test_generated_id_is_32_random_hex_digits():  # docarray v1: os.urandom(16).hex()
    doc = Document()
    assert isinstance(doc.id, str)
    assert len(doc.id) == 32
    assert uuid.UUID(hex=doc.id).hex == doc.id  # lowercase hex, no dashes


def test_generated_ids_are_unique():
    ids = {Document().id for _ in range(2000)}
    assert len(ids) == 2000


def test_given_id_is_kept():
    assert Document(id="my-doc").id == "my-doc"
    assert Document(id="").id == ""  # an empty id is an id, not "no id"


def test_non_string_id_becomes_string():
    assert Document(id=42).id == "42"


# --- fields ---


def test_defaults_are_empty():
    doc = Document()
    for name in ("text", "uri", "blob", "tensor", "embedding", "mime_type"):
        assert getattr(doc, name) is None, name
    assert doc.tags == {}
    assert len(doc.scores) == 0
    assert isinstance(doc.matches, DocumentArray) and len(doc.matches) == 0
    assert isinstance(doc.chunks, DocumentArray) and len(doc.chunks) == 0
    assert doc.content is None


def test_all_fields_are_stored():
    tensor = np.arange(6, dtype=np.int32).reshape(2, 3)
    embedding = np.array([0.5, -1.0], dtype=np.float32)
    match, chunk = Document(id="m"), Document(id="c")
    doc = Document(
        id="d",
        uri="/tmp/x.txt",
        tensor=tensor,
        embedding=embedding,
        tags={"lang": "en", "n": 3},
        scores={"cosine": 0.25},
        matches=[match],
        chunks=[chunk],
        mime_type="text/plain",
    )
    assert doc.id == "d"
    assert doc.uri == "/tmp/x.txt"
    assert doc.tensor is tensor
    assert doc.embedding is embedding
    assert doc.tags == {"lang": "en", "n": 3}
    assert doc.scores["cosine"].value == 0.25
    assert doc.matches[0] is match and len(doc.matches) == 1
    assert doc.chunks[0] is chunk and len(doc.chunks) == 1
    assert doc.mime_type == "text/plain"
    assert set(FIELDS) == {
        "id", "text", "uri", "blob", "tensor", "embedding", "tags", "scores", "matches", "chunks", "mime_type",
        "parent_id", "granularity", "adjacency", "weight", "offset", "location", "modality", "evaluations",
    }


def test_tags_are_copied_from_the_argument():
    tags = {"a": 1}
    doc = Document(tags=tags)
    doc.tags["b"] = 2
    assert tags == {"a": 1}


def test_list_arrays_become_numpy():
    doc = Document(tensor=[[1, 2], [3, 4]], embedding=(0.5, 1.5))
    assert isinstance(doc.tensor, np.ndarray) and doc.tensor.shape == (2, 2)
    assert isinstance(doc.embedding, np.ndarray)
    np.testing.assert_array_equal(doc.embedding, [0.5, 1.5])
    doc.embedding = [1, 2, 3]
    assert isinstance(doc.embedding, np.ndarray) and doc.embedding.shape == (3,)


@pytest.mark.parametrize("field", ["tensor", "embedding"])
def test_non_array_values_are_rejected(field):
    with pytest.raises(TypeError, match=field):
        Document(**{field: "not an array"})


def test_embedding_can_be_cleared():
    doc = Document(embedding=[1.0, 2.0])
    doc.embedding = None
    assert doc.embedding is None


def test_matches_and_chunks_accept_iterables_and_reject_non_documents():
    doc = Document(matches=(Document(id=str(i)) for i in range(3)))
    assert doc.matches.ids == ["0", "1", "2"]
    doc.chunks = [Document(id="c")]
    assert doc.chunks.ids == ["c"]
    da = DocumentArray([Document(id="x")])
    doc.matches = da
    assert doc.matches.ids == ["x"] and doc.matches[0] is da[0]  # the same documents, as matches
    assert doc.matches.reference_doc is doc and da[0].adjacency == 1  # docarray v1's MatchArray
    assert doc.matches is doc.matches
    doc.matches = None
    assert len(doc.matches) == 0
    with pytest.raises(TypeError):
        Document(matches=["not a document"])


def test_content_is_exclusive_last_of_text_blob_tensor_wins():  # docarray v1
    assert Document(text="t", blob=b"b").content == b"b"
    assert Document(blob=b"b", tensor=np.zeros(2)).content_type == "tensor"
    tensor = np.zeros(2)
    assert Document(tensor=tensor).content is tensor


# --- scores ---


def test_missing_score_is_created_on_access():
    doc = Document()
    score = doc.scores["jaccard"]
    assert isinstance(score, NamedScore)
    assert score.value == 0.0  # never set: 0.0, as docarray v1 (protobuf's default)
    assert doc.to_dict()["scores"] == {"jaccard": {}}  # and still unset on the wire
    doc.scores["hits"].value += 1
    assert doc.scores["hits"].value == 1.0
    del doc.scores["hits"]
    doc.scores["jaccard"].value = 0.5
    assert doc.scores["jaccard"].value == 0.5
    assert "jaccard" in doc.scores
    assert list(doc.scores) == ["jaccard"]


def test_assigning_numbers_and_dicts_coerces_to_named_score():
    doc = Document()
    doc.scores["a"] = 1
    doc.scores["b"] = np.float32(0.5)
    doc.scores["c"] = {"value": 0.75, "op_name": "cosine", "description": "why"}
    doc.scores["d"] = NamedScore(2.0)
    for name in "abcd":
        assert isinstance(doc.scores[name], NamedScore)
    assert doc.scores["a"].value == 1.0 and type(doc.scores["a"].value) is float
    assert doc.scores["b"].value == 0.5 and type(doc.scores["b"].value) is float
    assert doc.scores["c"] == NamedScore(0.75, op_name="cosine", description="why")
    assert doc.scores["d"].value == 2.0


def test_scores_reject_other_types():
    doc = Document()
    with pytest.raises(TypeError, match="score"):
        doc.scores["a"] = "high"
    with pytest.raises(TypeError):
        doc.scores["a"] = {"not_a_field": 1}


def test_scores_in_constructor_and_setter_are_coerced():
    doc = Document(scores={"a": 0.1, "b": {"value": 0.2}})
    assert doc.scores["a"] == NamedScore(0.1)
    assert doc.scores["b"] == NamedScore(0.2)
    doc.scores = {"c": 3}
    assert isinstance(doc.scores, ScoreMap)
    assert list(doc.scores) == ["c"]
    assert doc.scores["c"].value == 3.0
    doc.scores = None
    assert len(doc.scores) == 0


def test_named_score_to_dict_and_equality():
    assert NamedScore(0.5).to_dict() == {"value": 0.5}
    assert NamedScore(0.5, "cos", "d").to_dict() == {"value": 0.5, "op_name": "cos", "description": "d"}
    assert NamedScore(0.5) != NamedScore(0.6)
    assert NamedScore(0.5, "a") != NamedScore(0.5, "b")
    with pytest.raises(TypeError):
        hash(NamedScore(0.5))


# --- copy ---


def test_copy_is_independent_for_tags_scores_matches_and_chunks():
    emb = np.array([1.0, 2.0], dtype=np.float32)
    tensor = np.zeros((2, 2))
    original = Document(
        id="o",
        embedding=emb,
        tensor=tensor,
        tags={"k": "v"},
        scores={"s": 1.0},
        matches=[Document(id="m1")],
        chunks=[Document(id="c1")],
    )
    copy = original.copy()
    assert copy is not original
    assert copy.id == "o" and copy.tensor is tensor

    copy.tags["k"] = "changed"
    copy.tags["new"] = 1
    copy.scores["s"].value = 99.0
    copy.scores["other"] = 2.0
    copy.matches.append(Document(id="m2"))
    copy.chunks.append(Document(id="c2"))

    assert original.tags == {"k": "v"}
    assert original.scores["s"].value == 1.0
    assert "other" not in original.scores
    assert original.matches.ids == ["m1"]
    assert original.chunks.ids == ["c1"]

    # arrays are shared, not copied
    assert copy.embedding is original.embedding
    assert copy.tensor is original.tensor


def test_copy_of_empty_document_creates_fresh_containers():
    original = Document()
    copy = original.copy()
    copy.matches.append(Document())
    copy.scores["x"].value = 1.0
    assert len(original.matches) == 0
    assert "x" not in original.scores


def test_document_from_document_shares_or_copies():
    original = Document(id="o", tags={"a": 1})
    shared = Document(original)
    assert shared.id == "o"
    assert shared.tags is original.tags  # like docarray v1: the data is shared without copy=True
    copied = Document(original, copy=True)
    copied.tags["a"] = 2
    assert original.tags == {"a": 1}


# --- get_path ---


def test_get_path_scores_and_tags():
    doc = Document(id="d", text="hi", tags={"x": 5, "nested": {"y": [1, 2]}})
    doc.scores["jaccard"].value = 0.125
    assert doc.get_path("scores__jaccard__value") == 0.125
    assert doc.get_path("tags__x") == 5
    assert doc.get_path("tags__nested__y") == [1, 2]
    assert doc.get_path("text") == "hi"
    assert doc.get_path("id") == "d"


def test_get_path_errors_name_the_path():
    doc = Document(id="d1")
    with pytest.raises(AttributeError, match="d1.*no_such_field"):
        doc.get_path("no_such_field")
    assert doc.get_path("tags__missing") is None  # docarray v1's dunder_get: a missing key is None


# --- Document(dict) ---


def test_document_from_dict_of_fields():
    doc = Document({"id": "x", "text": "hello", "tags": {"a": 1}, "embedding": [1.0, 2.0]})
    assert doc.id == "x"
    assert doc.text == "hello"
    assert doc.tags == {"a": 1}
    np.testing.assert_array_equal(doc.embedding, [1.0, 2.0])


def test_unknown_dict_field_goes_to_tags():  # docarray v1
    assert Document({"text": "x", "colour": "red"}).tags == {"colour": "red"}


def test_unknown_keyword_goes_to_tags_or_raises_when_asked():  # docarray v1
    assert Document(colour="red").tags == {"colour": "red"}
    with pytest.raises(AttributeError, match="colour"):
        Document(colour="red", unknown_fields_handler="raise")


def test_document_from_other_types_is_an_error():
    with pytest.raises(TypeError, match="int"):
        Document(42)  # type: ignore[arg-type]


# --- uris ---


def test_load_uri_to_text_local_path(tmp_path):
    path = tmp_path / "hello.txt"
    path.write_text("héllo wörld ✓", encoding="utf-8")
    doc = Document(uri=str(path))
    assert doc.load_uri_to_text() is doc
    assert doc.text == "héllo wörld ✓"


def test_load_uri_to_text_file_uri(tmp_path):
    path = tmp_path / "with space%.txt"
    path.write_text("from a file uri", encoding="utf-8")
    uri = path.as_uri()
    assert uri.startswith("file://") and "%20" in uri
    doc = Document(uri=uri).load_uri_to_text()
    assert doc.text == "from a file uri"


def test_load_uri_to_text_encoding(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("café".encode("latin-1"))
    assert Document(uri=str(path)).load_uri_to_text(encoding="latin-1").text == "café"


def test_load_uri_to_blob(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)))
    assert Document(uri=str(path)).load_uri_to_blob().blob == bytes(range(256))


@pytest.mark.parametrize("uri", ["http://example.com/a.txt", "https://example.com/a.txt", "s3://bucket/key"])
def test_load_uri_remote_is_a_clear_error(uri):
    with pytest.raises(ValueError, match="only local paths, file:// and data: URIs"):
        Document(uri=uri).load_uri_to_text()


def test_load_uri_missing_file_names_the_uri(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(ValueError, match="nope.txt"):
        Document(uri=str(missing)).load_uri_to_text()
    with pytest.raises(ValueError, match="nope.txt"):
        Document(uri=missing.as_uri()).load_uri_to_text()


def test_load_uri_without_uri_is_an_error():
    with pytest.raises(ValueError, match="no uri"):
        Document().load_uri_to_text()


# --- helpers ---


def test_embed_feature_hashing_sets_embedding():
    doc = Document(text="a b c")
    assert doc.embed_feature_hashing(n_dim=32) is doc
    assert doc.embedding.shape == (32,)
    assert doc.embedding.dtype == np.float32
    assert np.count_nonzero(doc.embedding) > 0


def test_repr_shows_the_main_fields():
    doc = Document(id="r", text="x" * 100, embedding=np.zeros(3, dtype=np.float32), tags={"a": 1})
    doc.scores["s"] = 0.5
    text = repr(doc)
    assert "id='r'" in text
    assert "..." in text and "x" * 100 not in text
    assert "embedding=<float32 (3,)>" in text
    assert "'s': 0.5" in text


def test_reading_a_missing_score_path_does_not_create_it():
    doc = Document()
    assert doc.get_path("scores__missing__value") is None
    assert "missing" not in doc.scores


def test_copy_constructor_takes_extra_fields():  # docarray v1
    original = Document(id="o", tags={"a": 1})
    doc = Document(original, text="x", tags={"b": 2})
    assert doc.id == "o" and doc.text == "x" and doc.tags == {"a": 1, "b": 2}
