"""SI-PLCA: a planted repeated pattern is recovered; torch agrees with the numpy reference."""

import numpy as np
import pytest
import torch

from sapphire_structure.siplca import reconstruct, si_plca, si_plca_numpy



# Small convolutions: on a shared CPU, thread hand-offs cost more than they save.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


PLANT_1 = (10, 60, 110, 160)
PLANT_2 = (35, 85, 135)


def _planted(seed=1):
    rng = np.random.default_rng(seed)
    p1 = (rng.random((12, 8)) < 0.3).astype(float)
    p2 = (rng.random((12, 8)) < 0.3).astype(float)
    v = np.full((12, 200), 0.01)
    for t in PLANT_1:
        v[:, t : t + 8] += p1
    for t in PLANT_2:
        v[:, t : t + 8] += p2
    return v + 0.05 * rng.random(v.shape), p1, p2


def _corr(a, b):
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_recovers_planted_patterns_and_their_positions():
    v, p1, p2 = _planted()
    W, H, z = si_plca(torch.tensor(v), n_patterns=2, pattern_len=8, n_iter=200)
    W, H = W.numpy(), H.numpy()
    for pattern, times in ((p1, PLANT_1), (p2, PLANT_2)):
        k = int(np.argmax([_corr(W[j], pattern) for j in range(2)]))
        assert _corr(W[k], pattern) > 0.95
        peaks = np.sort(np.argsort(H[k])[-len(times):])
        assert peaks.tolist() == list(times)
    # Pattern 1 is planted 4 times, pattern 2 three times: the weights say so.
    k1 = int(np.argmax([_corr(W[j], p1) for j in range(2)]))
    assert float(z[k1]) > float(z[1 - k1])


def test_model_explains_the_data():
    v, _, _ = _planted()
    W, H, z = si_plca(torch.tensor(v), n_patterns=2, pattern_len=8, n_iter=200)
    recon = reconstruct(W, H, z).numpy()
    assert _corr(recon, v / v.sum()) > 0.95
    np.testing.assert_allclose(W.sum(dim=(1, 2)).numpy(), 1.0, atol=1e-9)
    np.testing.assert_allclose(float(z.sum()), 1.0, atol=1e-9)


def test_torch_matches_numpy_reference():
    v = np.random.default_rng(0).random((12, 60))
    W, H, z = si_plca(torch.tensor(v), n_patterns=3, pattern_len=5, n_iter=20, sparsity=0.1)
    Wn, Hn, zn = si_plca_numpy(v, n_patterns=3, pattern_len=5, n_iter=20, sparsity=0.1)
    np.testing.assert_allclose(W.numpy(), Wn, atol=1e-10)
    np.testing.assert_allclose(H.numpy(), Hn, atol=1e-10)
    np.testing.assert_allclose(z.numpy(), zn, atol=1e-10)


@pytest.mark.parametrize("bad", [torch.ones(3), -torch.ones(12, 10)])
def test_rejects_bad_input(bad):
    with pytest.raises(ValueError, match="si_plca"):
        si_plca(bad, n_patterns=2, pattern_len=4, n_iter=1)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_matches_cpu():
    v = torch.rand(12, 300, generator=torch.Generator().manual_seed(0))
    cpu = si_plca(v, n_patterns=4, pattern_len=16, n_iter=30)
    gpu = si_plca(v.cuda(), n_patterns=4, pattern_len=16, n_iter=30)
    torch.testing.assert_close(gpu.W.cpu(), cpu.W, atol=1e-5, rtol=1e-4)
