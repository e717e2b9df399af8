"""Model checkpoints: one file, loadable with ``torch.load(weights_only=True)``.

A checkpoint holds the validated modality-set config (plain data), the model's state dict,
and free metadata (step, metrics, lineage). Only tensors, numbers, strings, lists and dicts
are stored, so loading never unpickles code.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from sapphire_core.io import atomic_write_bytes
from sapphire_core.errors import CheckpointError

FORMAT_VERSION = 1


def save_checkpoint(path: str | Path, *, config: dict[str, Any], state_dict: dict[str, torch.Tensor],
                    meta: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint atomically (temp file + rename).

    Parameters
    ----------
    path : path
        Destination file.
    config : dict
        The modality set as plain data (:func:`sapphire_core.config.config_to_dict`).
    state_dict : dict
        The model's ``state_dict()``.
    meta : dict, optional
        JSON-like metadata (epoch, metrics, parent model, ...).
    """
    buffer = io.BytesIO()
    payload = {
        "format_version": FORMAT_VERSION,
        "config": config,
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "meta": meta or {},
    }
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Raises
    ------
    CheckpointError
        When the file is missing, corrupt, or of another format.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found; train one with 'sapphire train CONFIG --corpus DIR'")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable SAPPHIRE checkpoint ({exc})") from None
    if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: unknown checkpoint format; expected format_version {FORMAT_VERSION}")
    return payload
