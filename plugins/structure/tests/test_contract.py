"""The core ModalityContract for each structure extractor paired with the structure_cnn encoder."""

import numpy as np
import torch

from sapphire_core.collate import collate_features, feature_key
from sapphire_core.testing import ModalityContract, contract_case
from sapphire_core.testing.signals import melody
from sapphire_structure.encoder import StructureCNN
from sapphire_structure.extractors import Harmony, Segments, SelfSimilarity, SIPLCAPatterns

A = [60, 64, 67, 64, 65, 69, 67, 60]
B = [70, 69, 67, 65, 63, 62, 60, 58]


class StructureContract(ModalityContract):
    def make_audio(self, sr):
        # A A B A from a harmonic-rich synthetic melody: short, but with structure to find.
        return melody(A + A + B + A, durations=0.3, sr=sr)

    def test_encoder_accepts_extractor_features(self):
        """structure_cnn reads several extractors: feed it the real output of all it needs."""
        enc = self._encoder()
        audio = self.make_audio(22050)
        extractors = [SelfSimilarity(), Segments(), Harmony()]
        if enc.config.use_siplca:
            extractors.append(SIPLCAPatterns())
        feats = {}
        for ex in extractors:
            feats.update({feature_key(ex.name, k): v for k, v in ex.extract(audio, self.make_track()).items()})
        with torch.no_grad():
            out = enc(collate_features([feats, feats]))
        assert out.shape == (2, enc.output_dim) and torch.isfinite(out).all()


class TestSelfSimilarity(StructureContract):
    extractor_cls = SelfSimilarity
    encoder_cls = StructureCNN

    def test_ssm_shows_the_repeat(self):
        ssm = SelfSimilarity(size=32).extract(self.make_audio(22050), self.make_track())["ssm"]
        assert ssm.shape == (32, 32)
        np.testing.assert_allclose(ssm, ssm.T, atol=1e-6)
        # 8 bins per phrase: along the diagonal, A1 matches A2 better than it matches B.
        a1_vs_a2, a1_vs_b = ssm[0:8, 8:16], ssm[0:8, 16:24]
        assert np.trace(a1_vs_a2) > np.trace(a1_vs_b)


TestSegments = contract_case(Segments, StructureCNN, base=StructureContract)
TestHarmony = contract_case(Harmony, StructureCNN, base=StructureContract)


class TestSIPLCA(StructureContract):
    extractor_cls = SIPLCAPatterns
    encoder_cls = StructureCNN

    def extractor_settings(self):
        return {"n_iter": 30}

    def encoder_settings(self):
        return {"use_siplca": True}

    def test_activations_sum_to_weights(self):
        feats = SIPLCAPatterns(n_iter=30).extract(self.make_audio(22050), self.make_track())
        np.testing.assert_allclose(feats["activations"].sum(), 1.0, atol=1e-4)
        np.testing.assert_allclose(feats["patterns"].sum(axis=(1, 2)), 1.0, atol=1e-4)
        weights = feats["activations"].sum(axis=1)
        assert np.all(np.diff(weights) <= 1e-6)  # ordered by weight
