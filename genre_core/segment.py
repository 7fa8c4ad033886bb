"""Fixed-length windows over a signal (the unit every model sees).

A track is cut into windows of ``window`` seconds every ``hop`` seconds
(``hop < window`` overlaps them). The rules for the edges, which decide how
many segments a track yields:

* **Full windows** start at ``offset + k * hop`` while they fit in the signal.
* **Trailing partial window**: after the last full window, the next window
  position is kept (zero-padded to ``window``) only if at least
  ``min_fill * window`` seconds of real signal remain there. At most one
  partial window is added.
* **Short clip**: a signal shorter than one window always yields exactly one
  zero-padded segment, however short, rather than none, so every track gets a
  prediction (GTZAN's 2-3 s excerpts become one 3 s segment).
  :func:`genre_core.audio.load_audio` already refuses clips below its
  ``min_duration``.
* **Empty signal** (0 samples) yields zero segments.
* **Leading silence**: with ``skip_leading_silence`` the start is moved past
  the first frames that are more than ``silence_top_db`` below the loudest
  frame, like :func:`librosa.effects.trim` but on the start only (trailing
  silence is kept: it is part of the music's form).
* **Cap**: ``max_segments`` keeps the first N segments in time order.

``starts``/``ends`` are seconds in the original signal (the skipped silence
included), ``ends`` marking the end of real content (before padding).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from .config import WINDOW_SECONDS

__all__ = ["SegmentSpec", "Segments", "segment", "leading_silence"]


@dataclass(frozen=True)
class SegmentSpec:
    """How to cut a signal into windows.

    Parameters
    ----------
    window : float
        Window length in seconds (default 3.0).
    hop : float or None
        Seconds between window starts; None means ``hop = window`` (no overlap).
    skip_leading_silence : bool
        Start at the first non-silent frame (see :func:`leading_silence`).
    max_segments : int or None
        Keep at most this many segments (the first ones).
    min_fill : float
        Fraction of a window a trailing partial window must fill to be kept.
    silence_top_db : float
        Frames this many dB below the loudest frame count as silence.

    Examples
    --------
    >>> SegmentSpec(window=3.0, hop=1.5).to_dict()["hop"]
    1.5
    """

    window: float = WINDOW_SECONDS
    hop: float | None = None
    skip_leading_silence: bool = False
    max_segments: int | None = None
    min_fill: float = 0.5
    silence_top_db: float = 60.0

    def __post_init__(self):
        if not (self.window > 0):
            raise ValueError(f"SegmentSpec.window must be > 0 seconds, got {self.window!r}")
        if self.hop is not None and not (self.hop > 0):
            raise ValueError(f"SegmentSpec.hop must be > 0 seconds or None, got {self.hop!r}")
        if self.max_segments is not None and int(self.max_segments) < 1:
            raise ValueError(f"SegmentSpec.max_segments must be >= 1 or None, got {self.max_segments!r}")
        if not (0.0 <= self.min_fill <= 1.0):
            raise ValueError(f"SegmentSpec.min_fill must be within [0, 1], got {self.min_fill!r}")

    @property
    def hop_seconds(self) -> float:
        """The effective hop in seconds (``window`` when ``hop`` is None)."""
        return float(self.window if self.hop is None else self.hop)

    def to_dict(self) -> dict:
        """JSON-able dict of every field (round-trips through :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SegmentSpec":
        """Build from :meth:`to_dict` output; unknown keys are ignored, missing keys take defaults.

        Examples
        --------
        >>> SegmentSpec.from_dict({"window": 2.0}).window
        2.0
        """
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in dict(d).items() if k in names})


@dataclass
class Segments:
    """Windows cut from one signal.

    Attributes
    ----------
    audio : np.ndarray
        ``(n_segments, window_samples)`` float32; a short tail or clip is zero-padded.
    starts : np.ndarray
        ``(n_segments,)`` start of each window, seconds in the source signal.
    ends : np.ndarray
        ``(n_segments,)`` end of real content in each window (before padding), seconds.
    sr : int
        Sample rate of ``audio``.
    """

    audio: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    sr: int

    def __len__(self) -> int:
        return int(self.audio.shape[0])

    @property
    def window_samples(self) -> int:
        return int(self.audio.shape[1])

    @property
    def fill(self) -> np.ndarray:
        """Fraction of each window that is real signal (1.0 for full windows)."""
        win = self.window_samples / self.sr if self.sr else 1.0
        return ((self.ends - self.starts) / win).astype(np.float32)


def _frame_power(y: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """Mean square per centred frame (as librosa.feature.rms(center=True) squared)."""
    pad = frame_length // 2
    yp = np.pad(y.astype(np.float32, copy=False), (pad, pad))
    if yp.shape[0] < frame_length:
        yp = np.pad(yp, (0, frame_length - yp.shape[0]))
    frames = np.lib.stride_tricks.sliding_window_view(yp, frame_length)[::hop_length]
    return np.mean(np.square(frames, dtype=np.float64), axis=1) if frames.size else np.zeros(0)


def leading_silence(y: np.ndarray, *, top_db: float = 60.0, frame_length: int = 2048,
                    hop_length: int = 512) -> int:
    """Number of samples of leading silence in ``y``.

    A frame is silent when its power is more than ``top_db`` dB below the
    loudest frame (the rule of :func:`librosa.effects.trim`, applied to the
    start only). An all-silent signal returns 0 (nothing is skipped).

    Examples
    --------
    >>> import numpy as np
    >>> y = np.concatenate([np.zeros(22050), np.ones(22050)]).astype("float32")
    >>> 20000 < leading_silence(y) <= 22050
    True
    """
    y = np.asarray(y)
    if y.size == 0:
        return 0
    power = _frame_power(y, frame_length, hop_length)
    peak = power.max() if power.size else 0.0
    if peak <= 0:
        return 0
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(np.maximum(power, 1e-30) / peak)
    loud = np.flatnonzero(db > -top_db)
    if loud.size == 0:
        return 0
    return int(min(loud[0] * hop_length, y.shape[0]))


def segment(y: np.ndarray, sr: int, spec: SegmentSpec = SegmentSpec()) -> Segments:
    """Cut ``y`` into fixed windows following ``spec`` (see the module notes for edge rules).

    Parameters
    ----------
    y : np.ndarray
        Mono signal.
    sr : int
        Sample rate of ``y``.
    spec : SegmentSpec
        Window, hop, silence skipping, cap and tail rules.

    Returns
    -------
    Segments
        float32 windows with their start/end times in seconds.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.random.default_rng(0).standard_normal(22050 * 10).astype("float32")
    >>> s = segment(y, 22050, SegmentSpec(window=3.0))
    >>> s.audio.shape, s.starts.tolist()
    ((3, 66150), [0.0, 3.0, 6.0])
    >>> segment(y, 22050, SegmentSpec(window=3.0, hop=1.5, min_fill=0.3)).starts.tolist()
    [0.0, 1.5, 3.0, 4.5, 6.0, 7.5]
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"segment() needs a mono 1-D signal, got shape {y.shape}")
    sr = int(sr)
    win = max(1, int(round(spec.window * sr)))
    hop = max(1, int(round(spec.hop_seconds * sr)))
    offset = leading_silence(y, top_db=spec.silence_top_db) if spec.skip_leading_silence else 0
    body = y[offset:].astype(np.float32, copy=False)
    n_body = body.shape[0]

    if n_body == 0:
        return Segments(np.zeros((0, win), np.float32), np.zeros(0), np.zeros(0), sr)

    n_full = 1 + (n_body - win) // hop if n_body >= win else 0
    cap = None if spec.max_segments is None else int(spec.max_segments)
    if cap is not None:
        n_full = min(n_full, cap)

    begins = np.arange(n_full, dtype=np.int64) * hop
    if n_full:
        windows = np.lib.stride_tricks.sliding_window_view(body, win)[::hop][:n_full]
    else:
        windows = np.zeros((0, win), np.float32)
    lengths = np.full(n_full, win, dtype=np.int64)

    tail_start = n_full * hop
    want_tail = cap is None or n_full < cap
    if n_full == 0:
        tail_len = min(n_body, win)  # short clip: always one padded segment
        keep_tail = True
    else:
        tail_len = min(n_body - tail_start, win)
        keep_tail = tail_len > 0 and tail_len < win and tail_len >= spec.min_fill * win
    if want_tail and keep_tail:
        tail = np.zeros((1, win), np.float32)
        tail[0, :tail_len] = body[tail_start:tail_start + tail_len]
        audio = np.concatenate([windows, tail]) if n_full else tail
        begins = np.append(begins, tail_start)
        lengths = np.append(lengths, tail_len)
    else:
        audio = np.ascontiguousarray(windows, dtype=np.float32)

    starts = (offset + begins) / sr
    ends = (offset + begins + lengths) / sr
    return Segments(np.ascontiguousarray(audio, dtype=np.float32), starts.astype(np.float64),
                    ends.astype(np.float64), sr)
