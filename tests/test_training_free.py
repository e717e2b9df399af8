"""Training-free vector modes in the core, with a toy mode (no plugin): label triplets scored by a query mode,
and an index built without a model (``--model none``) that answers audio queries and ``similar``."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _trained as T  # noqa: E402

from sapphire_core import hookimpl  # noqa: E402
from sapphire_core.audio import load_audio  # noqa: E402
from sapphire_core.evaluation.runner import _mode_triplets  # noqa: E402
from sapphire_core.evaluation.triplets import Triplet  # noqa: E402
from sapphire_core.index_extra import IndexExtra  # noqa: E402
from sapphire_core.query_mode import VectorQueryMode  # noqa: E402


def _band_energies(path) -> np.ndarray:
    """Unit vector of the log energy in 8 bands, then the track's duration: where the notes lie, and how long."""
    y = load_audio(path, sr=16000)
    spec = np.abs(np.fft.rfft(y))
    bands = np.log1p(np.array([b.sum() for b in np.array_split(spec[: len(spec) // 2], 8)]))
    return np.concatenate([bands / np.linalg.norm(bands), [len(y) / 16000 / 10]])


class Bands(IndexExtra):
    name = "bands"

    def build(self, tracks, folder, *, on_progress=None):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "bands.json").write_text(json.dumps({t.id: _band_energies(t.audio).tolist() for t in tracks}))
        return len(tracks)

    def load(self, folder):
        return {k: np.array(v) for k, v in json.loads((folder / "bands.json").read_text()).items()}


class BandMode(VectorQueryMode):
    name, input, extra = "bands_like", "audio", "bands"

    @staticmethod
    def _unit(v):
        return v / np.linalg.norm(v)

    def track_vectors(self, data):
        ids = sorted(data)
        return ids, np.stack([self._unit(data[i]) for i in ids])

    def embed(self, query, data):
        return self._unit(_band_energies(query))

    def subspaces(self, data):
        return {"spectrum": slice(0, 8), "length": slice(8, 9)}


PLUGIN = types.SimpleNamespace(register_components=hookimpl(lambda registrar: registrar.add(Bands, BandMode)))


def _registry():
    from sapphire_core.plugins import build_registry, get_plugin_manager

    return build_registry(get_plugin_manager(load_entrypoints=False, plugins=[PLUGIN]))


def test_triplets_of_a_vector_mode_use_its_scores_and_its_subspaces():
    data = {"a": np.array([1.0, 0.2, 0.0]), "p": np.array([0.9, -0.3, 0.0]), "n": np.array([0.0, 1.0, 0.0])}

    class ThreeD(BandMode):
        def subspaces(self, data):
            return {"first": slice(0, 1), "second": slice(1, 2)}

    trips = [Triplet("a", "p", "n", "mode"), Triplet("a", "n", "p", "era"), Triplet("a", "p", "gone", "era")]
    got = _mode_triplets(ThreeD(), data, trips)
    assert got["triplets"]["mode"] == 1.0 and got["triplets"]["era"] == 0.0 and got["triplets"]["skipped"] == 1
    assert got["subspace_triplets"]["first"]["mode"] == 1.0
    assert got["subspace_triplets"]["second"]["mode"] == 0.0  # on the second axis n agrees with a, p does not


def test_a_mode_that_cannot_compare_tracks_adds_no_triplets():
    from sapphire_core.query_mode import QueryMode

    class Opaque(QueryMode):
        name, extra = "opaque", "bands"

        def rank(self, query, data, *, k):
            return []

    assert _mode_triplets(Opaque(), {}, [Triplet("a", "b", "c", "mode")]) == {}


def test_an_index_without_a_model_answers_audio_and_similar(tmp_path):
    from sapphire_core.index.folder import IndexFolder
    from sapphire_core.index.training_free import build_training_free_index
    from sapphire_core.retrieval import SearchEngine, SearchError

    registry = _registry()
    corpus = T.write_toy_corpus(tmp_path / "corpus")
    report = build_training_free_index(corpus, tmp_path / "idx", registry=registry)
    assert report.indexed == 12 and report.extras == {"bands": 12} and not report.failures
    folder = IndexFolder.open(tmp_path / "idx")
    assert folder.manifest["training_free_mode"] == "bands_like" and folder.manifest["dim"] == 9
    engine = SearchEngine.open(tmp_path / "idx", registry=registry)
    assert engine.subspaces == {"spectrum": slice(0, 8), "length": slice(8, 9)}
    hits = engine.search(audio=str(corpus / "audio" / "w3__v0.wav"), k=2)
    assert hits[0].track_id == "w3__v0" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    near = engine.similar(str(corpus / "audio" / "w3__v0.wav"), k=3)  # a file seed: the mode embeds it
    assert near and "w3__v0" not in [r.track_id for r in near]  # the seed's own track is left out
    with pytest.raises(SearchError, match="without a model"):
        engine.search(lyrics="la la")


def test_a_rebuild_reports_what_changed_and_versions_the_vectors(tmp_path):
    from sapphire_core.index.folder import IndexFolder
    from sapphire_core.index.training_free import build_training_free_index
    from sapphire_core.testing import signals

    registry = _registry()
    corpus = T.write_toy_corpus(tmp_path / "corpus")
    first = build_training_free_index(corpus, tmp_path / "idx", registry=registry)
    version = IndexFolder.open(tmp_path / "idx").manifest["index_version"]
    again = build_training_free_index(corpus, tmp_path / "idx", registry=registry)
    assert (first.added, again.added, again.removed, again.updated) == (12, 0, 0, 0)
    assert IndexFolder.open(tmp_path / "idx").manifest["index_version"] == version
    # One recording replaced under the same id, one track dropped from tracks.jsonl.
    signals.write_wav(corpus / "audio/w1__v0.wav", signals.melody([40, 45, 50], durations=0.5, sr=16000), 16000)
    lines = (corpus / "tracks.jsonl").read_text().splitlines()
    (corpus / "tracks.jsonl").write_text("\n".join(ln for ln in lines if '"w2__v1"' not in ln) + "\n")
    changed = build_training_free_index(corpus, tmp_path / "idx", registry=registry)
    assert (changed.indexed, changed.added, changed.removed, changed.updated) == (11, 0, 1, 1)
    assert IndexFolder.open(tmp_path / "idx").manifest["index_version"] != version


def test_no_vector_mode_installed_says_how_to_fix(tmp_path):
    from sapphire_core.errors import ConfigError
    from sapphire_core.index.training_free import build_training_free_index
    from sapphire_core.plugins import build_registry, get_plugin_manager

    corpus = T.write_toy_corpus(tmp_path / "corpus")
    with pytest.raises(ConfigError, match="pip install -e plugins/acoustic"):
        build_training_free_index(corpus, tmp_path / "idx",
                                  registry=build_registry(get_plugin_manager(load_entrypoints=False)))
    with pytest.raises(ConfigError, match="installed: bands_like"):
        build_training_free_index(corpus, tmp_path / "idx", registry=_registry(), mode="nope")
