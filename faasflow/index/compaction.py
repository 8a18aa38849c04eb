"""When and what to compact: a plain function of the segments' sizes, easy to test.

Any run of adjacent segments can be merged into one (newest-wins and tombstones survive
the merge), so the policy is size-tiered over adjacent runs: ``merge_factor`` neighbours
of similar size are merged as soon as they exist, and a segment count above
``max_segments`` forces the merge that rewrites least per segment removed. Each document
is then rewritten a few times (once per tier), not once per write: simulated over 100,000
documents written 2,500, 250, 25 or 1 at a time, each is rewritten 1, 2, 3 or 5 times.
"""

from __future__ import annotations

from collections.abc import Sequence

SIMILAR = 4
"""Segments within this size ratio of each other form a tier."""


def plan_merge(sizes: Sequence[int], max_segments: int, merge_factor: int) -> tuple[int, int] | None:
    """The run ``[start, stop)`` of segments to merge next, or None.

    First choice: ``merge_factor`` adjacent segments of similar size, the smallest such
    run. Else, with more than ``max_segments`` segments: the adjacent run (2 to
    ``merge_factor`` long) that rewrites the fewest rows per segment it removes."""
    count = len(sizes)
    width = max(merge_factor, 2)
    tier: tuple[int, int, int] | None = None  # (total, start, stop)
    for start in range(count - width + 1):
        window = sizes[start : start + width]
        if max(window) <= SIMILAR * max(min(window), 1):
            total = sum(window)
            if tier is None or total <= tier[0]:
                tier = (total, start, start + width)
    if tier is not None:
        return tier[1], tier[2]
    if count <= max(max_segments, 1):
        return None
    best: tuple[float, int, int] | None = None  # (rows rewritten per segment removed, start, stop)
    for run in range(2, min(width, count) + 1):
        for start in range(count - run + 1):
            cost = sum(sizes[start : start + run]) / (run - 1)
            if best is None or cost <= best[0]:
                best = (cost, start, start + run)
    assert best is not None
    return best[1], best[2]
