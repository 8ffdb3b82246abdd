"""`advland report`: the paper's items as data, report.md / report.html over result.json
fixtures with real figures, bad inputs through the real CLI, and a real headless browser."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from advland.errors import UserError
from advland.experiments import paper
from advland.reporting.figure import new_figure, save_figure
from advland.reporting.report import build_report, load_items
from support import run_cli

CHROMIUM = Path("/usr/bin/chromium")
PAPER_ORDER = ["fig1", "fig2", "fig3", "fig4", "fig5", "fig8", "fig9", "fig10", "fig11",
               "fig12", "fig13", "fig14", "fig15", "table1", "theory"]  # fmt: skip


# ---------------------------------------------------------------- fixtures


def _figure(folder: Path, stem: str, slope: float) -> str:
    """A real small line plot saved as PNG + PDF + JSON (the data beside it)."""
    fig, axes = new_figure(1, 1, (3.0, 2.0))
    x = [0, 1, 2, 3]
    y = [slope * v for v in x]
    axes[0, 0].plot(x, y, marker="o")
    axes[0, 0].set_xlabel("epoch")
    save_figure(fig, {"x": x, "y": y}, folder / stem)
    return f"{stem}.png"


def _result(item: str, figures: list[str], **extra) -> dict:
    return {
        "item": item,
        "title": paper.item(item).title,
        "claim": paper.item(item).claim,
        "scale": "quick",
        "settings": {"model": "lenet", "width": 4, "dataset": "mnist-5k", "epochs": 10},
        "seeds": [0, 1],
        "figures": figures,
        "tables": [],
        "claims": [],
        "runs": {"total": 18, "completed": 17, "diverged": 1, "failed": 0},
        "wall_s": 812.4,
        "hardware": {"cpu": "test cpu", "cores": 2, "gpu": None},
        "versions": {"advland": "0.1.0", "torch": "2.13.0", "python": "3.11.7"},
        "finished": "2026-11-28T18:00:00Z",
        **extra,
    }


def _write(root: Path, result: dict) -> Path:
    path = root / result["item"] / "result.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """fig4 (two figures, a table with the paper's numbers beside it) and theory (one
    figure, no table): one claim of each verdict between them."""
    root = tmp_path_factory.mktemp("reproduce")
    fig4 = root / "fig4"
    figs = [_figure(fig4, "fig4", 1.0), _figure(fig4, "fig4-lr", -0.5)]
    table = {
        "name": "Table 1 (MNIST rows)",
        "columns": ["task", "scheduler", "clean error %", "robust error %"],
        "rows": [["MNIST LeNet ε=0.4", "cosine", "1.23 ± 0.10", "7.01 ± 0.55"]],
        "paper": paper.table1_paper(("mnist-lenet",)),
    }
    claims = [
        {"claim": "cosine beats constant", "verdict": "reproduced", "evidence": "7.0 < 9.1"},
        {"claim": "less lr-sensitive", "verdict": "not reproduced", "evidence": "std 2.1 > 1.9"},
    ]
    _write(root, _result("fig4", figs, tables=[table], claims=claims))
    theory_figs = [_figure(root / "theory", "theory", 2.0)]
    claim = {"claim": "collapse at large ε", "verdict": "not run", "evidence": "skipped"}
    extra = {
        "scale": "full",
        "wall_s": 45.0,
        "hardware": {"cpu": "test cpu", "cores": None, "gpu": "Test GPU"},  # cpu_count() None
        "tables": [{"name": "checks", "columns": ["check", "passed"], "rows": [["thm1", True]]}],
        "failed_jobs": [{"job": "theory-seed1", "last_line": "RuntimeError: boom"}],
    }
    _write(root, _result("theory", theory_figs, claims=[claim], **extra))
    build_report(root, items=paper.ITEMS)
    return root


# ---------------------------------------------------------------- the paper as data


def test_paper_items_in_order():
    assert list(paper.ITEM_NAMES) == PAPER_ORDER
    assert all(it.title and it.claim for it in paper.ITEMS)


def test_table1_is_complete():
    assert len(paper.TABLE1) == 15  # 3 MNIST rows, 6 VGG, 6 ResNet18
    assert paper.table1_row("mnist-lenet", "constant", True) is None
    row = paper.table1_row("cifar10-resnet18", "cosine", True)
    assert (row.clean_mean, row.clean_std, row.robust_mean, row.robust_std) == (
        19.90, 0.18, 48.57, 0.25,
    )  # fmt: skip
    table = paper.table1_paper()
    assert len(table["rows"]) == 9
    assert all(len(r) == len(table["columns"]) for r in table["rows"])
    assert table["rows"][0] == ["MNIST LeNet ε=0.4", "constant", "1.56 ± 0.17", "8.58 ± 0.89",
                                "-", "-"]  # fmt: skip
    assert table["rows"][5][4:] == ["21.88 ± 0.33", "53.03 ± 0.14"]  # VGG linear, periodic


def test_random_theta_losses():
    cifar = dict(paper.RANDOM_THETA_LOSS["cifar10"])
    assert cifar[8 / 255] == 2.3071
    assert [m for _, m in paper.RANDOM_THETA_LOSS["mnist"]] == [
        2.3029, 2.3414, 2.3424, 2.3429, 2.3432,
    ]  # fmt: skip


# ---------------------------------------------------------------- report.md


def test_markdown_lists_every_item(results):
    md = (results / "report.md").read_text(encoding="utf-8")
    for name in PAPER_ORDER:
        assert f"## {name}: " in md
        assert f"| [{name}](#{name}) |" in md
    assert "| [fig1](#fig1) | - | not run | - |" in md
    assert "| [fig4](#fig4) | quick | 1/2 reproduced, 1 not reproduced | 13m 32s |" in md
    assert "| [theory](#theory) | full | 0/1 reproduced, 1 not run | 45s |" in md
    assert md.count("**not run**: run `advland reproduce") == 13
    # Paper order: headings appear as in the paper.
    positions = [md.index(f"## {name}: ") for name in PAPER_ORDER]
    assert positions == sorted(positions)


def test_markdown_tables_and_links(results):
    md = (results / "report.md").read_text(encoding="utf-8")
    assert "- **reproduced**: cosine beats constant (7.0 < 9.1)" in md
    assert "| MNIST LeNet ε=0.4 | cosine | 1.23 ± 0.10 | 7.01 ± 0.55 |" in md
    assert "Paper:" in md and "| MNIST LeNet ε=0.4 | constant | 1.56 ± 0.17 |" in md
    assert "- `theory-seed1`: RuntimeError: boom" in md
    assert "test cpu, ? cores, Test GPU" in md and "| thm1 | yes |" in md
    links = re.findall(r"\]\(([^)#]+)\)", md)
    assert "fig4/fig4.png" in links and "fig4/fig4.pdf" in links and "fig4/fig4.json" in links
    for link in links:
        assert (results / link).is_file(), link


def test_out_folder_links_relative(results, tmp_path):
    md_path, html_path = build_report(results, tmp_path / "elsewhere", items=paper.ITEMS)
    md = md_path.read_text(encoding="utf-8")
    for link in re.findall(r"!\[[^]]*\]\(([^)]+)\)", md):
        assert not Path(link).is_absolute()
        assert (md_path.parent / link).is_file()
    assert html_path.read_text(encoding="utf-8") == (results / "report.html").read_text(
        encoding="utf-8"
    )


# ---------------------------------------------------------------- report.html


class _Refs(HTMLParser):
    """Every tag name and every src/href/srcset/style/action attribute value."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.refs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "action", "data", "poster"):
                self.refs.append((tag, name, value or ""))


def test_html_is_self_contained(results):
    html = (results / "report.html").read_text(encoding="utf-8")
    parser = _Refs()
    parser.feed(html)
    assert "link" not in parser.tags and "iframe" not in parser.tags
    srcs = [v for tag, name, v in parser.refs if name == "src"]
    hrefs = [v for tag, name, v in parser.refs if name == "href"]
    assert len(srcs) == 3 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert hrefs and all(h.startswith("#") for h in hrefs)
    assert {name for _, name, _ in parser.refs} <= {"src", "href"}
    assert "url(" not in html and "@import" not in html
    png = base64.b64decode(srcs[0].split(",", 1)[1])
    assert png == (results / "fig4" / "fig4.png").read_bytes()
    assert 'data-images-expected="3/3"' in html
    for name in PAPER_ORDER:
        assert f'id="{name}"' in html


def test_html_escapes_result_text(tmp_path):
    fig = _figure(tmp_path / "fig5", "fig5", 1.0)
    _write(tmp_path, _result("fig5", [fig], title="<script>alert(1)</script>"))
    _, html_path = build_report(tmp_path, items=paper.ITEMS)
    html = html_path.read_text(encoding="utf-8")
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scale": "medium"}, "field 'scale' must be 'quick' or 'full', got 'medium'"),
        ({"seeds": [0, "1"]}, "field 'seeds[1]' must be an integer, got '1'"),
        ({"wall_s": -1}, "field 'wall_s' must be a finite number of seconds >= 0"),
        ({"item": "fig6"}, "field 'item' must be one of fig1,"),
        ({"runs": {"total": 1}}, "field 'runs.completed' is missing"),
        ({"hardware": {"cpu": "x", "cores": True, "gpu": None}}, "'hardware.cores' must be an"),
        ({"claims": [{"claim": "c", "verdict": "yes", "evidence": ""}]}, "'claims[0].verdict'"),
        (
            {"tables": [{"name": "t", "columns": ["a"], "rows": [[1, 2]], "paper": None}]},
            "'tables[0].rows[0]' must be a list of 1 cells",
        ),
        ({"figures": ["../x.png"]}, "must be a path inside fig4/"),
        ({"figures": ["fig4.pdf"]}, "must name a .png file"),
        ({"figures": ["gone.png"]}, "figure 'gone.png' listed in 'figures[0]' does not exist"),
    ],
)
def test_invalid_fields_name_file_and_field(tmp_path, change, message):
    fig = _figure(tmp_path / "fig4", "fig4", 1.0)
    path = _write(tmp_path, {**_result("fig4", [fig]), **change})
    with pytest.raises(UserError) as e:
        load_items(tmp_path, paper.ITEMS)
    assert str(path) in str(e.value) and message in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_field_and_duplicate_item(tmp_path):
    result = _result("fig5", [])
    del result["versions"]
    path = _write(tmp_path, result)
    with pytest.raises(UserError, match="field 'versions' is missing"):
        load_items(tmp_path, paper.ITEMS)
    path.write_text(json.dumps(_result("fig5", [])), encoding="utf-8")
    copy = tmp_path / "fig5-copy" / "result.json"
    copy.parent.mkdir()
    shutil.copy(path, copy)
    with pytest.raises(UserError, match="both hold results for 'fig5'"):
        load_items(tmp_path, paper.ITEMS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"item": "fig4", ', "result.json' is corrupt (not valid JSON)"),
        ('{"item": "fig4"}', "result.json: field 'title' is missing"),
    ],
)
def test_cli_bad_result_json_exits_2(tmp_path, text, message):
    path = tmp_path / "fig4" / "result.json"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    proc = run_cli("report", str(tmp_path), timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("advland: error: ") and str(path) in lines[0]
    assert message in lines[0]
    assert not (tmp_path / "report.html").exists()


def test_cli_missing_folder_exits_2(tmp_path):
    proc = run_cli("report", str(tmp_path / "nope"), timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "does not exist" in proc.stderr


def test_cli_writes_and_prints_summary(results, tmp_path):
    proc = run_cli("report", str(results), "--out", str(tmp_path), check=True, timeout=120)
    assert f"wrote {tmp_path / 'report.md'}" in proc.stdout
    assert f"wrote {tmp_path / 'report.html'}" in proc.stdout
    assert re.search(
        r"\| fig4 +\| quick +\| 1/2 reproduced, 1 not reproduced +\| 13m 32s", proc.stdout
    )
    assert re.search(r"\| fig1 +\| - +\| not run ", proc.stdout)


# ---------------------------------------------------------------- a real browser


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    return subprocess.run(
        [str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install chromium)"
)
def test_report_opens_in_chromium(results, tmp_path):
    url = (results / "report.html").resolve().as_uri()
    proc = _chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", url)
    assert proc.returncode == 0, proc.stderr[-2000:]
    marker = re.search(r'data-images-ok="(\d+)/(\d+)"', proc.stdout)
    assert marker, f"no images-ok marker in the DOM: {proc.stdout[:500]}"
    assert marker.group(0) == 'data-images-ok="3/3"'

    shot = tmp_path / "report.png"
    proc = _chromium(tmp_path, "--window-size=1200,1800", f"--screenshot={shot}", url)
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    _assert_not_blank(shot)


def _assert_not_blank(png: Path) -> None:
    from matplotlib.image import imread

    pixels = imread(png)[..., :3].reshape(-1, 3)
    dark = (pixels.mean(axis=1) < 0.5).mean()  # text, lines, table borders
    colours = len({tuple(p) for p in pixels[::97].round(2).tolist()})
    assert 0.005 < dark < 0.5, f"screenshot looks blank or broken: {dark:.4f} dark pixels"
    assert colours > 20, f"screenshot has only {colours} colours"
