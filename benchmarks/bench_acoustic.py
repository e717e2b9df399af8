"""Acoustic plugin: extraction speed (x realtime) of the librosa path vs the torch path, and peak memory.

Measured in one run on the same machine:

* ``speed``: all four acoustic extractors (perceptual_spectrum, tonal, rhythm, midlevel) on one
  synthetic track at three lengths, with ``backend: librosa`` (reference: librosa's functions per
  feature, CQT chroma) and ``backend: torch`` (one shared torch STFT per chunk, STFT chroma); best
  of ``repeats`` runs each, after a warm-up that pays numba's JIT. Ratio = torch x realtime / librosa.
* ``front_end``: the STFT -> mel -> MFCC -> chroma path alone, librosa calls vs ``torch_dsp``, per
  track and batched (8 tracks in one call), so the DSP speed-up is visible apart from the shared
  analysis code (beat tracking, peak picking) both paths run.
* ``memory``: peak RSS of a fresh process that synthesises a 60-minute track (~320 MB of float32
  samples) and runs all four extractors on it (target: <= ~2 GB).
* ``gpu``: the torch path and the batched front end on CUDA, only when a GPU is present.

    python benchmarks/bench_acoustic.py [--quick]
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np

SR = 22050
EXTRACTORS = ("perceptual_spectrum", "tonal", "rhythm", "midlevel")


def synth(seconds: float, *, seed: int = 0) -> np.ndarray:
    """Music-like test audio: a random diatonic melody with harmonics over a bass note, a click on every
    beat at 110 BPM and a little noise, generated block by block (no float64 copy of the whole track)."""
    rng = np.random.RandomState(seed)
    n = int(seconds * SR)
    out = np.empty(n, dtype=np.float32)
    scale = np.array([0, 2, 4, 5, 7, 9, 11])
    note_len = int(0.25 * SR)
    beat = 60.0 / 110.0
    block = note_len * 240  # one minute of notes at a time
    for b0 in range(0, n, block):
        b1 = min(n, b0 + block)
        t = np.arange(b0, b1) / SR
        notes = 60 + scale[rng.randint(0, 7, size=(b1 - b0) // note_len + 1)]
        f0 = 440.0 * 2 ** ((np.repeat(notes, note_len)[: b1 - b0] - 69) / 12)
        y = sum(0.5**k * np.sin(2 * np.pi * f0 * (k + 1) * t) for k in range(3))
        y += 0.3 * np.sin(2 * np.pi * 65.4 * t)
        phase = (t % beat) / beat
        y += 0.8 * np.exp(-phase * beat * 60) * np.sin(2 * np.pi * 2000 * t)
        y += 0.01 * rng.randn(b1 - b0)
        out[b0:b1] = (0.2 * y).astype(np.float32)
    return out


def _extractors(backend: str, device: str = "cpu"):
    from sapphire_acoustic.midlevel import MidLevel
    from sapphire_acoustic.perceptual import PerceptualSpectrum
    from sapphire_acoustic.rhythm import Rhythm
    from sapphire_acoustic.tonal import Tonal

    return [cls(backend=backend, device=device) for cls in (PerceptualSpectrum, Tonal, Rhythm, MidLevel)]


def time_extraction(audio: np.ndarray, backend: str, *, device: str = "cpu", repeats: int = 2,
                    threads: int | None = None) -> dict:
    """Best-of-``repeats`` seconds for all four extractors on ``audio`` (sharing one fresh track context per run).

    ``threads`` sets torch's intra-op threads for the run (restored after): on a CPU shared with other
    jobs, one thread per extraction process avoids OpenMP threads waiting on each other.
    """
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _time_extraction(audio, backend, device=device, repeats=repeats)
    finally:
        torch.set_num_threads(before)


def _time_extraction(audio, backend, *, device, repeats):
    from sapphire_core.context import TrackContext, track_context

    best, per = float("inf"), {}
    for _ in range(repeats):
        times = {}
        with track_context(TrackContext()):  # as in 'sapphire extract': the extractors share intermediates
            for ex in _extractors(backend, device):
                t0 = time.perf_counter()
                ex.extract(audio, None)
                times[ex.name] = time.perf_counter() - t0
        if sum(times.values()) < best:
            best, per = sum(times.values()), times
    return {"seconds": best, "x_realtime": audio.size / SR / best, "per_extractor_seconds": per}


def time_front_end(batch: np.ndarray, *, device: str = "cpu", repeats: int = 3) -> dict:
    """STFT -> 64-band mel -> log -> 20 MFCC, and STFT chroma: librosa per track vs torch batched/per track."""
    import librosa
    import torch

    from sapphire_acoustic import torch_dsp as td

    def lib():
        for y in batch:
            mel = librosa.feature.melspectrogram(y=y, sr=SR, n_mels=64)
            librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=20)
            librosa.feature.chroma_stft(y=y, sr=SR, tuning=0.0)

    def torch_run(x):
        with torch.no_grad():
            power = td.stft_power(x)
            mel = td.mel_from_power(power, sr=SR, n_fft=2048, n_mels=64)
            td.mfcc_from_db(td.power_to_db(mel), n_mfcc=20)
            td.chroma_from_power(power, sr=SR, n_fft=2048)
            if x.is_cuda:
                torch.cuda.synchronize()

    xb = torch.from_numpy(batch).to(device)

    def tor_batched():
        torch_run(xb)

    def tor_single():
        for i in range(xb.shape[0]):
            torch_run(xb[i])

    def best(fn):
        fn()
        out = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            out = min(out, time.perf_counter() - t0)
        return out

    audio_s = batch.size / SR
    res = {"tracks": int(batch.shape[0]), "audio_seconds": audio_s}
    if device == "cpu":
        res["librosa_x_realtime"] = audio_s / best(lib)
    res["torch_batched_x_realtime"] = audio_s / best(tor_batched)
    res["torch_per_track_x_realtime"] = audio_s / best(tor_single)
    if "librosa_x_realtime" in res:
        res["ratio_torch_batched_over_librosa"] = res["torch_batched_x_realtime"] / res["librosa_x_realtime"]
        res["ratio_torch_per_track_over_librosa"] = res["torch_per_track_x_realtime"] / res["librosa_x_realtime"]
    return res


MEMORY_CODE = """
import json, resource, sys, time
sys.path.insert(0, {here!r})
from bench_acoustic import synth, _extractors
audio = synth({seconds})
after_audio = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
shapes = {{}}
for ex in _extractors({backend!r}):
    feats = ex.extract(audio, None)
    shapes[ex.name] = {{k: list(v.shape) for k, v in feats.items()}}
    del feats
print(json.dumps({{"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rss_after_synth_mb": after_audio, "audio_mb": audio.nbytes / 2**20,
                  "extract_seconds": time.perf_counter() - t0, "shapes": shapes}}))
"""


def measure_memory(seconds: float, backend: str) -> dict:
    """Peak RSS (MB) of a fresh process extracting all four acoustic extractors from ``seconds`` of audio."""
    from pathlib import Path

    code = MEMORY_CODE.format(here=str(Path(__file__).parent), seconds=seconds, backend=backend)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]}
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["minutes"] = seconds / 60
    res["x_realtime"] = seconds / res["extract_seconds"]
    return res


def run(quick: bool = False) -> dict:
    import torch

    lengths = [10.0, 30.0, 60.0] if quick else [30.0, 120.0, 600.0]
    warm = synth(5.0, seed=1)
    for backend in ("librosa", "torch"):
        time_extraction(warm, backend, repeats=1)  # numba JIT, filter banks
    results: dict = {"sample_rate": SR, "extractors": list(EXTRACTORS), "torch_threads": torch.get_num_threads(),
                     "speed": {}}
    for seconds in lengths:
        audio = synth(seconds)
        reps = 1 if seconds > 200 else 2
        lib = time_extraction(audio, "librosa", repeats=reps)
        tor = time_extraction(audio, "torch", repeats=reps)
        tor1 = time_extraction(audio, "torch", repeats=reps, threads=1)
        results["speed"][f"{seconds:g}s"] = {
            "librosa": lib, "torch": tor, "torch_1_thread": tor1,
            "ratio_torch_over_librosa": tor["x_realtime"] / lib["x_realtime"],
            "ratio_torch_1_thread_over_librosa": tor1["x_realtime"] / lib["x_realtime"]}
    longest = results["speed"][f"{lengths[-1]:g}s"]
    results["reference_librosa_x_realtime"] = longest["librosa"]["x_realtime"]
    results["torch_x_realtime"] = longest["torch"]["x_realtime"]
    results["torch_1_thread_x_realtime"] = longest["torch_1_thread"]["x_realtime"]
    results["ratio_torch_over_librosa"] = longest["ratio_torch_over_librosa"]
    results["ratio_torch_1_thread_over_librosa"] = longest["ratio_torch_1_thread_over_librosa"]
    results["target_ratio"] = 3.0
    results["scaling"] = [
        {"what": f"acoustic extraction, {path.replace('_', ' ')}", "unit": "audio s", "sizes": lengths,
         "seconds": [results["speed"][f"{s:g}s"][path]["seconds"] for s in lengths]}
        for path in ("librosa", "torch", "torch_1_thread")]
    batch = np.stack([synth(30.0, seed=s) for s in range(8)])
    results["front_end"] = time_front_end(batch)
    minutes = 10 if quick else 60
    results["memory"] = {"torch": measure_memory(minutes * 60.0, "torch")}
    if not quick:
        results["memory"]["librosa"] = measure_memory(minutes * 60.0, "librosa")
    results["memory_target_mb"] = 2048
    if torch.cuda.is_available():
        audio = synth(lengths[-1])
        time_extraction(warm, "torch", device="cuda", repeats=1)
        results["gpu"] = {"device": torch.cuda.get_device_name(0),
                          "extraction": time_extraction(audio, "torch", device="cuda"),
                          "front_end": time_front_end(np.stack([synth(30.0, seed=s) for s in range(32)]),
                                                      device="cuda"),
                          "target_front_end_x_realtime": 1000.0}
    else:
        results["gpu"] = None
    return results


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
