"""A user's own executors and Flow for a project made with `faasflow new`: numpy scalars,
arrays and bytes in tags, and a `needs` join over a sharded store."""

STATS = '''
"""Stats: counts as numpy scalars, a numpy vector, raw bytes: what executor code often writes."""

import numpy as np

from faasflow import DocumentArray, Executor, requests


class Stats(Executor):
    @requests
    def stats(self, docs: DocumentArray, **kwargs) -> None:
        for doc in docs:
            tokens = doc.tags.get("tokens", [])
            doc.tags["words"] = np.int64(len(tokens))
            doc.tags["share"] = np.float32(len(tokens) / 10)
            doc.tags["long"] = np.bool_(len(tokens) > 3)
            doc.tags["lengths"] = np.array([len(t) for t in tokens], dtype=np.int32)
            doc.tags["raw"] = (doc.text or "").encode()[:4]
            doc.tags["nested"] = {"first": tokens[:1], "pair": (np.int16(1), np.float64(0.5))}

    @requests(on="/poison")
    def poison(self, docs: DocumentArray, **kwargs) -> None:
        for doc in docs:
            doc.tags["seen"] = {"a", "b"}  # a set: no mode can carry it
'''

JOIN = '''
"""Join: the stats branch and the index branch meet here, reduced by id."""

import numpy as np

from faasflow import DocumentArray, Executor, requests


class Join(Executor):
    @requests
    def join(self, docs: DocumentArray, docs_matrix=None, **kwargs) -> None:
        for doc in docs:
            doc.tags["joined_from"] = np.int8(len(docs_matrix or []))
'''

FLOW = """
jtype: Flow
with:
  name: numtags
executors:
  - name: tokenizer
    uses: functions.tokenizer.Tokenizer
  - name: stats
    uses: functions.stats.Stats
    needs: tokenizer
  - name: index
    uses: functions.keyword_index.KeywordIndex
    shards: 2
    polling: {/search: ALL, /count: ALL, '*': ANY}
    needs: tokenizer
  - name: join
    uses: functions.join.Join
    needs: [stats, index]
"""
