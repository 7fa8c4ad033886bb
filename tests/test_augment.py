"""Augmentation: reproducible from (seed, track id, copy), parameters logged."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from genre_core.augment import AugmentConfig, Augmenter
from genre_core.errors import GenreLabError

SR = 22050
ALWAYS = AugmentConfig(time_stretch_p=1.0, pitch_shift_p=1.0, noise_p=1.0, gain_p=1.0)


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    t = np.arange(int(1.5 * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * 330 * t) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t))).astype(np.float32)


def test_same_seed_track_copy_gives_same_audio_and_params(signal):
    a = Augmenter(ALWAYS, seed=7)
    y1, p1 = a.augment(signal, SR, track_id="rock/r1", copy_index=1)
    y2, p2 = Augmenter(ALWAYS, seed=7).augment(signal, SR, track_id="rock/r1", copy_index=1)
    assert np.array_equal(y1, y2) and p1 == p2
    assert y1.dtype == np.float32 and y1.ndim == 1
    assert not np.allclose(y1[: min(len(y1), len(signal))], signal[: min(len(y1), len(signal))])


def test_different_copy_track_or_seed_differs(signal):
    a = Augmenter(ALWAYS, seed=7)
    _, p1 = a.augment(signal, SR, track_id="rock/r1", copy_index=1)
    _, p2 = a.augment(signal, SR, track_id="rock/r1", copy_index=2)
    _, p3 = a.augment(signal, SR, track_id="rock/r2", copy_index=1)
    _, p4 = Augmenter(ALWAYS, seed=8).augment(signal, SR, track_id="rock/r1", copy_index=1)
    rates = {p["TimeStretch"]["rate"] for p in (p1, p2, p3, p4)}
    assert len(rates) == 4


def test_params_logged_within_ranges_and_json(signal):
    cfg = AugmentConfig(time_stretch_p=1.0, time_stretch_min=0.8, time_stretch_max=0.9,
                        pitch_shift_p=1.0, pitch_semitones=1.0, noise_p=1.0, gain_p=1.0,
                        gain_min_db=-3.0, gain_max_db=-1.0)
    y, p = Augmenter(cfg, seed=0).augment(signal, SR, track_id="a/b", copy_index=3)
    assert p["track_id"] == "a/b" and p["copy_index"] == 3 and p["seed"] == 0
    assert 0.8 <= p["TimeStretch"]["rate"] <= 0.9
    assert len(y) > len(signal)  # slowed down: longer, not padded with silence
    assert -1.0 <= p["PitchShift"]["num_semitones"] <= 1.0
    assert 0.001 <= p["AddGaussianNoise"]["amplitude"] <= 0.01
    assert -3.0 <= p["Gain"]["gain_db"] <= -1.0
    json.dumps(p)


def test_probabilities_zero_is_identity_and_recorded(signal):
    cfg = AugmentConfig(time_stretch_p=0, pitch_shift_p=0, noise_p=0, gain_p=0)
    y, p = Augmenter(cfg).augment(signal, SR, track_id="a/b", copy_index=1)
    assert np.array_equal(y, signal)
    assert all(p[name] == {"applied": False} for name in Augmenter.TRANSFORMS)


def test_global_random_state_untouched(signal):
    np.random.seed(123)
    random.seed(123)
    Augmenter(ALWAYS).augment(signal, SR, track_id="a/b", copy_index=1)
    after = (np.random.rand(), random.random())
    np.random.seed(123)
    random.seed(123)
    assert after == (np.random.rand(), random.random())


def test_key_and_config_round_trip():
    a = Augmenter(AugmentConfig(), seed=1)
    assert a.key() == Augmenter(AugmentConfig(), seed=1).key()
    assert a.key() != Augmenter(AugmentConfig(), seed=2).key()
    assert a.key() != Augmenter(AugmentConfig(noise_p=0.9), seed=1).key()
    cfg = AugmentConfig(gain_p=0.2)
    assert AugmentConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


@pytest.mark.parametrize("kwargs, message", [
    ({"noise_p": 1.5}, "between 0 and 1"),
    ({"time_stretch_min": 1.2, "time_stretch_max": 1.1}, "Time-stretch"),
    ({"gain_min_db": 3, "gain_max_db": -3}, "above gain_max_db"),
    ({"noise_min_amplitude": 0.0}, "Noise amplitudes"),
])
def test_bad_config(kwargs, message):
    with pytest.raises(GenreLabError, match=message):
        AugmentConfig(**kwargs)
    with pytest.raises(GenreLabError, match="Unknown augmentation setting"):
        AugmentConfig.from_dict({"speed": 2})
