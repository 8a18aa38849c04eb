"""Unit tests for faasflow.codec: exact JSON round trips, wire format, malformed inputs."""

from __future__ import annotations

import base64
import json
import math
import pickle
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faasflow import BadInputError, Document, DocumentArray, NamedScore
from faasflow.codec import array_from_dict, array_to_dict, document_from_dict, dumps, loads
from faasflow.errors import FaasflowError


def assert_arrays_identical(a: np.ndarray | None, b: np.ndarray | None) -> None:
    if a is None or b is None:
        assert a is None and b is None
        return
    assert isinstance(b, np.ndarray)
    assert a.dtype == b.dtype
    assert a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def assert_docs_identical(a: Document, b: Document) -> None:
    for name in ("id", "text", "uri", "blob", "mime_type"):
        assert getattr(a, name) == getattr(b, name), name
    assert type(a.blob) is type(b.blob)
    assert_arrays_identical(a.tensor, b.tensor)
    assert_arrays_identical(a.embedding, b.embedding)
    assert a.tags == b.tags
    assert dict(a.scores) == dict(b.scores)
    assert len(a.matches) == len(b.matches)
    for x, y in zip(a.matches, b.matches):
        assert_docs_identical(x, y)
    assert len(a.chunks) == len(b.chunks)
    for x, y in zip(a.chunks, b.chunks):
        assert_docs_identical(x, y)


def round_trips(doc: Document) -> list[Document]:
    return [
        Document.from_json(doc.to_json()),
        Document.from_json(doc.to_json().encode()),
        Document.from_bytes(doc.to_bytes()),
        Document.from_dict(json.loads(doc.to_json())),
    ]


# --- arrays ---

DTYPES = [np.float32, np.float64, np.float16, np.int8, np.int32, np.int64, np.uint8, np.uint64, np.bool_, np.complex64]
SHAPES = [(), (0,), (1,), (7,), (2, 3), (3, 0), (2, 1, 4), (0, 5, 2)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_array_round_trip_is_exact(dtype, shape):
    rng = np.random.default_rng(3)
    array = np.asarray(rng.normal(size=shape) * 100).astype(dtype)
    assert_arrays_identical(array, array_from_dict(array_to_dict(array)))
    doc = Document(tensor=array, embedding=array)
    for back in round_trips(doc):
        assert_arrays_identical(array, back.tensor)
        assert_arrays_identical(array, back.embedding)


def test_zero_d_array_keeps_its_shape():
    encoded = array_to_dict(np.array(3.5))
    assert encoded["shape"] == []
    back = array_from_dict(encoded)
    assert back.shape == () and back[()] == 3.5


def test_special_float_values_round_trip():
    array = np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324, np.finfo(np.float64).max])
    back = Document.from_json(Document(embedding=array).to_json()).embedding
    assert_arrays_identical(array, back)


def test_non_contiguous_and_big_endian_arrays_round_trip():
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    for array in (base.T, base[::2, 1::2], base.astype(">f4"), base.astype(">i8")):
        back = array_from_dict(array_to_dict(array))
        assert back.shape == array.shape
        assert back.dtype == array.dtype
        np.testing.assert_array_equal(back, array)


def test_decoded_arrays_are_writable_and_own_their_memory():
    back = array_from_dict(array_to_dict(np.arange(4, dtype=np.float32)))
    back[0] = 9.0  # frombuffer alone would give a read-only array
    assert back.flags.writeable


def test_object_arrays_are_refused():
    with pytest.raises(BadInputError, match="object"):
        array_to_dict(np.array([{"a": 1}], dtype=object))
    payload = {"dtype": "|O", "shape": [1], "data": base64.b64encode(b"\x00" * 8).decode()}
    with pytest.raises(BadInputError):
        array_from_dict(payload)


def test_array_wire_format_is_dtype_shape_and_base64():
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    data = json.loads(Document(id="a", embedding=array).to_json())
    encoded = data["embedding"]
    assert set(encoded) == {"dtype", "shape", "data"}
    assert encoded["dtype"] == "<f4"
    assert encoded["shape"] == [2, 3]
    assert base64.b64decode(encoded["data"]) == array.tobytes()


# --- documents ---


def full_document() -> Document:
    doc = Document(
        id="root",
        text="héllo ✓ \"quoted\" \n newline",
        uri="file:///tmp/x.txt",
        mime_type="text/plain",
        blob=bytes(range(256)),
        tensor=np.arange(12, dtype=np.int16).reshape(3, 4),
        embedding=np.linspace(-1, 1, 7, dtype=np.float32),
        tags={
            "lang": "日本語",
            "n": 3,
            "f": 0.1,
            "big": 2**62,
            "neg": -7,
            "flag": True,
            "none": None,
            "nested": {"list": [1, "two", [3.5, {"deep": "✓"}]], "empty": {}},
            "emoji 🚀": ["🙂"],
        },
        scores={"cosine": 0.123456789, "bm25": {"value": 12.5, "op_name": "bm25", "description": "lexical"}},
    )
    doc.scores["none"] = NamedScore()  # a score whose value was never set
    match = Document(id="m1", text="match", scores={"cosine": 0.5}, embedding=np.ones(3))
    match.matches.append(Document(id="m1.m", tags={"depth": 2}))
    match.chunks.append(Document(id="m1.c", blob=b""))
    doc.matches = [match, Document(id="m2")]
    doc.chunks = [Document(id="c1", text="chunk", chunks=[Document(id="c1.c", tensor=np.zeros((2, 0)))])]
    return doc


def test_full_document_round_trip_is_exact():
    doc = full_document()
    for back in round_trips(doc):
        assert_docs_identical(doc, back)
    back = Document.from_json(doc.to_json())
    assert back.scores["none"].value == 0.0  # never set: reads 0.0 (docarray v1)
    assert back.scores["none"].to_dict() == {} and "value" not in doc.to_dict()["scores"]["none"]


def test_document_array_round_trip_is_exact():
    da = DocumentArray([full_document(), Document(id="plain"), Document(text="only text")])
    for back in (
        DocumentArray.from_json(da.to_json()),
        DocumentArray.from_bytes(da.to_bytes()),
        DocumentArray.from_list(json.loads(da.to_json())),
    ):
        assert isinstance(back, DocumentArray)
        assert back.ids == da.ids
        for a, b in zip(da, back):
            assert_docs_identical(a, b)
        assert back["plain"] is back[1]  # id lookup works on a decoded array
    assert DocumentArray.from_json(DocumentArray().to_json()).ids == []


def test_empty_fields_are_left_out():
    assert Document(id="x").to_dict() == {"id": "x"}
    assert Document(id="x", text="t").to_dict() == {"id": "x", "text": "t"}
    assert json.loads(Document(id="x", text="").to_json()) == {"id": "x", "text": ""}  # "" is not None


def test_json_is_compact():
    doc = Document(id="c", text="abc", tags={"a": [1, 2], "b": {"c": 1}}, embedding=np.ones(2))
    text = doc.to_json()
    assert "\n" not in text
    assert ", " not in text and ": " not in text
    assert text == json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)


def test_unicode_is_utf8_not_escaped():
    data = Document(id="u", text="日本語").to_bytes()
    assert "日本語".encode() in data


def test_decoding_never_unpickles(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle must not be used")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(np, "load", refuse)
    doc = full_document()
    assert_docs_identical(doc, Document.from_json(doc.to_json()))
    assert b"\x80\x04" not in doc.to_bytes()  # no pickle protocol header anywhere


def test_numpy_values_in_tags_become_plain_json():
    doc = Document(id="n", tags={"f": np.float32(1.5), "i": np.int64(3), "a": np.arange(3), "b": b"\x01\x02"})
    back = Document.from_json(doc.to_json())
    assert back.tags == {"f": 1.5, "i": 3, "a": [0, 1, 2], "b": base64.b64encode(b"\x01\x02").decode()}


def test_tags_with_unserialisable_values_fail_on_encode():
    with pytest.raises(TypeError):
        Document(tags={"x": object()}).to_json()


def test_embedding_as_plain_list_is_accepted():
    doc = Document.from_dict({"id": "l", "embedding": [1, 2.5, 3]})
    assert doc.embedding.dtype == np.float32
    np.testing.assert_array_equal(doc.embedding, [1.0, 2.5, 3.0])


def test_missing_id_gets_a_fresh_one():
    doc = Document.from_dict({"text": "no id"})
    assert len(doc.id) == 32
    assert Document.from_dict({"id": 7}).id == "7"


# --- malformed inputs ---

MALFORMED = [
    ({"id": "d1", "blob": "!!!not base64"}, ["d1", "blob"]),
    ({"id": "d1", "blob": 12}, ["d1", "blob", "str"]),
    ({"id": "d1", "embedding": {"dtype": "<f4", "shape": [1], "data": "@@@@"}}, ["d1", "embedding"]),
    ({"id": "d1", "embedding": {"dtype": "<f4", "shape": [3], "data": "AAAAAAAAAAA="}}, ["d1", "embedding"]),
    ({"id": "d1", "tensor": {"dtype": "not-a-dtype", "shape": [1], "data": "AAAAAA=="}}, ["d1", "tensor"]),
    ({"id": "d1", "tensor": {"shape": [1], "data": "AAAAAA=="}}, ["d1", "tensor"]),
    ({"id": "d1", "tensor": "abc"}, ["d1", "tensor"]),
    ({"id": "d1", "embedding": ["a", "b"]}, ["d1", "embedding"]),
    ({"id": "d1", "embedding": [[1, 2], [3]]}, ["d1", "embedding"]),
    ({"id": "d1", "text": 5}, ["d1", "text", "str"]),
    ({"id": "d1", "uri": ["x"]}, ["d1", "uri"]),
    ({"id": "d1", "mime_type": 1}, ["d1", "mime_type"]),
    ({"id": "d1", "tags": [1, 2]}, ["d1", "tags", "dict"]),
    ({"id": "d1", "scores": [1]}, ["d1", "scores"]),
    ({"id": "d1", "scores": {"s": "high"}}, ["d1", "'s'"]),
    ({"id": "d1", "scores": {"s": {"value": "high"}}}, ["d1", "'s'"]),
    ({"id": "d1", "matches": {"id": "m"}}, ["d1", "matches", "list"]),
    ({"id": "d1", "matches": [5]}, ["d1", "JSON object"]),
    ({"id": "d1", "chunks": [{"id": "c9", "text": 1}]}, ["d1", "c9", "text"]),
    ({"id": "d1", "colour": "red"}, ["d1", "colour"]),
    ({"id": ["not", "a", "string"]}, ["id"]),
    ({"id": {"a": 1}}, ["id"]),
]


@pytest.mark.parametrize(("payload", "fragments"), MALFORMED)
def test_malformed_documents_are_bad_input_naming_field_and_id(payload, fragments):
    with pytest.raises(BadInputError) as info:
        document_from_dict(payload)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    with pytest.raises(BadInputError):
        Document.from_json(json.dumps(payload))


def test_bad_input_error_is_a_faasflow_type_error():
    assert issubclass(BadInputError, FaasflowError)
    assert issubclass(BadInputError, TypeError)


@pytest.mark.parametrize("data", [b"{not json", b"", b"[1, 2", b"\xff\xfe", "{\"id\": }"])
def test_malformed_json_is_bad_input(data):
    with pytest.raises(BadInputError, match="malformed JSON"):
        Document.from_json(data)
    with pytest.raises(BadInputError, match="malformed JSON"):
        DocumentArray.from_json(data)
    with pytest.raises(BadInputError):
        loads(data)


@pytest.mark.parametrize("payload", ['{"id": "x"}', "3", '"text"', "null"])
def test_document_array_needs_a_json_list(payload):
    with pytest.raises(BadInputError, match="JSON list"):
        DocumentArray.from_json(payload)


@pytest.mark.parametrize("payload", ["[]", "[1]", '"x"', "null"])
def test_document_needs_a_json_object(payload):
    with pytest.raises(BadInputError, match="JSON object"):
        Document.from_json(payload)


def test_document_array_with_a_bad_item_names_the_document():
    payload = json.dumps([{"id": "good"}, {"id": "bad-one", "text": 1}])
    with pytest.raises(BadInputError, match="bad-one"):
        DocumentArray.from_json(payload)
    with pytest.raises(BadInputError, match="JSON object"):
        DocumentArray.from_json("[{\"id\": \"ok\"}, 5]")


# --- dumps / loads ---


def test_dumps_and_loads():
    assert dumps({"a": [1, 2.5, None, "x"]}) == b'{"a":[1,2.5,null,"x"]}'
    assert loads('{"a":1}') == {"a": 1}
    assert loads(b"[true]") == [True]
    assert dumps({"v": np.arange(3, dtype=np.int32)}) == b'{"v":[0,1,2]}'


# --- property ---

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    doc_id=st.text(min_size=0, max_size=40),
    text=st.none() | st.text(),
    tags=st.dictionaries(st.text(max_size=12), json_values, max_size=6),
    score=st.floats(allow_nan=False, allow_infinity=False),
)
def test_round_trip_property(doc_id, text, tags, score):
    doc = Document(id=doc_id, text=text, tags=tags, scores={"s": score})
    back = Document.from_json(doc.to_json())
    assert back.id == doc_id
    assert back.text == text
    assert back.tags == tags
    assert back.scores["s"].value == score
    assert math.copysign(1.0, back.scores["s"].value) == math.copysign(1.0, score)
    again = DocumentArray.from_bytes(DocumentArray([doc, back]).to_bytes())
    assert again.ids == [doc_id, doc_id]
    assert again[1].tags == tags


def test_score_text_fields_must_be_strings():
    with pytest.raises(BadInputError, match="op_name must be a string"):
        Document.from_dict({"id": "a", "scores": {"k": {"value": 0.5, "op_name": ["x"]}}})
    with pytest.raises(BadInputError, match="description must be a string"):
        Document.from_dict({"id": "a", "scores": {"k": {"value": 0.5, "description": {"x": 1}}}})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({1, 2}, "tags.x: a value of type set cannot be sent"),
        (float("nan"), "tags.x: nan is not a JSON number"),
        ([0, {"deep": float("inf")}], "tags.x[1].deep: inf is not a JSON number"),
        (2**64, f"tags.x: integer {2**64} is outside the 64-bit range"),
        ({3: "a"}, "tags.x: key 3 is not a string"),
        (np.array([1 + 2j]), "tags.x: a numpy array of dtype complex128 cannot be sent as JSON"),
        (np.array([np.nan], dtype=np.float32), "tags.x: a numpy array of dtype float32 holds NaN or infinities"),
        (np.longdouble(1), "tags.x: a numpy float128 cannot be sent as JSON"),
    ],
)
def test_a_tag_no_mode_can_carry_is_refused_naming_the_doc_and_path(value, message):
    with pytest.raises(BadInputError, match=f"^document 'd' {re.escape(message)}"):
        Document(id="d", tags={"x": value}).to_json()


def test_tags_nested_past_the_limit_are_refused_at_the_level_that_is_too_deep():
    from faasflow.wire import MAX_TAG_DEPTH

    nested: dict = {}
    inner = nested
    for _ in range(MAX_TAG_DEPTH + 1):
        inner["n"] = {}
        inner = inner["n"]
    with pytest.raises(BadInputError, match=f"nested deeper than {MAX_TAG_DEPTH} levels"):
        Document(id="d", tags=nested).to_json()


def test_wire_form_keeps_plain_tags_as_they_are_and_converts_the_rest():
    from faasflow.codec import wire_form

    plain = {"a": [1, 2.5, "x", None, True], "b": {"c": []}}
    assert wire_form(plain, "tags") is plain  # the hot path copies nothing
    converted = wire_form({"f": np.float32(0.1), "t": (1, 2), "big": np.arange(2, dtype=">i4")}, "tags")
    assert converted == {"f": 0.1, "t": [1, 2], "big": [0, 1]}  # a float32 as its shortest text, as sent


def test_a_flow_refuses_inputs_and_parameters_no_mode_can_carry_and_leaves_them_unchanged():
    from faasflow import Executor, Flow, requests

    class Echo(Executor):
        @requests
        def run(self, docs, **kwargs):
            return None

    docs = DocumentArray([Document(id="ok"), Document(id="bad", tags={"seen": {"a"}})])
    with Flow().add(uses=Echo, name="echo") as flow:
        with pytest.raises(BadInputError, match=r"document 'bad' tags.seen: a value of type set"):
            flow.post("/x", docs)
        with pytest.raises(BadInputError, match=r"parameters.ids: a value of type set"):
            flow.post("/x", Document(id="ok"), parameters={"ids": {"a"}})
        answer = flow.post("/x", Document(id="n", tags={"n": np.int64(2)}), parameters={"k": np.int64(1)})
    assert docs[1].tags == {"seen": {"a"}}  # the caller's own objects are not touched
    assert answer[0].tags == {"n": 2} and type(answer[0].tags["n"]) is int
