"""``sapphire describe --corpus DIR``: write natural-language descriptions of every track."""

from __future__ import annotations

from pathlib import Path

import typer

from sapphire_core.cli.common import app, console, progress_bar


@app.command("describe")
def describe_command(
    corpus: Path = typer.Option(..., "--corpus", help="Corpus folder with tracks.jsonl."),
    backend: str = typer.Option("template", "--backend", help="template (offline) or openai (any OpenAI-compatible "
                                "server: set SAPPHIRE_LLM_URL, SAPPHIRE_LLM_MODEL, SAPPHIRE_LLM_API_KEY)."),
    per_track: int = typer.Option(3, "--per-track", min=1, help="Descriptions per track."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed."),
    set_: list[str] = typer.Option([], "--set", help="Backend setting key=value, e.g. prompt=chain_of_thought."),
    config: Path = typer.Option(None, "--config", help="Modality set whose (cached) features condition the text."),
) -> None:
    """Write CORPUS/descriptions.jsonl ({"id", "descriptions", "backend"} per line)."""
    from sapphire_core.data import Corpus
    from sapphire_core.describe.corpus import describe_corpus
    from sapphire_core.config import override_value
    from sapphire_core.errors import ConfigError
    from sapphire_core.plugins import default_registry

    registry = default_registry()
    settings = {}
    for item in set_:
        if "=" not in item:
            raise ConfigError(f"--set {item!r} is not key=value")
        key, value = item.split("=", 1)
        settings[key.strip()] = override_value(item, value)
    features_for = None
    if config is not None:
        from sapphire_core.cache import FeatureCache
        from sapphire_core.layout import cache_dir as default_cache_dir
        from sapphire_core.config import load_config
        from sapphire_core.embedding import track_features
        from sapphire_core.model import build_extractors

        extractors = build_extractors(load_config(config, registry), registry)
        cache = FeatureCache(default_cache_dir(corpus))

        def features_for(track):
            tf = track_features(track, extractors, cache)
            return {k: v for feats in tf.by_modality.values() for k, v in feats.items()}

    total = len(Corpus(corpus))
    with progress_bar(f"describing ({backend})", total) as advance:
        path = describe_corpus(corpus, backend=backend, per_track=per_track, seed=seed, settings=settings,
                               registry=registry, features_for=features_for, on_progress=advance)
    console.print(f"{total} tracks described -> {path}")
