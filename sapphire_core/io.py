"""Atomic writes and content hashing: how every SAPPHIRE file reaches the disk.

Every write goes to a temporary file in the target's folder, is flushed to disk and renamed into
place (rename is atomic on POSIX), so a killed run leaves either the old file or the new one,
never half of one, and a rerun simply skips what is complete.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

_BLOCK = 1 << 20
#: sha256 of files already hashed in this process, keyed by (resolved path, size, mtime).
_FILE_DIGESTS: dict[tuple[str, int, int], str] = {}


#: The temporary files of :func:`atomic_write_bytes`: ``.<target name>.<random>.tmp`` beside the target.
TEMP_GLOB = ".*.tmp"


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same folder, fsync, rename.

    Parameters
    ----------
    path : path
        The target; its folder is created when missing.
    data : bytes
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_temp_files(folder: str | Path) -> list[Path]:
    """Delete the temp files a killed writer left anywhere below ``folder``; returns what was removed.

    A SIGKILL between :func:`atomic_write_bytes`'s ``mkstemp`` and its rename leaves one behind (the
    target itself is intact). Call this only on a folder the caller owns for the whole run (an index
    or a training run folder): the temp file of a writer still at work would be removed too.
    """
    removed = []
    folder = Path(folder)
    if folder.is_dir():
        for tmp in folder.rglob(TEMP_GLOB):
            if tmp.is_file():
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    return removed


def atomic_write_text(path: str | Path, text: str) -> None:
    """:func:`atomic_write_bytes` of UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def save_store_npz(path: str | Path, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` and a JSON ``meta`` entry as one ``.npz``, atomically; equal input, equal bytes.

    The format of the per-track stores plugins keep in index extras; :func:`load_store_npz` reads it.
    """
    import json

    entries = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays}
    atomic_write_bytes(path, npz_bytes(entries))


def load_store_npz(path: str | Path, *, fmt: int, what: str) -> tuple[dict, dict[str, np.ndarray]]:
    """``(meta, arrays)`` of a file :func:`save_store_npz` wrote with ``meta["format"] == fmt``.

    Raises
    ------
    ConfigError
        When the file is missing, unreadable or of another format, naming it as ``what`` and saying to
        rebuild the index.
    """
    import json

    from sapphire_core.errors import ConfigError

    try:
        with np.load(path) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            if meta.get("format") != fmt:
                raise ValueError(f"format {meta.get('format')}, expected {fmt}")
            arrays = {k: z[k] for k in z.files if k != "meta"}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{path}: not a {what} ({exc}); rebuild it with 'sapphire index'") from None
    return meta, arrays


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An uncompressed ``.npz`` archive of ``arrays`` (readable by :func:`numpy.load`), in memory.

    Its bytes depend only on ``arrays``: entries in the given order, with a fixed timestamp
    (``numpy.savez`` stamps the current time, so saving the same arrays twice would differ).
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, arr in arrays.items():
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)),
                        npy_bytes(np.asarray(arr)))
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    """One array in ``.npy`` format, in memory."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def atomic_save_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as one ``.npz`` file atomically."""
    atomic_write_bytes(path, npz_bytes(arrays))


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file's bytes, memoised per (path, size, mtime).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    """
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    digest = _FILE_DIGESTS.get(key)
    if digest is None:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(_BLOCK), b""):
                h.update(block)
        digest = _FILE_DIGESTS[key] = h.hexdigest()
    return digest


def text_sha256(*parts: str) -> str:
    """SHA-256 hex digest of text parts joined by newlines (ids, settings, keys)."""
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()
