"""The quality report (``docs/quality.md``): one table per task, every system beside the baselines.

Written by ``sapphire evaluate ... --report docs/quality.md`` from the rows of the same run, so the
learned rows and the training-free baselines are always measured on the same tracks and queries.
"""

from __future__ import annotations

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
    ("Hums", "a synthetic hum of a work's melody; relevant = every rendering of the work",
     [("top-1", ("hum->audio", "top1")), ("MRR", ("hum->audio", "MRR"))]),
    ("Text", "a generated description of an evaluation track queries the evaluation tracks",
     [("R@1", ("text->audio", "R@1")), ("R@10", ("text->audio", "R@10")), ("MRR", ("text->audio", "MRR"))]),
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


def quality_markdown(rows: list[dict[str, Any]], context: dict[str, Any], *, command: str = "") -> str:
    """The report: provenance, then one table per task that any row answers.

    Parameters
    ----------
    rows : list of dict
        Evaluation rows (:func:`sapphire_core.evaluation.runner.evaluate_system` and friends).
    context : dict
        The run's context (corpus, checkpoints, counts); ``commit`` and ``checkpoint_sha256`` are shown.
    command : str
        The command that regenerates the report.
    """
    lines = ["# SAPPHIRE quality report", ""]
    if command:
        lines += [f"Regenerate with `{command}`.", ""]
    for key in ("commit", "corpus", "corpus_profile", "checkpoints", "checkpoint_sha256", "eval_tracks", "held_out",
                "excerpt_queries", "hum_queries", "lyrics_queries", "triplets", "seconds"):
        if key in context:
            lines.append(f"- **{key}**: {context[key]}")
    lines.append("")
    for title, meaning, cols in SECTIONS:
        answered = [r for r in rows if any(lookup(r, path) is not None for _, path in cols)]
        if not answered:
            continue
        cols = [c for c in cols if any(lookup(r, c[1]) is not None for r in answered)]
        lines += [f"## {title}", "", meaning[0].upper() + meaning[1:] + ".", "",
                  "| system | " + " | ".join(c for c, _ in cols) + " |", "|---|" + "---:|" * len(cols)]
        lines += [f"| {r['name']} | " + " | ".join(_fmt(lookup(r, p)) for _, p in cols) + " |" for r in answered]
        lines.append("")
    lines += ["## Systems", ""] + [f"- **{r['name']}**: {r['what']}" for r in rows] + [""]
    return "\n".join(lines)
