"""Interpretable extractor outputs: which ones the installed explanations read, and their values per track.

An :class:`~sapphire_core.explanation.Explanation` names an extractor and one of its
``interpretable`` outputs; :func:`interpretations` pairs each installed explanation with a
default-configured instance of that extractor. The index builder stores the values of every
indexed track, the search engine computes them for a query, the describers turn them into words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sapphire_core.cache import FeatureCache
from sapphire_core.data import Track
from sapphire_core.errors import PluginError, SapphireError, UnknownComponentError
from sapphire_core.explanation import Explanation
from sapphire_core.extractor import FeatureExtractor


@dataclass
class Interpretation:
    """One installed explanation with the extractor it reads and the names of its values."""

    explanation: Explanation
    extractor: FeatureExtractor
    names: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.explanation.name

    @property
    def feature_key(self) -> str:
        """``"extractor.output"``, the key of its values among a track's flattened features."""
        return f"{self.extractor.name}.{self.explanation.output}"

    def values(self, track: Track, cache: FeatureCache | None) -> np.ndarray | None:
        """The values of one track (cached like any feature), or None when its audio cannot be used."""
        from sapphire_core.extraction import extract_track

        try:
            feats, _ = extract_track(track, [self.extractor], cache)
            values = np.asarray(feats[self.extractor.name][self.explanation.output], dtype=np.float32).reshape(-1)
        except (SapphireError, KeyError):
            return None
        return values if len(values) == len(self.names) and np.all(np.isfinite(values)) else None

    def words(self, values) -> dict[str, str]:
        return self.explanation.words(self.names, values)


def interpretations(registry) -> list[Interpretation]:
    """Every installed explanation whose extractor is installed too (the others are left out).

    Raises
    ------
    PluginError
        When an explanation names an output its extractor does not declare ``interpretable``.
    """
    out = []
    for name in registry.names("explanation"):
        explanation = registry.get("explanation", name)()
        try:
            ex_cls = registry.get("extractor", explanation.extractor)
        except UnknownComponentError:
            continue  # its extractor's plugin is disabled: nothing to explain with
        names = ex_cls.interpretable.get(explanation.output)
        if not names:
            raise PluginError(f"explanation {name!r} reads {explanation.extractor}.{explanation.output}, which "
                              f"{ex_cls.__name__} does not declare in 'interpretable' "
                              f"(it declares {sorted(ex_cls.interpretable) or 'none'})")
        out.append(Interpretation(explanation, ex_cls(), tuple(names)))
    return out
