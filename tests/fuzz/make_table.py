"""Write the table "kind | command | exit | message" of issue 19: every fuzz kind alone in a corpus (no
good track beside it, so the exit code is the kind's own), through ``sapphire extract`` and ``sapphire index``.

    python tests/fuzz/make_table.py [OUT.md]     # default: $TMPDIR/sapphire_fuzz_table.md (generated, never committed)

The message is what the user is told about that input: its failures.jsonl reason, its warning, the
command's error line, or "processed".
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _fuzz_inputs as F  # noqa: E402
import _fuzz_run as R  # noqa: E402


def _message(run: R.Run, lines: list[F.Line], root: Path) -> str:
    texts = []
    for ln in lines:
        if ln.expect == "skip":
            texts += [f["error"] for f in run.failures if f.get("line") == ln.lineno]
        elif ln.track_id is not None:
            texts += [f["error"] for f in run.failures if f.get("id") == ln.track_id and not f.get("line")]
            texts += ["warning: " + "; ".join(w["warnings"]) for w in run.warnings if w["id"] == ln.track_id]
    if not texts:
        errors = [x for x in run.output.splitlines() if x.startswith("error:")]
        texts = errors or ["processed"]
    msg = texts[0].replace(str(root.resolve()), "CORPUS").replace(str(root), "CORPUS")
    return msg.replace("|", "\\|")


def main(out: Path) -> None:
    rows = ["| kind | command | exit | message |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="sapphire_fuzz_table_") as tmp:
        for i, kind in enumerate(F.ALL_KINDS):
            if not F.available(kind):
                rows.append(f"| {kind.name} | - | - | skipped: needs {kind.needs} |")
                continue
            root = Path(tmp) / f"k{i:02d}"
            lines = F.build_corpus(root, [kind], bom=False, good_tracks=0)
            if kind.name == "blank and whitespace lines":
                lines = F.build_corpus(root, [kind], bom=False, good_tracks=1)
            for command in ("extract", "index"):
                run = getattr(R, command)(root)
                rows.append(f"| {kind.name} | {command} | {run.code} | {_message(run, lines, root)} |")
        # a BOM at the start of the file, and an empty file
        root = Path(tmp) / "bom"
        lines = F.build_corpus(root, [], bom=True, good_tracks=1)
        for command in ("extract", "index"):
            run = getattr(R, command)(root)
            rows.append(f"| UTF-8 BOM at file start | {command} | {run.code} | {_message(run, lines, root)} |")
        for name, raw in [("empty tracks.jsonl", b""), ("UTF-16 tracks.jsonl", '{"id": "a"}\n'.encode("utf-16"))]:
            root = Path(tmp) / name.split()[0]
            root.mkdir()
            (root / "tracks.jsonl").write_bytes(raw)
            for command in ("extract", "index"):
                run = getattr(R, command)(root)
                rows.append(f"| {name} | {command} | {run.code} | {_message(run, [], root)} |")
    out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    print(f"{len(rows) - 2} rows written to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.gettempdir()) / "sapphire_fuzz_table.md")
