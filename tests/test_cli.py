"""The ``sapphire`` command line, run as a user would (subprocess of the installed console script)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).parents[1]
SAPPHIRE = shutil.which("sapphire", path=str(Path(sys.executable).parent)) or "sapphire"


def run(*args, cwd=None):
    return subprocess.run([SAPPHIRE, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_plugins_json_lists_the_four_modalities_and_the_example():
    out = run("plugins", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    by_name = {p["name"]: p for p in report["plugins"]}
    for name, dist in [("acoustic", "sapphire-acoustic"), ("lyrics", "sapphire-lyrics"),
                       ("structure", "sapphire-structure"), ("vocal", "sapphire-vocal"),
                       ("dynamics", "sapphire-example-dynamics")]:
        assert by_name[name]["distribution"] == dist and by_name[name]["enabled"]
    comps = {(c["kind"], c["name"]): c for c in report["components"]}
    assert comps[("extractor", "rms_envelope")]["provider"] == "sapphire-example-dynamics"
    assert comps[("extractor", "rms_envelope")]["schema"]["properties"]["bins"]["default"] == 16
    assert comps[("loss", "infonce")]["provider"] == "sapphire-core"


def test_plugins_env_var_disables():
    import os

    out = subprocess.run([SAPPHIRE, "plugins", "--json"], capture_output=True, text=True,
                         env={**os.environ, "SAPPHIRE_PLUGINS": "-dynamics"}, timeout=300)
    report = json.loads(out.stdout)
    assert not {p["name"]: p for p in report["plugins"]}["dynamics"]["enabled"]
    assert all(c["provider"] != "sapphire-example-dynamics" for c in report["components"])


def test_config_validate_accepts_and_rejects(tmp_path):
    ok = run("config", "validate", str(REPO / "configs" / "example_dynamics.yaml"))
    assert ok.returncode == 0 and "ok" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"modalities": {"dynamics": {"encoder": {"name": "dynamics_mlp"}}},
                                   "fusion": {"name": "concat_mlp"}, "losses": [{"name": "tripplet"}]}))
    out = run("config", "validate", str(bad))
    assert out.returncode == 2
    assert "bad.yaml" in out.stderr and "unknown loss 'tripplet'" in out.stderr and "infonce" in out.stderr
    assert "Traceback" not in out.stderr


def test_extract_command_end_to_end(write_corpus, tmp_path):
    from sapphire_core.testing.signals import melody, sine

    corpus = write_corpus({"a": (melody([60, 64, 67], sr=16000), 16000, {}),
                           "b": (sine(330, sr=16000, seconds=1.0), 16000, {})})
    with (corpus / "tracks.jsonl").open("a") as fh:
        fh.write(json.dumps({"id": "broken", "audio": "audio/none.wav"}) + "\n")
    cache = tmp_path / "cache"
    config = str(REPO / "configs" / "example_dynamics.yaml")
    out = run("extract", config, "--corpus", str(corpus), "--cache", str(cache))
    assert out.returncode == 0, out.stderr
    assert "2/3 tracks ok" in out.stdout
    failures = [json.loads(line) for line in (cache / "failures.jsonl").read_text().splitlines()]
    assert [f["id"] for f in failures] == ["broken"]
    strict = run("extract", config, "--corpus", str(corpus), "--cache", str(cache), "--strict")
    assert strict.returncode == 1 and "0 entries computed, 2 cached" in strict.stdout
    missing = run("extract", config, "--corpus", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "tracks.jsonl" in missing.stderr


def test_example_plugin_passes_the_contract():
    """The example third-party modality is a real plugin: contract tests run in its own test folder."""
    tests = REPO / "examples" / "sapphire-example-modality" / "tests"
    assert any(tests.glob("test_*.py"))


def test_bad_option_value_is_a_usage_error_not_a_traceback(write_corpus):
    from sapphire_core.testing.signals import sine

    corpus = write_corpus({"a": (sine(330, sr=16000, seconds=1.0), 16000, {})})
    out = run("extract", str(REPO / "configs" / "example_dynamics.yaml"), "--corpus", str(corpus), "--engine", "nope")
    assert out.returncode == 2
    assert "unknown engine 'nope'" in out.stderr and "Traceback" not in out.stderr
