"""Jina's reduce of a join's inputs and of an ``ALL`` executor's shards (docarray v1's
``reduce_all``), in every mode (embedded, served, simulated): docs are merged by id, a
field empty in the first answer's doc is taken whole from the first later answer that has
it, matches and chunks are reduced the same way, by id; docs only in later answers are
appended."""

from __future__ import annotations

import numpy as np

from faasflow import Document, DocumentArray, Executor, Flow, requests
from faasflow.sharding import merge


class Text(Executor):
    @requests
    def run(self, docs, **kwargs):
        for doc in docs:
            doc.text = "exec1"


class TagsAndModality(Executor):
    @requests
    def run(self, docs, **kwargs):
        for doc in docs:
            doc.tags = {"a": "b"}
            doc.modality = "image"


class Embeds(Executor):
    @requests
    def run(self, docs, **kwargs):
        for doc in docs:
            doc.embedding = np.zeros(3)
            doc.tags = {"ignored": True}  # pod1's tags come first: not merged key by key


class Plain(Executor):
    @requests
    def run(self, docs, **kwargs):
        pass


class ShardsExecutor(Executor):
    """Jina's tests/integration/reduce ShardsExecutor, plus one match every shard returns."""

    @requests(on="/search")
    def search(self, docs, **kwargs):
        shard = self.runtime_args.shard_id
        for doc in docs:
            doc.matches.extend([Document(id=f"m-{shard}-{i}") for i in range(3)])
            doc.matches.append(Document(id="common", tags={"from": shard}) if shard else Document(id="common"))
            doc.chunks.extend([Document(id=f"c-{shard}-{i}") for i in range(3)])
            doc.text = f"shard-{shard}"
            if shard == 0:
                doc.scores["cosine"].value = 0
                doc.modality = "text"
            elif shard == 1:
                doc.modality = "image"
                doc.tags = {"c": "d"}
            elif shard == 2:
                doc.tags = {"a": "b"}


def test_reduce_needs(run_flow):
    flow = (Flow().add(uses=Text, name="pod0")
            .add(uses=TagsAndModality, needs="gateway", name="pod1")
            .add(uses=Embeds, needs="gateway", name="pod2")
            .add(uses=Plain, needs=["pod0", "pod1", "pod2"], name="pod3"))
    out = run_flow(flow, "/", DocumentArray(Document() for _ in range(5)))
    assert len(out) == 5
    for doc in out:
        assert doc.text == "exec1"
        assert doc.tags == {"a": "b"}
        assert doc.modality == "image"
        assert (doc.embedding == np.zeros(3)).all()


def test_reduce_shards_fills_empty_fields_in_shard_order(run_flow):
    flow = Flow().add(uses=ShardsExecutor, name="executor0", shards=3, polling="all")
    out = run_flow(flow, "/search", DocumentArray(Document() for _ in range(5)))
    assert len(out) == 5
    for doc in out:
        assert sorted(m.id for m in doc.matches) == sorted(
            ["common", *(f"m-{s}-{i}" for s in range(3) for i in range(3))])  # "common" reduced, once
        assert sorted(c.id for c in doc.chunks) == sorted(f"c-{s}-{i}" for s in range(3) for i in range(3))
        assert doc.text == "shard-0"
        assert doc.scores["cosine"].value == 0
        assert doc.modality == "text"
        assert doc.tags == {"c": "d"}  # the first shard that set tags: whole, not merged with shard 2's
        common = next(m for m in doc.matches if m.id == "common")
        assert common.tags == {"from": 1}  # the match is reduced too: its empty tags filled from shard 1


def test_docs_only_in_later_inputs_are_appended(run_flow):
    class Adds(Executor):
        @requests
        def run(self, docs, **kwargs):
            docs.append(Document(id="extra", text="new"))

    flow = (Flow().add(uses=Plain, name="a").add(uses=Adds, name="b", needs="gateway")
            .add(uses=Plain, name="join", needs=["a", "b"]))
    out = run_flow(flow, "/", DocumentArray([Document(id="x"), Document(id="y")]))
    assert out.ids == ["x", "y", "extra"]


def test_merge_takes_whole_fields_and_leaves_its_inputs_lists_alone():
    shared = Document(id="m")
    first = DocumentArray([Document(id="d", text="one", matches=[shared])])
    second = DocumentArray([Document(id="d", text="two", tags={"k": 1}, scores={"cosine": {"value": 0.5}},
                                     matches=[Document(id="m", text="filled"), Document(id="n")])])
    (doc,) = merge([first, second])
    assert doc.text == "one" and doc.tags == {"k": 1} and doc.scores["cosine"].value == 0.5
    assert [(m.id, m.text) for m in doc.matches] == [("m", "filled"), ("n", None)]
    assert shared.text is None  # the match that was reduced into is a copy


def test_a_content_field_taken_from_a_later_doc_replaces_the_text_as_in_docarray():
    """docarray v1 keeps text, blob and tensor exclusive: setting a blob empties the text."""
    (doc,) = merge([DocumentArray([Document(id="d", text="t")]), DocumentArray([Document(id="d", blob=b"b")])])
    assert doc.blob == b"b" and not doc.text


class PopsLimit(Executor):
    """Each shard adds one match, then takes ``limit`` out of the parameters it was given."""

    @requests
    def search(self, docs, parameters, **kwargs):
        shard = self.runtime_args.shard_id
        for doc in docs:
            doc.matches.append(Document(id=f"{doc.id}-{shard}", scores={"dist": float(shard)},
                                        tags={"saw_limit": parameters.get("limit")}))
        parameters.pop("limit", None)


def test_a_shards_edit_of_its_parameters_reaches_neither_its_siblings_nor_the_merge(run_flow):
    flow = Flow().add(uses=PopsLimit, name="db", shards=3, polling="ALL")
    out = run_flow(flow, "/search", DocumentArray([Document(id="q")]), parameters={"limit": 2})
    assert [m.id for m in out[0].matches] == ["q-0", "q-1"]  # the request's limit cut the merge
    assert [m.tags["saw_limit"] for m in out[0].matches] == [2, 2]
