"""Plugin hooks. Each per-kind hook passes a typed ``register`` callable in (a
:class:`~sapphire_core.registry.Registrar`); the plugin calls it once per class. A plugin that adds
several kinds may instead implement ``register_components`` and pass them all to its registrar
(``registrar.add(MyExtractor, MyEncoder, MyQueryMode)``), which files each under its interface.

The core keeps control of names, duplicates and ordering (see :mod:`sapphire_core.registry`).
A plugin module implements any subset::

    from sapphire_core import hookimpl

    @hookimpl
    def register_extractors(register):
        register(MyExtractor)
"""

from __future__ import annotations

import pluggy

PROJECT = "sapphire"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_extractors(register):
    """Register :class:`~sapphire_core.extractor.FeatureExtractor` subclasses (their ``modality``
    attribute declares the modality they belong to)."""


@hookspec
def register_encoders(register):
    """Register :class:`~sapphire_core.encoder.Encoder` subclasses (``modality = "text"`` for text towers)."""


@hookspec
def register_losses(register):
    """Register :class:`~sapphire_core.loss.Loss` subclasses."""


@hookspec
def register_fusion_heads(register):
    """Register :class:`~sapphire_core.fusion.FusionHead` subclasses."""


@hookspec
def register_description_backends(register):
    """Register :class:`~sapphire_core.describer.DescriptionBackend` subclasses."""


@hookspec
def register_vector_stores(register):
    """Register :class:`~sapphire_core.vector_store.VectorStore` subclasses; an index folder's
    ``store/store.json`` names the one that wrote it (its ``name``)."""


@hookspec
def register_query_modes(register):
    """Register :class:`~sapphire_core.query_mode.QueryMode` subclasses: ways to query an index beyond
    the core's ``audio``, ``text`` and ``lyrics`` (e.g. the vocal plugin's ``hum``)."""


@hookspec
def register_explanations(register):
    """Register :class:`~sapphire_core.explanation.Explanation` subclasses: interpretable extractor
    outputs shown side by side for query and result (e.g. the acoustic plugin's mid-level features)."""


@hookspec
def register_index_extras(register):
    """Register :class:`~sapphire_core.index_extra.IndexExtra` subclasses: per-track data built into
    ``INDEX/extras/<name>`` by ``sapphire index`` (e.g. the track melodies a ``hum`` query ranks against)."""


@hookspec
def register_components(registrar):
    """Register components of any kinds at once: ``registrar.add(*classes)``
    (:class:`~sapphire_core.registry.ComponentRegistrar`) files each class under the kind of the
    interface it implements, with the same checks as the per-kind hooks."""
