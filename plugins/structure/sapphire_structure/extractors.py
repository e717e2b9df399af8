"""The structure modality's feature extractors: thin shells over the functional modules.

All four work on the same beat-synchronous features (:mod:`sapphire_structure.features`),
computed once per track and memoised, so running them together costs little more than one.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from sapphire_core.data import Track
from sapphire_core.device import resolve_device
from sapphire_core.extractor import FeatureExtractor
from sapphire_structure.chords import chord_segments_from_features, frame_energy
from sapphire_structure.features import beat_features, resize_matrix, resize_vector
from sapphire_structure.harmony import HARMONY_SUMMARY_NAMES, N_PROGRESSION, harmony_summary, progression_histogram
from sapphire_structure.segmentation import SEGMENT_SUMMARY_NAMES, boundary_profile, segment_features, segment_summary
from sapphire_structure.ssm import self_similarity


def _f32(x: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.asarray(x, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)


class SelfSimilarity(FeatureExtractor):
    """A fixed-size self-similarity matrix: beat-level chroma + timbre SSM
    (:func:`sapphire_structure.ssm.self_similarity`) area-resampled to ``size x size``, so a
    song's form is one picture whatever its length or tempo."""

    name, modality, version, sample_rate = "self_similarity", "structure", "2", 22050

    class Config(FeatureExtractor.Config):
        size: int = Field(64, ge=4, le=512, description="side S of the output (S, S) matrix")
        chroma_weight: float = Field(0.5, ge=0.0, le=1.0, description="weight of the chroma SSM vs the timbre SSM")
        n_steps: int = Field(4, ge=1, le=16, description="beats stacked per chroma column")

    def output_shapes(self):
        return {"ssm": (self.config.size, self.config.size)}

    def extract(self, audio: np.ndarray, track: Track) -> dict[str, np.ndarray]:
        bf = beat_features(audio, sr=self.sample_rate)
        ssm = self_similarity(bf, chroma_weight=self.config.chroma_weight, n_steps=self.config.n_steps)
        return {"ssm": _f32(resize_matrix(ssm, self.config.size))}


class Segments(FeatureExtractor):
    """Sections: Foote-novelty boundaries and spectral-clustering labels
    (:func:`sapphire_structure.segmentation.segment`), summarised as
    ``summary`` (named by ``SEGMENT_SUMMARY_NAMES``) and ``boundaries`` ((2, n_bins): novelty
    and label changes on a normalised time axis)."""

    name, modality, version, sample_rate = "segments", "structure", "2", 22050

    class Config(FeatureExtractor.Config):
        min_section_seconds: float = Field(4.0, gt=0, description="no two boundaries closer than this")
        half_width_seconds: float = Field(4.0, gt=0, description="half-width of the checkerboard kernel")
        threshold: float = Field(0.25, description="novelty peaks must exceed mean + threshold * std")
        max_labels: int = Field(6, ge=1, le=26)
        n_bins: int = Field(64, ge=4, le=1024, description="time bins of the boundaries feature")

    def output_shapes(self):
        return {"boundaries": (2, self.config.n_bins), "summary": (len(SEGMENT_SUMMARY_NAMES),)}

    def extract(self, audio: np.ndarray, track: Track) -> dict[str, np.ndarray]:
        c = self.config
        seg = segment_features(beat_features(audio, sr=self.sample_rate), min_section_seconds=c.min_section_seconds,
                               half_width_seconds=c.half_width_seconds, threshold=c.threshold,
                               max_labels=c.max_labels)
        return {"boundaries": _f32(boundary_profile(seg, c.n_bins)), "summary": _f32(segment_summary(seg))}


class SIPLCAPatterns(FeatureExtractor):
    """Repeated harmonic patterns by SI-PLCA on beat chroma (:func:`sapphire_structure.siplca.si_plca`).

    ``patterns`` is ``(K, 12, L)``, ordered by mixing weight; ``activations`` is ``(K, n_bins)``,
    each pattern's weighted activation pooled onto a normalised time axis (row ``k`` sums to
    its weight ``z_k``). ``device`` picks where the EM runs (``"auto"``: CUDA when available).
    """

    name, modality, version, sample_rate = "siplca", "structure", "2", 22050

    class Config(FeatureExtractor.Config):
        n_patterns: int = Field(4, ge=1, le=32)
        pattern_len: int = Field(16, ge=1, le=128, description="pattern length in beats")
        n_iter: int = Field(100, ge=1, le=5000)
        sparsity: float = Field(0.0, ge=0.0, le=1.0)
        n_bins: int = Field(32, ge=4, le=1024)
        seed: int = 0
        device: Literal["cpu", "cuda", "auto"] = "cpu"

    def __init__(self, config=None, **settings):
        super().__init__(config, **settings)
        self._device()  # a 'cuda' setting without a GPU fails here, naming the setting

    def output_shapes(self):
        c = self.config
        return {"patterns": (c.n_patterns, 12, c.pattern_len), "activations": (c.n_patterns, c.n_bins)}

    def _device(self):
        return resolve_device(self.config.device, what="siplca.device")

    def extract(self, audio: np.ndarray, track: Track) -> dict[str, np.ndarray]:
        import torch

        from sapphire_structure.siplca import si_plca

        c = self.config
        bf = beat_features(audio, sr=self.sample_rate)
        V = torch.as_tensor(bf.chroma, dtype=torch.float32, device=self._device())
        W, H, z = si_plca(V, n_patterns=c.n_patterns, pattern_len=c.pattern_len, n_iter=c.n_iter,
                          sparsity=c.sparsity, seed=c.seed)
        W, H, z = (t.detach().double().cpu().numpy() for t in (W, H, z))
        order = np.argsort(-z, kind="stable")
        act = resize_vector(H[order], c.n_bins)
        # Row k sums to z_k: pooled activation mass, whatever the track length.
        act = act / np.maximum(act.sum(axis=1, keepdims=True), 1e-12) * z[order, None]
        return {"patterns": _f32(W[order]), "activations": _f32(act)}


class Harmony(FeatureExtractor):
    """Chords (:func:`sapphire_structure.chords.recognise_chords`) summarised as ``summary``
    (named by ``HARMONY_SUMMARY_NAMES``) and ``progression`` (a transposition-invariant chord
    bigram histogram, :func:`sapphire_structure.harmony.progression_histogram`)."""

    name, modality, version, sample_rate = "harmony", "structure", "2", 22050

    class Config(FeatureExtractor.Config):
        expected_chord_seconds: float = Field(1.5, gt=0, description="sets the HMM self-transition")
        sharpness: float = Field(20.0, gt=0, description="inverse temperature of template matching")

    def output_shapes(self):
        return {"summary": (len(HARMONY_SUMMARY_NAMES),), "progression": (N_PROGRESSION,)}

    def extract(self, audio: np.ndarray, track: Track) -> dict[str, np.ndarray]:
        bf = beat_features(audio, sr=self.sample_rate)
        chords = chord_segments_from_features(bf, frame_energy(audio, hop_length=bf.hop_length),
                                              expected_chord_seconds=self.config.expected_chord_seconds,
                                              sharpness=self.config.sharpness)
        return {"summary": _f32(harmony_summary(bf, chords)), "progression": _f32(progression_histogram(chords))}


EXTRACTORS = (SelfSimilarity, Segments, SIPLCAPatterns, Harmony)
