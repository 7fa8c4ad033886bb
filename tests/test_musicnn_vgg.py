"""musicnn's vgg models (MSD_vgg, MTT_vgg): complete weights, equivalence to the original, feature sets.

The expected values in ``tests/fixtures/musicnn_vgg_expected.npz`` come from
the original ``musicnn==0.1.0`` extractor (its TF1 graph and checkpoints, TF
2.21 + tf-keras) on the deterministic probe signal ``musicnn._probe_signal()``
with float32 preprocessing (``scripts/musicnn_reference.py fixture --models
MSD_vgg MTT_vgg``): per model the taggram (50) and ``pooled`` (10, 128), the
per-channel mean and max over time and frequency of ``pool1`` .. ``pool5``
(rows pool1_mean, pool1_max, ..., pool5_max). These tests need neither
TensorFlow nor the musicnn package.

Tolerance: 1e-4 of the reference's largest magnitude (``REL``). Measured on 10
GTZAN clips (100 patches) the largest difference is 4e-6 of it (maps, pooled
statistics and taggram alike), float32 rounding in another order.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import load_npz

from genre_core.errors import AudioError, GenreLabError
from genre_core.features import (
    UnknownFeatureSetError,
    get_feature_set,
    list_feature_sets,
)
from genre_core.features import musicnn as m

FIXTURE = Path(__file__).parent / "fixtures" / "musicnn_vgg_expected.npz"
SR = 22050
REL = 1e-4
STAT_ROWS = [f"pool{i}_{s}" for i in range(1, 6) for s in ("mean", "max")]
ALL_LAYERS = "pool1+pool2+pool3+pool4+pool5"


@pytest.fixture(scope="module")
def expected():
    return load_npz(FIXTURE)



def _assert_close(ours, ref, rel=REL, what=""):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, what
    scale = max(float(np.abs(ref).max()), 1e-6)
    worst = float(np.abs(ours - ref).max())
    assert worst <= rel * scale, f"{what}: max abs diff {worst:.3g} > {rel:g} x {scale:.3g}"


def _write_npz(path, arrays):
    np.savez(path, **arrays)
    return path


# ------------------------------------------------------------------ weights
@pytest.mark.parametrize("model", m.VGG_MODELS)
def test_vgg_weights_load_completely_and_every_tensor_is_used(model):
    w = m.load_weights(model)
    shapes = m.expected_tensors(model)
    assert set(w) == set(shapes) and len(w) == 36
    assert {n: a.shape for n, a in w.items()} == shapes
    assert sum(a.size for a in w.values()) == 607_030
    assert all(a.dtype == np.float32 and np.isfinite(a).all() for a in w.values())
    assert shapes["1CNN/kernel"] == (3, 3, 1, 128) and shapes["5CNN/kernel"] == (3, 3, 128, 128)
    assert shapes["batch_normalization/gamma"] == (1,) and shapes["dense/kernel"] == (256, 50)
    assert m.musicnn_net(model)._used == set(w)
    other = m.load_weights([x for x in m.VGG_MODELS if x != model][0])
    assert not np.array_equal(w["dense/kernel"], other["dense/kernel"])


def test_vgg_weights_damage_is_reported(tmp_path):
    w = m.load_weights("MTT_vgg")
    missing = dict(w)
    del missing["3CNN/kernel"]
    with pytest.raises(m.MusicnnWeightsError, match=r"missing 1 tensor\(s\): 3CNN/kernel"):
        m.musicnn_net("MTT_vgg", path=_write_npz(tmp_path / "missing.npz", missing))
    musicnn_weights = m.load_weights("MTT_musicnn")  # the other architecture's file under a vgg name
    with pytest.raises(m.MusicnnWeightsError, match="incomplete musicnn weights for MTT_vgg"):
        m.load_weights("MTT_vgg", path=_write_npz(tmp_path / "swapped.npz", musicnn_weights))
    shaped = _write_npz(tmp_path / "shaped.npz", {**w, "dense/kernel": w["dense/kernel"][:128]})
    with pytest.raises(m.MusicnnWeightsError, match=r"dense/kernel float32\(128, 50\) \(expected float32\(256, 50\)\)"):
        m.load_weights("MTT_vgg", path=shaped)
    with pytest.raises(m.MusicnnWeightsError, match="missing"):
        m.load_weights("MTT_vgg", path=tmp_path / "nope.npz")


def test_vgg_shipped_checksum_is_verified(tmp_path, monkeypatch):
    src = m.weights_dir()
    for name in ("manifest.json", "MSD_vgg.npz"):
        shutil.copy(src / name, tmp_path / name)
    monkeypatch.setattr(m, "weights_dir", lambda: tmp_path)
    assert set(m.load_weights("MSD_vgg")) == set(m.expected_tensors("MSD_vgg"))
    with pytest.raises(m.MusicnnWeightsError, match="missing"):
        m.load_weights("MTT_vgg")  # not in the copy
    data = bytearray((tmp_path / "MSD_vgg.npz").read_bytes())
    data[len(data) // 3] ^= 0xFF
    (tmp_path / "MSD_vgg.npz").write_bytes(bytes(data))
    with pytest.raises(m.MusicnnWeightsError, match="checksum differs from manifest.json"):
        m.load_weights("MSD_vgg")


def test_vgg_manifest_entries():
    manifest = json.loads((m.weights_dir() / "manifest.json").read_text())
    for model in m.VGG_MODELS:
        entry = manifest["models"][model]
        assert entry["architecture"] == "vgg" and entry["n_tensors"] == 36 and entry["n_parameters"] == 607_030
        assert entry["config"]["n_frames"] == 187 and entry["config"]["audio_rep"]["n_mels"] == 96
        assert (m.weights_dir() / entry["file"]).stat().st_size < 3e6


# ------------------------------------------------------------------ the network
def test_vgg_net_map_shapes_and_outputs():
    import torch

    net = m.musicnn_net("MSD_vgg")
    with torch.inference_mode():
        out = net(torch.zeros(2, m.PATCH_FRAMES, 96), maps=True)
    shapes = {k: tuple(v.shape) for k, v in out.items() if k.startswith("pool") and "_" not in k}
    assert shapes == {"pool1": (2, 92, 48, 128), "pool2": (2, 46, 24, 128), "pool3": (2, 23, 12, 128),
                      "pool4": (2, 11, 6, 128), "pool5": (2, 2, 1, 128)}
    assert set(m.VGG_OUTPUTS) <= set(out) and out["taggram"].shape == (2, 50)
    with pytest.raises(GenreLabError, match="187-frame patches"):
        net(torch.zeros(1, 100, 96))


# ------------------------------------------------------------------ equivalence with the original extractor
@pytest.mark.parametrize("model", m.VGG_MODELS)
def test_vgg_feature_sets_equal_reference_extractor(probe, expected, model):
    """A 3 s window at 22050 Hz is the reference's first (only) patch of the same clip."""
    pooled = dict(zip(STAT_ROWS, expected[f"{model}/pooled"]))
    tags = get_feature_set("musicnn_taggram", weights=model).compute(probe, SR)
    _assert_close(tags, expected[f"{model}/taggram"], what=f"{model} taggram")
    fs = get_feature_set("musicnn_vgg", weights=model, layers=ALL_LAYERS, pooling="both")
    out = fs.compute(probe, SR)
    ref = np.concatenate([pooled[f"pool{i}_{s}"] for i in range(1, 6) for s in ("max", "mean")])
    assert out.dtype == np.float32 and out.shape == (1280,)
    for i in range(1, 6):  # layer by layer, so a failure names the first layer that drifts
        cols = slice((i - 1) * 256, i * 256)
        _assert_close(out[cols], ref[cols], what=f"{model} pool{i}")
    whole = m.musicnn_extract(probe, SR, model=model)
    assert {k: v.shape for k, v in whole.items()} == {k: (1, w) for k, w in m.VGG_OUTPUTS.items()}
    for k in STAT_ROWS:
        _assert_close(whole[k][0], pooled[k], what=f"{model} whole-clip {k}")


def test_vgg_reference_fixture_is_meaningful(expected):
    """Guards against a fixture made with random (unrestored) weights or a degenerate probe."""
    msd, mtt = expected["MSD_vgg/taggram"], expected["MTT_vgg/taggram"]
    assert msd.shape == mtt.shape == (50,) and expected["MSD_vgg/pooled"].shape == (10, 128)
    assert 0 < msd.min() and msd.max() < 1 and msd.std() > 0.01
    assert np.abs(expected["MSD_vgg/pooled"] - expected["MTT_vgg/pooled"]).max() > 0.1
    # the vgg and musicnn models trained on MSD broadly agree on the probe's tags
    musicnn_tags = get_feature_set("musicnn_taggram", weights="MSD_musicnn").compute(m._probe_signal()[0], SR)
    assert np.corrcoef(msd, musicnn_tags)[0, 1] > 0.5


# ------------------------------------------------------------------ feature sets
def test_vgg_feature_sets_registered_with_keys_and_columns():
    assert {"musicnn_vgg", "musicnn_concat"} <= set(list_feature_sets())
    fs = get_feature_set("musicnn_vgg")
    assert fs.params == {"weights": "MSD_vgg", "layers": "pool4+pool5", "pooling": "both"}
    assert fs.key() == 'musicnn_vgg@1{"layers":"pool4+pool5","pooling":"both","weights":"MSD_vgg"}'
    assert len(fs.columns) == 512 and fs.columns[:1] + fs.columns[127:129] == [
        "vgg_pool4_max_0", "vgg_pool4_max_127", "vgg_pool4_mean_0"]
    assert fs.columns[256] == "vgg_pool5_max_0"
    # parameters change the key; equivalent spellings share it
    same = get_feature_set("musicnn_vgg", layers=" pool5+pool4")
    assert same.key() == fs.key()
    keys = {get_feature_set("musicnn_vgg", **p).key() for p in (
        {}, {"weights": "MTT_vgg"}, {"layers": "pool5"}, {"pooling": "mean"})}
    assert len(keys) == 4
    assert get_feature_set("musicnn_vgg", layers="pool3", pooling="mean").columns[-1] == "vgg_pool3_mean_127"
    cols = get_feature_set("musicnn_taggram", weights="MTT_vgg").columns
    assert cols == get_feature_set("musicnn_taggram", weights="MTT_musicnn").columns
    for bad in ({"weights": "MSD_musicnn"}, {"layers": "pool6"}, {"layers": "pool4+pool4"}, {"layers": ""},
                {"layers": 5}, {"pooling": "median"}):
        with pytest.raises(UnknownFeatureSetError):
            get_feature_set("musicnn_vgg", **bad)
    with pytest.raises(UnknownFeatureSetError, match="use feature set 'musicnn_vgg'"):
        get_feature_set("musicnn_pool", weights="MTT_vgg")


def test_concat_is_the_two_sets_side_by_side(probe):
    fs = get_feature_set("musicnn_concat")
    assert fs.params == {"weights": "MSD_musicnn", "vgg_weights": "MSD_vgg", "vgg_layers": "pool4+pool5",
                         "vgg_pooling": "both"}
    assert fs.key() == ('musicnn_concat@1{"vgg_layers":"pool4+pool5","vgg_pooling":"both",'
                        '"vgg_weights":"MSD_vgg","weights":"MSD_musicnn"}')
    a, b = get_feature_set("musicnn"), get_feature_set("musicnn_vgg")
    assert fs.columns == a.columns + b.columns and len(set(fs.columns)) == 712
    windows = np.stack([probe, 0.5 * probe[::-1].copy()])
    X = fs.compute_batch(windows, SR)
    assert X.shape == (2, 712) and X.dtype == np.float32
    np.testing.assert_allclose(X, np.concatenate([a.compute_batch(windows, SR), b.compute_batch(windows, SR)], 1),
                               rtol=1e-5, atol=1e-5)
    mtt = get_feature_set("musicnn_concat", weights="MTT_musicnn", vgg_weights="MTT_vgg", vgg_layers="pool5",
                          vgg_pooling="mean")
    assert len(mtt.columns) == 328 and mtt.key() != fs.key()
    for bad in ({"weights": "MSD_vgg"}, {"vgg_weights": "MSD_musicnn"}, {"vgg_layers": "pool0"},
                {"vgg_pooling": "sum"}):
        with pytest.raises(UnknownFeatureSetError):
            get_feature_set("musicnn_concat", **bad)


def test_vgg_windows_batching_and_lengths(probe):
    fs = get_feature_set("musicnn_vgg", weights="MTT_vgg", layers="pool5")
    windows = np.stack([probe, probe[::-1].copy(), 0.3 * probe])
    X = fs.compute_batch(windows, SR)
    assert X.shape == (3, 256)
    for i in range(3):
        np.testing.assert_allclose(X[i], fs.compute(windows[i], SR), rtol=1e-5, atol=1e-5)
    assert np.abs(X[0] - X[1]).max() > 0.1
    # a 1 s window is repeated to 187 frames (as musicnn trained: repeat-pad), a 6 s one is two patches
    short = fs.compute(probe[:SR], SR)
    long6 = fs.compute(np.concatenate([probe, probe]), SR)
    assert np.isfinite(short).all() and np.isfinite(long6).all() and short.shape == long6.shape == (256,)
    logmel = m.musicnn_log_melspectrogram(probe[:SR][None], SR)  # (1, 63, 96)
    repeated = np.tile(logmel, (1, 3, 1))[:, : m.PATCH_FRAMES]
    direct = m._forward(repeated, "MTT_vgg", ("pool5_max", "pool5_mean"))
    np.testing.assert_allclose(short, np.concatenate([direct["pool5_max"][0], direct["pool5_mean"][0]]),
                               rtol=1e-5, atol=1e-5)


def test_vgg_robust_to_loud_quiet_and_bad_input(probe):
    t = np.arange(3 * SR) / SR
    square = np.sign(np.sin(2 * np.pi * 55 * t)).astype(np.float32)
    loud = np.stack([square, np.clip(probe * 20, -1, 1), probe * 1e-5, np.zeros_like(probe)])
    X = get_feature_set("musicnn_concat").compute_batch(loud, SR)
    assert X.shape == (4, 712) and np.isfinite(X).all()
    tags = get_feature_set("musicnn_taggram", weights="MSD_vgg").compute_batch(loud, SR)
    assert ((tags > 0) & (tags < 1)).all() and not np.allclose(tags[0], tags[3])
    y = probe.copy()
    y[10] = np.inf
    with pytest.raises(AudioError, match="NaN or infinite"):
        get_feature_set("musicnn_vgg").compute(y, SR)
    with pytest.raises(GenreLabError, match="Unknown output 'penultimate' of MSD_vgg"):
        m.musicnn_window_outputs(probe, SR, model="MSD_vgg", outputs=("penultimate",))


def test_window_outputs_by_model_shares_one_logmel(probe, monkeypatch):
    from genre_core.features.musicnn import extract

    calls = []
    real = extract.musicnn_log_melspectrogram
    monkeypatch.setattr(extract, "musicnn_log_melspectrogram", lambda *a, **k: calls.append(1) or real(*a, **k))
    out = m.window_outputs_by_model(probe, SR, {"MSD_musicnn": ["penultimate"], "MSD_vgg": ["pool5_mean", "taggram"]})
    assert len(calls) == 1
    assert {k: {o: v.shape for o, v in d.items()} for k, d in out.items()} == {
        "MSD_musicnn": {"penultimate": (200,)}, "MSD_vgg": {"pool5_mean": (128,), "taggram": (50,)}}
    empty = m.window_outputs_by_model(np.zeros((0, 3 * SR), np.float32), SR, {"MTT_vgg": ["pool1_max"]})
    assert empty["MTT_vgg"]["pool1_max"].shape == (0, 128)


def test_dataset_inputs_cache_vgg_sets_under_their_own_keys(tmp_path):
    from genre_core.cache import FeatureCache
    from genre_core.dataset import scan_folder
    from genre_core.inputs import InputSpec, compute_dataset_inputs
    from genre_core.synthetic import write_synthetic_dataset

    root = write_synthetic_dataset(tmp_path / "audio", genres=("drone", "pulse"), n_per_genre=1, duration=4.5)
    tracks = scan_folder(root).tracks
    cache = FeatureCache(tmp_path / "cache")
    events = []
    spec = InputSpec(kind="features", feature_set="musicnn_concat", params={"vgg_layers": "pool5"})
    first, failures = compute_dataset_inputs(tracks, spec, n_jobs=1, cache=cache, progress=events.append)
    assert failures == [] and all(ti.X.shape == (2, 456) for ti in first.values())
    assert events[-1]["cached"] == 0
    other = InputSpec(kind="features", feature_set="musicnn_concat", params={"vgg_layers": "pool4"})
    compute_dataset_inputs(tracks, other, n_jobs=1, cache=cache, progress=events.append)
    assert events[-1]["cached"] == 0  # another layer is another cache entry
    compute_dataset_inputs(tracks, spec, n_jobs=1, cache=cache, progress=events.append)
    assert events[-1]["cached"] == 2


def test_feature_sets_sharing_a_network_run_it_once_on_the_same_windows(monkeypatch):
    """``musicnn`` then ``musicnn_concat`` on one song's windows: musicnn's forward pass runs once."""
    from genre_core.features.musicnn import extract

    calls = []
    real = extract._forward

    def counting(patches, model, outputs):
        calls.append(model)
        return real(patches, model, outputs)

    monkeypatch.setattr(extract, "_forward", counting)
    windows = np.random.default_rng(5).standard_normal((2, 66150)).astype(np.float32) * 0.1
    alone = get_feature_set("musicnn").compute_batch(windows, 22050)
    both = get_feature_set("musicnn_concat").compute_batch(windows, 22050)
    assert calls.count("MSD_musicnn") == 1 and calls.count("MSD_vgg") == 1
    np.testing.assert_array_equal(both[:, :alone.shape[1]], alone)
