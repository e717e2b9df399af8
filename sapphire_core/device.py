"""The one place a device setting (``auto``, ``cpu``, ``cuda``, ``cuda:1``) becomes a torch device."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sapphire_core.errors import ConfigError

if TYPE_CHECKING:
    import torch


def resolve_device(name: str | torch.device | None = "auto", *, what: str = "device") -> torch.device:
    """A device setting as a :class:`torch.device`.

    Parameters
    ----------
    name : str, torch.device or None
        ``auto`` or ``None``: CUDA when available, else CPU; anything else is taken as given.
    what : str
        The setting's name, for the error message (e.g. ``siplca.device``).

    Raises
    ------
    ConfigError
        When CUDA is asked for but torch sees no CUDA device.

    Examples
    --------
    >>> resolve_device("cpu").type
    'cpu'
    """
    import torch

    if name is None or str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{what}: {str(name)!r} but no CUDA device is available (valid here: auto, cpu, cuda); "
                          "set device: auto to use a GPU only when present.")
    return device
