"""The FeatureExtractor interface: one track in, named feature arrays out (CPU side, cacheable)."""

from __future__ import annotations

import functools
import inspect
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from sapphire_core.component import Component, ComponentConfig

if TYPE_CHECKING:  # interfaces sit below the corpus format in the layers
    from sapphire_core.context import TrackContext
    from sapphire_core.data import Track

class BlockConsumer(Protocol):
    """An extractor's features computed from a track's samples fed block by block
    (:meth:`FeatureExtractor.block_consumer`)."""

    def feed(self, block: np.ndarray) -> None:
        """Take the next block of mono float32 samples (blocks arrive in order, any length)."""

    def finish(self) -> dict[str, np.ndarray]:
        """The features of every block fed, as :meth:`FeatureExtractor.extract` returns them."""


#: A feature shape; ``None`` marks a variable-length axis, which is always the last (time) axis.
Shape = tuple[int | None, ...]


class FeatureExtractor(Component, ABC):
    """Turn one track into a dict of named numpy arrays.

    Class attributes
    ----------------
    name : str
        Registry name, used in YAML and in cache keys.
    modality : str
        The modality it belongs to (``acoustic``, ``vocal``, ``lyrics``, ``structure``, ...).
    version : str
        Bump it whenever the output changes for the same input and config: it is part of
        the cache key, so stale cache entries are never reused.
    sample_rate : int
        Rate (Hz) the audio is decoded to before :meth:`extract` sees it.
    needs_audio : bool
        ``False`` for extractors that read only the track's text/metadata (lyrics);
        then ``audio`` is ``None`` and no audio is decoded.
    metadata_keys : tuple of str
        Track metadata keys a text-only extractor's output also depends on (part of its cache key).
    interpretable : dict of str to tuple of str
        Outputs whose values a person can read, each with the name of every value (an
        :class:`~sapphire_core.explanation.Explanation` shows them beside search results).

    Features are float arrays. A variable-length axis must be the last one
    (time); :func:`sapphire_core.collate.collate_features` pads it.
    """

    modality: ClassVar[str]
    version: ClassVar[str] = "1"
    sample_rate: ClassVar[int] = 22050
    needs_audio: ClassVar[bool] = True
    metadata_keys: ClassVar[tuple[str, ...]] = ()
    interpretable: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, config: ComponentConfig | dict[str, Any] | None = None, **settings: Any) -> None:
        self.config = self.make_config(config, **settings)

    @abstractmethod
    def output_shapes(self) -> dict[str, Shape]:
        """Shapes of the arrays :meth:`extract` returns, keyed by feature name."""

    @abstractmethod
    def extract(self, audio: np.ndarray | None, track: Track) -> dict[str, np.ndarray]:
        """Compute features.

        Parameters
        ----------
        audio : np.ndarray or None
            Mono float32 samples at :attr:`sample_rate` (``None`` when ``needs_audio`` is False).
        track : Track
            The track record (lyrics, metadata).

        An extractor that shares intermediates with others may also take ``context`` (the track's
        :class:`~sapphire_core.context.TrackContext`); helpers it calls can reach the same context
        through :func:`sapphire_core.context.shared`.

        Returns
        -------
        dict of str to np.ndarray
            One array per key of :meth:`output_shapes`.
        """

    def run(self, audio: np.ndarray | None, track: Track, context: TrackContext) -> dict[str, np.ndarray]:
        """:meth:`extract`, given the track's :class:`~sapphire_core.context.TrackContext` when its
        signature takes a ``context`` keyword (the extraction loop calls this)."""
        if _takes_context(type(self)):
            return self.extract(audio, track, context=context)
        return self.extract(audio, track)

    def block_consumer(self, track: Track, context: TrackContext, *,
                       expected_samples: int) -> BlockConsumer | None:
        """A :class:`BlockConsumer` computing :meth:`extract`'s features block by block, or ``None`` (the
        default) when the extractor needs the whole track at once.

        The extraction decodes a long track block by block (:func:`sapphire_core.audio.audio_blocks`) when
        every extractor that has to run on it at one sample rate offers a consumer, so the track's samples
        are never held whole (2 hours at 22.05 kHz are ~635 MB). The features must equal :meth:`extract`'s on
        the blocks joined, bit for bit or within a rounding tolerance the extractor's tests state.

        Parameters
        ----------
        track : Track
        context : TrackContext
            The track's context, current while the consumer is fed (segment intermediates can be shared).
        expected_samples : int
            Samples the file's header announces at :attr:`sample_rate` (a hint for allocating outputs once;
            the stream may be a little shorter or longer).
        """
        return None

    def cache_id(self) -> str:
        """The part of the cache key that identifies this extractor's settings."""
        return f"{self.name}/v{self.version}-{self.config.digest()}"


@functools.cache
def _takes_context(cls: type) -> bool:
    return "context" in inspect.signature(cls.extract).parameters
