"""A Flow drawn as SVG: gateway, executors (shards, polling per endpoint, helpers), needs
edges, answer. ``faasflow show --svg`` writes it and the gateway's ``GET /`` page inlines it.

It is drawn from the topology description (``faasflow.topology.describe``), not the Plan
itself, so that a deployed gateway, which knows the Flow only by that description, draws
the same picture. The layout is deterministic (a column per depth of ``needs``, rows in
run order), and every name is escaped: the SVG sits inside an HTML page.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from faasflow.plan import GATEWAY, Plan
from faasflow.topology import ANSWER, describe

FONT = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"
FONT_SIZE = 12
LINE = 16
CHAR = 7.0  # a generous average glyph width at FONT_SIZE, so that text stays inside its box
BOLD_CHAR = 7.6
PAD_X, PAD_Y = 12, 8
MIN_WIDTH = 96
COLUMN_GAP, ROW_GAP, MARGIN, TITLE_HEIGHT = 56, 22, 16, 28
SHARD_OFFSET = 5  # each shard drawn behind the first, up to MAX_STACK boxes in all
MAX_STACK = 3
COLORS = {"ALL": "#b45309", "ANY": "#047857"}
# XML 1.0 allows no other control characters, not even as references
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def escape(text: object) -> str:
    """``text`` safe in XML (and HTML) text and quoted attributes."""
    return html.escape(_NOT_XML.sub("\ufffd", str(text)), quote=True)


def short_class(uses: str) -> str:
    """``functions.doc_store.DocStore`` and ``x.py:DocStore`` both read as ``DocStore``."""
    return uses.rsplit(":", 1)[-1].rsplit(".", 1)[-1]


@dataclass
class Box:
    """One node: its lines of text (the first bold) and where it lands."""

    name: str
    lines: list[tuple[str, str]]  # (text, kind): kind is title, muted, ALL, ANY or plain
    shards: int = 1
    pill: bool = False
    tooltip: str = ""
    x: int = 0
    y: int = 0

    @property
    def width(self) -> int:
        widths = [len(text) * (BOLD_CHAR if kind == "title" else CHAR) for text, kind in self.lines]
        return max(MIN_WIDTH, round(max(widths) + 2 * PAD_X))

    @property
    def height(self) -> int:
        return len(self.lines) * LINE + 2 * PAD_Y

    @property
    def stack(self) -> int:
        return SHARD_OFFSET * (min(self.shards, MAX_STACK) - 1)


def _executor_box(executor: Mapping[str, Any]) -> Box:
    shards = int(executor.get("shards", 1))
    lines: list[tuple[str, str]] = [(str(executor["name"]), "title"),
                                    (short_class(str(executor.get("uses", ""))), "muted")]
    if shards > 1:
        lines.append((f"{shards} shards", "plain"))
        for endpoint, mode in (executor.get("polling") or {}).items():
            lines.append((f"{endpoint}: {mode}", mode if mode in COLORS else "plain"))
    replicas = int(executor.get("replicas", 1))
    if replicas > 1:
        lines.append((f"{replicas} replicas", "plain"))
    for role in ("uses_before", "uses_after"):
        if executor.get(role):
            lines.append((f"{role}: {short_class(str(executor[role]))}", "muted"))
    return Box(str(executor["name"]), lines, shards=shards, tooltip=f"{executor['name']}: {executor.get('uses', '')}")


def _depths(executors: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Each executor's column: one past its deepest need (the description is in run order)."""
    depth = {GATEWAY: 0}
    for executor in executors:
        depth[executor["name"]] = 1 + max((depth.get(need, 0) for need in executor.get("needs") or [GATEWAY]),
                                          default=0)
    return depth


def _layout(columns: list[list[Box]]) -> tuple[int, int]:
    """Place the boxes: columns left to right, each centred on the tallest; the size drawn."""
    heights = [sum(b.height + b.stack for b in column) + ROW_GAP * (len(column) - 1) for column in columns]
    tallest = max(heights)
    x = MARGIN
    for column, height in zip(columns, heights):
        y = MARGIN + TITLE_HEIGHT + (tallest - height) // 2
        width = max(b.width + b.stack for b in column)
        for box in column:
            box.x, box.y = x + (width - box.width - box.stack) // 2, y
            y += box.height + box.stack + ROW_GAP
        x += width + COLUMN_GAP
    return x - COLUMN_GAP + MARGIN, MARGIN + TITLE_HEIGHT + tallest + MARGIN


def _text(box: Box) -> list[str]:
    out = []
    for n, (text, kind) in enumerate(box.lines):
        y = box.y + PAD_Y + LINE * n + 12
        attrs = {"title": ' font-weight="700" fill="#111827"', "muted": ' fill="#4b5563"'}.get(
            kind, f' fill="{COLORS[kind]}" font-weight="600"' if kind in COLORS else ' fill="#111827"')
        anchor = f'x="{box.x + box.width // 2}" text-anchor="middle"' if box.pill else f'x="{box.x + PAD_X}"'
        out.append(f'<text {anchor} y="{y}"{attrs}>{escape(text)}</text>')
    return out


def _node(box: Box) -> str:
    parts = ['<g class="ff-end">' if box.pill else f'<g class="ff-node" data-executor="{escape(box.name)}">']
    if box.tooltip:
        parts.append(f"<title>{escape(box.tooltip)}</title>")
    if box.pill:
        parts.append(f'<rect x="{box.x}" y="{box.y}" width="{box.width}" height="{box.height}" '
                     f'rx="{box.height // 2}" fill="#f3f4f6" stroke="#6b7280"/>')
    else:
        for k in range(min(box.shards, MAX_STACK) - 1, -1, -1):  # the shards behind first
            offset = SHARD_OFFSET * k
            parts.append(f'<rect x="{box.x + offset}" y="{box.y + offset}" width="{box.width}" '
                         f'height="{box.height}" rx="6" fill="{"#eef4ff" if k == 0 else "#dbe6fb"}" '
                         f'stroke="#3b6fd8"/>')
    parts.extend(_text(box))
    parts.append("</g>")
    return "".join(parts)


def _edge(source: Box, target: Box) -> str:
    x1, y1 = source.x + source.width + source.stack, source.y + source.height // 2
    x2, y2 = target.x - 2, target.y + target.height // 2
    middle = (x1 + x2) // 2
    return (f'<path class="ff-edge" d="M{x1} {y1} C{middle} {y1} {middle} {y2} {x2} {y2}" fill="none" '
            f'stroke="#6b7280" stroke-width="1.5" marker-end="url(#ff-arrow)"/>')


def svg_of(described: Mapping[str, Any]) -> str:
    """The SVG element of a topology description (``describe``'s, or ``GET /status``'s)."""
    executors = list(described.get("executors") or [])
    depth = _depths(executors)
    gateway, answer = Box(GATEWAY, [(GATEWAY, "plain")], pill=True), Box(ANSWER, [(ANSWER, "plain")], pill=True)
    boxes = {str(executor["name"]): _executor_box(executor) for executor in executors}
    columns: list[list[Box]] = [[gateway]] + [[] for _ in range(max(depth.values()))] + [[answer]]
    for name, box in boxes.items():
        columns[depth[name]].append(box)
    width, height = _layout(columns)

    def node(name: str) -> Box | None:
        return gateway if name == GATEWAY else boxes.get(name)

    edges = [(node(need), boxes[str(executor["name"])])
             for executor in executors for need in executor.get("needs") or [GATEWAY]]
    edges += [(node(sink), answer) for sink in described.get("answer") or [GATEWAY]]
    title = f"Flow {described.get('name', '')}"
    return "".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ff-diagram" role="img" aria-labelledby="ff-title" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="{escape(FONT)}" '
        f'font-size="{FONT_SIZE}">',
        f'<title id="ff-title">{escape(title)}</title>',
        '<defs><marker id="ff-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="#6b7280"/></marker></defs>',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{MARGIN}" y="{MARGIN + 14}" font-size="15" font-weight="700" fill="#111827">{escape(title)}</text>',
        *(_edge(source, target) for source, target in edges if source is not None),
        *(_node(box) for column in columns for box in column),
        "</svg>",
    ]) + "\n"


def render_svg(plan: Plan) -> str:
    """The Plan's diagram, as ``faasflow show --svg`` writes it."""
    return svg_of(describe(plan))
