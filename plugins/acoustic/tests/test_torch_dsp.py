"""The torch DSP path against librosa, within the tolerances stated in ``sapphire_acoustic.torch_dsp``."""

import librosa
import numpy as np
import pytest
import torch

from sapphire_acoustic import torch_dsp as td
from sapphire_acoustic.chunking import chunked_frames
from sapphire_core.testing.signals import melody

SR = 22050


@pytest.fixture(scope="module")
def signal():
    y = melody([60, 64, 67, 72, 71, 69, 65, 62], durations=0.35, sr=SR)
    return (y + 0.02 * np.random.RandomState(0).randn(y.size)).astype(np.float32)


def test_stft_and_mel(signal):
    p = np.abs(librosa.stft(signal)) ** 2
    np.testing.assert_allclose(td.stft_power(torch.from_numpy(signal)).numpy(), p, atol=1e-3 * p.max(), rtol=0)
    m = librosa.feature.melspectrogram(y=signal, sr=SR, n_mels=64, fmin=20.0)
    mt = td.melspectrogram(torch.from_numpy(signal), sr=SR, n_mels=64, fmin=20.0).numpy()
    np.testing.assert_allclose(mt, m, atol=1e-3 * m.max(), rtol=0)


def test_log_mel_and_mfcc(signal):
    m = librosa.feature.melspectrogram(y=signal, sr=SR, n_mels=64)
    db = librosa.power_to_db(m, ref=1.0, top_db=None)
    dbt = td.power_to_db(td.melspectrogram(torch.from_numpy(signal), sr=SR, n_mels=64)).numpy()
    loud = db > db.max() - 80
    assert np.abs(dbt - db)[loud].max() < 0.05
    mf = librosa.feature.mfcc(S=db, n_mfcc=20)
    mft = td.mfcc_from_db(torch.from_numpy(db.astype(np.float32)), n_mfcc=20).numpy()
    assert np.abs(mft - mf).max() < 0.05


def test_chroma_and_cens(signal):
    c = librosa.feature.chroma_stft(y=signal, sr=SR, tuning=0.0)
    ct = td.chroma_stft(torch.from_numpy(signal), sr=SR).numpy()
    assert np.abs(ct - c).max() < 1e-3
    # librosa.feature.chroma_cens applies exactly this post-processing to its (CQT) chroma.
    import scipy.ndimage

    l1 = librosa.util.normalize(c, norm=1, axis=0)
    q = sum(0.25 * (l1 > s) for s in (0.4, 0.2, 0.1, 0.05))
    w = librosa.filters.get_window("hann", 43, fftbins=False)
    ref = librosa.util.normalize(scipy.ndimage.convolve(q, (w / w.sum())[None], mode="constant"), norm=2, axis=0)
    assert np.abs(td.cens(torch.from_numpy(c)).numpy() - ref).max() < 1e-3


def test_onset_strength_and_tempogram(signal):
    db = librosa.power_to_db(librosa.feature.melspectrogram(y=signal, sr=SR), ref=1.0, top_db=None)
    env = librosa.onset.onset_strength(S=db, sr=SR)
    envt = td.onset_strength_from_db(torch.from_numpy(db.astype(np.float32))).numpy()
    assert np.abs(envt - env).max() < 1e-3 * env.max()
    tg = librosa.feature.tempogram(onset_envelope=env, sr=SR)
    tgt = td.tempogram(torch.from_numpy(env.astype(np.float32))).numpy()
    assert tgt.shape == tg.shape and np.abs(tgt - tg).max() < 1e-3


def test_batched_equals_one_by_one(signal):
    batch = torch.stack([torch.from_numpy(signal), torch.from_numpy(signal[::-1].copy())])
    out = td.melspectrogram(batch, sr=SR)
    torch.testing.assert_close(out[1], td.melspectrogram(batch[1], sr=SR))


def test_chunked_frames_equal_the_whole_file():
    y = np.random.RandomState(1).randn(SR * 13).astype(np.float32)

    def fn(seg):
        return td.melspectrogram(torch.from_numpy(np.ascontiguousarray(seg)), sr=SR).numpy()

    whole = fn(y)
    parts = chunked_frames(y, fn, hop=512, margin=1024, sr=SR, chunk_seconds=5.2)
    assert parts.shape == whole.shape
    np.testing.assert_allclose(parts, whole, rtol=0, atol=1e-4 * whole.max())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_matches_cpu(signal):
    cpu = td.melspectrogram(torch.from_numpy(signal), sr=SR)
    gpu = td.melspectrogram(torch.from_numpy(signal).cuda(), sr=SR).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-3, atol=1e-3 * float(cpu.max()))
