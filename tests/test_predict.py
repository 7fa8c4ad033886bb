"""predict_file / evaluate_run: shared decoding and inputs, voting, 30 s models, bad input."""

import numpy as np
import pandas as pd
import pytest
from helpers import models_folder

from genre_core import config
from genre_core.errors import AudioError, DatasetError
from genre_core.evaluate import evaluate_run
from genre_core.predict import predict_file
from genre_core.runs import load_run, load_runs
from genre_core.training import train, train_voting

FAST_MLP = {"epochs": 3, "hidden": "16", "patience": 0}
SIZES = {"test_size": 1 / 3, "valid_size": 1 / 3}


@pytest.fixture(scope="module")
def runs(synthetic_dataset_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("predict_models")
    with models_folder(root):
        train(synthetic_dataset_dir, "mlp", FAST_MLP, seed=0, out="mlp-a", n_jobs=1, **SIZES)
        train(synthetic_dataset_dir, "mlp", FAST_MLP, seed=1, out="mlp-b", n_jobs=1, **SIZES)
        train(synthetic_dataset_dir, "xgb", {"n_estimators": 10}, seed=0, out="xgb", n_jobs=1, **SIZES)
        train_voting(["mlp-a", "xgb"], [3, 1], out="vote")
        table = pd.read_csv(config.default_feature_table())
        small = table[table["label"].isin(["blues", "classical", "metal"])]
        small = small.groupby("label").head(9)
        csv = tmp_path_factory.mktemp("table") / "t.csv"
        small.to_csv(csv, index=False)
        train(str(csv), "mlp", FAST_MLP, out="table30", **SIZES)
        loaded = {r.name: r for r in load_runs(["mlp-a", "mlp-b", "xgb", "vote", "table30"])}
    return {"root": root, **loaded}


@pytest.fixture()
def registry(runs, monkeypatch):
    monkeypatch.setenv("GENRE_MODELS_DIR", str(runs["root"]))
    monkeypatch.setenv("GENRE_THREADS", "1")
    return runs


def _clip(synthetic_dataset_dir, genre="pulse", i=5):
    return synthetic_dataset_dir / genre / f"{genre}.{i:05d}.wav"


def test_predict_file_matches_the_model(registry, synthetic_dataset_dir):
    from genre_core.audio import load_audio
    from genre_core.inputs import compute_track_input

    path = _clip(synthetic_dataset_dir)
    p_mlp, p_xgb = predict_file([registry["mlp-a"], registry["xgb"]], path)
    for p, run in ((p_mlp, registry["mlp-a"]), (p_xgb, registry["xgb"])):
        audio = load_audio(path, sr=run.input_spec.sr)
        X = compute_track_input(audio.y, audio.sr, run.input_spec).X
        seg = run.model.predict_proba(X)
        np.testing.assert_allclose(p.segment_proba, seg)
        np.testing.assert_allclose(p.proba, seg.mean(axis=0))
        assert p.run_id == run.id and p.labels == ["chords", "drone", "pulse"]
        assert p.label == p.labels[int(np.argmax(p.proba))] and p.confidence == pytest.approx(p.proba.max())
        assert [t[1] for t in p.top3] == sorted(p.proba, reverse=True)
        assert p.window == 3.0 and p.n_segments == 1 and p.duration == pytest.approx(4.0)
        df = p.segments_frame()
        assert list(df.columns) == ["start", "end", "label", "confidence", "chords", "drone", "pulse"]
        assert df[["chords", "drone", "pulse"]].sum(axis=1).to_numpy() == pytest.approx(1.0)
        d = p.to_dict()
        assert d["label"] == p.label and len(d["segments"]) == 1 and len(d["top3"]) == 3


def test_audio_decoded_once_and_inputs_shared(registry, synthetic_dataset_dir, monkeypatch):
    import genre_core.audio as audio_mod
    import genre_core.inputs as inputs_mod

    calls = {"load": 0, "inputs": 0}
    real_load, real_inputs = audio_mod.load_audio, inputs_mod.compute_track_input

    def load(*a, **k):
        calls["load"] += 1
        return real_load(*a, **k)

    def inputs(*a, **k):
        calls["inputs"] += 1
        return real_inputs(*a, **k)

    monkeypatch.setattr(audio_mod, "load_audio", load)
    monkeypatch.setattr(inputs_mod, "compute_track_input", inputs)
    preds = predict_file([registry["mlp-a"], registry["mlp-b"], registry["xgb"], registry["vote"]],
                         _clip(synthetic_dataset_dir))
    assert len(preds) == 4
    assert calls["load"] == 1  # every run works at 22050 Hz
    assert calls["inputs"] == 2  # gtzan57/3 s (mlp-a, mlp-b, vote's member) and mfcc_stats/3 s (xgb)


def test_voting_prediction_is_weighted_mean(registry, synthetic_dataset_dir):
    p_mlp, p_xgb, p_vote = predict_file([registry["mlp-a"], registry["xgb"], registry["vote"]],
                                        _clip(synthetic_dataset_dir, "drone", 4))
    np.testing.assert_allclose(p_vote.proba, 0.75 * p_mlp.proba + 0.25 * p_xgb.proba)
    np.testing.assert_allclose(p_vote.segment_proba, 0.75 * p_mlp.segment_proba + 0.25 * p_xgb.segment_proba)
    assert [m.run_id for m in p_vote.members] == ["user/mlp-a", "user/xgb"]
    assert p_vote.weights == pytest.approx([0.75, 0.25]) and p_vote.backend == "voting"


def test_table_model_uses_30s_windows(registry, synthetic_dataset_dir):
    (p,) = predict_file(registry["table30"], _clip(synthetic_dataset_dir))
    assert p.window == 30.0 and p.n_segments == 1
    assert any("shorter than this model's 30 s window" in n for n in p.notes)
    assert p.labels == ["blues", "classical", "metal"]


def test_bytes_and_file_objects(registry, synthetic_dataset_dir):
    path = _clip(synthetic_dataset_dir)
    (a,) = predict_file("mlp-a", path)  # a reference is loaded
    (b,) = predict_file(registry["mlp-a"], path.read_bytes(), name="upload.wav")
    with open(path, "rb") as fh:
        (c,) = predict_file(registry["mlp-a"], fh)
    np.testing.assert_allclose(a.proba, b.proba, atol=1e-6)
    np.testing.assert_allclose(a.proba, c.proba, atol=1e-6)
    assert b.name == "upload.wav"


def test_bad_audio_is_refused(registry, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage garbage")
    with pytest.raises(AudioError) as err:
        predict_file(registry["mlp-a"], bad)
    assert "broken.wav" in str(err.value)
    with pytest.raises(AudioError):
        predict_file(registry["mlp-a"], b"")


def test_evaluate_run_on_a_dataset(registry, synthetic_dataset_dir):
    rep = evaluate_run(registry["mlp-a"], str(synthetic_dataset_dir), n_jobs=1)
    assert rep["n_tracks"] == 18 and rep["evaluated_on"] == "dataset" and rep["run"] == "user/mlp-a"
    assert len(rep["tracks"]) == 18 and set(rep["tracks"][0]) >= {"track_id", "true", "predicted", "probabilities"}
    assert rep["overlap_with_training"] == 12 and any("optimistic" in n for n in rep["notes"])
    for key in ("track_accuracy", "balanced_accuracy", "segment_accuracy", "macro_f1", "confusion_matrix"):
        assert key in rep
    vote = evaluate_run("vote", str(synthetic_dataset_dir), n_jobs=1)
    assert vote["n_tracks"] == 18 and vote["segment_accuracy"] is None


def test_evaluate_label_set_mismatch(registry, tmp_path):
    from genre_core.synthetic import write_synthetic_dataset

    root = write_synthetic_dataset(tmp_path / "other", genres=("drone", "sweep"), n_per_genre=2, duration=3.0)
    with pytest.raises(DatasetError, match="Label-set mismatch.*sweep"):
        evaluate_run(registry["mlp-a"], str(root), n_jobs=1)
    subset = write_synthetic_dataset(tmp_path / "subset", genres=("drone", "pulse"), n_per_genre=2, duration=3.0)
    rep = evaluate_run(registry["mlp-a"], str(subset), n_jobs=1)
    sp = registry["mlp-a"].info["split"]
    same_ids = {"drone/drone.00000", "drone/drone.00001", "pulse/pulse.00000", "pulse/pulse.00001"}
    assert rep["n_tracks"] == 4 and rep["overlap_with_training"] == len(same_ids & set(sp["train"] + sp["valid"]))


def test_loaded_run_is_reused(registry):
    run = registry["mlp-a"]
    assert load_runs([run])[0] is run
    assert load_run("mlp-a").model is not run.model
