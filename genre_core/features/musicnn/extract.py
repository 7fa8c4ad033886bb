"""Running the networks: whole clips like ``musicnn.extractor``, and batches of analysis windows.

Every entry point takes audio at any sample rate, computes musicnn's log-mel
(:mod:`.frontend`), cuts 187-frame patches and sends them through the cached
PyTorch nets (:func:`~.nets.musicnn_net`) in small batches, at the precision
in force (:mod:`.precision`). Outputs are float32.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections import OrderedDict
from typing import Mapping, Sequence

import numpy as np

from ...errors import GenreLabError
from ...store import register_memo
from .catalog import HOP_LENGTH, N_MELS, _check_model, architecture
from .frontend import musicnn_log_melspectrogram, whole_clip_patches, window_patches
from .nets import _import_torch, musicnn_net
from .precision import get_precision
from .weights import DENSE, N_TAGS, POOL_DIM, VGG_BLOCKS, VGG_FILTERS

__all__ = ["OUTPUTS", "VGG_OUTPUTS", "musicnn_extract", "musicnn_window_outputs", "outputs_of", "window_outputs_by_model"]

#: Outputs of the musicnn models and their widths.
OUTPUTS = {"penultimate": DENSE, "mean_pool": POOL_DIM, "max_pool": POOL_DIM, "taggram": N_TAGS}
#: Outputs of the vgg models and their widths: the taggram and each pooled map's mean / max over time and frequency.
VGG_OUTPUTS = {"taggram": N_TAGS, **{f"pool{i}_{stat}": VGG_FILTERS
                                     for i in range(1, VGG_BLOCKS + 1) for stat in ("mean", "max")}}
#: Patches per forward pass. Larger batches are not faster on CPU (torch's intra-op threads already
#: use every core inside one patch) and cost memory: measured on 2 cores, 20 patches through musicnn
#: took 0.77 s in batches of 2, 0.79 s of 1 or 4, 0.93 s of 10, with peak RSS +75 MB (2) vs +200 MB (10).
BATCH_PATCHES = 2
#: Recent per-window outputs, ``(windows digest, shape, sr, model, precision) -> every output``: feature
#: sets sharing a network on the same windows (``musicnn``, ``musicnn_pool`` and ``musicnn_concat`` for
#: one song) run it once.
_RECENT: "OrderedDict[tuple, dict]" = OrderedDict()
_RECENT_SIZE = 8
_RECENT_LOCK = threading.Lock()


#: The last windows' log-mel, ``(windows digest, shape, sr) -> (n, frames, 96)``: a feature set whose
#: second network is not in :data:`_RECENT` yet (``musicnn_concat`` after ``musicnn``) reuses it.
_LOGMEL: dict[tuple, np.ndarray] = {}


def clear_recent_outputs() -> None:
    """Forget the recent per-window outputs (see :func:`genre_core.store.clear_memos`)."""
    with _RECENT_LOCK:
        _RECENT.clear()
        _LOGMEL.clear()


def _recent_logmel(windows: np.ndarray, digest: str, sr: int) -> np.ndarray:
    key = (digest, windows.shape, sr)
    with _RECENT_LOCK:
        if key in _LOGMEL:
            return _LOGMEL[key]
    logmel = musicnn_log_melspectrogram(windows, sr)
    with _RECENT_LOCK:
        _LOGMEL.clear()
        _LOGMEL[key] = logmel
    return logmel


register_memo(clear_recent_outputs)


def outputs_of(model: str) -> dict[str, int]:
    """Output name -> width of a model (:data:`OUTPUTS` or :data:`VGG_OUTPUTS`).

    Examples
    --------
    >>> outputs_of("MSD_musicnn")["penultimate"], outputs_of("MTT_vgg")["pool5_max"]
    (200, 128)
    """
    return VGG_OUTPUTS if architecture(model) == "vgg" else OUTPUTS


def _check_outputs(model: str, outputs: Sequence[str]) -> tuple[str, ...]:
    known = outputs_of(model)
    for name in outputs:
        if name not in known:
            raise GenreLabError(f"Unknown output {name!r} of {model}; choose from {', '.join(known)}.")
    return tuple(outputs)


def _forward(patches: np.ndarray, model: str, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Run ``(n, frames, 96)`` patches through the network in batches of :data:`BATCH_PATCHES`.

    All patches of a call go through in a few batched passes (torch's intra-op
    threads use every core); in :func:`get_precision` ``"bfloat16"`` the
    convolutions and products run under CPU autocast, outputs stay float32.
    """
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
    widths = outputs_of(model)
    return {k: (np.concatenate(v) if v else np.zeros((0, widths[k]), np.float32)) for k, v in chunks.items()}


def musicnn_extract(y: np.ndarray, sr: int, *, model: str = "MSD_musicnn") -> dict[str, np.ndarray]:
    """Whole-clip extraction laid out like ``musicnn.extractor.extractor``.

    The log-mel of the whole clip is cut into consecutive non-overlapping
    187-frame patches (a trailing partial patch is dropped, as the original
    does), and each patch goes through the network.

    Returns
    -------
    dict
        Every output of :func:`outputs_of` ``(model)``, ``(n_patches, width)``
        float32: for the musicnn models ``taggram`` ``(n, 50)``,
        ``penultimate`` ``(n, 200)``, ``mean_pool`` / ``max_pool`` ``(n, 753)``;
        for the vgg models ``taggram`` and ``pool<i>_mean`` / ``pool<i>_max``
        ``(n, 128)``.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.random.default_rng(0).standard_normal(16000 * 7).astype(np.float32) * 0.1
    >>> musicnn_extract(y, 16000)["taggram"].shape
    (2, 50)
    """
    _check_model(model)
    patches = whole_clip_patches(musicnn_log_melspectrogram(y, sr))
    return _forward(patches, model, tuple(outputs_of(model)))


def _as_windows(windows: np.ndarray) -> tuple[np.ndarray, bool]:
    windows = np.asarray(windows, dtype=np.float32)
    single = windows.ndim == 1
    if single:
        windows = windows[None, :]
    if windows.ndim != 2:
        raise GenreLabError(f"musicnn expects windows shaped (n, samples), got an array of shape {windows.shape}.")
    return windows, single


def _outputs_from_logmel(logmel: np.ndarray, model: str, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Per-window outputs from the windows' log-mel ``(n, frames, 96)``, averaged over each window's patches."""
    n = logmel.shape[0]
    patches = window_patches(logmel, repeat_short=architecture(model) == "vgg")  # (n, p, width, 96)
    p, width = patches.shape[1], patches.shape[2]
    out = _forward(patches.reshape(n * p, width, N_MELS), model, outputs)
    return {k: v.reshape(n, p, -1).mean(axis=1).astype(np.float32) for k, v in out.items()}


def window_outputs_by_model(
    windows: np.ndarray, sr: int, wanted: Mapping[str, Sequence[str]]
) -> dict[str, dict[str, np.ndarray]]:
    """Outputs of several models for the same windows, the log-mel computed once.

    Parameters
    ----------
    windows : np.ndarray
        ``(n, samples)`` (or one window ``(samples,)``) at ``sr``.
    sr : int
        Their sample rate; resampled to 16 kHz window by window.
    wanted : mapping
        Model -> output names, e.g. ``{"MSD_musicnn": ["penultimate"],
        "MSD_vgg": ["pool5_mean"]}``.

    Returns
    -------
    dict
        Model -> output name -> ``(n, width)`` float32 (``(width,)`` for one
        window), averaged over each window's patches.
    """
    wanted = {model: _check_outputs(model, outs) for model, outs in wanted.items()}
    for model in wanted:
        _check_model(model)
    windows, single = _as_windows(windows)
    n = windows.shape[0]
    if n == 0:
        return {model: {k: np.zeros((0, outputs_of(model)[k]), np.float32) for k in outs}
                for model, outs in wanted.items()}
    digest = hashlib.sha1(np.ascontiguousarray(windows).view(np.uint8)).hexdigest()
    keys = {model: (digest, windows.shape, int(sr), model, get_precision()) for model in wanted}
    with _RECENT_LOCK:
        every = {model: _RECENT[key] for model, key in keys.items() if key in _RECENT}
    missing = [model for model in wanted if model not in every]
    if missing:
        logmel = _recent_logmel(windows, digest, int(sr))  # (n, frames, 96)
        if logmel.shape[1] == 0:
            raise GenreLabError(f"musicnn needs at least {HOP_LENGTH} samples at 16 kHz per window; "
                                f"got {windows.shape[1]} at {sr} Hz.")
        for model in missing:  # every output is kept: any feature set of this model reuses the pass
            every[model] = _outputs_from_logmel(logmel, model, tuple(outputs_of(model)))
            with _RECENT_LOCK:
                _RECENT[keys[model]] = every[model]
                while len(_RECENT) > _RECENT_SIZE:
                    _RECENT.popitem(last=False)
    result = {model: {k: every[model][k] for k in outs} for model, outs in wanted.items()}
    if single:
        return {model: {k: v[0] for k, v in outs.items()} for model, outs in result.items()}
    return result


def musicnn_window_outputs(
    windows: np.ndarray, sr: int, *, model: str = "MSD_musicnn", outputs: tuple[str, ...] | None = None
) -> dict[str, np.ndarray]:
    """Per-window network outputs for a batch of equal-length windows, in one pass.

    Parameters
    ----------
    windows, sr
        As :func:`window_outputs_by_model`.
    model : str
        One of :data:`~.catalog.ALL_MODELS`.
    outputs : tuple of str, optional
        Which of the model's outputs (:func:`outputs_of`); all by default.

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
    outputs = tuple(outputs_of(model)) if outputs is None else tuple(outputs)
    return window_outputs_by_model(windows, sr, {model: outputs})[model]
