"""segment(): windows, hop/overlap, tails, short clips, leading silence, cap, start/end times."""

from __future__ import annotations

import numpy as np
import pytest

from genre_core.segment import Segments, SegmentSpec, leading_silence, segment

SR = 1000  # a small rate keeps the arithmetic readable; nothing depends on 22050


def ramp(seconds: float, sr: int = SR) -> np.ndarray:
    """Signal whose sample value is its own index + 1 (so windows can be checked exactly)."""
    return np.arange(1, int(round(seconds * sr)) + 1, dtype=np.float32)


def test_non_overlapping_windows_exact_content():
    y = ramp(10.0)
    s = segment(y, SR, SegmentSpec(window=3.0))
    assert isinstance(s, Segments) and s.sr == SR
    assert s.audio.shape == (3, 3000) and s.audio.dtype == np.float32
    assert s.audio.flags.c_contiguous
    np.testing.assert_array_equal(s.starts, [0.0, 3.0, 6.0])
    np.testing.assert_array_equal(s.ends, [3.0, 6.0, 9.0])
    for i in range(3):
        np.testing.assert_array_equal(s.audio[i], y[i * 3000:(i + 1) * 3000])
    assert len(s) == 3 and s.window_samples == 3000
    np.testing.assert_allclose(s.fill, 1.0)


def test_trailing_partial_kept_only_above_min_fill():
    # 10 s: tail at 9 s has 1 s = 1/3 window
    assert len(segment(ramp(10.0), SR, SegmentSpec(window=3.0, min_fill=0.5))) == 3
    s = segment(ramp(10.0), SR, SegmentSpec(window=3.0, min_fill=0.3))
    assert len(s) == 4
    assert s.starts[-1] == 9.0 and s.ends[-1] == 10.0
    np.testing.assert_array_equal(s.audio[-1, :1000], ramp(10.0)[9000:])
    assert not s.audio[-1, 1000:].any()  # zero padding
    assert s.fill[-1] == pytest.approx(1 / 3)
    # 10.5 s: tail has 1.5 s = exactly half a window -> kept at min_fill=0.5
    s = segment(ramp(10.5), SR, SegmentSpec(window=3.0, min_fill=0.5))
    assert len(s) == 4 and s.ends[-1] == 10.5


def test_exact_multiple_has_no_empty_tail():
    s = segment(ramp(9.0), SR, SegmentSpec(window=3.0, min_fill=0.0))
    assert len(s) == 3 and s.ends[-1] == 9.0


def test_overlapping_hop():
    y = ramp(10.0)
    s = segment(y, SR, SegmentSpec(window=3.0, hop=1.0))
    # full windows at 0..7 s (8 of them); tail at 8 s has 2 s >= 1.5 s -> kept, padded
    np.testing.assert_array_equal(s.starts, np.arange(9, dtype=float))
    np.testing.assert_array_equal(s.ends, [3, 4, 5, 6, 7, 8, 9, 10, 10])
    np.testing.assert_array_equal(s.audio[5], y[5000:8000])
    np.testing.assert_array_equal(s.audio[8, :2000], y[8000:])
    assert not s.audio[8, 2000:].any()
    # only one trailing partial window even though 9 s would also start inside the signal
    assert (s.starts < 10.0).all() and s.starts.size == 9


def test_hop_longer_than_window_skips_gaps():
    s = segment(ramp(10.0), SR, SegmentSpec(window=2.0, hop=4.0))
    np.testing.assert_array_equal(s.starts, [0.0, 4.0, 8.0])
    np.testing.assert_array_equal(s.ends, [2.0, 6.0, 10.0])


@pytest.mark.parametrize("seconds", [2.9, 2.0, 1.6])
def test_clip_a_little_shorter_than_a_window_gets_one_padded_segment(seconds):
    y = ramp(seconds)
    s = segment(y, SR, SegmentSpec(window=3.0))
    assert s.audio.shape == (1, 3000)
    np.testing.assert_array_equal(s.audio[0, : y.size], y)
    assert not s.audio[0, y.size:].any()
    assert s.starts[0] == 0.0 and s.ends[0] == pytest.approx(seconds)


def test_very_short_clip_still_yields_one_segment_not_none():
    # below min_fill: documented to give one padded segment anyway, never zero segments
    y = ramp(0.5)
    s = segment(y, SR, SegmentSpec(window=3.0, min_fill=0.5))
    assert len(s) == 1 and s.ends[0] == 0.5
    np.testing.assert_array_equal(s.audio[0, :500], y)


def test_empty_signal_gives_zero_segments():
    s = segment(np.zeros(0, np.float32), SR, SegmentSpec(window=3.0))
    assert s.audio.shape == (0, 3000) and s.starts.shape == (0,) and s.ends.shape == (0,)


def test_max_segments_keeps_the_first_n():
    y = ramp(30.0)
    s = segment(y, SR, SegmentSpec(window=3.0, max_segments=4))
    np.testing.assert_array_equal(s.starts, [0.0, 3.0, 6.0, 9.0])
    np.testing.assert_array_equal(s.audio[3], y[9000:12000])
    # the cap counts the tail too, and a cap above the count changes nothing
    s2 = segment(ramp(10.0), SR, SegmentSpec(window=3.0, min_fill=0.3, max_segments=3))
    assert len(s2) == 3 and s2.ends[-1] == 9.0
    assert len(segment(ramp(10.0), SR, SegmentSpec(window=3.0, min_fill=0.3, max_segments=99))) == 4


def test_leading_silence_is_skipped_and_times_stay_in_source():
    sr = 22050
    rng = np.random.default_rng(0)
    silence = np.zeros(int(2.0 * sr), np.float32)
    music = (0.3 * rng.standard_normal(int(8.0 * sr))).astype(np.float32)
    y = np.concatenate([silence, music])
    n_lead = leading_silence(y)
    # trim-style frames (2048/512, centred): the first loud frame starts a little before 2 s
    assert 2.0 * sr - 2048 <= n_lead <= 2.0 * sr
    s = segment(y, sr, SegmentSpec(window=3.0, skip_leading_silence=True))
    assert len(s) == 3  # ~8 s after the silence: 2 full windows + a padded 2 s tail
    assert s.starts[0] == pytest.approx(n_lead / sr)
    assert 1.9 < s.starts[0] <= 2.0
    np.testing.assert_array_equal(s.audio[0], y[n_lead:n_lead + 3 * sr])
    np.testing.assert_allclose(np.diff(s.starts), 3.0)
    assert s.ends[-1] == pytest.approx(y.size / sr)
    # without skipping, the first window is mostly silence
    s0 = segment(y, sr, SegmentSpec(window=3.0))
    assert s0.starts[0] == 0.0 and np.abs(s0.audio[0, : sr]).max() == 0.0


def test_leading_silence_relative_threshold_and_edge_cases():
    sr = 22050
    quiet = np.full(sr, 1e-5, np.float32)  # -100 dB: silence next to a loud part
    loud = np.ones(sr, np.float32) * 0.5
    assert sr - 2048 <= leading_silence(np.concatenate([quiet, loud])) <= sr
    # a top_db of 120 treats the quiet part as content
    assert leading_silence(np.concatenate([quiet, loud]), top_db=120) == 0
    assert leading_silence(np.zeros(sr, np.float32)) == 0  # all silent: nothing skipped
    assert leading_silence(np.zeros(0, np.float32)) == 0
    assert leading_silence(loud) == 0
    # all-silent signal with skipping on still segments from 0
    s = segment(np.zeros(4 * sr, np.float32), sr, SegmentSpec(skip_leading_silence=True))
    assert s.starts[0] == 0.0


def test_output_is_float32_copy_from_float64_input():
    y = np.linspace(-1, 1, 7000)  # float64
    s = segment(y, SR, SegmentSpec(window=2.0))
    assert s.audio.dtype == np.float32
    s.audio[0, 0] = 99.0
    assert y[0] == -1.0  # never a view into the caller's array


def test_segment_rejects_multichannel():
    with pytest.raises(ValueError, match="mono"):
        segment(np.zeros((2, 1000)), SR)


def test_spec_validation_and_round_trip():
    spec = SegmentSpec(window=2.5, hop=1.25, skip_leading_silence=True, max_segments=10, min_fill=0.25)
    d = spec.to_dict()
    assert d == {"window": 2.5, "hop": 1.25, "skip_leading_silence": True, "max_segments": 10,
                 "min_fill": 0.25, "silence_top_db": 60.0}
    assert SegmentSpec.from_dict(d) == spec
    assert SegmentSpec.from_dict({"window": 4.0, "future_field": 1}) == SegmentSpec(window=4.0)
    assert SegmentSpec().hop_seconds == 3.0 and spec.hop_seconds == 1.25
    for bad in ({"window": 0}, {"hop": 0}, {"hop": -1.0}, {"max_segments": 0}, {"min_fill": 1.5}):
        with pytest.raises(ValueError):
            SegmentSpec(**bad)


def test_gtzan_30s_track_gives_ten_3s_segments():
    sr = 22050
    y = np.random.default_rng(1).standard_normal(661794).astype(np.float32)  # a GTZAN track's length
    s = segment(y, sr, SegmentSpec())
    assert s.audio.shape == (10, 66150)
    s_half = segment(y, sr, SegmentSpec(hop=1.5))
    # 19 full windows (0 .. 27 s) + the one at 28.5 s holding 1.51 s >= min_fill * 3 s
    assert len(s_half) == 20 and s_half.starts[-1] == 28.5
    assert s_half.ends[-1] == pytest.approx(661794 / sr)
