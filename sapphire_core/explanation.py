"""The Explanation interface: an extractor's interpretable output, read side by side for query and result.

An extractor declares which of its outputs are interpretable (:attr:`FeatureExtractor.interpretable`:
output name -> the name of each value). An Explanation names one of them; the index stores its
values per track, and each search result carries ``explanation[name] = {"query": ..., "result":
...}`` with every value's level (low / medium / high as a percentile of the index) and a
one-line summary built from all explanations (e.g. the acoustic plugin's mid-level features:
"both low rhythmic stability; result more dissonant").
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

LEVELS = ("low", "medium", "high")


class Explanation:
    """One interpretable output, and how to say it in words.

    Class attributes
    ----------------
    name : str
        Registry name and key of the result's ``explanation``.
    extractor : str
        Registry name of the extractor that computes the values.
    output : str
        Which of its outputs (a key of its ``interpretable``).
    adjectives : dict of str to str
        ``value name -> adjective`` for "result more <adjective>" (default: the name in words).
    said_by_metadata : dict of str to str
        ``value name -> metadata key`` that says the same more plainly: when both tracks have that
        key, the summary leaves the value out.
    """

    name: ClassVar[str]
    extractor: ClassVar[str]
    output: ClassVar[str] = "values"
    adjectives: ClassVar[dict[str, str]] = {}
    said_by_metadata: ClassVar[dict[str, str]] = {}

    def adjective(self, value_name: str) -> str:
        return self.adjectives.get(value_name, value_name.replace("_", " "))

    def words(self, names: tuple[str, ...] | list[str], values: np.ndarray) -> dict[str, str]:
        """``{name: "low" | "medium" | "high"}`` of one track's values (thirds of [0, 1] by default).

        Raises
        ------
        ValueError
            When the number of values is not the number of names.
        """
        v = np.asarray(values, dtype=np.float64).ravel()
        if v.size != len(names):
            raise ValueError(f"explanation {self.name!r} needs {len(names)} values ({', '.join(names)}), got {v.size}")
        return {n: LEVELS[0] if x < 1 / 3 else LEVELS[1] if x <= 2 / 3 else LEVELS[2] for n, x in zip(names, v)}
