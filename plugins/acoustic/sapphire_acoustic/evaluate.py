"""Recovering a corpus's rendered tempo and key: the acoustic plugin's check against real music.

Tempo: the share of tracks whose estimate is within 4 % of ``tempo_bpm`` (MIREX "Acc1"), and within
4 % of it or its double/half ("Acc2" restricted to factors 2 and 1/2, as the issue states).
Key: the mean of ``mir_eval.key.weighted_score`` (1 correct, 0.5 fifth, 0.3 relative, 0.2 parallel).

    python -m sapphire_acoustic.evaluate data/demo [--backend librosa] [--limit 40]
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np


def tempo_hit(estimate: float, reference: float, *, tolerance: float = 0.04, factors=(1.0, 2.0, 0.5)) -> bool:
    """Whether ``estimate`` is within ``tolerance`` (relative) of ``reference * f`` for some factor ``f``."""
    return any(abs(estimate - reference * f) <= tolerance * reference * f for f in factors)


def evaluate_corpus(corpus: str | Path, *, backend: str = "librosa", key_backend: str = "librosa",
                    limit: int | None = None) -> dict:
    """Estimate tempo and key of every track (or the first ``limit``) and score them against the metadata.

    ``backend`` / ``key_backend`` choose the chroma of :func:`~sapphire_acoustic.rhythm.estimate_tempo` /
    :func:`~sapphire_acoustic.tonal.estimate_key` (``librosa``: CQT, the defaults of both functions).

    Returns
    -------
    dict
        ``tracks``, ``tempo_acc1``, ``tempo_acc2`` (fractions), ``key_weighted_score`` (mean),
        ``key_correct`` (fraction exactly right), ``seconds``, and ``per_track`` rows.
    """
    import mir_eval

    from sapphire_acoustic.rhythm import estimate_tempo
    from sapphire_acoustic.tonal import estimate_key
    from sapphire_core.audio import load_audio

    root = Path(corpus)
    rows = [json.loads(line) for line in (root / "tracks.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("tempo_bpm") and r.get("key")][:limit]
    start = time.perf_counter()
    per_track = []
    for r in rows:
        audio = load_audio(root / r["audio"], sr=22050)
        tempo = estimate_tempo(audio, 22050, backend=backend)
        key = estimate_key(audio, 22050, backend=key_backend)
        per_track.append({"id": r["id"], "tempo_ref": float(r["tempo_bpm"]), "tempo_est": round(tempo, 2),
                          "meter": r.get("meter"), "key_ref": r["key"], "key_est": key,
                          "key_score": float(mir_eval.key.weighted_score(r["key"], key))})
    n = max(len(per_track), 1)
    return {
        "tracks": len(per_track),
        "tempo_acc1": sum(tempo_hit(t["tempo_est"], t["tempo_ref"], factors=(1.0,)) for t in per_track) / n,
        "tempo_acc2": sum(tempo_hit(t["tempo_est"], t["tempo_ref"]) for t in per_track) / n,
        "key_weighted_score": float(np.mean([t["key_score"] for t in per_track])) if per_track else 0.0,
        "key_correct": sum(t["key_score"] == 1.0 for t in per_track) / n,
        "seconds": time.perf_counter() - start,
        "per_track": per_track,
    }


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Tempo and key recovery on a SAPPHIRE corpus folder.")
    parser.add_argument("corpus", nargs="?", default="data/demo")
    parser.add_argument("--backend", choices=("librosa", "torch"), default="librosa")
    parser.add_argument("--key-backend", choices=("librosa", "torch"), default="librosa")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    res = evaluate_corpus(args.corpus, backend=args.backend, key_backend=args.key_backend, limit=args.limit)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
