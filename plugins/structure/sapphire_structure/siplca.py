"""Shift-invariant probabilistic latent component analysis (SI-PLCA) in torch.

A chromagram ``V`` (F x T) is explained as a mixture of ``K`` short patterns ``W_k`` (F x L),
each placed in time by an activation ``H_k`` (T):

    V[f, t]  ~  sum_k z_k sum_tau W_k[f, tau] H_k[t - tau]

fitted by expectation-maximisation. Repeated passages of a song become one pattern whose
activation peaks at each repeat, so the patterns and their activations summarise its form.

References
----------
Smaragdis, P. & Raj, B. (2007). Shift-invariant probabilistic latent component analysis.
MERL Technical Report TR2007-009. (the model and its EM updates)
Weiss, R. J. & Bello, J. P. (2010). Identifying repeated patterns in music using sparse
convolutive non-negative matrix factorization. ISMIR. (applied to beat-synchronous chroma)

Notes
-----
Weiss & Bello place Dirichlet priors on ``z`` and ``H``; here sparsity of ``H`` is obtained by
raising its EM update to the power ``1 + sparsity`` before renormalising (the "sharpening"
approximation of an entropic prior), which needs no scale-dependent prior weights. Shifts are in
time only (not in pitch class).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

_EPS = 1e-12
#: Below this many F x T x K x L multiply-adds per step, CPU fits run single-threaded.
_SMALL = 50_000_000


class SIPLCAResult(NamedTuple):
    """What :func:`si_plca` returns (unpacks as ``W, H, z``).

    Attributes
    ----------
    W : torch.Tensor
        ``(K, F, L)`` patterns, each summing to 1.
    H : torch.Tensor
        ``(K, T)`` activations, each summing to 1.
    z : torch.Tensor
        ``(K,)`` mixing weights, summing to 1.
    """

    W: torch.Tensor
    H: torch.Tensor
    z: torch.Tensor


def _shifted_h(H: torch.Tensor, length: int) -> torch.Tensor:
    """``(K, T, L)`` with ``[k, t, tau] = H[k, t - tau]`` (zero before the start)."""
    return F.pad(H, (length - 1, 0)).unfold(1, length, 1).flip(-1)


def _shifted_r(R: torch.Tensor, length: int) -> torch.Tensor:
    """``(F, T, L)`` with ``[f, t, tau] = R[f, t + tau]`` (zero after the end)."""
    return F.pad(R, (0, length - 1)).unfold(1, length, 1)


def reconstruct(W: torch.Tensor, H: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``(F, T)`` model distribution ``sum_k z_k (W_k * H_k)`` (convolution over time)."""
    return torch.einsum("kfl,ktl->ft", z[:, None, None] * W, _shifted_h(H, W.shape[-1]))


def si_plca(V: torch.Tensor, *, n_patterns: int = 4, pattern_len: int = 16, n_iter: int = 100,
            sparsity: float = 0.0, seed: int = 0) -> SIPLCAResult:
    """Fit SI-PLCA to a non-negative matrix (on ``V``'s device and dtype).

    Parameters
    ----------
    V : torch.Tensor
        ``(F, T)`` non-negative data, e.g. beat-synchronous chroma. Normalised to sum 1 inside.
    n_patterns : int
        Number of patterns ``K``.
    pattern_len : int
        Pattern length ``L`` in frames (beats).
    n_iter : int
        EM iterations.
    sparsity : float
        ``>= 0``; larger values concentrate each activation on fewer time steps.
    seed : int
        Seed of the random initial patterns (results are deterministic for a given seed and device).

    Returns
    -------
    SIPLCAResult
        ``(W, H, z)``.

    Raises
    ------
    ValueError
        When ``V`` is not 2-D, has negative entries, or the sizes are not positive.

    Examples
    --------
    >>> V = torch.rand(12, 64)
    >>> W, H, z = si_plca(V, n_patterns=2, pattern_len=8, n_iter=10)
    >>> tuple(W.shape), tuple(H.shape), tuple(z.shape)
    ((2, 12, 8), (2, 64), (2,))
    """
    if V.ndim != 2:
        raise ValueError(f"si_plca expects a 2-D (F, T) matrix, got shape {tuple(V.shape)}")
    if n_patterns < 1 or pattern_len < 1 or n_iter < 0:
        raise ValueError(f"n_patterns ({n_patterns}) and pattern_len ({pattern_len}) must be >= 1, n_iter >= 0")
    if bool((V < 0).any()):
        raise ValueError("si_plca needs non-negative data (e.g. chroma or a magnitude spectrogram)")
    if V.device.type == "cpu" and V.numel() * n_patterns * pattern_len < _SMALL:
        # Each EM step is a handful of tiny matmuls; with several intra-op threads on a busy
        # CPU the synchronisation dominates (measured 10-50x slower on 2 shared cores), so a
        # small problem runs single-threaded. The global setting is restored afterwards.
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return _fit(V, n_patterns, pattern_len, n_iter, sparsity, seed)
        finally:
            torch.set_num_threads(before)
    return _fit(V, n_patterns, pattern_len, n_iter, sparsity, seed)


def _fit(V: torch.Tensor, n_patterns: int, pattern_len: int, n_iter: int, sparsity: float,
         seed: int) -> SIPLCAResult:
    dtype = V.dtype if V.dtype.is_floating_point else torch.float32
    V = V.to(dtype)
    device = V.device
    n_f, n_t = V.shape
    V = V / V.sum().clamp_min(_EPS)
    g = torch.Generator().manual_seed(seed)
    W = torch.rand(n_patterns, n_f, pattern_len, generator=g, dtype=torch.float64).to(device=device, dtype=dtype)
    W = W / W.sum(dim=(1, 2), keepdim=True)
    H = (torch.ones(n_patterns, n_t, dtype=torch.float64)
         + 0.1 * torch.rand(n_patterns, n_t, generator=g, dtype=torch.float64)).to(device=device, dtype=dtype)
    H = H / H.sum(dim=1, keepdim=True)
    z = torch.full((n_patterns,), 1.0 / n_patterns, device=device, dtype=dtype)
    for _ in range(n_iter):
        # Convolutions as matrix products over explicit shifts: T x K x L is small, and one
        # batched matmul beats a long-kernel conv1d on both CPU and GPU.
        Hs = _shifted_h(H, pattern_len)
        R = V / torch.einsum("kfl,ktl->ft", z[:, None, None] * W, Hs).clamp_min(_EPS)
        # E+M for W: sum_t R[f, t] H_k[t - tau] -> (K, F, L)
        gw = torch.einsum("ft,ktl->kfl", R, Hs)
        # E+M for H: sum_{f, tau} W_k[f, tau] R[f, t + tau] -> (K, T)
        gh = torch.einsum("kfl,ftl->kt", W, _shifted_r(R, pattern_len))
        W_new = W * gw * z[:, None, None]
        # E+M for H: sum_{f, tau} W_k[f, tau] R[f, t + tau] -> (K, T)
        H_new = H * gh * z[:, None]
        z = H_new.sum(dim=1)
        z = z / z.sum().clamp_min(_EPS)
        W = W_new / W_new.sum(dim=(1, 2), keepdim=True).clamp_min(_EPS)
        if sparsity > 0:
            H_new = H_new.clamp_min(0) ** (1.0 + sparsity)
        H = H_new / H_new.sum(dim=1, keepdim=True).clamp_min(_EPS)
    return SIPLCAResult(W, H, z)


def si_plca_numpy(V: np.ndarray, *, n_patterns: int = 4, pattern_len: int = 16, n_iter: int = 100,
                  sparsity: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference implementation of :func:`si_plca` in numpy (explicit loop over shifts), used by
    the tests to check the torch version and by ``benchmarks/bench_structure.py`` as the
    speed reference. Same initialisation, so results agree to rounding."""
    V = np.asarray(V, dtype=np.float64)
    n_f, n_t = V.shape
    length = pattern_len
    V = V / max(V.sum(), _EPS)
    g = torch.Generator().manual_seed(seed)
    W = torch.rand(n_patterns, n_f, length, generator=g, dtype=torch.float64).numpy()
    W /= W.sum(axis=(1, 2), keepdims=True)
    H = (1.0 + 0.1 * torch.rand(n_patterns, n_t, generator=g, dtype=torch.float64)).numpy()
    H /= H.sum(axis=1, keepdims=True)
    z = np.full(n_patterns, 1.0 / n_patterns)

    def shifted(x: np.ndarray, tau: int) -> np.ndarray:  # x[..., t - tau], zero before 0
        if tau == 0:
            return x
        out = np.zeros_like(x)
        out[..., tau:] = x[..., :-tau]
        return out

    for _ in range(n_iter):
        lam = np.zeros((n_f, n_t))
        for tau in range(length):
            lam += (z[:, None] * W[:, :, tau]).T @ shifted(H, tau)
        R = V / np.maximum(lam, _EPS)
        gw = np.zeros_like(W)
        gh = np.zeros_like(H)
        for tau in range(length):
            gw[:, :, tau] = shifted(H, tau) @ R.T  # (K, F)
            r_fwd = np.zeros_like(R)  # R[f, t + tau]
            r_fwd[:, : n_t - tau] = R[:, tau:]
            gh += W[:, :, tau] @ r_fwd
        W_new = W * gw * z[:, None, None]
        H_new = H * gh * z[:, None]
        z = H_new.sum(axis=1)
        z = z / max(z.sum(), _EPS)
        W = W_new / np.maximum(W_new.sum(axis=(1, 2), keepdims=True), _EPS)
        if sparsity > 0:
            H_new = np.maximum(H_new, 0) ** (1.0 + sparsity)
        H = H_new / np.maximum(H_new.sum(axis=1, keepdims=True), _EPS)
    return W, H, z
