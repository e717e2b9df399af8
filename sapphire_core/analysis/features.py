"""Per-track tables for analysis: scalar features (metadata, cached extractor outputs, mid-level
values) and per-modality embeddings of a model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sapphire_core.data import Corpus

METADATA_NUMERIC = ("tempo_bpm", "duration", "transpose", "n_parts")


def summarise(name: str, value: np.ndarray, *, max_vector: int = 8) -> dict[str, float]:
    """Scalars of one feature array: itself if scalar, each entry of a short vector, else mean and spread."""
    v = np.asarray(value, dtype=np.float64)
    if v.size == 0 or not np.all(np.isfinite(v)):
        return {}
    if v.ndim == 0:
        return {name: float(v)}
    if v.ndim == 1 and v.size <= max_vector:
        return {f"{name}[{i}]": float(x) for i, x in enumerate(v)}
    return {f"{name}:mean": float(v.mean()), f"{name}:std": float(v.std())}


def feature_table(corpus: Corpus, extractors: list, cache, *,
                  on_progress=None) -> tuple[list[str], list[str], np.ndarray]:
    """``(track ids, feature names, (N, F) values)``; NaN where a track lacks a feature.

    Reads the feature cache (computing on a miss) for ``extractors``; an extractor's ``interpretable``
    outputs are split into their named values (``midlevel.dissonance``), the others summarised.
    Features constant over the corpus are dropped.
    """
    from sapphire_core.errors import SapphireError
    from sapphire_core.extraction import extract_track

    rows: dict[str, dict[str, float]] = {}
    for t in corpus.tracks:
        row: dict[str, float] = {}
        for key in METADATA_NUMERIC:
            if isinstance(t.metadata.get(key), (int, float)):
                row[f"meta.{key}"] = float(t.metadata[key])
        if t.metadata.get("mode") in ("major", "minor"):
            row["meta.minor"] = float(t.metadata["mode"] == "minor")
        for ex in extractors:
            try:
                feats, _ = extract_track(t, [ex], cache)
            except SapphireError:
                continue
            for fname, value in feats[ex.name].items():
                if fname == "present":
                    continue
                names = ex.interpretable.get(fname)
                if names:
                    v = np.asarray(value, np.float64).reshape(-1)
                    row.update({f"{ex.name}.{n}": float(x) for n, x in zip(names, v)})
                else:
                    row.update(summarise(f"{ex.name}.{fname}", value))
        rows[t.id] = row
        if on_progress:
            on_progress(1)
    ids = list(rows)
    names = sorted({k for r in rows.values() for k in r})
    X = np.array([[rows[i].get(n, np.nan) for n in names] for i in ids], dtype=np.float64)
    keep = [j for j in range(len(names)) if np.nanstd(X[:, j]) > 1e-12 and np.isfinite(X[:, j]).sum() >= 5]
    return ids, [names[j] for j in keep], X[:, keep]


def select_features(names: list[str], X: np.ndarray, *, limit: int = 40) -> tuple[list[str], np.ndarray]:
    """Keep at most ``limit`` features, spread over their sources (round-robin by extractor prefix)."""
    if len(names) <= limit:
        return names, X
    groups: dict[str, list[int]] = {}
    for j, n in enumerate(names):
        groups.setdefault(n.split(".")[0], []).append(j)
    chosen: list[int] = []
    while len(chosen) < limit:
        progressed = False
        for g in groups.values():
            if g and len(chosen) < limit:
                chosen.append(g.pop(0))
                progressed = True
        if not progressed:
            break
    chosen.sort()
    return [names[j] for j in chosen], X[:, chosen]


def paths_exist(paths: list[Path]) -> list[Path]:
    return [p for p in paths if Path(p).is_file()]
