"""A corpus of plain English sentences, generated locally and deterministically.

No download: a seeded generator combines small word lists into distinct sentences, so the
example and the benchmark run the same data on any machine, offline.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

SUBJECTS = [
    "the engineer",
    "a curious cat",
    "our search team",
    "the old librarian",
    "a young pilot",
    "the chef",
    "a quiet student",
    "the river guide",
    "my neighbour",
    "the night nurse",
    "a travelling poet",
    "the mayor",
    "the data scientist",
    "a retired sailor",
    "the gardener",
    "a street musician",
    "the baker",
    "an astronomer",
    "the lighthouse keeper",
    "a marathon runner",
    "the museum curator",
    "a young architect",
    "the beekeeper",
    "the tired driver",
    "a cheerful farmer",
    "the court reporter",
    "a wandering monk",
    "the chess champion",
]
VERBS = [
    "repairs",
    "paints",
    "photographs",
    "describes",
    "studies",
    "carries",
    "builds",
    "sells",
    "finds",
    "measures",
    "cleans",
    "writes about",
    "sketches",
    "indexes",
    "remembers",
    "forgets",
    "collects",
    "visits",
    "explains",
    "questions",
    "celebrates",
    "borrows",
    "delivers",
    "inspects",
    "translates",
    "rebuilds",
]
OBJECTS = [
    "a broken clock",
    "the wooden bridge",
    "an ancient map",
    "a red bicycle",
    "the vector index",
    "a silver kettle",
    "the mountain trail",
    "a stack of letters",
    "the harbour lights",
    "a forgotten garden",
    "the stone tower",
    "a pile of invoices",
    "the summer festival",
    "a jar of honey",
    "the city archive",
    "a paper kite",
    "the frozen lake",
    "a set of blueprints",
    "the village school",
    "a box of seeds",
    "the night train",
    "a sharded database",
    "the weather station",
    "a violin case",
    "the copper roof",
    "a deck of cards",
]
PLACES = [
    "in the morning",
    "after lunch",
    "near the station",
    "by the sea",
    "in a small town",
    "under the bridge",
    "before the storm",
    "during the holidays",
    "at midnight",
    "on the north shore",
    "behind the market",
    "in the old quarter",
    "at the harbour",
    "on a rainy day",
    "in the valley",
    "beside the library",
    "at the edge of the forest",
    "after the concert",
    "on the top floor",
    "in early spring",
]
ENDINGS = [
    "with great care",
    "without a word",
    "for the third time",
    "as the bells ring",
    "while humming softly",
    "to everyone's surprise",
    "with two friends",
    "using only a pencil",
    "for a local newspaper",
    "before anyone noticed",
    "in record time",
    "for the annual report",
    "with a borrowed ladder",
    "as snow begins to fall",
    "for no clear reason",
    "with steady hands",
]


def sentences(count: int = 10_000, seed: int = 7) -> Iterator[str]:
    """``count`` distinct sentences, the same ones for the same seed."""
    rng = random.Random(seed)
    seen: set[str] = set()
    capacity = len(SUBJECTS) * len(VERBS) * len(OBJECTS) * len(PLACES) * len(ENDINGS)
    if count > capacity:
        raise ValueError(f"at most {capacity} distinct sentences can be generated")
    while len(seen) < count:
        words = (rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(PLACES), rng.choice(ENDINGS))
        line = " ".join(words)
        line = line[0].upper() + line[1:] + "."
        if line not in seen:
            seen.add(line)
            yield line


def write_corpus(path: str | Path, count: int = 10_000, seed: int = 7) -> Path:
    """Write one sentence a line to ``path`` (made once; kept if already there)."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(sentences(count, seed)) + "\n")
    return path
