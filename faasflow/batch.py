"""Batch indexing of JSON-lines files: splits, line parsing and the run summary.

A file is cut into byte ranges with no pre-pass, as Hadoop cuts text files: a line
belongs to the range that holds its first byte, so a reader of ``[start, end)`` skips the
line it starts inside of and reads past ``end`` to finish its last one. Every range can
then be read on its own (a ranged GET on S3), and the state stays tiny however large the
object is. Line numbers are counted per range and made absolute in the summary, once every
range has reported how many lines it held.

The same code runs embedded (``faasflow index``) and on AWS (the batch state machine).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from faasflow import codec
from faasflow.codec import document_from_dict
from faasflow.document import Document
from faasflow.errors import BadInputError

DEFAULT_BATCH_SIZE = 100
SAMPLE_BYTES = 64 * 1024
READ_AHEAD = 64 * 1024
MAX_LINE_BYTES = 32 * 1024 * 1024  # longer lines are rejected, not loaded

ReadRange = Callable[[int, int], bytes]  # (start, end) -> bytes[start:end] (end exclusive, clipped)


@dataclass(frozen=True)
class Split:
    index: int
    start: int
    end: int

    def to_dict(self) -> dict[str, int]:
        return {"index": self.index, "start": self.start, "end": self.end}


def split_bytes_for(sample: bytes, batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """Bytes per split so that a split holds about ``batch_size`` lines, from a sample of
    the file's first bytes."""
    lines = sample.count(b"\n") or 1
    return max(1024, len(sample) * batch_size // lines)


def plan_splits(size: int, split_bytes: int) -> list[Split]:
    """Byte ranges covering ``size`` bytes, ``split_bytes`` each (the last one shorter)."""
    return [Split(i, start, min(start + split_bytes, size)) for i, start in enumerate(range(0, size, split_bytes))]


@dataclass(frozen=True)
class LineTooLong:
    """Stands in for a line over the per-line limit: its length, never its bytes."""

    length: int
    limit: int

    @property
    def reason(self) -> str:
        return (f"line too long: {self.length} bytes, over the limit of {self.limit} bytes per line "
                "(not loaded; split the document or shorten its fields)")


def split_lines(read: ReadRange, split: Split, size: int,
                max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes | LineTooLong]]:
    """``(byte offset, line)`` of every line whose first byte lies in the split.

    Each byte is searched for a newline once: a line longer than a read keeps its chunks
    and scans only the new one, so the time is linear in the line's length. A line over
    ``max_line_bytes`` (``MAX_LINE_BYTES``, 32 MiB, by default) is not loaded: at most
    ``max_line_bytes`` plus one read of it is held, the rest is only scanned for its end,
    and it comes as ``(offset, LineTooLong(length, limit))`` so that ``parse_split``
    rejects it with its line number and size instead of running out of memory.
    """
    position = split.start
    if position > 0:  # the line running across the boundary belongs to the previous split
        position = _after_newline(read, position - 1, size)
    buffer, cursor = b"", 0  # buffer[cursor:] holds the bytes read from `position` on
    while position < split.end:
        newline = buffer.find(b"\n", cursor)
        if newline >= 0:
            line_end, line = newline, buffer[cursor:newline]
        else:  # read on, searching only the bytes each read adds
            parts = [buffer[cursor:]]
            length = len(parts[0])
            found = -1
            while found < 0 and length <= max_line_bytes:
                more = read(position + length, min(position + length + READ_AHEAD, size))
                if not more:
                    break
                found = more.find(b"\n")
                if found >= 0:
                    found += length
                parts.append(more)
                length += len(more)
            if found < 0 and length > max_line_bytes:  # too long to hold: only find its end
                after = _after_newline(read, position + length, size)
                ends_in_newline = after > position + length or (after == size and size > 0 and
                                                               read(size - 1, size) == b"\n")
                yield position, LineTooLong(after - position - (1 if ends_in_newline else 0), max_line_bytes)
                buffer, cursor, position = b"", 0, after
                continue
            buffer, cursor = b"".join(parts), 0
            if found < 0:  # end of file: the last line has no newline
                if buffer:
                    yield position, _checked(buffer, max_line_bytes)
                return
            line_end, line = found, buffer[:found]
        yield position, _checked(line, max_line_bytes)
        position += line_end + 1 - cursor
        cursor = line_end + 1


def _checked(line: bytes, limit: int) -> bytes | LineTooLong:
    return LineTooLong(len(line), limit) if len(line) > limit else line


def _after_newline(read: ReadRange, position: int, size: int) -> int:
    """The offset just after the first newline at or after ``position`` (``size`` if none)."""
    while position < size:
        chunk = read(position, min(position + READ_AHEAD, size))
        newline = chunk.find(b"\n")
        if newline >= 0:
            return position + newline + 1
        position += len(chunk)
    return size


@dataclass
class SplitReport:
    """What one split held: its lines, its documents, the lines it rejected (with their
    number inside the split)."""

    index: int
    lines: int = 0
    docs: list[Document] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def stable_id(source: str, offset: int) -> str:
    """An id for a line without one: the same for the same object and place, so a
    re-delivered object re-indexes (updates) the same documents."""
    return hashlib.md5(f"{source}@{offset}".encode()).hexdigest()


def parse_split(read: ReadRange, split: Split, size: int, source: str,
                max_line_bytes: int = MAX_LINE_BYTES) -> SplitReport:
    """The documents of one split's lines; a line that is not a JSON object, or is over
    ``max_line_bytes``, is rejected with its number (``summarize`` makes it the file's)."""
    report = SplitReport(split.index)
    for offset, raw in split_lines(read, split, size, max_line_bytes):
        report.lines += 1
        if isinstance(raw, LineTooLong):
            report.rejected.append({"line": report.lines, "reason": raw.reason})
            continue
        line = raw.strip()
        if not line:
            continue
        try:
            data = codec.loads(line)  # a malformed line: BadInputError("malformed JSON: ...")
            if not isinstance(data, dict):
                raise BadInputError(f"a line must hold a JSON object, not {type(data).__name__}")
            if data.get("id") is None:
                data = {**data, "id": stable_id(source, offset)}
            report.docs.append(document_from_dict(data))
        except BadInputError as exc:
            report.rejected.append({"line": report.lines, "reason": str(exc)})
    return report


def summarize(source: str, reports: list[dict[str, Any]], failed: list[dict[str, Any]] | None = None) -> dict:
    """The run summary: docs indexed (their requests succeeded), docs failed (their
    requests failed), rejected lines numbered from the file's start, and the failures:
    split, docs and error of each."""
    ordered = sorted(reports, key=lambda r: r["index"])
    first_line = 1
    rejected = []
    for report in ordered:
        rejected.extend({**r, "line": first_line + r["line"] - 1} for r in report.get("rejected", []))
        first_line += report["lines"]
    return {
        "source": source,
        "lines": first_line - 1,
        "docs_indexed": sum(r.get("indexed", 0) for r in ordered),
        "docs_failed": sum(f.get("docs", 0) for f in failed or []),
        "rejected": rejected,
        "failed_splits": failed or [],
    }


def file_reader(path: str) -> tuple[ReadRange, int]:
    """A range reader over a local file (memory-mapped once, not reopened per read), and its size."""
    import mmap

    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            return (lambda start, end: b""), 0
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)  # stays valid after close
    return (lambda start, end: mapped[start:end]), size


def index_file(flow: Any, path: str, batch_size: int = DEFAULT_BATCH_SIZE, show_progress: bool = False,
               on: str = "/index") -> dict[str, Any]:
    """Index a local JSON-lines file through a started Flow, split by split, as the batch
    state machine does on AWS; returns the same summary.

    A split may hold more lines than ``batch_size`` and go as several requests: each one
    is counted on its own, so the docs of a request that stored them count even when
    another request of the same split fails (listed with its docs and error)."""
    from faasflow.array import DocumentArray
    from faasflow.progress import progress_bar

    read, size = file_reader(path)
    splits = plan_splits(size, split_bytes_for(read(0, min(size, SAMPLE_BYTES)), batch_size))
    reports: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    with progress_bar(show_progress, None, f"{on} {path}") as advance:
        for split in splits:
            report = parse_split(read, split, size, path)
            entry: dict[str, Any] = {"index": split.index, "lines": report.lines, "rejected": report.rejected,
                                     "indexed": 0}
            for start in range(0, len(report.docs), batch_size):
                batch = DocumentArray(report.docs[start:start + batch_size])
                try:
                    flow.post(on, batch, request_size=batch_size)
                    entry["indexed"] += len(batch)
                except Exception as exc:  # noqa: BLE001 - a failed request is reported, the others go on
                    failed.append({"split": split.index, **request_failure(exc, len(batch))})
            reports.append(entry)
            advance(len(report.docs))
    return summarize(path, reports, failed)


def request_failure(error: Exception, docs: int) -> dict[str, Any]:
    """A failed request, for the summary: how many docs it held and why it failed; for a
    storage failure of a sharded stage also ``committed_shards``, the shards that stored
    their part of it all the same (a refusal stores nothing: see ``Executor.check_request``)."""
    from faasflow.errors import FlowError

    failure: dict[str, Any] = {"docs": docs, "error": f"{type(error).__name__}: {error}"}
    if isinstance(error, FlowError) and error.committed_shards:
        failure["executor"] = error.executor
        failure["committed_shards"] = error.committed_shards
    return failure
