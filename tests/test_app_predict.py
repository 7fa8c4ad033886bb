"""Predict page: uploads (WAV, MP3), examples, every bad-input case, caching, clipping; and its pure builders."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from helpers import count_calls

from app_fixtures import (  # noqa: F401 - fixtures
    COMPLETE_RUNS,
    MLP_SYNTH,
    MLP_TABLE,
    SHIPPED_RUNS,
    SYNTH_GENRES,
    VOTE_SYNTH,
    XGB_SYNTH,
    app_env,
    app_models,
    empty_env,
    mp3_bytes,
    new_app,
    texts,
    wav_bytes,
)
from audio_fixtures import make_bad_bytes

PREDICT = "pages/1_Predict.py"


def _upload(at, name: str, data: bytes, mime: str = "audio/wav"):
    at.file_uploader(key="upload").set_value((name, data, mime))
    at.run()
    return at


def _charts(at):
    return at.get("plotly_chart")


def _verdicts(at) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "verdict" in d.value.columns)


def _default_runs() -> list[str]:
    """What Predict preselects: the strongest runs by recorded accuracy (issue 13), best first."""
    from genre_core.leaderboard import strongest_runs
    from genre_core.runs import list_runs

    return [r.id for r in strongest_runs([r for r in list_runs() if r.status == "complete"])]


def _assert_predicted(at, run_ids):
    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    table = _verdicts(at)
    assert list(table["run"]) == list(run_ids)
    assert table["confidence"].between(0, 100).all()  # shown in percent
    assert all(len(t.split(",")) == 3 for t in table["top 3"])
    # the chosen run's per-segment chart (drawn on demand), the audio view, and the timeline for several runs
    charts = _charts(at)
    assert len(charts) >= 2
    metrics = {m.label for m in at.metric}
    assert {"Verdict", "Confidence"} <= metrics
    assert len(at.get("download_button")) == 2


def test_predict_without_runs_explains_what_to_do(empty_env):
    at = new_app(PREDICT)
    at.run()
    assert not at.exception
    assert not at.error
    info = " ".join(texts(at.info))
    assert "No trained run is ready" in info and "Train" in info


def test_predict_waits_for_audio_with_shipped_runs_preselected(app_env):
    at = new_app(PREDICT)
    at.run()
    assert not at.exception
    # the strongest runs by their recorded accuracy are preselected (issue 13), each with its figure beside it
    from genre_core.leaderboard import strongest_runs
    from genre_core.runs import list_runs

    expected = [r.id for r in strongest_runs([r for r in list_runs() if r.status == "complete"])]
    assert expected and list(at.multiselect(key="runs").value) == expected
    assert all("track acc." in o for o in at.multiselect(key="runs").options)
    assert "Upload a track" in " ".join(texts(at.info))
    uploader = at.file_uploader(key="upload")
    assert {".wav", ".mp3", ".ogg", ".opus", ".flac", ".au"} <= set(uploader.allowed_type)
    assert "200 MB" in uploader.label
    assert "minutes" in " ".join(texts(at.markdown))


def test_upload_wav_gives_verdicts_and_segment_charts(app_env):
    at = new_app(PREDICT)
    at.run()
    at.multiselect(key="runs").set_value([MLP_SYNTH, MLP_TABLE]).run()  # a 3 s and a 30 s model, on purpose
    _upload(at, "pulse.wav", wav_bytes("pulse", duration=8.0))
    _assert_predicted(at, [MLP_SYNTH, MLP_TABLE])
    # the 3 s model cut 8 s into 3 segments, the 30 s table model saw one zero-padded window
    table = _verdicts(at)
    assert dict(zip(table["run"], table["segments"])) == {MLP_SYNTH: 3, MLP_TABLE: 1}
    assert dict(zip(table["run"], table["window"]))[MLP_TABLE] == "30 s"
    # the two runs know different genre sets: the page says their verdicts are not comparable
    assert "different genre sets" in " ".join(texts(at.markdown))
    # a segment chart: a plotly figure over time with one trace per genre
    fig = json.loads(_charts(at)[1].proto.spec)
    names = {t.get("name") for t in fig["data"]}
    assert names == set(SYNTH_GENRES)
    assert fig["layout"]["xaxis"]["title"]["text"].startswith("time")
    # the other run's details are drawn when asked for
    at.selectbox(key="detail_run").set_value(MLP_TABLE).run()
    assert any("shorter than this model's 30 s window" in w for w in texts(at.warning))


def test_upload_mp3_with_every_run(app_env, monkeypatch):
    import genre_core.predict as predict_mod

    calls = []
    real = predict_mod.predict_audio
    monkeypatch.setattr(predict_mod, "predict_audio",
                        lambda runs, *a, **k: calls.append([r.id for r in runs]) or real(runs, *a, **k))
    at = new_app(PREDICT)
    at.run()
    at.multiselect(key="runs").set_value(list(COMPLETE_RUNS))
    _upload(at, "chords.mp3", mp3_bytes("chords", duration=8.0), "audio/mpeg")
    _assert_predicted(at, COMPLETE_RUNS)
    assert len(_charts(at)) == 3  # timeline + the chosen run's segments + audio view (other runs on demand)
    # the vote is combined from its members' predictions: each member was computed once
    assert sorted(r for c in calls for r in c) == sorted([MLP_SYNTH, MLP_TABLE, XGB_SYNTH])
    table = _verdicts(at)
    assert dict(zip(table["run"], table["backend"]))[VOTE_SYNTH] == "voting"
    at.selectbox(key="detail_run").set_value(VOTE_SYNTH).run()
    assert any("Soft vote of" in c for c in texts(at.caption))
    # heatmap style and the mel spectrogram view rerun without errors
    at.radio(key="chart_style").set_value("Heatmap")
    at.radio(key="audio_view").set_value("Mel spectrogram")
    at.run()
    assert not at.exception and not at.error
    kinds = {json.loads(c.proto.spec)["data"][0]["type"] for c in _charts(at)}
    assert "heatmap" in kinds


@pytest.mark.parametrize("case", ["empty", "text", "truncated_wav", "silent", "too_short", "corrupt_flac",
                                  "nan_wav", "wav_codec"])
def test_bad_uploads_show_an_error_not_a_traceback(app_env, case):
    data, name, reason = make_bad_bytes(case)
    if case == "text":
        name = "notes.wav"  # the uploader only accepts audio extensions; the content is text
    at = new_app(PREDICT)
    at.run()
    _upload(at, name, data)
    assert not at.exception
    errors = texts(at.error)
    assert len(errors) == 1, errors
    assert name in errors[0] and "What to do" in errors[0]
    expected = {"empty": "empty", "not_audio": "not audio", "truncated": "cut", "silent": "silent",
                "too_short": "long", "corrupt": "damaged", "unsupported": "Convert it"}[reason]
    assert expected.lower() in errors[0].lower(), errors[0]
    assert not at.get("download_button")
    assert "Traceback" not in errors[0]


def test_page_stays_usable_after_a_bad_upload(app_env):
    at = new_app(PREDICT)
    at.run()
    _upload(at, "silence.wav", make_bad_bytes("silent")[0])
    assert at.error and not at.exception
    _upload(at, "drone.wav", wav_bytes("drone", duration=7.0))
    _assert_predicted(at, _default_runs())


def test_example_clip_is_labelled_synthetic_and_predicted(app_env):
    at = new_app(PREDICT)
    at.run()
    at.radio(key="source_mode").set_value("Example clip")
    at.run()
    assert not at.exception
    assert at.selectbox(key="example").value.key == "synthetic-medley"
    assert "not music" in " ".join(texts(at.info))  # said plainly in an info box where the example is offered
    _assert_predicted(at, _default_runs())
    table = _verdicts(at)
    assert dict(zip(table["run"], table["segments"]))[MLP_SYNTH] == 8  # 24 s medley / 3 s


def test_choosing_a_segment_reuses_the_cached_prediction(app_env, monkeypatch):
    import genre_core.predict as predict_mod

    calls = count_calls(monkeypatch, predict_mod, "predict_audio")
    at = new_app(PREDICT)
    at.run()
    _upload(at, "cached.wav", wav_bytes("pulse", duration=9.5, seed=21))
    assert not at.exception
    n = len(calls)
    assert n == len(_default_runs())
    at.selectbox(key="segments_of").set_value(MLP_SYNTH)
    at.run()
    at.selectbox(key="segment").set_value(2)
    at.run()
    assert not at.exception and not at.error
    assert len(calls) == n  # nothing recomputed
    audios = at.get("audio")
    assert len(audios) == 2  # the whole track and the chosen segment
    assert "Segment 3" in at.selectbox(key="segment").format_func(2)


def test_long_files_are_cut_at_the_stated_maximum(app_env, monkeypatch):
    from genre_core import config

    monkeypatch.setattr(config, "MAX_DURATION", 6.0)
    at = new_app(PREDICT)
    at.run()
    assert "0.1 minutes" in " ".join(texts(at.markdown))
    _upload(at, "long.wav", wav_bytes("pulse", duration=10.0, seed=5))
    assert not at.exception and not at.error
    info = " ".join(texts(at.info))
    assert "only the first 6.0 s were analysed" in info
    table = _verdicts(at)
    assert dict(zip(table["run"], table["segments"]))[MLP_SYNTH] == 2


def test_a_broken_run_is_reported_and_the_others_still_predict(app_models, tmp_path, monkeypatch):
    import shutil

    root = tmp_path / "models"
    shutil.copytree(app_models / "shipped" / "mlp-synth", root / "shipped" / "mlp-synth")
    shutil.copytree(app_models / "shipped" / "mlp-synth", root / "shipped" / "mlp-tampered")
    weights = next((root / "shipped" / "mlp-tampered" / "model").glob("*.json"))
    weights.write_text(weights.read_text() + " ")
    monkeypatch.setenv("GENRE_MODELS_DIR", str(root))
    at = new_app(PREDICT)
    at.run()
    _upload(at, "pulse.wav", wav_bytes("pulse", duration=6.0))
    assert not at.exception
    errors = texts(at.error)
    assert len(errors) == 1 and "shipped/mlp-tampered" in errors[0] and "checksum" in errors[0]
    assert list(_verdicts(at)["run"]) == ["shipped/mlp-synth"]


# --------------------------------------------------------------------------- pure builders


def _pred(starts, ends, proba, labels=("a", "b", "c"), run_id="user/x", window=3.0, hop=None):
    from genre_core.predict import TrackPrediction

    proba = np.asarray(proba, dtype=float)
    return TrackPrediction(run_id, "mlp", list(labels), np.asarray(starts, float), np.asarray(ends, float), proba,
                           proba.mean(axis=0), name="t.wav", duration=float(max(ends)), window=window,
                           hop=hop if hop is not None else window)


def test_segment_spans_tile_overlapping_windows():
    from pages.components.predict_charts import segment_spans

    left, right = segment_spans([0.0, 1.5, 3.0], [3.0, 4.5, 5.2])
    assert list(left) == [0.0, 1.5, 3.0] and list(right) == [1.5, 3.0, 5.2]
    left, right = segment_spans([0.0, 3.0], [3.0, 4.0])  # plain windows, short tail
    assert list(right) == [3.0, 4.0]


def test_bands_heatmap_and_timeline_figures():
    from pages.components import predict_charts as c

    p = _pred([0, 3, 6], [3, 6, 7.5], [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])
    coarse = _pred([0], [7.5], [[0.2, 0.5, 0.3]], run_id="user/coarse", window=30.0)
    bands = c.segment_bands_figure(p, duration=7.5)
    assert len(bands.data) == 3 and bands.layout.barmode == "stack"
    assert list(bands.data[0].width) == [3.0, 3.0, 1.5]
    assert "Segment 2" in bands.data[0].hovertext[1] and "b: 80.0%" in bands.data[0].hovertext[1]
    assert tuple(bands.layout.xaxis.range) == (0.0, 7.5)
    heat = c.segment_heatmap_figure(p, duration=7.5)
    assert list(heat.data[0].x) == [0, 3, 6, 7.5] and np.asarray(heat.data[0].z).shape == (3, 3)
    timeline = c.timeline_figure([p, coarse], duration=7.5)
    rows = {y for t in timeline.data for y in t.y}
    assert rows == {"user/x", "user/coarse"}
    assert sum(len(t.x) for t in timeline.data) == 4
    from genre_core.predict import TrackPrediction

    voting = TrackPrediction("user/vote", "voting", ["a", "b", "c"], np.zeros(0), np.zeros(0), np.zeros((0, 3)),
                             np.array([0.2, 0.3, 0.5]))
    assert c.segment_bands_figure(voting).layout.annotations  # "no per-segment view"


def test_waveform_and_spectrogram_figures_mark_boundaries():
    from pages.components import predict_charts as c

    sr = 22050
    y = (0.3 * np.sin(2 * np.pi * 220 * np.arange(5 * sr) / sr)).astype(np.float32)
    t, lo, hi = c.waveform_envelope(y, sr, n_bins=500)
    assert len(t) == 500 and (lo <= hi).all() and hi.max() == pytest.approx(0.3, abs=1e-3)
    fig = c.waveform_figure(y, sr, boundaries=[3.0], highlight=(0.0, 3.0))
    assert len(fig.layout.shapes) == 2
    spec = c.melspectrogram_figure(y, sr, boundaries=[3.0], max_frames=200)
    assert np.asarray(spec.data[0].z).shape[1] <= 201


def test_agreement_and_downloads():
    from pages.components import predict_charts as c

    a = _pred([0, 3], [3, 6], [[0.9, 0.05, 0.05], [0.6, 0.3, 0.1]], run_id="user/a")
    b = _pred([0, 3], [3, 6], [[0.8, 0.1, 0.1], [0.7, 0.2, 0.1]], run_id="user/b")
    d = _pred([0], [6], [[0.1, 0.1, 0.8]], run_id="user/d", window=30.0)
    table, summary = c.agreement_frame([a, b, d])
    assert list(table["verdict"]) == ["a", "a", "c"] and list(table["agrees"]) == [True, True, False]
    assert "disagree" in summary and "Majority: **a**" in summary
    tie, summary = c.agreement_frame([a, d])
    assert "No majority" in summary and list(tie["agrees"]) == [None, None]
    _, summary = c.agreement_frame([a, b])
    assert summary.startswith("All 2 runs agree")
    g = _pred([0], [6], [[0.3, 0.7]], labels=("x", "y"), run_id="user/g")
    csv = pd.read_csv(io.BytesIO(c.segments_csv([a, g])))
    assert list(csv.columns[:7]) == ["run", "backend", "segment", "start", "end", "label", "confidence"]
    assert len(csv) == 3 and set(csv.columns) >= {"a", "b", "c", "x", "y"}
    assert csv.loc[csv["run"] == "user/g", "a"].isna().all()
    doc = json.loads(c.predictions_json([a, g], source={"name": "t.wav"}))
    assert doc["source"]["name"] == "t.wav"
    assert [p["run"] for p in doc["predictions"]] == ["user/a", "user/g"]
    assert len(doc["predictions"][0]["segments"]) == 2


def test_examples_are_made_offline():
    import soundfile as sf

    from pages.components.examples import list_examples, mime_for

    clips = list_examples(include_gtzan=False)
    assert clips[0].key == "synthetic-medley" and all(c.synthetic for c in clips)
    data, name, mime = clips[0].make()
    y, sr = sf.read(io.BytesIO(data))
    assert name.endswith(".wav") and mime == "audio/wav" and sr == 22050 and len(y) == 24 * sr
    assert mime_for("x.MP3") == "audio/mpeg" and mime_for("x.opus") == "audio/ogg"
