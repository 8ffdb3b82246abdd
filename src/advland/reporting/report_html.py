"""report.html: the report as one self-contained page.

Everything is inside the file (figures as base64 PNG data URIs, inline CSS and script) so it
can be mailed or archived alone; the only links are in-page anchors. On load, a small
script counts the images that decoded and sets `<body data-images-ok="N/M">`, which a
browser test compares with `data-images-expected`.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from advland.reporting.report_items import (
    ItemEntry,
    cell,
    claim_notes,
    companions,
    history_lines,
    meta_fields,
    summary_rows,
    verdict_counts,
)
from advland.reporting.report_md import PAPER

CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
  background:#fff;max-width:1040px;margin:0 auto;padding:24px 32px 64px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:0 0 6px}
h3{font-size:16px;margin:18px 0 6px}
section.item{border-top:1px solid #d0d7de;margin-top:28px;padding-top:18px}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13.5px}
th,td{border:1px solid #d0d7de;padding:4px 9px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td{font-variant-numeric:tabular-nums}
.pair{display:flex;flex-wrap:wrap;gap:24px}.pair>div{min-width:0;overflow-x:auto}
.caption{color:#57606a;font-size:13px;margin:2px 0 14px}
.meta{color:#57606a;font-size:13.5px}.meta b{color:#1f2328;font-weight:600}
.claim{font-style:italic}
figure{margin:10px 0}figure img{max-width:100%;height:auto;border:1px solid #eaeef2}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:12.5px;
  font-weight:600;white-space:nowrap}
.v-reproduced{background:#dafbe1;color:#116329}
.v-not-reproduced{background:#ffebe9;color:#a40e26}
.v-not-run{background:#eaeef2;color:#57606a}
.v-inconclusive{background:#fff8c5;color:#7d4e00}
ul.claims{padding-left:20px}ul.claims li{margin:3px 0}
a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}
"""

# Runs after every image has loaded or failed ("load" waits for both).
SCRIPT = """
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.dataset.imagesOk = ok.length + "/" + imgs.length;
});
"""


def render_html(entries: list[ItemEntry]) -> str:
    body = [_header(entries), *(_item(e) for e in entries)]
    n_images = sum(len(e.result["figures"]) for e in entries if e.result)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>advland: reproducing the paper</title>\n"
        f"<style>{CSS}</style>\n</head>\n"
        f'<body data-images-expected="{n_images}/{n_images}">\n'
        + "\n".join(body)
        + f"\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )


def _header(entries: list[ItemEntry]) -> str:
    ran = sum(e.result is not None for e in entries)
    rows = [
        [
            f'<a href="#{r["item"]}">{r["item"]}</a>',
            escape(r["scale"]),
            _verdict_cell(e, r["verdicts"]),
            escape(r["wall time"]),
        ]
        for e, r in zip(entries, summary_rows(entries), strict=True)
    ]
    paper = PAPER.replace("*", "")
    return (
        "<h1>advland: reproducing the paper</h1>\n"
        f'<p class="meta">{escape(paper)}. {ran} of {len(entries)} items have results; the '
        "verdicts are decided by each item's recipe (<code>advland reproduce ITEM</code>).</p>\n"
        "<h3>Summary</h3>\n" + _table(["item", "scale", "verdicts", "wall time"], rows)
    )


def _verdict_cell(e: ItemEntry, text: str) -> str:
    # Red if any claim failed, green if all held, grey when some were not run (or none).
    counts = verdict_counts(e)
    if counts["not reproduced"]:
        kind = "not-reproduced"
    elif counts["inconclusive"]:
        kind = "inconclusive"
    elif counts["reproduced"] and not counts["not run"]:
        kind = "reproduced"
    else:
        kind = "not-run"
    return f'<span class="badge v-{kind}">{escape(text)}</span>'


def _item(e: ItemEntry) -> str:
    name = e.paper.name
    head = (
        f'<section class="item" id="{name}">\n<h2>{name}: {escape(e.title)}</h2>\n'
        f'<p class="claim">Paper\'s claim: {escape(e.claim)}</p>\n'
    )
    if e.result is None:
        run = f"run <code>advland reproduce {name}</code> to produce it."
        return f'{head}<p><span class="badge v-not-run">not run</span> {run}</p>\n</section>'
    r = e.result
    parts = [head, _meta(r), "<h3>Claims</h3>", _claims(r["claims"]), _history(r)]
    parts.append(_failed(r["failed_jobs"]))
    parts += [_result_table(t) for t in r["tables"]]
    if r["figures"] and e.folder is not None:
        parts += ["<h3>Figures</h3>", *(_figure(e.folder, f) for f in r["figures"])]
    return "\n".join(parts) + "\n</section>"


def _meta(r: dict) -> str:
    fields = meta_fields(r)
    return "\n".join(f'<div class="meta"><b>{k}:</b> {escape(str(v))}</div>' for k, v in fields)


def _claims(claims: list[dict]) -> str:
    if not claims:
        return "<p>No claims were checked.</p>"
    items = [
        f'<li><span class="badge v-{c["verdict"].replace(" ", "-")}">{escape(c["verdict"])}'
        f'</span> {escape(c["claim"])} <span class="meta">({escape(c["evidence"])})</span>'
        + _notes(claim_notes(c))
        + "</li>"
        for c in claims
    ]
    return '<ul class="claims">\n' + "\n".join(items) + "\n</ul>"


def _notes(notes: list[str]) -> str:
    if not notes:
        return ""
    return '<ul class="meta">' + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>"


def _history(r: dict) -> str:
    lines = history_lines(r)
    if not lines:
        return ""
    items = "".join(f"<li>{escape(h)}</li>" for h in lines)
    return f'<h3>Changes made after results existed</h3>\n<ul class="meta">{items}</ul>'


def _failed(jobs: list[dict]) -> str:
    if not jobs:
        return ""
    items = [f"<li><code>{escape(j['job'])}</code>: {escape(j['last_line'])}</li>" for j in jobs]
    return "<h3>Failed runs</h3>\n<ul>\n" + "\n".join(items) + "\n</ul>"


def _result_table(t: dict) -> str:
    ours = _table(t["columns"], _cells(t["rows"]))
    if t["paper"] is None:
        return f"<h3>{escape(t['name'])}</h3>\n{ours}"
    paper = _table(t["paper"]["columns"], _cells(t["paper"]["rows"]))
    return (
        f'<h3>{escape(t["name"])}</h3>\n<div class="pair">'
        f"<div><b>Ours</b>\n{ours}</div><div><b>Paper</b>\n{paper}</div></div>"
    )


def _cells(rows: list[list]) -> list[list[str]]:
    return [[escape(cell(v)) for v in row] for row in rows]


def _table(columns: list[str], rows: list[list[str]]) -> str:
    """`rows` are HTML already (escaped by the caller)."""
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>\n" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>"


def _figure(folder: Path, fig: str) -> str:
    data = base64.b64encode((folder / fig).read_bytes()).decode("ascii")
    also = ", ".join(p.name for p in companions(folder, fig))
    caption = escape(fig) + (f" (also in this folder: {escape(also)})" if also else "")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{escape(fig)}">'
        f'<figcaption class="caption">{escape(folder.name)}/{caption}</figcaption></figure>'
    )
