"""``faasflow cost --sample``: each endpoint run hop by hop on the sample, its times, bytes,
claim checks and shard state requests measured; an executor that fails on the sample
leaves that endpoint assumed, saying why."""

from __future__ import annotations

import json
from pathlib import Path

from faasflow import Document
from faasflow.cli import main
from faasflow.cost.measure import StateCounts, counting_storage, requests_of
from faasflow.storage.local import LocalStorage
from tests.support import wrap_executors
from tests.support.side_by_side import project_of

ROOT = Path(__file__).resolve().parents[2]
FLOW = str(ROOT / "orchestrator" / "flow.yml")
WORDS = "the quick brown fox jumps over a lazy dog near old river bank at dawn".split()


def write_sample(path: Path, count: int) -> Path:
    with path.open("w") as out:
        for number in range(count):
            text = " ".join(WORDS[(number + k) % len(WORDS)] for k in range(12))
            out.write(json.dumps({"id": f"doc-{number}", "text": text}) + "\n")
    return path


def cost_json(capsys, *args: str) -> dict:
    assert main(["cost", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def by_endpoint(data: dict) -> dict[str, dict]:
    return {cost["endpoint"]: cost for cost in data["endpoints"]}


def test_a_sample_measures_every_endpoint_of_the_reference_app(tmp_path, capsys):
    sample = write_sample(tmp_path / "docs.jsonl", 9)
    data = cost_json(capsys, FLOW, "--sample", str(sample), "--docs-per-request", "3")
    costs = by_endpoint(data)
    assert all(cost["measured"] and cost["requests_measured"] == 3 for cost in costs.values())
    index = costs["/index"]
    db = next(hop for hop in index["hops"] if hop["name"] == "db")
    assert db["state_puts"] > 0  # the shards write segments and manifests
    assert index["hops"][0]["docs_bytes"] > 0 and index["claim_puts"] == 0  # 3 small docs: inline
    featurizer = next(hop for hop in index["hops"] if hop["name"] == "featurizer")
    assert featurizer["docs_bytes"] > index["hops"][0]["docs_bytes"]  # it added embeddings
    query = costs["/query"]
    assert next(hop for hop in query["hops"] if hop["name"] == "db")["state_gets"] > 0
    assert data["batch"]["measured"] and data["batch"]["split_docs"] == 100


WRAPPED = """
jtype: Flow
with:
  name: wrapped
executors:
  - name: first
    uses: costwrap.executors.Stamp
  - name: db
    uses: costwrap.executors.ShardTag
    shards: 3
    polling: ALL
    uses_before: costwrap.executors.Before
    uses_after: costwrap.executors.MatrixMerger
"""


def test_uses_before_and_after_are_hops_of_their_own(tmp_path, capsys):
    sample = write_sample(tmp_path / "docs.jsonl", 4)
    (tmp_path / "project").mkdir()
    with project_of(tmp_path / "project", "costwrap", wrap_executors.__file__, WRAPPED) as root:
        data = cost_json(capsys, str(root / "orchestrator" / "flow.yml"), "--sample", str(sample),
                         "--docs-per-request", "2")
    for cost in data["endpoints"]:
        assert cost["measured"], cost["note"]
    search = by_endpoint(data)["/search"]
    assert [hop["name"] for hop in search["hops"]] == ["gateway", "first", "db/uses-before", "db", "db/uses-after"]
    assert search["stages"] == ["first", "db/uses-before", "db x3 (ALL)", "db/uses-after"]


def test_a_hop_over_its_inline_limit_is_measured_as_a_claim_check(tmp_path, capsys):
    sample = write_sample(tmp_path / "docs.jsonl", 40)
    costs = by_endpoint(cost_json(capsys, FLOW, "--sample", str(sample), "--docs-per-request", "40"))
    query = costs["/query"]
    featurizer = next(hop for hop in query["hops"] if hop["name"] == "featurizer")
    assert featurizer["docs_bytes"] > 33_333 and featurizer["stored"] == 1  # over /query's inline limit
    assert query["claim_puts"] >= 1 and query["claim_gets"] >= 3  # each db shard reads it


def test_an_executor_failing_on_the_sample_leaves_its_endpoint_assumed(tmp_path, capsys):
    (tmp_path / "picky.py").write_text(
        "from faasflow import Executor, requests\n\n"
        "class Picky(Executor):\n"
        "    @requests(on='/index')\n"
        "    def index(self, docs, **kwargs):\n"
        "        pass\n\n"
        "    @requests(on='/query')\n"
        "    def query(self, docs, **kwargs):\n"
        "        raise ValueError('nothing to query yet')\n")
    flow = tmp_path / "flow.yml"
    flow.write_text("jtype: Flow\nwith:\n  name: picky\nexecutors:\n  - name: picky\n"
                    f"    uses: {tmp_path / 'picky.py'}:Picky\n")
    sample = write_sample(tmp_path / "docs.jsonl", 2)
    costs = by_endpoint(cost_json(capsys, str(flow), "--sample", str(sample)))
    assert costs["/index"]["measured"]
    query = costs["/query"]
    assert not query["measured"]
    assert "measuring failed" in query["note"] and "nothing to query yet" in query["note"]
    assert "'picky' shard 0" in query["note"]


def test_a_sample_smaller_than_a_split_is_repeated_with_new_ids():
    docs = [Document(id=f"d{n}", text="x") for n in range(3)]
    [split] = requests_of(docs, 10)
    assert len(split) == 10 and len(set(split.ids)) == 10
    assert [len(r) for r in requests_of(docs * 1, 2)] == [2]  # a last, shorter request is left out
    assert len(requests_of([Document(id=f"e{n}") for n in range(500)], 1, limit=7)) == 7


def test_storage_requests_are_counted_as_s3_bills_them(tmp_path):
    counts = StateCounts()
    storage = LocalStorage(tmp_path / "state")
    with counting_storage(counts, tmp_path / "payloads"):
        version = storage.put("a", b"1")  # PUT
        storage.put_if_version("a", b"2", version)  # one conditional PUT (it reads first, locally)
        storage.get("a")  # GET
        storage.list("")  # LIST: PUT-priced
        LocalStorage(tmp_path / "payloads").put("p", b"x")  # claim checks are counted elsewhere
    assert counts.take() == (1, 3)
    storage.get("a")  # after the block: not counted
    assert counts.take() == (0, 0)


def test_update_is_measured_before_delete_empties_the_index(tmp_path, capsys):
    """/update and the reads run on the indexed sample; /delete runs last."""
    flow = tmp_path / "flow.yml"
    flow.write_text("jtype: Flow\nwith: {name: vectors}\nexecutors:\n"
                    "  - {name: index, uses: faasflow.executors.vector_indexer.VectorIndexer, shards: 2}\n")
    sample = tmp_path / "vectors.jsonl"
    rows = ({"id": f"d{n}", "embedding": [((n * 7 + k) % 11) / 10 + 0.1 for k in range(8)]} for n in range(60))
    sample.write_text("".join(json.dumps(row) + "\n" for row in rows))
    costs = by_endpoint(cost_json(capsys, str(flow), "--sample", str(sample), "--docs-per-request", "10"))
    index_hop = {name: next(h for h in costs[name]["hops"] if h["name"] == "index") for name in costs}
    assert index_hop["/update"]["state_puts"] > 0, "an /update of indexed docs writes a segment on its shard"
    assert index_hop["/delete"]["state_puts"] > 0
    assert all(costs[name]["measured"] for name in ("/index", "/update", "/delete", "/search"))
