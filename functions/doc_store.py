"""DocStore: keeps its shard's documents and answers nearest-neighbour queries by jaccard.

Its documents are saved to the executor's workspace when the Flow closes and loaded when
it starts, so an index survives restarts.
"""

from pathlib import Path

from faasflow import DocumentArray, Executor, requests

DEFAULT_LIMIT = 3


class DocStore(Executor):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = Path(self.workspace) / "docs.json"
        self.db = DocumentArray.from_bytes(self._path.read_bytes()) if self._path.exists() else DocumentArray()

    @requests(on="/index")
    def index(self, docs: DocumentArray, **kwargs) -> None:
        """Upsert by id: re-indexing a document replaces it."""
        for doc in docs:
            if doc.id in self.db:
                self.db[doc.id] = doc
            else:
                self.db.append(doc)

    @requests(on="/query")
    def query(self, docs: DocumentArray, parameters: dict, **kwargs) -> DocumentArray:
        limit = int(parameters.get("limit", DEFAULT_LIMIT))
        return self.db.find(docs, metric="jaccard", use_scipy=True)[0][:limit]

    @requests(on="/count")
    def count(self, **kwargs) -> dict:
        return {"count": len(self.db)}

    def close(self) -> None:
        self._path.write_bytes(self.db.to_bytes())
