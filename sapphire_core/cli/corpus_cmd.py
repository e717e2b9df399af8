"""``sapphire corpus build|scan|robustness``: render the demo corpus from music21, index your own
music folder, or cut a robustness set of degraded excerpts from real recordings."""

from __future__ import annotations

from pathlib import Path

import typer

from sapphire_core.cli.common import app, console, progress_bar

corpus_app = typer.Typer(help="Build the rendered music21 demo corpus, or index your own music folder.",
                         no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")


@corpus_app.command("build")
def build(
    out: Path = typer.Option(..., "--out", help="Output folder (resumes an unfinished build there)."),
    size: str = typer.Option("small", "--size", help="small (~80 works), medium (~600) or full (all)."),
    variants: int = typer.Option(2, "--variants", min=1, help="Rendered variants per work."),
    workers: int = typer.Option(2, "--workers", min=1, help="Worker processes."),
    seed: int = typer.Option(0, "--seed", help="Seeds the selection and every random choice."),
    include_heldout: bool = typer.Option(False, "--include-heldout",
                                         help="Build ONLY the held-out works (an evaluation corpus)."),
    profile: str = typer.Option("demo", "--profile",
                                help="Render profile: demo, train (3 soundfonts, +-5 semitones, x0.8-1.25) or "
                                     "unseen (a soundfont and instruments no other profile uses: for evaluation)."),
    soundfont: list[str] = typer.Option(None, "--soundfont", help="Override the profile's soundfonts (repeatable): "
                                        "fluidr3, timgm6mb, gmbank, musescore."),
    plans: str = typer.Option(None, "--plans", help="Override the profile's instrument plans (comma-separated)."),
    tempo_range: str = typer.Option(None, "--tempo-range", help="Override the tempo factors, e.g. 0.85,1.15."),
    transpose: str = typer.Option(None, "--transpose", help="Override the semitone shifts, e.g. -3,2."),
) -> None:
    """Render music21 scores with FluidSynth: tracks, hums, excerpts and relations (deterministic per seed)."""
    from sapphire_core.corpus.build import build_corpus
    from sapphire_core.corpus.profiles import profile as render_profile
    from sapphire_core.corpus.works import SIZES

    from sapphire_core.errors import CorpusError

    if size not in SIZES:
        raise CorpusError(f"unknown --size {size!r}; choose one of {', '.join(SIZES)}")

    def numbers(text: str | None, kind, option: str):
        if text is None:
            return None
        try:
            return [kind(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise CorpusError(f"{option} {text!r}: give comma-separated numbers, e.g. {option} 0.85,1.15") from None

    tempo = numbers(tempo_range, float, "--tempo-range")
    if tempo is not None and len(tempo) != 2:
        raise CorpusError(f"--tempo-range {tempo_range!r}: give two factors, low,high (e.g. 0.85,1.15)")
    render = render_profile(profile, soundfonts=soundfont or None,
                            plans=[p.strip() for p in plans.split(",")] if plans else None,
                            tempo=tempo, transpose=numbers(transpose, int, "--transpose"))
    from sapphire_core.corpus.works import QUOTAS, candidate_works

    if size == "full" or include_heldout:
        total = len(candidate_works(size, seed=seed, include_heldout=include_heldout))
    else:
        total = sum(QUOTAS[size].values())
    state: dict = {"done": 0}
    with progress_bar(f"rendering ({size})", total) as advance:
        def on_progress(done: int, total: int) -> None:
            if done > state["done"]:
                advance(done - state["done"])
                state["done"] = done

        report = build_corpus(out, size=size, variants=variants, seed=seed, workers=workers,
                              include_heldout=include_heldout, on_progress=on_progress, render=render)
    console.print(("reused " if report.reused else "built ") + report.summary())
    for work_id, reason in report.skipped[:20]:
        console.print(f"[yellow]skipped[/] {work_id}: {reason}")
    if len(report.skipped) > 20:
        console.print(f"... {len(report.skipped) - 20} more in {out / 'build_report.json'}")


@corpus_app.command("scan")
def scan(
    folder: Path = typer.Argument(..., help="Folder of audio files (wav, flac, ogg, mp3, aiff)."),
    out: Path = typer.Option(None, "--out", help="tracks.jsonl to write [default: FOLDER/tracks.jsonl]."),
) -> None:
    """Write tracks.jsonl for your own music: audio files, sidecar .lrc/.txt lyrics and embedded tags."""
    from sapphire_core.corpus.scan import scan_folder
    from sapphire_core.data import Corpus

    path = scan_folder(folder, out=out)
    corpus = Corpus(path.parent) if path.name == "tracks.jsonl" else None
    n = len(corpus) if corpus is not None else sum(1 for _ in path.open())
    with_lyrics = sum(t.has_lyrics for t in corpus) if corpus is not None else 0
    console.print(f"wrote {path}: {n} tracks, {with_lyrics} with lyrics")


@corpus_app.command("robustness")
def robustness(
    source: list[Path] = typer.Option(..., "--source", help="Folder (recursive) or file of real recordings; repeatable."),
    out: Path = typer.Option(..., "--out", help="Output folder: tracks.jsonl, queries.jsonl, copies/."),
    seconds: float = typer.Option(15.0, "--seconds", min=1.0, help="Excerpt length."),
    seed: int = typer.Option(0, "--seed", help="Seeds the excerpt positions and the noise."),
) -> None:
    """Degraded excerpts of real recordings (pitch +-1, stretch +-10 %, 20 dB noise, MP3) that must find
    their source track: evaluate with 'sapphire evaluate --corpus OUT'."""
    from sapphire_core.corpus.robustness import audio_files, build_robustness_set

    files = audio_files(source)
    with progress_bar("excerpts", len(files)) as advance:
        rep = build_robustness_set(source, out, seconds=seconds, seed=seed, on_progress=advance, log=console.print)
    console.print(f"{out}: {rep['tracks']} tracks, {rep['queries']} queries, {len(rep['skipped'])} skipped")
