"""The SAPPHIRE error hierarchy.

Every error a user can provoke is a :class:`SapphireError`. Messages name the
offending value and file, list the valid choices, and say how to fix it.
"""

from __future__ import annotations

from pathlib import Path


class SapphireError(Exception):
    """Base class of every error SAPPHIRE raises on purpose."""


class ConfigError(SapphireError):
    """A YAML modality set or a component config is invalid."""


class PluginError(SapphireError):
    """A plugin is missing, broken, duplicated, or names an unknown component."""


class UnknownComponentError(PluginError):
    """A config or call names a component that no installed plugin provides."""


class DuplicateComponentError(PluginError):
    """Two plugins register a component under the same name."""


class CorpusError(SapphireError):
    """A corpus folder or its ``tracks.jsonl`` is malformed."""


class CacheError(SapphireError):
    """The feature cache holds an unreadable entry."""


class CheckpointError(SapphireError):
    """A model checkpoint is missing, corrupt or incompatible."""


class ExtractionError(SapphireError):
    """A feature extractor failed on one track."""


class AudioError(SapphireError):
    """An audio input cannot be used. Always carries the file path."""

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        where = f"{self.path}: " if self.path else ""
        super().__init__(f"{where}{problem}")


class AudioDecodeError(AudioError):
    """The file is missing, truncated, not audio, or decodes to invalid samples."""


class EmptyAudioError(AudioError):
    """The file holds no samples."""


class SilentAudioError(AudioError):
    """The file decodes to digital silence."""


class SampleRateError(AudioError):
    """The file declares a sample rate no real recording has."""
