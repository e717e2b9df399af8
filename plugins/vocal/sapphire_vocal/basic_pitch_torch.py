"""basic-pitch's network in torch, with the weights read from the shipped ``nmp.onnx``.

The same computation as the ONNX graph (:mod:`sapphire_vocal.basic_pitch`), window by window, so the
posteriorgrams agree to float rounding (within 3e-5 of onnxruntime on rendered music, tested), at
about half the CPU on one core. Profiled per node with onnxruntime (4 windows, one thread): the
8 -> 8 channel 3 x 39 contour convolution takes 41 % of the graph, the CQT front end 18 %, the onset
branch ~13 % and the two one-output-channel convolutions 17 % (onnxruntime pads them to 8 output
channels). Here the big convolution runs in oneDNN on channels-last memory (~1.5x faster), the
CQT's half-band low-pass is one matrix product (a 256-tap strided conv1d ran ~10x under peak), the
onset branch is computed only when asked (a melody needs the note posteriorgram alone) and only the
frames a caller keeps go through the convolutions (142 of 172 per window in the streamed path).

The graph (basic-pitch 0.4.0, Bittner et al. ICASSP 2022; ``basic_pitch/models.py``):

* CQT2010v2 (nnAudio): 9 octaves of 36 bins from 27.5 Hz; each octave is the top octave's 36 complex
  256-tap kernels on the signal halved by a 256-tap low-pass, reflect-padded by 128; the lowest 15
  bins dropped; magnitudes scaled by ``sqrt(kernel length)``.
* Normalised log (dB, min-max scaled over each window), then a one-channel batch norm (folded).
* Harmonic stacking: the CQT shifted by ``round(36 log2 h)`` bins for h = 0.5, 1, ..., 7 (264 bins).
* contour = sigmoid(conv 5x5 (relu(conv 3x39 (stack)))); note = sigmoid(conv 7x3 (relu(conv 7x7 /3
  (contour)))); onset = sigmoid(conv 3x3 ([note, relu(conv 5x5 /3 (stack))])). Batch norms are
  folded into the convolutions in the ONNX file.

The ONNX file is read by a minimal protobuf reader (:func:`onnx_tensors`): the ``onnx`` package is
not a dependency, and onnxruntime does not expose a model's weights.
"""

from __future__ import annotations

import functools
import struct
from pathlib import Path

import numpy as np

from sapphire_core.errors import PluginError

#: Bin shifts of the harmonic stack (36 bins per octave: round(36 * log2(h)), h = 0.5, 1, 2, ..., 7)
#: and the bins it keeps (88 keys x 3).
HARMONIC_SHIFTS = (-36, 0, 36, 57, 72, 84, 93, 101)
CONTOUR_BINS = 264
CQT_BINS = 309
CQT_OCTAVES = 9
CQT_HOP = 256
CQT_PAD = 128
LOWPASS_PAD = 127
#: Frames per window (the ONNX graph's output length).
WINDOW_FRAMES = 172


# --------------------------------------------------------------------------- reading the ONNX file
def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def _repeated_ints(wire: int, value) -> list[int]:
    """A repeated integer field's values: packed varints (wire type 2) or one value."""
    if wire != 2:
        return [value]
    out, j = [], 0
    while j < len(value):
        d, j = _varint(value, j)
        out.append(d)
    return out


def _fields(buf: bytes):
    """``(field number, wire type, value)`` of one protobuf message (value: int or bytes)."""
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 2:
            length, i = _varint(buf, i)
            value, i = buf[i : i + length], i + length
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, wire, value


_DTYPES = {1: np.float32, 6: np.int32, 7: np.int64}


def _tensor(buf: bytes) -> tuple[str, np.ndarray | None]:
    """A TensorProto: dims (1), data_type (2), float_data (4), int32_data (5), int64_data (7), name (8),
    raw_data (9) (onnx.proto3)."""
    dims: list[int] = []
    dtype, name, raw, floats, ints = 0, "", None, [], []
    for field, wire, value in _fields(buf):
        if field == 1:
            dims += _repeated_ints(wire, value)
        elif field == 2:
            dtype = value
        elif field == 4:
            floats.append(np.frombuffer(value, "<f4"))  # packed (wire 2) or one value (wire 5)
        elif field in (5, 7):
            ints += _repeated_ints(wire, value)
        elif field == 8:
            name = value.decode()
        elif field == 9:
            raw = value
    if dtype not in _DTYPES:
        return name, None
    if raw is not None:
        arr = np.frombuffer(raw, np.dtype(_DTYPES[dtype]).newbyteorder("<")).astype(_DTYPES[dtype])
    elif floats:
        arr = np.concatenate(floats).astype(np.float32)
    else:
        arr = np.asarray([struct.unpack("<q", struct.pack("<Q", v))[0] for v in ints], _DTYPES[dtype])
    return name, arr.reshape(dims)


def onnx_tensors(path: str | Path) -> tuple[dict[str, np.ndarray], list[tuple[str, list[str]]]]:
    """The initializers (``name -> array``; float32, int32 and int64 only) and the nodes
    (``(op_type, input names)`` in graph order) of an ONNX model file.

    Reads ModelProto.graph (field 7), GraphProto.node (1) and .initializer (5), NodeProto.input (1)
    and .op_type (4); weights stored outside the file are not supported (basic-pitch has none).
    """
    tensors: dict[str, np.ndarray] = {}
    nodes: list[tuple[str, list[str]]] = []
    data = Path(path).read_bytes()
    for field, _, graph in _fields(data):
        if field != 7:
            continue
        for gfield, _, value in _fields(graph):
            if gfield == 5:
                name, arr = _tensor(value)
                if arr is not None:
                    tensors[name] = arr
            elif gfield == 1:
                op, inputs = "", []
                for nfield, _, v in _fields(value):
                    if nfield == 1:
                        inputs.append(v.decode())
                    elif nfield == 4:
                        op = v.decode()
                nodes.append((op, inputs))
    return tensors, nodes


@functools.lru_cache(maxsize=2)
def basic_pitch_weights(path: str) -> dict[str, np.ndarray]:
    """The weights :class:`BasicPitchNet` needs, found in the ONNX graph by their convolution's
    shape (the initializer names are generated by the TF-to-ONNX converter).

    Raises
    ------
    PluginError
        When the file is not the basic-pitch model these shapes describe.
    """
    tensors, nodes = onnx_tensors(path)
    convs: dict[tuple[int, ...], list[tuple[np.ndarray, np.ndarray]]] = {}
    scale = shift = None
    for op, inputs in nodes:
        if op == "Conv" and len(inputs) >= 2 and inputs[1] in tensors:
            w = tensors[inputs[1]]
            b = tensors.get(inputs[2]) if len(inputs) > 2 else None
            convs.setdefault(tuple(w.shape), []).append((w, np.zeros(w.shape[0], np.float32) if b is None else b))
        # The CQT's batch norm, folded into a Mul and an Add of one-element constants.
        consts = [tensors[i] for i in inputs if i in tensors and tensors[i].shape == (1,)
                  and tensors[i].dtype == np.float32]
        if op == "Mul" and consts and scale is None:
            scale = float(consts[0][0])
        elif op == "Add" and consts and shift is None:
            shift = float(consts[0][0])
    sqrt_lengths = [t for t in tensors.values() if t.shape == (CQT_BINS, 1, 1)]

    def one(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        found = convs.get(shape)
        if not found:
            raise PluginError(f"{path}: no convolution of shape {shape}; not basic-pitch's nmp.onnx "
                              "(pip install --no-deps basic-pitch==0.4.0)")
        return found[0]

    cqt = {id(w): w for w, _ in convs.get((36, 1, 1, 256), [])}  # real and imaginary kernels, in any order
    if len(cqt) != 2 or len(sqrt_lengths) != 1 or scale is None or shift is None:
        raise PluginError(f"{path}: its CQT front end is not basic-pitch's (pip install --no-deps basic-pitch==0.4.0)")
    out = {"cqt_kernels": np.concatenate([w[:, 0] for w in cqt.values()]).astype(np.float32),  # (72, 1, 256)
           "lowpass": one((1, 1, 1, 256))[0][:, 0].astype(np.float32),  # (1, 1, 256)
           "sqrt_lengths": sqrt_lengths[0][:, 0].astype(np.float32),  # (309, 1)
           "bn": np.array([scale, shift], np.float32)}
    for key, shape in (("contour1", (8, 8, 3, 39)), ("contour2", (1, 8, 5, 5)), ("note1", (32, 1, 7, 7)),
                       ("note2", (1, 32, 7, 3)), ("onset1", (32, 8, 5, 5)), ("onset2", (1, 33, 3, 3))):
        w, b = one(shape)
        out[key + "_w"], out[key + "_b"] = w.astype(np.float32), b.astype(np.float32)
    return out


# --------------------------------------------------------------------------- the network
def _torch():
    import torch

    return torch


class BasicPitchNet:
    """basic-pitch on a batch of windows: ``(B, 43844)`` float32 samples at 22.05 kHz -> the asked
    posteriorgrams ``(B, 172, bins)`` (what the ONNX graph returns for ``(B, 43844, 1)``)."""

    def __init__(self, path: str | Path):
        torch = _torch()
        self.w = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in basic_pitch_weights(str(path)).items()}
        self.w["lengths"] = self.w["sqrt_lengths"][:, 0] ** 2
        # The half-band low-pass as a banded matrix: ``_block`` outputs per row of input samples.
        self._block = 128
        span = 2 * self._block + 254
        lowpass = self.w["lowpass"][0, 0]
        toeplitz = torch.zeros(span, self._block)
        for j in range(self._block):
            toeplitz[2 * j : 2 * j + 256, j] = lowpass
        self._toeplitz = toeplitz
        shifts = torch.tensor(HARMONIC_SHIFTS) - min(HARMONIC_SHIFTS)
        self._stack_index = (torch.arange(CONTOUR_BINS)[:, None] + shifts[None, :]).reshape(-1)

    def _lowpass_half(self, x):
        """``conv1d(pad(x, 127), lowpass, stride=2)`` of ``(B, N)`` samples as one matrix product: a 256-tap
        single-channel strided convolution runs ~10x under peak in oneDNN (7.6 of 13 ms per window)."""
        torch = _torch()
        n_out = (x.shape[1] - 2) // 2 + 1
        block = self._block
        n_blocks = -(-n_out // block)
        span = 2 * block + 254
        need = 2 * block * (n_blocks - 1) + span
        padded = torch.nn.functional.pad(x, (LOWPASS_PAD, need - x.shape[1] - LOWPASS_PAD))
        return (padded.unfold(1, span, 2 * block) @ self._toeplitz).reshape(x.shape[0], -1)[:, :n_out]

    def _stack(self, windows):
        """Harmonic stack ``(B, 8, T, 264)`` (channels-last memory) of the windows' normalised CQT."""
        torch = _torch()
        F = torch.nn.functional
        w = self.w
        x = windows
        hop, octaves = CQT_HOP, []
        kernels = w["cqt_kernels"][:, 0].T  # (256, 72)
        for octave in range(CQT_OCTAVES):
            if octave:
                x = self._lowpass_half(x)
                hop //= 2
            frames = F.pad(x[:, None], (CQT_PAD, CQT_PAD), mode="reflect")[:, 0].unfold(1, 256, hop)
            c = frames @ kernels  # (B, T, 72): real and imaginary parts
            octaves.append(c[..., :36] ** 2 + c[..., 36:] ** 2)  # (B, T, 36) squared magnitudes
        power = torch.cat(octaves[::-1], dim=2)[..., -CQT_BINS:] * w["lengths"]
        # NormalizedLog: dB, then min-max over the window (0 where the window is constant, e.g. silent).
        db = 10.0 * torch.log10(power + 1e-10)
        db = db - db.amin(dim=(1, 2), keepdim=True)
        top = db.amax(dim=(1, 2), keepdim=True)
        norm = torch.where(top == 0, torch.zeros_like(db), db / torch.where(top == 0, torch.ones_like(top), top))
        cqt = norm * w["bn"][0] + w["bn"][1]  # (B, T, 309)
        # One gather from the zero-padded CQT builds the stack in (B, T, 264, 8) memory.
        low = -min(HARMONIC_SHIFTS)
        padded = F.pad(cqt, (low, max(HARMONIC_SHIFTS) + CONTOUR_BINS - CQT_BINS))
        stack = padded.index_select(2, self._stack_index).view(*cqt.shape[:2], CONTOUR_BINS, len(HARMONIC_SHIFTS))
        return stack.permute(0, 3, 1, 2)  # a channels-last view: oneDNN's fast layout

    def __call__(self, windows: np.ndarray, outputs: tuple[str, ...], frames: tuple[int, int] | None = None
                 ) -> dict[str, np.ndarray]:
        """Posteriorgrams of ``windows`` ``(B, 43844)``: frames ``frames[0] .. frames[1] - 1`` of each
        (all 172 by default). Only the frames that these depend on go through the convolutions (the
        CQT is normalised over the whole window, so it is computed whole): asking for the frames the
        caller keeps skips most of the 15 + 15 that the window overlap discards."""
        torch = _torch()
        w = self.w
        lo, hi = frames or (0, WINDOW_FRAMES)
        if "onset" in outputs:  # the onset branch is not restricted (the melody does not use it)
            lo, hi = 0, WINDOW_FRAMES
        with torch.inference_mode():
            x = _Frames(self._stack(torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))), 0)
            need_note = "note" in outputs or "onset" in outputs
            # Frames each layer must produce: its consumers' frames widened by their receptive fields.
            c_lo, c_hi = (lo - 6, hi + 6) if need_note else (lo, hi)
            h = x.conv(w["contour1_w"], w["contour1_b"], c_lo - 2, c_hi + 2, 1, 19).relu()
            contour = h.conv(w["contour2_w"], w["contour2_b"], c_lo, c_hi, 2, 2).sigmoid()
            res = {"contour": contour.take(lo, hi)}
            if need_note:
                n = contour.conv(w["note1_w"], w["note1_b"], lo - 3, hi + 3, 3, 2, stride=3).relu()
                note = n.conv(w["note2_w"], w["note2_b"], lo, hi, 3, 1).sigmoid()
                res["note"] = note.take(lo, hi)
            if "onset" in outputs:
                o = x.conv(w["onset1_w"], w["onset1_b"], 0, WINDOW_FRAMES, 2, 1, stride=3).relu()
                o = _Frames(torch.cat([res["note"], o.take(0, WINDOW_FRAMES)], dim=1), 0)
                res["onset"] = o.conv(w["onset2_w"], w["onset2_b"], 0, WINDOW_FRAMES, 1, 1).sigmoid().take(0, WINDOW_FRAMES)
            if frames:
                res = {k: v[:, :, frames[0] - lo : frames[1] - lo] for k, v in res.items()}
            return {k: res[k][:, 0].numpy() for k in outputs}


class _Frames:
    """A ``(B, C, t, F)`` activation holding window frames ``first .. first + t - 1``."""

    def __init__(self, x, first: int):
        self.x, self.first = x, first

    def take(self, lo: int, hi: int):
        lo, hi = max(lo, 0), min(hi, WINDOW_FRAMES)
        return self.x[:, :, lo - self.first : hi - self.first]

    def conv(self, weight, bias, lo: int, hi: int, half_t: int, pad_f: int, stride: int = 1) -> _Frames:
        """The ``same``-padded convolution's output frames ``lo .. hi - 1`` (clipped to the window):
        reads this activation's frames ``lo - half_t .. hi + half_t - 1``, zeros beyond the window's ends."""
        torch = _torch()
        F = torch.nn.functional
        lo, hi = max(lo, 0), min(hi, WINDOW_FRAMES)
        a, b = max(lo - half_t, 0), min(hi + half_t, WINDOW_FRAMES)
        if a < self.first or b > self.first + self.x.shape[2]:
            raise ValueError(f"frames {a}..{b} needed, {self.first}..{self.first + self.x.shape[2]} held")
        x = self.x[:, :, a - self.first : b - self.first]
        before, after = a - (lo - half_t), (hi + half_t) - b
        if before or after:  # the window's own ends: the graph's zero padding
            x = F.pad(x, (0, 0, before, after))
        return _Frames(F.conv2d(x, weight, bias, stride=(1, stride), padding=(0, pad_f)), lo)

    def relu(self) -> _Frames:
        return _Frames(self.x.relu_(), self.first)

    def sigmoid(self) -> _Frames:
        return _Frames(self.x.sigmoid_(), self.first)

