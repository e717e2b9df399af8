"""``sapphire extract CONFIG --corpus DIR``: fill the feature cache for a modality set."""

from __future__ import annotations

from pathlib import Path

import typer

from sapphire_core.cli.common import app, console, progress_bar
from sapphire_core.layout import cache_dir as default_cache_dir


@app.command("extract")
def extract(
    config: Path = typer.Argument(..., help="YAML modality set."),
    corpus: Path = typer.Option(..., "--corpus", help="Corpus folder with tracks.jsonl."),
    cache: Path = typer.Option(None, "--cache", help="Feature cache folder [default: CORPUS/.sapphire/cache]."),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first bad tracks.jsonl line, and exit non-zero "
                                "if any track fails."),
    set_: list[str] = typer.Option([], "--set", help="Config override key.path=value."),
    engine: str = typer.Option("local", "--engine", help="local, or ray for a Ray cluster."),
    address: str = typer.Option(None, "--address", help="Ray cluster address (with --engine ray)."),
) -> None:
    """Extract every modality's features for every track into the cache (resumable).

    Bad tracks.jsonl lines and failed tracks are reported (CACHE/failures.jsonl) and skipped; suspicious
    audio is listed in CACHE/warnings.jsonl. Exit 1 only when no track succeeded, or with --strict on any failure.
    """
    from sapphire_core.cache import FeatureCache
    from sapphire_core.config import load_config
    from sapphire_core.data import Corpus
    from sapphire_core.extraction import extract_corpus, write_report_files
    from sapphire_core.model import build_extractors
    from sapphire_core.plugins import default_registry

    registry = default_registry()
    cfg = load_config(config, registry, overrides=set_)
    extractors = [e for group in build_extractors(cfg, registry).values() for e in group]
    data = Corpus(corpus, strict=strict)
    data.require_tracks()
    cache_dir = cache or default_cache_dir(corpus)
    failures_path = cache_dir / "failures.jsonl"
    if engine == "ray":
        from sapphire_core.scale.ray_engine import extract_corpus_ray

        report = extract_corpus_ray(data.tracks, extractors, FeatureCache(cache_dir), address=address)
        report.skipped = list(data.problems)
        write_report_files(failures_path, report)
    elif engine == "local":
        with progress_bar("extracting", len(data)) as advance:
            report = extract_corpus(data.tracks, extractors, FeatureCache(cache_dir), workers=workers,
                                    failures_path=failures_path, on_progress=lambda r: advance(),
                                    skipped=data.problems)
    else:
        raise typer.BadParameter(f"unknown engine {engine!r}; choose local or ray")
    from rich.markup import escape

    console.print(report.summary())
    for p in report.skipped[:10]:
        console.print(f"[red]skipped[/] {escape(str(p))}", highlight=False)
    for f in report.failures[:10]:
        console.print(f"[red]failed[/] {escape(f.track_id)}: {escape(f.error.splitlines()[0])}", highlight=False)
    warned = [r for r in report.results if r.warnings]
    for r in warned[:10]:
        console.print(f"[yellow]warning[/] {escape(r.track_id)}: {escape(f'{r.audio}: ' + '; '.join(r.warnings))}",
                      highlight=False)
    if report.failures or report.skipped:
        console.print(f"failures written to {failures_path}")
    if warned:
        console.print(f"warnings written to {failures_path.with_name('warnings.jsonl')}")
    if report.succeeded == 0 or (strict and report.failures):
        raise typer.Exit(1)
