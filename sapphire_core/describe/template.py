"""The ``template`` description backend: an offline grammar that turns facts into fluent, varied text.

Every fact has several phrasings, sentences are shuffled and sometimes merged, and a random
subset of facts is mentioned per description, so the ``n`` descriptions of one track differ
(paraphrase sampling, which MusCALL-style training needs to avoid memorising one caption).
Sampling is seeded by ``seed`` and the track id, so a rerun writes the same text.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

import numpy as np
from pydantic import Field

from sapphire_core.component import ComponentConfig
from sapphire_core.data import Track
from sapphire_core.describe.facts import track_facts
from sapphire_core.describer import DescriptionBackend

LANGUAGES = {"de": "German", "la": "Latin", "it": "Italian", "en": "English", "fr": "French", "es": "Spanish",
             "pt": "Portuguese", "nl": "Dutch", "ga": "Irish", "gd": "Scottish Gaelic", "cy": "Welsh"}
ERA_WORDS = {
    "medieval": ["medieval", "early medieval-style", "plainchant-era"],
    "renaissance": ["Renaissance", "sixteenth-century", "late Renaissance"],
    "baroque": ["Baroque", "late Baroque", "eighteenth-century Baroque"],
    "classical": ["Classical-era", "late eighteenth-century", "Viennese Classical"],
    "romantic": ["Romantic", "nineteenth-century", "Romantic-era"],
    "modern": ["modern", "twentieth-century", "contemporary"],
    "folk": ["traditional folk", "folk", "traditional"],
}
FAMILY_WORDS = {
    "keyboard": ["a keyboard", "a piano-like keyboard", "keys"],
    "strings": ["strings", "a string ensemble", "bowed strings"],
    "organ": ["organ", "a pipe-organ sound", "sustained organ"],
    "voice": ["voices", "a choir", "sung voices"],
    "woodwind": ["woodwinds", "reeds and flutes", "a woodwind ensemble"],
    "brass": ["brass", "a brass ensemble", "horns and brass"],
    "guitar": ["guitar", "plucked guitar", "a guitar"],
    "mixed": ["a mixed ensemble", "several instruments", "a varied ensemble"],
}
TEMPO_WORDS = {
    "slow": ["slow", "unhurried", "stately", "leisurely"],
    "medium": ["moderate", "steady, walking-pace", "relaxed but steady", "mid-tempo"],
    "fast": ["fast", "lively", "brisk", "energetic"],
}
MODE_MOODS = {
    ("major", "slow"): ["serene", "gentle", "warm and calm"],
    ("major", "medium"): ["bright", "cheerful", "warm"],
    ("major", "fast"): ["joyful", "exuberant", "festive"],
    ("minor", "slow"): ["mournful", "melancholy", "sombre"],
    ("minor", "medium"): ["wistful", "dark", "pensive"],
    ("minor", "fast"): ["restless", "dramatic", "urgent"],
}


def _seed(track: Track, seed: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{track.id}".encode()).digest()[:8], "little")


def _join(items: list[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _article(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


class _Grammar:
    """Phrases for each fact; each method returns a sentence fragment or ``None`` when the fact is unknown."""

    def __init__(self, facts: dict[str, Any], rng: random.Random) -> None:
        self.f, self.r = facts, rng

    def pick(self, options: list[str]) -> str:
        return self.r.choice(options)

    def era(self) -> str | None:
        era = self.f.get("era")
        return self.pick(ERA_WORDS.get(era, [era])) if era else None

    def tempo_word(self) -> str | None:
        tc = self.f.get("tempo_class")
        return self.pick(TEMPO_WORDS[tc]) if tc in TEMPO_WORDS else None

    def mood(self) -> str | None:
        return self.pick(MODE_MOODS[(self.f["mode"], self.f["tempo_class"])]) if (
            self.f.get("mode"), self.f.get("tempo_class")) in MODE_MOODS else None

    def opening(self) -> str:
        form = self.f.get("form") or self.pick(["piece", "piece of music", "work"])
        era, composer = self.era(), self.f.get("composer")
        by = f" by {composer}" if composer and composer.lower() not in ("traditional", "anonymous", "unknown") else ""
        choices = [f"{_article(era) if era else 'A'} {form}{by}" if era else f"A {form}{by}"]
        if era:
            choices += [f"This is {_article(era)} {form}{by}", f"{form[0].upper() + form[1:]}{by}, in {_article(era)} style"]
        if by:
            choices += [f"A {form} written by {composer}", f"{composer}'s {form}" + (f", {era} in style" if era else "")]
        return self.pick(choices)

    # Attribute phrasings come in pairs: a fragment that can follow the opening clause, and a
    # sentence that stands alone; both are sampled.
    def instruments(self) -> tuple[str, str] | None:
        inst, fam = self.f.get("instruments"), self.f.get("instrument_family")
        opts = []
        if inst:
            names = _join([i.lower() for i in inst[:3]])
            opts += [(f"played on {names}", f"The instrumentation is {names}"),
                     (f"scored for {names}", f"It is scored for {names}"),
                     (f"with the sound of {names}", f"You hear {names}")]
        if fam in FAMILY_WORDS:
            words = self.pick(FAMILY_WORDS[fam])
            opts += [(f"performed by {words}", f"It is performed by {words}"),
                     (f"with a timbre dominated by {words}", f"The timbre is dominated by {words}"),
                     (f"arranged for {words}", f"It is arranged for {words}")]
        return self.pick(opts) if opts else None

    def tempo(self) -> tuple[str, str] | None:
        word, bpm = self.tempo_word(), self.f.get("tempo_bpm")
        opts = []
        if word:
            opts += [(f"at {_article(word)} tempo", f"The tempo is {word}"),
                     (f"with {_article(word)} pulse", f"It moves with {_article(word)} pulse"),
                     (f"moving at {_article(word)} pace", f"It moves at {_article(word)} pace")]
        if bpm:
            opts += [(f"at about {bpm:.0f} beats per minute", f"The tempo is about {bpm:.0f} beats per minute"),
                     (f"around {bpm:.0f} BPM", f"It runs at around {bpm:.0f} BPM")]
            if word:
                opts += [(f"at {_article(word)} {bpm:.0f} BPM", f"The pace is {word}, near {bpm:.0f} BPM")]
        return self.pick(opts) if opts else None

    def tonality(self) -> tuple[str, str] | None:
        key, mode = self.f.get("key"), self.f.get("mode")
        opts = []
        if key:
            opts += [(f"in {key}", f"It is in {key}"), (f"set in the key of {key}", f"The key is {key}"),
                     (f"in the key of {key}", f"It is written in {key}")]
        elif mode:
            opts += [(f"in a {mode} key", f"It is in a {mode} key"), (f"in the {mode} mode", f"The mode is {mode}")]
        return self.pick(opts) if opts else None

    def meter(self) -> tuple[str, str] | None:
        meter = self.f.get("meter")
        if not meter:
            return None
        opts = [(f"in {meter} time", f"It is in {meter} time"), (f"with a {meter} metre", f"The metre is {meter}"),
                (f"counted in {meter}", f"It is counted in {meter}")]
        if meter.split("/")[0] in ("3", "6", "9"):
            opts += [(f"with a lilting {meter} swing", f"It has a lilting {meter} swing"),
                     (f"in a dance-like {meter}", f"The {meter} metre feels like a dance")]
        return self.pick(opts)

    def mood_sentence(self) -> str | None:
        mood = self.mood()
        if not mood:
            return None
        return self.pick([f"The mood is {mood}", f"It feels {mood}", f"The overall character is {mood}",
                          f"It has {_article(mood)} feel"])

    def effects(self) -> str | None:
        eff = self.f.get("effects")
        if not eff:
            return None
        names = _join([e.replace("_", " ") for e in eff])
        return self.pick([f"The recording has {names} applied", f"It is processed with {names}",
                          f"{names[0].upper() + names[1:]} colours the sound"])

    def lyrics(self) -> str | None:
        if not self.f.get("has_lyrics"):
            return self.pick(["It is purely instrumental", "There are no lyrics", "An instrumental performance"])
        lang = LANGUAGES.get(self.f.get("language", ""), None)
        themes = self.f.get("lyric_themes") or []
        opts = []
        if lang:
            opts += [f"It is sung in {lang}", f"The text is in {lang}", f"Voices sing {lang} words"]
        if themes:
            words = _join(themes[:2])
            opts += [f"The lyrics dwell on {words}", f"Its words speak of {words}"]
            if lang:
                opts += [f"It sets {lang} words about {words}"]
        return self.pick(opts) if opts else "It has lyrics"

    def perceptual(self) -> str | None:
        p = self.f.get("perceptual") or {}
        if not p:
            return None
        words = [str(v) for v in p.values() if v][:3]
        return self.pick([f"It sounds {_join(words)}", f"Perceptually it is {_join(words)}",
                          f"Listeners would call it {_join(words)}"]) if words else None


def compose(facts: dict[str, Any], rng: random.Random) -> str:
    """One description: an opening clause with some attributes, then shuffled sentences for the rest."""
    g = _Grammar(facts, rng)
    attrs = [x for x in (g.instruments(), g.tempo(), g.tonality(), g.meter()) if x]
    rng.shuffle(attrs)
    # Mention a random subset (at least two attributes when there are two), so paraphrases differ in content too.
    keep = attrs[: max(min(2, len(attrs)), rng.randint(1, len(attrs)) if attrs else 0)]
    head_n = rng.randint(0, min(2, len(keep)))
    first = g.opening()
    if head_n:
        first += ", " + _join([frag for frag, _ in keep[:head_n]])
    sentences = [first + "."]
    sentences += [sentence + "." for _, sentence in keep[head_n:]]
    extra = [x for x in (g.mood_sentence(), g.effects(), g.lyrics(), g.perceptual()) if x]
    rng.shuffle(extra)
    sentences += [e + "." for e in extra[: max(1, rng.randint(1, len(extra)))]] if extra else []
    return " ".join(s[0].upper() + s[1:] for s in sentences)


class TemplateDescriber(DescriptionBackend):
    """Offline, deterministic descriptions from metadata and features (the default backend)."""

    name = "template"

    class Config(ComponentConfig):
        max_attempts: int = Field(20, ge=1, description="draws per description to find one not yet used")

    def describe(self, track: Track, features: dict[str, np.ndarray] | None = None, *, n: int = 1,
                 seed: int = 0) -> list[str]:
        facts = track_facts(track, features)
        rng = random.Random(_seed(track, seed))
        out: list[str] = []
        for _ in range(n):
            text = compose(facts, rng)
            for _ in range(self.config.max_attempts):
                if text not in out:
                    break
                text = compose(facts, rng)
            out.append(text)
        return out
