"""Model inputs: specs, one track, whole datasets (cache, parallel, failures, augmentation), tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from genre_core import config
from genre_core.augment import AugmentConfig, Augmenter
from genre_core.cache import FeatureCache
from genre_core.dataset import load_feature_table, scan_folder
from genre_core.errors import DatasetError, GenreLabError, TrainingCancelled
from genre_core.extraction import compute_dataset_inputs, table_inputs
from genre_core.inputs import (
    InputSpec,
    TrackInput,
    compute_track_input,
    stack_inputs,
)
from genre_core.splits import Split, check_no_leak

SR = 22050
MFCC = InputSpec("features", "mfcc_stats", {"n_mfcc": 8}, window=1.0)
MEL = InputSpec("logmel", None, {"n_mels": 32}, window=1.0, hop=0.5)


def noise_tone(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return (0.2 * np.sin(2 * np.pi * (200 + 50 * seed) * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture
def audio_dir(tmp_path) -> Path:
    root = tmp_path / "ds"
    for g, base in (("low", 0), ("high", 10)):
        (root / g).mkdir(parents=True)
        for i in range(3):
            sf.write(root / g / f"{g}.{i:05d}.wav", noise_tone(2.2, base + i), SR, subtype="PCM_16")
    return root


@pytest.fixture
def cache(tmp_path) -> FeatureCache:
    return FeatureCache(tmp_path / "cache")


# --------------------------------------------------------------------- spec


def test_input_spec_round_trip_and_key():
    spec = InputSpec("features", "gtzan57", {"a": 1}, window=3.0, hop=1.5)
    again = InputSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec and again.key() == spec.key()
    assert spec.key().startswith("features-gtzan57-w3-h1.5-sr22050-")
    assert InputSpec("features", "gtzan57", {"a": 2}, window=3.0, hop=1.5).key() != spec.key()
    assert spec.segment_spec().window == 3.0 and spec.segment_spec().hop == 1.5
    whole = InputSpec("features", "gtzan57", window=None)
    assert whole.segment_spec() is None and "whole clip" in whole.describe()
    assert hash(spec) == hash(again)
    assert {spec: 1}[again] == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"kind": "mfcc"}, "Unknown input kind"),
    ({"kind": "features"}, "needs a feature_set"),
    ({"kind": "logmel", "window": 0.0}, "window must be > 0"),
    ({"kind": "logmel", "hop": -1.0}, "hop must be > 0"),
    ({"kind": "logmel", "params": {"x": object()}}, "JSON-able"),
])
def test_input_spec_validation(kwargs, message):
    with pytest.raises(GenreLabError, match=message):
        InputSpec(**kwargs)


# --------------------------------------------------------------------- one track


def test_compute_track_input_features_and_logmel():
    y = noise_tone(2.2, 0)
    ti = compute_track_input(y, SR, MFCC, track_id="low/x")
    assert ti.track_id == "low/x" and ti.X.dtype == np.float32
    assert ti.X.shape == (2, 16)  # two full 1 s windows (0.2 s tail dropped), 8 means + 8 variances
    assert ti.starts.tolist() == [0.0, 1.0] and ti.ends.tolist() == [1.0, 2.0]
    mel = compute_track_input(y, SR, MEL)
    assert mel.X.shape == (4, 32, 1 + SR // 512)  # 0-1, 0.5-1.5, 1-2, and the 0.7 s tail at 1.5
    assert mel.starts.tolist() == [0.0, 0.5, 1.0, 1.5]
    assert mel.ends[-1] == pytest.approx(2.2)
    whole = compute_track_input(y, SR, InputSpec("features", "mfcc_stats", {"n_mfcc": 8}, window=None))
    assert whole.X.shape == (1, 16) and whole.ends[0] == pytest.approx(2.2)


def test_compute_track_input_resamples_and_checks_params():
    y = noise_tone(2.0, 1)
    y44 = np.repeat(y, 2)  # 44.1 kHz stand-in
    ti = compute_track_input(y44, 44100, MEL)
    assert ti.X.shape == compute_track_input(y, SR, MEL).X.shape
    with pytest.raises(GenreLabError, match="Unknown log-mel parameter"):
        compute_track_input(y, SR, InputSpec("logmel", None, {"n_bands": 3}))
    with pytest.raises(DatasetError, match="Unknown feature set"):
        compute_track_input(y, SR, InputSpec("features", "nope", {}))


# --------------------------------------------------------------------- datasets


def test_dataset_inputs_cache_hit_miss_and_invalidation(audio_dir, cache):
    ds = scan_folder(audio_dir, n_jobs=1)
    seen = []
    first, failures = compute_dataset_inputs(ds.tracks, MFCC, n_jobs=1, cache=cache, progress=seen.append)
    assert failures == [] and list(first) == [t.track_id for t in ds.tracks]
    assert seen[-1] == {"stage": "extracting", "done": 6, "total": 6, "cached": 0, "failed": 0,
                        "track_id": "low/low.00002"}
    assert [d["done"] for d in seen] == list(range(7))

    seen.clear()
    second, _ = compute_dataset_inputs(ds.tracks, MFCC, n_jobs=1, cache=cache, progress=seen.append)
    assert seen[-1]["cached"] == 6
    for tid in first:
        assert np.array_equal(first[tid].X, second[tid].X)
        assert np.array_equal(first[tid].starts, second[tid].starts)

    # A changed file recomputes that track only.
    sf.write(audio_dir / "low" / "low.00001.wav", noise_tone(2.2, 42), SR, subtype="PCM_16")
    seen.clear()
    third, _ = compute_dataset_inputs(ds.tracks, MFCC, n_jobs=1, cache=cache, progress=seen.append)
    assert seen[-1]["cached"] == 5
    assert not np.array_equal(third["low/low.00001"].X, first["low/low.00001"].X)

    # A changed parameter recomputes everything for that spec, and leaves the old entries usable.
    seen.clear()
    other = InputSpec("features", "mfcc_stats", {"n_mfcc": 5}, window=1.0)
    fourth, _ = compute_dataset_inputs(ds.tracks, other, n_jobs=1, cache=cache, progress=seen.append)
    assert seen[-1]["cached"] == 0 and fourth["low/low.00000"].X.shape == (2, 10)
    seen.clear()
    compute_dataset_inputs(ds.tracks, MFCC, n_jobs=1, cache=cache, progress=seen.append)
    assert seen[-1]["cached"] == 6

    # use_cache=False computes everything and reports no hits.
    seen.clear()
    compute_dataset_inputs(ds.tracks, MFCC, n_jobs=1, cache=cache, use_cache=False, progress=seen.append)
    assert seen[-1]["cached"] == 0


def test_corrupt_cache_entry_is_recomputed(audio_dir, cache):
    ds = scan_folder(audio_dir, n_jobs=1)
    first, _ = compute_dataset_inputs(ds.tracks[:2], MFCC, n_jobs=1, cache=cache)
    for p in list(cache.root.rglob("*.npz"))[:1]:
        p.write_bytes(b"not an npz")
    seen = []
    again, _ = compute_dataset_inputs(ds.tracks[:2], MFCC, n_jobs=1, cache=cache, progress=seen.append)
    assert seen[-1]["cached"] == 1
    for tid in first:
        assert np.array_equal(first[tid].X, again[tid].X)


def test_default_cache_lives_under_cache_dir(audio_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GENRE_CACHE_DIR", str(tmp_path / "gc"))
    ds = scan_folder(audio_dir, n_jobs=1)
    compute_dataset_inputs(ds.tracks[:1], MFCC, n_jobs=1)
    assert len(list((tmp_path / "gc" / "inputs").rglob("*.npz"))) == 1
    compute_dataset_inputs(ds.tracks[:1], MFCC, n_jobs=1, use_cache=False)
    assert len(list((tmp_path / "gc" / "inputs").rglob("*.npz"))) == 1


def test_unreadable_tracks_are_failures_not_fatal(audio_dir, cache):
    ds = scan_folder(audio_dir, n_jobs=1)
    (audio_dir / "low" / "low.00000.wav").write_bytes(b"")             # emptied after the scan
    sf.write(audio_dir / "high" / "high.00000.wav", np.zeros(SR * 2, np.float32), SR)  # silent
    inputs, failures = compute_dataset_inputs(ds.tracks, MFCC, n_jobs=1, cache=cache)
    assert dict(failures).keys() == {"low/low.00000", "high/high.00000"}
    assert dict(failures)["low/low.00000"].startswith("empty: ")
    assert dict(failures)["high/high.00000"].startswith("silent: ")
    assert len(inputs) == 4


def test_augmented_copies_are_reproducible_and_cached(audio_dir, cache):
    ds = scan_folder(audio_dir, n_jobs=1)
    tracks = ds.tracks[:2]
    aug = Augmenter(AugmentConfig(time_stretch_p=1.0, gain_p=1.0, pitch_shift_p=0.0, noise_p=0.0), seed=5)
    inputs, _ = compute_dataset_inputs(tracks, MEL, n_jobs=1, cache=cache, augmenter=aug, n_augment=2)
    t0 = tracks[0].track_id
    assert list(inputs)[:3] == [t0, f"{t0}#aug1", f"{t0}#aug2"]
    assert len(inputs) == 6
    params = inputs[f"{t0}#aug1"].info["augment"]
    assert params["copy_index"] == 1 and params["TimeStretch"]["applied"] is True
    assert inputs[t0].info == {}
    assert not np.array_equal(inputs[f"{t0}#aug1"].X[0], inputs[t0].X[0])
    seen = []
    again, _ = compute_dataset_inputs(tracks, MEL, n_jobs=1, cache=cache, augmenter=aug, n_augment=2,
                                      progress=seen.append)
    assert seen[-1]["cached"] == 2
    assert again[f"{t0}#aug2"].info == inputs[f"{t0}#aug2"].info
    fresh, _ = compute_dataset_inputs(tracks, MEL, n_jobs=1, use_cache=False, augmenter=aug, n_augment=2)
    assert np.array_equal(fresh[f"{t0}#aug2"].X, inputs[f"{t0}#aug2"].X)
    # One more copy computes only the missing copy (original and copies 1-2 come from the cache).
    more, _ = compute_dataset_inputs(tracks, MEL, n_jobs=1, cache=cache, augmenter=aug, n_augment=3)
    assert len(more) == 8 and np.array_equal(more[f"{t0}#aug1"].X, inputs[f"{t0}#aug1"].X)
    # Another augmenter seed is another cache entry.
    other, _ = compute_dataset_inputs(tracks, MEL, n_jobs=1, cache=cache, augmenter=Augmenter(aug.config, seed=6),
                                      n_augment=1)
    assert other[f"{t0}#aug1"].info["augment"] != inputs[f"{t0}#aug1"].info["augment"]
    with pytest.raises(GenreLabError, match="needs an augmenter"):
        compute_dataset_inputs(tracks, MEL, n_augment=1)


def test_stack_inputs_and_leak_check(audio_dir, cache):
    ds = scan_folder(audio_dir, n_jobs=1)
    aug = Augmenter(seed=0)
    split = Split(["high/high.00000", "high/high.00001", "low/low.00000", "low/low.00001"], [],
                  ["high/high.00002", "low/low.00002"], protocol="track")
    train_tracks = [t for t in ds.tracks if t.track_id in split.train]
    test_tracks = [t for t in ds.tracks if t.track_id in split.test]
    train, _ = compute_dataset_inputs(train_tracks, MFCC, n_jobs=1, cache=cache, augmenter=aug, n_augment=1)
    test, _ = compute_dataset_inputs(test_tracks, MFCC, n_jobs=1, cache=cache)
    X_train, ids_train = stack_inputs(train, split.train)
    X_test, ids_test = stack_inputs(test, split.test)
    assert X_train.shape == (16, 16) and X_test.shape == (4, 16)
    assert "low/low.00000#aug1" in set(ids_train)
    assert len(stack_inputs(train, split.train, include_augmented=False)[0]) == 8
    check_no_leak(split, segment_track_ids={"train": ids_train, "test": ids_test})


def test_threading_backend_matches_sequential(audio_dir, tmp_path):
    ds = scan_folder(audio_dir, n_jobs=1)
    seq, _ = compute_dataset_inputs(ds.tracks, MEL, n_jobs=1, use_cache=False)
    par, _ = compute_dataset_inputs(ds.tracks, MEL, n_jobs=2, use_cache=False, backend="threading")
    assert list(seq) == list(par)
    assert all(np.array_equal(seq[k].X, par[k].X) for k in seq)


@pytest.mark.slow
def test_default_process_backend(audio_dir, cache):
    # joblib's loky worker processes (the default backend); BLAS threading in the
    # workers may change the last bit of a float, hence allclose.
    ds = scan_folder(audio_dir, n_jobs=1)
    aug = Augmenter(seed=1)
    par, failures = compute_dataset_inputs(ds.tracks[:2], MEL, n_jobs=2, cache=cache, augmenter=aug,
                                           n_augment=1)
    seq, _ = compute_dataset_inputs(ds.tracks[:2], MEL, n_jobs=1, use_cache=False, augmenter=aug, n_augment=1)
    assert failures == [] and list(par) == list(seq)
    assert all(np.allclose(seq[k].X, par[k].X, atol=1e-5) for k in seq)
    assert all(seq[k].info == par[k].info for k in seq)


def test_should_stop_cancels(audio_dir, cache):
    ds = scan_folder(audio_dir, n_jobs=1)
    with pytest.raises(TrainingCancelled, match="stopped after 0 of 6"):
        compute_dataset_inputs(ds.tracks, MFCC, n_jobs=1, cache=cache, should_stop=lambda: True)


def test_table_tracks_have_no_audio(cache):
    ds = load_feature_table(config.default_feature_table())
    inputs, failures = compute_dataset_inputs(ds.tracks[:2], MFCC, cache=cache)
    assert inputs == {} and failures[0][1].startswith("no_audio")


# --------------------------------------------------------------------- tables


def test_table_inputs_public_table():
    ds = load_feature_table(config.default_feature_table())
    spec = InputSpec("features", "gtzan57", {}, window=30.0)
    inputs = table_inputs(ds, spec)
    assert len(inputs) == 1000
    x = inputs["blues/blues.00000"]
    assert isinstance(x, TrackInput) and x.X.shape == (1, 57) and x.X.dtype == np.float32
    assert x.starts.tolist() == [0.0] and x.ends[0] == pytest.approx(661794 / 22050)
    row = ds.table[ds.table.track_id == "blues/blues.00000"].iloc[0]
    assert x.X[0, 0] == pytest.approx(row["chroma_stft_mean"]) and x.X[0, -1] == pytest.approx(row["mfcc20_var"])


def test_table_inputs_errors_and_segments(tmp_path):
    ds = load_feature_table(config.default_feature_table())
    assert len(table_inputs(ds, InputSpec("features", "mfcc_stats", {"n_mfcc": 20}))) == 1000  # a subset
    with pytest.raises(DatasetError, match=r"lacks \d+ column\(s\) of feature set 'mfcc_stats'"):
        table_inputs(ds, InputSpec("features", "mfcc_stats", {"n_mfcc": 30}))
    with pytest.raises(DatasetError, match="no audio"):
        table_inputs(ds, InputSpec("logmel"))
    cols = InputSpec("features", "gtzan57", {}).feature_set
    from genre_core.features import get_feature_set

    columns = get_feature_set(cols).columns
    rows = []
    for k in (1, 0, 2):
        row = {"filename": f"rock.00000.{k}.wav", "length": 66150, "label": "rock"}
        row.update({c: float(k) for c in columns})
        rows.append(row)
    path = tmp_path / "features_3_sec.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    seg = table_inputs(load_feature_table(path), InputSpec("features", "gtzan57", {}, window=3.0))
    x = seg["rock/rock.00000"]
    assert x.X[:, 0].tolist() == [0.0, 1.0, 2.0]
    assert x.starts.tolist() == [0.0, 3.0, 6.0] and x.ends.tolist() == [3.0, 6.0, 9.0]
    df = pd.read_csv(path)
    df.loc[0, columns[3]] = np.nan
    df.to_csv(path, index=False)
    with pytest.raises(DatasetError, match="missing or infinite"):
        table_inputs(load_feature_table(path), InputSpec("features", "gtzan57", {}))


def test_default_params_share_cache_entries(audio_dir, cache):
    ds = scan_folder(audio_dir, n_jobs=1)
    implicit = InputSpec("logmel", None, {}, window=1.0)
    explicit = InputSpec("logmel", None, {"n_mels": 128, "n_fft": 2048, "hop_length": 512}, window=1.0)
    compute_dataset_inputs(ds.tracks[:2], implicit, n_jobs=1, cache=cache)
    seen = []
    compute_dataset_inputs(ds.tracks[:2], explicit, n_jobs=1, cache=cache, progress=seen.append)
    assert seen[-1]["cached"] == 2
