"""YAML modality sets: load, override, and validate against a schema built from the installed plugins.

A modality set names the modalities (each with its extractors, encoder and weight), the
fusion head, the text tower, the losses and the training settings::

    name: default
    modalities:
      acoustic:
        weight: 1.0
        extractors: [{name: perceptual_spectrum}]   # optional: defaults to what the encoder requires
        encoder: {name: cnn14, output_dim: 256}
    fusion: {name: concat_mlp, output_dim: 512, subspaces: {mood: 64}}
    text: {name: minilm_text_tower}
    losses:
      - {name: infonce, weight: 1.0}
    training: {epochs: 10}

Components are named only through the registry (no import paths). Each component block is a
discriminated union on ``name`` of the installed components' ``Config`` classes, so a bad key
or name is reported once, at load, with its key path and the valid choices.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from sapphire_core.component import MAX_DIM, is_dimension_field
from sapphire_core.errors import ConfigError
from sapphire_core.registry import Registry


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrainingSettings(_Strict):
    """How to train a modality set (read by ``sapphire train``)."""

    epochs: int = Field(8, ge=1)
    batch_size: int = Field(16, ge=2)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    warmup_steps: int = Field(10, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    crop_seconds: float = Field(10.0, gt=0)
    validation_fraction: float = Field(0.2, ge=0, lt=1)
    seed: int = 0
    amp: bool = True
    augment: bool = True
    num_workers: int = Field(0, ge=0)
    descriptions_per_track: int = Field(3, ge=1)


@functools.cache
def _block_model(cls: type) -> type[BaseModel]:
    # Cached: the schema and the defaults filled in later must use the same class, or pydantic
    # warns when serialising the config.
    return create_model(f"{cls.__name__}Block", __base__=cls.Config, name=(Literal[cls.name], ...))  # type: ignore[call-overload]


def _union(classes: list[type]) -> Any:
    blocks = [_block_model(c) for c in classes]
    if len(blocks) == 1:
        return blocks[0]
    return Annotated[Union[tuple(blocks)], Field(discriminator="name")]  # noqa: UP007


def build_schema(registry: Registry) -> type[BaseModel]:
    """The pydantic model of a modality set, for what ``registry`` holds.

    Raises
    ------
    ConfigError
        When no fusion head or loss is installed.
    """

    def classes(kind: str, modality: str | None = None) -> list[type]:
        return [registry.get(kind, n) for n in registry.names(kind, modality=modality)]

    modality_fields: dict[str, Any] = {}
    for modality in sorted(registry.modalities()):
        if modality == "text":
            continue
        extractors, encoders = classes("extractor", modality), classes("encoder", modality)
        if not encoders:
            continue
        fields: dict[str, Any] = {"weight": (float, Field(1.0, ge=0)), "encoder": (_union(encoders), ...)}
        if extractors:
            fields["extractors"] = (list[_union(extractors)] | None, None)
        block = create_model(f"{modality.title()}Modality", __base__=_Strict, **fields)  # type: ignore[call-overload]
        modality_fields[modality] = (block | None, None)
    modalities = create_model("Modalities", __base__=_Strict, **modality_fields)  # type: ignore[call-overload]

    top: dict[str, Any] = {
        "name": (str, "unnamed"),
        "description": (str, ""),
        "modalities": (modalities, ...),
        "training": (TrainingSettings, TrainingSettings()),
    }
    for key, kind, required in (("fusion", "fusion", True), ("describer", "describer", False)):
        found = classes(kind)
        if found:
            top[key] = (_union(found), ...) if required else (_union(found) | None, None)
        elif required:
            raise ConfigError(f"no {kind} component is installed; reinstall sapphire-core")
    text = classes("encoder", "text")
    if text:
        top["text"] = (_union(text) | None, None)
    losses = classes("loss")
    if not losses:
        raise ConfigError("no loss is installed; reinstall sapphire-core")
    top["losses"] = (list[_union(losses)], Field(..., min_length=1))
    return create_model("ModalitySet", __base__=_Strict, **top)  # type: ignore[call-overload]


# ---------------------------------------------------------------- loading


def read_yaml(path: str | Path, *, what: str = "config file", hint: str = "shipped examples are in configs/",
              mapping: bool = True) -> Any:
    """Parse a YAML file (a modality set unless ``what`` says otherwise).

    Raises
    ------
    ConfigError
        Naming the file when it is missing, not YAML, or (with ``mapping``) not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: {what} not found" + (f"; {hint}" if hint else ""))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                          "save the file as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if mapping and not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``--set key.path=value`` overrides (values parsed as YAML).

    Setting a block's ``name`` replaces the whole block (``--set fusion.name=gated_sum``
    gives ``{name: gated_sum}``), so parameters of the old component cannot leak into the
    new one. ``losses.name=x`` addresses the only loss of a single-loss list; a list index
    (``losses.1.weight=0.5``) addresses one entry. A mapping value replaces the block too.

    Raises
    ------
    ConfigError
        When an override is not ``key=value`` or its path does not exist.
    """
    data = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key.path=value")
        path_text, raw = item.split("=", 1)
        value = override_value(item, raw)
        parts = [p for p in path_text.strip().split(".") if p]
        if not parts:
            raise ConfigError(f"override {item!r} has an empty key path")
        parent: Any = data
        for i, part in enumerate(parts[:-1]):
            parent = _step(parent, part, item, create=True, next_part=parts[i + 1])
        last = parts[-1]
        if last == "name" and len(parts) >= 2:
            # Replace the whole block holding this name.
            grand: Any = data
            for part in parts[:-2]:
                grand = _step(grand, part, item, create=False)
            key = parts[-2]
            if isinstance(grand, list):
                grand[_index(grand, key, item)] = {"name": value}
            elif isinstance(grand.get(key), list):
                blocks = grand[key]
                if len(blocks) != 1:
                    raise ConfigError(f"override {item!r}: {key!r} holds {len(blocks)} blocks; use {key}.<index>.name=...")
                blocks[0] = {"name": value}
            else:
                grand[key] = {"name": value}
            continue
        if isinstance(parent, list):
            parent[_index(parent, last, item)] = value
        else:
            parent[last] = value
    return data


def override_value(item: str, raw: str) -> Any:
    """The YAML value ``raw`` of one ``--set`` item; empty gives None.

    Raises
    ------
    ConfigError
        Naming the override when ``raw`` is not YAML (``--set 'training.epochs=['``).
    """
    if not raw.strip():
        return None
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"override {item!r}: the value {raw!r} is not valid YAML ({problem}); quote it "
                          f"(--set '{item.split('=', 1)[0]}=\"...\"') or fix the brackets") from None


def _index(seq: list, part: str, item: str) -> int:
    try:
        idx = int(part)
        seq[idx]
        return idx
    except (ValueError, IndexError):
        raise ConfigError(f"override {item!r}: {part!r} is not a valid index (list of {len(seq)})") from None


def _step(node: Any, part: str, item: str, *, create: bool, next_part: str | None = None) -> Any:
    if isinstance(node, list):
        if not part.isdigit() and len(node) == 1:
            return _step(node[0], part, item, create=create, next_part=next_part)
        return node[_index(node, part, item)]
    if not isinstance(node, dict):
        raise ConfigError(f"override {item!r}: cannot descend into {part!r}")
    if part not in node or node[part] is None:
        if not create:
            raise ConfigError(f"override {item!r}: no key {part!r}")
        node[part] = {}
    return node[part]


# ---------------------------------------------------------------- validation

_BOUND_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}

_COMPONENT_KIND = {"encoder": "encoder", "extractors": "extractor", "fusion": "fusion", "losses": "loss",
                   "text": "encoder", "describer": "describer"}


def _walk(data: Any, loc: tuple) -> tuple[Any, list[str]]:
    """Follow ``loc`` through raw data, dropping union-tag elements; return the node and the readable path."""
    node, shown = data, []
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
            shown.append(str(part))
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            shown.append(str(part))
        elif isinstance(node, dict) and node.get("name") == part:
            continue  # pydantic's discriminator tag
        else:
            shown.append(str(part))
            node = None
    return node, shown


def _valid_keys(schema: type[BaseModel], registry: Registry, data: dict, parent_path: list[str]) -> list[str]:
    parent, _ = _walk(data, tuple(int(p) if p.isdigit() else p for p in parent_path))
    if isinstance(parent, dict) and "name" in parent:
        key = next((p for p in reversed(parent_path) if not p.isdigit()), "")
        kind = _COMPONENT_KIND.get(key)
        if kind and parent["name"] in registry.entries[kind]:
            return sorted({"name", *registry.get(kind, parent["name"]).Config.model_fields})
    if not parent_path:
        return sorted(schema.model_fields)
    if parent_path == ["modalities"]:
        return sorted(schema.model_fields["modalities"].annotation.model_fields)  # type: ignore[union-attr]
    if parent_path[0] == "modalities" and len(parent_path) == 2:
        return ["encoder", "extractors", "weight"]
    if parent_path == ["training"]:
        return sorted(TrainingSettings.model_fields)
    return []


def _format_errors(exc: ValidationError, schema, registry: Registry, data: dict, source: str) -> str:
    lines = []
    for err in exc.errors():
        node, shown = _walk(data, err["loc"])
        path = ".".join(shown) or "<top level>"
        kind = err["type"]
        if kind == "extra_forbidden":
            parent_path = shown[:-1]
            if parent_path == ["modalities"]:
                installed = ", ".join(
                    f"{m} ({', '.join(sorted(p))})" for m, p in sorted(registry.modalities().items()) if m != "text"
                )
                lines.append(f"{path}: unknown modality {shown[-1]!r}; installed: {installed or 'none'}. "
                             "Is its plugin installed (pip install -e plugins/<name>) and enabled (SAPPHIRE_PLUGINS)?")
                continue
            valid = _valid_keys(schema, registry, data, parent_path)
            lines.append(f"{path}: unknown key {shown[-1]!r}; valid keys here: {', '.join(valid) or '(none)'}")
        elif kind in ("union_tag_invalid", "literal_error"):
            key = next((p for p in reversed(shown) if not p.isdigit() and p != "name"), "")
            comp_kind = _COMPONENT_KIND.get(key, "component")
            modality = shown[1] if shown[:1] == ["modalities"] and len(shown) > 1 else None
            if key == "text":
                modality = "text"
            tag = err.get("ctx", {}).get("tag", node if not isinstance(node, dict) else node.get("name"))
            if not path.endswith(".name"):
                path += ".name"  # pydantic reports a union's tag error at the block, the user wrote the name
            lines.append(f"{path}: unknown {comp_kind} {tag!r}; installed: "
                         f"{registry.describe_choices(comp_kind, modality=modality) if comp_kind != 'component' else err['msg']}")
        elif kind == "union_tag_not_found":
            lines.append(f"{path}: the block needs a 'name' key naming the component")
        elif kind in _BOUND_ERRORS and shown and is_dimension_field(shown[-1]):
            # The same words whether the schema's Field bound or the component-wide check caught it.
            lines.append(f"{path}: {shown[-1]} is {err.get('input')}; a dimension must be between 1 and {MAX_DIM:,}")
        else:
            lines.append(f"{path}: {err['msg']}")
    return f"{source}: invalid modality set:\n  " + "\n  ".join(lines)


def validate_config(data: dict[str, Any], registry: Registry, *, source: str = "<config>") -> BaseModel:
    """Validate a modality-set dict and fill in defaults.

    Missing ``extractors`` of a modality default to the encoder's ``requires`` with default
    settings; extractors must cover what the encoder requires.

    Raises
    ------
    ConfigError
        Listing every problem with its key path and the valid choices.
    """
    schema = build_schema(registry)
    try:
        cfg = schema.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, schema, registry, data, source)) from None
    problems = []
    for modality, block in cfg.modalities:
        if block is None:
            continue
        encoder = registry.get("encoder", block.encoder.name)
        have = [e.name for e in (getattr(block, "extractors", None) or [])]
        if not have:
            defaults = [registry.get("extractor", n, modality=modality) for n in encoder.requires]
            if defaults:
                block.extractors = [_block_model(c)(name=c.name) for c in defaults]
            have = list(encoder.requires)
        missing = [r for r in encoder.requires if r not in have]
        if missing:
            problems.append(f"modalities.{modality}: encoder {block.encoder.name!r} needs features from "
                            f"{', '.join(missing)}; add them to modalities.{modality}.extractors")
        else:
            problems += [f"modalities.{modality}.encoder ({block.encoder.name}): {p}; make the encoder's settings "
                         f"and modalities.{modality}.extractors agree"
                         for p in _shape_problems(block, modality, encoder, registry)]
    if not any(b is not None for _, b in cfg.modalities):
        problems.append(f"modalities: name at least one; installed: {', '.join(sorted(cfg.modalities.model_fields))}")
    if problems:
        raise ConfigError(f"{source}: invalid modality set:\n  " + "\n  ".join(problems))
    return cfg


def load_config(path: str | Path, registry: Registry | None = None, *, overrides: list[str] = ()) -> BaseModel:
    """Read, override and validate a YAML modality set.

    Parameters
    ----------
    path : path
        The YAML file.
    registry : Registry, optional
        Defaults to the installed plugins.
    overrides : list of str
        ``key.path=value`` items (see :func:`apply_overrides`).

    Raises
    ------
    ConfigError
        Naming the file, each key path and the valid choices.
    """
    from sapphire_core.plugins import default_registry

    registry = registry or default_registry()
    data = apply_overrides(read_yaml(path), list(overrides))
    return validate_config(data, registry, source=str(path))


def modality_extractors(block: BaseModel, modality: str, registry: Registry) -> list:
    """Instantiate the extractors of one validated modality block."""
    return [registry.get("extractor", e.name, modality=modality)(e) for e in (getattr(block, "extractors", None) or [])]


def feature_shapes(extractors: list) -> dict[str, tuple]:
    """``{"extractor.feature": shape}`` of what ``extractors`` produce (the keys encoders read)."""
    return {f"{ex.name}.{k}": tuple(v) for ex in extractors for k, v in ex.output_shapes().items()}


def _shape_problems(block: BaseModel, modality: str, encoder: type, registry: Registry) -> list[str]:
    from sapphire_core.errors import SapphireError

    try:
        shapes = feature_shapes(modality_extractors(block, modality, registry))
    except SapphireError:
        return []  # an extractor that cannot be built reports itself when it is used
    return encoder.input_problems(block.encoder, shapes)


def active_modalities(cfg: BaseModel) -> dict[str, BaseModel]:
    """The modality blocks a validated config actually uses, in config order."""
    return {name: block for name, block in cfg.modalities if block is not None}


def config_to_dict(cfg: BaseModel) -> dict[str, Any]:
    """A validated config as plain data (e.g. to store beside a checkpoint)."""
    return cfg.model_dump(mode="json", exclude_none=True)


# ---------------------------------------------------------------- size

#: The default ceiling on the parameters of a modality set's model (``--max-parameters``). The shipped
#: sets have at most a few million; 200 M parameters take 3.2 GB to train (weights, gradients and two
#: Adam moments in float32), which still fits one consumer GPU.
DEFAULT_PARAMETER_BUDGET = 200_000_000


def count_parameters(cfg: BaseModel, registry: Registry) -> dict[str, int]:
    """How many parameters each component of a validated modality set would have.

    Encoders and the fusion head are built on PyTorch's ``meta`` device, so nothing is allocated
    however large the settings. The text tower is not built (it loads pretrained weights from files,
    whose size the config does not choose); its projection into the shared space is counted.

    Returns
    -------
    dict of str to int
        ``"modalities.<m>.encoder (<name>)"``, ``"fusion (<name>)"`` and ``"text projection"`` -> count.

    Raises
    ------
    ConfigError
        When a component cannot be built from its settings.
    """
    import torch

    from sapphire_core.errors import SapphireError

    def built(label: str, make) -> int:
        try:
            with torch.device("meta"):
                module = make()
        except SapphireError:
            raise
        except Exception as exc:  # a plugin's constructor rejecting its settings
            raise ConfigError(f"{label}: cannot be built from its settings ({type(exc).__name__}: {exc})") from None
        return sum(p.numel() for p in module.parameters())

    counts: dict[str, int] = {}
    dims: dict[str, int] = {}
    for modality, block in active_modalities(cfg).items():
        cls = registry.get("encoder", block.encoder.name, modality=modality)
        label = f"modalities.{modality}.encoder ({block.encoder.name})"
        shapes = feature_shapes(modality_extractors(block, modality, registry))
        counts[label] = built(label, lambda cls=cls, block=block, shapes=shapes: cls(block.encoder, input_shapes=shapes))
        dims[modality] = int(block.encoder.output_dim)
    fusion_cls = registry.get("fusion", cfg.fusion.name)
    label = f"fusion ({cfg.fusion.name})"
    counts[label] = built(label, lambda: fusion_cls(dims, cfg.fusion))
    text = getattr(cfg, "text", None)
    if text is not None:
        counts["text projection"] = (int(text.output_dim) + 1) * int(cfg.fusion.output_dim)
    return counts


def check_parameter_budget(cfg: BaseModel, registry: Registry, *, budget: int = DEFAULT_PARAMETER_BUDGET,
                           source: str = "<config>") -> int:
    """Refuse a modality set whose model would exceed ``budget`` parameters; return the total.

    Raises
    ------
    ConfigError
        Naming the total, the budget, the largest component and how to fix it.
    """
    counts = count_parameters(cfg, registry)
    total = sum(counts.values())
    if total > budget:
        worst, n = max(counts.items(), key=lambda kv: kv[1])
        raise ConfigError(f"{source}: the model would have {total:,} parameters, over the budget of {budget:,}; "
                          f"the largest part is {worst} with {n:,}. Shrink its dimensions, or raise the budget "
                          "with --max-parameters")
    return total
