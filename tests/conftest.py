"""Fixtures shared by the core's tests (the plugin-author fixtures ship in :mod:`sapphire_core.testing`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def load_script():
    """``load_script("benchmarks/run.py")`` -> the module of a script that is not in a package."""

    def _load(relative: str):
        path = REPO / relative
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return _load


@pytest.fixture
def engines(web_corpus):
    """``(model, baseline)``: in-memory web-app engines over the module's ``web_corpus`` fixture.

    The baseline is deliberately poor, the same tracks with their vectors rotated one place, so an
    A/B test between the two has a known winner.
    """
    from sapphire_core.webapp.memory import MemoryEngine

    model = MemoryEngine.from_corpus(web_corpus, model_version="model-v1")
    baseline = MemoryEngine(list(model.records.values()), np.roll(model.vectors, 1, axis=0),
                            model_version="baseline-v0")
    return model, baseline


def _training_toys():
    import sys

    here = str(Path(__file__).parent)
    if here not in sys.path:  # the training test modules import it this way too
        sys.path.insert(0, here)
    import test_train_helpers

    return test_train_helpers


@pytest.fixture(scope="module")
def toy_corpus(tmp_path_factory):
    """The training tests' toy corpus (``test_train_helpers``): 8 works x 3 variants, once per module."""
    return _training_toys().make_toy_corpus(tmp_path_factory.mktemp("toy") / "corpus", works=8, variants=3)


@pytest.fixture(scope="module")
def registry():
    """The core's components plus the training tests' toy ones."""
    return _training_toys().toy_registry()
