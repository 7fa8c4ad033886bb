"""Pretrained musicnn embeddings as feature sets (``musicnn``, ``musicnn_pool``, ``musicnn_taggram``).

musicnn (Pons & Serra, "musicnn: pre-trained convolutional neural networks for
music audio tagging", ISMIR 2019 LBD) is a CNN trained to tag music on the
Million Song Dataset (``MSD_musicnn``, 50 last.fm tags) or MagnaTagATune
(``MTT_musicnn``, 50 tags). Its intermediate activations are strong generic
music descriptors: a linear classifier on them beats models trained from
scratch on small datasets such as GTZAN.

genre-lab does **not** run the ``musicnn`` package. Its trained TF1 checkpoints
were converted once to ``genre_core/weights/musicnn/<model>.npz`` (float32, see
``README.md`` and ``scripts/convert_musicnn_weights.py`` there) and the forward
pass below re-implements ``musicnn.models.build_musicnn`` in PyTorch, in
inference mode (batch norm with the trained moving statistics, no dropout).
Every checkpoint tensor is mapped explicitly to one layer
(:func:`expected_tensors`); a weights file with a missing, extra, misshapen or
non-finite tensor raises :class:`MusicnnWeightsError` naming them.

Pipeline, identical to ``musicnn.extractor`` except where noted:

1. resample to 16 kHz (``librosa.resample``, ``soxr_hq``, as ``librosa.load``);
2. power mel spectrogram, ``n_fft=512``, ``hop_length=256``, 96 Slaney mel
   bands, centred frames with zero padding (librosa 0.11 defaults, pinned);
3. ``log10(10000 * mel + 1)`` computed in **float32**. The original casts the
   mel to float16 first; under NumPy 2 the product then stays float16 and
   overflows to ``inf`` for any band above 6.55 (88 of 100 patches of ten
   GTZAN clips), silently corrupting its output (tag probabilities off by up
   to 0.9). Here there is no such cast, so even clipping input stays finite;
4. patches of 187 frames (3 s) through the network; per patch it yields
   ``penultimate`` (200-d, batch-normalised ReLU of the first dense layer),
   ``mean_pool`` / ``max_pool`` (753-d temporal mean / max of the
   front-end + mid-end feature maps) and ``taggram`` (50 tag probabilities).

Per analysis window (the pipeline's 3 s segments at 22050 Hz) the window is
resampled on its own and yields exactly one patch: its first 187 frames.
Longer windows are covered by ``round(frames / 187)`` evenly spaced patches
whose outputs are averaged; shorter ones are fed whole (the network is fully
convolutional up to the global pooling).

Equivalence with the reference extractor (``scripts/musicnn_reference.py``) is
checked on real GTZAN clips and, in the tests, on a stored fixture.

Examples
--------
>>> import numpy as np
>>> from genre_core.features import get_feature_set
>>> fs = get_feature_set("musicnn", weights="MSD_musicnn")
>>> y = np.random.default_rng(0).standard_normal(3 * 22050).astype(np.float32) * 0.1
>>> fs.compute(y, 22050).shape
(200,)
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import AudioError, GenreLabError
from . import FeatureSet, UnknownFeatureSetError, register_feature_set

__all__ = [
    "MODELS",
    "MUSICNN_SR",
    "PATCH_FRAMES",
    "MusicnnWeightsError",
    "MusicnnFeatures",
    "MusicnnPoolFeatures",
    "MusicnnTaggramFeatures",
    "expected_tensors",
    "load_weights",
    "musicnn_net",
    "musicnn_log_melspectrogram",
    "musicnn_extract",
    "musicnn_window_outputs",
    "PRECISIONS",
    "bf16_supported",
    "get_precision",
    "set_precision",
    "tag_names",
    "weights_dir",
]

#: Models whose converted weights ship with genre-lab.
MODELS = ("MSD_musicnn", "MTT_musicnn")
#: musicnn's signal processing (``musicnn/configuration.py``).
MUSICNN_SR = 16000
N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96
#: Frames per 3 s input patch (``librosa.time_to_frames(3, 16000, 256, 512) + 1``).
PATCH_FRAMES = 187
#: TF1 ``tf.compat.v1.layers.batch_normalization`` default epsilon.
BN_EPSILON = 1e-3
#: Patches per forward pass. Larger batches are not faster on CPU (torch's intra-op threads already
#: use every core inside one patch) and cost memory: measured on 2 cores, 20 patches took 0.77 s in
#: batches of 2, 0.79 s of 1 or 4, 0.93 s of 10, with peak RSS +75 MB (2) vs +200 MB (10).
BATCH_PATCHES = 2
#: Output layers and their widths.
OUTPUTS = {"penultimate": 200, "mean_pool": 753, "max_pool": 753, "taggram": 50}

MTT_LABELS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano",
    "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing", "vocals",
    "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop", "soft",
    "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal",
    "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral",
)
MSD_LABELS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul",
    "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies",
    "blues", "hard rock", "ambient", "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop",
    "70s", "party", "country", "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal",
    "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy",
)


class MusicnnWeightsError(GenreLabError):
    """The shipped musicnn weights are missing, incomplete or altered."""


def weights_dir() -> Path:
    """Folder holding the converted weights, their manifest, licence and README."""
    return Path(__file__).resolve().parent.parent / "weights" / "musicnn"


def tag_names(model: str) -> tuple[str, ...]:
    """The 50 tags a model predicts, in taggram order.

    Examples
    --------
    >>> tag_names("MSD_musicnn")[:3]
    ('rock', 'pop', 'alternative')
    """
    _check_model(model)
    return MSD_LABELS if model.startswith("MSD") else MTT_LABELS


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise GenreLabError(f"Unknown musicnn weights {model!r}; choose one of {', '.join(MODELS)}.")


# ----------------------------------------------------------------------------------------------
# Checkpoint layout: every tensor of musicnn.models.build_musicnn, in the order TF1 created them.
# (TF name prefix, our layer name, kind, shape arguments)
_FRONT = int(1.6 * 128)  # 204 filters per timbral branch
_TEMPO = int(1.6 * 32)  # 51 filters per temporal branch
_MID = 64
_DENSE = 200
_N_TAGS = 50
_FRONT_DIM = 2 * _FRONT + 3 * _TEMPO  # 561
_POOL_DIM = _FRONT_DIM + 3 * _MID  # 753
_LAYOUT: tuple[tuple[str, str, str, tuple], ...] = (
    ("batch_normalization", "input_bn", "bn", (1,)),
    ("conv2d", "timbral_74", "conv", (7, int(0.4 * N_MELS), 1, _FRONT)),
    ("batch_normalization_1", "timbral_74_bn", "bn", (_FRONT,)),
    ("conv2d_1", "timbral_77", "conv", (7, int(0.7 * N_MELS), 1, _FRONT)),
    ("batch_normalization_2", "timbral_77_bn", "bn", (_FRONT,)),
    ("conv2d_2", "temporal_128", "conv", (128, 1, 1, _TEMPO)),
    ("batch_normalization_3", "temporal_128_bn", "bn", (_TEMPO,)),
    ("conv2d_3", "temporal_64", "conv", (64, 1, 1, _TEMPO)),
    ("batch_normalization_4", "temporal_64_bn", "bn", (_TEMPO,)),
    ("conv2d_4", "temporal_32", "conv", (32, 1, 1, _TEMPO)),
    ("batch_normalization_5", "temporal_32_bn", "bn", (_TEMPO,)),
    ("conv2d_5", "midend_1", "conv", (7, _FRONT_DIM, 1, _MID)),
    ("batch_normalization_6", "midend_1_bn", "bn", (_MID,)),
    ("conv2d_6", "midend_2", "conv", (7, _MID, 1, _MID)),
    ("batch_normalization_7", "midend_2_bn", "bn", (_MID,)),
    ("conv2d_7", "midend_3", "conv", (7, _MID, 1, _MID)),
    ("batch_normalization_8", "midend_3_bn", "bn", (_MID,)),
    ("batch_normalization_9", "pool_bn", "bn", (2 * _POOL_DIM,)),
    ("dense", "dense", "dense", (2 * _POOL_DIM, _DENSE)),
    ("batch_normalization_10", "dense_bn", "bn", (_DENSE,)),
    ("dense_1", "logits", "dense", (_DENSE, _N_TAGS)),
)


def expected_tensors(model: str = "MSD_musicnn") -> dict[str, tuple[int, ...]]:
    """Every checkpoint tensor the forward pass uses, with its shape.

    Both shipped models share the architecture (``num_filt_midend=64``,
    ``num_units_backend=200``), hence the same 64 tensors.

    Examples
    --------
    >>> shapes = expected_tensors("MSD_musicnn")
    >>> len(shapes), shapes["conv2d/kernel"]
    (64, (7, 38, 1, 204))
    """
    _check_model(model)
    out: dict[str, tuple[int, ...]] = {}
    for prefix, _, kind, shape in _LAYOUT:
        if kind == "bn":
            for leaf in ("gamma", "beta", "moving_mean", "moving_variance"):
                out[f"{prefix}/{leaf}"] = shape
        else:
            out[f"{prefix}/kernel"] = shape
            out[f"{prefix}/bias"] = (shape[-1],)
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_weights(model: str = "MSD_musicnn", *, path: str | Path | None = None) -> dict[str, np.ndarray]:
    """Load and verify one model's converted checkpoint tensors.

    Parameters
    ----------
    model : str
        ``"MSD_musicnn"`` or ``"MTT_musicnn"``.
    path : str or Path, optional
        A ``.npz`` to read instead of the shipped one (its checksum is then not
        checked against ``manifest.json``, only its contents).

    Returns
    -------
    dict
        Checkpoint name -> float32 array, exactly :func:`expected_tensors`.

    Raises
    ------
    MusicnnWeightsError
        When the file is absent or unreadable, its checksum differs from the
        manifest, or a tensor is missing, unexpected, misshapen or not finite.

    Examples
    --------
    >>> w = load_weights("MTT_musicnn")
    >>> w["dense_1/kernel"].shape
    (200, 50)
    """
    _check_model(model)
    shipped = path is None
    file = weights_dir() / f"{model}.npz" if shipped else Path(path)
    if not file.is_file():
        raise MusicnnWeightsError(
            f"{file}: the musicnn weights file is missing; restore it from the repository "
            "(git checkout) or rebuild it with scripts/convert_musicnn_weights.py."
        )
    if shipped:
        manifest = weights_dir() / "manifest.json"
        try:
            expected_sha = json.loads(manifest.read_text())["models"][model]["sha256"]
        except (OSError, ValueError, KeyError) as exc:
            raise MusicnnWeightsError(f"{manifest}: cannot read the checksum of {model} ({exc}).") from exc
        if _sha256(file) != expected_sha:
            raise MusicnnWeightsError(
                f"{file}: checksum differs from {manifest.name}; the weights were altered or truncated. "
                "Restore them from the repository."
            )
    try:
        with np.load(file, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except Exception as exc:  # zip/format errors of every kind
        raise MusicnnWeightsError(f"{file}: not a readable musicnn weights file ({exc}).") from exc
    expected = expected_tensors(model)
    missing = sorted(set(expected) - set(arrays))
    unexpected = sorted(set(arrays) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s): {', '.join(missing)}")
        if unexpected:
            parts.append(f"unexpected tensor(s) the forward pass would not use: {', '.join(unexpected)}")
        raise MusicnnWeightsError(f"{file}: incomplete musicnn weights for {model}; " + "; ".join(parts) + ".")
    bad = [
        f"{n} {arrays[n].dtype}{tuple(arrays[n].shape)} (expected float32{shape})"
        for n, shape in expected.items()
        if arrays[n].dtype != np.float32 or tuple(arrays[n].shape) != shape
    ]
    bad += [f"{n} has non-finite values" for n in expected if arrays[n].dtype.kind == "f" and not np.isfinite(arrays[n]).all()]
    if bad:
        raise MusicnnWeightsError(f"{file}: corrupt musicnn weights for {model}: {'; '.join(bad)}.")
    return arrays


# ----------------------------------------------------------------------------------------------
# Forward pass (PyTorch, float32, inference only). Built lazily: importing genre_core.features
# must not import torch.
_NETS: dict[tuple[str, str | None], Any] = {}
_NETS_LOCK = threading.Lock()


def _import_torch():
    """``import torch``, after :mod:`genre_core.backends.base` has made OpenMP threads wait passively.

    torch's OpenMP runtime reads ``OMP_WAIT_POLICY`` once, when torch loads.
    When musicnn was the first to load torch (feature extraction, prediction
    before any model), its threads spun: measured on the shared 2-core
    machine, 20 windows from the main thread took 3.5-18 s instead of 1.6 s.
    """
    from ..backends import base  # noqa: F401  (sets the OpenMP default, see there)
    import torch

    return torch


def _build_net_class():
    torch = _import_torch()
    import torch.nn.functional as F

    class MusicnnNet(torch.nn.Module):
        """``musicnn.models.build_musicnn`` (64 mid-end filters, 200 back-end units), inference mode.

        Input ``(batch, frames, 96)`` log-mel patches; returns a dict of
        ``penultimate``, ``mean_pool``, ``max_pool``, ``taggram`` (sigmoid).
        TF1 "same" padding of even kernels puts the extra zero after the
        signal (pad ``k//2 - 1`` before, ``k//2`` after), reproduced here.
        """

        def __init__(self, tensors: dict[str, np.ndarray]):
            super().__init__()
            self._used: set[str] = set()
            for prefix, layer, kind, _ in _LAYOUT:
                if kind == "bn":
                    self._add_bn(layer, prefix, tensors)
                else:
                    self._add_weight(layer, prefix, kind, tensors)
            unused = sorted(set(tensors) - self._used)
            if unused:  # load_weights already refuses this; kept as a structural invariant
                raise MusicnnWeightsError(f"musicnn forward pass left tensors unused: {', '.join(unused)}.")
            self.eval()

        def _take(self, tensors, name):
            self._used.add(name)
            return torch.from_numpy(np.ascontiguousarray(tensors[name], dtype=np.float32))

        def _add_bn(self, layer, prefix, tensors):
            gamma = self._take(tensors, f"{prefix}/gamma")
            beta = self._take(tensors, f"{prefix}/beta")
            mean = self._take(tensors, f"{prefix}/moving_mean")
            var = self._take(tensors, f"{prefix}/moving_variance")
            scale = gamma * torch.rsqrt(var + BN_EPSILON)  # as TF's inference batch norm
            self.register_buffer(f"{layer}_scale", scale)
            self.register_buffer(f"{layer}_shift", beta - mean * scale)

        def _add_weight(self, layer, prefix, kind, tensors):
            kernel = self._take(tensors, f"{prefix}/kernel")
            bias = self._take(tensors, f"{prefix}/bias")
            if kind == "dense":  # TF (in, out) -> torch (out, in)
                weight = kernel.T.contiguous()
            elif layer.startswith("timbral"):  # TF (kh, kw, 1, out) -> conv2d (out, 1, kh, kw)
                weight = kernel.permute(3, 2, 0, 1).contiguous()
            else:  # temporal / mid-end (k, in, 1, out) -> conv1d (out, in, k)
                weight = kernel[:, :, 0, :].permute(2, 1, 0).contiguous()
            self.register_buffer(f"{layer}_weight", weight)
            self.register_buffer(f"{layer}_bias", bias)

        def _bn(self, x, layer, dim=1):
            shape = [1] * x.dim()
            shape[dim] = -1
            return x * getattr(self, f"{layer}_scale").view(shape) + getattr(self, f"{layer}_shift").view(shape)

        def _relu_bn_max(self, hi, lo, layer):
            """``max over frequency of BN(ReLU(z + bias))`` from the per-channel max ``hi`` and min ``lo`` of ``z``.

            ReLU and an affine map with a fixed scale are monotone (in floating
            point too, as rounding is monotone), so the maximum commutes with
            them: it is ``BN(ReLU(max z + bias))`` for channels with a
            non-negative batch-norm scale and ``BN(ReLU(min z + bias))`` for the
            others. Exact, and it avoids three passes over the largest tensors.
            ``hi`` and ``lo`` are ``(b, channels, t)``.
            """
            scale = getattr(self, f"{layer}_bn_scale").view(1, -1, 1)
            picked = torch.where(scale >= 0, hi, lo) + getattr(self, f"{layer}_bias").view(1, -1, 1)
            return F.relu(picked) * scale + getattr(self, f"{layer}_bn_shift").view(1, -1, 1)

        def forward(self, x):
            b, t, f = x.shape
            x = self._bn(x, "input_bn", dim=0)  # one scalar statistic (channel axis of size 1)
            feats = []
            # Timbral front-end: 7 x (38|67) kernels over the time-padded patch, max over frequency.
            xt = F.pad(x, (0, 0, 3, 3)).unsqueeze(1)  # (b, 1, t+6, 96)
            for layer in ("timbral_74", "timbral_77"):
                z = F.conv2d(xt, getattr(self, f"{layer}_weight"))  # (b, 204, t, 96 - kw + 1)
                lo, hi = torch.aminmax(z, dim=3)
                feats.append(self._relu_bn_max(hi, lo, layer))  # (b, 204, t)
            # Temporal front-end: 1-d kernels along time per mel band ("same" padding), max over
            # frequency. As one 1 x k conv2d over (mel, time) (oneDNN): the earlier matrix product of
            # the unfolded signal went through MKL's GEMM, measured 4-10x slower in a process that
            # also holds TensorFlow / xgboost (41 ms per patch vs 4), for the same values.
            xf = x.permute(0, 2, 1).unsqueeze(1)  # (b, 1, 96, t)
            for k in (128, 64, 32):
                layer = f"temporal_{k}"
                weight = getattr(self, f"{layer}_weight").unsqueeze(2)  # (51, 1, 1, k)
                z = F.conv2d(F.pad(xf, (k // 2 - 1, k // 2)), weight)  # (b, 51, 96, t)
                lo, hi = torch.aminmax(z, dim=2)  # (b, 51, t)
                feats.append(self._relu_bn_max(hi, lo, layer))  # (b, 51, t)
            front = torch.cat(feats, dim=1)  # (b, 561, t)
            # Mid-end: three 7-frame convolutions, the last two residual.
            m1 = self._bn(F.relu(F.conv1d(F.pad(front, (3, 3)), self.midend_1_weight, self.midend_1_bias)), "midend_1_bn")
            m2 = self._bn(F.relu(F.conv1d(F.pad(m1, (3, 3)), self.midend_2_weight, self.midend_2_bias)), "midend_2_bn") + m1
            m3 = self._bn(F.relu(F.conv1d(F.pad(m2, (3, 3)), self.midend_3_weight, self.midend_3_bias)), "midend_3_bn") + m2
            mid = torch.cat([front, m1, m2, m3], dim=1)  # (b, 753, t)
            # Back-end: temporal max and mean; TF flattens them interleaved (max_0, mean_0, max_1, ...).
            max_pool = mid.amax(dim=2)
            mean_pool = mid.mean(dim=2)
            pooled = self._bn(torch.stack([max_pool, mean_pool], dim=2).reshape(b, 2 * _POOL_DIM), "pool_bn")
            penultimate = self._bn(F.relu(F.linear(pooled, self.dense_weight, self.dense_bias)), "dense_bn")
            logits = F.linear(penultimate, self.logits_weight, self.logits_bias)
            return {"penultimate": penultimate, "mean_pool": mean_pool, "max_pool": max_pool, "taggram": torch.sigmoid(logits)}

    return MusicnnNet


def musicnn_net(model: str = "MSD_musicnn", *, path: str | Path | None = None):
    """The PyTorch forward pass of one model, weights verified and loaded (cached per process).

    Examples
    --------
    >>> import torch
    >>> net = musicnn_net("MSD_musicnn")
    >>> out = net(torch.zeros(1, 187, 96))
    >>> sorted(out), tuple(out["penultimate"].shape)
    (['max_pool', 'mean_pool', 'penultimate', 'taggram'], (1, 200))
    """
    key = (model, None if path is None else str(Path(path).resolve()))
    with _NETS_LOCK:
        if key not in _NETS:
            tensors = load_weights(model, path=path)
            _NETS[key] = _build_net_class()(tensors)
        return _NETS[key]


# ----------------------------------------------------------------------------------------------
# Preprocessing
def _to_16k(y: np.ndarray, sr: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    if sr == MUSICNN_SR:
        return y
    import librosa

    return librosa.resample(y, orig_sr=sr, target_sr=MUSICNN_SR, res_type="soxr_hq", axis=-1).astype(np.float32, copy=False)


def musicnn_melspectrogram(y: np.ndarray, sr: int = MUSICNN_SR) -> np.ndarray:
    """Power mel spectrogram exactly as musicnn computes it, ``(..., frames, 96)`` float32.

    ``y`` is resampled to 16 kHz first when ``sr`` differs. Works on a batch
    ``(n, samples)`` too.
    """
    import librosa

    y16 = _to_16k(y, sr)
    mel = librosa.feature.melspectrogram(
        y=y16, sr=MUSICNN_SR, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=N_MELS, center=True, pad_mode="constant"
    )
    return np.swapaxes(mel, -1, -2).astype(np.float32, copy=False)


def musicnn_log_melspectrogram(y: np.ndarray, sr: int = MUSICNN_SR) -> np.ndarray:
    """musicnn's input: ``log10(10000 * mel + 1)`` in float32, ``(..., frames, 96)``.

    Examples
    --------
    >>> import numpy as np
    >>> musicnn_log_melspectrogram(np.zeros(48000, np.float32)).shape
    (188, 96)
    """
    mel = musicnn_melspectrogram(y, sr)
    return np.log10(np.float32(10000) * mel + np.float32(1)).astype(np.float32, copy=False)


# ----------------------------------------------------------------------------------------------
# Precision. float32 is the default and the reference path. "bfloat16" (opt-in) runs the
# convolutions and matrix products in bfloat16 through oneDNN (torch CPU autocast), only where
# the CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX). Measured on this project's 2-core
# AMD EPYC (AVX512-BF16, no AMX), 20 windows of a GTZAN clip: 2.2-2.7x less CPU time for the
# forward pass; embeddings differ by up to 0.05 (|values| up to 3), linear-musicnn's segment
# probabilities by up to 0.006 and its track probabilities by 2e-4 (same verdicts).
PRECISIONS = ("float32", "bfloat16")
_PRECISION: list[str | None] = [None]  # None: not chosen yet (read GENRE_MUSICNN_PRECISION once)


def bf16_supported() -> bool:
    """Whether this CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX-BF16)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            flags = set()
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
        return bool({"avx512_bf16", "amx_bf16"} & flags)
    except OSError:
        return False


def set_precision(precision: str | None) -> str:
    """Choose the forward pass's precision: ``"float32"`` (default) or ``"bfloat16"``.

    ``None`` goes back to the default (``GENRE_MUSICNN_PRECISION`` if set, else
    float32). bfloat16 falls back to float32 on a CPU without native bfloat16
    (see :func:`bf16_supported`). Returns the precision in force. Feature-set
    cache keys carry a non-default precision, so cached float32 embeddings are
    never mixed with bfloat16 ones.
    """
    if precision is None:
        import os

        precision = os.environ.get("GENRE_MUSICNN_PRECISION", "float32").strip().lower() or "float32"
    aliases = {"fp32": "float32", "float32": "float32", "bf16": "bfloat16", "bfloat16": "bfloat16"}
    if precision not in aliases:
        raise GenreLabError(f"Unknown musicnn precision {precision!r}; choose float32 or bfloat16.")
    precision = aliases[precision]
    if precision == "bfloat16" and not bf16_supported():
        precision = "float32"
    _PRECISION[0] = precision
    return precision


def get_precision() -> str:
    """The forward pass's precision in force (see :func:`set_precision`)."""
    return _PRECISION[0] if _PRECISION[0] is not None else set_precision(None)


def _forward(patches: np.ndarray, model: str, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Run ``(n, frames, 96)`` patches through the network in batches of :data:`BATCH_PATCHES`.

    All patches of a call go through in a few batched passes (torch's intra-op
    threads use every core); in :func:`get_precision` ``"bfloat16"`` the
    convolutions and products run under CPU autocast, outputs stay float32.
    """
    import contextlib

    torch = _import_torch()
    net = musicnn_net(model)
    patches = np.ascontiguousarray(patches, dtype=np.float32)
    chunks: dict[str, list[np.ndarray]] = {k: [] for k in outputs}
    low = get_precision() == "bfloat16"
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if low else contextlib.nullcontext()
    with torch.inference_mode(), ctx:
        for start in range(0, len(patches), BATCH_PATCHES):
            out = net(torch.from_numpy(patches[start : start + BATCH_PATCHES]))
            for k in outputs:
                chunks[k].append(out[k].float().numpy())
    return {k: (np.concatenate(v) if v else np.zeros((0, OUTPUTS[k]), np.float32)) for k, v in chunks.items()}


def musicnn_extract(y: np.ndarray, sr: int, *, model: str = "MSD_musicnn") -> dict[str, np.ndarray]:
    """Whole-clip extraction laid out like ``musicnn.extractor.extractor``.

    The log-mel of the whole clip is cut into consecutive non-overlapping
    187-frame patches (a trailing partial patch is dropped, as the original
    does), and each patch goes through the network.

    Returns
    -------
    dict
        ``taggram`` ``(n_patches, 50)``, ``penultimate`` ``(n_patches, 200)``,
        ``mean_pool`` / ``max_pool`` ``(n_patches, 753)``, all float32.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.random.default_rng(0).standard_normal(16000 * 7).astype(np.float32) * 0.1
    >>> musicnn_extract(y, 16000)["taggram"].shape
    (2, 50)
    """
    _check_model(model)
    logmel = musicnn_log_melspectrogram(y, sr)
    n = max(0, (logmel.shape[0] - PATCH_FRAMES) // PATCH_FRAMES + 1)
    patches = np.stack([logmel[i * PATCH_FRAMES : (i + 1) * PATCH_FRAMES] for i in range(n)]) if n else np.zeros((0, PATCH_FRAMES, N_MELS), np.float32)
    return _forward(patches, model, tuple(OUTPUTS))


def _patch_starts(n_frames: int) -> np.ndarray:
    if n_frames <= PATCH_FRAMES:
        return np.zeros(1, dtype=int)
    n = max(1, int(round(n_frames / PATCH_FRAMES)))
    return np.round(np.linspace(0, n_frames - PATCH_FRAMES, n)).astype(int)


def musicnn_window_outputs(
    windows: np.ndarray, sr: int, *, model: str = "MSD_musicnn", outputs: tuple[str, ...] = tuple(OUTPUTS)
) -> dict[str, np.ndarray]:
    """Per-window network outputs for a batch of equal-length windows, in one pass.

    Parameters
    ----------
    windows : np.ndarray
        ``(n, samples)`` (or one window ``(samples,)``) at ``sr``.
    sr : int
        Their sample rate; resampled to 16 kHz window by window.
    model : str
        ``"MSD_musicnn"`` or ``"MTT_musicnn"``.
    outputs : tuple of str
        Which of ``penultimate``, ``mean_pool``, ``max_pool``, ``taggram``.

    Returns
    -------
    dict
        Output name -> ``(n, width)`` float32, averaged over the window's patches
        (one patch for a 3 s window).

    Examples
    --------
    >>> import numpy as np
    >>> w = np.random.default_rng(0).standard_normal((2, 66150)).astype(np.float32) * 0.1
    >>> musicnn_window_outputs(w, 22050, outputs=("taggram",))["taggram"].shape
    (2, 50)
    """
    _check_model(model)
    for name in outputs:
        if name not in OUTPUTS:
            raise GenreLabError(f"Unknown musicnn output {name!r}; choose from {', '.join(OUTPUTS)}.")
    windows = np.asarray(windows, dtype=np.float32)
    single = windows.ndim == 1
    if single:
        windows = windows[None, :]
    if windows.ndim != 2:
        raise GenreLabError(f"musicnn expects windows shaped (n, samples), got an array of shape {windows.shape}.")
    n = windows.shape[0]
    if n == 0:
        return {k: np.zeros((0, OUTPUTS[k]), np.float32) for k in outputs}
    logmel = musicnn_log_melspectrogram(windows, sr)  # (n, frames, 96)
    if logmel.shape[1] == 0:
        raise GenreLabError(f"musicnn needs at least {HOP_LENGTH} samples at 16 kHz per window; got {windows.shape[1]} at {sr} Hz.")
    starts = _patch_starts(logmel.shape[1])
    width = min(PATCH_FRAMES, logmel.shape[1])
    patches = np.stack([logmel[:, s : s + width] for s in starts], axis=1)  # (n, p, width, 96)
    out = _forward(patches.reshape(n * len(starts), width, N_MELS), model, tuple(outputs))
    result = {k: v.reshape(n, len(starts), -1).mean(axis=1).astype(np.float32) for k, v in out.items()}
    return {k: v[0] for k, v in result.items()} if single else result


# ----------------------------------------------------------------------------------------------
# Feature sets
def _slug(tag: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", tag.lower()).strip("_")


class _MusicnnBase(FeatureSet):
    """Shared plumbing: the ``weights`` parameter and batched computation."""

    #: Bumped whenever the numbers could change (preprocessing, forward pass, weights files).
    version = "1"
    default_params: ClassVar[dict[str, Any]] = {"weights": "MSD_musicnn"}
    _outputs_needed: ClassVar[tuple[str, ...]] = ()

    def _validate(self, params: dict[str, Any]) -> dict[str, Any]:
        if params["weights"] not in MODELS:
            raise UnknownFeatureSetError(
                f"Feature set '{self.name}' has no weights {params['weights']!r}; choose one of {', '.join(MODELS)}."
            )
        return params

    def _output_names(self) -> tuple[str, ...]:
        return self._outputs_needed

    def key(self) -> str:
        """As :meth:`FeatureSet.key`, plus ``~bfloat16`` while that precision is in force (caches never mix)."""
        base = super().key()
        return base if get_precision() == "float32" else f"{base}~{get_precision()}"

    def _assemble(self, out: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([out[k] for k in self._output_names()], axis=-1)

    def _compute(self, y: np.ndarray, sr: int) -> np.ndarray:
        return self.compute_batch(y[None, :], sr)[0]

    def compute_batch(self, windows: np.ndarray, sr: int) -> np.ndarray:
        """Features of equal-length windows ``(n, samples)`` in one batched forward pass.

        Row ``i`` equals ``compute(windows[i], sr)`` (to float32 rounding).
        """
        windows = np.asarray(windows)
        if windows.ndim != 2 or windows.shape[1] == 0:
            raise AudioError("<windows>", "unsupported",
                             f"Feature set '{self.name}' needs a 2-d array (windows, samples), got shape {windows.shape}.")
        windows = np.ascontiguousarray(windows, dtype=np.float32)
        if not np.all(np.isfinite(windows)):
            raise AudioError("<signal>", "corrupt", f"Feature set '{self.name}' got a signal with NaN or infinite samples.")
        out = musicnn_window_outputs(windows, int(sr), model=self.params["weights"], outputs=self._output_names())
        return np.ascontiguousarray(self._assemble(out), dtype=np.float32)


@register_feature_set
class MusicnnFeatures(_MusicnnBase):
    """``musicnn``: the 200-d penultimate layer (batch-normalised dense ReLU), mean over the window's patches.

    Parameters
    ----------
    weights : {"MSD_musicnn", "MTT_musicnn"}
        Which pretrained model (Million Song Dataset or MagnaTagATune tagging).
    """

    name = "musicnn"
    description = "Pretrained musicnn embedding: 200-d penultimate layer (weights MSD_musicnn or MTT_musicnn)."
    _outputs_needed = ("penultimate",)

    def _columns(self) -> list[str]:
        return [f"musicnn_{i}" for i in range(OUTPUTS["penultimate"])]


@register_feature_set
class MusicnnPoolFeatures(_MusicnnBase):
    """``musicnn_pool``: temporal pooling of the 753 front-end + mid-end feature maps.

    Parameters
    ----------
    weights : {"MSD_musicnn", "MTT_musicnn"}
    pooling : {"mean", "max", "both"}
        ``mean_pool`` (753-d), ``max_pool`` (753-d) or both (1506-d, max columns first).
    """

    name = "musicnn_pool"
    description = "Pretrained musicnn: temporal mean/max of the 753 front-end and mid-end maps."
    default_params = {"weights": "MSD_musicnn", "pooling": "mean"}

    def _validate(self, params: dict[str, Any]) -> dict[str, Any]:
        params = super()._validate(params)
        if params["pooling"] not in ("mean", "max", "both"):
            raise UnknownFeatureSetError(
                f"Feature set 'musicnn_pool' needs pooling 'mean', 'max' or 'both', got {params['pooling']!r}."
            )
        return params

    def _output_names(self) -> tuple[str, ...]:
        p = self.params["pooling"]
        return ("max_pool", "mean_pool") if p == "both" else (f"{p}_pool",)

    def _columns(self) -> list[str]:
        return [f"musicnn_{k.replace('_pool', '')}pool_{i}" for k in self._output_names() for i in range(_POOL_DIM)]


@register_feature_set
class MusicnnTaggramFeatures(_MusicnnBase):
    """``musicnn_taggram``: the 50 tag probabilities, mean over the window's patches.

    Columns are ``musicnn_tag_<tag>`` (e.g. ``musicnn_tag_hip_hop`` for MSD).

    Parameters
    ----------
    weights : {"MSD_musicnn", "MTT_musicnn"}
    """

    name = "musicnn_taggram"
    description = "Pretrained musicnn: the 50 tag probabilities (MSD or MTT tags)."
    _outputs_needed = ("taggram",)

    def _columns(self) -> list[str]:
        return [f"musicnn_tag_{_slug(t)}" for t in tag_names(self.params["weights"])]


def _probe_signal(duration: float = 3.0, sr: int = 22050) -> tuple[np.ndarray, int]:
    """A deterministic, music-like test signal (no random numbers): harmonic notes, a kick, a chirp hat.

    Moderate loudness (peak about 0.6). Used by the tests and to generate
    ``tests/fixtures/musicnn_expected.npz`` with the reference extractor.
    """
    t = np.arange(int(round(duration * sr)), dtype=np.float64) / sr
    y = np.zeros_like(t)
    for i, f0 in enumerate((220.0, 277.18, 329.63, 440.0, 329.63, 277.18)):
        on = (t >= 0.5 * i) & (t < 0.5 * (i + 1))
        for h in range(1, 6):
            y[on] += 0.08 / h * np.sin(2 * np.pi * f0 * h * t[on])
    beat = np.mod(t, 0.5)
    y += 0.3 * np.exp(-30 * beat) * np.sin(2 * np.pi * (60 + 100 * np.exp(-40 * beat)) * beat)
    hat = np.mod(t - 0.25, 0.5)
    y += 0.05 * np.exp(-60 * hat) * np.sin(2 * np.pi * (3000 + 4000 * hat) * hat)
    return y.astype(np.float32), sr
