"""The parameters faasflow's own executors take, as pydantic models.

Executors name these by ``'module:Class'`` in ``@requests(parameters=...)``, so their
functions never import pydantic on a cold start: the models are read where the Flow is
planned (the gateway checks requests against their JSON Schemas, and shows them in the
OpenAPI description). The executors still check what they use themselves.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from faasflow.executors.vector_indexer import MAX_LIMIT
from faasflow.search import METRICS

MAX_BATCH_SIZE = 65_536

Metric = Literal[METRICS]  # type: ignore[valid-type]


class SearchParameters(BaseModel):
    """A search: how many matches, by which metric, among which docs."""

    limit: int | None = Field(None, ge=0, le=MAX_LIMIT, description="top-k per query; null: the executor's default")
    metric: Metric | None = Field(None, description="search this request by another metric than the index's")
    filter: dict[str, Any] | None = Field(None, description="only docs whose tags equal every pair: {'lang': 'en'}")
    nprobe: int | None = Field(None, ge=1, le=MAX_LIMIT,
                               description="IVF lists probed per indexed segment (at most the shard's list count); "
                               "null: the executor's nprobe")
    exact: bool | None = Field(None, description="true: score every row, not only the probed lists")
    report: bool | None = Field(None, description="true: return lists probed, vectors scanned and bytes read "
                                "in __results__")


class EncodeParameters(BaseModel):
    """An encoding run: how many docs go through the model at a time."""

    batch_size: int | None = Field(None, ge=1, le=MAX_BATCH_SIZE,
                                   description="docs per model run; null: the executor's batch_size")
