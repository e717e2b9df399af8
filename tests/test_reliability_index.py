"""A damaged index folder is one line naming the file and saying to rebuild, from the library and from
``search``/``similar``/``serve``: never a KeyError, FileNotFoundError or BadZipFile traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import types

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _trained as T  # noqa: E402

from sapphire_core import hookimpl  # noqa: E402
from sapphire_core.index.folder import IndexFolder  # noqa: E402
from sapphire_core.plugins import build_registry, get_plugin_manager  # noqa: E402
from sapphire_core.query_mode import QueryMode  # noqa: E402
from sapphire_core.retrieval import SearchEngine  # noqa: E402
from sapphire_core.index.store import VectorIndexError  # noqa: E402
from sapphire_core.layout import EXPLANATIONS, MANIFEST, METADATA, MODALITIES, STORE_DIR  # noqa: E402

SAPPHIRE = shutil.which("sapphire", path=str(Path(sys.executable).parent)) or "sapphire"


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def drop_first_metadata_line(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[1:]))


# (name, how to damage INDEX, the file the message must name, words it must hold)
DAMAGE = [
    ("empty manifest", lambda p: (p / MANIFEST).write_text(""), MANIFEST, "empty"),
    ("manifest not JSON", lambda p: (p / MANIFEST).write_text("{nope"), MANIFEST, "not JSON"),
    ("manifest a list", lambda p: (p / MANIFEST).write_text("[]"), MANIFEST, "expected a JSON object"),
    ("manifest without dim", lambda p: (p / MANIFEST).write_text("{}"), MANIFEST, "no valid 'dim'"),
    ("manifest not UTF-8", lambda p: (p / MANIFEST).write_bytes(b"\xff\xfe{"), MANIFEST, "unreadable"),
    ("missing metadata", lambda p: (p / METADATA).unlink(), METADATA, "missing"),
    ("metadata line not JSON", lambda p: (p / METADATA).write_text('{"id": "a"}\n{oops\n'), f"{METADATA}:2",
     "not JSON"),
    ("metadata line without id", lambda p: (p / METADATA).write_text('{"title": "x"}\n'), f"{METADATA}:1",
     "without an 'id'"),
    ("a track missing from metadata", lambda p: drop_first_metadata_line(p / METADATA), STORE_DIR,
     "vectors for"),
    ("truncated modalities.npz", lambda p: truncate(p / MODALITIES), MODALITIES, "truncated"),
    ("empty modalities.npz", lambda p: (p / MODALITIES).write_bytes(b""), MODALITIES, "truncated"),
    ("truncated explanations.npz", lambda p: truncate(p / EXPLANATIONS), EXPLANATIONS, "truncated"),
    ("missing vectors", lambda p: (p / STORE_DIR / "faiss.index").unlink(), "faiss.index", "missing"),
    ("truncated vectors", lambda p: truncate(p / STORE_DIR / "faiss.index", 0.3), "faiss.index", "truncated"),
    ("empty store ids", lambda p: (p / STORE_DIR / "ids.json").write_text("{}"), "ids.json", "unreadable"),
    ("empty store manifest", lambda p: (p / STORE_DIR / "store.json").write_text(""), "store.json", "unreadable"),
    ("missing store folder", lambda p: shutil.rmtree(p / STORE_DIR), "store.json", "sapphire index"),
]


@pytest.fixture(scope="module")
def built() -> Path:
    index = T.toy_setup()["index"]
    assert (index / MODALITIES).is_file() and (index / STORE_DIR / "faiss.index").is_file()
    return index


@pytest.fixture
def copy(built, tmp_path) -> Path:
    dest = tmp_path / "index"
    shutil.copytree(built, dest)
    if not (dest / EXPLANATIONS).is_file():  # the toy plugin's explanations are optional: make one to damage
        import numpy as np

        ids = [json.loads(line)["id"] for line in (dest / METADATA).read_text().splitlines() if line.strip()]
        np.savez(dest / EXPLANATIONS, ids=np.array(ids), toy=np.zeros((len(ids), 3)))
    return dest


def test_an_intact_copy_opens(copy):
    folder = IndexFolder.open(copy)
    assert len(folder.metadata) == len(folder.store) == 12


@pytest.mark.parametrize("damage, names, words", [d[1:] for d in DAMAGE], ids=[d[0] for d in DAMAGE])
def test_damage_is_named_with_the_fix(copy, damage, names, words):
    damage(copy)
    with pytest.raises(VectorIndexError) as info:
        IndexFolder.open(copy)
    message = str(info.value)
    assert names in message and words in message, message
    assert "sapphire index" in message
    assert "\n" not in message


@pytest.mark.parametrize("damage, names", [(DAMAGE[0][1], MANIFEST), (DAMAGE[5][1], METADATA),
                                           (DAMAGE[9][1], MODALITIES), (DAMAGE[12][1], "faiss.index")],
                         ids=["empty manifest", "missing metadata", "truncated npz", "missing vectors"])
@pytest.mark.parametrize("command", ["similar", "search", "serve"])
def test_cli_commands_print_one_line(copy, damage, names, command):
    damage(copy)
    args = {"similar": ["similar", str(copy), "w0__v0"],
            "search": ["search", str(copy), "--text", "bright piano"],
            # --port 1: serve must fail while opening the index, before it binds anything.
            "serve": ["serve", "--index", str(copy), "--port", "1"]}[command]
    out = subprocess.run([SAPPHIRE, *args], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    assert names in out.stderr and "rebuild it with 'sapphire index" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


class BrokenExtra(T.CountingExtra):
    """An index extra whose files are damaged: loading raises what numpy raises on a truncated .npz."""

    def exists(self, folder):
        return True

    def load(self, folder):
        import zipfile

        raise zipfile.BadZipFile("File is not a zip file")


class AnyMode(QueryMode):
    name, input, extra, title = "anymode", "text", "counting", "any"

    def rank(self, query, data, *, k):
        return []


def test_a_damaged_index_extra_is_named(copy):
    """A plugin's extra that raises something unexpected on load is reported as a damaged extra folder."""
    plugin = types.SimpleNamespace(register_query_modes=hookimpl(lambda register: register(AnyMode)),
                                   register_index_extras=hookimpl(lambda register: register(BrokenExtra)))
    registry = build_registry(get_plugin_manager(load_entrypoints=False, plugins=[T.ToyPlugin(), plugin]))
    engine = SearchEngine.open(copy, registry=registry)
    with pytest.raises(VectorIndexError, match=r"extras/counting: the 'counting' index extra is unreadable "
                                               r"\(BadZipFile: File is not a zip file\); rebuild the index"):
        engine.search(anymode="q", k=2)


@pytest.mark.parametrize("damage", [d[1] for d in DAMAGE], ids=[d[0] for d in DAMAGE])
def test_rebuilding_repairs_every_damage(copy, built, damage):
    """The fix the messages give works: 'sapphire index' over a damaged folder writes a sound index with
    the same tracks and vectors (a damaged manifest or store is replaced, not read)."""
    from sapphire_core.index.builder import build_index

    damage(copy)
    s = T.toy_setup()
    build_index(s["ckpt"], s["corpus"], copy, registry=s["registry"], chunk_size=5, device="cpu", extras=False)
    fixed, original = IndexFolder.open(copy), IndexFolder.open(built)
    assert list(fixed.metadata) == list(original.metadata)
    ids = list(original.metadata)
    assert fixed.store.get_vectors(ids).tobytes() == original.store.get_vectors(ids).tobytes()


@pytest.mark.parametrize("damage", [truncate, lambda p: p.write_bytes(b""), lambda p: truncate(p, 0.97)],
                         ids=["truncated chunk", "empty chunk", "chunk cut in its last member"])
def test_rebuilding_over_a_damaged_chunk_embeds_it_again(copy, built, damage, caplog):
    """A damaged ``chunks/*.npz`` is never a BadZipFile: the rebuild logs it by name, embeds its tracks
    again and ends byte-identical to the intact folder; a killed writer's temp files are removed."""
    from sapphire_core.index.builder import build_index
    from sapphire_core.layout import CHUNKS_DIR

    chunk = sorted((copy / CHUNKS_DIR).glob("chunk_*.npz"))[1]
    damage(chunk)
    leftovers = [copy / f".{MANIFEST}.x1y2.tmp", copy / CHUNKS_DIR / f".{chunk.name}.a3b4.tmp"]
    for tmp in leftovers:
        tmp.write_bytes(b"half a file")
    s = T.toy_setup()
    with caplog.at_level("WARNING", logger="sapphire_core.index.builder"):
        report = build_index(s["ckpt"], s["corpus"], copy, registry=s["registry"], chunk_size=5, device="cpu",
                             extras=False)
    assert (report.chunks_done, report.chunks_reused) == (1, len(T.corpus_chunk_ids(s["corpus"], 5)) - 1)
    assert f"{chunk}: unreadable" in caplog.text and "embedding its tracks again" in caplog.text
    assert not any(tmp.exists() for tmp in leftovers)
    keep = lambda p: {str(f.relative_to(p)): f.read_bytes() for f in sorted(p.rglob("*"))  # noqa: E731
                      if f.is_file() and f.name != EXPLANATIONS}  # the fixture adds an explanations file
    assert keep(copy) == keep(built)
