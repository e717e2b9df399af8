"""Receiving an uploaded audio query safely.

The request body is streamed into a file with a server-chosen name inside the app's private
temporary folder (mode 0700), stopping at the size cap; the format is sniffed from the first
bytes (never taken from a client-supplied name or path); the duration is checked from the header
before decoding; and the file is deleted as soon as it is decoded. Nothing the client sends
becomes part of a file-system path.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np

from sapphire_core.errors import SapphireError

#: Decoding rate of uploaded queries; engines resample from the (samples, rate) pair as they need.
UPLOAD_SAMPLE_RATE = 22050


class UploadError(SapphireError):
    """An uploaded query was refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def sniff_suffix(head: bytes) -> str | None:
    """The file suffix of a wav/flac/ogg/mp3 stream from its magic bytes, or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return ".wav"
    if head[:4] == b"fLaC":
        return ".flac"
    if head[:4] == b"OggS":
        return ".ogg"
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0):
        return ".mp3"
    return None


async def receive_upload(chunks: AsyncIterator[bytes], *, tmp_dir: Path, max_bytes: int) -> Path:
    """Stream a request body into a new file in ``tmp_dir``; returns its path.

    Raises
    ------
    UploadError
        413 when the body exceeds ``max_bytes`` (the partial file is removed), 400 when empty,
        415 when it is not wav, flac, ogg or mp3.
    """
    tmp_dir = Path(tmp_dir)
    part = tmp_dir / f"{uuid.uuid4().hex}.part"
    size = 0
    head = b""
    try:
        # O_EXCL + 0600: never follows or reuses an existing file.
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise UploadError(f"upload is larger than the {max_bytes} byte limit; send a shorter excerpt",
                                      413)
                if len(head) < 16:
                    head += chunk[: 16 - len(head)]
                fh.write(chunk)
        if size == 0:
            raise UploadError("the upload is empty; send a wav, flac, ogg or mp3 file as the request body")
        suffix = sniff_suffix(head)
        if suffix is None:
            raise UploadError("unsupported audio format; send wav, flac, ogg or mp3 "
                              "(the browser converts recordings to wav)", 415)
        final = part.with_suffix(suffix)
        os.replace(part, final)
        return final
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def decode_upload(path: Path, *, max_seconds: float) -> tuple[np.ndarray, int]:
    """Decode an uploaded file to mono float32 at :data:`UPLOAD_SAMPLE_RATE`, then delete it.

    Raises
    ------
    UploadError
        413 when longer than ``max_seconds``; 422 when it cannot be decoded or is silent.
    """
    from sapphire_core.audio import audio_info, load_audio

    try:
        try:
            _, seconds = audio_info(path)
        except SapphireError as exc:
            raise UploadError(f"the upload is not a readable audio file ({exc.__class__.__name__})", 422) from None
        if seconds > max_seconds:
            raise UploadError(f"the upload lasts {seconds:.1f} s; the limit is {max_seconds:.0f} s", 413)
        try:
            y = load_audio(path, sr=UPLOAD_SAMPLE_RATE, duration=max_seconds)
        except SapphireError as exc:
            # The message names our temp file, not anything of the client's; keep only the problem.
            problem = getattr(exc, "problem", str(exc))
            raise UploadError(f"the upload cannot be used: {problem}", 422) from None
        return y, UPLOAD_SAMPLE_RATE
    finally:
        Path(path).unlink(missing_ok=True)
