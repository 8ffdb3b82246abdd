"""report.md: the report as Markdown, figures linked by path relative to the report."""

from __future__ import annotations

import os
from pathlib import Path

from advland.reporting.report_items import (
    ItemEntry,
    cell,
    claim_notes,
    companions,
    history_lines,
    meta_fields,
    summary_rows,
)

PAPER = "Liu et al., *On the Loss Landscape of Adversarial Training*, NeurIPS 2020"


def render_markdown(entries: list[ItemEntry], out: Path) -> str:
    """The whole report; `out` is the folder report.md is written to (links are relative)."""
    ran = sum(e.result is not None for e in entries)
    lines = [
        "# advland: reproducing the paper",
        "",
        f"{PAPER}. {ran} of {len(entries)} items have results; the verdicts are decided by "
        "each item's recipe (`advland reproduce ITEM`).",
        "",
        "## Summary",
        "",
        *_table(
            ["item", "scale", "verdicts", "wall time"],
            [
                [f"[{r['item']}](#{r['item']})", r["scale"], r["verdicts"], r["wall time"]]
                for r in summary_rows(entries)
            ],
        ),
    ]
    for e in entries:
        lines += ["", *_item(e, out)]
    return "\n".join(lines) + "\n"


def _item(e: ItemEntry, out: Path) -> list[str]:
    head = [f'<a id="{e.paper.name}"></a>', "", f"## {e.paper.name}: {_esc(e.title)}", ""]
    claim = f"*Paper's claim:* {_esc(e.claim)}"
    if e.result is None:
        run = f"**not run**: run `advland reproduce {e.paper.name}` to produce it."
        return [*head, run, "", claim]
    r = e.result
    meta = meta_fields(r)
    lines = [
        *head,
        claim,
        "",
        # scale … compute; settings; hardware, versions, finished
        *(f"- {_pairs(part)}" for part in (meta[:6], meta[6:7], meta[7:])),
        "",
        "### Claims",
        "",
        *_claims(r["claims"]),
    ]
    if r["history"]:
        lines += ["", "### Changes made after results existed", ""]
        lines += [f"- {_esc(h)}" for h in history_lines(r)]
    if r["failed_jobs"]:
        lines += ["", "### Failed runs", ""]
        lines += [f"- `{_esc(j['job'])}`: {_esc(j['last_line'])}" for j in r["failed_jobs"]]
    for t in r["tables"]:
        lines += ["", *_result_table(t)]
    if r["figures"] and e.folder is not None:
        lines += ["", "### Figures", "", *_figures(e.folder, r["figures"], out)]
    return lines


def _pairs(fields: list[tuple[str, str]]) -> str:
    return " · ".join(f"**{k}:** {_esc(v)}" for k, v in fields)


def _claims(claims: list[dict]) -> list[str]:
    if not claims:
        return ["No claims were checked."]
    lines = []
    for c in claims:
        lines.append(f"- **{c['verdict']}**: {_esc(c['claim'])} ({_esc(c['evidence'])})")
        lines += [f"  - {_esc(n)}" for n in claim_notes(c)]
    return lines


def _result_table(t: dict) -> list[str]:
    lines = [f"### {_esc(t['name'])}", "", "Ours:", "", *_table(t["columns"], t["rows"])]
    if t["paper"] is not None:
        p = t["paper"]
        lines += ["", "Paper:", "", *_table(p["columns"], p["rows"])]
    return lines


def _figures(folder: Path, figures: list[str], out: Path) -> list[str]:
    lines = []
    for fig in figures:
        lines.append(f"![{_esc(fig)}]({_link(folder / fig, out)})")
        extra = [f"[{p.name}]({_link(p, out)})" for p in companions(folder, fig)]
        if extra:
            lines.append(f"Also: {', '.join(extra)}")
        lines.append("")
    return lines[:-1]


def _link(path: Path, out: Path) -> str:
    # Relative, with forward slashes, so the report works wherever the folder is moved;
    # spaces are escaped because Markdown link targets end at the first space.
    rel = Path(os.path.relpath(path.resolve(), out.resolve())).as_posix()
    return rel.replace(" ", "%20")


def _table(columns: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(_esc(c) for c in columns) + " |"]
    lines.append("|" + "---|" * len(columns))
    lines += ["| " + " | ".join(_esc(cell(v)) for v in row) + " |" for row in rows]
    return lines


def _esc(text: str) -> str:
    # Pipes would split table cells; newlines would break list items and rows.
    return str(text).replace("|", "\\|").replace("\n", " ")
