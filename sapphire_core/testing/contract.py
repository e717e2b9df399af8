"""``ModalityContract``: the shared test base every plugin's component tests subclass.

Subclass it in a plugin's tests and set the class attributes::

    class TestMyEncoder(ModalityContract):
        extractor_cls = MyExtractor        # optional
        encoder_cls = MyEncoder            # optional
        def make_track(self, tmp_path): ...  # optional: a Track for the extractor

Every test either checks the extractor or the encoder; those whose class is not set are skipped
with the reason.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sapphire_core.data import Track
from sapphire_core.errors import ConfigError
from sapphire_core.testing.signals import melody


_EXTRACTOR_TESTS = ("test_extractor_default_config_valid", "test_extractor_rejects_unknown_key",
                    "test_extractor_declares_metadata", "test_features_finite_and_shaped", "test_features_deterministic")
_ENCODER_TESTS = ("test_encoder_default_config_valid", "test_encoder_rejects_unknown_key", "test_encoder_output_shape",
                  "test_encoder_deterministic_in_eval", "test_encoder_backward", "test_encoder_accepts_extractor_features")


def _nearest_implementation(cls: type, name: str):
    """The closest definition of test ``name`` in ``cls``'s MRO, including ones hidden by a base."""
    for klass in cls.__mro__[1:]:
        found = vars(klass).get("_contract_hidden", {}).get(name) or vars(klass).get(name)
        if found is not None:
            return found
    raise AttributeError(name)


class ModalityContract:
    """Contract tests for a FeatureExtractor and/or an Encoder.

    Checks that do not apply (extractor checks when only ``encoder_cls`` is set, and the other way
    round) are not collected at all, rather than reported as skipped.
    """

    extractor_cls: type | None = None
    encoder_cls: type | None = None
    batch_size: int = 3

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # pytest collects only callables: a None attribute removes a check from this subclass, and an
        # intermediate base that removed one gets it back once a subclass makes it applicable.
        applicable = {name: cls.extractor_cls is not None for name in _EXTRACTOR_TESTS}
        applicable.update({name: cls.encoder_cls is not None for name in _ENCODER_TESTS})
        if not getattr(cls.encoder_cls, "requires", ()):
            applicable["test_encoder_accepts_extractor_features"] = False
        hidden = {}
        for name, ok in applicable.items():
            if not ok:
                if vars(cls).get(name) is not None:
                    hidden[name] = vars(cls)[name]  # an override of this class, kept for its subclasses
                setattr(cls, name, None)
            elif getattr(cls, name) is None:
                setattr(cls, name, _nearest_implementation(cls, name))
        cls._contract_hidden = hidden

    # ------------------------------------------------------------ hooks to override
    def make_audio(self, sr: int) -> np.ndarray:
        """Audio given to the extractor: a short melody with harmonics."""
        return melody([60, 62, 64, 65, 67, 65, 64, 62, 60, 67, 72, 67], durations=0.3, sr=sr)

    def make_track(self) -> Track:
        return Track(id="contract", lyrics="the river runs so slowly\nand the night is calm and long",
                     language="en", metadata={})

    def extractor_settings(self) -> dict:
        return {}

    def encoder_settings(self) -> dict:
        return {}

    # ------------------------------------------------------------ helpers
    def _need(self, attr: str):
        cls = getattr(self, attr)
        if cls is None:
            pytest.skip(f"{type(self).__name__} sets no {attr}; nothing to check")
        return cls

    def _rejects_unknown_key(self, attr: str) -> None:
        cls = self._need(attr)
        with pytest.raises(ConfigError, match="no_such_key"):
            cls(no_such_key=1)

    def _extract(self):
        cls = self._need("extractor_cls")
        ex = cls(**self.extractor_settings())
        audio = self.make_audio(ex.sample_rate) if ex.needs_audio else None
        return ex, ex.extract(audio, self.make_track())

    # ------------------------------------------------------------ extractor contract
    def test_extractor_default_config_valid(self):
        cls = self._need("extractor_cls")
        cls()

    def test_extractor_rejects_unknown_key(self):
        self._rejects_unknown_key("extractor_cls")

    def test_extractor_declares_metadata(self):
        cls = self._need("extractor_cls")
        assert isinstance(cls.name, str) and cls.name
        assert isinstance(cls.modality, str) and cls.modality
        assert isinstance(cls.version, str)
        assert cls.sample_rate > 0

    def test_features_finite_and_shaped(self):
        ex, feats = self._extract()
        shapes = ex.output_shapes()
        assert set(feats) == set(shapes), f"extract() keys {sorted(feats)} != output_shapes() {sorted(shapes)}"
        for key, value in feats.items():
            value = np.asarray(value)
            assert np.all(np.isfinite(value)), f"{key} has NaN/inf"
            expected = shapes[key]
            assert value.ndim == len(expected), f"{key}: ndim {value.ndim}, declared {expected}"
            for got, want in zip(value.shape, expected):
                assert want is None or got == want, f"{key}: shape {value.shape}, declared {expected}"

    def test_features_deterministic(self):
        _, a = self._extract()
        _, b = self._extract()
        for key in a:
            np.testing.assert_allclose(np.asarray(a[key]), np.asarray(b[key]), rtol=1e-5, atol=1e-6, err_msg=key)

    # ------------------------------------------------------------ encoder contract
    def _encoder(self):
        cls = self._need("encoder_cls")
        torch.manual_seed(0)
        enc = cls(**self.encoder_settings())
        enc.eval()
        return enc

    def test_encoder_default_config_valid(self):
        cls = self._need("encoder_cls")
        cls()

    def test_encoder_rejects_unknown_key(self):
        self._rejects_unknown_key("encoder_cls")

    def test_encoder_output_shape(self):
        enc = self._encoder()
        with torch.no_grad():
            out = enc(enc.example_features(self.batch_size))
        assert out.shape == (self.batch_size, enc.output_dim)
        assert torch.isfinite(out).all()

    def test_encoder_deterministic_in_eval(self):
        enc = self._encoder()
        x = enc.example_features(self.batch_size, seed=3)
        with torch.no_grad():
            torch.testing.assert_close(enc(x), enc(x))

    def test_encoder_backward(self):
        enc = self._encoder()
        enc.train()
        out = enc(enc.example_features(self.batch_size))
        out.pow(2).mean().backward()
        grads = [p.grad for p in enc.parameters() if p.requires_grad]
        assert grads, "encoder has no trainable parameters"
        assert any(g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)

    def test_encoder_accepts_extractor_features(self):
        """The encoder reads the real output of every extractor it requires (default settings,
        except ``extractor_cls`` which uses :meth:`extractor_settings`), padded by the real collate."""
        if self.encoder_cls is None:
            pytest.skip("needs encoder_cls")
        from sapphire_core.collate import collate_features, feature_key
        from sapphire_core.plugins import default_registry

        enc = self._encoder()
        if not enc.requires:
            pytest.skip(f"{enc.name} requires no extractor")
        track = self.make_track()
        row: dict = {}
        for name in enc.requires:
            if self.extractor_cls is not None and self.extractor_cls.name == name:
                ex = self.extractor_cls(**self.extractor_settings())
            else:
                ex = default_registry().get("extractor", name)()
            audio = self.make_audio(ex.sample_rate) if ex.needs_audio else None
            row.update({feature_key(name, k): v for k, v in ex.extract(audio, track).items()})
        batch = collate_features([row, row])
        with torch.no_grad():
            out = enc(batch)
        assert out.shape == (2, enc.output_dim)
        assert torch.isfinite(out).all()


def contract_case(extractor_cls: type | None = None, encoder_cls: type | None = None, *,
                  base: type[ModalityContract] = ModalityContract, extractor: dict | None = None,
                  encoder: dict | None = None) -> type[ModalityContract]:
    """The contract tests of one extractor/encoder pair in one line (assign it to a ``Test...`` name).

    Examples
    --------
    ``TestMidLevelLibrosa = contract_case(MidLevel, MidLevelMLP, extractor={"backend": "librosa"})``
    """
    import sys

    body: dict = {"extractor_cls": extractor_cls, "encoder_cls": encoder_cls,
                  "__module__": sys._getframe(1).f_globals.get("__name__", __name__)}
    if extractor:
        body["extractor_settings"] = lambda self: dict(extractor)
    if encoder:
        body["encoder_settings"] = lambda self: dict(encoder)
    name = "Test" + "".join(c.__name__ for c in (extractor_cls, encoder_cls) if c is not None)
    return type(name, (base,), body)
