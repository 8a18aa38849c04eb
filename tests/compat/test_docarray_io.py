"""docarray v1's serialization API (bytes, base64, dicts, JSON, files, pickle) on faasflow's
Document and DocumentArray, as docarray 0.21's own tests use it."""

from __future__ import annotations

import io
import json
import pickle

import numpy as np
import pytest

from faasflow import Document, DocumentArray

COMPRESSIONS = [None, "gzip", "bz2", "lzma", "zlib"]


def sample_docs(n: int = 10) -> DocumentArray:
    docs = DocumentArray()
    for i in range(n):
        doc = Document(id=f"d{i}", text=f"text {i}", embedding=np.arange(4, dtype=np.float32) + i,
                       tags={"i": i, "nested": {"k": [1, "two"]}})
        doc.chunks.append(Document(id=f"d{i}.c", tensor=np.ones((2, 2))))
        doc.scores["cosine"].value = i / 10
        docs.append(doc)
    return docs


@pytest.mark.parametrize("protocol", [None, "jsonschema", "pickle"])
@pytest.mark.parametrize("compress", COMPRESSIONS)
def test_document_bytes_and_base64_round_trip(protocol, compress):
    doc = sample_docs(1)[0]
    back = Document.from_bytes(doc.to_bytes(protocol=protocol, compress=compress), protocol=protocol,
                               compress=compress)
    assert back == doc and back.non_empty_fields == doc.non_empty_fields
    assert Document.from_base64(doc.to_base64(protocol, compress), protocol, compress) == doc


def test_document_default_bytes_stay_the_json_wire_form():
    doc = Document(id="a", text="hello")
    assert json.loads(doc.to_bytes()) == {"id": "a", "text": "hello"}
    assert bytes(doc) == doc.to_bytes()
    with pytest.raises(ValueError, match="look like a pickle"):
        Document.from_bytes(doc.to_bytes(protocol="pickle"))  # never unpickled unless asked


@pytest.mark.parametrize("protocol", ["protobuf", "protobuf-array", "bogus"])
def test_protobuf_and_unknown_protocols_are_refused_by_name(protocol):
    doc, docs = Document(), DocumentArray.empty(2)
    for call in (lambda: doc.to_bytes(protocol=protocol), lambda: Document.from_bytes(b"{}", protocol=protocol),
                 lambda: docs.to_bytes(protocol=protocol), lambda: DocumentArray.from_bytes(b"[]", protocol=protocol),
                 lambda: doc.to_dict(protocol=protocol), lambda: docs.to_json(protocol=protocol)):
        with pytest.raises(ValueError, match=f"protocol='{protocol}'.*supports"):
            call()


def test_unknown_and_missing_compressions_are_named():
    with pytest.raises(ValueError, match="gzib"):
        Document().to_bytes(compress="gzib")
    try:
        import lz4  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="'lz4' package"):
            Document().to_bytes(compress="lz4")


@pytest.mark.parametrize("to_fn", ["dict", "json"])
def test_dict_and_json_with_protocols(to_fn):
    for doc in [*sample_docs(3), *DocumentArray.empty(3)]:
        back = getattr(Document, f"from_{to_fn}")(getattr(doc, f"to_{to_fn}")(protocol="jsonschema"),
                                                  protocol="jsonschema")
        assert back == doc
    data = {"attr1": 123, "attr3": [1, 2, 3], "attr5": {"attr6": "a"}}
    for loaded in (Document.from_dict(dict(data), protocol=None), Document.from_json(json.dumps(data), protocol=None)):
        assert loaded.tags == data  # schemaless: unknown fields go to tags
    assert set(Document(text="t", tags={"a": 1}).to_dict(exclude={"tags"})) == {"id", "text"}


@pytest.mark.parametrize("protocol", [None, "pickle", "pickle-array"])
@pytest.mark.parametrize("compress", COMPRESSIONS)
def test_array_bytes_round_trip(protocol, compress):
    docs = sample_docs()
    _ = docs.embeddings  # a stacked embedding column exists; it is not pickled stale
    data = docs.to_bytes(protocol=protocol, compress=compress)
    back = DocumentArray.from_bytes(data, protocol=protocol, compress=compress)
    assert back == docs and type(back) is DocumentArray
    np.testing.assert_array_equal(back.embeddings, docs.embeddings)
    assert back["d3"].chunks[0].parent_id == "d3"
    assert DocumentArray.from_base64(docs.to_base64(protocol, compress), protocol, compress) == docs


def test_array_pickle_drops_caches_and_keeps_chunk_parents():
    docs = sample_docs(3)
    _ = docs.embeddings
    _ = docs["d1"]  # builds the id index
    back = pickle.loads(pickle.dumps(docs))
    assert back._column is None and back._index is None and back[0]._column is None
    back[0].embedding = np.zeros(4, dtype=np.float32)
    assert back.embeddings[0].tolist() == [0, 0, 0, 0] and docs.embeddings[0].tolist() == [0, 1, 2, 3]
    assert back[0].chunks.reference_doc is back[0]
    doc = pickle.loads(pickle.dumps(docs[2]))
    assert doc == docs[2] and doc._column is None


@pytest.mark.parametrize("protocol", [None, "pickle", "pickle-array"])
@pytest.mark.parametrize("compress", [None, "gzip"])
def test_save_and_load_binary_by_path_file_and_suffix(tmp_path, protocol, compress):
    docs = sample_docs(4)
    path = tmp_path / "docs.bin"
    docs.save_binary(path, protocol=protocol, compress=compress)
    assert DocumentArray.load_binary(path, protocol=protocol, compress=compress) == docs
    assert DocumentArray.load_binary(str(path), protocol=protocol, compress=compress) == docs
    with open(path, "wb") as fp:
        docs.save_binary(fp, protocol=protocol, compress=compress)
    with open(path, "rb") as fp:
        assert DocumentArray.load_binary(fp, protocol=protocol, compress=compress) == docs
    named = tmp_path / ("docs" + "".join(f".{p}" for p in (protocol, compress) if p))
    docs.save_binary(str(named))
    docs.save_binary(str(named), protocol=protocol, compress=compress)
    assert DocumentArray.load_binary(str(named)) == docs  # the suffixes name protocol and compression


@pytest.mark.parametrize("compress", [None, "zlib"])
def test_load_binary_streaming(tmp_path, compress):
    docs = DocumentArray([Document(text="aaa"), Document(text="bbb"), Document(text="ccc")])
    path = tmp_path / "stream"
    docs.save_binary(path, protocol="pickle", compress=compress)
    streamed = DocumentArray.load_binary(path, protocol="pickle", compress=compress, streaming=True)
    assert not isinstance(streamed, DocumentArray)
    assert list(streamed) == list(docs)


def test_load_binary_errors():
    with pytest.raises(FileNotFoundError):
        DocumentArray.load_binary("file_does_not_exists.bin")
    with pytest.raises(ValueError, match="protocol='pickle-array'"):
        DocumentArray.load_binary(DocumentArray.empty(2).to_bytes(protocol="pickle-array"))
    with pytest.raises(TypeError, match="not a DocumentArray"):
        DocumentArray.from_bytes(pickle.dumps({"a": 1}), protocol="pickle-array")
    assert len(DocumentArray.load_binary(bytes(DocumentArray.empty(2)))) == 2


@pytest.mark.parametrize("to_fn", ["dict", "json", "list"])
def test_array_dict_json_list(to_fn):
    docs = sample_docs(3)
    back = getattr(DocumentArray, f"from_{to_fn}")(getattr(docs, f"to_{to_fn}")(protocol="jsonschema"),
                                                   protocol="jsonschema")
    assert back == docs
    assert DocumentArray.from_list([{"foo": 1}], protocol=None)[0].tags == {"foo": 1}


@pytest.mark.parametrize("file_format", ["json", "binary"])
@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_save_and_load(tmp_path, file_format, encoding):
    docs = sample_docs(5)
    docs.insert(2, Document(id="new", text="naïve ✓"))
    path = tmp_path / "docs"
    docs.save(path, file_format=file_format, encoding=encoding)
    back = DocumentArray.load(path, file_format=file_format, encoding=encoding, config=None)
    assert back == docs and back[2].text == "naïve ✓"
    with pytest.raises(ValueError, match="csv"):
        docs.save(path, file_format="csv")


def test_save_and_load_json_with_file_objects():
    docs = sample_docs(2)
    buffer = io.StringIO()
    docs.save_json(buffer)
    buffer.seek(0)
    assert DocumentArray.load_json(buffer) == docs
