"""Issue 19: a corpus mixing good tracks with every generated kind of bad or odd input (``_fuzz_inputs``).
``extract`` and ``index`` process every good track, name every bad one (file, line, field) in
``failures.jsonl`` without a traceback, warn on suspicious audio, and exit as the README says."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _fuzz_inputs as F  # noqa: E402
import _fuzz_run as R  # noqa: E402


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz") / "corpus"
    lines = F.build_corpus(root, F.ALL_KINDS)
    ext = R.extract(root)
    idx = R.index(root)
    return {"root": root, "lines": lines, "extract": ext, "index": idx}


def _by(lines, expect):
    return [ln for ln in lines if ln.expect == expect]


def test_the_suite_covers_at_least_40_kinds_of_bad_input(mixed):
    assert len({k.name for k in F.ALL_KINDS}) == len(F.ALL_KINDS)
    bad = {ln.kind for ln in mixed["lines"] if ln.expect in ("skip", "fail", "warn")}
    assert len(bad) >= 40, sorted(bad)  # besides the odd-but-valid kinds that must keep passing


@pytest.mark.parametrize("command", ["extract", "index"])
def test_no_traceback_and_exit_0_when_good_tracks_succeed(mixed, command):
    run = mixed[command]
    assert run.code == 0, run.output
    for marker in R.RAW_MARKERS:
        assert marker not in run.text, f"{command}: {marker!r} reached the user"
    for f in run.failures:
        assert "\n" not in f["error"], f  # one line each


@pytest.mark.parametrize("command", ["extract", "index"])
def test_every_bad_line_is_skipped_and_named_with_file_line_and_field(mixed, command):
    tracks = str(mixed["root"] / "tracks.jsonl")
    by_line = {f.get("line"): f for f in mixed[command].failures if f.get("line")}
    for ln in _by(mixed["lines"], "skip"):
        got = by_line.get(ln.lineno)
        assert got is not None, f"{ln.kind}: line {ln.lineno} not reported"
        assert got["file"] == tracks and got["field"] == ln.field, (ln.kind, got)
        assert got["error"].startswith(f"{tracks}:{ln.lineno}: "), (ln.kind, got)
        if ln.field:
            assert f"field {ln.field!r}" in got["error"], (ln.kind, got)
        assert ln.needle in got["error"], (ln.kind, got)
    # and the summary says so
    assert f"{len(_by(mixed['lines'], 'skip'))} tracks.jsonl lines skipped" in mixed[command].output


@pytest.mark.parametrize("command", ["extract", "index"])
def test_every_bad_file_is_named_with_its_reason(mixed, command):
    by_id = {f["id"]: f for f in mixed[command].failures if not f.get("line")}
    expected = _by(mixed["lines"], "fail")
    assert set(by_id) == {ln.track_id for ln in expected}
    for ln in expected:
        error = by_id[ln.track_id]["error"]
        assert ln.file in error and ln.needle in error, (ln.kind, error)
    shown = mixed[command].output
    assert f"{len(expected)} failed" in shown


def test_every_good_track_is_processed(mixed):
    good = {ln.track_id for ln in mixed["lines"] if ln.expect in ("ok", "warn")}
    n_tracks = len(good) + len(_by(mixed["lines"], "fail"))
    assert f"{len(good)}/{n_tracks} tracks ok" in mixed["extract"].output
    assert R.indexed_ids(mixed["root"]) == good
    assert f"{len(good)} tracks indexed" in mixed["index"].output


@pytest.mark.parametrize("command", ["extract", "index"])
def test_suspicious_audio_is_processed_with_a_warning(mixed, command):
    by_id = {w["id"]: w for w in mixed[command].warnings}
    expected = _by(mixed["lines"], "warn")
    assert set(by_id) == {ln.track_id for ln in expected}  # and no good track is flagged
    for ln in expected:
        assert any(w.startswith(ln.needle) for w in by_id[ln.track_id]["warnings"]), (ln.kind, by_id[ln.track_id])
        assert by_id[ln.track_id]["audio"].endswith(ln.file)
    assert f"{len(expected)} with warnings" in mixed[command].output


def test_a_rerun_from_the_cache_keeps_the_warnings(mixed, tmp_path):
    again = R.extract(mixed["root"])
    assert again.code == 0 and "0 entries computed" in again.output
    assert again.warnings == mixed["extract"].warnings
    # a fresh index over the filled cache decodes nothing and still reports them
    import shutil

    shutil.rmtree(mixed["root"] / "index")
    fresh = R.index(mixed["root"])
    assert fresh.code == 0 and fresh.warnings == mixed["index"].warnings


@pytest.mark.parametrize("command", ["extract", "index"])
def test_strict_stops_at_the_first_bad_line(mixed, command):
    run = getattr(R, command)(mixed["root"], "--strict")
    first = min(ln.lineno for ln in _by(mixed["lines"], "skip"))
    assert run.code == 2 and f"tracks.jsonl:{first}: field 'id'" in run.output, run.output
    assert "Traceback" not in run.output


@pytest.mark.parametrize("command", ["extract", "index"])
def test_strict_exits_1_on_a_failed_track_and_plain_runs_exit_0(tmp_path, command):
    F.build_corpus(tmp_path, [k for k in F.AUDIO_KINDS if k.name == "missing audio file"], bom=False)
    assert getattr(R, command)(tmp_path).code == 0
    strict = getattr(R, command)(tmp_path, "--strict")
    assert strict.code == 1 and "not_there.wav" in strict.output


@pytest.mark.parametrize("command", ["extract", "index"])
def test_exit_1_when_no_track_succeeds(tmp_path, command):
    lines = [json.dumps({"id": "a", "audio": "missing.wav"}), json.dumps({"id": "b", "audio": "gone.wav"})]
    (tmp_path / "tracks.jsonl").write_text("\n".join(lines) + "\n")
    run = getattr(R, command)(tmp_path)
    assert run.code == 1 and "missing.wav: file not found" in run.output


@pytest.mark.parametrize("command", ["extract", "index"])
@pytest.mark.parametrize(("content", "message"), [
    (b"", "the corpus has no tracks"),
    (b"\n  \n", "the corpus has no tracks"),
    (b"null\n[1]\n", "the corpus has no usable tracks: all 2 lines were skipped"),
])
def test_a_corpus_without_tracks_is_the_same_clear_error_in_both(tmp_path, command, content, message):
    (tmp_path / "tracks.jsonl").write_bytes(content)
    run = getattr(R, command)(tmp_path)
    assert run.code == 2 and message in run.output and "tracks.jsonl" in run.output, run.output


def test_a_missing_lyrics_file_is_named_even_when_its_text_cache_key_is_already_filled(tmp_path):
    """A lyrics-less track fills the text extractor's cache entry for "no lyrics"; a track whose
    lyrics_path is missing hashes to the same key, and must still fail naming the file."""
    sys.path.insert(0, str(Path(__file__).parents[1]))
    import _trained as T

    from sapphire_core.cache import FeatureCache
    from sapphire_core.data import Corpus
    from sapphire_core.extraction import extract_corpus
    from sapphire_core.model import build_extractors

    F.build_corpus(tmp_path, [], bom=False, good_tracks=1)
    with (tmp_path / "tracks.jsonl").open("a") as fh:
        fh.write(json.dumps({"id": "ghostlyr", "audio": "audio/good0.wav", "lyrics_path": "lyr/gone.lrc"}) + "\n")
    registry = T.toy_registry()
    from sapphire_core.config import validate_config

    extractors = [e for g in build_extractors(validate_config(T.TOY_CONFIG, registry, source="toy"),
                                              registry).values() for e in g]
    report = extract_corpus(Corpus(tmp_path).tracks, extractors, FeatureCache(tmp_path / "cache"))
    assert [r.track_id for r in report.failures] == ["ghostlyr"]
    assert "gone.lrc: lyrics file not found" in report.failures[0].error
