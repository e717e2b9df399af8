"""Output that reads anywhere: wide tables in a pipe or a narrow terminal keep every figure."""

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from rich.console import Console

sys.path.insert(0, str(Path(__file__).parent))
import _trained as T  # noqa: E402

from sapphire_core.cli.common import print_table  # noqa: E402


def _printed(header, rows, *, width: int, terminal: bool = False) -> str:
    buf = io.StringIO()
    print_table("t", header, rows, out=Console(file=buf, width=width, force_terminal=terminal, color_system=None))
    return buf.getvalue()


def test_a_table_that_fits_is_printed_as_is():
    text = _printed(["system", "a", "b"], [["x", "0.100", "0.200"]], width=80)
    assert "|---" not in text and re.search(r"x\s+│\s+0\.100\s+│\s+0\.200", text)


def test_a_wide_table_is_transposed_and_a_huge_one_becomes_markdown():
    header = ["system"] + [f"metric {i}" for i in range(20)]
    rows = [[f"sys{j}"] + [f"0.{j}{i:02d}" for i in range(20)] for j in range(3)]
    text = _printed(header, rows, width=80)
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
    assert re.search(r"metric 7\s+│\s+0\.007\s+│\s+0\.107\s+│\s+0\.207", text)  # one line per metric
    many = [[f"system number {j}"] + [f"0.{j:02d}{i:02d}" for i in range(20)] for j in range(12)]
    text = _printed(header, many, width=80)
    assert text.count("\n| ") == 20 + 1 and "…" not in text  # markdown, narrower way round: a line per metric
    assert all(cell in text for row in many for cell in row)


def test_evaluate_through_an_80_column_pipe_shows_every_figure(tmp_path):
    from sapphire_core.evaluation.report import COLUMNS, _fmt, lookup

    s = T.toy_setup()
    script = ("import sys; sys.path.insert(0, sys.argv.pop(1)); import _trained as T; "
              "import sapphire_core.plugins as P; P._DEFAULT = T.toy_registry(); "
              "from sapphire_core.cli import main; main()")
    args = ["evaluate", "--model", str(s["ckpt"]), "--corpus", str(s["corpus"]), "--out", str(tmp_path),
            "--no-msssim"]
    env = {k: v for k, v in os.environ.items() if k not in ("LINES", "FORCE_COLOR", "TTY_COMPATIBLE")}
    env["COLUMNS"] = "80"
    proc = subprocess.run([sys.executable, "-c", script, str(Path(__file__).parent), *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "…" not in out
    rows = json.loads((tmp_path / "ablation.json").read_text())["rows"]
    shown = [(r["name"], head, _fmt(lookup(r, path))) for r in rows for head, path in COLUMNS
             if lookup(r, path) is not None]
    assert len(shown) > 20
    for name, head, figure in shown:
        assert name in out and head in out and figure in out, (name, head, figure)
    # the layout is the transposed one: a line per metric with each system's figure on it
    first = rows[0]
    head, path = next((h, p) for h, p in COLUMNS if lookup(first, p) is not None)
    line = next(line for line in out.splitlines() if line.strip(" |│").startswith(head))
    assert _fmt(lookup(first, path)) in line


def test_brackets_in_titles_ids_and_explanations_are_printed_not_read_as_markup(monkeypatch):
    """'[model@sha]', '[Chorus]' and '[bold]' are data: rich would swallow them as markup tags."""
    from sapphire_core.cli import search_cmd
    from sapphire_core.retrieval.result import SearchResult

    buf = io.StringIO()
    monkeypatch.setattr(search_cmd, "console", Console(file=buf, width=200, color_system=None))
    hit = SearchResult("take[bold]2", 0.9, 1, {"composer": "[Anon]"}, None,
                       {"summary": "lyrics match", "lyrics_lines": [{"line": "[Chorus] la la", "words": ["la"]}]})
    search_cmd.render_results([hit], title="query  [model@abc123]")
    text = buf.getvalue()
    for shown in ("[model@abc123]", "take[bold]2", "[Anon]", '"[Chorus] la la"'):
        assert shown in text, shown
    assert "[Figure]" in _printed(["system", "[Figure]"], [["[x]", "0.1"]], width=80)
