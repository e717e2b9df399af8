"""Index extras built by worker processes (``sapphire index --workers``) against one process."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from sapphire_core.data import Track
from sapphire_core.index.extras import build_extras, selected_extras
from sapphire_core.index_extra import PerTrackExtra
from sapphire_core.plugins import default_registry
from sapphire_core.testing import signals

#: Two of the shipped extras: the melody (ONNX) and the chroma sequence (torch); the descriptors take the
#: same path as the chroma sequence, at twice the cost of this test.
SHIPPED = ["chroma_sequence", "melody"]


def _corpus(folder: Path) -> list[Track]:
    """Four short tracks of different lengths (the workers finish out of order), one of them not audio."""
    folder.mkdir()
    tracks = []
    for i, (root, seconds) in enumerate([(60, 9.0), (65, 3.0), (57, 6.0)]):
        tune = signals.melody([root + d for d in (0, 4, 7, 5, 2, 4, 0, 7)], durations=seconds / 8, sr=22050)
        bed = signals.chord([root - 12, root - 5], sr=22050, seconds=len(tune) / 22050)[: len(tune)]
        path = folder / f"t{i}.wav"
        signals.write_wav(path, (0.5 * tune + 0.2 * bed).astype(np.float32), 22050)
        tracks.append(Track(id=f"t{i}", audio=path, work_id=f"w{i}"))
    broken = folder / "broken.wav"
    broken.write_text("not audio")
    tracks.insert(1, Track(id="broken", audio=broken, work_id="wb"))
    return tracks


def _files(index: Path) -> dict[str, bytes]:
    return {str(p.relative_to(index)): p.read_bytes() for p in sorted(index.rglob("*")) if p.is_file()}


@pytest.mark.slow  # two spawned workers import torch, librosa and onnxruntime: ~30 s on a busy 2-core machine
@pytest.mark.skipif(not all(n in default_registry().names("index_extra") for n in SHIPPED),
                    reason="needs the acoustic and vocal plugins")
def test_extras_with_two_workers_write_the_stores_of_one_process(tmp_path, caplog):
    registry = default_registry()
    tracks = _corpus(tmp_path / "audio")
    built = {}
    for workers in (1, 2):
        progress = []
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="sapphire_core.index.extras"):
            built[workers] = build_extras(selected_extras(registry, SHIPPED), tracks, tmp_path / f"w{workers}",
                                          on_progress=progress.append, workers=workers)
        assert len(progress) == len(SHIPPED) * len(tracks)
        # The broken file's reason reaches the user from the workers as from this process.
        warned = [r.getMessage() for r in caplog.records]
        assert len(warned) == 1 and "'broken'" in warned[0] and "broken.wav" in warned[0], (workers, warned)
    assert built[1] == built[2] == {name: 3 for name in SHIPPED}  # the broken file is left out by both
    one, two = _files(tmp_path / "w1"), _files(tmp_path / "w2")
    assert sorted(one) == sorted(two) and len(one) >= len(SHIPPED)
    for name in one:
        if name.startswith("extras/melody/") and name.endswith(".npz"):
            # basic-pitch's torch convolutions round differently on 1 thread (a worker's share) than on all
            # cores (this process): posteriorgrams move by up to ~5e-5, and the second line's affinities
            # (a note's activation relative to the second-highest note's, 0c42113) by up to ~1.3e-4.
            _assert_same_arrays(tmp_path / "w1" / name, tmp_path / "w2" / name, atol=5e-4)
        else:
            assert one[name] == two[name], f"{name} differs between 1 and 2 workers"
    # A rerun with workers computes nothing new and rewrites the same bytes.
    build_extras(selected_extras(registry, SHIPPED), tracks, tmp_path / "w2", workers=2)
    assert _files(tmp_path / "w2") == two


def _assert_same_arrays(a: Path, b: Path, *, atol: float) -> None:
    """The same arrays under the same names; float ones within ``atol``, the others exactly."""
    with np.load(a, allow_pickle=False) as x, np.load(b, allow_pickle=False) as y:
        assert x.files == y.files
        for key in x.files:
            assert x[key].shape == y[key].shape and x[key].dtype == y[key].dtype, key
            if x[key].dtype.kind == "f":
                np.testing.assert_allclose(x[key], y[key], rtol=0, atol=atol, err_msg=key)
            else:
                np.testing.assert_array_equal(x[key], y[key], err_msg=key)


class _AddOnly(PerTrackExtra):
    """An extra that only overrides add(): it cannot be computed apart, so it is built in this process."""

    name = "add_only"
    filename = "ids.txt"

    def empty(self):
        return []

    def entries(self, store):
        return set(store)

    def add(self, store, track):
        store.append(track.id)

    def remove(self, store, track_ids):
        store[:] = [t for t in store if t not in track_ids]

    def save(self, store, folder):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / self.filename).write_text("\n".join(store))

    def load(self, folder):
        return (folder / self.filename).read_text().split("\n")


def test_an_extra_with_only_add_is_built_in_this_process(tmp_path):
    tracks = [Track(id=f"t{i}", audio=tmp_path / f"t{i}.wav") for i in range(3)]
    assert not _AddOnly.computes_apart()
    assert build_extras({"add_only": _AddOnly()}, tracks, tmp_path / "index", workers=2) == {"add_only": 3}
    assert (tmp_path / "index" / "extras" / "add_only" / "ids.txt").read_text() == "t0\nt1\nt2"
