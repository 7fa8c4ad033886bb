"""musicnn's input: 16 kHz log-mel spectrograms, and the 187-frame patches cut from analysis windows.

Identical to ``musicnn.extractor.batch_data`` except where noted:

1. resample to 16 kHz (``librosa.resample``, ``soxr_hq``, as ``librosa.load``);
2. power mel spectrogram, ``n_fft=512``, ``hop_length=256``, 96 Slaney mel
   bands, centred frames with zero padding (librosa 0.11 defaults, pinned);
3. ``log10(10000 * mel + 1)`` computed in **float32**. The original casts the
   mel to float16 first; under NumPy 2 the product then stays float16 and
   overflows to ``inf`` for any band above 6.55 (88 of 100 patches of ten
   GTZAN clips), silently corrupting its output (tag probabilities off by up
   to 0.9). Here there is no such cast, so even clipping input stays finite.

Per analysis window (the pipeline's 3 s segments at 22050 Hz) the window is
resampled on its own and yields exactly one patch: its first 187 frames.
Longer windows are covered by ``round(frames / 187)`` evenly spaced patches
(whose outputs are averaged). Shorter ones are fed whole to the musicnn
networks (fully convolutional up to the global pooling) and repeated to 187
frames for the vgg networks (whose dense layer needs exactly 187; musicnn
trained both with ``pad_short: repeat-pad``).
"""

from __future__ import annotations

import numpy as np

from ...errors import GenreLabError
from .catalog import HOP_LENGTH, MUSICNN_SR, N_FFT, N_MELS, PATCH_FRAMES

__all__ = ["musicnn_log_melspectrogram", "musicnn_melspectrogram", "whole_clip_patches", "window_patches"]


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


def whole_clip_patches(logmel: np.ndarray) -> np.ndarray:
    """Consecutive non-overlapping 187-frame patches of one clip's log-mel, ``(n, 187, 96)``.

    A trailing partial patch is dropped, as ``musicnn.extractor`` does.
    """
    n = max(0, (logmel.shape[0] - PATCH_FRAMES) // PATCH_FRAMES + 1)
    if n == 0:
        return np.zeros((0, PATCH_FRAMES, N_MELS), np.float32)
    return np.stack([logmel[i * PATCH_FRAMES : (i + 1) * PATCH_FRAMES] for i in range(n)])


def _patch_starts(n_frames: int) -> np.ndarray:
    if n_frames <= PATCH_FRAMES:
        return np.zeros(1, dtype=int)
    n = max(1, int(round(n_frames / PATCH_FRAMES)))
    return np.round(np.linspace(0, n_frames - PATCH_FRAMES, n)).astype(int)


def window_patches(logmel: np.ndarray, *, repeat_short: bool = False) -> np.ndarray:
    """The patches of each window's log-mel ``(n, frames, 96)``: ``(n, patches_per_window, width, 96)``.

    ``width`` is 187, or the window's frames when shorter; with
    ``repeat_short`` a shorter window is repeated (tiled along time) to 187
    frames instead.
    """
    if logmel.shape[1] == 0:
        raise GenreLabError(f"musicnn needs at least {HOP_LENGTH} samples at 16 kHz per window; got none.")
    if repeat_short and logmel.shape[1] < PATCH_FRAMES:
        logmel = np.take(logmel, np.arange(PATCH_FRAMES) % logmel.shape[1], axis=1)
    starts = _patch_starts(logmel.shape[1])
    width = min(PATCH_FRAMES, logmel.shape[1])
    return np.stack([logmel[:, s : s + width] for s in starts], axis=1)
