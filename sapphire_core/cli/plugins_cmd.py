"""``sapphire plugins``: every registered component, its providing distribution and config schema."""

from __future__ import annotations

import json

import typer

from sapphire_core.cli.common import app, console


def plugins_report() -> dict:
    """What is installed, as plain data."""
    from sapphire_core.plugins import build_registry, get_plugin_manager, installed_entry_points

    pm = get_plugin_manager()
    registry = build_registry(pm)
    loaded = {name.split(":", 1)[-1] for name, _ in pm.list_name_plugin()}
    plugins = [
        {"name": ep.name, "distribution": ep.dist.name if ep.dist else None,
         "version": ep.dist.version if ep.dist else None, "module": ep.value, "enabled": ep.name in loaded}
        for ep in installed_entry_points()
    ]
    components = []
    for kind, entries in registry.entries.items():
        for name in sorted(entries):
            e = entries[name]
            item = {"kind": kind, "name": name, "provider": e.provider, "class": f"{e.cls.__module__}.{e.cls.__qualname__}"}
            if hasattr(e.cls, "Config"):
                item["schema"] = e.cls.Config.model_json_schema()
            if e.modality:
                item["modality"] = e.modality
            for attr in ("version", "sample_rate", "requires"):
                if hasattr(e.cls, attr) and kind in ("extractor", "encoder"):
                    value = getattr(e.cls, attr)
                    item[attr] = list(value) if isinstance(value, tuple) else value
            components.append(item)
    return {"plugins": plugins, "modalities": {m: sorted(p) for m, p in registry.modalities().items()},
            "components": components}


@app.command("plugins")
def plugins(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """List installed plugins and every component they register."""
    report = plugins_report()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    from rich.table import Table

    table = Table(title="plugins")
    for col in ("plugin", "distribution", "version", "enabled"):
        table.add_column(col)
    for p in report["plugins"]:
        table.add_row(p["name"], str(p["distribution"]), str(p["version"]), "yes" if p["enabled"] else "no")
    console.print(table)
    comps = Table(title="components")
    for col in ("kind", "name", "modality", "provider"):
        comps.add_column(col)
    for c in report["components"]:
        comps.add_row(c["kind"], c["name"], c.get("modality", ""), c["provider"])
    console.print(comps)
