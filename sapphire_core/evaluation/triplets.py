"""Triplet agreement: the share of (anchor, positive, negative) triplets an embedding orders correctly.

Triplets come from two places:

- a CSV in the Dim-sim layout (Lee et al. 2020, "Disentangled multidimensional metric learning
  for music similarity"): one row per judged triplet with the ids of ``anchor``, ``song1`` and
  ``song2``, their excerpt start times in seconds, and the votes for ``song1`` and ``song2``
  (which of the two sounds more like the anchor). The song with more votes is the positive;
  ties are dropped. Users plug in Dim-sim with their own copy of the audio (ids = track ids).
- the corpus labels: for a dimension d (era, key, ...), ``label_d(a) == label_d(p) != label_d(n)``.

Agreement on a sub-space uses only that slice of the embedding (conditional similarity,
Veit et al. 2017), as in the per-dimension Kiviat charts of Ribecky et al.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sapphire_core.errors import CorpusError

#: Column names accepted for each Dim-sim field (the released CSVs and common re-exports).
_COLUMNS = {
    "anchor": ("anchor", "anchor_id", "anchor_track", "anchor_song"),
    "song1": ("song1", "song1_id", "song_1", "track1", "candidate1"),
    "song2": ("song2", "song2_id", "song_2", "track2", "candidate2"),
    "anchor_start": ("anchor_start", "anchor_start_seconds", "anchor_start_sec", "anchor_offset"),
    "song1_start": ("song1_start", "song1_start_seconds", "song1_start_sec", "song1_offset"),
    "song2_start": ("song2_start", "song2_start_seconds", "song2_start_sec", "song2_offset"),
    "song1_votes": ("song1_votes", "song1_vote", "votes_song1", "song1_count"),
    "song2_votes": ("song2_votes", "song2_vote", "votes_song2", "song2_count"),
}

#: Label dimensions of the demo corpus that triplets are drawn from.
LABEL_DIMENSIONS = ("work", "era", "composer", "form", "mode", "key", "instrument_family", "tempo_class")


@dataclass(frozen=True)
class Triplet:
    """``anchor`` is closer to ``positive`` than to ``negative`` along ``dimension``."""

    anchor: str
    positive: str
    negative: str
    dimension: str = "overall"
    anchor_start: float = 0.0
    positive_start: float = 0.0
    negative_start: float = 0.0
    weight: float = 1.0


def read_dimsim_csv(path: str | Path, *, dimension: str = "dimsim") -> list[Triplet]:
    """Read triplets in the Dim-sim CSV layout (see the module docstring).

    Raises
    ------
    CorpusError
        When the file lacks a required column (naming the accepted names).
    """
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = {h.strip().lower(): h for h in (reader.fieldnames or [])}

        def col(field: str, required: bool = True) -> str | None:
            for alias in _COLUMNS[field]:
                if alias in header:
                    return header[alias]
            if required:
                raise CorpusError(f"{path}: no {field!r} column; accepted names: {', '.join(_COLUMNS[field])}")
            return None

        names = {f: col(f, required=f in ("anchor", "song1", "song2", "song1_votes", "song2_votes"))
                 for f in _COLUMNS}
        out = []
        for lineno, row in enumerate(reader, 2):
            try:
                v1, v2 = float(row[names["song1_votes"]]), float(row[names["song2_votes"]])
            except (TypeError, ValueError):
                raise CorpusError(f"{path}:{lineno}: votes must be numbers") from None
            if v1 == v2:
                continue  # no majority: the triplet says nothing

            def start(field):
                c = names[field]
                return float(row[c]) if c and row.get(c) not in (None, "") else 0.0

            s1, s2 = (row[names["song1"]], start("song1_start")), (row[names["song2"]], start("song2_start"))
            pos, neg = (s1, s2) if v1 > v2 else (s2, s1)
            out.append(Triplet(row[names["anchor"]], pos[0], neg[0], dimension, start("anchor_start"), pos[1], neg[1],
                               weight=abs(v1 - v2) / (v1 + v2)))
    return out


def track_label(track, dimension: str, relations: dict[str, dict] | None = None) -> str | None:
    """A track's label on a dimension: ``work`` -> work_id, else its metadata, else its work's relation labels."""
    if dimension == "work":
        return track.work_id
    value = track.metadata.get(dimension)
    if value is None and relations and track.work_id in relations:
        value = relations[track.work_id].get(dimension)
    return None if value is None else str(value)


def label_triplets(tracks: list, *, dimensions=LABEL_DIMENSIONS, per_dimension: int = 200, seed: int = 0,
                   relations: dict[str, dict] | None = None) -> list[Triplet]:
    """Sample triplets from labels: anchor and positive share the label, the negative does not.

    For dimensions other than ``work``, the positive is taken from a *different* work, so the
    triplet tests the dimension and not version identity.
    """
    rng = np.random.default_rng(seed)
    out: list[Triplet] = []
    for dim in dimensions:
        labels = {t.id: track_label(t, dim, relations) for t in tracks}
        work = {t.id: t.work_id for t in tracks}
        ids = [i for i, lab in labels.items() if lab is not None]
        if len({labels[i] for i in ids}) < 2:
            continue
        made, tries = 0, 0
        while made < per_dimension and tries < per_dimension * 20:
            tries += 1
            a = ids[rng.integers(len(ids))]
            pos = [i for i in ids if i != a and labels[i] == labels[a] and (dim == "work" or work[i] != work[a])]
            neg = [i for i in ids if labels[i] != labels[a]]
            if not pos or not neg:
                continue
            out.append(Triplet(a, pos[rng.integers(len(pos))], neg[rng.integers(len(neg))], dim))
            made += 1
    return out


def triplet_agreement(vectors: dict[str, np.ndarray], triplets: list[Triplet], *,
                      subspace: slice | None = None) -> dict[str, float]:
    """Share of triplets with ``sim(a, p) > sim(a, n)`` (cosine), per dimension and overall.

    Ties count half. Triplets naming ids absent from ``vectors`` are skipped (and counted).

    Returns
    -------
    dict
        ``{dimension: agreement, ..., "overall": agreement, "n": used, "skipped": missing}``.
    """
    def unit(i):
        v = np.asarray(vectors[i], np.float64)
        if subspace is not None:
            v = v[subspace]
        return v / max(np.linalg.norm(v), 1e-12)

    return score_agreement(lambda a, b: float(unit(a) @ unit(b)) if a in vectors and b in vectors else None,
                           triplets)


def score_agreement(similarity: Callable[[str, str], float | None], triplets: list[Triplet]) -> dict[str, float]:
    """:func:`triplet_agreement` for any score: ``similarity(a, b)`` (``a`` as the query), None when a
    track is unknown (the triplet is skipped)."""
    per: dict[str, list[float]] = {}
    weights: dict[str, list[float]] = {}
    skipped = 0
    for t in triplets:
        sp, sn = similarity(t.anchor, t.positive), similarity(t.anchor, t.negative)
        if sp is None or sn is None:
            skipped += 1
            continue
        score = 1.0 if sp > sn + 1e-9 else (0.5 if abs(sp - sn) <= 1e-9 else 0.0)
        per.setdefault(t.dimension, []).append(score)
        weights.setdefault(t.dimension, []).append(t.weight)
    out = {d: float(np.average(v, weights=weights[d])) for d, v in per.items()}
    all_scores = [s for v in per.values() for s in v]
    out["overall"] = float(np.mean(all_scores)) if all_scores else float("nan")
    out["n"] = float(len(all_scores))
    out["skipped"] = float(skipped)
    return out
