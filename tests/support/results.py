"""Reading executors' dict results out of a response's ``parameters['__results__']``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any


def per_shard(results: Mapping[str, Any], executor: str) -> list[Any]:
    """``executor``'s results in shard order: Jina keys them by runtime name,
    ``name/rep-0`` (one shard) or ``name/shard-<i>/rep-0``; a shard without a result is
    left out."""
    if f"{executor}/rep-0" in results:
        return [results[f"{executor}/rep-0"]]
    pattern = re.compile(rf"{re.escape(executor)}/shard-(\d+)/rep-0")
    found = [(int(m.group(1)), value) for key, value in results.items() if (m := pattern.fullmatch(key))]
    return [value for _, value in sorted(found, key=lambda pair: pair[0])]
