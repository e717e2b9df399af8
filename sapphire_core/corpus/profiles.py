"""Render profiles: how the variants of a work are rendered (soundfonts, instrument plans, tempo, key).

A profile keeps training and evaluation renderings apart, so that an evaluation measures what a
model does on sounds it never heard:

``demo``
    The demo corpus: FluidR3 only, instrumentations drawn by kind of work, tempo x0.8-0.93 or
    x1.07-1.2, transposition +-1-3 semitones.
``train``
    Training corpora: three soundfonts (FluidR3, TimGM6mb, csound's GM bank), every training
    instrument plan, tempo x0.8-1.25, transposition +-5 semitones.
``unseen``
    Evaluation corpora: the MuseScore General soundfont and instrument plans built from General
    MIDI programs that no other profile plays (electric piano, accordion, saxophones, ...), tempo
    x0.85-1.15, transposition -3..+3. Every variant, v0 included, uses an unseen plan.

v0 of ``demo`` and ``train`` is the reference rendering (the work's natural instruments, score tempo
and key). Any field can be overridden (``sapphire corpus build --soundfont ... --plans ...``).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, replace

from sapphire_core.errors import CorpusError

#: Instrument plans (``render.PLANS``) of the ``unseen`` profile; no other profile draws them.
UNSEEN_PLANS = ("electric_piano", "accordion", "harmonica_band", "clean_guitar", "pizzicato", "synth_strings",
                "synth_voices", "saxophones", "recorders", "brass_section")


@dataclass(frozen=True)
class RenderProfile:
    """How the variants of a work are rendered.

    Attributes
    ----------
    name : str
    soundfonts : tuple of str
        Keys of ``render.SOUNDFONTS``; each variant draws one.
    plans : tuple of str or None
        Instrument plans variants draw from; ``None``: by kind of work (``build.VARIANT_POOLS``).
    tempo : tuple of float
        ``(low, high)`` tempo factor of the non-reference variants.
    tempo_gap : float
        Factors within this distance of 1 are not drawn (a variant should sound at another tempo).
    transpose : tuple of int
        Semitone shifts the non-reference variants draw from.
    reference_v0 : bool
        v0 is the natural instrumentation at score tempo and key.
    """

    name: str
    soundfonts: tuple[str, ...] = ("fluidr3",)
    plans: tuple[str, ...] | None = None
    tempo: tuple[float, float] = (0.8, 1.2)
    tempo_gap: float = 0.07
    transpose: tuple[int, ...] = (-3, -2, -1, 1, 2, 3)
    reference_v0: bool = True

    def key(self) -> dict:
        """What makes two builds render alike (stored with the build's parameters)."""
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    def draw_tempo(self, rng: random.Random) -> float:
        """A tempo factor in ``tempo`` at least ``tempo_gap`` away from 1 (uniform on the allowed part)."""
        lo, hi = self.tempo
        below, above = (lo, min(hi, 1 - self.tempo_gap)), (max(lo, 1 + self.tempo_gap), hi)
        if self.name == "demo":
            # The demo corpus's original draw (kept so its audio does not change).
            return round(rng.choice([rng.uniform(*below), rng.uniform(*above)]), 3)
        w_below, w_above = max(0.0, below[1] - below[0]), max(0.0, above[1] - above[0])
        if w_below + w_above <= 0:
            return round(rng.uniform(lo, hi), 3)
        u = rng.uniform(0.0, w_below + w_above)
        return round(below[0] + u if u < w_below else above[0] + (u - w_below), 3)


def _training_plans() -> tuple[str, ...]:
    from sapphire_core.corpus.render import PLANS

    return tuple(p for p in PLANS if p not in UNSEEN_PLANS)


def profile(name: str, **overrides) -> RenderProfile:
    """The render profile ``name`` with optional field overrides (``None`` values are ignored).

    Raises
    ------
    CorpusError
        For an unknown profile, soundfont or plan, or an empty tempo range (the message lists the choices).
    """
    from sapphire_core.corpus.render import PLANS, SOUNDFONTS

    presets = {
        "demo": RenderProfile("demo", tempo=(0.8, 1.2), tempo_gap=0.07),
        "train": RenderProfile("train", soundfonts=("fluidr3", "timgm6mb", "gmbank"), plans=_training_plans(),
                               tempo=(0.8, 1.25), tempo_gap=0.03, transpose=(-5, -4, -3, -2, -1, 1, 2, 3, 4, 5)),
        "unseen": RenderProfile("unseen", soundfonts=("musescore",), plans=UNSEEN_PLANS, tempo=(0.85, 1.15),
                                tempo_gap=0.03, transpose=(-3, -2, -1, 1, 2, 3), reference_v0=False),
    }
    if name not in presets:
        raise CorpusError(f"unknown render profile {name!r}; choose one of {', '.join(presets)}")
    prof = replace(presets[name], **{k: tuple(v) if isinstance(v, list) else v
                                     for k, v in overrides.items() if v is not None})
    bad = [s for s in prof.soundfonts if s not in SOUNDFONTS]
    if bad or not prof.soundfonts:
        raise CorpusError(f"unknown soundfont {bad[0] if bad else '(none)'!r}; choose from {', '.join(SOUNDFONTS)}")
    bad = [p for p in prof.plans or () if p not in PLANS]
    if bad or (prof.plans is not None and not prof.plans):
        raise CorpusError(f"unknown instrument plan {bad[0] if bad else '(none)'!r}; choose from {', '.join(PLANS)}")
    lo, hi = prof.tempo
    if not 0.25 <= lo <= hi <= 4.0:
        raise CorpusError(f"tempo range {lo}..{hi} is invalid; give low <= high within 0.25..4")
    if not prof.transpose or any(abs(t) > 12 for t in prof.transpose):
        raise CorpusError(f"transpositions {list(prof.transpose)} are invalid; give semitones within -12..12")
    return prof


PROFILES = ("demo", "train", "unseen")
