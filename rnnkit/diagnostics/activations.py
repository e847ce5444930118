"""Activation maps: what each hidden unit does over a text, and which units track a pattern.

Karpathy, Johnson & Fei-Fei (2015, "Visualizing and understanding recurrent networks", §4.1) colour every
character of a text by one unit's activation after reading it, ``a<t>`` (or ``tanh(c<t>)`` of an LSTM's
memory cell), blue for negative, white for zero, red for positive; some units turn out to count the
position in the line, to switch on inside quotes, or to follow the depth of nested brackets.
:func:`pattern_signal` writes such a pattern out as one number per token, :func:`correlations` scores every
unit against it (Pearson's r), and :func:`write_activation_page` writes the coloured text as one
standalone HTML page (no network: its CSS, script and data are all inside); ``page.html#unit=N`` opens it
at unit N.

Example::

    values = unit_activations(traces[-1])                    # (T, H): a<t> of the top layer
    r = correlations(values, pattern_signal(pieces, "quotes"))
    best = rank_units(r)[:5]
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

PATTERNS = ("quotes", "line-position", "bracket-depth")
_OPEN, _CLOSE = "([{", ")]}"


def check_pattern(pattern: str) -> str:
    """``pattern`` if it is a built-in name or a valid ``regex:EXPR``, else a ``ValueError`` saying why."""
    if pattern in PATTERNS:
        return pattern
    if pattern.startswith("regex:"):
        expr = pattern[len("regex:"):]
        if not expr:
            raise ValueError("--find regex: needs an expression after the colon, e.g. regex:[0-9]")
        try:
            re.compile(expr)
        except re.error as e:
            raise ValueError(f"--find {pattern!r}: not a valid regular expression ({e})") from None
        return pattern
    raise ValueError(f"--find {pattern!r}: unknown pattern; use one of {', '.join(PATTERNS)} or regex:EXPR")


def char_signal(text: str, pattern: str) -> torch.Tensor:
    """The pattern as one number per character, read like the network reads: the value after character t.

    - ``quotes``: 1 after an opening ``"`` and on the text inside, 0 from the closing ``"`` on;
    - ``line-position``: characters read since the last newline (0 on the newline itself);
    - ``bracket-depth``: nesting depth of ``()[]{}`` after the character (never below 0);
    - ``regex:EXPR``: 1 on every character inside a match of EXPR, else 0.

    Shapes: a text of N characters → (N,) float64.
    """
    check_pattern(pattern)
    out = torch.zeros(len(text), dtype=torch.float64)
    if pattern.startswith("regex:"):
        for m in re.finditer(pattern[len("regex:"):], text):
            out[m.start():m.end()] = 1.0
        return out
    inside, column, depth = False, 0, 0
    for i, ch in enumerate(text):
        if pattern == "quotes":
            inside = inside != (ch == '"')
            out[i] = float(inside)
        elif pattern == "line-position":
            column = 0 if ch == "\n" else column + 1
            out[i] = column
        else:
            depth = depth + 1 if ch in _OPEN else max(0, depth - 1) if ch in _CLOSE else depth
            out[i] = depth
    return out


def pattern_signal(pieces: list[str], pattern: str) -> torch.Tensor:
    """The pattern per token: the mean of :func:`char_signal` over the characters of each token's text
    (``pieces[t]``, as the token reads in the text; a character-level token is one character).

    Shapes: T pieces → (T,) float64. A token with no characters gets the value of the character before it.
    """
    text = "".join(pieces)
    chars = char_signal(text, pattern)
    out = torch.zeros(len(pieces), dtype=torch.float64)
    start = 0
    for t, piece in enumerate(pieces):
        stop = start + len(piece)
        out[t] = chars[start:stop].mean() if stop > start else (chars[start - 1] if start else 0.0)
        start = stop
    return out


def correlations(values: torch.Tensor, signal: torch.Tensor) -> torch.Tensor:
    """Pearson's r of every unit's activation with the signal; a unit that never changes gets r = 0.

    Shapes: values (T, H), signal (T,) → (H,) float64. A constant signal has no correlation: ``ValueError``.
    """
    v = values.to(torch.float64)
    s = signal.to(torch.float64)
    if v.dim() != 2 or s.shape != (v.shape[0],):
        raise ValueError(f"expected values (T, H) and signal (T,), got {tuple(v.shape)} and {tuple(s.shape)}")
    s = s - s.mean()
    if float(s.norm()) == 0.0:
        raise ValueError("the pattern is the same on every token of the text, so nothing can correlate with it")
    v = v - v.mean(dim=0)
    norms = v.norm(dim=0) * s.norm()
    r = (v * s.unsqueeze(1)).sum(dim=0) / norms
    return torch.where(norms > 0, r, torch.zeros_like(r))


def rank_units(r: torch.Tensor) -> list[int]:
    """Units by ``|r|``, strongest first (a unit that is low inside quotes tracks them as well as one that
    is high); ties keep the lower unit first."""
    return sorted(range(len(r)), key=lambda i: (-abs(float(r[i])), i))


def unit_activations(layer_trace, state: str = "a") -> torch.Tensor:
    """Each unit's value per token from a :class:`rnnkit.diagnostics.gates.LayerTrace` of one sequence:
    ``a<t>`` (``state="a"``) or ``tanh(c<t>)`` (``state="c"``, LSTM only). Shapes: → (T, H)."""
    if state == "c":
        if "c" not in layer_trace.states:
            raise ValueError("--state c reads an LSTM's memory cell c<t>; this cell keeps none apart from a<t>")
        return torch.tanh(layer_trace.states["c"][:, 0])
    if state != "a":
        raise ValueError(f"state must be 'a' or 'c', got {state!r}")
    return layer_trace.states["a"][:, 0]


def top_variance_units(values: torch.Tensor, k: int) -> list[int]:
    """The ``k`` units whose activation varies most over the text (population variance), largest first."""
    var = values.to(torch.float64).var(dim=0, unbiased=False)
    return sorted(range(values.shape[1]), key=lambda i: (-float(var[i]), i))[:k]


def page_data(pieces: list[str], values: torch.Tensor, units: list[int], meta: dict,
              ranking: list[dict] | None = None, digits: int = 4) -> dict:
    """What the page shows (and ``activations.json`` keeps): the token texts, each chosen unit's values
    (rounded to ``digits``), their variance, and the ranking by a pattern. values (T, H)."""
    var = values.to(torch.float64).var(dim=0, unbiased=False)
    r = {e["unit"]: e["r"] for e in ranking or ()}
    return {**meta, "tokens": list(pieces),
            "units": [{"unit": u, "variance": round(float(var[u]), 6), "r": r.get(u),
                       "values": [round(float(v), digits) for v in values[:, u]]} for u in units],
            "ranking": ranking}


def write_activation_page(path: str | Path, data: dict) -> None:
    """Write :func:`page_data` as one standalone HTML page (atomically)."""
    from rnnkit.fileio import atomic_open

    # Inside <script>, "<" could close the element and "/" is the only other character a reader might
    # take for a link ("http://"): both are written as JSON escapes, which parse back to the same text.
    blob = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace("/", "\\/")
    title = _html_escape(data.get("title", "activation map"))
    html = _PAGE.replace("{{TITLE}}", title).replace("{{DATA}}", blob)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(html)


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


_PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{TITLE}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.2em 1.6em; color: #222; background: #fff; }
h1 { font-size: 1.25em; margin: 0 0 0.2em 0; }
.meta { color: #555; margin: 0 0 0.8em 0; font-size: 0.95em; }
.controls { display: flex; flex-wrap: wrap; gap: 0.8em; align-items: center; margin-bottom: 0.6em; }
.controls select, .controls button { font-size: 1em; }
.legend { display: inline-flex; align-items: center; gap: 0.4em; font-size: 0.9em; }
.bar { width: 180px; height: 14px; border: 1px solid #999;
       background: linear-gradient(to right, rgb(67,147,195), #fff, rgb(214,96,77)); }
.main { display: flex; gap: 1.2em; align-items: flex-start; }
#text { flex: 1 1 auto; min-width: 20em; font-family: ui-monospace, Menlo, Consolas, monospace;
        font-size: 14px; line-height: 1.55; white-space: pre-wrap; word-wrap: break-word;
        border: 1px solid #ccc; padding: 0.7em; }
#text span:hover { outline: 1px solid #000; }
#rank { flex: 0 0 16em; }
#ranking { border-collapse: collapse; font-size: 0.9em; width: 100%; }
#ranking caption { text-align: left; padding-bottom: 0.3em; }
#ranking td, #ranking th { padding: 0.15em 0.7em; border-bottom: 1px solid #eee; text-align: right; }
#ranking tr.shown { cursor: pointer; color: #0645ad; }
#ranking tr.current { background: #fde8c8; }
</style>
</head>
<body>
<h1 id="title"></h1>
<p class="meta" id="meta"></p>
<div class="controls">
  <label>unit <select id="unit"></select></label>
  <button id="prev" title="previous unit">&#9664;</button><button id="next" title="next unit">&#9654;</button>
  <span id="info"></span>
  <span class="legend"><span id="lo">&minus;1</span><span class="bar"></span><span id="hi">+1</span>
  <span id="what"></span></span>
</div>
<div class="main"><div id="text"></div><div id="rank"></div></div>
<script type="application/json" id="data">{{DATA}}</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const NEG = [67, 147, 195], POS = [214, 96, 77];
function colour(v) {
  const s = Math.max(-1, Math.min(1, v)), c = s < 0 ? NEG : POS, w = Math.abs(s);
  return "rgb(" + c.map(x => Math.round(255 + (x - 255) * w)).join(",") + ")";
}
document.getElementById("title").textContent = D.title;
document.getElementById("meta").textContent = D.subtitle || "";
document.getElementById("what").textContent = D.state_label + " (blue negative, white 0, red positive)";
const text = document.getElementById("text"), spans = D.tokens.map(tok => {
  const s = document.createElement("span"); s.textContent = tok; text.appendChild(s); return s;
});
const select = document.getElementById("unit");
D.units.forEach((u, i) => {
  const o = document.createElement("option"); o.value = i;
  o.textContent = u.unit + (u.r !== undefined && u.r !== null ? "  (r = " + u.r.toFixed(3) + ")" : "")
    + "  var " + u.variance.toFixed(3);
  select.appendChild(o);
});
function show(i) {
  const u = D.units[i];
  select.value = i;
  u.values.forEach((v, t) => { spans[t].style.background = colour(v);
                               spans[t].title = "unit " + u.unit + ": " + v.toFixed(4); });
  document.getElementById("info").textContent = "layer " + D.layer + ", unit " + u.unit + " of " + D.hidden;
  document.querySelectorAll("#ranking tr[data-unit]").forEach(tr =>
    tr.classList.toggle("current", Number(tr.dataset.unit) === u.unit));
}
select.addEventListener("change", () => show(Number(select.value)));
document.getElementById("prev").onclick = () => show((Number(select.value) + D.units.length - 1) % D.units.length);
document.getElementById("next").onclick = () => show((Number(select.value) + 1) % D.units.length);
if (D.ranking) {
  const index = new Map(D.units.map((u, i) => [u.unit, i]));
  const table = document.createElement("table"), cap = table.createCaption();
  table.id = "ranking";
  cap.textContent = "units of layer " + D.layer + " by |Pearson r| with " + D.pattern + " (click a blue row)";
  const cell = (tr, tag, s) => { const c = document.createElement(tag); c.textContent = s; tr.appendChild(c); };
  const head = table.insertRow();
  ["rank", "unit", "r"].forEach(s => cell(head, "th", s));
  D.ranking.slice(0, 20).forEach((e, k) => {
    const tr = table.insertRow();
    tr.dataset.unit = e.unit;
    [k + 1, e.unit, e.r.toFixed(3)].forEach(s => cell(tr, "td", s));
    if (index.has(e.unit)) {
      tr.className = "shown";
      tr.addEventListener("click", () => show(index.get(e.unit)));
    }
  });
  document.getElementById("rank").appendChild(table);
}
const wanted = /unit=(\d+)/.exec(location.hash);
const first = wanted ? D.units.findIndex(u => u.unit === Number(wanted[1])) : 0;
show(Math.max(0, first));
</script>
</body>
</html>
"""
