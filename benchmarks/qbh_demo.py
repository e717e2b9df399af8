"""Query by humming on the demo corpus: MRR of the project's hums and of sung queries, with a failure
breakdown. The figures of ``test_demo_corpus_hums_mrr_from_audio`` for every query, split so that
changes can be checked on queries they were not looked at with.

Tracks are indexed from their audio (basic-pitch), queries are CREPE melodies. The tracks' pooled
note posteriorgrams and the query melodies are extracted once into ``--cache`` (a pickle under
``data/``: about 3 min of basic-pitch and 1 min of CREPE per 84 queries on one core) and reused; the
track melodies and affinities are derived from the posteriorgrams on every run
(:func:`sapphire_vocal.melody.melody_from_posteriorgram`), so a change to the melody derivation,
matching or the first stage is measured in a few minutes without a stale cache.

Query sets
----------
* ``hums_even`` / ``hums_odd``: the corpus' hum queries, every other one (``hums_even`` are the slow
  test's).
* ``sung<seed>``: the second generator (:mod:`sapphire_vocal.sung_queries`, never trained or tuned
  on) singing each hum's work; ``sung0`` is the slow test's (every other hum, seed ``i``), any other
  seed covers every hum (seed ``seed + i``): a fresh seed to validate on.

Failure causes (``--breakdown``), for each query whose work is not ranked first: *shortlist miss*
(not among the first stage's ``--shortlist`` tracks) with the rank DTW over every track gives it;
*extraction* (DTW over every track misranks it against the melody extracted from audio but ranks it
first against the score's melody); *query/matching* (misranked against both).

Run ``python benchmarks/qbh_demo.py [--corpus data/demo] [--seeds 0,1000] [--breakdown]``.
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path

import numpy as np


def extract(root: Path, cache: Path, seeds: list[int]) -> dict:
    """Track and query melodies of a corpus, extracted once into ``cache``."""
    from sapphire_core.audio import load_audio
    from sapphire_core.data import Corpus

    from sapphire_vocal import melody, qbh, sung_queries

    data = pickle.loads(cache.read_bytes()) if cache.exists() else {}
    data.pop("tracks", None)  # derived melodies of an older cache: derived again below instead
    if "posteriorgrams" not in data:
        data["posteriorgrams"] = [(t.id, t.work_id, melody.note_posteriorgram(load_audio(t.audio, sr=22050), 22050),
                                   t.metadata.get("melody")) for t in Corpus(root)]
        cache.write_bytes(pickle.dumps(data))
    data["tracks"] = []
    for tid, work, note, notes in data["posteriorgrams"]:
        tm = melody.melody_from_posteriorgram(note)
        data["tracks"].append((tid, work, tm.melody, tm.affinity, notes))
    hums = qbh.hum_queries(root)
    if "hums" not in data:
        data["hums"] = [(melody.melody_from_audio(load_audio(root / q["audio"], sr=16000), 16000), q["work_id"])
                        for q in hums]
        cache.write_bytes(pickle.dumps(data))
    first = {t.work_id: t for t in reversed(list(Corpus(root)))}
    for seed in seeds:
        if f"sung{seed}" in data:
            continue
        rows = []
        for i, q in enumerate(hums[::2] if seed == 0 else hums):
            t = first[q["work_id"]]
            s = sung_queries.sing(t.metadata["melody"], seed=i + seed, meter=t.metadata.get("meter", "4/4"),
                                  bpm=t.metadata.get("tempo_bpm", 90.0))
            rows.append((melody.melody_from_audio(s.audio, s.sr), q["work_id"]))
        data[f"sung{seed}"] = rows
        cache.write_bytes(pickle.dumps(data))
    return data


def breakdown(index, queries, ranks, score_refs: dict) -> dict:
    """Count the failure causes (see the module docstring) of the queries not ranked first."""
    from sapphire_vocal.qbh import reading_costs

    names = sorted(index.entries)
    causes: dict[str, int] = {}
    for (m, work), rank in zip(queries, ranks):
        if rank == 1:
            continue
        full = [index.work_of(names[i]) for i in np.argsort(
            reading_costs(m, [index.entries[t].reference() for t in names])[0], kind="stable")]
        score = [index.work_of(names[i]) for i in np.argsort(
            reading_costs(m, [score_refs[t] for t in names])[0], kind="stable")]
        if rank is None:
            cause = f"shortlist miss (DTW over every track: {'first' if full[0] == work else 'not first'})"
        elif full.index(work) > 0:
            cause = "extraction" if score[0] == work else "query/matching"
        else:
            cause = "shortlist order"  # first by DTW over every track, not within the shortlist
        causes[cause] = causes.get(cause, 0) + 1
        print(f"    {work:40s} rank {rank}  DTW-all {full.index(work) + 1}  score melody {score.index(work) + 1}")
    return causes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path("data/demo"))
    ap.add_argument("--cache", type=Path, default=Path("data/qbh_demo_cache.pkl"))
    ap.add_argument("--seeds", default="0,1000")
    ap.add_argument("--shortlist", type=int, default=100)
    ap.add_argument("--breakdown", action="store_true")
    args = ap.parse_args()

    from sapphire_vocal import melody, qbh

    data = extract(args.corpus, args.cache, [int(s) for s in args.seeds.split(",") if s])
    index = qbh.QbhIndex(shortlist=args.shortlist)
    index.add_melodies([(tid, m, work, aff, None) for tid, work, m, aff, _ in data["tracks"]])
    score_refs = {tid: melody.melody_affinity(melody.melody_from_notes(notes or []))
                  for tid, _, _, _, notes in data["tracks"]}
    sets = {"hums_even": data["hums"][::2], "hums_odd": data["hums"][1::2]}
    sets.update({k: v for k, v in data.items() if k.startswith("sung")})
    for name, queries in sets.items():
        t0 = time.perf_counter()
        r = qbh.evaluate_melodies(index, queries)
        print(f"{name:10s} n={r['n_queries']:3d}  MRR {r['mrr']:.3f}  top1 {r['top1']:.3f}  top5 {r['top5']:.3f}  "
              f"shortlist recall {r['first_stage_recall']:.3f}  ({time.perf_counter() - t0:.0f} s)", flush=True)
        if args.breakdown:
            for cause, count in sorted(breakdown(index, queries, r["ranks"], score_refs).items(), key=lambda x: -x[1]):
                print(f"  {count:3d}  {cause}")


if __name__ == "__main__":
    main()
