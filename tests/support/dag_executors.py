"""Executors of the DAG flow used to check the serverless semantics: in-process here, and
copied into a project of its own that the emulator tests deploy."""

from faasflow import Document, DocumentArray, Executor, Flow, requests


class Tag(Executor):
    @requests
    def run(self, docs, **kwargs):
        for d in docs:
            d.tags.setdefault("path", []).append(f"{self.runtime_args.name}{self.runtime_args.shard_id}")


class Scores(Executor):
    @requests(on="/search")
    def search(self, docs, **kwargs):
        shard = self.runtime_args.shard_id
        for d in docs:
            d.matches = [Document(id=f"{d.id}-m{shard}-{i}", scores={"dist": (i + 1) * (shard + 1)}) for i in range(3)]

    @requests(on="/split")
    def split(self, docs, **kwargs):
        return DocumentArray(Document(id=f"{d.id}-part{i}", text=d.text) for d in docs for i in range(2))


class Join(Executor):
    @requests(on="/search")
    def join(self, docs, docs_matrix, **kwargs):
        for d in docs:
            d.tags["inputs"] = len(docs_matrix)

    @requests(on="/boom")
    def boom(self, docs, **kwargs):
        raise KeyError("boom on purpose")


def dag_flow() -> Flow:
    return (
        Flow(name="dag")
        .add(uses=Tag, name="start")
        .add(uses=Scores, name="left", shards=2, polling={"/search": "ALL", "*": "ANY"}, needs="start")
        .add(uses=Tag, name="right", shards=3, needs="start")
        .add(uses=Join, name="join", needs=["left", "right"])
        .add(uses=Tag, name="tail", shards=2, polling="ALL", needs="join")
    )
