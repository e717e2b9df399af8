"""Segmentation: Foote novelty, spectral section labels, and a rendered A A B A piece."""

import mir_eval
import numpy as np

from sapphire_structure.features import beat_features
from sapphire_structure.segmentation import (SEGMENT_SUMMARY_NAMES, Segmentation, checkerboard_kernel,
                                             foote_novelty, segment, segment_features, segment_summary,
                                             snap_to_onsets, spectral_labels)

SR = 22050


def test_checkerboard_novelty_peaks_between_two_blocks():
    # Two homogeneous 20-frame blocks: the only change is at frame 20.
    ssm = np.zeros((40, 40))
    ssm[:20, :20] = 1.0
    ssm[20:, 20:] = 1.0
    nov = foote_novelty(ssm, half_width=6)
    interior = nov[6:-6]
    assert int(np.argmax(interior)) + 6 == 20
    k = checkerboard_kernel(3)
    assert k.shape == (6, 6) and k[0, 0] > 0 and k[0, -1] < 0 and abs(k.sum()) < 1e-9


def test_spectral_labels_groups_repeats():
    # Sections 0, 1, 3 repeat each other; 2 is unrelated; 4 repeats 2 weakly-but-clearly.
    aff = np.array([[1, .9, 0, .8, 0], [.9, 1, 0, .85, 0], [0, 0, 1, 0, .7], [.8, .85, 0, 1, 0], [0, 0, .7, 0, 1.]])
    labels = spectral_labels(aff)
    assert labels[0] == labels[1] == labels[3]
    assert labels[2] == labels[4] != labels[0]
    # A one-off section with only a negligible link to a repeated one keeps its own label
    # (degree normalisation would otherwise inflate that link).
    weak = np.array([[1, .95, .02, .9], [.95, 1, .03, .9], [.02, .03, 1, .01], [.9, .9, .01, 1.]])
    labels = spectral_labels(weak)
    assert labels[0] == labels[1] == labels[3] != labels[2]
    # No repetition at all: every section its own label.
    assert len(set(spectral_labels(np.eye(4)).tolist())) == 4
    # All alike: one label.
    assert len(set(spectral_labels(np.ones((4, 4))).tolist())) == 1


def test_aaba_boundaries_and_labels(aaba_piece):
    audio, ref_intervals, ref_labels = aaba_piece
    sections = segment(audio, SR)
    est_intervals = np.array([[a, b] for a, b, _ in sections])
    est_labels = [lab for _, _, lab in sections]
    est_intervals, est_labels = mir_eval.util.adjust_intervals(est_intervals, est_labels, t_min=0.0,
                                                               t_max=float(ref_intervals[-1, 1]))
    _, _, f_boundary = mir_eval.segment.detection(ref_intervals, est_intervals, window=0.5)
    _, _, f_pairwise = mir_eval.segment.pairwise(ref_intervals, ref_labels, est_intervals, est_labels)
    assert f_boundary >= 0.8, sections
    assert f_pairwise >= 0.8, sections


def test_aaba_summary(aaba_piece):
    audio, _, _ = aaba_piece
    seg = segment_features(beat_features(audio, sr=SR))
    summary = dict(zip(SEGMENT_SUMMARY_NAMES, segment_summary(seg)))
    assert summary["n_sections"] == 4
    assert summary["n_labels"] == 2
    assert abs(summary["mean_section_s"] - audio.size / SR / 4) < 0.5
    assert summary["repetition_ratio"] > 0.7  # three quarters of the piece is the repeated A
    assert summary["return_to_first"] == 1.0
    assert abs(summary["first_label_share"] - 0.75) < 0.05


def test_summary_of_hand_made_segmentation():
    seg = Segmentation(boundaries=np.array([0.0, 10.0, 20.0, 40.0]), labels=["A", "B", "A"],
                       novelty=np.array([0.0, 1.0, 0.2, 0.5]), beat_times=np.linspace(0, 40, 5),
                       boundary_beats=np.array([0, 1, 3, 4]))
    s = dict(zip(SEGMENT_SUMMARY_NAMES, segment_summary(seg)))
    assert s["n_sections"] == 3 and s["n_labels"] == 2
    assert np.isclose(s["mean_section_s"], 40 / 3)
    assert np.isclose(s["repetition_ratio"], 30 / 40)  # A covers 10 + 20 s of 40
    assert np.isclose(s["label_entropy"], -(0.75 * np.log2(0.75) + 0.25 * np.log2(0.25)), atol=1e-6)
    assert np.isclose(s["boundary_strength"], 0.75)


def test_snap_to_onsets_moves_only_to_a_much_stronger_attack():
    onsets = np.array([1.0, 1.0, 0.2, 5.0, 1.0, 1.0, 1.0, 1.2, 1.0, 1.0])
    novelty = np.linspace(0.0, 1.0, 10)
    # Beat 2 (a held chord) sits next to the downbeat 3: moved. Beat 7 is no weaker than 6/8: kept.
    assert snap_to_onsets(np.array([2, 7]), onsets, novelty).tolist() == [3, 7]
    # Two much stronger neighbours: the more novel one wins.
    both = np.array([1.0, 4.0, 0.5, 4.0, 1.0])
    assert snap_to_onsets(np.array([2]), both, np.array([0, .2, .5, .9, 0])).tolist() == [3]


def test_shared_log_mel_gives_librosa_s_own_mfcc_and_onsets(aaba_piece):
    """The frame features compute one log-mel for MFCC and onsets: identical to librosa's separate calls."""
    import librosa

    from sapphire_structure.features import _frame_features_block

    y = np.asarray(aaba_piece[0], dtype=np.float32)[: 10 * SR]
    _, mfcc, onset = _frame_features_block(y, SR, 512, 13, 0.0)
    np.testing.assert_allclose(mfcc, librosa.feature.mfcc(y=y, sr=SR, hop_length=512, n_mfcc=13)[:, :mfcc.shape[1]],
                               rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(onset, librosa.onset.onset_strength(y=y, sr=SR, hop_length=512)[:onset.size],
                               rtol=1e-5, atol=1e-5)
