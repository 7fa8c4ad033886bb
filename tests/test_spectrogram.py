"""Log-mel spectrograms: shape, dtype, the documented fixed normalisation, batch == loop, errors."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from genre_core.errors import AudioError
from genre_core.spectrogram import (
    AMIN,
    DB_CENTER,
    DB_SCALE,
    denormalise,
    log_melspectrogram,
    log_melspectrogram_batch,
    n_frames,
    normalise_db,
)

SR = 22050
N3 = 66150  # 3 s at 22050 Hz


def _clip(seed: int = 0, n: int = N3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    y = 0.3 * np.sin(2 * np.pi * (220 + 40 * seed) * t) + 0.05 * rng.standard_normal(n)
    return y.astype(np.float32)


def test_shape_and_dtype_for_a_3s_window():
    S = log_melspectrogram(_clip())
    assert S.shape == (128, 130)
    assert S.dtype == np.float32
    assert n_frames(N3) == 130
    assert log_melspectrogram(_clip(n=SR), n_mels=64, hop_length=256).shape == (64, 1 + SR // 256)


def test_matches_documented_formula():
    y = _clip(1)
    expected = (librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=SR), ref=1.0, amin=AMIN,
                                    top_db=None) - DB_CENTER) / DB_SCALE
    got = log_melspectrogram(y, SR)
    # float32 FFT vs librosa's float64 STFT: tiny on average, < 0.1 dB in the quietest bands
    assert float(np.mean(np.abs(got - expected))) < 1e-5
    assert float(np.max(np.abs(got - expected))) < 0.1 / DB_SCALE


def test_normalisation_is_fixed_not_per_clip():
    y = _clip(2)
    S = log_melspectrogram(y)
    np.testing.assert_array_equal(S, log_melspectrogram(y.copy()))
    # a gain of g dB shifts every (above-floor) value by exactly g / DB_SCALE
    S_loud = log_melspectrogram(2 * y)
    shift = 20 * np.log10(2) / DB_SCALE
    above = denormalise(S) > -90
    np.testing.assert_allclose((S_loud - S)[above], shift, atol=1e-4)
    # digital silence maps to the floor constant, whatever else is in the batch
    X = log_melspectrogram_batch(np.stack([np.zeros(N3, np.float32), 10 * y]))
    floor = (10 * np.log10(AMIN) - DB_CENTER) / DB_SCALE
    np.testing.assert_allclose(X[0], floor, atol=1e-6)
    assert float(floor) == pytest.approx(-4.25)
    # typical music-like content sits in a small range around 0
    assert -4.3 < float(S.mean()) < 2.0


def test_normalise_and_denormalise_round_trip():
    db = np.array([-100.0, -15.0, 0.0, 25.0], np.float32)
    np.testing.assert_allclose(normalise_db(db), [-4.25, 0.0, 0.75, 2.0])
    np.testing.assert_allclose(denormalise(normalise_db(db)), db, atol=1e-5)


def test_batch_equals_loop():
    windows = np.stack([_clip(s) for s in range(5)])
    X = log_melspectrogram_batch(windows, SR)
    assert X.shape == (5, 128, 130) and X.dtype == np.float32
    for i in range(5):
        np.testing.assert_array_equal(X[i], log_melspectrogram(windows[i], SR))
    # neighbours in a batch do not change a window's image
    np.testing.assert_array_equal(X[1:3], log_melspectrogram_batch(windows[1:3], SR))


def test_precomputed_power_spectrogram():
    y = _clip(3)
    power = np.abs(librosa.stft(y)) ** 2
    np.testing.assert_allclose(log_melspectrogram(None, SR, S=power), log_melspectrogram(y, SR), atol=1e-5)
    with pytest.raises(AudioError):
        log_melspectrogram(None, SR, S=np.zeros((100, 5), np.float32))


def test_bad_input_raises_audio_error():
    with pytest.raises(AudioError) as err:
        log_melspectrogram(np.zeros((2, N3), np.float32))
    assert err.value.reason == "unsupported"
    y = _clip()
    y[5] = np.inf
    with pytest.raises(AudioError) as err:
        log_melspectrogram(y)
    assert err.value.reason == "corrupt"
    with pytest.raises(AudioError) as err:
        log_melspectrogram_batch(np.zeros((3, 0), np.float32))
    assert err.value.reason == "empty"
