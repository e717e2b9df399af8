"""Corpus build speed: seconds per rendered work vs one bare FluidSynth render (same run, same machine).

Reference: rendering one 20 s four-part MIDI file with the FluidSynth command line (the floor any
renderer pays). Measured: building whole works (parse, excerpt, key analysis, 2 variants rendered
in one FluidSynth run, effects, FLAC, hum, excerpt) with ``build_corpus(..., workers=1)``.
The ratio is per-work build time / reference render time. ``quick`` builds 2 works instead of 6.
Without ``quick`` and with a demo corpus present, it also reports the key/tempo agreement figures
the tests assert (mir_eval weighted key score, beat-tracker tempo hit rate).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKS_QUICK = ["ryansMammoth/TornadoReel.abc", "bach/bwv10.7.mxl"]
WORKS_FULL = WORKS_QUICK + ["mozart/k458/movement2.mxl", "monteverdi/madrigal.3.1.mxl",
                            "oneills1850-0981-1000-n986",
                            "palestrina/Sanctus_94_b.krn"]


def _cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _reference_render(tmp: Path) -> float:
    from sapphire_core.corpus.render import SOUNDFONT, Note, midi_bytes

    notes = [Note(i * 0.25, 0.5, 55 + (i * 5) % 24, part=i % 4) for i in range(80)]
    mid = tmp / "ref.mid"
    mid.write_bytes(midi_bytes(notes, [40, 40, 41, 42]))
    t = time.perf_counter()
    subprocess.run(["fluidsynth", "-ni", "-q", "-F", str(tmp / "ref.wav"), "-r", "22050", "-g", "0.6",
                    str(SOUNDFONT), str(mid)], check=True, capture_output=True)
    return time.perf_counter() - t


def _agreement(root: Path) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import librosa
    import mir_eval
    import numpy as np
    from test_corpus import estimate_key

    from sapphire_core.audio import load_audio

    rows = [json.loads(x) for x in (root / "tracks.jsonl").read_text().splitlines()]
    keys, tempos = [], []
    for t in rows:
        y = load_audio(root / t["audio"], sr=22050)
        keys.append(mir_eval.key.weighted_score(t["key"], estimate_key(y, 22050)))
        num, _, den = t["meter"].partition("/")
        if den in {"2", "4"} and num in {"2", "3", "4"} and t["instrument_family"] not in {"voice", "woodwind"}:
            est = float(np.atleast_1d(librosa.beat.beat_track(y=y, sr=22050)[0])[0])
            bpm = t["tempo_bpm"]
            tempos.append(mir_eval.tempo.detection(np.array([bpm / 2, bpm]), 0.5, np.array([est / 2, est]),
                                                   tol=0.08)[1])
    return {"key_weighted_score_mean": round(float(np.mean(keys)), 3), "key_tracks": len(keys),
            "tempo_hit_rate": round(float(np.mean(tempos)), 3), "tempo_tracks": len(tempos)}


def run(quick: bool = False) -> dict:
    from sapphire_core.corpus import build_corpus, default_demo_path

    works = WORKS_QUICK if quick else WORKS_FULL
    with tempfile.TemporaryDirectory(prefix="bench-corpus-") as tmp:
        tmp = Path(tmp)
        ref_s = min(_reference_render(tmp) for _ in range(2 if quick else 3))
        cpu0, t0 = _cpu(), time.perf_counter()
        report = build_corpus(tmp / "c", only=works, workers=1, seed=0)
        wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    n = max(report.works, 1)
    out = {
        "reference": "one fluidsynth CLI render of a 20 s 4-part MIDI file (s)",
        "reference_s": round(ref_s, 3),
        "works": report.works,
        "tracks": report.tracks,
        "build_s_per_work": round(wall / n, 3),
        "cpu_s_per_work": round(cpu / n, 3),
        "ratio_build_per_work_vs_reference": round(wall / n / ref_s, 2),
        "projected_small_build_s_2_workers": round(84 * wall / n / 2, 1),
    }
    demo = default_demo_path()
    if not quick and (demo / "tracks.jsonl").is_file():
        out.update(_agreement(demo))
    return out


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=1))
