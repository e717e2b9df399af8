"""Listening-test sessions, defined in a small YAML file.

One file holds one session or a list of them::

    sessions:
      - name: pilot-ab
        kind: ab                  # ab: two blinded result lists per query; triplet: "B or C more like A?"
        models: [model, baseline] # names of the engines the server was started with
        mode: choice              # choice (which list is more similar) or rating (1-5 each)
        list_length: 5
        trials_per_rater: 10
        queries:
          - {track: bach-bwv846-piano}
          - {text: "calm solo piano"}

Unknown keys are rejected, so a typo cannot silently change a test.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sapphire_core.errors import ConfigError

#: Names and ids that travel in URLs and database rows: no slashes, no spaces, no dots-only names.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
_NAME_RE = re.compile(NAME_PATTERN)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuerySpec(_Strict):
    """One query of a session: exactly one of a track id (its audio is the query), a text or lyrics."""

    track: str | None = None
    text: str | None = Field(None, max_length=500)
    lyrics: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _one(self) -> QuerySpec:
        given = [k for k in ("track", "text", "lyrics") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"a query needs exactly one of track, text, lyrics; got {given or 'none'}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("track", "text", "lyrics") if getattr(self, k))

    @property
    def value(self) -> str:
        return str(getattr(self, self.kind))


class SessionSpec(_Strict):
    """A listening-test session (see the module docstring for the YAML form)."""

    name: str = Field(..., pattern=NAME_PATTERN)
    kind: Literal["ab", "triplet"] = "ab"
    models: list[str] = Field(default_factory=lambda: ["model", "baseline"])
    mode: Literal["choice", "rating"] = "choice"
    list_length: int = Field(5, ge=1, le=20)
    trials_per_rater: int = Field(10, ge=1, le=1000)
    queries: list[QuerySpec] = Field(default_factory=list)
    strategy: Literal["random", "active"] = "random"
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> SessionSpec:
        if self.kind == "ab":
            if len(self.models) != 2 or self.models[0] == self.models[1]:
                raise ValueError(f"an A/B session compares two different models; got models={self.models}")
            if not self.queries:
                raise ValueError("an A/B session needs at least one query")
        return self


def parse_sessions(data: object, *, source: str = "<sessions>") -> list[SessionSpec]:
    """Validate parsed YAML (one session mapping, a list, or ``{sessions: [...]}``).

    Raises
    ------
    ConfigError
        Naming ``source``, the key path of each problem, and the valid keys.
    """
    if isinstance(data, dict) and "sessions" in data and set(data) == {"sessions"}:
        data = data["sessions"]
    items = data if isinstance(data, list) else [data]
    out: list[SessionSpec] = []
    for i, item in enumerate(items):
        try:
            out.append(SessionSpec.model_validate(item))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '<session>'}: {e['msg']}" for e in exc.errors()
            )
            valid = ", ".join(sorted(SessionSpec.model_fields))
            raise ConfigError(f"{source}: session {i}: {problems}. Valid keys: {valid}") from None
    names = [s.name for s in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{source}: session names repeat: {', '.join(dupes)}; names must be unique")
    return out


def load_sessions(path: str | Path) -> list[SessionSpec]:
    """Read a sessions YAML file.

    Raises
    ------
    ConfigError
        When the file is missing, not YAML, or a session is invalid.
    """
    from sapphire_core.config import read_yaml

    return parse_sessions(read_yaml(path, what="sessions file", hint="", mapping=False), source=str(path))


def valid_name(value: str) -> bool:
    """Whether ``value`` is a safe session/rater/track name (see :data:`NAME_PATTERN`)."""
    return bool(_NAME_RE.match(value or ""))
