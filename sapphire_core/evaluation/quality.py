"""The quality report (``docs/quality.md``): one table per task, every system beside the baselines.

Written by ``sapphire evaluate ... --report docs/quality.md`` from the rows of the same run, so the
learned rows and the training-free baselines are always measured on the same tracks and queries.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path
from typing import Any

from sapphire_core.evaluation.report import _fmt, lookup

#: (section title, what is queried and what counts as relevant, [(column, path into a row)]).
SECTIONS: list[tuple[str, str, list[tuple[str, tuple[str, ...]]]]] = [
    ("Versions (full track)", "each evaluation track queries the corpus (itself excluded); relevant = the other "
     "renderings of its work", [("top-1", ("audio->audio", "top1")), ("MRR", ("audio->audio", "MRR")),
                                ("mAP", ("audio->audio", "mAP")), ("R@10", ("audio->audio", "R@10"))]),
    ("Versions (excerpt queries)", "an excerpt of one rendering queries the corpus (its source track excluded); "
     "relevant = the other renderings", [("5 s top-1", ("excerpt 5s->audio", "top1")),
                                         ("10 s top-1", ("excerpt 10s->audio", "top1")),
                                         ("20 s top-1", ("excerpt 20s->audio", "top1")),
                                         ("all MRR", ("excerpt->audio", "MRR"))]),
    ("Degraded copies (real recordings)", "a 15 s excerpt of a produced recording, degraded; relevant = exactly "
     "its source track", [("clean", ("copy clean->audio", "top1")), ("pitch +1", ("copy pitch+1->audio", "top1")),
                          ("pitch -1", ("copy pitch-1->audio", "top1")),
                          ("stretch 0.9", ("copy stretch0.9->audio", "top1")),
                          ("stretch 1.1", ("copy stretch1.1->audio", "top1")),
                          ("noise 20 dB", ("copy noise20db->audio", "top1")), ("MP3", ("copy mp3->audio", "top1")),
                          ("all MRR", ("copy->audio", "MRR"))]),
    ("Hums", "a synthetic hum of a work's melody; relevant = every rendering of the work",
     [("top-1", ("hum->audio", "top1")), ("MRR", ("hum->audio", "MRR"))]),
    ("Text", "a generated description of an evaluation track queries the evaluation tracks",
     [("R@1", ("text->audio", "R@1")), ("R@10", ("text->audio", "R@10")), ("MRR", ("text->audio", "MRR"))]),
    ("Text (hand-written queries)", "plain requests written by hand in other words than the training captions "
     "(sapphire_core/evaluation/text_queries.yaml) query the evaluation tracks; relevant = tracks whose metadata "
     "match the request; chance = the share of relevant tracks",
     [("P@10", ("query->audio", "P@10")), ("hit@10", ("query->audio", "top10")), ("MRR", ("query->audio", "MRR")),
      ("chance P@10", ("query->audio", "chance P@10")), ("queries", ("query->audio", "queries"))]),
    ("Lyrics", "a work's lyrics query the corpus; relevant = its renderings",
     [("top-1", ("lyrics->audio", "top1")), ("MRR", ("lyrics->audio", "MRR"))]),
    ("Label triplets", "share of (anchor, positive, negative) triplets where the positive is closer",
     [("overall", ("triplets", "overall")), ("work", ("triplets", "work")), ("mode", ("triplets", "mode")),
      ("instrument family", ("triplets", "instrument_family")), ("era", ("triplets", "era")),
      ("tempo class", ("triplets", "tempo_class"))]),
]


def git_commit(path: str | Path = ".") -> str:
    """The commit checked out at ``path`` (``+dirty`` when the tree has changes), or ``unknown``."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=path, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=path,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


def quality_markdown(rows: list[dict[str, Any]], context: dict[str, Any], *, command: str = "",
                     title: str = "") -> str:
    """One corpus' block of the report: provenance, then one table per task that any row answers.

    Parameters
    ----------
    rows : list of dict
        Evaluation rows (:func:`sapphire_core.evaluation.runner.evaluate_system` and friends).
    context : dict
        The run's context (corpus, checkpoints, counts); ``commit`` and ``checkpoint_sha256`` are shown.
    command : str
        The command that regenerates the block.
    title : str
        The block's heading [default: the corpus folder's name].
    """
    title = title or Path(str(context.get("corpus", "corpus"))).name
    lines = [f"## {title}", ""]
    if command:
        lines += [f"Regenerate with `{command}`.", ""]
    for key in ("commit", "corpus", "corpus_profile", "checkpoints", "checkpoint_sha256", "eval_tracks", "held_out",
                "excerpt_queries", "copy_queries", "hum_queries", "lyrics_queries", "triplets", "seconds"):
        if key in context:
            lines.append(f"- **{key}**: {context[key]}")
    lines.append("")
    def known(row, path):  # a task without relevant items (e.g. one track per work) gives NaN
        v = lookup(row, path)
        return v is not None and not (isinstance(v, float) and math.isnan(v))

    for section, meaning, cols in SECTIONS:
        answered = [r for r in rows if any(known(r, path) for _, path in cols)]
        if not answered:
            continue
        cols = [c for c in cols if any(known(r, c[1]) for r in answered)]
        lines += [f"### {section}", "", meaning[0].upper() + meaning[1:] + ".", "",
                  "| system | " + " | ".join(c for c, _ in cols) + " |", "|---|" + "---:|" * len(cols)]
        lines += [f"| {r['name']} | " + " | ".join(_fmt(lookup(r, p)) for _, p in cols) + " |" for r in answered]
        lines.append("")
    lines += ["### Systems", ""] + [f"- **{r['name']}**: {r['what']}" for r in rows] + [""]
    return "\n".join(lines)


HEADER = """# SAPPHIRE quality report

Each block below is one evaluation corpus, written by the command it names (`make quality` runs
them all). Every learned row is measured beside the training-free baselines in the same run; the
protocol is in [evaluation.md](evaluation.md).
"""


def update_report(path: str | Path, name: str, block: str) -> str:
    """Replace (or append) the block ``name`` of the report at ``path``; other blocks are kept.

    Returns the whole new text (also written to ``path``, atomically).
    """
    from sapphire_core.io import atomic_write_text

    path = Path(path)
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    text = path.read_text(encoding="utf-8") if path.is_file() else HEADER
    new = f"{begin}\n{block.rstrip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + new + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + new + "\n"
    atomic_write_text(path, text)
    return text
