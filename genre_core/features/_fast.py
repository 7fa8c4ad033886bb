"""Private numeric kernels: an exact sliding median and the HPSS built on it.

Harmonic/percussive source separation (:func:`librosa.decompose.hpss`) spends
almost all of its time in two :func:`scipy.ndimage.median_filter` calls (a
``(1, 31)`` kernel along time and a ``(31, 1)`` kernel along frequency) over the
magnitude spectrogram. scipy's filter is generic over N-d footprints and
re-selects the median of every window from scratch; here each 1-d line is
filtered with a numba kernel that keeps the current window *sorted* and, per
output sample, removes the outgoing value and inserts the incoming one (a
binary search plus a short shift). A median is a selection, not arithmetic, so
the result is **bit-for-bit identical** to scipy's, including scipy's
``mode='reflect'`` boundary (``d c b a | a b c d | d c b a``, repeated for
lines shorter than half the kernel), which is the mode librosa uses.

Everything after the medians (soft masks, phase, inverse STFT) is done with the
same librosa calls and the same operation order as librosa, so
:func:`hpss_stft` and :func:`hpss_waveforms` return exactly what
``librosa.decompose.hpss`` / ``librosa.effects.hpss`` return.

The kernels are compiled with ``cache=True``: the first call in a fresh
environment compiles them (about a second), later processes load them from
numba's on-disk cache (``__pycache__`` next to this file).
"""

from __future__ import annotations

import numpy as np
import librosa
from numba import njit

__all__ = ["median_filter_1d", "hpss_stft", "hpss_waveforms"]


@njit(cache=True, nogil=True)
def _reflect(i, n):
    """scipy.ndimage 'reflect' index (half-sample symmetric, period 2n)."""
    if n == 1:
        return 0
    period = 2 * n
    i = i % period  # Python semantics: result in [0, period)
    if i >= n:
        i = period - 1 - i
    return i


@njit(cache=True, nogil=True)
def _median_rows(x, k, out):
    """Median of width ``k`` (odd) along the last axis of C-contiguous 2-d ``x``.

    The window is kept sorted; each step replaces the outgoing value by the
    incoming one in place (binary search for the outgoing value, then shift
    towards the incoming value's rank), so a step costs O(log k + shift).
    """
    n_rows, n = x.shape
    h = k // 2
    padded = np.empty(n + 2 * h, dtype=x.dtype)
    win = np.empty(k, dtype=x.dtype)
    for r in range(n_rows):
        row = x[r]
        for j in range(n + 2 * h):
            padded[j] = row[_reflect(j - h, n)]
        for j in range(k):
            win[j] = padded[j]
        win.sort()
        o = out[r]
        o[0] = win[h]
        for i in range(1, n):
            old = padded[i - 1]
            new = padded[i - 1 + k]
            if new == old:
                o[i] = win[h]
                continue
            # leftmost position p with win[p] >= old (win[p] == old exists)
            lo = 0
            hi = k
            while lo < hi:
                mid = (lo + hi) >> 1
                if win[mid] < old:
                    lo = mid + 1
                else:
                    hi = mid
            p = lo
            if new > old:
                while p + 1 < k and win[p + 1] < new:
                    win[p] = win[p + 1]
                    p += 1
            else:
                while p > 0 and win[p - 1] > new:
                    win[p] = win[p - 1]
                    p -= 1
            win[p] = new
            o[i] = win[h]
    return out


def median_filter_1d(x: np.ndarray, size: int, *, axis: int = -1) -> np.ndarray:
    """Exact running median along one axis, equal to scipy's ``median_filter``.

    Equivalent to ``scipy.ndimage.median_filter(x, size=shape, mode="reflect")``
    where ``shape`` is 1 everywhere except ``size`` on ``axis``, bit for bit.

    Parameters
    ----------
    x : np.ndarray
        Real array (float32 or float64), any number of dimensions, no NaNs.
    size : int
        Odd window length along ``axis``.
    axis : int
        Axis to filter along.

    Returns
    -------
    np.ndarray
        Filtered array, same shape and dtype as ``x``.

    Examples
    --------
    >>> import numpy as np, scipy.ndimage
    >>> x = np.random.default_rng(0).random((4, 50), dtype=np.float32)
    >>> a = median_filter_1d(x, 31, axis=1)
    >>> bool(np.array_equal(a, scipy.ndimage.median_filter(x, size=(1, 31), mode="reflect")))
    True
    """
    x = np.asarray(x)
    if size < 1 or size % 2 == 0:
        raise ValueError(f"median_filter_1d needs an odd positive size, got {size}")
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    if x.size == 0 or size == 1:
        return x.copy()
    moved = np.moveaxis(x, axis, -1)
    lines = np.ascontiguousarray(moved.reshape(-1, moved.shape[-1]))
    out = np.empty_like(lines)
    _median_rows(lines, size, out)
    return np.moveaxis(out.reshape(moved.shape), -1, axis)


def _median_pair(S: np.ndarray, win_harm: int, win_perc: int) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal (time) and vertical (frequency) medians of a (..., f, t) array."""
    harm = median_filter_1d(S, win_harm, axis=-1)
    perc = median_filter_1d(S, win_perc, axis=-2)
    return harm, perc


def hpss_stft(D: np.ndarray, *, kernel_size: int | tuple[int, int] = 31, power: float = 2.0,
              margin: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Fast, exact drop-in for ``librosa.decompose.hpss(D)`` on a complex STFT.

    Parameters
    ----------
    D : np.ndarray, complex, shape (..., 1 + n_fft // 2, frames)
        STFT matrix.
    kernel_size : int or (int, int)
        Median kernel lengths (harmonic along time, percussive along frequency); odd.
    power : float
        Soft-mask exponent.
    margin : float
        Mask margin (``>= 1``), as in librosa.

    Returns
    -------
    D_harmonic, D_percussive : np.ndarray
        Complex STFTs of the two components, identical to librosa's.

    Examples
    --------
    >>> import numpy as np, librosa
    >>> y = np.random.default_rng(0).standard_normal(22050).astype(np.float32)
    >>> D = librosa.stft(y)
    >>> H, P = hpss_stft(D)
    >>> H2, P2 = librosa.decompose.hpss(D)
    >>> bool(np.array_equal(H, H2) and np.array_equal(P, P2))
    True
    """
    if isinstance(kernel_size, (tuple, list)):
        win_harm, win_perc = int(kernel_size[0]), int(kernel_size[1])
    else:
        win_harm = win_perc = int(kernel_size)
    if margin < 1:
        raise ValueError("margin must be >= 1")
    S, phase = librosa.magphase(D)
    harm, perc = _median_pair(S, win_harm, win_perc)
    split_zeros = margin == 1
    mask_harm = librosa.util.softmask(harm, perc * margin, power=power, split_zeros=split_zeros)
    mask_perc = librosa.util.softmask(perc, harm * margin, power=power, split_zeros=split_zeros)
    return (S * mask_harm) * phase, (S * mask_perc) * phase


def hpss_waveforms(y: np.ndarray, D: np.ndarray | None = None, *, n_fft: int = 2048,
                   hop_length: int = 512, kernel_size: int = 31) -> tuple[np.ndarray, np.ndarray]:
    """Fast, exact drop-in for ``librosa.effects.hpss(y)``.

    Parameters
    ----------
    y : np.ndarray, shape (..., n)
        Audio signal.
    D : np.ndarray, optional
        ``librosa.stft(y, n_fft=n_fft, hop_length=hop_length)`` if already
        computed (it is not recomputed then).
    n_fft, hop_length : int
        STFT parameters (librosa defaults).
    kernel_size : int
        Median kernel length.

    Returns
    -------
    y_harmonic, y_percussive : np.ndarray
        Same as ``librosa.effects.hpss(y)``.

    Examples
    --------
    >>> import numpy as np, librosa
    >>> y = np.random.default_rng(0).standard_normal(22050).astype(np.float32)
    >>> h, p = hpss_waveforms(y)
    >>> h2, p2 = librosa.effects.hpss(y)
    >>> bool(np.array_equal(h, h2) and np.array_equal(p, p2))
    True
    """
    if D is None:
        D = librosa.stft(y, n_fft=n_fft, hop_length=hop_length)
    H, P = hpss_stft(D, kernel_size=kernel_size)
    kw = dict(dtype=y.dtype, n_fft=n_fft, hop_length=hop_length, length=y.shape[-1])
    return librosa.istft(H, **kw), librosa.istft(P, **kw)
