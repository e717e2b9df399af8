"""``sapphire config validate FILE``."""

from __future__ import annotations

from pathlib import Path

import typer

from sapphire_core.cli.common import app, console

config_app = typer.Typer(help="Check and inspect YAML modality sets.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("validate")
def validate(
    files: list[Path] = typer.Argument(..., help="YAML modality sets."),
    set_: list[str] = typer.Option([], "--set", help="Override, e.g. --set losses.name=infonce"),
    show: bool = typer.Option(False, "--show", help="Print the config with defaults filled in."),
    max_parameters: int = typer.Option(
        None, "--max-parameters", min=1,
        help="Refuse a model with more parameters than this (encoders, fusion head, text projection) "
             "[default: 200,000,000]."),
) -> None:
    """Validate modality sets against the installed plugins, and check the model's size."""
    import yaml

    from sapphire_core.config import DEFAULT_PARAMETER_BUDGET, check_parameter_budget, config_to_dict, load_config
    from sapphire_core.plugins import default_registry

    registry = default_registry()
    for f in files:
        cfg = load_config(f, registry, overrides=set_)
        total = check_parameter_budget(cfg, registry, budget=max_parameters or DEFAULT_PARAMETER_BUDGET, source=str(f))
        modalities = [m for m, b in cfg.modalities if b is not None]
        console.print(f"[green]ok[/] {f}: modalities {', '.join(modalities)}; fusion {cfg.fusion.name}; "
                      f"losses {', '.join(l.name for l in cfg.losses)}; {total:,} parameters")
        if show:
            console.print(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
