"""The shared ModalityContract for every vocal extractor/encoder pair, plus plugin registration."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sapphire_core.collate import collate_features, feature_key
from sapphire_core.data import Track
from sapphire_core.errors import ConfigError
from sapphire_core.testing import ModalityContract, signals

from sapphire_vocal import plugin
from sapphire_vocal.descriptors import DESCRIPTOR_NAMES
from sapphire_vocal.encoders import MelodyContourEncoder, VocalTimbreEncoder
from sapphire_vocal.extractors import CrepePitch, MelodyContour, VocalDescriptors, VocalStemSpectrum


class TestCrepePitch(ModalityContract):
    extractor_cls = CrepePitch

    def extractor_settings(self):
        return {"model": "tiny", "hop_seconds": 0.02}


class TestVocalDescriptors(ModalityContract):
    extractor_cls = VocalDescriptors

    def extractor_settings(self):
        return {"model": "tiny", "hop_seconds": 0.02}


class TestMelodyContour(ModalityContract):
    extractor_cls = MelodyContour
    encoder_cls = MelodyContourEncoder

    def extractor_settings(self):
        return {"model": "tiny"}


class TestVocalTimbre(ModalityContract):
    extractor_cls = VocalStemSpectrum
    encoder_cls = VocalTimbreEncoder


def test_plugin_registers_every_component(registry_with):
    reg = registry_with(plugin)
    assert reg.names("extractor", modality="vocal") == ["crepe_pitch", "melody_contour", "vocal_descriptors",
                                                        "vocal_stem_spectrum"]
    assert reg.names("encoder", modality="vocal") == ["melody_contour", "vocal_timbre"]


def test_encoders_read_only_what_their_extractors_produce():
    for enc_cls, ex_cls in ((MelodyContourEncoder, MelodyContour), (VocalTimbreEncoder, VocalStemSpectrum)):
        assert enc_cls.requires == (ex_cls.name,)
        produced = {feature_key(ex_cls.name, k) for k in ex_cls().output_shapes()}
        assert set(enc_cls().example_features(2)) - {k for k in enc_cls().example_features(2) if k.endswith("__len")} <= produced


def test_crepe_pitch_reports_the_tone_and_voicing():
    ex = CrepePitch(model="tiny", hop_seconds=0.02)
    feats = ex.extract(signals.sine(440.0, sr=16000, seconds=0.6), Track(id="t"))
    f0, conf = feats["f0_cents"][0], feats["periodicity"][0]
    assert f0.shape == conf.shape == (1 + 9600 // 320,)
    assert abs(np.median(f0[conf > 0.5]) - 1200 * np.log2(44.0)) < 10.0


def test_auto_model_is_part_of_the_cache_key():
    auto = CrepePitch()
    assert auto.cache_id().endswith("-tiny" if not torch.cuda.is_available() else "-full")
    assert CrepePitch(model="full").cache_id() != CrepePitch(model="tiny").cache_id()


def test_vocal_descriptors_use_track_lyrics():
    ex = VocalDescriptors(model="tiny", hop_seconds=0.02)
    y = signals.melody([60, 62, 64, 65], durations=0.4, sr=16000)
    with_lyrics = dict(zip(DESCRIPTOR_NAMES, ex.extract(y, Track(id="a", lyrics="the river", language="en"))["values"]))
    without = dict(zip(DESCRIPTOR_NAMES, ex.extract(y, Track(id="b"))["values"]))
    assert with_lyrics["has_lyrics"] == 1.0 and with_lyrics["phoneme_rate_hz"] > 0
    assert without["has_lyrics"] == 0.0 and without["phoneme_rate_hz"] == 0.0


@pytest.mark.parametrize("cls, settings, match", [
    (CrepePitch, {"fmin": 800.0, "fmax": 400.0}, "fmin"),
    (CrepePitch, {"separate": True, "separator": "nope"}, "unknown separator 'nope'"),
    (VocalStemSpectrum, {"separator": "nope"}, "unknown separator"),
    (CrepePitch, {"model": "huge"}, "model"),
])
def test_extractor_config_errors(cls, settings, match):
    with pytest.raises(ConfigError, match=match):
        cls(**settings)


def _contour_embedding(enc, ex, y):
    feats = ex.extract(y, Track(id="m"))
    batch = collate_features([{feature_key(ex.name, k): v for k, v in feats.items()}])
    with torch.no_grad():
        return enc(batch)[0]


TUNE = [60, 62, 64, 65, 67, 65, 64, 62, 60, 67, 72, 67]


@pytest.mark.parametrize("transpose", [3, -5, 7])
def test_transposed_melody_has_the_same_contour_embedding(transpose):
    ex = MelodyContour(model="tiny")
    torch.manual_seed(0)
    enc = MelodyContourEncoder().eval()
    a = _contour_embedding(enc, ex, signals.melody(TUNE, durations=0.3, sr=16000))
    b = _contour_embedding(enc, ex, signals.melody(TUNE, durations=0.3, sr=16000, transpose=transpose))
    assert torch.nn.functional.cosine_similarity(a, b, dim=0) >= 0.99


def test_slower_melody_has_nearly_the_same_contour_embedding_and_another_tune_does_not():
    ex = MelodyContour(model="tiny")
    torch.manual_seed(0)
    enc = MelodyContourEncoder().eval()
    a = _contour_embedding(enc, ex, signals.melody(TUNE, durations=0.3, sr=16000))
    slow = _contour_embedding(enc, ex, signals.melody(TUNE, durations=0.3, sr=16000, tempo_scale=1.25))
    other = _contour_embedding(enc, ex, signals.melody([60, 64, 62, 67, 65, 60, 62, 64, 72, 67, 65, 64], durations=0.3,
                                                      sr=16000))
    cos = torch.nn.functional.cosine_similarity
    assert cos(a, slow, dim=0) >= 0.98
    assert cos(a, other, dim=0) < cos(a, slow, dim=0) - 0.03


def test_timbre_embedding_ignores_loudness():
    torch.manual_seed(0)
    enc = VocalTimbreEncoder().eval()
    x = enc.example_features(2)
    louder = {**x, "vocal_stem_spectrum.logmel": x["vocal_stem_spectrum.logmel"] + 12.0}
    with torch.no_grad():
        torch.testing.assert_close(enc(x), enc(louder), atol=1e-4, rtol=1e-4)
