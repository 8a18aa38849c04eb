"""Document micro-benchmark: faasflow's Document / DocumentArray beside docarray 0.21's.

    python bench/documents.py [--rounds 5] [--number 20000]

The same operations (construction, attribute access, attribute selection, indexing by
position, id, slice, list and mask, the columns) are timed in two interpreters, round by
round, alternating: this project's env for faasflow, and the Jina bench env (``.bench/``,
built on first use by ``bench/jina_env.py``) for docarray 0.21.1, the docarray v1 that Jina 3
users have. Each figure is the best of the rounds (the least disturbed by a noisy machine),
in microseconds per operation, with the ratio faasflow / docarray: below 1.0 is faster.

The script runs itself as the worker in each env (``--worker``), so both sides time exactly
the same statements.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SETUP = """
import numpy as np
{imports}
emb = np.arange(128, dtype=np.float32)
doc = Document(id='d1', text='hello world', embedding=emb, tags={{'lang': 'en', 'n': 3}})
da = DocumentArray([Document(id=f'd{{i}}', text=f'text {{i}}', embedding=emb, tags={{'n': i}}) for i in range(1000)])
positions = list(range(0, 1000, 50))
ids = [f'd{{i}}' for i in range(0, 1000, 50)]
mask = [i % 7 == 0 for i in range(1000)]
"""

IMPORTS = {
    "faasflow": "from faasflow import Document, DocumentArray",
    "docarray": "from docarray import Document, DocumentArray",
}

# name -> statement; a name ending in '(N)' touches N documents (figures are per statement)
OPERATIONS: dict[str, str] = {
    "Document()": "Document()",
    "Document(text=...)": "Document(text='hello world')",
    "Document(id, text, embedding, tags)": "Document(id='x', text='hello', embedding=emb, tags={'a': 1})",
    "doc.text": "doc.text",
    "doc.embedding": "doc.embedding",
    "doc.tags['lang']": "doc.tags['lang']",
    "da[500]": "da[500]",
    "da['d500']": "da['d500']",
    "da[10:30]": "da[10:30]",
    "da[positions] (20)": "da[positions]",
    "da[ids] (20)": "da[ids]",
    "da[mask] (1000)": "da[mask]",
    "da[:, 'text'] (1000)": "da[:, 'text']",
    "da['d500', 'text']": "da['d500', 'text']",
    "da.texts (1000)": "da.texts",
    "da[:, 'tags__n'] (1000)": "da[:, 'tags__n']",
}

# statements that build or scan 1000 docs run fewer times
HEAVY = {name for name in OPERATIONS if "(1000)" in name}


def worker(library: str, number: int) -> dict[str, float]:
    """Microseconds per operation, in this interpreter, for ``library``."""
    if library == "faasflow":
        sys.path.insert(0, str(ROOT))
    namespace: dict[str, object] = {}
    exec(SETUP.format(imports=IMPORTS[library]), namespace)  # noqa: S102 - our own fixed statements
    figures: dict[str, float] = {}
    for name, statement in OPERATIONS.items():
        count = max(number // 200, 20) if name in HEAVY else number
        timer = timeit.Timer(statement, globals=namespace)
        figures[name] = min(timer.repeat(repeat=3, number=count)) / count * 1e6
    return figures


def run_worker(python: Path | str, library: str, number: int) -> dict[str, float]:
    out = subprocess.run([str(python), __file__, "--worker", library, "--number", str(number)],
                         check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--number", type=int, default=20000, help="statements per timing (heavy ones: /200)")
    parser.add_argument("--worker", choices=sorted(IMPORTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.number)))
        return

    sys.path.insert(0, str(ROOT))
    from bench.jina_env import ensure_jina_python

    pythons = {"faasflow": sys.executable, "docarray": ensure_jina_python()}
    best: dict[str, dict[str, float]] = {library: {} for library in pythons}
    for round_number in range(args.rounds):
        order = list(pythons) if round_number % 2 == 0 else list(reversed(list(pythons)))
        for library in order:
            for name, value in run_worker(pythons[library], library, args.number).items():
                best[library][name] = min(value, best[library].get(name, value))
        print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    width = max(len(name) for name in OPERATIONS)
    print(f"{'operation':<{width}}  {'faasflow µs':>12}  {'docarray 0.21 µs':>16}  {'ratio':>6}")
    for name in OPERATIONS:
        ours, theirs = best["faasflow"][name], best["docarray"][name]
        print(f"{name:<{width}}  {ours:>12.3f}  {theirs:>16.3f}  {ours / theirs:>5.2f}x")


if __name__ == "__main__":
    main()
