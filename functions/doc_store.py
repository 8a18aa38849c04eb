"""DocStore: keeps its shard's documents and answers nearest-neighbour queries by jaccard.

Documents live in the executor's durable storage (a folder embedded, an S3 prefix on AWS)
as immutable segments listed by a manifest: any container, warm or cold, sees every
write. A warm instance re-reads only the manifest, and loads only segments it lacks.
"""

from __future__ import annotations

from faasflow import DocumentArray, Executor, requests
from faasflow.storage.segments import SegmentLog

DEFAULT_LIMIT = 3


class DocStore(Executor):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.log = SegmentLog(self.storage)
        self._segments: dict[str, DocumentArray] = {}
        self._generation = -1
        self.db = DocumentArray()

    def _refresh(self) -> None:
        """Bring ``self.db`` up to date with the manifest (the newest write wins per id)."""
        manifest = self.log.manifest()
        if manifest.generation == self._generation:
            return
        latest = {}
        for key in manifest.segments:
            segment = self._segments.get(key)
            if segment is None:
                segment = self._segments[key] = DocumentArray.from_bytes(self.log.read(key))
            for doc in segment:
                latest[doc.id] = doc
        self.db = DocumentArray(latest.values())
        self._generation = manifest.generation

    @requests(on="/index")
    def index(self, docs: DocumentArray, **kwargs) -> None:
        """Upsert by id: re-indexing a document replaces it."""
        if docs:
            self.log.append(docs.to_bytes())

    @requests(on="/query")
    def query(self, docs: DocumentArray, parameters: dict, **kwargs) -> DocumentArray:
        self._refresh()
        limit = int(parameters.get("limit", DEFAULT_LIMIT))
        return self.db.find(docs, metric="jaccard", use_scipy=True)[0][:limit]

    @requests(on="/count")
    def count(self, **kwargs) -> dict:
        self._refresh()
        return {"count": len(self.db)}
