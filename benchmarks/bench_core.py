"""Core audio input: decoding speed and peak memory at three lengths up to 60 minutes.

Reference in the same run: ``librosa.load`` of the whole file (what most MIR code does), against
SAPPHIRE's block-wise streaming decoder (:func:`sapphire_core.audio.load_audio`). Each load runs
in a fresh subprocess so peak RSS is that load's alone. Target: a 60-minute file in <= ~2 GB.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LOADERS = {
    "sapphire": "from sapphire_core.audio import load_audio as f; y = f(p, sr=22050)",
    "librosa": "import librosa; y, _ = librosa.load(p, sr=22050, mono=True, res_type='soxr_hq')",
}


def write_long_file(path: Path, minutes: float, sr: int = 44100) -> None:
    """A stereo 44.1 kHz FLAC of a slowly gliding tone, written in blocks (bounded memory)."""
    import soundfile as sf

    block = sr * 30
    total = int(minutes * 60 * sr)
    with sf.SoundFile(str(path), "w", samplerate=sr, channels=2, subtype="PCM_16", format="FLAC") as fh:
        for start in range(0, total, block):
            t = (np.arange(start, min(total, start + block)) / sr).astype(np.float64)
            left = 0.3 * np.sin(2 * np.pi * (220 + 20 * np.sin(t / 7)) * t)
            fh.write(np.stack([left, 0.5 * left], axis=1).astype(np.float32))


def measure(loader: str, path: Path) -> dict:
    code = (f"import resource, time; p = {str(path)!r}; t0 = time.perf_counter(); {LOADERS[loader]}; "
            "dt = time.perf_counter() - t0; import json; "
            "print(json.dumps({'seconds': dt, 'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "
            "'samples': int(y.size)}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> dict:
    minutes = [1, 5, 15] if quick else [1, 10, 60]
    results: dict = {"minutes": minutes, "by_length": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for m in minutes:
            path = Path(tmp) / f"long_{m}.flac"
            t0 = time.perf_counter()
            write_long_file(path, m)
            row = {"write_seconds": time.perf_counter() - t0}
            for loader in LOADERS:
                res = measure(loader, path)
                if "seconds" in res:
                    res["x_realtime"] = m * 60 / res["seconds"]
                row[loader] = res
            if "seconds" in row["sapphire"] and "seconds" in row["librosa"]:
                row["memory_ratio_librosa_over_sapphire"] = row["librosa"]["peak_rss_mb"] / row["sapphire"]["peak_rss_mb"]
                row["speed_ratio_sapphire_over_librosa"] = row["librosa"]["seconds"] / row["sapphire"]["seconds"]
            results["by_length"][f"{m}min"] = row
            path.unlink()
    longest = results["by_length"][f"{minutes[-1]}min"]["sapphire"]
    results["longest_peak_rss_mb"] = longest.get("peak_rss_mb")
    results["longest_within_2gb"] = bool(longest.get("peak_rss_mb", 1e9) <= 2048)
    rows = [results["by_length"][f"{m}min"] for m in minutes]
    results["scaling"] = [
        {"what": f"decode ({loader})", "unit": "audio min", "sizes": minutes,
         "seconds": [r[loader].get("seconds") for r in rows], "peak_mb": [r[loader].get("peak_rss_mb") for r in rows]}
        for loader in LOADERS]
    return results


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
