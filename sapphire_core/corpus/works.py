"""Works of the music21 corpus: which to take, the held-out list, and what a parsed score tells us.

A *work* is one score: a file, or one tune (``X:`` number) of a multi-tune ABC file. This module
selects candidate works cheaply (paths and ABC reference numbers, no parsing), drops every
held-out work, and turns a parsed score into :class:`ScoreInfo`: an excerpt of notes in
quarter-note time, the key, meter, tempo mark, lyrics and the collection-level labels.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from sapphire_core.errors import CorpusError

HELDOUT_NAME = "heldout_music21.txt"
SIZES = ("small", "medium", "full")


@dataclass(frozen=True)
class Collection:
    """Labels shared by a music21 corpus folder (overridden per path by :data:`PATH_LABELS`)."""

    composer: str
    era: str
    form: str
    language: str | None = None
    vocal: bool = False
    natural: str = "piano"  # the v0 instrumentation plan
    bpm: float = 100.0  # quarter-note BPM when the score has no usable MetronomeMark


COLLECTIONS: dict[str, Collection] = {
    "bach": Collection("Johann Sebastian Bach", "baroque", "chorale", "de", True, "choir", 76),
    "palestrina": Collection("Giovanni Pierluigi da Palestrina", "renaissance", "mass", "la", True, "choir", 120),
    "monteverdi": Collection("Claudio Monteverdi", "renaissance", "madrigal", "it", True, "choir", 112),
    "trecento": Collection("anonymous (trecento)", "medieval", "ballata", "it", True, "voices", 100),
    "ciconia": Collection("Johannes Ciconia", "medieval", "motet", "la", True, "voices", 100),
    "josquin": Collection("Josquin des Prez", "renaissance", "chanson", None, False, "voices", 110),
    "lusitano": Collection("Vicente Lusitano", "renaissance", "madrigal", "it", True, "choir", 110),
    "haydn": Collection("Joseph Haydn", "classical", "string quartet", natural="string_quartet", bpm=112),
    "mozart": Collection("Wolfgang Amadeus Mozart", "classical", "string quartet", natural="string_quartet", bpm=112),
    "beethoven": Collection("Ludwig van Beethoven", "classical", "string quartet", natural="string_quartet",
                            bpm=108),
    "schumann_robert": Collection("Robert Schumann", "romantic", "string quartet", natural="string_quartet", bpm=100),
    "schumann_clara": Collection("Clara Schumann", "romantic", "polonaise", natural="piano", bpm=100),
    "chopin": Collection("Frederic Chopin", "romantic", "mazurka", natural="piano", bpm=132),
    "joplin": Collection("Scott Joplin", "modern", "ragtime", natural="piano", bpm=100),
    "schoenberg": Collection("Arnold Schoenberg", "modern", "piano piece", natural="piano", bpm=60),
    "webern": Collection("Anton Webern", "modern", "canon", "la", True, "voice_and_piano", 70),
    "beach": Collection("Amy Beach", "modern", "song", "en", True, "voice_and_piano", 80),
    "johnson_j_r": Collection("J. Rosamond Johnson", "modern", "hymn", "en", True, "choir", 90),
    "liliuokalani": Collection("Liliuokalani", "romantic", "song", "haw", True, "voice_and_piano", 90),
    "verdi": Collection("Giuseppe Verdi", "romantic", "aria", "it", True, "voice_and_piano", 138),
    "handel": Collection("George Frideric Handel", "baroque", "aria", "it", True, "voice_and_piano", 66),
    "schubert": Collection("Franz Schubert", "romantic", "lied", "de", True, "voice_and_piano", 90),
    "corelli": Collection("Arcangelo Corelli", "baroque", "trio sonata", natural="string_ensemble", bpm=60),
    "cpebach": Collection("Carl Philipp Emanuel Bach", "classical", "sonata", natural="harpsichord", bpm=100),
    "weber": Collection("Carl Maria von Weber", "romantic", "concertino", natural="woodwinds", bpm=100),
    "leadSheet": Collection("various", "modern", "song", "en", False, "piano", 100),
    "ryansMammoth": Collection("traditional", "folk", "reel", natural="fiddle", bpm=200),
    "oneills1850": Collection("traditional", "folk", "air", natural="whistle", bpm=100),
    "essenFolksong": Collection("traditional", "folk", "folk song", natural="flute", bpm=110),
    "airdsAirs": Collection("traditional", "folk", "air", natural="fiddle", bpm=100),
    "nottingham-dataset": Collection("traditional", "folk", "reel", natural="fiddle", bpm=200),
    "miscFolk": Collection("traditional", "folk", "march", natural="whistle", bpm=110),
}

#: Per-path overrides (path prefix -> fields), for collections that mix forms.
PATH_LABELS: dict[str, dict] = {
    "mozart/k545": {"form": "piano sonata", "natural": "piano", "bpm": 120},
    "schumann_robert/dichterliebe": {"form": "lied", "language": "de", "vocal": True, "natural": "voice_and_piano",
                                     "bpm": 80},
    "schumann_robert/opus48": {"form": "lied", "language": "de", "vocal": True, "natural": "voice_and_piano",
                               "bpm": 80},
    "schumann_clara/opus17": {"form": "piano trio", "natural": "string_ensemble"},
    "beethoven/opus59": {"era": "romantic"}, "beethoven/opus74": {"era": "romantic"},
    "beethoven/opus13": {"era": "romantic"},
}

#: Collections never used: test files and analyses, not music.
SKIP_COLLECTIONS = {"demos", "theoryExercises"}
#: Suffixes that mark another edition of the same work (bwv190.7-inst = bwv190.7).
_EDITION_SUFFIX = re.compile(r"(-inst|-sc|_old|_bak|-a|-b)$")

#: Ordinary of the Mass: the sung Latin text of each section (Missale Romanum), used where a
#: score (Palestrina's kern files) carries no text spine. Recorded as lyrics_source "liturgical".
MASS_TEXTS = {
    "kyrie": "Kyrie eleison. Christe eleison. Kyrie eleison.",
    "gloria": "Gloria in excelsis Deo et in terra pax hominibus bonae voluntatis. Laudamus te. Benedicimus te. "
              "Adoramus te. Glorificamus te. Gratias agimus tibi propter magnam gloriam tuam.",
    "credo": "Credo in unum Deum, Patrem omnipotentem, factorem caeli et terrae, visibilium omnium et invisibilium.",
    "sanctus": "Sanctus, Sanctus, Sanctus Dominus Deus Sabaoth. Pleni sunt caeli et terra gloria tua. "
               "Hosanna in excelsis.",
    "benedictus": "Benedictus qui venit in nomine Domini. Hosanna in excelsis.",
    "agnus": "Agnus Dei, qui tollis peccata mundi, miserere nobis. Agnus Dei, qui tollis peccata mundi, "
             "dona nobis pacem.",
    "benedicamus": "Benedicamus Domino. Deo gratias.",
}

#: Folk tune forms recognised in titles (ryansMammoth file names, O'Neill titles), with the typical
#: note rate of the tune as played (notes per second). The same reel is notated in 2/4 with
#: sixteenths or in 4/4 with eighths, so without a tempo mark the quarter-note BPM is set from the
#: notes' median duration: BPM = rate * 60 * median_duration_in_quarters.
FOLK_FORMS = {
    "reel": ("reel", 6.5), "jig": ("jig", 6.0), "hornpipe": ("hornpipe", 5.0), "strathspey": ("strathspey", 4.5),
    "polka": ("polka", 5.0), "waltz": ("waltz", 3.5), "clog": ("clog", 5.0), "march": ("march", 4.0),
    "schottische": ("schottische", 4.5), "fling": ("fling", 4.5), "quickstep": ("march", 4.5),
    "slide": ("slide", 6.0), "air": ("air", 2.5), "lament": ("air", 2.0), "mazurka": ("mazurka", 4.0),
    "quadrille": ("quadrille", 4.5), "song": ("song", 2.5),
}
#: Default note rate of each folk collection's usual form (notes per second).
FOLK_DEFAULT_RATE = {"ryansMammoth": 6.0, "oneills1850": 2.5, "essenFolksong": 2.5, "airdsAirs": 2.5,
                     "nottingham-dataset": 6.5, "miscFolk": 4.0}


@dataclass(frozen=True)
class WorkRef:
    """A candidate work: a corpus-relative path and, for multi-tune ABC files, a tune number."""

    path: str
    number: int | None = None

    @property
    def collection(self) -> str:
        return self.path.split("/", 1)[0]

    @property
    def work_id(self) -> str:
        stem = re.sub(r"\.(mxl|xml|musicxml|krn|abc)$", "", self.path)
        if self.number is not None:
            stem += f"-n{self.number}"
        return re.sub(r"[^A-Za-z0-9._-]+", "-", stem.replace("/", "-")).strip("-")


@dataclass
class ScoreInfo:
    """What a parsed score contributes to every variant (times in quarter notes, untransposed)."""

    notes: list[tuple[float, float, int, int]]  # (onset_q, duration_q, midi pitch, part)
    n_parts: int
    end_q: float  # excerpt end (a measure boundary where possible)
    bpm: float  # quarter-note BPM before the variant's tempo scale
    tonic_pc: int
    mode: str
    meter: str
    title: str
    labels: dict = field(default_factory=dict)  # composer, era, form, collection, natural
    lyrics: str | None = None
    language: str | None = None
    lyrics_source: str | None = None
    melody_part: int = 0


# --------------------------------------------------------------------------- held-out list


def heldout_path() -> Path:
    """The held-out list: ``<repo>/../shared/eval/heldout_music21.txt`` when present, else the packaged copy."""
    repo = Path(__file__).resolve().parents[2]
    shared = repo.parent / "shared" / "eval" / HELDOUT_NAME
    return shared if shared.is_file() else Path(__file__).with_name(HELDOUT_NAME)


def normalize_work_path(path: str) -> str:
    """The edition-independent key of a corpus path: no extension, no edition suffix.

    ``beethoven/opus18no1/movement1.krn`` and ``.mxl`` are the same work, as are
    ``bach/bwv190.7-inst.mxl`` and ``bach/bwv190.7.mxl``; held-out matching uses this key.
    """
    stem = re.sub(r"\.(mxl|xml|musicxml|krn|abc|rntxt|mid|midi)$", "", path.strip().lstrip("./"))
    return _EDITION_SUFFIX.sub("", stem)


def load_heldout(path: str | Path | None = None) -> set[str]:
    """Normalised keys (see :func:`normalize_work_path`) of every held-out corpus path."""
    path = Path(path) if path else heldout_path()
    if not path.is_file():
        raise CorpusError(f"{path}: held-out list not found; it ships in sapphire_core/corpus/{HELDOUT_NAME}")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    return {normalize_work_path(ln) for ln in lines if ln and not ln.startswith("#")}


def is_heldout(ref_path: str, heldout: set[str]) -> bool:
    """Whether a corpus path (any tune of it) is held out."""
    return normalize_work_path(ref_path) in heldout


# --------------------------------------------------------------------------- candidates


def corpus_root() -> Path:
    """The folder of music21's bundled corpus."""
    import music21.corpus

    return Path(music21.corpus.__file__).parent


def all_paths() -> list[str]:
    """Every parseable-looking score in music21's corpus, corpus-relative, sorted."""
    root = corpus_root()
    exts = {".mxl", ".xml", ".musicxml", ".krn", ".abc"}
    out = []
    for p in root.rglob("*"):
        if p.suffix in exts and p.is_file():
            rel = p.relative_to(root).as_posix()
            if rel.split("/", 1)[0] in COLLECTIONS:
                out.append(rel)
    return sorted(out)


def abc_numbers(path: str) -> list[int]:
    """Tune reference numbers (``X:`` fields) of an ABC file, in file order, without duplicates."""
    text = (corpus_root() / path).read_text(encoding="utf-8", errors="replace")
    seen: list[int] = []
    for m in re.finditer(r"^X:\s*(\d+)", text, flags=re.M):
        n = int(m.group(1))
        if n not in seen:
            seen.append(n)
    return seen


#: small/medium quotas per collection (works); None = every work. ``full`` takes everything.
QUOTAS = {
    "small": {"bach": 14, "palestrina": 8, "monteverdi": 6, "trecento": 4, "haydn": 3, "mozart": 4,
              "beethoven": 3, "schumann_robert": 2, "schumann_clara": 1, "chopin": 1, "joplin": 1,
              "schoenberg": 1, "webern": 1, "beach": 1, "johnson_j_r": 1, "liliuokalani": 1, "verdi": 1,
              "handel": 1, "corelli": 1, "cpebach": 1, "weber": 1, "lusitano": 1, "ciconia": 1,
              "ryansMammoth": 12, "oneills1850": 6, "essenFolksong": 6, "airdsAirs": 2, "miscFolk": 2},
    "medium": {"bach": 150, "palestrina": 90, "monteverdi": 40, "trecento": 40, "ryansMammoth": 140,
               "oneills1850": 60, "essenFolksong": 60, "airdsAirs": 15, "miscFolk": 10, "nottingham-dataset": 2,
               "josquin": 8},
}
#: Multi-tune files contribute at most this many tunes each in small/medium (spreads the picks).
TUNES_PER_FILE = {"small": 3, "medium": 6}


def candidate_works(size: str = "small", *, seed: int = 0, include_heldout: bool = False,
                    heldout: set[str] | None = None) -> list[WorkRef]:
    """Choose candidate works (no parsing), deterministic for ``seed``.

    Parameters
    ----------
    size : {"small", "medium", "full"}
        ``small`` ~80 works from every collection, ``medium`` ~600, ``full`` everything.
    include_heldout : bool
        Take ONLY held-out works (an evaluation corpus) instead of excluding them.

    Returns
    -------
    list of WorkRef
        In a stable order (collection order of :data:`COLLECTIONS`, then the seeded shuffle).
    """
    if size not in SIZES:
        raise CorpusError(f"unknown corpus size {size!r}; choose one of {', '.join(SIZES)}")
    heldout = load_heldout() if heldout is None else heldout
    by_coll: dict[str, list[str]] = {}
    seen_keys: set[str] = set()
    # .mxl before .krn/.xml so that one edition of a work is kept (sorted order puts krn first).
    rank = {".mxl": 0, ".musicxml": 1, ".xml": 2, ".abc": 3, ".krn": 4}
    for rel in sorted(all_paths(), key=lambda p: (normalize_work_path(p), rank.get(Path(p).suffix, 9))):
        key = normalize_work_path(rel)
        if key in seen_keys:
            continue
        seen_keys.add(key)
        if (key in heldout) != include_heldout:
            continue
        by_coll.setdefault(rel.split("/", 1)[0], []).append(rel)
    quotas = QUOTAS.get(size)
    out: list[WorkRef] = []
    for coll in COLLECTIONS:
        paths = sorted(by_coll.get(coll, []))
        if size != "full":
            # Whole multi-movement files (beethoven/opus18no4.mxl) take minutes to parse; the
            # small/medium builds only need the first seconds of a work, so they skip big files.
            paths = [p for p in paths if _file_size(p) <= _MAX_BYTES.get(Path(p).suffix, 250_000)]
        if not paths:
            continue
        rng = random.Random(f"{seed}:{coll}")
        multi = coll in {"oneills1850", "essenFolksong", "airdsAirs", "miscFolk", "nottingham-dataset"}
        if coll == "essenFolksong":
            paths = [p for p in paths if not re.search(r"/test", p)]
        refs: list[WorkRef] = []
        if multi:
            rng.shuffle(paths)
            per_file = TUNES_PER_FILE.get(size)
            for p in paths:
                nums = abc_numbers(p)
                if per_file is not None:
                    nums = sorted(rng.sample(nums, min(per_file, len(nums))))
                refs.extend(WorkRef(p, n) for n in nums)
        else:
            rng.shuffle(paths)
            refs = [WorkRef(p) for p in paths]
        if quotas is not None:
            if coll not in quotas:
                if size == "small":
                    continue
                quotas = {**quotas, coll: len(refs)}  # medium: every work of the small collections
            # A few spares: some scores do not parse or have no lyrics; the builder skips those.
            refs = refs[: int(quotas[coll] * 1.25 + 1)] if include_heldout else refs[: quotas[coll] + _spares(coll, quotas[coll])]
        out.extend(refs)
    return out


_MAX_BYTES = {".mxl": 50_000, ".xml": 250_000, ".musicxml": 250_000, ".krn": 250_000, ".abc": 2_000_000}


def _file_size(rel: str) -> int:
    return (corpus_root() / rel).stat().st_size


def _spares(coll: str, quota: int) -> int:
    # About 40% of the Bach chorales carry no lyrics line and are skipped in small/medium (vocal
    # works must carry text); the builder starts a spare only when a work is skipped.
    rate = {"bach": 0.7, "trecento": 0.5, "palestrina": 0.1, "monteverdi": 0.2}.get(coll, 0.0)
    return max(int(round(quota * rate)), 1 if rate else 0)


def labels_for(ref: WorkRef, title: str = "") -> dict:
    """Collection-level labels of a work, with path and title overrides applied."""
    coll = COLLECTIONS[ref.collection]
    labels = {"collection": ref.collection, "composer": coll.composer, "era": coll.era, "form": coll.form,
              "language": coll.language, "vocal": coll.vocal, "natural": coll.natural, "bpm": coll.bpm}
    for prefix, over in PATH_LABELS.items():
        if ref.path.startswith(prefix):
            labels.update(over)
    name = f"{Path(ref.path).stem} {title}".lower()
    if ref.collection in {"ryansMammoth", "oneills1850", "airdsAirs", "nottingham-dataset", "miscFolk"}:
        labels["note_rate"] = FOLK_DEFAULT_RATE.get(ref.collection, 3.0)
        for word, (form, rate) in FOLK_FORMS.items():
            if word in name:
                labels.update(form=form, note_rate=rate)
                break
    if ref.collection in {"palestrina", "trecento", "ciconia"}:
        for section in MASS_TEXTS:
            if section in name:
                labels.update(form="mass", language="la")
                break
        else:
            if ref.collection == "trecento" and re.search(r"\b(o |ut |albane|doctorum|padu|vos qui|rex|lugent|"
                                                         r"virtutibus|dicant)", name):
                labels.update(form="motet", language="la")
    return labels


# --------------------------------------------------------------------------- parsing


def parse_work(ref: WorkRef):
    """Parse one work with music21 (a single tune of a multi-tune ABC file when ``ref.number`` is set)."""
    from music21 import converter

    path = corpus_root() / ref.path
    if ref.number is not None:
        return converter.parse(path, number=ref.number, forceSource=True)
    return converter.parse(path, forceSource=True)


def _lyrics_of(part) -> str:
    """The first verse of a part as text: syllables joined, hyphenated syllables glued."""
    words: list[str] = []
    current = ""
    for n in part.recurse().notes:
        if not n.lyrics:
            continue
        ly = n.lyrics[0]
        raw = (ly.text or "").strip()
        syl = raw.replace("\xad", "").strip()
        if not syl:
            continue
        # Some MusicXML exports mark syllables with soft hyphens instead of <syllabic>.
        if raw.startswith("\xad") and not current and words:
            current = words.pop()
        current += syl
        if ly.syllabic in (None, "single", "end") and not raw.endswith("\xad"):
            words.append(current)
            current = ""
    if current:
        words.append(current)
    text = " ".join(words)
    return re.sub(r"\s+([,;:.!?])", r"\1", text).strip()


def _part_notes(part, index: int) -> list[tuple[float, float, int, int]]:
    """``(onset_q, duration_q, midi, index)`` of a part's sounding notes, tied notes merged.

    Does what ``Stream.stripTies`` does for our purpose at a third of its cost (it re-sorts the
    stream for every merge, which dominated the build on long scores).
    """
    out: list[list] = []
    pending: dict[int, int] = {}  # midi pitch -> index in `out` of the note a tie continues
    for el in part.flatten().notes:
        dur = float(el.duration.quarterLength)
        if dur <= 0 or el.duration.isGrace:
            continue
        onset = float(el.offset)
        members = el.notes if el.isChord else (el,)
        for n in members:
            midi = n.pitch.midi
            if midi is None:
                continue
            tie = n.tie if n.tie is not None else (el.tie if el.isChord else None)
            kind = tie.type if tie is not None else None
            if kind in ("continue", "stop") and midi in pending:
                first = out[pending[midi]]
                first[1] = max(first[1], onset + dur - first[0])
                if kind == "stop":
                    del pending[midi]
                continue
            out.append([onset, dur, int(midi), index])
            if kind in ("start", "continue"):
                pending[midi] = len(out) - 1
            else:
                pending.pop(midi, None)
    return [tuple(x) for x in out]


def score_info(score, ref: WorkRef, *, target_s: float = 20.0, max_s: float = 25.0) -> ScoreInfo:
    """Extract the excerpt notes, key, meter, tempo and lyrics of a parsed score.

    The excerpt is the first ``target_s`` seconds (at the score's tempo), extended to the end of the
    measure that crosses it unless that passes ``max_s``.

    Raises
    ------
    CorpusError
        When the score has no pitched notes.
    """
    from music21 import meter as m21meter
    from music21 import stream, tempo

    if isinstance(score, stream.Opus):
        score = score.scores[0]
    title = ""
    if score.metadata is not None:
        title = score.metadata.title or score.metadata.movementName or ""
    labels = labels_for(ref, title)
    composer = score.metadata.composer if score.metadata is not None else None
    if composer and labels["composer"].startswith("anonymous"):
        labels["composer"] = composer
    parts = list(score.parts) if score.parts else [score]
    # Tempo: the first MetronomeMark in a plausible range, else the form's default.
    bpm = None
    for mm in score.recurse().getElementsByClass(tempo.MetronomeMark):
        q = mm.getQuarterBPM()
        if q and 40 <= q <= 240:
            bpm = float(q)
        break
    if bpm is None and labels.get("note_rate"):
        durs = sorted(float(n.duration.quarterLength) for n in parts[0].recurse().notes
                      if n.duration.quarterLength > 0)
        if durs:
            bpm = float(min(240.0, max(50.0, round(labels["note_rate"] * 60.0 * durs[len(durs) // 2]))))
    if bpm is None:
        bpm = float(labels["bpm"])
    end_goal_q = target_s * bpm / 60.0
    max_q = max_s * bpm / 60.0
    # Measure boundaries of the first part (offsets in quarters).
    bounds = sorted({float(m.offset + m.duration.quarterLength) for m in parts[0].getElementsByClass("Measure")})
    notes: list[tuple[float, float, int, int]] = []
    kept_parts = 0
    kept_index: dict[int, int] = {}
    for i_part, part in enumerate(parts):
        pn = _part_notes(part, kept_parts)
        if pn:
            notes.extend(pn)
            kept_index[i_part] = kept_parts
            kept_parts += 1
    if not notes:
        raise CorpusError(f"{ref.path}: no pitched notes")
    score_end = max(o + d for o, d, _, _ in notes)
    end_q = score_end
    if score_end > end_goal_q:
        later = [b for b in bounds if b >= end_goal_q - 1e-6]
        end_q = later[0] if later and later[0] <= max_q else end_goal_q
    notes = [(o, min(d, end_q - o), p, k) for o, d, p, k in notes if o < end_q - 1e-6]
    # Key: music21's Krumhansl-Schmuckler analysis (Krumhansl 1990) of the excerpt's notes.
    excerpt = stream.Stream()
    from music21 import note as m21note

    for o, d, p, _ in notes:
        n = m21note.Note(p)
        n.quarterLength = d
        excerpt.insert(o, n)
    k = excerpt.analyze("key")
    ts = next(iter(score.recurse().getElementsByClass(m21meter.TimeSignature)), None)
    meter = ts.ratioString if ts is not None else "4/4"
    lyrics, source = None, None
    melody_part = 0  # the top part, unless the text sits in another (a doubling instrument on top)
    for i_part, part in enumerate(parts):
        text = _lyrics_of(part)
        if len(text) >= 8:
            lyrics, source = text, "score"
            melody_part = kept_index.get(i_part, 0)
            break
    if lyrics is None and labels.get("form") == "mass":
        name = f"{Path(ref.path).stem} {title}".lower()
        for section, text in MASS_TEXTS.items():
            if section in name:
                lyrics, source = text, "liturgical"
                break
    counts = {k: sum(1 for n in notes if n[3] == k) for k in range(kept_parts)}
    if counts.get(melody_part, 0) < 4:
        # The sung part enters after an introduction: take the first part that plays in the excerpt.
        melody_part = next((k for k in range(kept_parts) if counts[k] >= 4), max(counts, key=counts.get))
    return ScoreInfo(
        notes=sorted(notes), n_parts=kept_parts, end_q=float(end_q), bpm=bpm, tonic_pc=int(k.tonic.pitchClass),
        mode=k.mode if k.mode in ("major", "minor") else "major", meter=meter, title=title.strip(),
        labels=labels, lyrics=lyrics, language=labels.get("language") if lyrics else None, lyrics_source=source,
        melody_part=melody_part,
    )
