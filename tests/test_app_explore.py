"""AppTest of the Explore page: the bundled feature table (no audio needed) and a synthetic audio dataset."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from app_fixtures import empty_env, new_app, texts  # noqa: F401
from genre_core import config, exploration
from genre_core.dataset import open_dataset

PAGE = "pages/4_Explore.py"


def _figs(at) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def test_explore_renders_on_the_bundled_table(empty_env, monkeypatch, tmp_path):
    # no GTZAN audio: the page must work from the table alone
    monkeypatch.setenv("GENRE_GTZAN_DIR", str(tmp_path / "no-gtzan"))
    at = new_app(PAGE)
    at.run()
    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    assert {m.label: m.value for m in at.metric}["Tracks"] == "1000"
    figs = _figs(at)
    # tracks per genre, durations, feature distribution, PCA map
    bar = next(f for f in figs if f["data"][0]["type"] == "bar")
    assert len(bar["data"][0]["x"]) == 10
    # every table row is a 30 s clip: one histogram bar would say nothing, so a sentence does (issue 13)
    assert not any(t["type"] == "histogram" for f in figs for t in f["data"])
    assert any("All 1000 tracks last 30.0 s" in c for c in texts(at.caption))
    assert any(t["type"] == "box" for f in figs for t in f["data"])
    scatter = [t for f in figs for t in f["data"] if t["type"] == "scattergl"]
    assert len(scatter) == 10 and sum(len(t["text"]) for t in scatter) == 1000  # hover names
    # no audio: says why there is no waveform section
    assert any("has no audio" in i or "holds numbers, not audio" in i for i in texts(at.info))
    # any gtzan57 column, box or violin
    at.selectbox(key="explore_feature").set_value("tempo").run()
    at.radio(key="explore_plot_kind").set_value("violin").run()
    assert not at.exception
    assert any(t["type"] == "violin" for f in _figs(at) for t in f["data"])


def test_explore_synthetic_audio_track_view_and_features(empty_env):
    at = new_app(PAGE, timeout=300)
    at.run()
    at.radio(key="explore_kind").set_value("synthetic").run()
    at.slider(key="explore_syn_n").set_value(4).run()
    at.slider(key="explore_syn_dur").set_value(3).run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Tracks"] == "16"
    # a track: waveform, mel spectrogram, chroma, and the player
    at.selectbox(key="explore_genre").set_value("pulse").run()
    track = at.selectbox(key="explore_track")
    track.set_value(track.options[0]).run()
    assert not at.exception, at.exception
    assert len(at.get("audio")) == 1
    heatmaps = [t for f in _figs(at) for t in f["data"] if t["type"] == "heatmap"]
    assert len(heatmaps) == 2  # mel + chroma
    assert len(heatmaps[1]["y"]) == 12  # pitch classes
    # features on demand (cached extraction), then the distribution and the map
    assert any("computed once and cached" in i for i in texts(at.info))
    at.button(key="explore_features").click().run()
    assert not at.exception, at.exception
    # once done, the offer (button and its info box) is gone
    assert not [b for b in at.button if b.key == "explore_features"]
    assert not any("are computed once and cached" in i for i in texts(at.info))
    assert any(t["type"] == "box" for f in _figs(at) for t in f["data"])
    assert any(t["type"] == "scattergl" for f in _figs(at) for t in f["data"])


def test_exploration_helpers_on_a_scanned_folder(synthetic_dataset_dir, tmp_path):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(synthetic_dataset_dir, root)
    first = sorted((root / "drone").iterdir())[0]
    shutil.copy(first, root / "drone" / ("copy-" + first.name))  # an exact duplicate
    (root / "pulse" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")  # unreadable
    ds = open_dataset(root)
    bad = exploration.unreadable_frame(ds)
    assert list(bad.columns) == ["file", "reason", "explanation"]
    assert len(bad) == 1 and bad["file"].iloc[0].endswith("broken.wav") and bad["reason"].iloc[0]
    dups = exploration.duplicates_frame(ds)
    assert dups["group"].nunique() == 1 and len(dups) == 2
    durs = exploration.durations_frame(ds)
    assert len(durs) == len(ds.tracks) and (durs["duration"] > 3.9).all()
    assert exploration.feature_window(ds) is None  # 4 s clips: whole-clip features
    feats, failures = exploration.track_features(ds, n_jobs=1)
    assert failures == [] and len(feats) == len(ds.tracks)
    points, info = exploration.projection(feats, "pca")
    assert list(points.columns) == ["track_id", "label", "x", "y"] and 0 < sum(info["explained"]) <= 1
    with pytest.raises(Exception, match="at least 3 tracks"):
        exploration.projection(feats.head(2), "pca")


def test_table_features_match_the_csv():
    ds = open_dataset(config.default_feature_table())
    feats, failures = exploration.track_features(ds)
    raw = pd.read_csv(config.default_feature_table())
    assert failures == [] and len(feats) == len(raw) == 1000
    row = feats.set_index("track_id").loc["blues/blues.00000"]
    assert row["tempo"] == pytest.approx(raw.loc[raw["filename"] == "blues.00000.wav", "tempo"].iloc[0])
    assert exploration.audio_paths(ds, extra_roots=[]) == {}
