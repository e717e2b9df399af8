"""An in-test plugin whose extractor is slow enough to kill mid-run (used by the extraction tests)."""

from __future__ import annotations

import os
import time

import numpy as np
from pydantic import Field

from sapphire_core import hookimpl
from sapphire_core.extractor import FeatureExtractor


class SpectrumStats(FeatureExtractor):
    """Band energies of the magnitude spectrum (deterministic).

    ``$SAPPHIRE_TOY_DELAY`` seconds of sleep simulate slow work without changing the config (and so the cache key).
    """

    name, modality, version, sample_rate = "spectrum_stats", "toy", "1", 8000

    class Config(FeatureExtractor.Config):
        bands: int = Field(8, ge=1)

    def output_shapes(self):
        return {"bands": (self.config.bands,), "frames": (2, None)}

    def extract(self, audio, track):
        if os.environ.get("SAPPHIRE_TOY_FAIL") and track.id in os.environ["SAPPHIRE_TOY_FAIL"].split(","):
            raise ValueError("simulated extractor bug")
        time.sleep(float(os.environ.get("SAPPHIRE_TOY_DELAY", "0")))
        mag = np.abs(np.fft.rfft(audio))
        bands = np.array([b.mean() for b in np.array_split(mag, self.config.bands)], dtype=np.float32)
        frames = audio[: len(audio) // 800 * 800].reshape(-1, 800)
        stats = np.stack([frames.mean(axis=1), frames.std(axis=1)]).astype(np.float32)
        return {"bands": bands, "frames": stats}


@hookimpl
def register_extractors(register):
    register(SpectrumStats)
