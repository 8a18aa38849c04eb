"""Documents as JSON lines (one document a line, in the codec's JSON form): the input and
output of ``faasflow run``, and of batch indexing later.

A malformed line is reported with its number and skipped, so one bad record never costs
the whole file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from faasflow import codec
from faasflow.document import Document
from faasflow.errors import BadInputError


@dataclass(frozen=True)
class BadLine:
    number: int  # 1-based, as editors count
    message: str


def read_documents(lines: Iterable[str | bytes], bad_lines: list[BadLine]) -> Iterator[Document]:
    """The documents of ``lines``; blank lines are skipped, malformed ones appended to ``bad_lines``."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield codec.document_from_dict(codec.loads(line))
        except BadInputError as exc:
            bad_lines.append(BadLine(number, str(exc)))
        except Exception as exc:  # noqa: BLE001 - whatever the line holds, it is reported, not fatal
            bad_lines.append(BadLine(number, f"{type(exc).__name__}: {exc}"))


def write_documents(docs: Iterable[Document], out: IO[bytes]) -> int:
    """Write one JSON document a line; returns how many."""
    count = 0
    for doc in docs:
        out.write(codec.dumps(codec.document_to_dict(doc)) + b"\n")
        count += 1
    return count
