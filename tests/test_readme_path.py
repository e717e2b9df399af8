"""The README's "your own music in five minutes", command by command, on a small tagged folder.

Six short FLAC files in two album folders (artist and album tags, one lyrics sidecar), the shipped
base model, no training: ``corpus scan``, ``index``, ``search`` (text and the version mode),
``similar`` (one track with ``--exclude-same album``, then seeds and a negative seed), ``playlist``
and the HTTP API ``serve`` answers.
"""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from sapphire_core.testing import signals

pytestmark = pytest.mark.slow

SR = 22050
TUNE = [60, 64, 67, 72, 71, 67, 65, 62, 60, 64, 69, 67]


def _song(tune, *, transpose=0, note=0.35, chords=(48, 53, 55, 48)):
    melody = signals.melody([p + transpose for p in tune], durations=note, sr=SR)
    bed = np.concatenate([signals.chord([c + transpose, c + 4 + transpose, c + 7 + transpose], sr=SR,
                                        seconds=len(melody) / SR / len(chords)) for c in chords])
    n = min(len(melody), len(bed))
    return 0.6 * melody[:n] + 0.4 * bed[:n]


#: file -> (audio, artist, album): the same tune three ways on album A, other music on album B
LIBRARY = {
    "Ann/First/01 tune.flac": (lambda: _song(TUNE), "Ann", "First"),
    "Ann/First/02 tune up.flac": (lambda: _song(TUNE, transpose=3, note=0.3), "Ann", "First"),
    "Ann/First/03 tune low.flac": (lambda: _song(TUNE, transpose=-5), "Ann", "First"),
    "Bo/Second/01 descent.flac": (lambda: _song(TUNE[::-1], chords=(45, 50, 52, 45)), "Bo", "Second"),
    "Bo/Second/02 drums.flac": (lambda: signals.click_track(100, sr=SR, seconds=4.0), "Bo", "Second"),
    "Bo/Second/03 hymn.flac": (lambda: _song([60, 60, 62, 64, 64, 62, 60, 59], note=0.5), "Bo", "Second"),
}


def _write_library(root):
    import mutagen.flac
    import soundfile as sf

    for rel, (audio, artist, album) in LIBRARY.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), audio(), SR)
        tags = mutagen.flac.FLAC(str(path))
        tags["artist"], tags["album"], tags["title"] = artist, album, path.stem
        tags.save()
    (root / "Ann/First/01 tune.txt").write_text("the river runs so slowly\nunder the cold hills\n")
    return root


def _run(*args):
    from sapphire_core.cli import app

    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, f"sapphire {' '.join(map(str, args))}:\n{r.output}"
    return r.output


def test_the_five_minute_path_for_your_own_music(tmp_path):
    music, index = _write_library(tmp_path / "Music"), tmp_path / "music-index"

    # 1. scan: ids from paths, tags copied, the sidecar's lyrics read
    _run("corpus", "scan", music)
    tracks = {t["id"]: t for t in map(json.loads, (music / "tracks.jsonl").read_text().splitlines())}
    assert len(tracks) == len(LIBRARY) and {t["album"] for t in tracks.values()} == {"First", "Second"}
    album = {tid: t["album"] for tid, t in tracks.items()}
    tune, tune_up, tune_low, *_ = sorted(tracks)
    assert tracks[tune]["lyrics"].startswith("the river")

    # 2. index with the shipped base model (no --model)
    _run("index", "--corpus", music, "--out", index)

    # 3. search by text: every track comes back, each with an explanation
    out = json.loads(_run("search", index, "--text", "slow, sad piano", "--json"))
    assert out["model_version"].startswith("base@") and len(out["results"]) == len(LIBRARY)
    assert all(r["explanation"]["summary"] for r in out["results"])
    # ... and by version: the tune 3 semitones up finds the other renderings, and says how they align
    out = json.loads(_run("search", index, "--query", f"version={music / tracks[tune_up]['audio']}", "--json"))
    first_other = next(r for r in out["results"] if r["track_id"] != tune_up)
    assert first_other["track_id"] in {tune, tune_low}
    expected = 3 if first_other["track_id"] == tune else 8
    assert first_other["explanation"]["version"]["transposition"] == (expected + 6) % 12 - 6

    # 4. similar: nothing from the seed's album; seeds and a negative seed
    out = json.loads(_run("similar", index, tune, "--exclude-same", "album", "--json"))
    assert out["results"] and all(album[r["track_id"]] != album[tune] for r in out["results"])
    out = json.loads(_run("similar", index, "--seed", tune, "--seed", tune_up, "--negative", tune_low, "--json"))
    assert out["results"] and not {tune, tune_up} & {r["track_id"] for r in out["results"]}

    # 5. playlist between two tracks: starts and ends there, no repeats
    drums = next(t for t in tracks if "drums" in t)
    out = json.loads(_run("playlist", index, "--from", tune, "--to", drums, "--length", "4", "--json"))
    got = [r["track_id"] for r in out["results"]]
    assert got[0] == tune and got[-1] == drums and len(set(got)) == len(got)

    # 6. serve: the three endpoints a media-server plugin calls
    from sapphire_core.retrieval import SearchEngine
    from sapphire_core.webapp import create_app
    from sapphire_core.webapp.server import serve_in_thread

    app = create_app(SearchEngine.open(index), db_path=tmp_path / "feedback.db", admin_token="readme-path-token")
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=120) as http:
        for path, body in (("/api/search", {"text": "bright brass fanfare", "k": 3}),
                           ("/api/similar", {"seeds": [tune], "exclude_same": ["album"], "k": 3}),
                           ("/api/playlist", {"from": tune, "to": drums, "length": 3})):
            r = http.post(path, json=body)
            assert r.status_code == 200 and r.json()["results"], (path, r.text)
