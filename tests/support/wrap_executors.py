"""Executors for Jina's ``uses_before`` / ``uses_after`` and ``target_executor``: in-process
here, and copied into a project of its own that the emulator test deploys."""

from faasflow import Document, DocumentArray, Executor, requests


class ShardTag(Executor):
    """Each shard tags the docs it gets with its shard id; on /search each shard adds one match."""

    @requests(on="/index")
    def index(self, docs, **kwargs):
        for d in docs:
            d.tags["shard"] = self.runtime_args.shard_id

    @requests(on="/search")
    def search(self, docs, parameters, **kwargs):
        shard = self.runtime_args.shard_id
        for d in docs:
            d.tags["shard"] = shard
            d.matches.append(Document(id=f"{d.id}-s{shard}", scores={"dist": float(shard)}))


class Before(Executor):
    """A uses_before: marks every doc, and adds one doc, so the shards see what it returned."""

    @requests
    def before(self, docs, parameters, **kwargs):
        for d in docs:
            d.tags["before"] = parameters.get("mark", True)
        return DocumentArray([*docs, Document(id="added-by-before", text="before")])


class MatrixMerger(Executor):
    """A uses_after: one answer doc saying what it got (the shape of docs_matrix and docs),
    then every shard's docs, first shard first, ids made unique by their shard."""

    @requests
    def merge(self, docs, docs_matrix, parameters, **kwargs):
        summary = Document(id="merged", tags={
            "rows": None if docs_matrix is None else len(docs_matrix),
            "row_ids": None if docs_matrix is None else [[d.id for d in row] for row in docs_matrix],
            "docs": [d.id for d in docs],
            "shard_of_docs": [d.tags.get("shard") for d in docs],
            "limit": parameters.get("limit"),
        })
        out = [summary]
        for row in docs_matrix or []:
            out.extend(Document(id=f"{d.id}@{d.tags.get('shard')}", tags=dict(d.tags)) for d in row)
        return DocumentArray(out)


class ResultsAfter(Executor):
    """A uses_after that returns a dict: the docs stay what it was given (``docs``)."""

    @requests
    def merge(self, docs_matrix, **kwargs):
        return {"rows": len(docs_matrix or [])}


class Stamp(Executor):
    """Appends its name to each doc's ``tags['path']``: which executors ran."""

    @requests
    def stamp(self, docs, **kwargs):
        for d in docs:
            d.tags["path"] = [*d.tags.get("path", []), self.metas.name]


class NoSearch(Executor):
    """A uses_after with no method for /search: the built-in merge applies there."""

    @requests(on="/index")
    def index(self, docs_matrix, **kwargs):
        return DocumentArray(Document(id=f"row{i}") for i, _ in enumerate(docs_matrix or []))


class Failing(Executor):
    @requests
    def fail(self, **kwargs):
        raise RuntimeError("the merge failed on purpose")
