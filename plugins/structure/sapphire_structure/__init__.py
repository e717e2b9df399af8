"""SAPPHIRE structure modality plugin: segmentation, repetition and harmonic progression.

Public functions other code may call:

* :func:`sapphire_structure.segmentation.segment` ``(audio, sr) -> [(start, end, label)]``
* :func:`sapphire_structure.chords.recognise_chords` ``(audio, sr) -> [(start, end, "C:maj")]``
* :func:`sapphire_structure.siplca.si_plca` ``(V, *, n_patterns, pattern_len, n_iter) -> (W, H, z)``

Extractors (modality ``structure``): ``self_similarity``, ``segments``, ``siplca``, ``harmony``;
encoder: ``structure_cnn``.
"""

from sapphire_structure.chords import recognise_chords
from sapphire_structure.harmony import HARMONY_SUMMARY_NAMES
from sapphire_structure.segmentation import SEGMENT_SUMMARY_NAMES, segment
from sapphire_structure.siplca import si_plca

__all__ = ["HARMONY_SUMMARY_NAMES", "SEGMENT_SUMMARY_NAMES", "recognise_chords", "segment", "si_plca"]
