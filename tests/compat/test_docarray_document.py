"""docarray v1 (0.21) Document behaviour, written from what docarray's own unit tests assert."""

from __future__ import annotations

import random

import numpy as np
import pytest

from faasflow import Document, DocumentArray, NamedScore
from faasflow.codec import document_from_dict, document_to_dict
from faasflow.errors import BadInputError


@pytest.mark.parametrize("init", [None, {"id": 123}, Document()])
@pytest.mark.parametrize("copy", [True, False])
def test_positional_object_and_copy_flag(init, copy):
    doc = Document(init, copy)
    if isinstance(init, Document):
        assert doc.id == init.id


def test_value_equality_and_hash_follow_the_fields():
    a, b = Document(text="hello"), Document(text="hello")
    assert a != b and hash(a) != hash(b)
    b.id = a.id
    assert a == b and hash(a) == hash(b)
    c = Document(id="1", text="x", embedding=np.array([1, 2, 3]))
    assert c == Document(id="1", text="x", embedding=np.array([1, 2, 3]))
    assert c != Document(id="1", text="x", embedding=np.array([1, 2, 4]))
    assert c != Document(id="1", text="x")
    assert Document(id="1", text="x") != Document(id="1", text="x", embedding=np.array([1, 2, 4]))


def test_dict_and_keyword_construction_are_equal():
    fields = dict(uri="https://example.org", mime_type="text/plain", granularity=1, adjacency=3)
    a, b = Document(**fields), Document(fields)
    a.id = b.id = None  # type: ignore[assignment]
    assert a == b


def test_unknown_fields_go_to_tags_are_dropped_or_raise():
    assert Document(hello="world").tags == {"hello": "world"}
    assert Document(hello="world", unknown_fields_handler="drop").tags == {}
    with pytest.raises(AttributeError):
        Document(hello="world", unknown_fields_handler="raise")
    assert Document({"a": 1}, field_resolver={"a": "text"}).text == 1


def test_text_blob_tensor_are_exclusive():
    doc = Document(text="hello")
    assert doc.content_type == "text"
    doc.blob = b"123"
    assert doc.blob == b"123" and doc.text is None and doc.content_type == "blob"
    doc.tensor = np.array([1, 2, 3])
    assert doc.blob is None and doc.content_type == "tensor"
    doc.text = "again"  # text is a plain (fast) attribute: it does not clear the others, but wins
    assert doc.content_type == "text" and doc.content == "again"
    doc.content = "via content"  # the content setter clears the others, as v1
    assert doc.tensor is None and doc.blob is None


def test_content_setter_is_a_proxy():
    doc = Document(content="hello")
    assert doc.content == "hello" and doc.non_empty_fields == ("id", "text")
    doc.content = [1, 2, 3]
    assert "tensor" in doc.non_empty_fields and "text" not in doc.non_empty_fields
    assert Document(content=b"x").content_type == "blob"
    doc.content = None
    assert doc.content is None and doc.content_type is None


def test_non_empty_fields_pop_and_clear():
    doc = Document(text="hello", embedding=np.array([1, 2, 3]), id=1)
    assert doc.non_empty_fields == ("id", "text", "embedding")
    doc.pop("text")
    assert doc.non_empty_fields == ("id", "embedding")
    doc.pop("id", "embedding", "no_such_field")
    assert doc.non_empty_fields == ()
    other = Document(text="x", tags={"a": 1}, weight=2.0)
    other.clear()
    assert other.non_empty_fields == ()


def test_rare_fields_default_and_set():
    doc = Document()
    defaults = (doc.parent_id, doc.granularity, doc.adjacency, doc.weight, doc.offset, doc.modality)
    assert defaults == ("", 0, 0, 0.0, 0.0, "")
    assert doc.location == []
    assert Document(offset=1.0).offset == 1.0
    doc.weight = 0.5
    doc.location.append(1.5)
    assert doc.weight == 0.5 and doc.location == [1.5]
    assert doc.non_empty_fields == ("id", "weight", "location")


def test_chunks_get_parent_id_and_granularity():
    doc = Document(id="d0", chunks=[Document(id="c0")])
    assert doc.chunks[0].parent_id == "d0" and doc.chunks[0].granularity == 1


def test_mime_type_from_uri_and_from_extension():
    assert Document(uri="photo.jpg").mime_type == "image/jpeg"
    assert Document(uri="photo.jpg", mime_type="text/plain").mime_type == "text/plain"
    for given in ("jpg", "jpeg", ".jpg"):
        doc = Document()
        doc.mime_type = given
        assert doc.mime_type == "image/jpeg"
    doc = Document()
    doc.uri = "notes.txt"
    assert doc.mime_type == "text/plain"


def test_get_attributes_with_paths():
    doc = Document(id="123", text="document", feature1=121, tags={"c": "d", "e": [0, 1, {"f": "g"}]})
    doc.scores["metric"] = NamedScore(value=42)
    assert doc._get_attributes("id", "tags__feature1", "scores__metric__value", "tags__e__2__f", "tags__nope") == [
        "123", 121, 42, "g", None]
    assert doc._get_attributes("text") == "document"


def test_named_score_forms():
    assert str(NamedScore(value=0.3)) == str({"value": 0.3})
    assert str(NamedScore(value=None)) == str({})
    for init in (None, {"value": 123, "description": "hello"}, NamedScore()):
        for copy in (True, False):
            NamedScore(init, copy)


def test_ids_ignore_the_random_seed():
    ids = set()
    for _ in range(10):
        random.seed(0)
        np.random.seed(0)
        ids.add(Document().id)
    assert len(ids) == 10


def test_load_uri_to_text_with_charset(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("café".encode("latin-1"))
    assert Document(uri=str(path)).load_uri_to_text(charset="latin-1").text == "café"
    assert Document(uri="data:text/plain;base64,aGk=").load_uri_to_text().text == "hi"


def test_new_fields_travel_on_the_wire():
    doc = Document(id="d", parent_id="p", granularity=2, adjacency=1, weight=0.5, offset=3.0, modality="image",
                   location=[1.0, 2.0])
    doc.evaluations["precision"] = 0.75
    data = document_to_dict(doc)
    names = {"parent_id", "granularity", "adjacency", "weight", "offset", "modality", "location", "evaluations"}
    assert names <= set(data)
    back = document_from_dict(data)
    assert back == doc and back.evaluations["precision"].value == 0.75
    assert set(document_to_dict(Document(id="x"))) == {"id"}  # defaults are left out


@pytest.mark.parametrize("field,value", [("granularity", "1"), ("weight", "heavy"), ("parent_id", 3),
                                         ("modality", 1), ("location", [1, "a"]), ("evaluations", [1])])
def test_wrong_wire_types_name_the_field(field, value):
    with pytest.raises(BadInputError, match=field if field != "location" else "location"):
        document_from_dict({"id": "d", field: value})


def test_document_match_sugar():
    index = DocumentArray(Document(id=str(i), embedding=np.array([i, 1.0])) for i in range(5))
    query = Document(embedding=np.array([3.0, 1.0])).match(index, metric="euclidean", limit=2)
    assert query.matches.ids == ["3", "2"] or query.matches.ids == ["3", "4"]
