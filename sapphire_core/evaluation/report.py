"""The ablation table: one row per system, as Markdown, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from sapphire_core.io import atomic_write_bytes

#: (column header, path into a result row) shown in the Markdown table; the CSV/JSON hold everything.
COLUMNS: list[tuple[str, tuple[str, ...]]] = [
    ("a2a R@1", ("audio->audio", "R@1")),
    ("a2a top1", ("audio->audio", "top1")),
    ("a2a R@10", ("audio->audio", "R@10")),
    ("a2a mAP@10", ("audio->audio", "mAP@10")),
    ("a2a MRR", ("audio->audio", "MRR")),
    ("a2a medR", ("audio->audio", "median_rank")),
    ("excerpt top1", ("excerpt->audio", "top1")),
    ("excerpt MRR", ("excerpt->audio", "MRR")),
    ("x5s top1", ("excerpt 5s->audio", "top1")),
    ("x10s top1", ("excerpt 10s->audio", "top1")),
    ("x20s top1", ("excerpt 20s->audio", "top1")),
    ("hum top1", ("hum->audio", "top1")),
    ("hum MRR", ("hum->audio", "MRR")),
    ("t2a R@1", ("text->audio", "R@1")),
    ("t2a R@10", ("text->audio", "R@10")),
    ("a2t R@1", ("audio->text", "R@1")),
    ("lyrics top1", ("lyrics->audio", "top1")),
    ("triplets", ("triplets", "overall")),
    ("MS-SSIM rho", ("msssim_spearman",)),
    ("zs era acc", ("zero-shot", "era", "accuracy")),
    ("zs instr acc", ("zero-shot", "instrument_family", "accuracy")),
    ("zs mode acc", ("zero-shot", "mode", "accuracy")),
]


def lookup(row: dict, path: tuple[str, ...]) -> Any:
    node: Any = row
    for p in path:
        if not isinstance(node, dict) or p not in node:
            return None
        node = node[p]
    return node


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        return f"{v:.1f}" if abs(v) >= 10 else f"{v:.3f}"
    return str(v)


def flatten(row: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def markdown_table(rows: list[dict]) -> str:
    cols = [c for c in COLUMNS if any(lookup(r, c[1]) is not None for r in rows)]
    head = "| system | " + " | ".join(c[0] for c in cols) + " |"
    sep = "|---|" + "---:|" * len(cols)
    lines = [head, sep]
    for r in rows:
        lines.append(f"| {r['name']} | " + " | ".join(_fmt(lookup(r, c[1])) for c in cols) + " |")
    lines.append("")
    lines.append("Rows:")
    for r in rows:
        lines.append(f"- **{r['name']}**: {r['what']}")
    return "\n".join(lines) + "\n"


def write_tables(rows: list[dict], out_dir: str | Path, *, context: dict | None = None) -> dict[str, Path]:
    """Write ``ablation.md``, ``ablation.csv`` and ``ablation.json`` into ``out_dir``."""
    out = Path(out_dir)
    md = markdown_table(rows)
    if context:
        md = "\n".join(f"<!-- {k}: {v} -->" for k, v in context.items() if not isinstance(v, (list, dict))) + "\n" + md
    atomic_write_bytes(out / "ablation.md", md.encode())
    flat = [flatten(r) for r in rows]
    keys = sorted({k for f in flat for k in f}, key=lambda k: (k not in ("name", "what"), k))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    for f in flat:
        writer.writerow(f)
    atomic_write_bytes(out / "ablation.csv", buf.getvalue().encode())
    payload = {"context": context or {}, "rows": rows}
    atomic_write_bytes(out / "ablation.json", json.dumps(payload, indent=2, default=_json_default).encode())
    return {"md": out / "ablation.md", "csv": out / "ablation.csv", "json": out / "ablation.json"}


def _json_default(o):
    try:
        return float(o)
    except (TypeError, ValueError):
        return str(o)
