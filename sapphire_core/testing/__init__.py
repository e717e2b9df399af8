"""Test helpers shipped with the core, loaded as a pytest plugin (entry point ``pytest11``).

Fixtures
--------
sine_wave, click_track_120, make_melody
    Analytic signals with known answers (see :mod:`sapphire_core.testing.signals`).
write_corpus
    Writes a small corpus folder of given tracks (audio arrays + metadata).
registry_with
    Builds a registry from the core plus in-test plugin objects, without entry points.
one_torch_thread
    Runs a test with one torch thread (tiny tensors on a shared CPU: extra threads only contend);
    a module opts in with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sapphire_core.testing import signals
from sapphire_core.testing.contract import ModalityContract, contract_case

__all__ = ["ModalityContract", "contract_case", "signals"]


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test, restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def sine_wave():
    """``sine_wave(freq, sr=..., seconds=...)`` -> float32 array."""
    return signals.sine


@pytest.fixture
def click_track_120():
    """A 10 s click track at 120 BPM, 22.05 kHz."""
    return signals.click_track(120.0, sr=22050, seconds=10.0)


@pytest.fixture
def make_melody():
    """``make_melody(pitches, transpose=..., tempo_scale=..., sr=...)`` -> float32 array."""
    return signals.melody


@pytest.fixture
def write_corpus(tmp_path):
    """``write_corpus({track_id: (audio, sr, metadata_dict)}, root=None)`` -> corpus folder Path."""

    def _write(tracks: dict, root: Path | None = None) -> Path:
        root = Path(root or tmp_path / "corpus")
        (root / "audio").mkdir(parents=True, exist_ok=True)
        lines = []
        for track_id, (audio, sr, meta) in tracks.items():
            rel = f"audio/{track_id}.wav"
            signals.write_wav(root / rel, audio, sr)
            lines.append(json.dumps({"id": track_id, "audio": rel, **(meta or {})}))
        (root / "tracks.jsonl").write_text("\n".join(lines) + "\n")
        return root

    return _write


@pytest.fixture
def registry_with():
    """``registry_with(*plugins, entrypoints=False)`` -> a fresh Registry."""
    from sapphire_core.plugins import build_registry, get_plugin_manager

    def _make(*plugins, entrypoints: bool = False):
        return build_registry(get_plugin_manager(load_entrypoints=entrypoints, plugins=plugins))

    return _make


@pytest.fixture(scope="session")
def demo_corpus() -> Path:
    """The small demo corpus, built once per machine and reused (``data/demo`` in the repo,
    or ``$SAPPHIRE_DEMO_CORPUS``). The same folder ``make demo`` uses."""
    from sapphire_core.corpus import ensure_demo_corpus

    return ensure_demo_corpus()
