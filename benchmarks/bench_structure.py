"""Structure extractors: extraction speed in x realtime at three input lengths.

Input: a synthetic A A B A ... song (harmonic-rich melody plus sustained triads, 0.3 s notes)
cut to each length. Every extractor is timed cold (the shared beat-synchronous features
recomputed, as when it runs alone) and all four are timed together (features shared through
the memo, as in ``sapphire extract``).

Reference in the same run: SI-PLCA in numpy (:func:`sapphire_structure.siplca.si_plca_numpy`,
an explicit loop over shifts) against the torch implementation on CPU, and on CUDA when a GPU
is present, on the same beat chroma with the same settings.

Run: ``python benchmarks/bench_structure.py [--quick]`` (prints JSON).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

SR = 22050


def make_song(seconds: float) -> np.ndarray:
    """A A B A sections of melody over triads, repeated to ``seconds``."""
    from sapphire_core.testing.signals import chord, melody

    a = [60, 64, 67, 64, 65, 69, 67, 60]
    b = [70, 69, 67, 65, 63, 62, 60, 58]

    def phrase(notes, triad):
        mel = melody(notes, durations=0.3, sr=SR)
        return mel + 0.5 * chord(triad, sr=SR, seconds=mel.size / SR)[: mel.size]

    section_a, section_b = phrase(a, [48, 52, 55]), phrase(b, [46, 50, 53])
    song = np.concatenate([section_a, section_a, section_b, section_a])
    reps = int(np.ceil(seconds * SR / song.size))
    y = np.tile(song, reps)[: int(seconds * SR)]
    return (0.8 * y / np.max(np.abs(y))).astype(np.float32)


def _time(fn, repeat: int = 1) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(quick: bool = False) -> dict:
    import torch

    from sapphire_structure.extractors import EXTRACTORS
    from sapphire_core.context import TrackContext, track_context
    from sapphire_structure.features import beat_features
    from sapphire_structure.siplca import si_plca, si_plca_numpy

    lengths = [10.0, 30.0, 60.0] if quick else [30.0, 120.0, 300.0]
    siplca_cfg = {"n_patterns": 4, "pattern_len": 16, "n_iter": 100}
    results: dict = {"lengths_s": lengths, "torch_threads": torch.get_num_threads(),
                     "cuda": torch.cuda.is_available(), "by_length": {}}
    # Warm-up: librosa's numba JIT and torch's first conv dominate a first call.
    warm = make_song(5.0)
    for cls in EXTRACTORS:
        cls().extract(warm, None)
    for seconds in lengths:
        y = make_song(seconds)
        row: dict = {"extractors": {}}
        row["beat_features_s"] = _time(lambda y=y: beat_features(y, sr=SR))
        for cls in EXTRACTORS:
            ex = cls()

            def cold(ex=ex, y=y):  # outside a track context nothing is shared: each call computes
                ex.extract(y, None)

            dt = _time(cold)
            row["extractors"][cls.name] = {"seconds": dt, "x_realtime": seconds / dt}

        def together(y=y):
            with track_context(TrackContext()):  # one track's context, as in 'sapphire extract'
                for cls in EXTRACTORS:
                    cls().extract(y, None)

        dt = _time(together)
        row["all_four"] = {"seconds": dt, "x_realtime": seconds / dt}
        # SI-PLCA reference: numpy vs torch on the same chroma.
        chroma = beat_features(y, sr=SR).chroma.astype(np.float64)
        row["n_beats"] = int(chroma.shape[1])
        t_np = _time(lambda chroma=chroma: si_plca_numpy(chroma, **siplca_cfg))
        v = torch.tensor(chroma, dtype=torch.float32)
        t_cpu = _time(lambda v=v: si_plca(v, **siplca_cfg), repeat=2)
        sip = {"numpy_reference_s": t_np, "torch_cpu_s": t_cpu, "speedup_torch_cpu_vs_numpy": t_np / t_cpu}
        if torch.cuda.is_available():
            vg = v.cuda()
            si_plca(vg, **siplca_cfg)
            torch.cuda.synchronize()

            def on_gpu(vg=vg):
                si_plca(vg, **siplca_cfg)
                torch.cuda.synchronize()

            t_gpu = _time(on_gpu, repeat=2)
            sip.update({"torch_cuda_s": t_gpu, "speedup_torch_cuda_vs_numpy": t_np / t_gpu})
        row["siplca"] = sip
        results["by_length"][str(int(seconds))] = row
    rows = [results["by_length"][str(int(s))] for s in lengths]
    results["scaling"] = [
        {"what": "structure extraction, all four", "unit": "audio s", "sizes": lengths,
         "seconds": [r["all_four"]["seconds"] for r in rows]},
        {"what": "SI-PLCA, torch cpu", "unit": "beats", "sizes": [r["n_beats"] for r in rows],
         "seconds": [r["siplca"]["torch_cpu_s"] for r in rows]},
    ]
    return results


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
