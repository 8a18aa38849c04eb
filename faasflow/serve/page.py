"""The gateway's ``GET /``: the Flow drawn (``faasflow.diagram``) and, per executor, calls,
errors and p50/p99 latency since the gateway started, refreshed from ``/metrics`` every few
seconds by a small inline script.

Nothing is loaded from elsewhere, and the Content-Security-Policy says so: only this origin,
and the page's own script and style by their hashes. The script reads executor names from
the page's escaped ``data-executor`` attributes and writes figures as text only, so a name
such as ``<img onerror=...>`` stays a name.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from faasflow.diagram import escape, short_class, svg_of

REFRESH_S = 3

STYLE = """
:root { color-scheme: light; font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
        color: #111827; background: #f9fafb; }
body { margin: 0 auto; max-width: 1280px; padding: 20px 24px 40px; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 24px; margin-bottom: 16px; }
h1 { font-size: 1.4rem; margin: 0; }
h2 { font-size: 1.05rem; margin: 24px 0 8px; }
nav a { margin-right: 14px; color: #1d4ed8; }
.meta, .note { color: #4b5563; font-size: .9rem; }
.diagram { overflow: auto; background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: 4px; }
table { border-collapse: collapse; background: #fff; border: 1px solid #e5e7eb; }
th, td { padding: 6px 14px; border-bottom: 1px solid #e5e7eb; text-align: right; font-variant-numeric: tabular-nums; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f4f6; font-weight: 600; }
tr.failing td.errors { color: #b91c1c; font-weight: 700; }
code { font-size: .9em; }
"""

SCRIPT = r"""
"use strict";
(function () {
  const REFRESH_MS = REFRESH_MS_VALUE;
  const CALLS = "faasflow_executor_calls_total";
  const ERRORS = "faasflow_executor_errors_total";
  const BUCKETS = "faasflow_executor_duration_seconds_bucket";
  const rows = new Map();
  for (const row of document.querySelectorAll("tr[data-executor]")) rows.set(row.dataset.executor, row);
  const updated = document.getElementById("ff-updated");

  // One sample of the text exposition format: name{label="value",...} number
  function sample(line) {
    let i = 0;
    while (i < line.length && line[i] !== "{" && line[i] !== " ") i++;
    const name = line.slice(0, i);
    const labels = {};
    if (line[i] === "{") {
      i++;
      while (i < line.length && line[i] !== "}") {
        const eq = line.indexOf("=", i);
        if (eq < 0 || line[eq + 1] !== '"') return null;
        const key = line.slice(i, eq).replace(/^[ ,]+/, "");
        let value = "";
        for (i = eq + 2; i < line.length && line[i] !== '"'; i++) {
          if (line[i] === "\\") { i++; value += line[i] === "n" ? "\n" : line[i]; } else value += line[i];
        }
        labels[key] = value;
        i++;
        if (line[i] === ",") i++;
      }
      i++;
    }
    const value = parseFloat(line.slice(i).trim().split(" ")[0]);
    return Number.isNaN(value) ? null : { name: name, labels: labels, value: value };
  }

  function parse(text) {
    const stats = new Map();
    for (const line of text.split("\n")) {
      if (!line || line[0] === "#") continue;
      const s = sample(line);
      if (!s || s.labels.executor === undefined || ![CALLS, ERRORS, BUCKETS].includes(s.name)) continue;
      let figures = stats.get(s.labels.executor);
      if (!figures) stats.set(s.labels.executor, figures = { calls: 0, errors: 0, buckets: new Map() });
      if (s.name === CALLS) figures.calls += s.value;
      else if (s.name === ERRORS) figures.errors += s.value;
      else {  // every endpoint's cumulative buckets, added up per bound
        const le = s.labels.le === "+Inf" ? Infinity : parseFloat(s.labels.le);
        figures.buckets.set(le, (figures.buckets.get(le) || 0) + s.value);
      }
    }
    return stats;
  }

  // As Prometheus's histogram_quantile: linear within the bucket the rank falls in.
  function quantile(q, buckets) {
    const bounds = Array.from(buckets.keys()).sort(function (a, b) { return a - b; });
    const total = bounds.length ? buckets.get(bounds[bounds.length - 1]) : 0;
    if (!(total > 0)) return "\u2014";
    const rank = q * total;
    let lower = 0, below = 0;
    for (const bound of bounds) {
      const count = buckets.get(bound);
      if (count >= rank) {
        if (bound === Infinity) return "> " + duration(lower);
        const share = count > below ? (rank - below) / (count - below) : 0;
        return duration(lower + (bound - lower) * share);
      }
      lower = bound;
      below = count;
    }
    return "\u2014";
  }

  function duration(seconds) {
    if (seconds >= 1) return seconds.toFixed(2) + " s";
    const ms = seconds * 1000;
    return (ms < 10 ? ms.toFixed(2) : ms.toFixed(1)) + " ms";
  }

  function show(stats) {
    for (const [name, row] of rows) {
      const figures = stats.get(name) || { calls: 0, errors: 0, buckets: new Map() };
      row.querySelector(".calls").textContent = String(Math.round(figures.calls));
      row.querySelector(".errors").textContent = String(Math.round(figures.errors));
      row.querySelector(".p50").textContent = quantile(0.5, figures.buckets);
      row.querySelector(".p99").textContent = quantile(0.99, figures.buckets);
      row.classList.toggle("failing", figures.errors > 0);
    }
  }

  function refresh() {
    fetch("metrics", { cache: "no-store", headers: { Accept: "text/plain" } })
      .then(function (answer) {
        if (!answer.ok) throw new Error("HTTP " + answer.status);
        return answer.text();
      })
      .then(function (text) {
        show(parse(text));
        updated.textContent = "updated " + new Date().toLocaleTimeString();
      })
      .catch(function (error) { updated.textContent = "metrics unavailable: " + error.message; })
      .finally(function () { setTimeout(refresh, REFRESH_MS); });
  }
  refresh();
})();
""".replace("REFRESH_MS_VALUE", str(REFRESH_S * 1000))


ICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
        '<path d="M11 16 L21 9 M11 16 L21 23" stroke="#6b7280" stroke-width="2"/>'
        '<rect x="2" y="11" width="10" height="10" rx="2" fill="#3b6fd8"/>'
        '<rect x="20" y="3" width="10" height="10" rx="2" fill="#3b6fd8"/>'
        '<rect x="20" y="19" width="10" height="10" rx="2" fill="#3b6fd8"/></svg>')
"""The page's icon, served as ``/favicon.ico`` too: a browser asks for that path anyway."""
ICON_TYPE = "image/svg+xml"


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; script-src {_sha256(SCRIPT)}; style-src {_sha256(STYLE)}; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _row(executor: Mapping[str, Any]) -> str:
    name = escape(executor["name"])
    return (f'<tr data-executor="{name}"><td>{name} <span class="meta">'
            f'{escape(short_class(str(executor.get("uses", ""))))}</span></td>'
            f'<td>{int(executor.get("shards", 1))}</td><td class="calls">0</td><td class="errors">0</td>'
            '<td class="p50">\u2014</td><td class="p99">\u2014</td></tr>')


def render_page(described: Mapping[str, Any]) -> str:
    """The page for a topology description (what ``Backend.status()`` answers)."""
    name = escape(described.get("name", ""))
    endpoints = ", ".join(f"<code>{escape(e)}</code>" for e in described.get("endpoints") or []) or "(none)"
    backend = described.get("backend")
    seen = ("" if backend in (None, "embedded") else
            " This gateway does not run the executors itself, so it counts none of their calls: their own "
            "metrics are where they run.")
    rows = "".join(_row(executor) for executor in described.get("executors") or [])
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" type="image/svg+xml" href="favicon.ico">
<title>Flow {name} \u00b7 faasflow</title>
<style>{STYLE}</style>
</head>
<body>
<header>
<h1>Flow {name}</h1>
<span class="meta">faasflow {escape(described.get("version", ""))} \u00b7 {escape(backend or "")} \u00b7
{"ready" if described.get("ready") else "not ready"} \u00b7 endpoints {endpoints}</span>
<nav><a href="docs">API docs</a><a href="status">status (JSON)</a><a href="metrics">metrics (Prometheus)</a></nav>
</header>
<section class="diagram" aria-label="the Flow as a diagram">
{svg_of(described)}</section>
<h2>Executors since the gateway started</h2>
<table id="ff-stats">
<thead><tr><th>executor</th><th>shards</th><th>calls</th><th>errors</th><th>p50</th><th>p99</th></tr></thead>
<tbody>{rows}</tbody>
</table>
<p class="note">Latency is per executor stage (all its shards), over every endpoint; p50 and p99 are
estimated from buckets of <code>faasflow_executor_duration_seconds</code>, as Prometheus's
<code>histogram_quantile</code> does.
Refreshed from <a href="metrics">/metrics</a> every {REFRESH_S} s: <span id="ff-updated" aria-live="polite">not yet
read</span>.{seen}</p>
<noscript><p class="note">The figures need JavaScript; the diagram does not.</p></noscript>
<script>{SCRIPT}</script>
</body>
</html>
"""
