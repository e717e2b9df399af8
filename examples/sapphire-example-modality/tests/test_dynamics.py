"""The example modality passes the core contract and can be used from YAML."""

import numpy as np
import yaml

from sapphire_core.config import load_config
from sapphire_core.model import model_from_config
from sapphire_core.testing import ModalityContract
from sapphire_example_dynamics import DynamicsMLP, RMSEnvelope


class TestDynamicsContract(ModalityContract):
    extractor_cls = RMSEnvelope
    encoder_cls = DynamicsMLP


def test_loud_and_quiet_signals_fill_different_bins():
    ex = RMSEnvelope()
    t = np.arange(16000) / 16000
    loud = ex.extract((0.9 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), None)["level_histogram"]
    quiet = ex.extract((0.01 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), None)["level_histogram"]
    assert np.argmax(loud) > np.argmax(quiet)
    assert np.isclose(loud.sum(), 1.0)


def test_named_in_yaml(tmp_path):
    path = tmp_path / "dyn.yaml"
    path.write_text(yaml.safe_dump({"modalities": {"dynamics": {"encoder": {"name": "dynamics_mlp", "output_dim": 8}}},
                                    "fusion": {"name": "concat_mlp", "output_dim": 16, "hidden": 16},
                                    "losses": [{"name": "infonce"}]}))
    model = model_from_config(load_config(path))
    assert model.encoders["dynamics"].output_dim == 8
