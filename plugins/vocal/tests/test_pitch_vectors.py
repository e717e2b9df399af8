"""The pitch-contour view of the QbH first stage: invariances and the inner-product-to-distance bridge."""

from __future__ import annotations

import numpy as np
from sapphire_vocal import pitch_vectors as pv
from sapphire_vocal.melody import FRAME_SECONDS, melody_from_notes

TUNE = [[0.5 * i, 0.45, p] for i, p in enumerate([60, 62, 64, 65, 67, 65, 64, 62, 60, 67, 72, 71, 69, 67, 65, 64])]


def test_contours_are_key_invariant_and_fold_octave_errors():
    m = melody_from_notes(TUNE)
    a = pv.contours(m, 0, 90)
    assert a.shape == (1, pv.POINTS) and abs(a.mean()) < 1e-9
    np.testing.assert_allclose(pv.contours(m + 5.3, 0, 90), a, atol=1e-9)
    octave_slip = m.copy()
    octave_slip[20:24] += 12  # a pitch tracker's octave error on one note
    np.testing.assert_allclose(pv.contours(octave_slip, 0, 90), a, atol=1e-9)


def test_a_slower_transposed_hum_matches_its_window_at_its_tempo_best():
    m = melody_from_notes(TUNE)
    starts = pv.change_points(m)
    stored = pv.track_vectors(m, starts)
    assert len(stored) == int(np.sum(starts + pv.SECONDS / FRAME_SECONDS <= m.size))
    slower = 1 / pv.TEMPOS[1]  # notes 2.. sung ~1.2x slower, 3 semitones up
    hum = melody_from_notes([[(o - 1.0) * slower, d * slower, p + 3] for o, d, p in TUNE[2:]])
    blocks = pv.query_vectors(hum, pv.change_points(hum))
    assert len(blocks) == pv.QUERY_STARTS and blocks[0].shape == (len(pv.TEMPOS), pv.DIM)
    d = pv.distances(blocks[0], blocks[0] @ stored.T)
    tempo, window = np.unravel_index(np.argmin(d), d.shape)
    assert (window, tempo) == (2, 1) and d[tempo, window] < 0.05 * np.median(d)


def test_inner_products_rank_as_distances_and_stored_norms_are_equal():
    rng = np.random.default_rng(0)
    m = 60 + np.cumsum(rng.normal(0, 1, 1200))
    stored = pv.track_vectors(m, np.arange(0, 1000, 7))
    np.testing.assert_allclose(np.linalg.norm(stored.astype(np.float64), axis=1), np.sqrt(pv._R2), rtol=1e-5)
    q = pv.query_vectors(m[300:], np.array([0]))[0]
    d = pv.distances(q, q.astype(np.float64) @ stored.T.astype(np.float64))
    truth = ((q[:, None, : pv.POINTS] - stored[None, :, : pv.POINTS]) ** 2).sum(-1)
    np.testing.assert_allclose(d, truth, rtol=1e-6, atol=1e-3)
    assert pv.query_vectors(m[:100], np.array([0])) == []  # 5 s: too short for the slowest tempo
