"""``sapphire tune``: Optuna over lr, batch size, embedding size, temperatures, loss weights; resumable."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
import test_train_helpers as toys  # noqa: E402

from sapphire_core.config import apply_overrides  # noqa: E402
from sapphire_core.errors import SapphireError  # noqa: E402
from sapphire_core.training.tune import tune  # noqa: E402


def test_tune_runs_and_resumes_from_sqlite(tmp_path):
    corpus = toys.make_toy_corpus(tmp_path / "corpus", works=8, variants=3)
    config = tmp_path / "toy.yaml"
    config.write_text(yaml.safe_dump(toys.toy_config(epochs=1)))
    registry = toys.toy_registry()
    first = tune(config, corpus, tmp_path / "study", trials=1, registry=registry, device="cpu")
    assert first["trials"] == 1 and first["storage"].startswith("sqlite:///")
    assert (tmp_path / "study" / "study.db").is_file()
    # The sampled names are --set paths: the best trial reads back as overrides of the config.
    params = first["best_params"]
    assert {"training.lr", "training.batch_size", "fusion.output_dim", "losses.0.temperature",
            "losses.0.weight", "losses.1.weight"} <= set(params)
    overridden = apply_overrides(toys.toy_config(), [f"{k}={v}" for k, v in params.items()])
    toys.validated(overridden, registry)
    assert 0.0 <= first["best_value"] <= 1.0
    # A rerun asking for 2 trials runs exactly one more, continuing the stored study.
    again = tune(config, corpus, tmp_path / "study", trials=2, registry=registry, device="cpu")
    assert again["trials"] == 2
    assert sorted(p.name for p in (tmp_path / "study").glob("trial_*")) == ["trial_0", "trial_1"]
    with pytest.raises(SapphireError, match="unknown tuning metric"):
        tune(config, corpus, tmp_path / "study", trials=1, metric="accuracy", registry=registry)
