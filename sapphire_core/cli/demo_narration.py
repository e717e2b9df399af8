"""What each step of ``sapphire demo`` showed, in one or two plain sentences built from its own results.

Pure functions of numbers and result lists, so each sentence is tested on small inputs without
running the demo. A sentence states a measured fact ("rank 3", "62% of tracks"); none is canned.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any


def percent(x: float) -> str:
    """``0.625 -> '62%'`` (half to even, as Python rounds)."""
    return f"{x:.0%}"


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def corpus_sentence(work_ids: Iterable[str], query_kinds: Iterable[str]) -> str:
    """How many works, tracks and queries of each kind the corpus holds.

    Examples
    --------
    >>> corpus_sentence(["w1", "w1", "w2", "w2"], ["hum", "excerpt", "excerpt", "copy"])
    'The corpus renders 2 works as 4 tracks (2.0 versions per work); 2 excerpt, 1 copy and 1 hum queries test \
the search.'
    """
    works = Counter(work_ids)
    n = sum(works.values())
    out = f"The corpus renders {_count(len(works), 'work')} as {_count(n, 'track')}"
    if works:
        out += f" ({n / len(works):.1f} versions per work)"
    kinds = Counter(query_kinds)
    if kinds:
        said = [f"{c} {k}" for k, c in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))]
        out += "; " + (said[0] if len(said) == 1 else ", ".join(said[:-1]) + " and " + said[-1])
        out += " queries test the search"
    return out + "."


def extraction_sentence(*, tracks: int, computed: int, cached: int, failed: int) -> str:
    """What the extraction step did: computed or reused features, and the failures left out.

    Examples
    --------
    >>> extraction_sentence(tracks=10, computed=0, cached=30, failed=0)
    'All 10 tracks have their features cached (30 reused, none computed now): later steps never decode the audio.'
    >>> extraction_sentence(tracks=10, computed=27, cached=0, failed=1)
    '9 of 10 tracks have their features cached (27 computed now); 1 failed and is left out (see failures.jsonl).'
    """
    ok = tracks - failed
    head = f"All {tracks} tracks" if failed == 0 else f"{ok} of {tracks} tracks"
    done = f"{computed} computed now" if computed else "none computed now"
    said = f"{head} have their features cached ({f'{cached} reused, ' if cached else ''}{done})"
    if failed:
        return f"{said}; {_count(failed, 'failed and is', 'failed and are')} left out (see failures.jsonl)."
    return f"{said}: later steps never decode the audio."


def descriptions_sentence(per_track: Sequence[int]) -> str:
    """How many text descriptions the text tower will learn from.

    Examples
    --------
    >>> descriptions_sentence([3, 3, 2])
    '8 descriptions for 3 tracks (2-3 each), written from their metadata: what the text tower learns to match.'
    """
    if not per_track:
        return "No descriptions were written: text search will have nothing to learn from."
    lo, hi = min(per_track), max(per_track)
    each = f"{lo} each" if lo == hi else f"{lo}-{hi} each"
    return (f"{sum(per_track)} descriptions for {_count(len(per_track), 'track')} ({each}), written from their "
            "metadata: what the text tower learns to match.")


def training_sentence(metrics: dict, untrained: dict | None = None) -> str:
    """Validation retrieval after training, against the untrained model when known.

    Examples
    --------
    >>> training_sentence({"top1": 0.625, "MRR": 0.7}, {"top1": 0.2})
    'A held-out track finds another version of its work first 62% of the time (untrained: 20%).'
    >>> training_sentence({})
    'The run recorded no validation figures.'
    """
    top1 = metrics.get("top1")
    if not _finite(top1):
        return "The run recorded no validation figures."
    before = (untrained or {}).get("top1")
    tail = f" (untrained: {percent(before)})" if _finite(before) else ""
    return f"A held-out track finds another version of its work first {percent(top1)} of the time{tail}."


def index_sentence(*, indexed: int, extras: dict[str, int], failed: int) -> str:
    """What is now searchable.

    Examples
    --------
    >>> index_sentence(indexed=168, extras={"melody": 168, "version": 168}, failed=0)
    '168 tracks are searchable; the melody and version extras serve the plugin query modes.'
    >>> index_sentence(indexed=9, extras={}, failed=1)
    '9 tracks are searchable; 1 failed to index.'
    """
    parts = [f"{_count(indexed, 'track is', 'tracks are')} searchable"]
    if extras:
        names = sorted(extras)
        said = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        parts.append(f"the {said} {'extra serves' if len(names) == 1 else 'extras serve'} the plugin query modes")
    if failed:
        parts.append(f"{failed} failed to index")
    return "; ".join(parts) + "."


def first_rank(results: Iterable[Any], work_id: str | None) -> int | None:
    """The rank of the first result of ``work_id`` (results carry ``rank`` and ``metadata``), or None."""
    for r in results:
        if work_id is not None and (r.metadata or {}).get("work_id") == work_id:
            return int(r.rank)
    return None


def found_sentence(query: str, work_id: str, rank: int | None, k: int, *, other: bool = False) -> str:
    """Whether the first result renders the query's own work (``other``: the query's own track is excluded).

    Examples
    --------
    >>> found_sentence("excerpt", "w3", 1, 5, other=True)
    "The excerpt's first result is another rendering of its work (w3): yes."
    >>> found_sentence("hum", "w3", 4, 5)
    "The hum's first result is a rendering of its work (w3): no (the first one is at rank 4)."
    >>> found_sentence("lyrics", "w3", None, 5)
    "The lyrics' first result is a rendering of its work (w3): no (none in the top 5)."
    """
    owner = f"{query}'" if query.endswith("s") else f"{query}'s"
    head = f"The {owner} first result is {'another' if other else 'a'} rendering of its work ({work_id})"
    if rank == 1:
        return f"{head}: yes."
    return f"{head}: no ({f'the first one is at rank {rank}' if rank is not None else f'none in the top {k}'})."


def attributes_sentence(results: Sequence[Any], wanted: dict[str, str]) -> str:
    """How many results share each attribute a text query was written from.

    Examples
    --------
    >>> from types import SimpleNamespace as R
    >>> res = [R(metadata={"mode": "minor", "era": "baroque"}), R(metadata={"mode": "major", "era": "baroque"})]
    >>> attributes_sentence(res, {"mode": "minor", "era": "baroque"})
    'Of the 2 results, 1 shares the mode the text asks for (minor), 2 its era (baroque).'
    """
    wanted = {k: v for k, v in wanted.items() if v}
    if not results or not wanted:
        return f"{_count(len(results), 'result')} came back."
    bits = []
    for i, (key, value) in enumerate(wanted.items()):
        n = sum((r.metadata or {}).get(key) == value for r in results)
        name = key.replace("_", " ")
        bits.append(f"{n} {'shares' if n == 1 else 'share'} the {name} the text asks for ({value})" if i == 0
                    else f"{n} its {name} ({value})")
    return f"Of the {_count(len(results), 'result')}, " + ", ".join(bits) + "."


def comparison_sentence(ranks: dict[str, int | None], k: int) -> str:
    """Where each way of answering the same excerpt ranks a version of its work.

    Examples
    --------
    >>> comparison_sentence({"the trained model": 3, "Chroma alignment": 1}, 5)
    'On this excerpt, the trained model finds a version at rank 3; Chroma alignment finds one at rank 1.'
    >>> comparison_sentence({"the trained model": None, "Chroma alignment": 2}, 5)
    'On this excerpt, the trained model finds no version in the top 5; Chroma alignment finds one at rank 2.'
    """
    said = [f"{name} finds " + (f"{'a version' if i == 0 else 'one'} at rank {r}" if r is not None
                                else f"no version in the top {k}") for i, (name, r) in enumerate(ranks.items())]
    return f"On this excerpt, {'; '.join(said)}." if said else ""


def _metric(row: dict, task: str, metric: str) -> float | None:
    v = (row.get(task) or {}).get(metric)
    return float(v) if _finite(v) else None


def evaluation_sentences(rows: Sequence[dict]) -> str:
    """The trained model against the baselines on audio->audio, and the best system per query task.

    Rows are :class:`~sapphire_core.evaluation.evaluate.EvaluationReport` rows: ``name``, ``what``
    (``baseline: ...`` for a baseline) and per-task metric dicts.

    Examples
    --------
    >>> rows = [{"name": "default fused", "what": "default: fused", "audio->audio": {"top1": 0.6}},
    ...         {"name": "MFCC stats", "what": "baseline: MFCC", "audio->audio": {"top1": 0.3},
    ...          "hum->audio": {"top1": 0.1}},
    ...         {"name": "Random", "what": "baseline: random", "audio->audio": {"top1": 0.05}},
    ...         {"name": "QBH", "what": "melody matching", "hum->audio": {"top1": 0.7}}]
    >>> evaluation_sentences(rows)
    'default fused ranks another version first for 60% of held-out tracks; the best baseline, MFCC stats, \
for 30% (Random: 5%). Best top-1 on hums: QBH, 70%.'
    """
    def top1(row, task="audio->audio"):
        return _metric(row, task, "top1")

    out = []
    fused = next((r for r in rows if r["name"].endswith(" fused") and top1(r) is not None), None)
    base = [r for r in rows if str(r.get("what", "")).startswith("baseline") and top1(r) is not None]
    chance = next((r for r in base if r["name"] == "Random"), None)
    best_base = max((r for r in base if r is not chance), key=top1, default=None)
    if fused is not None:
        s = f"{fused['name']} ranks another version first for {percent(top1(fused))} of held-out tracks"
        if best_base is not None:
            s += f"; the best baseline, {best_base['name']}, for {percent(top1(best_base))}"
        if chance is not None:
            s += f" ({chance['name']}: {percent(top1(chance))})"
        out.append(s + ".")
    tasks = [("excerpt 10s->audio", "10 s excerpts"), ("hum->audio", "hums")]
    if not any(top1(r, tasks[0][0]) is not None for r in rows):
        tasks[0] = ("excerpt->audio", "excerpts")
    best = []
    for task, label in tasks:
        winner = max((r for r in rows if top1(r, task) is not None), key=lambda r: top1(r, task), default=None)
        if winner is not None:
            best.append(f"on {label}: {winner['name']}, {percent(top1(winner, task))}")
    if best:
        out.append("Best top-1 " + "; ".join(best) + ".")
    return " ".join(out) or "No system answered the evaluation tasks."


def report_sentence(html: str) -> str:
    """How many figures the analysis page holds.

    Examples
    --------
    >>> report_sentence("<figure>a</figure><figure>b</figure>")
    'The report holds 2 figures on one self-contained page: open it in a browser.'
    """
    return f"The report holds {_count(html.count('<figure'), 'figure')} on one self-contained page: " \
           "open it in a browser."
