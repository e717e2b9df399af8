"""MS-SSIM, zero-shot and the MFCC baseline on signals with known answers."""

import numpy as np
import pytest

from sapphire_core.evaluation.baselines import mfcc_baseline, mfcc_stats
from sapphire_core.evaluation.perceptual import logmel_image, ms_ssim_pairs, spearman
from sapphire_core.evaluation.zeroshot import class_prompts, zero_shot
from sapphire_core.testing import signals


def test_msssim_orders_spectrograms(tmp_path):
    sr = 22050
    signals.write_wav(tmp_path / "a.wav", signals.melody([60, 64, 67, 72] * 3, durations=0.5, sr=sr), sr)
    signals.write_wav(tmp_path / "b.wav", signals.melody([60, 64, 67, 72] * 3, durations=0.5, sr=sr) * 0.9, sr)
    signals.write_wav(tmp_path / "c.wav", signals.click_track(150, sr=sr, seconds=6), sr)
    imgs = {k: logmel_image(tmp_path / f"{k}.wav") for k in "abc"}
    assert imgs["a"].shape == (64, 256) and 0 <= imgs["a"].min() and imgs["a"].max() <= 1
    s = ms_ssim_pairs(imgs, [("a", "a"), ("a", "b"), ("a", "c")])
    assert s[0] == pytest.approx(1.0, abs=1e-5)
    assert s[1] > 0.9 > s[2]  # a gain change keeps the structure; a click track does not


def test_spearman():
    assert spearman(np.array([1, 2, 3, 4]), np.array([10, 20, 30, 45])) == pytest.approx(1.0)
    assert spearman(np.array([1, 2, 3, 4]), np.array([4, 3, 2, 1])) == pytest.approx(-1.0)
    assert np.isnan(spearman(np.array([1, 1, 1]), np.array([1, 2, 3])))


def test_zero_shot_with_an_aligned_text_space():
    # text "major" prompts map to +x, "minor" prompts to -x: audio on +x is major
    def embed_text(texts):
        return np.array([[1.0, 0.1] if "major" in t else [-1.0, 0.1] for t in texts])

    audio = np.array([[1.0, 0.0], [0.9, 0.2], [-1.0, 0.0], [-0.8, -0.3], [0.95, 0.5]])
    labels = ["major", "major", "minor", "minor", "minor"]
    out = zero_shot(audio, labels, embed_text, dimension="mode")
    assert out["accuracy"] == pytest.approx(4 / 5) and out["chance"] == 0.5
    assert out["roc_auc"] == pytest.approx(5 / 6)  # x = 0.95 (minor) outscores x = 0.9 (major): 5 of 6 pairs ordered
    assert class_prompts("instrument_family", ["voice"])["voice"][0] == "music played on vocal instruments"


def test_mfcc_baseline_separates_timbres(tmp_path):
    sr = 22050
    paths = {}
    for name, y in {"sine1": signals.sine(440, sr=sr, seconds=3), "sine2": signals.sine(466, sr=sr, seconds=3),
                    "click1": signals.click_track(120, sr=sr, seconds=3),
                    "click2": signals.click_track(100, sr=sr, seconds=3)}.items():
        paths[name] = tmp_path / f"{name}.wav"
        signals.write_wav(paths[name], y, sr)
    assert mfcc_stats(paths["sine1"]).shape == (20 + 210,)
    base = mfcc_baseline(tmp_path / "cache")
    raw = np.stack([base.raw(p) for p in paths.values()])
    assert list((tmp_path / "cache").rglob("*.npy"))  # cached by content
    z = base.fit(raw).transform(raw)
    sims = z @ z.T
    assert sims[0, 1] > sims[0, 2] and sims[2, 3] > sims[2, 0]


def test_chroma_2dftm_finds_the_transposed_version(tmp_path):
    """A tune transposed by 3 semitones is closer to itself than to another tune in the same key."""
    from sapphire_core.evaluation.baselines import chroma_baseline, two_d_ftm

    sr = 22050
    tune_a = [60, 62, 64, 65, 67, 65, 64, 62] * 4
    tune_b = [60, 67, 60, 64, 72, 71, 69, 67] * 4
    paths = {}
    for name, pitches, shift in (("a", tune_a, 0), ("a_up3", tune_a, 3), ("b", tune_b, 0)):
        paths[name] = tmp_path / f"{name}.wav"
        signals.write_wav(paths[name], signals.melody(pitches, durations=0.3, sr=sr, transpose=shift), sr)
    base = chroma_baseline(tmp_path / "cache")
    raw = np.stack([base.raw(p) for p in paths.values()])
    z = base.fit(raw).transform(raw)
    sims = z @ z.T
    assert sims[0, 1] > sims[0, 2] and sims[1, 0] > sims[1, 2]
    c = np.random.default_rng(1).random((12, 90))
    assert np.allclose(two_d_ftm(c), two_d_ftm(np.roll(c, 4, axis=0)))
