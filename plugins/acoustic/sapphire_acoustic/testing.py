"""Test helpers for the acoustic plugin (imported by its tests; needs pytest).

:class:`MultiInputContract` is the core ``ModalityContract`` for an extractor paired with the
``multi_input_cnn`` encoder, which reads three extractors: its "accepts extractor features" check
feeds the real output of all three rather than of the one under test.
"""

from __future__ import annotations

from sapphire_core.collate import collate_features, feature_key
from sapphire_core.testing import ModalityContract


def multi_input_batch(audio_list, *, backend: str = "torch"):
    """Collated ``perceptual_spectrum`` + ``tonal`` + ``rhythm`` features of each audio array."""
    from sapphire_acoustic.perceptual import PerceptualSpectrum
    from sapphire_acoustic.rhythm import Rhythm
    from sapphire_acoustic.tonal import Tonal

    exs = [PerceptualSpectrum(backend=backend), Tonal(backend=backend), Rhythm(backend=backend)]
    items = []
    for audio in audio_list:
        item = {}
        for ex in exs:
            item.update({feature_key(ex.name, k): v for k, v in ex.extract(audio, None).items()})
        items.append(item)
    return collate_features(items)


class MultiInputContract(ModalityContract):
    """``ModalityContract`` with ``encoder_cls = MultiInputCNN`` and a three-extractor input check."""

    backend = "torch"

    @property
    def encoder_cls(self):
        from sapphire_acoustic.multi_input_cnn import MultiInputCNN

        return MultiInputCNN

    def extractor_settings(self):
        return {"backend": self.backend}

    def test_encoder_accepts_extractor_features(self):
        import torch

        audio = self.make_audio(22050)
        batch = multi_input_batch([audio, audio[: audio.size // 2]], backend=self.backend)
        enc = self._encoder()
        with torch.no_grad():
            out = enc(batch)
        assert out.shape == (2, enc.output_dim) and torch.isfinite(out).all()
