"""train() end to end on tiny synthetic data: run record, reload identity, protocols, cancellation, voting."""

import json

import numpy as np
import pandas as pd
import pytest
from helpers import models_folder

from genre_core import config
from genre_core.errors import DatasetError, RunError, SplitLeakError, TrainingCancelled
from genre_core.runs import list_runs, load_run
from genre_core.splits import Split
from genre_core.training import train, train_voting

FAST_MLP = {"epochs": 4, "hidden": "16", "patience": 0}
SIZES = {"test_size": 1 / 3, "valid_size": 1 / 3}


@pytest.fixture()
def models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GENRE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("GENRE_THREADS", "1")
    return tmp_path / "models"


@pytest.fixture(scope="module")
def trained(synthetic_dataset_dir, tmp_path_factory):
    """One mlp and one xgb run on the same split, shared by several tests (read-only)."""
    root = tmp_path_factory.mktemp("shared_models")
    with models_folder(root):
        msgs = []
        mlp = train(synthetic_dataset_dir, "mlp", FAST_MLP, seed=0, out="mlp1", n_jobs=1, progress=msgs.append, **SIZES)
        xgb = train(synthetic_dataset_dir, "xgb", {"n_estimators": 20}, seed=0, out="xgb1", n_jobs=1, **SIZES)
    return {"root": root, "mlp": mlp, "xgb": xgb, "msgs": msgs}


def _inputs_for(run, ids, synthetic_dataset_dir):
    from genre_core.dataset import open_dataset
    from genre_core.extraction import compute_dataset_inputs

    ds = open_dataset(str(synthetic_dataset_dir))
    by_id = ds.by_id()
    inputs, _ = compute_dataset_inputs([by_id[t] for t in ids], run.input_spec, n_jobs=1)
    return np.concatenate([inputs[t].X for t in ids])


def test_run_record_is_complete(trained, synthetic_dataset_dir):
    run = trained["mlp"]
    info = json.loads((run.path / "run.json").read_text())
    assert info["status"] == "complete" and info["backend"] == "mlp"
    assert info["labels"] == ["chords", "drone", "pulse"]
    assert info["params"]["epochs"] == 4 and info["params"]["hidden"] == [16] and info["params"]["seed"] == 0
    assert info["input_spec"]["kind"] == "features" and info["input_spec"]["window"] == 3.0
    assert info["dataset"]["fingerprint"] and info["dataset"]["n_tracks"] == 18
    sp = info["split"]
    assert sp["protocol"] == "track" and len(sp["train"]) + len(sp["valid"]) + len(sp["test"]) == 18
    assert not set(sp["train"]) & set(sp["test"])
    m = info["metrics"]
    assert m["evaluated_on"] == "test" and m["n_tracks"] == len(sp["test"])
    for key in ("track_accuracy", "track_accuracy_ci", "track_vote_accuracy", "balanced_accuracy", "segment_accuracy",
                "macro_f1", "per_class", "confusion_matrix", "segment_confusion_matrix", "top2_accuracy", "log_loss"):
        assert key in m
    t = info["timings"]
    assert t["extraction_s"] >= 0 and t["training_s"] > 0 and t["inference_s_per_track"] > 0
    assert info["size_bytes"] > info["model_size_bytes"] > 0
    assert {"numpy", "torch", "sklearn", "genre_core"} <= set(info["versions"])
    assert "model/weights.pt" in info["files"] and "predictions_tracks.csv" in info["files"]
    hist = run.history()
    assert len(hist) == 4 and {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(hist[0])
    tracks = run.track_predictions()
    assert sorted(tracks["track_id"]) == sorted(sp["test"])
    assert {"p_chords", "p_drone", "p_pulse", "true", "predicted", "confidence"} <= set(tracks.columns)
    segs = run.segment_predictions()
    assert {"start", "end"} <= set(segs.columns) and len(segs) == m["n_segments"]
    stages = [d["stage"] for d in trained["msgs"]]
    for stage in ("scanning", "splitting", "extracting", "training", "evaluating", "saving", "done"):
        assert stage in stages
    assert stages.index("extracting") < stages.index("training") < stages.index("evaluating") < stages.index("saving")


@pytest.mark.parametrize("which", ["mlp", "xgb"])
def test_save_load_identical_predictions(trained, which, synthetic_dataset_dir, monkeypatch):
    monkeypatch.setenv("GENRE_MODELS_DIR", str(trained["root"]))
    run = trained[which]
    test_ids = run.info["split"]["test"]
    X = _inputs_for(run, test_ids, synthetic_dataset_dir)
    before = run.model.predict_proba(X)
    loaded = load_run(run.id)
    after = loaded.model.predict_proba(X)
    if which == "xgb":  # a loaded xgb model predicts with its trees in numpy (within 1e-6 of xgboost)
        np.testing.assert_allclose(before, after, atol=1e-6, rtol=0)
    else:
        np.testing.assert_array_equal(before, after)
    # the stored test predictions are those of the saved model
    segs = loaded.segment_predictions()
    stored = segs[[f"p_{lab}" for lab in loaded.labels]].to_numpy()
    np.testing.assert_allclose(stored, after, atol=1e-5)


def test_split_that_leaks_is_refused(models_dir, synthetic_dataset_dir):
    leaky = Split(train=["drone/drone.00000", "pulse/pulse.00000"], valid=[],
                  test=["drone/drone.00000", "chords/chords.00000"], protocol="custom")
    with pytest.raises(SplitLeakError, match="drone/drone.00000"):
        train(synthetic_dataset_dir, "mlp", FAST_MLP, split=leaky, out="leaky", n_jobs=1)
    assert list_runs() == []  # nothing left behind
    bad_ids = Split(train=["drone/nope"], valid=[], test=["pulse/pulse.00000"], protocol="custom")
    with pytest.raises(DatasetError, match="not in dataset"):
        train(synthetic_dataset_dir, "mlp", FAST_MLP, split=bad_ids, n_jobs=1)


def test_user_errors_leave_nothing(models_dir, synthetic_dataset_dir, tmp_path):
    from genre_core.errors import GenreLabError

    with pytest.raises(GenreLabError, match="Unknown model backend"):
        train(synthetic_dataset_dir, "nope")
    with pytest.raises(GenreLabError, match="no hyperparameter"):
        train(synthetic_dataset_dir, "mlp", {"depth": 3})
    with pytest.raises(DatasetError):
        train(tmp_path / "missing-folder", "mlp", FAST_MLP, n_jobs=1)
    assert list_runs() == []


def test_cancel_marks_run_cancelled(models_dir, synthetic_dataset_dir):
    epochs_seen = []

    def progress(d):
        if d["stage"] == "training" and d.get("epoch"):
            epochs_seen.append(d["epoch"])

    with pytest.raises(TrainingCancelled):
        train(synthetic_dataset_dir, "mlp", {**FAST_MLP, "epochs": 50}, out="stopme", n_jobs=1, progress=progress,
              should_stop=lambda: len(epochs_seen) >= 2, **SIZES)
    (run,) = list_runs()
    assert run.name == "stopme" and run.status == "cancelled" and "cancelled" in run.info["error"]
    with pytest.raises(RunError, match="is cancelled, not complete"):
        load_run("stopme")
    assert not (run.path / "run.json").read_text().count('"files"')


def test_empty_test_side_is_evaluated_on_valid(models_dir, synthetic_dataset_dir, tmp_path, monkeypatch):
    from genre_core.dataset import open_dataset

    ids = [t.track_id for t in open_dataset(str(synthetic_dataset_dir)).tracks]
    splits = tmp_path / "gtzan" / "splits"
    splits.mkdir(parents=True)
    by_genre = {}
    for t in ids:
        by_genre.setdefault(t.split("/")[0], []).append(t)
    train_ids = [t for g in by_genre.values() for t in g[:4]]
    valid_ids = [t for g in by_genre.values() for t in g[4:]]
    (splits / "train_filtered.txt").write_text("\n".join(f"{t}.wav" for t in train_ids) + "\n")
    (splits / "valid_filtered.txt").write_text("\n".join(f"{t}.wav" for t in valid_ids) + "\n")
    (splits / "test_filtered.txt").write_text("blues/blues.00000.wav\n")  # not in this dataset
    monkeypatch.setenv("GENRE_GTZAN_DIR", str(tmp_path / "gtzan"))
    run = train(synthetic_dataset_dir, "mlp", FAST_MLP, split="ff", out="ff", n_jobs=1)
    assert run.info["split"]["protocol"] == "gtzan_filtered" and run.info["split"]["test"] == []
    assert run.metrics["evaluated_on"] == "valid" and run.metrics["n_tracks"] == len(valid_ids)
    assert any("validation tracks" in n for n in run.info["notes"])


def test_kfold_pools_out_of_fold_predictions(models_dir, synthetic_dataset_dir):
    run = train(synthetic_dataset_dir, "mlp", {**FAST_MLP, "epochs": 2}, split="kfold", k=3, valid_size=0.17,
                out="kf", n_jobs=1)
    m = run.metrics
    assert m["evaluated_on"] == "kfold" and m["n_tracks"] == 18 and len(m["folds"]) == 3
    tracks = run.track_predictions()
    assert sorted(tracks["fold"].unique().tolist()) == [1, 2, 3] and tracks["track_id"].is_unique
    assert len(run.info["split"]["folds"]) == 3
    assert any("last fold" in n for n in run.info["notes"])
    load_run("kf")  # the saved (last-fold) model loads


def test_table_dataset_training(models_dir, tmp_path):
    table = pd.read_csv(config.default_feature_table())
    small = table[table["label"].isin(["blues", "classical", "metal"])].groupby("label").head(9)
    csv = tmp_path / "small_table.csv"
    small.to_csv(csv, index=False)
    run = train(str(csv), "mlp", FAST_MLP, out="table", **SIZES)
    assert run.info["dataset"]["kind"] == "table"
    assert run.info["input_spec"]["window"] == 30.0 and run.info["input_spec"]["feature_set"] == "gtzan57"
    assert run.metrics["n_segments"] == run.metrics["n_tracks"] == 9
    loaded = load_run("table")
    assert loaded.input_spec.window == 30.0
    with pytest.raises(DatasetError, match="Augmentation needs audio"):
        train(str(csv), "mlp", FAST_MLP, n_augment=1, **SIZES)


def test_augmentation_only_on_training_tracks(models_dir, synthetic_dataset_dir):
    run = train(synthetic_dataset_dir, "mlp", {**FAST_MLP, "epochs": 2}, n_augment=1, out="aug", n_jobs=1,
                **SIZES)
    n = run.info["n_windows"]
    assert n["train_augmented"] == n["train"] // 2 > 0  # one copy per training track (1 window each)
    assert run.info["augment"]["pitch_shift_p"] >= 0 and run.info["n_augment"] == 1
    assert all("#" not in t for t in run.track_predictions()["track_id"])


def test_name_taken_is_refused_before_work(models_dir, synthetic_dataset_dir):
    train(synthetic_dataset_dir, "mlp", {**FAST_MLP, "epochs": 1}, out="same", n_jobs=1, **SIZES)
    with pytest.raises(RunError, match="already exists"):
        train(synthetic_dataset_dir, "mlp", FAST_MLP, out="same", n_jobs=1, **SIZES)
    run = train(synthetic_dataset_dir, "mlp", {**FAST_MLP, "epochs": 1}, out="same", overwrite=True, n_jobs=1,
                **SIZES)
    assert run.status == "complete" and [r.name for r in list_runs()] == ["same"]


def test_voting_run(trained, monkeypatch):
    monkeypatch.setenv("GENRE_MODELS_DIR", str(trained["root"]))
    vote = train_voting(["mlp1", "xgb1"], [1, 3], out="vote")
    assert vote.info["backend"] == "voting" and [m["id"] for m in vote.info["members"]] == ["user/mlp1", "user/xgb1"]
    assert vote.info["members"][1]["weight"] == pytest.approx(0.75)
    a = trained["mlp"].track_predictions().set_index("track_id")
    b = trained["xgb"].track_predictions().set_index("track_id")
    mine = vote.track_predictions().set_index("track_id")
    cols = ["p_chords", "p_drone", "p_pulse"]
    np.testing.assert_allclose(mine[cols].to_numpy(), (0.25 * a.loc[mine.index, cols] + 0.75 * b.loc[mine.index, cols]).to_numpy(),
                               atol=1e-5)
    assert vote.metrics["n_tracks"] == len(a) and vote.info["notes"] == []
    loaded = load_run("vote")
    assert [m.id for m, _ in loaded.members] == ["user/mlp1", "user/xgb1"] and loaded.members[0][0].model is not None
    assert [w for _, w in loaded.members] == pytest.approx([0.25, 0.75])
    with pytest.raises(RunError, match="at least two"):
        train_voting(["mlp1"])
    with pytest.raises(RunError, match="2 member runs but 3 weights"):
        train_voting(["mlp1", "xgb1"], [1, 2, 3])
    with pytest.raises(RunError, match="itself a voting ensemble"):
        train_voting(["mlp1", "vote"])


def test_voting_member_changed_or_mismatched(trained, tmp_path, monkeypatch):
    import shutil

    monkeypatch.setenv("GENRE_MODELS_DIR", str(tmp_path / "m"))
    user = config.user_runs_dir()
    user.mkdir(parents=True)
    for name in ("mlp1", "xgb1"):
        shutil.copytree(trained["root"] / "user" / name, user / name)
    train_voting(["mlp1", "xgb1"], out="v")
    info_path = user / "xgb1" / "run.json"
    info = json.loads(info_path.read_text())
    info["metrics"]["track_accuracy"] = 0.99
    info_path.write_text(json.dumps(info))
    with pytest.raises(RunError, match="member run user/xgb1 has changed"):
        load_run("v")
    info["labels"] = ["a", "b", "c"]
    info_path.write_text(json.dumps(info))
    with pytest.raises(RunError, match="Label-set mismatch|labels"):
        train_voting(["mlp1", "xgb1"], out="v2")


@pytest.mark.slow
def test_cnn_end_to_end(models_dir, synthetic_dataset_dir):
    run = train(synthetic_dataset_dir, "cnn", {"epochs": 2, "filters": "4,8", "dense": 8, "batch_size": 8},
                out="cnn", n_jobs=1, **SIZES)
    assert run.info["input_spec"]["kind"] == "logmel"
    loaded = load_run("cnn")
    segs = loaded.segment_predictions()
    X = _inputs_for(loaded, run.info["split"]["test"], synthetic_dataset_dir)
    np.testing.assert_allclose(segs[[f"p_{lab}" for lab in loaded.labels]].to_numpy(),
                               loaded.model.predict_proba(X), atol=1e-5)
