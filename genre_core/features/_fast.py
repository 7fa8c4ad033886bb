"""Private numeric kernels (numba, single-threaded, compiled with ``cache=True``): frame statistics,
spectral shape, tempogram aggregation and band-limited pitch tracking. The running median, HPSS and
inverse STFT kernels are in :mod:`._fast_hpss` (which shares this module's numba cache set-up).

Frame statistics
    :func:`rms_frames` and :func:`zcr_frames` reproduce
    ``librosa.feature.rms(y=...)`` (rectangular frames, zero padding) and
    ``librosa.feature.zero_crossing_rate`` (edge padding, threshold 1e-10) from
    the time signal; :func:`spectral_shape` gives centroid, bandwidth and
    roll-off of every frame in one pass over the magnitude.

The first call in a fresh environment compiles the kernels (a few seconds);
later processes load them from numba's on-disk cache: ``__pycache__`` beside
this file, or, where that is read-only and the user chose no place
(``NUMBA_CACHE_DIR``), ``<genre-lab cache>/numba`` (``GENRE_CACHE_DIR``,
default ``.cache/numba``), which then also holds the kernels librosa compiles
after this module is imported.
"""

from __future__ import annotations


import librosa
import numpy as np
import numba
from numba import njit


def _use_writable_numba_cache() -> None:
    """Make sure the compiled kernels land in a writable place that later processes read.

    numba's default is ``__pycache__`` beside this file; where that is not
    writable (a read-only install) and the user chose no place
    (``NUMBA_CACHE_DIR``), it becomes ``<genre-lab cache>/numba``. Set through
    numba's config (read when a ``cache=True`` function is decorated), so it
    runs before the kernels below are defined. The in-tree default is kept
    when writable so that every process, whatever its ``GENRE_CACHE_DIR``
    (each test session has its own), shares one set of compiled kernels.
    """
    import os
    from pathlib import Path

    if getattr(numba.config, "CACHE_DIR", ""):
        return
    here = Path(__file__).resolve().parent / "__pycache__"
    try:
        here.mkdir(exist_ok=True)
        if os.access(here, os.W_OK):
            return
    except OSError:
        pass
    from .. import config

    try:
        folder = config.cache_dir() / "numba"
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # numba falls back to its user-wide cache
    numba.config.CACHE_DIR = str(folder)


_use_writable_numba_cache()

__all__ = ["rms_frames", "zcr_frames", "spectral_shape", "mean_max_normalised", "piptrack_band",
           "onset_autocorrelation"]

_NOGIL = dict(cache=True, nogil=True)


# ---------------------------------------------------------------------------
# exact running median
# ---------------------------------------------------------------------------




# ---------------------------------------------------------------------------
# HPSS
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# inverse STFT
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# time-domain frame statistics
# ---------------------------------------------------------------------------
@njit(**_NOGIL)
def _rms_frames(y, frame_length, hop, out):
    half = frame_length // 2
    n = y.shape[0]
    for t in range(out.shape[0]):
        s = 0.0
        start = t * hop - half
        lo = max(start, 0)
        hi = min(start + frame_length, n)
        for i in range(lo, hi):
            v = np.float64(y[i])
            s += v * v
        out[t] = np.sqrt(s / frame_length)
    return out


def rms_frames(y: np.ndarray, *, frame_length: int = 2048, hop_length: int = 512) -> np.ndarray:
    """``librosa.feature.rms(y=y)[0]`` (centred rectangular frames, zero padding), float64 sums.

    Examples
    --------
    >>> import numpy as np, librosa
    >>> y = np.random.default_rng(0).standard_normal(10000).astype(np.float32)
    >>> bool(np.allclose(rms_frames(y), librosa.feature.rms(y=y)[0], rtol=1e-5))
    True
    """
    n_frames = 1 + len(y) // hop_length
    out = np.empty(n_frames, dtype=np.float64)
    return _rms_frames(np.ascontiguousarray(y), int(frame_length), int(hop_length), out)


@njit(**_NOGIL)
def _zcr_frames(y, frame_length, hop, out):
    n = y.shape[0]
    half = frame_length // 2
    thr = np.float32(1e-10)
    n_pad = n + 2 * half
    # crossings[i] = sign change between padded samples i-1 and i (edge padding)
    csum = np.zeros(n_pad, dtype=np.int64)
    prev_neg = y[0] < -thr
    acc = 0
    for i in range(1, n_pad):
        j = i - half
        if j < 0:
            j = 0
        elif j >= n:
            j = n - 1
        neg = y[j] < -thr
        if neg != prev_neg:
            acc += 1
        csum[i] = acc
        prev_neg = neg
    for t in range(out.shape[0]):
        a = t * hop
        b = min(a + frame_length - 1, n_pad - 1)
        out[t] = (csum[b] - csum[a]) / frame_length
    return out


def zcr_frames(y: np.ndarray, *, frame_length: int = 2048, hop_length: int = 512) -> np.ndarray:
    """``librosa.feature.zero_crossing_rate(y)[0]`` (centred, edge padding, threshold 1e-10), exact.

    Examples
    --------
    >>> import numpy as np, librosa
    >>> y = np.random.default_rng(0).standard_normal(10000).astype(np.float32)
    >>> bool(np.array_equal(zcr_frames(y), librosa.feature.zero_crossing_rate(y)[0]))
    True
    """
    y = np.ascontiguousarray(y, dtype=np.float32)
    n_frames = 1 + len(y) // hop_length
    out = np.empty(n_frames, dtype=np.float64)
    return _zcr_frames(y, int(frame_length), int(hop_length), out)


# ---------------------------------------------------------------------------
# spectral shape
# ---------------------------------------------------------------------------
@njit(**_NOGIL)
def _spectral_shape(ST, freq, roll_percent, centroid, bandwidth, rolloff):
    tiny = np.finfo(np.float32).tiny
    n_t, n_f = ST.shape
    rp = np.float32(roll_percent)
    for t in range(n_t):
        row = ST[t]
        tot = 0.0
        wsum = 0.0
        cum = np.float32(0.0)
        for f in range(n_f):
            v = row[f]
            tot += v
            wsum += freq[f] * v
            cum += v
        norm = tot if tot >= tiny else 1.0
        c = wsum / norm
        centroid[t] = c
        dev = 0.0
        for f in range(n_f):
            e = freq[f] - c
            dev += row[f] * e * e
        bandwidth[t] = np.sqrt(dev / norm)
        # roll-off: first bin whose float32 running sum reaches rp * total (as librosa)
        thr = rp * cum
        run = np.float32(0.0)
        idx = n_f - 1
        for f in range(n_f):
            run += row[f]
            if not (run < thr):
                idx = f
                break
        rolloff[t] = freq[idx]


def spectral_shape(S: np.ndarray, sr: int, *, n_fft: int = 2048,
                   roll_percent: float = 0.85) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spectral centroid, bandwidth (p=2) and roll-off of every frame of a magnitude spectrogram.

    Same definitions as ``librosa.feature.spectral_centroid``,
    ``spectral_bandwidth`` and ``spectral_rolloff`` with ``S=S``; centroid and
    bandwidth are accumulated in float64 (librosa normalises in float32 first:
    ~1e-7 relative difference); the roll-off bin is decided with librosa's own
    float32 running sum, so it is the same bin.

    Parameters
    ----------
    S : np.ndarray, shape (1 + n_fft // 2, frames)
        Magnitude spectrogram.
    sr : int
    n_fft : int
    roll_percent : float

    Returns
    -------
    centroid, bandwidth, rolloff : np.ndarray, float64, shape (frames,)

    Examples
    --------
    >>> import numpy as np, librosa
    >>> S = np.abs(librosa.stft(np.random.default_rng(0).standard_normal(8000).astype(np.float32)))
    >>> c, b, r = spectral_shape(S, 22050)
    >>> bool(np.allclose(c, librosa.feature.spectral_centroid(S=S)[0], rtol=1e-5))
    True
    """
    ST = np.ascontiguousarray(np.asarray(S, dtype=np.float32).T)
    freq = librosa.fft_frequencies(sr=sr, n_fft=n_fft).astype(np.float64)
    n_t = ST.shape[0]
    c = np.empty(n_t)
    b = np.empty(n_t)
    r = np.empty(n_t)
    _spectral_shape(ST, freq, float(roll_percent), c, b, r)
    return c, b, r


# ---------------------------------------------------------------------------
# tempogram aggregation
# ---------------------------------------------------------------------------
@njit(**_NOGIL)
def _mean_max_normalised(ac, width, out):
    n, _ = ac.shape
    tiny = np.finfo(np.float64).tiny
    for k in range(width):
        out[k] = 0.0
    for t in range(n):
        row = ac[t]
        peak = 0.0
        for k in range(width):
            v = abs(row[k])
            if v > peak:
                peak = v
        if peak < tiny:
            peak = 1.0
        for k in range(width):
            out[k] += row[k] / peak
    for k in range(width):
        out[k] /= n
    return out


@njit(**_NOGIL)
def _windowed_frames(padded, window, n_frames, out):
    """out[t, :win] = padded[t:t + win] * window (float64), out[t, win:] = 0 (FFT zero padding)."""
    win = window.shape[0]
    width = out.shape[1]
    for t in range(n_frames):
        row = out[t]
        for j in range(win):
            row[j] = np.float64(padded[t + j]) * window[j]
        for j in range(win, width):
            row[j] = 0.0
    return out


@njit(**_NOGIL)
def _abs2(spec, out):
    n, m = spec.shape
    for i in range(n):
        for j in range(m):
            v = spec[i, j]
            out[i, j] = v.real * v.real + v.imag * v.imag
    return out


def onset_autocorrelation(onset_envelope: np.ndarray, win: int, n_pad: int) -> np.ndarray:
    """Autocorrelation (via FFT of size ``n_pad``) of every centred, Hann-windowed ``win``-frame of an envelope.

    The tempogram of ``librosa.feature.tempogram`` before normalisation:
    linear-ramp padding to zero, one frame per envelope sample, rows = frames.

    Examples
    --------
    >>> import numpy as np
    >>> ac = onset_autocorrelation(np.ones(50, np.float32), 8, 16)
    >>> ac.shape
    (50, 16)
    """
    n = onset_envelope.shape[-1]
    padded = np.pad(onset_envelope, (win // 2, win // 2), mode="linear_ramp", end_values=[0, 0])
    window = librosa.filters.get_window("hann", win, fftbins=True).astype(np.float64)
    x = _windowed_frames(padded, window, n, np.empty((n, n_pad), dtype=np.float64))
    spec = np.fft.rfft(x, axis=-1)
    return np.fft.irfft(_abs2(spec, np.empty(spec.shape, dtype=np.float64)), n=n_pad, axis=-1)


def mean_max_normalised(ac: np.ndarray, width: int) -> np.ndarray:
    """Mean over rows of ``ac[:, :width]``, each row divided by its max absolute value.

    ``librosa.util.normalize(norm=inf)`` then ``np.mean`` over frames, as in
    ``librosa.feature.tempo``; rows with a (near-)zero maximum are left as is.

    Examples
    --------
    >>> import numpy as np
    >>> mean_max_normalised(np.array([[2.0, 1.0, 9.0], [4.0, -4.0, 9.0]]), 2).tolist()
    [1.0, -0.25]
    """
    ac = np.ascontiguousarray(ac, dtype=np.float64)
    out = np.empty(int(width), dtype=np.float64)
    return _mean_max_normalised(ac, int(width), out)


# ---------------------------------------------------------------------------
# piptrack on a frequency band (for the tuning estimate)
# ---------------------------------------------------------------------------
@njit(**_NOGIL)
def _piptrack_band(ST, k0, k1, threshold, sr, n_fft, pitches, mags):
    """Peaks of ``librosa.piptrack(S=S)`` restricted to bins ``k0 <= k < k1`` (interior bins).

    Mirrors librosa's arithmetic and types step by step (``np.gradient``,
    the ``_pi_stencil`` parabolic shift, ``0.5 * avg * shift``, ``S * (S >
    threshold * max)``, ``localmax``) so the peaks and their values are
    bit-identical. Returns the number of peaks written.
    """
    n_t, n_f = ST.shape
    thr = np.float32(threshold)
    half = np.float32(0.5)
    two = np.float32(2.0)
    count = 0
    for t in range(n_t):
        row = ST[t]
        m = row[0]
        for f in range(1, n_f):
            if row[f] > m:
                m = row[f]
        ref = thr * m
        for k in range(k0, k1):
            c = row[k]
            xc = c if c > ref else np.float32(0.0)
            lo = row[k - 1]
            xl = lo if lo > ref else np.float32(0.0)
            hi = row[k + 1]
            xh = hi if hi > ref else np.float32(0.0)
            if not (xc > xl and xc >= xh):
                continue
            # librosa.core.pitch._pi_stencil, with the same operand types
            a = hi + lo - 2 * c
            b = (hi - lo) / 2
            if np.abs(b) >= np.abs(a):
                shift = np.float32(0.0)
            else:
                shift = np.float32(-b / a)
            avg = (hi - lo) / two
            dskew = half * avg * shift
            # librosa computes in float64 and stores into a float32 matrix
            pitches[count] = np.float32((np.float64(k) + np.float64(shift)) * sr / n_fft)
            mags[count] = c + dskew
            count += 1
    return count


def piptrack_band(S: np.ndarray, sr: int, *, n_fft: int, fmin: float = 150.0, fmax: float = 4000.0,
                  threshold: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Pitches and magnitudes of the peaks ``librosa.piptrack(S=S, sr=sr)`` finds (flattened).

    Parameters
    ----------
    S : np.ndarray, shape (1 + n_fft // 2, frames), non-negative
    sr, n_fft : int
    fmin, fmax, threshold : float
        librosa's defaults.

    Returns
    -------
    pitches, mags : np.ndarray, float32
        The non-zero entries of librosa's ``(pitches, mags)`` matrices (in
        frame-major order, which no caller depends on).

    Examples
    --------
    >>> import numpy as np, librosa
    >>> S = np.abs(librosa.stft(np.random.default_rng(0).standard_normal(8000).astype(np.float32)))
    >>> p, m = piptrack_band(S, 22050, n_fft=2048)
    >>> P, M = librosa.piptrack(S=S, sr=22050)
    >>> bool(np.array_equal(np.sort(p), np.sort(P[P > 0])) and np.array_equal(np.sort(m), np.sort(M[P > 0])))
    True
    """
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    fmin = max(fmin, 0.0)
    fmax = min(fmax, float(sr) / 2)
    band = np.flatnonzero((fmin <= freqs) & (freqs < fmax))
    ST = np.ascontiguousarray(np.asarray(S, dtype=np.float32).T)
    if band.size == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    k0, k1 = int(band[0]), int(band[-1]) + 1
    if k0 < 1 or k1 > ST.shape[1] - 1:  # pragma: no cover - only for exotic sr / n_fft
        raise ValueError("piptrack_band needs the band strictly inside the spectrum")
    cap = ST.shape[0] * (k1 - k0)
    pitches = np.empty(cap, dtype=np.float32)
    mags = np.empty(cap, dtype=np.float32)
    n = _piptrack_band(ST, k0, k1, float(threshold), float(sr), int(n_fft), pitches, mags)
    return pitches[:n], mags[:n]
